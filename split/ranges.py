"""Key ranges: how a big table is cut into partitions that every engine reads alike.

A partition is a half-open range of the partition key, which may be one column or several (a natural key
such as supply point id, day and slot) of any orderable type: integer, decimal, date, timestamp or text.
Its bounds are row quantiles sampled from the source, so each holds about the mapping's `rows:` whatever
the key's distribution (ids that jump by millions, a text key).

The same range is evaluated by several engines: the source (copy, sync, verify), and each store (the copy
clears a range before writing it; completeness and sync read a store range by range). A row must fall in
exactly one range in every one of them, so text keys are compared in binary order — code point order, as
Python compares `str` — everywhere: `COLLATE "C"` on PostgreSQL, `COLLATE BINARY` on SQLite,
`utf8mb4_nopad_bin` on MariaDB. A source's own collation (case- or accent-insensitive, linguistic) would
put a row in a different range, or in none, on a store of another engine.

A PostgreSQL table without a key is cut for the copy alone into ranges of its physical blocks (`ctid`), read
inside the copy's one snapshot, where every row version has one place (`block_bounds`). The stores hold no
such place: there the table is one range (sync and verify compare it whole, as a multiset of rows).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Delete, Select

Bound = tuple[Any, ...]

# Above this many rows a PostgreSQL source is sampled (TABLESAMPLE BERNOULLI, repeatable) instead of
# numbering every key; SAMPLES_PER_RANGE keys per range keep each within a few per cent of `rows:`.
EXACT_UP_TO = 500_000
SAMPLES_PER_RANGE = 400
SAMPLE_SEED = 19


@dataclass(frozen=True)
class Partition:
    """A half-open key range [lo, hi); None means open-ended, so the ranges cover every possible key."""

    no: int
    lo: Bound | None
    hi: Bound | None
    blocks: bool = False  # bounds are block numbers of the source's table (`ctid`), not key values

    def to_dict(self) -> dict:
        return {"no": self.no, "lo": as_json(self.lo), "hi": as_json(self.hi)}

    def describe(self) -> str:
        shown = f"[{_shown(self.lo, '-∞')}, {_shown(self.hi, '+∞')})"
        return f"ctid {shown}" if self.blocks else shown


WHOLE = Partition(0, None, None)


def as_json(bound: Bound | None) -> list | None:
    """A bound as JSON values: numbers stay numbers, dates and decimals become ISO text and strings."""
    if bound is None:
        return None
    out: list = []
    for value in bound:
        if isinstance(value, dt.date | dt.time):
            out.append(value.isoformat())
        elif isinstance(value, Decimal):
            out.append(str(value))
        else:
            out.append(value)
    return out


def _shown(bound: Bound | None, open_end: str) -> str:
    if bound is None:
        return open_end
    values = as_json(bound) or []
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(map(str, values)) + ")"


# ── SQL ────────────────────────────────────────────────────────────────────────────────────────


class BinaryOrder(ColumnElement[Any]):
    """A text key column compared in code point order, whatever the column's or the engine's collation."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(BinaryOrder)
def _binary_default(element: BinaryOrder, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} COLLATE BINARY"


@compiles(BinaryOrder, "postgresql")
def _binary_postgresql(element: BinaryOrder, compiler: Any, **kw: Any) -> str:
    return f'{compiler.process(element.column, **kw)} COLLATE "C"'


@compiles(BinaryOrder, "mysql")
@compiles(BinaryOrder, "mariadb")
def _binary_mysql(element: BinaryOrder, compiler: Any, **kw: Any) -> str:
    # converted first: COLLATE alone is refused on a column of another character set (cp932, latin1);
    # NO PAD, because the PAD SPACE collations would call 'a' and 'a ' equal where the other engines do not
    return f"CONVERT({compiler.process(element.column, **kw)} USING utf8mb4) COLLATE utf8mb4_nopad_bin"


def ordered(column: ColumnElement[Any], text: bool) -> ColumnElement[Any]:
    return BinaryOrder(column) if text else column


def _compared(columns: list[ColumnElement[Any]], bound: Bound) -> list[tuple[ColumnElement[Any], Any]]:
    return [(ordered(c, isinstance(v, str)), sa.literal(v)) for c, v in zip(columns, bound, strict=True)]


def at_least(columns: list[ColumnElement[Any]], bound: Bound) -> ColumnElement[bool]:
    """(c1, c2, …) >= (v1, v2, …) in lexicographic order (`Lexicographic`)."""
    return _key_compare(_compared(columns, bound), inclusive=True, lower=True)


def below(columns: list[ColumnElement[Any]], bound: Bound) -> ColumnElement[bool]:
    """(c1, c2, …) < (v1, v2, …), likewise."""
    return _key_compare(_compared(columns, bound), inclusive=False, lower=False)


