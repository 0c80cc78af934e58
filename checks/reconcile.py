"""nw.completeness and retail.completeness: each store equals what the plan says it should hold.

Per key range, both sides give a count and an order-independent checksum (sum of 64-bit row hashes, so
engines that sort text differently still agree). Only ranges that differ are read again, row by row,
to name the differing keys — as keyed hashes, never as values.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split.checksum import canonical
from split.db import describe_db_error, engine_for
from split.engine.partition import PartitionTask, routed_batches
from split.engine.pgcopy import column_types
from split.engine.run import run_tasks
from split.engine.snapshot import is_postgresql, source_connection
from split.plan import in_key_range, render, store_select

MASK = (1 << 64) - 1
SAMPLES = 5


def row_hash(row: tuple) -> int:
    digest = hashlib.blake2b("\x1f".join(canonical(v) for v in row).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True)
class RangeSummary:
    task: PartitionTask
    source: tuple[int, int]  # (rows, checksum)
    target: tuple[int, int]


def _target_batches(task: PartitionTask) -> Iterator[list[tuple]]:
    names = [c.name for c in task.store_plan.columns]
    table = sa.Table(task.table.name, sa.MetaData(), autoload_with=engine_for(task.target_url))
    stmt = _in_range(sa.select(*(table.c[n] for n in names)), task)
    with engine_for(task.target_url).connect() as conn:
        result = conn.execution_options(stream_results=True).execute(stmt)
        for chunk in result.partitions(5_000):
            yield [tuple(r) for r in chunk]


def _summary(batches: Iterator[list[tuple]]) -> tuple[int, int]:
    rows = total = 0
    for batch in batches:
        for row in batch:
            rows += 1
            total = (total + row_hash(row)) & MASK
    return rows, total


def summarise_range(task: PartitionTask) -> RangeSummary:
    if in_database(task):
        return RangeSummary(task, *_sql_summaries(task))
    return RangeSummary(task, _summary(routed_batches(task)), _summary(_target_batches(task)))


def in_database(task: PartitionTask) -> bool:
    """PostgreSQL on both sides, no transform, identical column types: each server hashes its own rows.

    The row's text form (`ROW(…)::text`) is then the same on both sides, so per-range count and sum of
    `hashtextextended` agree exactly when the rows do; nothing crosses the wire but two numbers. Anything
    else (encoded columns, other engines, a type that differs) is summarised in Python.
    """
    if not (is_postgresql(task.source_url) and is_postgresql(task.target_url)):
        return False
    if any(c.transform != "copy" for c in task.store_plan.columns):
        return False
    names = [c.name for c in task.store_plan.columns]
    with engine_for(task.source_url).connect() as src, engine_for(task.target_url).connect() as dst:
        raw_src, raw_dst = src.connection.driver_connection, dst.connection.driver_connection
        return column_types(raw_src, task.table.name, names) == column_types(raw_dst, task.table.name, names)


_AGGREGATE = "SELECT count(*), coalesce(sum(hashtextextended(r::text, 0)), 0) FROM ({}) AS r"


def range_statements(task: PartitionTask) -> tuple[Any, Any]:
    """The range's rows as the source says the store should hold them, and as the store holds them."""
    expected = store_select(task.table, task.store_plan, task.partition).order_by(None)
    names = [c.name for c in task.store_plan.columns]
    actual: Any = sa.select(*(sa.column(n) for n in names)).select_from(sa.table(task.table.name))
    return expected, _in_range(actual, task)


def _sql_summaries(task: PartitionTask) -> tuple[tuple[int, int], tuple[int, int]]:
    expected, actual = range_statements(task)
    out = []
    with source_connection(task.source_url, task.snapshot) as src, engine_for(task.target_url).connect() as dst:
        for conn, stmt in ((src, expected), (dst, actual)):
            count, total = conn.exec_driver_sql(_AGGREGATE.format(render(stmt, conn.dialect))).one()
            out.append((int(count), int(total)))
    return out[0], out[1]


def _in_range(stmt: Any, task: PartitionTask) -> Any:
    return in_key_range(stmt, sa.column(task.table.key), task.partition) if task.table.key else stmt


def _by_key(task: PartitionTask, batches: Iterator[list[tuple]]) -> Counter:
    """(key, row hash) pairs of one range; the key is the primary key, or the whole row without one."""
    names = [c.name for c in task.store_plan.columns]
    key_idx = [names.index(k) for k in task.store_plan.primary_key]
    pairs: Counter = Counter()
    for batch in batches:
        for row in batch:
            key = tuple(canonical(row[i]) for i in key_idx) if key_idx else (row_hash(row),)
            pairs[(key, row_hash(row))] += 1
    return pairs


def narrow(ctx: VerifyContext, task: PartitionTask) -> tuple[int, int, int, tuple[str, ...]]:
    """Missing, extra and changed rows of a differing range, and keyed hashes of some of their keys."""
    expected, actual = _by_key(task, routed_batches(task)), _by_key(task, _target_batches(task))
    exp_keys = {k for k, _ in expected}
    act_keys = {k for k, _ in actual}
    missing = exp_keys - act_keys
    extra = act_keys - exp_keys
    changed = {k for k, _ in (expected - actual) if k in act_keys} | {
        k for k, _ in (actual - expected) if k in exp_keys
    }
    samples = tuple(ctx.keyed_hash("|".join(k)) for k in sorted(missing | extra | changed)[:SAMPLES])
    return len(missing), len(extra), len(changed), samples


def completeness(ctx: VerifyContext, store: str) -> list[CheckResult]:
    check_id = f"{store}.completeness"
    tasks = [
        PartitionTask(
            t, store, part, ctx.source_url, ctx.stores[store], ctx.plan.hash, ctx.plan.mapping_sha256, "verify"
        )
        for t, _ in ctx.store_tables(store)
        for part in t.partitions
    ]
    try:
        summaries = run_tasks(summarise_range, tasks, ctx.workers, name=f"{store}-completeness")
    except (sa.exc.SQLAlchemyError, KeyError) as exc:
        return [could_not_prove(check_id, store, None, describe_db_error(exc))]
    results = []
    for table, sp in ctx.store_tables(store):
        mine = [s for s in summaries if s.task.table.name == table.name]
        expected_rows = sum(s.source[0] for s in mine)
        actual_rows = sum(s.target[0] for s in mine)
        differing = [s for s in mine if s.source != s.target]
        if not differing:
            results.append(
                passed(
                    check_id,
                    store,
                    table.name,
                    observed=actual_rows,
                    expected=expected_rows,
                    message=f"{len(mine)} key range(s) equal",
                )
            )
            continue
        missing = extra = changed = 0
        samples: tuple[str, ...] = ()
        for s in differing:
            m, e, c, smp = narrow(ctx, s.task)
            missing, extra, changed, samples = missing + m, extra + e, changed + c, samples + smp
        parts = [f"{n} {what}" for n, what in ((missing, "missing"), (extra, "unexpected"), (changed, "changed")) if n]
        if not parts:  # the in-database checksums differ but every row reads back equal: fail, and say so
            parts.append("checksums differ though no row differs when read back (column text forms differ?)")
        encoded = any(c.transform == "encode" for c in sp.columns)
        if encoded and changed and changed == expected_rows:
            parts.append("(every row differs: was the copy made with another BUNKATSU_ENCODE_KEY?)")
        results.append(
            failed(
                check_id,
                store,
                table.name,
                observed=actual_rows,
                expected=expected_rows,
                message=f"{', '.join(parts)} row(s) in {len(differing)} of {len(mine)} key range(s)",
                samples=samples[:SAMPLES],
            )
        )
    return results
