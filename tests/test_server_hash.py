"""Range checksums summed by the PostgreSQL servers themselves (`split.checksum.ServerHash`): equal exactly
when the rows are, whatever the hostile side declares.

The stores are made by `bunkatsu copy`, then changed in ways a row hash must see (or must not)."""

from __future__ import annotations

import pytest

from split.db import engine_for
from split.engine.compare import server_hash, summarise_range
from split.engine.partition import range_tasks
from split.prepare import prepare
from tests.helpers import TEST_KEY, run_cli

pytestmark = pytest.mark.postgresql

MAPPING = (
    "version: 1\nsystem: t\naffiliate: {name: A, retailer_codes: [A0001]}\n"
    "tables:\n  reading:\n    retail: none\n"
    "waves:\n  - {name: all, tables: [reading]}\n"
)


@pytest.fixture
def copied(dbs, tmp_path):
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE reading (id int PRIMARY KEY, who text NOT NULL, kwh numeric(9, 3), note json, loose numeric)"
        )
        conn.exec_driver_sql(
            "INSERT INTO reading VALUES (1, 'Abc', 1.5, '{\"a\": 1}', 1.0), (2, 'b', 2.25, NULL, 2), (3, 'c', NULL, '[]', 3)"
        )
    mapping = tmp_path / "reading.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    args = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail]
    copied = run_cli("copy", *args, env={"BUNKATSU_ENCODE_KEY": TEST_KEY})
    assert copied.returncode == 0, copied.stderr
    return mapping, source, nw, retail


def summary(mapping, source, nw, retail):  # type: ignore[no-untyped-def]
    prep = prepare(mapping, source, nw, retail, stores_exist=True, key=TEST_KEY.encode())
    tasks = range_tasks(prep.plan.tables, source, prep.urls, prep.plan.hash, "", "t", None, None)
    [task] = [t for t in tasks if t.store == "nw"]
    how = server_hash(task)
    assert how is not None and how.by_value, "PostgreSQL 14+ on both sides hashes the rows' values"
    return summarise_range(task)


def change(url: str, *statements: str) -> None:
    with engine_for(url, writer=True).begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def test_equal_rows_sum_alike(copied):
    assert not summary(*copied).differs


def test_two_rows_swapping_a_value_differ(copied):
    """A record's hash is linear in its columns' hashes: summed over rows unmixed, two readings that swap
    their kWh would sum alike and a wrong copy would pass."""
    mapping, source, nw, retail = copied
    change(nw, "UPDATE reading SET kwh = CASE id WHEN 1 THEN 2.25 ELSE 1.5 END WHERE id IN (1, 2)")
    assert summary(*copied).differs
    with engine_for(source).connect() as s, engine_for(nw).connect() as t:
        unmixed = 'SELECT sum(hash_record_extended(ROW(id, who COLLATE "C", kwh), 0)) FROM reading'
        assert s.exec_driver_sql(unmixed).scalar() == t.exec_driver_sql(unmixed).scalar(), "the swap the mix catches"


def test_a_nondeterministic_collation_on_the_store_neither_hides_nor_invents_a_difference(copied):
    """The store declares a collation that calls 'Abc' and 'abc' equal. Text is hashed by its bytes on both
    sides: the same rows still sum alike (hashed under the store's collation every text would differ from
    the source's), and a case changed under that collation still differs."""
    mapping, source, nw, retail = copied
    change(
        nw,
        "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
        "ALTER TABLE reading ALTER COLUMN who TYPE text COLLATE ci",
    )
    assert not summary(*copied).differs
    change(nw, "UPDATE reading SET who = 'abc' WHERE id = 1")
    assert summary(*copied).differs


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reading SET loose = 1.00 WHERE id = 1",  # equal as numbers, another value as stored
        "UPDATE reading SET note = '{\"a\":1}' WHERE id = 1",  # json has no hash: its text is hashed
        "UPDATE reading SET kwh = NULL WHERE id = 2",
        "UPDATE reading SET who = 'b ' WHERE id = 2",
    ],
)
def test_a_changed_value_differs(copied, statement):
    mapping, source, nw, retail = copied
    change(nw, statement)
    assert summary(*copied).differs
