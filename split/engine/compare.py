"""What a key range holds on both sides: the source's rows as the plan says the store should hold them,
and the store's rows. Shared by `sync` (which ranges to rewrite) and the completeness checks.

Per range, both sides give a count and an order-independent checksum (`split.checksum.range_sum`); when
both are PostgreSQL with identical column types, each server computes its own (`server_hash`), so nothing
crosses the wire but two numbers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from split.checksum import ServerHash, canonical, range_sum, row_hash
from split.db import engine_for
from split.engine.partition import PartitionTask, routed_batches
from split.engine.pgcopy import column_types
from split.engine.snapshot import is_postgresql, source_connection
from split.plan import in_key_range, render, store_select

BATCH_ROWS = 5_000


@dataclass(frozen=True)
class RangeSummary:
    task: PartitionTask
    source: tuple[int, int]  # (rows, checksum)
    target: tuple[int, int]

    @property
    def differs(self) -> bool:
        return self.source != self.target


def summarise_range(task: PartitionTask) -> RangeSummary:
    how = server_hash(task)
    if how is not None:
        return RangeSummary(task, *_sql_summaries(task, how))
    return RangeSummary(task, range_sum(routed_batches(task)), range_sum(target_batches(task)))


def server_hash(task: PartitionTask) -> ServerHash | None:
    """How each server hashes its own rows, when both can: PostgreSQL on both sides, no transform, identical
    column types (None: the range is summarised in Python).

    Per-range count and sum of the row hashes then agree exactly when the rows do — provided both sessions
    write values alike where a column is hashed as its text form: a `timestamptz` is written in the
    session's time zone, a date in its DateStyle, text hashed in the server's encoding. Anything else
    (encoded columns, other engines, a type or such a setting that differs, say a store server set to
    Asia/Tokyo and a source in UTC) is summarised in Python.
    """
    if not (is_postgresql(task.source_url) and is_postgresql(task.target_url)):
        return None
    if any(c.transform != "copy" for c in task.store_plan.columns):
        return None
    names = [c.name for c in task.store_plan.columns]
    with engine_for(task.source_url).connect() as src, engine_for(task.target_url).connect() as dst:
        if _text_form(src) != _text_form(dst):
            return None
        raw_src, raw_dst = src.connection.driver_connection, dst.connection.driver_connection
        types = column_types(raw_src, task.table.name, names)
        if types != column_types(raw_dst, task.table.name, names):
            return None
        by_value = all((c.dialect.server_version_info or (0,)) >= (14,) for c in (src, dst))
    return ServerHash(tuple(zip(names, types, strict=True)), by_value)


# The settings that change a value's text form, and so its hash (lc_monetary: the `money` type).
TEXT_FORM_SETTINGS = (
    "server_encoding",
    "TimeZone",
    "DateStyle",
    "IntervalStyle",
    "extra_float_digits",
    "bytea_output",
    "lc_monetary",
)


def _text_form(conn: sa.Connection) -> tuple:
    return tuple(
        conn.exec_driver_sql("SELECT " + ", ".join(f"current_setting('{s}')" for s in TEXT_FORM_SETTINGS)).one()
    )


def range_statements(task: PartitionTask) -> tuple[Any, Any]:
    """The range's rows as the source says the store should hold them, and as the store holds them."""
    expected = store_select(task.table, task.store_plan, task.partition).order_by(None)
    names = [c.name for c in task.store_plan.columns]
    actual: Any = sa.select(*(sa.column(n) for n in names)).select_from(sa.table(task.table.name))
    return expected, in_range(actual, task)


def _sql_summaries(task: PartitionTask, how: ServerHash) -> tuple[tuple[int, int], tuple[int, int]]:
    expected, actual = range_statements(task)
    out = []
    with source_connection(task.source_url, task.snapshot) as src, engine_for(task.target_url).connect() as dst:
        for conn, stmt in ((src, expected), (dst, actual)):
            count, total = conn.exec_driver_sql(how.summary_sql(render(stmt, conn.dialect))).one()
            out.append((int(count), int(total)))
    return out[0], out[1]


def in_range(stmt: Any, task: PartitionTask) -> Any:
    return in_key_range(stmt, task.table, task.partition)


def target_batches(task: PartitionTask) -> Iterator[list[tuple]]:
    """The store's rows of the range, the plan's columns in the plan's order, streamed in batches."""
    names = [c.name for c in task.store_plan.columns]
    table = sa.Table(task.table.name, sa.MetaData(), autoload_with=engine_for(task.target_url))
    stmt = in_range(sa.select(*(table.c[n] for n in names)), task)
    with engine_for(task.target_url).connect() as conn:
        result = conn.execution_options(stream_results=True).execute(stmt)
        for chunk in result.partitions(BATCH_ROWS):
            yield [tuple(r) for r in chunk]


def keyed_rows(task: PartitionTask, batches: Iterator[list[tuple]]) -> Counter:
    """(key, row hash) pairs of one range with their multiplicity; the key is the primary key, or the whole
    row's hash without one (a multiset of rows)."""
    names = [c.name for c in task.store_plan.columns]
    key_idx = [names.index(k) for k in task.store_plan.primary_key]
    pairs: Counter = Counter()
    for batch in batches:
        for row in batch:
            key = tuple(canonical(row[i]) for i in key_idx) if key_idx else (str(row_hash(row)),)
            pairs[(key, row_hash(row))] += 1
    return pairs
