"""Independent readers for tests: rows as canonical tuples, straight from a store, no planner involved."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from split.checksum import canonical
from split.db import engine_for


def reflected(url: str, table: str) -> sa.Table:
    return sa.Table(table, sa.MetaData(), autoload_with=engine_for(url))


def table_names(url: str) -> set[str]:
    return set(sa.inspect(engine_for(url)).get_table_names())


def column_names(url: str, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(engine_for(url)).get_columns(table)]


def rows(url: str, table: str, columns: list[str] | None = None) -> list[dict]:
    t = reflected(url, table)
    cols = [t.c[c] for c in (columns or t.c.keys())]
    with engine_for(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(*cols))]


def canonical_rows(url: str, table: str, columns: list[str]) -> Counter:
    return Counter(tuple(canonical(r[c]) for c in columns) for r in rows(url, table, columns))


def count(url: str, table: str) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def period_table(md: sa.MetaData) -> sa.Table:
    """The supply contract periods of the property tests: which retailer had a point from start to end."""
    return sa.Table(
        "period",
        md,
        sa.Column("pid", sa.Integer, primary_key=True),
        sa.Column("spid", sa.Integer),
        sa.Column("retailer", sa.String(1)),
        sa.Column("start_day", sa.Date),
        sa.Column("end_day", sa.Date),
    )
