"""A PostgreSQL table without any key is copied in ranges of its blocks (`ctid`), inside one snapshot
(`split.ranges.block_bounds`, `split.engine.copy.restart_block_copies`).

Its rows repeat (a multiset: nothing tells two equal rows apart), and a change between an interrupted copy
and the next moves rows to other blocks: the stores must still hold exactly the source's rows, each as
often as the source has it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from split.db import engine_for
from tests.helpers import TEST_KEY, canonical_rows, copy, run_cli

pytestmark = pytest.mark.postgresql

COLUMNS = ["code", "note"]


def legacy_log(url: str, rows: int) -> None:
    """`rows` rows of 400 distinct ones (each about 15 times), about 60 to a block."""
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy (code varchar(10) NOT NULL, note varchar(120))")
        conn.exec_driver_sql(
            f"INSERT INTO legacy SELECT 'C' || (g %% 400), repeat('x', 100) FROM generate_series(1, {rows}) g"
        )


def legacy_mapping(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.yaml"
    path.write_text(
        "version: 1\nsystem: legacy\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  legacy:\n    retail: all\n    columns: {code: shared, note: shared}\n"
        "    partition: {rows: 1000}\n"
        "waves:\n  - {name: all, tables: [legacy]}\n",
        encoding="utf-8",
    )
    return path


def cli(verb: str, mapping: Path, source: str, nw: str, retail: str):  # noqa: ANN201
    args = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    return run_cli(verb, *args, env={"BUNKATSU_ENCODE_KEY": TEST_KEY})


def rows_in_range(url: str, lo: list | None, hi: list | None) -> int:
    where = ["true"]
    if lo:
        where.append(f"ctid >= '({int(lo[0])},0)'::tid")
    if hi:
        where.append(f"ctid < '({int(hi[0])},0)'::tid")
    with engine_for(url).connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM legacy WHERE {' AND '.join(where)}").scalar_one())


def assert_stores_hold_the_source(source: str, nw: str, retail: str) -> None:
    expected = canonical_rows(source, "legacy", COLUMNS)
    assert canonical_rows(nw, "legacy", COLUMNS) == expected
    assert canonical_rows(retail, "legacy", COLUMNS) == expected


def test_a_table_without_any_key_is_copied_in_balanced_block_ranges(tmp_path, dbs):
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    legacy_log(source, 6000)
    mapping = legacy_mapping(tmp_path)

    planned = run_cli("plan", "--mapping", str(mapping), "--source", source, "--json")
    assert planned.returncode == 0, planned.stderr
    [table] = json.loads(planned.stdout)["tables"]
    blocks = table["blocks"]
    assert len(table["partitions"]) == 1, "sync and verify compare the table whole"
    assert len(blocks) == 6 and blocks[0]["lo"] is None and blocks[-1]["hi"] is None
    assert all(a["hi"] == b["lo"] for a, b in zip(blocks, blocks[1:], strict=False)), "contiguous"
    sizes = [rows_in_range(source, b["lo"], b["hi"]) for b in blocks]
    assert sum(sizes) == 6000 and all(750 <= n <= 1250 for n in sizes), sizes  # within ±25 % of rows: 1000
    assert "ranges of its blocks (ctid)" in table["warnings"][0]
    shown = run_cli("plan", "--mapping", str(mapping), "--source", source, "--sql")
    assert "ctid >= '(" in shown.stdout and "copied in block ranges" in shown.stdout, shown.stdout

    copied = copy(mapping, source, nw, retail)
    assert copied.returncode == 0, copied.stderr
    [result] = json.loads(copied.stdout)["tables"]
    assert result["partitions"] == 6 and result["rows"] == {"nw": 6000, "retail": 6000}, result
    assert_stores_hold_the_source(source, nw, retail)
    proof = cli("verify", mapping, source, nw, retail)
    assert proof.returncode == 0, [c for c in json.loads(proof.stdout)["checks"] if c["status"] != "pass"]

    again = copy(mapping, source, nw, retail)
    assert json.loads(again.stdout)["tables"][0]["skipped_partitions"] == 12, "a finished copy is not started again"


def test_a_block_copy_killed_and_run_again_after_changes_starts_the_table_again(tmp_path, dbs):
    """Three ranges committed, then the process killed; rows of the first blocks are then updated (their new
    versions go to the table's end, a range not yet copied), some deleted and some added. Keeping the
    committed ranges would hold the updated rows twice; the next copy empties the table and copies it whole."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    legacy_log(source, 6000)
    mapping = legacy_mapping(tmp_path)
    killed = copy(mapping, source, nw, retail, fault="committed:3")
    assert killed.returncode == -9, killed.stderr
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql("UPDATE legacy SET note = 'moved' WHERE ctid < '(20,0)'::tid")
        conn.exec_driver_sql("DELETE FROM legacy WHERE code = 'C7'")
        conn.exec_driver_sql("INSERT INTO legacy SELECT 'N' || g, NULL FROM generate_series(1, 300) g")

    resumed = copy(mapping, source, nw, retail)
    assert resumed.returncode == 0, resumed.stderr
    assert_stores_hold_the_source(source, nw, retail)

    with engine_for(source, writer=True).begin() as conn:  # sync compares the table whole, as a multiset
        conn.exec_driver_sql("UPDATE legacy SET note = 'synced' WHERE code IN ('C1', 'C2')")
        conn.exec_driver_sql("INSERT INTO legacy SELECT code, note FROM legacy WHERE code = 'C3'")  # duplicates
    synced = cli("sync", mapping, source, nw, retail)
    assert synced.returncode == 0, synced.stderr
    assert_stores_hold_the_source(source, nw, retail)
    proof = cli("verify", mapping, source, nw, retail)
    assert proof.returncode == 0, [c for c in json.loads(proof.stdout)["checks"] if c["status"] != "pass"]

    recopied = copy(mapping, source, nw, retail)  # sync recorded the table whole: a copy starts it again
    assert recopied.returncode == 0, recopied.stderr
    assert_stores_hold_the_source(source, nw, retail)
