"""One unit of work: copy one key range of one table into one store, with its ledger row, exactly once.

extract (the store's SELECT, streamed, inside the run's snapshot) → route (encode what the plan says) →
load (COPY on PostgreSQL targets, INSERT elsewhere; then the ledger row, in the same target transaction). Runs in Dask workers: everything it needs is in the task,
connections are opened here, never passed in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa

from split import ledger
from split.checksum import RowHasher
from split.db import describe_db_error, engine_for, is_transient
from split.encode import token
from split.engine import pgcopy
from split.engine.faults import arm_drop_fault, fault_point
from split.engine.snapshot import is_postgresql, source_connection
from split.errors import TerminalError, TransientError
from split.i18n import _
from split.plan import StorePlan, TablePlan, in_key_range, render_verbatim, store_select
from split.ranges import Bound, Partition, as_json
from split.settings import Secret, encode_key

BATCH_ROWS = 5_000
RETRIES = 3
BACKOFF_SECONDS = 0.5

R = TypeVar("R")
T = TypeVar("T")  # the work item: a key range, or a range with what an earlier pass found


@dataclass(frozen=True)
class PartitionTask:
    table: TablePlan
    store: str
    partition: Partition
    source_url: str = field(repr=False)  # may carry a password: kept out of reprs, logs and Dask's dashboard
    target_url: str = field(repr=False)
    plan_hash: str
    mapping_sha256: str
    run_id: str
    snapshot: str | None = None  # the run's exported PostgreSQL snapshot
    key: Secret | None = None  # the encode key, for workers that do not share this process's environment
    # The store table was empty when this run began and is loaded without its key (split.schema.keys): no
    # earlier plan's rows to delete, and the delete would scan the table, having no index to find the range.
    fresh: bool = False

    @property
    def store_plan(self) -> StorePlan:
        sp = self.table.store(self.store)
        assert sp is not None
        return sp

    @property
    def label(self) -> str:
        return f"{self.store}:{self.table.name}#{self.partition.no}"

    def ledger_entry(self, rows: int, checksum: str, **sync_counts: Any) -> ledger.LedgerEntry:
        """The ledger row recording this range: written in the same transaction as its rows. The range's key
        values are written in the NW store only: the retail store's ledger names a range by its number."""
        part = self.partition
        shown = self.store == "nw"
        return ledger.LedgerEntry(
            self.plan_hash,
            self.table.name,
            part.no,
            self.store,
            self.run_id,
            _single_integer(part.lo) if shown else None,
            _single_integer(part.hi) if shown else None,
            json.dumps({"lo": as_json(part.lo), "hi": as_json(part.hi)}, ensure_ascii=False) if shown else None,
            rows,
            checksum,
            self.mapping_sha256,
            **sync_counts,
        )


def _single_integer(bound: Bound | None) -> int | None:
    return bound[0] if bound is not None and len(bound) == 1 and isinstance(bound[0], int) else None


def range_tasks(
    tables: Sequence[TablePlan],
    source_url: str,
    targets: dict[str, str],
    plan_hash: str,
    mapping_sha256: str,
    run_id: str,
    snapshot: str | None,
    key: bytes | None,
    *,
    copying: bool = False,
) -> list[PartitionTask]:
    """One task per key range of each table per store that receives it (`copying`: the copy's ranges, which
    for a PostgreSQL table without a key are ranges of its blocks)."""
    secret = Secret(key) if key else None
    return [
        PartitionTask(
            t, sp.store, part, source_url, targets[sp.store], plan_hash, mapping_sha256, run_id, snapshot, secret
        )
        for t in tables
        for part in (t.copy_ranges if copying else t.partitions)
        for sp in t.stores
    ]


@dataclass(frozen=True)
class PartitionResult:
    table: str
    store: str
    partition_no: int
    rows: int
    checksum: str
    skipped: bool  # already recorded in the ledger by an earlier run of the same plan
    seconds: float
    method: str = ""  # copy-stream | copy-rows | insert


def copy_partition(task: PartitionTask) -> PartitionResult:
    return with_retries(_copy_once, task, f"copying {task.label}")


def with_retries(work: Callable[[T], R], task: T, what: str) -> R:
    """Retry transient failures (the range's transaction was rolled back, so redoing it is safe, after a
    growing pause); other database errors end the run clearly."""
    for attempt in range(RETRIES):
        try:
            return work(task)
        except sa.exc.DBAPIError as exc:
            if is_transient(exc) and attempt + 1 < RETRIES:
                time.sleep(BACKOFF_SECONDS * 2**attempt)
                continue
            if is_transient(exc):
                raise TransientError(
                    _("%(what)s failed after %(retries)s attempts: %(exc)s")
                    % {"what": what, "retries": RETRIES, "exc": describe_db_error(exc)},
                    hint=_("run the same command again when the database is back: finished partitions are kept"),
                ) from None
            raise TerminalError(
                _("%(what)s failed: %(exc)s") % {"what": what, "exc": describe_db_error(exc)},
                hint=_("fix the cause in the database, then run the same command again"),
            ) from None
    raise AssertionError("unreachable")


