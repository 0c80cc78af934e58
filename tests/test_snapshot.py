"""A PostgreSQL source that keeps taking writes during `copy` still gives one point-in-time image.

A writer commits, again and again while the copy runs, transactions that add 1 to every reading of two
tables. Partitions read at different moments would see different increments (a torn image); inside the
run's exported snapshot every row of both tables, in both stores, carries the same increment.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.sample.generate import generate
from tests.helpers import TEST_KEY

TABLES = {"monthly_usage": ("usage_id", "kwh"), "interval_reading_30min": ("reading_id", "kwh_import")}


def readings(url: str, table: str) -> dict[int, Decimal]:
    key, value = TABLES[table]
    with engine_for(url).connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT {key}, {value} FROM {table}")).all())  # type: ignore[arg-type]


class Writer(threading.Thread):
    """Commits `+1 on every reading of both tables` until stopped; counts its commits."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url)
        self.stop = threading.Event()
        self.commits = 0

    def run(self) -> None:
        while not self.stop.is_set():
            with self.engine.begin() as conn:
                for table, (_, value) in TABLES.items():
                    conn.execute(sa.text(f"UPDATE {table} SET {value} = {value} + 1"))
            self.commits += 1


@pytest.mark.postgresql
def test_copy_reads_one_snapshot_while_the_source_takes_writes(dbs, small_partitions):
    from split import api

    source = dbs.url("postgresql", "src")
    generate(source, 120, 5)
    before = {t: readings(source, t) for t in TABLES}
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")

    writer = Writer(source)
    writer.start()
    try:
        while writer.commits < 2:  # the source is visibly moving before the copy starts
            threading.Event().wait(0.05)
        started_at = writer.commits
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("BUNKATSU_ENCODE_KEY", TEST_KEY)
            result = api.copy(small_partitions, source, nw, retail, workers=2)
        during = writer.commits - started_at
    finally:
        writer.stop.set()
        writer.join()
        writer.engine.dispose()

    assert result.snapshot, "a PostgreSQL source must be read through an exported snapshot"
    assert during >= 2, "the writer must commit while the copy runs, or the test proves nothing"
    increments = set()
    for store in (nw, retail):
        for table in TABLES:
            copied = readings(store, table)
            assert copied, (store, table)
            increments |= {copied[k] - before[table][k] for k in copied}
    assert len(increments) == 1, f"a torn image: rows carry {len(increments)} different increments"
