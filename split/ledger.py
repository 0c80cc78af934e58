"""The ledger: one row per finished partition per store, committed with the partition's rows.

Because rows and ledger row share one transaction in the target, a partition is either finished
(and recorded) or absent; a re-run of the same plan skips what is recorded and redoes the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from split import chain

LEDGER_TABLE = "bunkatsu_ledger"
FOLLOW_ROW = "(follow)"  # the row holding the source position a store holds every captured change up to

# Part of each store's derived schema (split/schema/derive.py): created and changed by Alembic revisions.
ledger = sa.Table(
    LEDGER_TABLE,
    sa.MetaData(),
    sa.Column("plan_hash", sa.String(64), primary_key=True),
    sa.Column("table_name", sa.String(128), primary_key=True),
    sa.Column("partition_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("store", sa.String(8), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("key_lo", sa.BigInteger),  # the range of a single integer key, for people reading the table
    sa.Column("key_hi", sa.BigInteger),
    sa.Column("key_range", sa.Text),  # the range of any key as JSON: {"lo": [...] | null, "hi": [...] | null}
    sa.Column("row_count", sa.BigInteger, nullable=False),
    sa.Column("checksum", sa.String(64), nullable=False),
    sa.Column("mapping_sha256", sa.String(64), nullable=False),
    sa.Column("finished_at", sa.DateTime, nullable=False),
    # copy: the range was written whole; sync: brought up to date, with the rows it changed
    sa.Column("operation", sa.String(8), nullable=False, server_default="copy"),
    sa.Column("inserted", sa.BigInteger),
    sa.Column("updated", sa.BigInteger),
    sa.Column("deleted", sa.BigInteger),
)
chain.chained(ledger, hidden=("key_lo", "key_hi", "key_range"))  # each row written is chained; bounds as keyed hashes


@dataclass(frozen=True)
class LedgerEntry:
    plan_hash: str
    table_name: str
    partition_no: int
    store: str
    run_id: str
    key_lo: int | None
    key_hi: int | None
    key_range: str | None
    row_count: int
    checksum: str  # of the rows the range holds afterwards, in key order
    mapping_sha256: str
    operation: str = "copy"
    inserted: int | None = None
    updated: int | None = None
    deleted: int | None = None


def is_recorded(conn: sa.Connection, plan_hash: str, table: str, partition_no: int) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        ledger.c.plan_hash == plan_hash, ledger.c.table_name == table, ledger.c.partition_no == partition_no
    )
    return conn.execute(stmt).first() is not None


def record(conn: sa.Connection, entry: LedgerEntry) -> None:
    """Write the range's row, and append it to the store's evidence chain, in the caller's transaction."""
    conn.execute(ledger.insert().values(**entry.__dict__, finished_at=datetime.now(UTC).replace(tzinfo=None)))
    chain.record(conn, ledger, {"plan_hash": entry.plan_hash, "table_name": entry.table_name,
                                "partition_no": entry.partition_no})  # fmt: skip


def replace(conn: sa.Connection, entry: LedgerEntry) -> None:
    """Record a range again under the same plan (sync may bring a range up to date more than once)."""
    conn.execute(
        ledger.delete().where(
            ledger.c.plan_hash == entry.plan_hash,
            ledger.c.table_name == entry.table_name,
            ledger.c.partition_no == entry.partition_no,
        )
    )
    record(conn, entry)


def forget(conn: sa.Connection, plan_hash: str, table: str) -> None:
    """Remove a table's ranges recorded under this plan (the caller cleared their rows in the same
    transaction); each removal is appended to the evidence chain."""
    where = (ledger.c.plan_hash == plan_hash, ledger.c.table_name == table)
    numbers = list(conn.execute(sa.select(ledger.c.partition_no).where(*where)).scalars())
    conn.execute(ledger.delete().where(*where))
    for no in numbers:
        chain.record(conn, ledger, {"plan_hash": plan_hash, "table_name": table, "partition_no": no})


def recorded_counts(engine: sa.Engine, plan_hash: str) -> dict[str, int]:
    """Rows written per table under this plan, as the ledger tells it."""
    stmt = (
        sa.select(ledger.c.table_name, sa.func.sum(ledger.c.row_count))
        .where(ledger.c.plan_hash == plan_hash)
        .group_by(ledger.c.table_name)
    )
    with engine.connect() as conn:
        return {name: int(total or 0) for name, total in conn.execute(stmt)}


def recorded_tables(engine: sa.Engine) -> set[str]:
    """The tables the store's ledger holds any range of, under any plan (none if the store has no ledger)."""
    if not sa.inspect(engine).has_table(LEDGER_TABLE):
        return set()
    with engine.connect() as conn:
        return set(conn.execute(sa.select(ledger.c.table_name).distinct()).scalars())


def recorded_partitions(engine: sa.Engine, plan_hash: str) -> set[tuple[str, int]]:
    stmt = sa.select(ledger.c.table_name, ledger.c.partition_no).where(ledger.c.plan_hash == plan_hash)
    with engine.connect() as conn:
        return {(t, int(n)) for t, n in conn.execute(stmt)}


def follow_position(engine: sa.Engine) -> str | None:
    """The source position this store last recorded for change capture (`scheme:position`), under any plan."""
    if not sa.inspect(engine).has_table(LEDGER_TABLE):
        return None
    stmt = (
        sa.select(ledger.c.checksum)
        .where(ledger.c.table_name == FOLLOW_ROW)
        .order_by(ledger.c.finished_at.desc(), ledger.c.run_id)
        .limit(1)
    )
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()
