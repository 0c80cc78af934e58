"""kill -9 during `copy`, then `copy` again: the stores equal an uninterrupted run, nothing lost or doubled."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from split.db import engine_for
from tests.conftest import require_backend, sample_source
from tests.helpers import MAPPING, canonical_rows, column_names, copy, store_image

NATURAL = "generation_reading_30min"  # keyed by (supply point, day, slot), no surrogate id
NATURAL_ROWS = 300  # its `rows:` in the small_partitions mapping
POINT_ROWS = 4 * 48  # one supply point's readings in the sample data: how far a bound may move (split.plan)


def assert_natural_key_ranges_balanced(nw_image: dict) -> None:
    """The natural-key table went in several ranges, each within ±25 % of `rows:` (NW gets every row), give or
    take the readings of one supply point outside the retail scope that a bound moved past."""
    sizes = [rows for (table, _), (rows, _) in nw_image["__ledger__"].items() if table == NATURAL]
    assert len(sizes) > 2, sizes
    low, high = 0.75 * NATURAL_ROWS - POINT_ROWS, 1.25 * NATURAL_ROWS + POINT_ROWS
    assert all(low <= n <= high for n in sizes), sizes


@pytest.mark.parametrize("fault", ["rows-written:9", "ledger-written:14", "committed:20", "rows-written:31"])
def test_kill_then_resume_equals_uninterrupted_run_sqlite(fault, dbs, session_dbs, small_partitions):
    source = sample_source(session_dbs, "sqlite")
    base_nw, base_retail = dbs.url("sqlite", "nw0"), dbs.url("sqlite", "rt0")
    assert copy(small_partitions, source, base_nw, base_retail).returncode == 0

    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    killed = copy(small_partitions, source, nw, retail, fault=fault)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: no cleanup ran
    resumed = copy(small_partitions, source, nw, retail)
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert sum(t["skipped_partitions"] for t in report["tables"]) > 0, "the re-run should skip finished partitions"

    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)
    assert_natural_key_ranges_balanced(store_image(nw))


@pytest.mark.parametrize(
    "backend",
    [pytest.param("postgresql", marks=pytest.mark.postgresql), pytest.param("mariadb", marks=pytest.mark.mariadb)],
)
def test_kill_then_resume_on_servers(backend, dbs, session_dbs, small_partitions):
    require_backend(backend)
    source = sample_source(session_dbs, backend)
    base_nw, base_retail = dbs.url(backend, "nw0"), dbs.url(backend, "rt0")
    assert copy(small_partitions, source, base_nw, base_retail).returncode == 0
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert copy(small_partitions, source, nw, retail, fault="ledger-written:17").returncode == -9
    assert copy(small_partitions, source, nw, retail).returncode == 0
    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)
    assert_natural_key_ranges_balanced(store_image(nw))


def test_rerun_of_a_finished_copy_changes_nothing(dbs, session_dbs):
    source = sample_source(session_dbs, "sqlite")
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    first = copy(MAPPING, source, nw, retail, workers=1)
    assert first.returncode == 0
    before = store_image(nw), store_image(retail)
    again = copy(MAPPING, source, nw, retail, workers=3)
    assert again.returncode == 0
    tables = json.loads(again.stdout)["tables"]
    assert all(t["skipped_partitions"] == t["partitions"] * len(t["rows"]) for t in tables)
    assert (store_image(nw), store_image(retail)) == before


def test_copy_after_a_source_change_replaces_rows_without_duplicates(dbs, tmp_path):
    """A changed source makes a new plan: every partition is redone, and its key range is replaced."""
    from split.sample.generate import generate

    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 40, 3)
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    assert copy(MAPPING, source, nw, retail).returncode == 0
    with engine_for(source).begin() as conn:
        conn.execute(sa.text("UPDATE monthly_usage SET kwh = kwh + 1 WHERE usage_id <= 10"))
        conn.execute(sa.text("DELETE FROM monthly_usage WHERE usage_id = 11"))
    assert copy(MAPPING, source, nw, retail).returncode == 0
    cols = column_names(source, "monthly_usage")
    assert canonical_rows(nw, "monthly_usage", cols) == canonical_rows(source, "monthly_usage", cols)


@pytest.mark.parametrize(
    ("backend", "fault"),
    [
        pytest.param("sqlite", "rows-written:6"),
        pytest.param("sqlite", "ledger-written:9"),
        pytest.param("postgresql", "rows-written:7", marks=pytest.mark.postgresql),
        pytest.param("mariadb", "committed:8", marks=pytest.mark.mariadb),
    ],
)
def test_kill_inside_the_natural_key_table_then_resume(backend, fault, dbs, session_dbs, small_partitions):
    """The waves before it first, then the natural-key table alone: the kill lands among its key ranges."""
    source = sample_source(session_dbs, backend)
    parents, only = ("--wave", "masters", "--wave", "contracts"), ("--tables", NATURAL)
    base_nw, base_retail = dbs.url(backend, "nw0"), dbs.url(backend, "rt0")
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    for stores in ((base_nw, base_retail), (nw, retail)):
        assert copy(small_partitions, source, *stores, extra=parents).returncode == 0
    assert copy(small_partitions, source, base_nw, base_retail, extra=only).returncode == 0
    killed = copy(small_partitions, source, nw, retail, fault=fault, extra=only)
    assert killed.returncode == -9, killed.stderr
    resumed = copy(small_partitions, source, nw, retail, extra=only)
    assert resumed.returncode == 0, resumed.stderr
    natural = next(t for t in json.loads(resumed.stdout)["tables"] if t["table"] == NATURAL)
    assert 0 < natural["skipped_partitions"] < natural["partitions"] * 2, natural  # killed half-way through it
    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)
    assert_natural_key_ranges_balanced(store_image(nw))


def test_copying_a_table_before_its_parents_is_refused_before_anything_is_written(dbs, session_dbs, small_partitions):
    source = sample_source(session_dbs, "sqlite")
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    refused = copy(small_partitions, source, nw, retail, extra=("--tables", NATURAL))
    assert refused.returncode == 2, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "does not hold supply_point yet" in message and "--wave contracts" in message, message
    assert "Traceback" not in refused.stderr
    for url in (nw, retail):  # no revision applied, no table made
        assert sa.inspect(engine_for(url)).get_table_names() == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_copy_killed_before_the_source_changed_is_finished_by_sync(backend, dbs, small_partitions):
    """The source keeps taking writes between a killed copy and its re-run (bounds and row counts move, so
    the plan differs and `copy` would redo every range): `sync` finishes the stores instead, reading only
    the ranges that differ, and they equal a fresh copy of the changed source."""
    from split.sample.generate import generate
    from tests.test_sync import change_the_source, cli, image

    source = dbs.url(backend, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    killed = copy(small_partitions, source, nw, retail, fault="committed:12")
    assert killed.returncode == -9, killed.stderr
    change_the_source(source)
    synced = cli("sync", small_partitions, source, nw, retail)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert 0 < sum(t["differing_ranges"] for t in report["tables"]) < sum(t["ranges"] for t in report["tables"])
    fresh_nw, fresh_retail = dbs.url(backend, "nw2"), dbs.url(backend, "rt2")
    assert copy(small_partitions, source, fresh_nw, fresh_retail).returncode == 0
    assert image(nw) == image(fresh_nw)
    assert image(retail) == image(fresh_retail)