def _key_compare(pairs: list[tuple[Any, Any]], *, inclusive: bool, lower: bool) -> ColumnElement[bool]:
    if len(pairs) == 1:
        return _lexicographic(pairs, inclusive=inclusive, lower=lower)
    return Lexicographic(pairs, inclusive, lower)


class Lexicographic(ColumnElement[bool]):
    """A composite key against a bound. Written out (`c1 >= v1 AND (c1 > v1 OR c1 = v1 AND …)`) so that every
    engine evaluates it alike and the leading column's bound can use an index; on PostgreSQL a row comparison
    `(c1, c2, …) >= (v1, v2, …)`, which means the same (compared left to right, stopping at the first unequal
    or NULL pair), is an index condition on the whole key, and is estimated by its leading column: the
    written-out form was estimated at a seventh of its rows, and PostgreSQL then sorted each range on disk
    instead of reading it in index order (3× the time, BENCHMARKS.md issue 19)."""

    inherit_cache = False  # holds the bound's values; statements with it are compiled each time (a few per range)
    type = sa.Boolean()

    def __init__(self, pairs: list[tuple[Any, Any]], inclusive: bool, lower: bool) -> None:
        self.pairs, self.inclusive, self.lower = pairs, inclusive, lower


@compiles(Lexicographic)
def _lexicographic_default(element: Lexicographic, compiler: Any, **kw: Any) -> str:
    written = _lexicographic(element.pairs, inclusive=element.inclusive, lower=element.lower)
    return str(compiler.process(written.self_group(), **kw))


@compiles(Lexicographic, "postgresql")
def _lexicographic_postgresql(element: Lexicographic, compiler: Any, **kw: Any) -> str:
    op = (">" if element.lower else "<") + ("=" if element.inclusive else "")
    left = ", ".join(compiler.process(c, **kw) for c, _v in element.pairs)
    right = ", ".join(compiler.process(v, **kw) for _c, v in element.pairs)
    return f"(({left}) {op} ({right}))"


def _lexicographic(pairs: list[tuple[Any, Any]], *, inclusive: bool, lower: bool) -> ColumnElement[bool]:
    (first, v1), rest = pairs[0], pairs[1:]
    if not rest:
        if lower:
            return first >= v1 if inclusive else first > v1
        return first <= v1 if inclusive else first < v1
    strict = first > v1 if lower else first < v1
    tail = sa.and_(first == v1, _lexicographic(rest, inclusive=inclusive, lower=lower))
    return sa.and_(first >= v1 if lower else first <= v1, sa.or_(strict, tail))


Filtered = TypeVar("Filtered", Select[Any], Delete)


def in_range(stmt: Filtered, columns: list[ColumnElement[Any]], part: Partition) -> Filtered:
    """Restrict a SELECT or DELETE to the partition's half-open key range [lo, hi) (open ends stay open).
    No columns: the table is one partition. A range of blocks is given the table's `ctid` as its column."""
    if not columns:
        return stmt
    if part.blocks:
        return _in_blocks(stmt, columns[0], part)
    # A key with a NULL would be in no range (its comparisons are unknown), or with a NULL after the first
    # column in one decided by the columns before it as well. The source has none (key columns are NOT
    # NULL); a store may (the retail side can drop the constraint): the first range holds every such row and
    # no other range does, so that no row hides from the checks that read a store range by range.
    if part.lo is not None:
        stmt = stmt.where(at_least(columns, part.lo), *(c.is_not(None) for c in columns))
    if part.hi is not None:
        upper = below(columns, part.hi)
        stmt = stmt.where(sa.or_(upper, *(c.is_(None) for c in columns)) if part.lo is None else upper)
    return stmt


def _in_blocks(stmt: Filtered, ctid: ColumnElement[Any], part: Partition) -> Filtered:
    """`ctid >= '(lo,0)' AND ctid < '(hi,0)'`: PostgreSQL reads such a range by a TID range scan, only its
    own blocks. The bounds are integers the plan computed, never text from a store."""
    if part.lo is not None:
        stmt = stmt.where(ctid >= sa.literal_column(f"'({int(part.lo[0])},0)'::tid"))
    if part.hi is not None:
        stmt = stmt.where(ctid < sa.literal_column(f"'({int(part.hi[0])},0)'::tid"))
    return stmt


# ── bounds from the source ─────────────────────────────────────────────────────────────────────


def range_count(rows: int, per_range: int) -> int:
    """How many ranges: the nearest whole number of `per_range`, so each is within ±25 % of it."""
    return max(1, round(rows / per_range))


