"""Which rows of a key range differ, when both sides are PostgreSQL: found by the servers, in two steps.

1. **Buckets.** Each side sums its rows' hashes per bucket of the key's hash (masked to a power of two), inside the server: a few thousand numbers cross the wire, not a
   pair per row. Buckets are defined by the key alone, so they are the same on both sides whatever rows
   are missing or where they lie (scattered corrections included, which key-range bisection would not
   narrow).
2. **Pairs of the differing buckets only**, (key, row hash), streamed from both servers in the order of
   the key's text as UTF-8 bytes and merged here: memory holds the keys that differ, never a range's pairs.

Sync deletes the keys the store has and the source does not, updates those whose row hashes differ and
inserts those the store lacks. Both sides must have identical column types (`compare.server_hash`), so a
row's hash is the same on both when the rows are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from split.checksum import ServerHash
from split.engine.compare import range_statements
from split.engine.partition import PartitionTask
from split.engine.snapshot import source_connection
from split.plan import render

ROWS_PER_BUCKET = 32  # on average: a changed row costs its bucket's pairs, ~32 from each side
MAX_BUCKETS = 1 << 16


@dataclass
class RangeDiff:
    """The keys that differ between the source (as the plan sends it) and the store, in key order."""

    gone: list[tuple] = field(default_factory=list)  # in the store, not in the source
    new: list[tuple] = field(default_factory=list)  # in the source, not in the store
    changed: list[tuple] = field(default_factory=list)  # in both, rows differ
    source_rows: int = 0
    source_sum: int = 0  # of the range's row hashes, as `compare` sums them (the ledger's `hre-sum:`)


def range_diff(task: PartitionTask, target: sa.Connection, how: ServerHash) -> RangeDiff:
    """The range's differences; `target` is the store connection the caller writes with, `how` the servers'
    row hash (`compare.server_hash`)."""
    expected, actual = range_statements(task)
    with source_connection(task.source_url, task.snapshot) as source:
        buckets = _bucket_count(max(1, task.table.source_rows // max(1, len(task.table.partitions))))
        src = _bucket_sums(source, task, how, expected, buckets)
        dst = _bucket_sums(target, task, how, actual, buckets)
        differing = sorted(b for b in src.keys() | dst.keys() if src.get(b) != dst.get(b))
        diff = RangeDiff(source_rows=sum(c for c, _ in src.values()), source_sum=sum(s for _, s in src.values()))
        if differing:
            only = differing if len(differing) * 2 < buckets else None  # most differ: read them all
            new, old = (_pairs(c, task, how, stmt, buckets, only) for c, stmt in ((source, expected), (target, actual)))
            _merge(new, old, diff)
    return diff


def _bucket_count(rows: int) -> int:
    """A power of two, about `rows / ROWS_PER_BUCKET`, at most MAX_BUCKETS."""
    count = 1
    while count < MAX_BUCKETS and count * ROWS_PER_BUCKET < rows:
        count <<= 1
    return count


def _bucket(how: ServerHash, task: PartitionTask, buckets: int) -> str:
    return f"({how.of(task.store_plan.primary_key)} & {buckets - 1})"


def _bucket_sums(
    conn: sa.Connection, task: PartitionTask, how: ServerHash, stmt: Any, buckets: int
) -> dict[int, tuple[int, int]]:
    sql = (
        f"SELECT {_bucket(how, task, buckets)} AS b, count(*), sum({how.of()}) "
        f"FROM ({render(stmt, conn.dialect)}) AS r GROUP BY 1"
    )
    return {int(b): (int(n), int(s)) for b, n, s in conn.exec_driver_sql(sql)}


Pair = tuple[bytes, tuple, int]  # the key's text as UTF-8 (the merge order), the key's values, the row hash


def _pairs(
    conn: sa.Connection, task: PartitionTask, how: ServerHash, stmt: Any, buckets: int, only: list[int] | None
) -> Iterator[Pair]:
    """The range's rows in the given buckets (None: all), ordered by the key's text as UTF-8 bytes. Not by the
    key's own type: an enum orders by declaration, a numeric NaN above every number, text by the database's
    encoding — Python would order each of them otherwise. Bytes compare alike in the server and here, and
    both sides have the same column types, so the same key has the same text on both."""
    quote = conn.dialect.identifier_preparer.quote
    pk = task.store_plan.primary_key
    keys = ", ".join(f"r.{quote(k)}" for k in pk)
    where = f"WHERE {_bucket(how, task, buckets)} IN ({', '.join(map(str, only))})" if only else ""
    sql = (
        f"SELECT convert_to(ROW({keys})::text, 'UTF8') AS bk_order, {keys}, {how.of()} "
        f"FROM ({render(stmt, conn.dialect)}) AS r {where} ORDER BY 1"
    )
    width = len(pk)
    # streamed by the statement's options, not the connection's: the store connection writes afterwards
    streamed = {"stream_results": True, "yield_per": 10_000}
    for row in conn.exec_driver_sql(sql, execution_options=streamed):
        yield bytes(row[0]), tuple(row[1 : width + 1]), int(row[width + 1])


_END = object()


def _merge(source: Iterator[Pair], target: Iterator[Pair], diff: RangeDiff) -> None:
    """Walk both sorted streams once. A store key with a NULL (a constraint the store lost) names no row to
    delete by key: left to `completeness`."""
    s: Any = next(source, _END)
    t: Any = next(target, _END)
    while s is not _END or t is not _END:
        if t is not _END and None in t[1]:
            t = next(target, _END)
        elif t is _END or (s is not _END and s[0] < t[0]):
            diff.new.append(s[1])
            s = next(source, _END)
        elif s is _END or t[0] < s[0]:
            diff.gone.append(t[1])
            t = next(target, _END)
        else:
            if s[2] != t[2]:
                diff.changed.append(s[1])
            s, t = next(source, _END), next(target, _END)
