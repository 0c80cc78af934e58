"""Bounded value sampling: the first N rows of each table, read once, fed to the recognizers, forgotten.

Only counts leave this module (`ColumnEvidence`); the values themselves are never kept or returned.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from split.discover.recognize import ColumnEvidence
from split.introspect import ColumnInfo, TableInfo

DEFAULT_SAMPLE_ROWS = 1000
_NOT_TEXT = (sa.Date, sa.DateTime, sa.Time, sa.Boolean, sa.Float, sa.LargeBinary, sa.Interval)


def sampled_columns(info: TableInfo) -> list[ColumnInfo]:
    """Columns whose values can spell an identifier: text, and integers/decimals (a 12-digit My Number)."""
    return [c for c in info.columns if not isinstance(c.type, _NOT_TEXT)]


def _as_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(value.to_integral_value())
    return None


def sample_table(conn: sa.Connection, info: TableInfo, rows: int) -> dict[str, ColumnEvidence]:
    """Evidence per column from at most `rows` rows (0: every row)."""
    columns = sampled_columns(info)
    evidence = {c.name: ColumnEvidence(c.name) for c in columns}
    if not columns:
        return evidence
    stmt: sa.Select = sa.select(*(sa.column(c.name) for c in columns)).select_from(sa.table(info.name))
    if rows:
        stmt = stmt.limit(rows)
    for row in conn.execution_options(stream_results=True, yield_per=1000).execute(stmt):
        for c, value in zip(columns, row, strict=True):
            text = _as_text(value)
            if text is not None:
                evidence[c.name].add(text)
    return evidence