def sample_bounds(
    conn: sa.Connection, table: Any, key: tuple[str, ...], text: tuple[bool, ...], rows: int, per_range: int
) -> list[Bound]:
    """The inner bounds of `range_count` ranges of about equal rows, in binary key order."""
    count = range_count(rows, per_range)
    if count <= 1:
        return []
    columns = [table.c[k] for k in key]
    if conn.dialect.name == "postgresql" and rows > EXACT_UP_TO:
        picks = _sampled_picks(conn, table, columns, text, min(1.0, count * SAMPLES_PER_RANGE / rows), count)
    else:
        picks = _numbered_keys(conn, table, columns, text, [math.floor(i * rows / count) for i in range(1, count)])
    return sorted(set(picks))  # Python's order is the binary order: `str` compares by code point


def _numbered_keys(
    conn: sa.Connection, table: Any, columns: list[Any], text: tuple[bool, ...], positions: list[int]
) -> list[Bound]:
    """The keys at these 0-based positions in key order (one ordered pass over the key, in the database)."""
    order = [ordered(c, t) for c, t in zip(columns, text, strict=True)]
    numbered = sa.select(*columns, (sa.func.row_number().over(order_by=order) - 1).label("bk_pos")).subquery()
    stmt = sa.select(*(numbered.c[c.name] for c in columns)).where(numbered.c.bk_pos.in_(positions))
    return [tuple(r) for r in conn.execute(stmt)]


def _sampled_picks(
    conn: sa.Connection, table: Any, columns: list[Any], text: tuple[bool, ...], fraction: float, count: int
) -> list[Bound]:
    """The keys at the `count`-quantiles of a repeatable Bernoulli sample of the keys (PostgreSQL), in binary
    order. The server counts and sorts the sample and it is streamed: memory holds the picks, not the sample
    (400 keys a range: with small ranges that was 40 % of the table, held while planning)."""
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in columns)
    order = ", ".join(quote(c.name) + (' COLLATE "C"' if t else "") for c, t in zip(columns, text, strict=True))
    sample = (
        f"{conn.dialect.identifier_preparer.format_table(table)} "
        f"TABLESAMPLE BERNOULLI ({fraction * 100:.6f}) REPEATABLE ({SAMPLE_SEED})"
    )
    size = conn.exec_driver_sql(f"SELECT count(*) FROM {sample}").scalar_one()
    wanted = {math.floor(i * size / count) for i in range(1, count)}
    keys = conn.exec_driver_sql(
        f"SELECT {names} FROM {sample} ORDER BY {order}",
        execution_options={"stream_results": True, "yield_per": 10_000},
    )
    return [tuple(key) for position, key in enumerate(keys) if position in wanted]


def block_bounds(conn: sa.Connection, table: Any, rows: int, per_range: int) -> list[Bound]:
    """The inner bounds, as block numbers, of `range_count` ranges of about equal rows of a PostgreSQL table:
    the blocks of every row (or of a repeatable sample above EXACT_UP_TO rows), cut at their quantiles. A range
    ends at a block's start, so a block's rows are never split between two ranges."""
    count = range_count(rows, per_range)
    if count <= 1:
        return []
    block = "(ctid::text::point)[0]::bigint"
    quoted = conn.dialect.identifier_preparer.format_table(table)
    sample = ""
    if rows > EXACT_UP_TO:
        sample = f" TABLESAMPLE BERNOULLI ({min(1.0, count * SAMPLES_PER_RANGE / rows) * 100:.6f}) REPEATABLE ({SAMPLE_SEED})"
    blocks = sorted(r[0] for r in conn.exec_driver_sql(f"SELECT {block} FROM {quoted}{sample}"))
    if not blocks:
        return []
    picks = {blocks[math.floor(i * len(blocks) / count)] for i in range(1, count)}
    return [(b,) for b in sorted(picks) if b > blocks[0]]  # a bound at the first block would leave a range empty


def range_number(columns: list[Any], parts: Sequence[Partition]) -> Any:
    """The number of the range a row's key is in, as `in_range` decides it: a key with a NULL is in
    the first range; otherwise the last range whose lower bound the key is at or above (a binary search, so
    a row costs about log2(ranges) comparisons)."""

    def search(lo: int, hi: int) -> Any:
        if lo == hi:
            return sa.literal(parts[lo].no)
        mid = (lo + hi + 1) // 2
        bound = parts[mid].lo
        assert bound is not None
        return sa.case((at_least(columns, bound), search(mid, hi)), else_=search(lo, mid - 1))

    return sa.case((sa.or_(*(c.is_(None) for c in columns)), sa.literal(parts[0].no)), else_=search(0, len(parts) - 1))
