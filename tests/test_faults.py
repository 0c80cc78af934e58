"""Exactly once under faults on the servers (PostgreSQL COPY fast path, MariaDB generic path).

Every interrupted run is finished by a plain re-run, and both stores are then compared with an
uninterrupted run of the same plan: every row (as a multiset) and every ledger entry (count, checksum).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import sample_source
from tests.helpers import copy, run_cli, store_image

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def baseline(dbs, backend: str, mapping, source: str) -> tuple[str, str]:
    nw, retail = dbs.url(backend, "nw0"), dbs.url(backend, "rt0")
    done = copy(mapping, source, nw, retail)
    assert done.returncode == 0, done.stderr
    return nw, retail


def prepared(dbs, session_dbs, backend: str, mapping) -> tuple[str, tuple[str, str], tuple[str, str]]:
    """The source, stores from an uninterrupted copy, and a fresh empty pair for the faulty run."""
    source = sample_source(session_dbs, backend)
    base = baseline(dbs, backend, mapping, source)
    return source, base, (dbs.url(backend, "nw"), dbs.url(backend, "rt"))


def partition_tasks(mapping, source: str) -> int:
    """How many (partition, store) tasks the plan has: the last one is where 'the last partition' dies."""
    plan = json.loads(run_cli("plan", "--mapping", str(mapping), "--source", source, "--json").stdout)
    return sum(len(t["partitions"]) * len(t["stores"]) for t in plan["tables"])


@pytest.mark.parametrize("backend", SERVERS)
def test_sigkill_at_many_points(backend, dbs, session_dbs, small_partitions):
    """PostgreSQL's COPY fast path and MariaDB's generic path die at the same four points."""
    source = sample_source(session_dbs, backend)
    base_nw, base_retail = baseline(dbs, backend, small_partitions, source)
    last = partition_tasks(small_partitions, source)
    faults = [
        "rows-written:4",  # inside a partition: data streamed, COPY not finished
        "ledger-written:9",  # between the data and the ledger row, both uncommitted
        "committed:13",  # right after a commit
        f"ledger-written:{last}",  # the last partition, just before its commit
    ]
    for fault in faults:
        nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
        killed = copy(small_partitions, source, nw, retail, fault=fault)
        assert killed.returncode == -9, (fault, killed.stderr)
        resumed = copy(small_partitions, source, nw, retail)
        assert resumed.returncode == 0, (fault, resumed.stderr)
        assert store_image(nw) == store_image(base_nw), fault
        assert store_image(retail) == store_image(base_retail), fault


@pytest.mark.parametrize("backend", SERVERS)
def test_a_dropped_target_connection_is_retried(backend, dbs, session_dbs, small_partitions):
    source, (base_nw, base_retail), (nw, retail) = prepared(dbs, session_dbs, backend, small_partitions)
    dropped = copy(small_partitions, source, nw, retail, fault="rows-written:3:drop")
    assert dropped.returncode == 0, dropped.stderr
    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)


@pytest.mark.parametrize("backend", SERVERS)
def test_a_connection_that_keeps_dropping_ends_clearly_and_resumes(backend, dbs, session_dbs, small_partitions):
    source, (base_nw, base_retail), (nw, retail) = prepared(dbs, session_dbs, backend, small_partitions)
    failed = copy(small_partitions, source, nw, retail, fault="rows-written:5+:drop")
    assert failed.returncode == 3, failed.stderr
    assert "after 3 attempts" in failed.stderr and "run the same command again" in failed.stderr
    assert "Traceback" not in failed.stderr
    resumed = copy(small_partitions, source, nw, retail)
    assert resumed.returncode == 0, resumed.stderr
    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)


@pytest.mark.postgresql
def test_a_terminal_error_is_not_retried_and_names_no_value(dbs, session_dbs):
    """A target that refuses the data (a check constraint the DBA added): retrying cannot help; exit 3 with
    the cause, no row value (PostgreSQL's message would quote the failing row)."""
    import sqlalchemy as sa

    from split.db import engine_for
    from tests.helpers import MAPPING, TEST_KEY

    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    stores = ["--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail]
    for verb in ("revision", "upgrade"):
        assert run_cli("schema", verb, *stores, env={"BUNKATSU_ENCODE_KEY": TEST_KEY}).returncode == 0
    with engine_for(nw).begin() as conn:  # Alembic does not compare check constraints: the store stays at head
        conn.execute(sa.text("ALTER TABLE area ADD CONSTRAINT short_name CHECK (char_length(area_name) < 2)"))
    failed = copy(MAPPING, source, nw, retail)
    assert failed.returncode == 3, failed.stderr
    assert "copying nw:area#0 failed" in failed.stderr
    assert "attempts" not in failed.stderr and "Traceback" not in failed.stderr
    with engine_for(source).connect() as conn:
        names = [r[0] for r in conn.execute(sa.text("SELECT area_name FROM area"))]
    assert not any(name in failed.stderr for name in names)