def _copy_once(task: PartitionTask) -> PartitionResult:
    started = time.monotonic()
    store_plan, part = task.store_plan, task.partition
    target = engine_for(task.target_url, writer=True)
    with target.begin() as tconn:
        if ledger.is_recorded(tconn, task.plan_hash, task.table.name, part.no):
            return PartitionResult(task.table.name, task.store, part.no, 0, "", True, 0.0)
        if not part.blocks and not task.fresh:  # block ranges: `restart_block_copies` cleared the table first
            delete = sa.delete(_target_table(task.table, store_plan))  # an earlier, different plan's rows
            tconn.execute(in_key_range(delete, task.table, part))
        arm_drop_fault(tconn)
        rows, checksum, method = _load(task, tconn)
        ledger.record(tconn, task.ledger_entry(rows, checksum))
        fault_point("ledger-written")
    fault_point("committed")
    seconds = time.monotonic() - started
    return PartitionResult(task.table.name, task.store, part.no, rows, checksum, False, seconds, method)


def _load(task: PartitionTask, tconn: sa.Connection) -> tuple[int, str, str]:
    """Write the partition's rows into the open target transaction; (rows, checksum, method)."""
    store_plan = task.store_plan
    names = [c.name for c in store_plan.columns]
    to_postgresql = tconn.dialect.name == "postgresql"
    transforms = any(c.transform != "copy" for c in store_plan.columns)
    if to_postgresql and is_postgresql(task.source_url) and not transforms:
        stmt = store_select(task.table, store_plan, task.partition)
        with source_connection(task.source_url, task.snapshot) as sconn:
            sql = render_verbatim(stmt, sconn.dialect)  # COPY is sent as it is: no `%` doubled
            with pgcopy.raw_errors(tconn, sconn):
                rows, checksum = pgcopy.stream(sconn, tconn, sql, task.table.name, names, _flushed)
        return rows, checksum, "copy-stream"
    hasher = RowHasher()

    def written(rows: list[tuple]) -> None:
        hasher.update(rows)
        fault_point("rows-written")

    write_rows(tconn, task, routed_batches(task), written)
    return hasher.rows, hasher.hexdigest(), "copy-rows" if to_postgresql else "insert"


def write_rows(
    tconn: sa.Connection,
    task: PartitionTask,
    batches: Iterable[list[tuple]],
    on_batch: Callable[[list[tuple]], None] | None = None,
) -> None:
    """Rows prepared in Python into the open target transaction: COPY on PostgreSQL, INSERT elsewhere."""
    names = [c.name for c in task.store_plan.columns]
    if tconn.dialect.name == "postgresql":
        with pgcopy.raw_errors(tconn):
            pgcopy.write_rows(tconn, task.table.name, names, batches, on_batch)
        return
    table = _target_table(task.table, task.store_plan)
    for batch in batches:
        tconn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in batch])
        if on_batch is not None:
            on_batch(batch)


def _flushed() -> None:
    fault_point("rows-written")


def routed_batches(task: PartitionTask) -> Iterator[list[tuple]]:
    """Extract the store's rows in key order, in batches, with the plan's transforms applied."""
    stmt = store_select(task.table, task.store_plan, task.partition)
    with source_connection(task.source_url, task.snapshot) as sconn:
        result = sconn.execution_options(stream_results=True, max_row_buffer=BATCH_ROWS).execute(stmt)
        for chunk in result.partitions(BATCH_ROWS):
            yield route_rows(task, chunk)


def route_rows(task: PartitionTask, rows: Sequence[Sequence[Any]]) -> list[tuple]:
    """Source rows as the store receives them: the plan's transforms (encoding) applied."""
    encoded = [i for i, c in enumerate(task.store_plan.columns) if c.transform == "encode"]
    key = (task.key.value if task.key else encode_key(required=True)) if encoded else None
    return [_route(row, encoded, key) for row in rows]


def _route(row: Sequence[Any], encoded: list[int], key: bytes | None) -> tuple:
    if not encoded:
        return tuple(row)
    values = list(row)
    for i in encoded:
        values[i] = token(key, values[i])  # type: ignore[arg-type]
    return tuple(values)


def _target_table(table_plan: TablePlan, store_plan: StorePlan) -> Any:
    return sa.table(table_plan.name, *(sa.column(c.name, c.type) for c in store_plan.columns))
