"""`sync`: bring stores that were copied earlier up to date with the source, without a full recopy.

The way data-diff works: every key range of every table is summarised on both sides (count and checksum,
inside PostgreSQL when both sides are PostgreSQL); only ranges that differ are read row by row, and only
the rows that differ are written. The source is read inside one snapshot (PostgreSQL), so what is applied
is one point in time.

The expected rows come from the current plan, so scope changes flow through the same way as edits: a
customer who switched away from the affiliate no longer matches the retail predicate from the switch on,
and those rows are deleted from the retail store; one who switched to the affiliate gains the rows dated
from the switch.

Two passes keep foreign keys valid in the stores at every commit: deletions first, children before
parents; then updates and inserts, parents before children, each range in one transaction with its
ledger row. Sync is idempotent: a run stopped at any point is finished by running it again.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from split import ledger
from split.checksum import RowHasher, ServerHash, canonical
from split.db import engine_for
from split.engine import pgcopy
from split.engine.compare import RangeSummary, server_hash, summaries
from split.engine.faults import fault_point
from split.engine.pairdiff import RangeDiff, range_diff
from split.engine.partition import PartitionTask, range_tasks, routed_batches, with_retries, write_rows
from split.engine.run import Runner, by_level
from split.engine.snapshot import exported_snapshot, source_connection
from split.i18n import _
from split.plan import TablePlan, in_key_range, store_select
from split.prepare import Prepared
from split.progress import Progress
from split.schema.command import require_at_head
from split.schema.derive import load_levels

BATCH_ROWS = 5_000
CHUNK = 1_000  # keys per IN list when fetching changed rows
KEPT_KEYS = 20_000  # keys of a range's diff held from the deletion pass to the writing pass
SET_BASED_ROWS = 100  # from this many rows a PostgreSQL store is changed by one staged statement, not one per row


@dataclass(frozen=True)
class RangeChange:
    """What one pass did to one key range of one table in one store."""

    table: str
    store: str
    partition_no: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    # what the deletion pass's server diff left for the writing pass: the same snapshot, and a store changed
    # since by exactly the deleted keys, so the writing pass need not hash the range on both sides again
    left: RangeDiff | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Pending:
    """A differing range for the writing pass, with the keys the deletion pass left to write (if it kept them)."""

    task: PartitionTask
    left: RangeDiff | None = None

    @property
    def table(self) -> TablePlan:  # for `by_level`
        return self.task.table


@dataclass
class TableSync:
    name: str
    wave: str
    ranges: int = 0  # key ranges compared, over the stores that receive the table
    differing: int = 0  # of which differed
    changes: dict[str, dict[str, int]] = field(default_factory=dict)  # store → inserted/updated/deleted

    def add(self, change: RangeChange) -> None:
        counts = self.changes.setdefault(change.store, {"inserted": 0, "updated": 0, "deleted": 0})
        counts["inserted"] += change.inserted
        counts["updated"] += change.updated
        counts["deleted"] += change.deleted

    def to_dict(self) -> dict:
        return {
            "table": self.name,
            "wave": self.wave,
            "ranges": self.ranges,
            "differing_ranges": self.differing,
            "changes": self.changes,
        }


@dataclass
class SyncResult:
    run_id: str
    plan_hash: str
    mapping_sha256: str
    stores: dict[str, str]  # role → masked URL
    tables: list[TableSync]
    seconds: float
    snapshot: str | None = None

    def total(self, what: str) -> int:
        return sum(c[what] for t in self.tables for c in t.changes.values())

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "snapshot": self.snapshot,
            "plan_hash": self.plan_hash,
            "mapping_sha256": self.mapping_sha256,
            "stores": self.stores,
            "seconds": round(self.seconds, 3),
            "inserted": self.total("inserted"),
            "updated": self.total("updated"),
            "deleted": self.total("deleted"),
            "tables": [t.to_dict() for t in self.tables],
        }


def sync_tables(
    prep: Prepared,
    tables: Sequence[TablePlan],
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Progress | None = None,
) -> SyncResult:
    """Compare every key range of the tables in both stores; rewrite only the rows of ranges that differ
    (locally, or on the dask.distributed cluster at `scheduler`)."""
    started = time.monotonic()
    plan = prep.plan
    progress = progress or Progress()
    levels = load_levels(require_at_head(prep, progress.note))
    run_id = uuid.uuid4().hex
    with Runner(workers, scheduler) as runner, exported_snapshot(prep.source.url) as snapshot:
        tasks = range_tasks(
            tables, prep.source.url, prep.urls, plan.hash, plan.mapping_sha256, run_id, snapshot, prep.key
        )
        progress.note(_("comparing %(n)s key range(s)") % {"n": len(tasks)})
        compared = summaries(runner.map, tasks, "sync-compare")
        differing = [s.task for s in compared if s.differs]
        keyed = [t for t in differing if t.store_plan.primary_key]
        steps = Counter(t.table.name for t in [*keyed, *differing])
        progress.start(sum(steps.values()), {t.name: steps[t.name] for t in tables if steps[t.name]})
        try:
            changes = by_level(runner, delete_gone, keyed, levels, progress.done, "sync-delete", children_first=True)
            left = {(c.table, c.store, c.partition_no): c.left for c in changes}
            pending = [Pending(t, left.get((t.table.name, t.store, t.partition.no))) for t in differing]
            changes += by_level(runner, apply_range, pending, levels, progress.done, "sync-apply")
        finally:
            progress.stop()
    seconds = time.monotonic() - started
    return SyncResult(
        run_id, plan.hash, plan.mapping_sha256, prep.shown, summary(tables, changes, compared), seconds, snapshot
    )


# ── one range ──────────────────────────────────────────────────────────────────────────────


def _keyed(task: PartitionTask) -> list[int]:
    names = [c.name for c in task.store_plan.columns]
    return [names.index(k) for k in task.store_plan.primary_key]


def target_table(task: PartitionTask) -> sa.Table:
    md = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.name in task.store_plan.primary_key) for c in task.store_plan.columns
    ]
    return sa.Table(task.table.name, md, *columns)


def _in_range(stmt: Any, task: PartitionTask, table: sa.Table) -> Any:
    return in_key_range(stmt, task.table, task.partition, table)


def _target_rows(conn: sa.Connection, task: PartitionTask, table: sa.Table) -> Iterator[tuple]:
    stmt = _in_range(sa.select(*table.c), task, table)
    # on the statement, not the connection: that would make the later DELETE/UPDATE use a server-side cursor
    for row in conn.execute(stmt.execution_options(stream_results=True)):
        yield tuple(row)


def _key(row: tuple, idx: list[int]) -> tuple[str, ...]:
    return tuple(canonical(row[i]) for i in idx)


def _row_id(row: tuple) -> tuple[str, ...]:
    return tuple(canonical(v) for v in row)


def delete_gone(task: PartitionTask) -> RangeChange:
    """Pass 1: delete the range's rows whose key the source no longer has for this store."""
    return with_retries(_delete_gone, task, f"syncing {task.label}")


def _delete_gone(task: PartitionTask) -> RangeChange:
    table = target_table(task)
    with engine_for(task.target_url, writer=True).begin() as conn:
        gone, left = _gone_keys(conn, task, table)
        pk = task.store_plan.primary_key
        for chunk in _batched(gone):
            stmt = table.delete().where(*(table.c[n] == sa.bindparam(f"k_{n}") for n in pk))
            conn.execute(stmt, [{f"k_{n}": v for n, v in zip(pk, key, strict=True)} for key in chunk])
        fault_point("sync-deleted")
    return RangeChange(task.table.name, task.store, task.partition.no, deleted=len(gone), left=left)


def _gone_keys(conn: sa.Connection, task: PartitionTask, table: sa.Table) -> tuple[list[tuple], RangeDiff | None]:
    """The keys of the store's range that the source no longer has for this store, and what the servers'
    diff left for the writing pass (kept only when small: every range's keys are held between the passes)."""
    how = _by_hashes(task)
    if how is not None:
        diff = range_diff(task, conn, how)
        kept = len(diff.new) + len(diff.changed) <= KEPT_KEYS
        return diff.gone, replace(diff, gone=[]) if kept else None
    idx = _keyed(task)
    expected = {_key(row, idx) for batch in routed_batches(task) for row in batch}
    gone = [tuple(row[i] for i in idx) for row in _target_rows(conn, task, table) if _key(row, idx) not in expected]
    return gone, None


def apply_range(pending: Pending) -> RangeChange:
    """Pass 2: update changed rows, insert new ones (and, without a key, replace the range), with a ledger row."""
    return with_retries(_apply_range, pending, f"syncing {pending.task.label}")


def _apply_range(pending: Pending) -> RangeChange:
    task = pending.task
    how = _by_hashes(task)
    if how is not None:
        return _apply_by_hashes(task, how, pending.left)
    idx = _keyed(task)
    table = target_table(task)
    hasher = RowHasher()
    expected: dict[tuple, tuple] = {}
    keyless: list[tuple] = []
    for batch in routed_batches(task):
        hasher.update(batch)
        for row in batch:
            if idx:
                expected[_key(row, idx)] = row
            else:
                keyless.append(row)
    with engine_for(task.target_url, writer=True).begin() as conn:
        if idx:
            inserted, updated, deleted = _upsert(conn, task, table, idx, expected)
        else:
            inserted, updated, deleted = _replace(conn, task, table, keyless)
        change = RangeChange(task.table.name, task.store, task.partition.no, inserted, updated, deleted)
        fault_point("sync-applied")
        _record(conn, task, hasher.rows, hasher.hexdigest(), change)
    fault_point("committed")
    return change


def _apply_by_hashes(task: PartitionTask, how: ServerHash, left: RangeDiff | None) -> RangeChange:
    """PostgreSQL on both sides: the servers find the differing keys (`split.engine.pairdiff`), and only the
    new and changed rows are fetched from the source, by key, a chunk at a time: memory holds the keys that
    differ and one chunk of rows, never a range."""
    table = target_table(task)
    names = [c.name for c in task.store_plan.columns]
    with engine_for(task.target_url, writer=True).begin() as conn:
        diff = left if left is not None else range_diff(task, conn, how)
        for keys in _batched(diff.changed, CHUNK):
            rows = _source_rows(task, keys)
            update_rows(conn, task, table, names, [rows[k] for k in keys])
        for keys in _batched(diff.new, CHUNK):
            rows = _source_rows(task, keys)
            write_rows(conn, task, [[rows[k] for k in keys]])
        change = RangeChange(task.table.name, task.store, task.partition.no, len(diff.new), len(diff.changed), 0)
        fault_point("sync-applied")
        # the range's checksum as the comparison computes it (sum of the servers' row hashes), not SHA-256
        _record(conn, task, diff.source_rows, f"{how.name}:{diff.source_sum}", change)
    fault_point("committed")
    return change


def _by_hashes(task: PartitionTask) -> ServerHash | None:
    """How both servers hash the rows themselves (`split.engine.compare.server_hash`), when they can and rows
    have a key."""
    return server_hash(task) if task.store_plan.primary_key else None


def _source_rows(task: PartitionTask, keys: list[tuple]) -> dict[tuple, tuple]:
    """The store's rows for these keys, read from the source (inside the run's snapshot), in chunks."""
    pk = task.store_plan.primary_key
    names = [c.name for c in task.store_plan.columns]
    idx = [names.index(k) for k in pk]
    base = store_select(task.table, task.store_plan, task.partition).order_by(None)
    key = sa.tuple_(*(sa.column(k) for k in pk)) if len(pk) > 1 else sa.column(pk[0])
    out: dict[tuple, tuple] = {}
    with source_connection(task.source_url, task.snapshot) as conn:
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i : i + CHUNK]
            values = chunk if len(pk) > 1 else [k[0] for k in chunk]
            for row in conn.execute(base.where(key.in_(values))):
                out[tuple(row[j] for j in idx)] = tuple(row)
    return out


def _batched(rows: list[tuple], size: int = BATCH_ROWS) -> list[list[tuple]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def _upsert(conn: sa.Connection, task: PartitionTask, table: sa.Table, idx: list[int], expected: dict) -> tuple:
    changed, present = [], set()
    for row in _target_rows(conn, task, table):
        key = _key(row, idx)
        present.add(key)
        want = expected.get(key)
        if want is not None and _row_id(want) != _row_id(row):
            changed.append(want)
    new = [row for key, row in expected.items() if key not in present]
    update_rows(conn, task, table, [c.name for c in task.store_plan.columns], changed)
    if new:
        write_rows(conn, task, _batched(new))
    # rows the source lost were deleted in pass 1; any left here appeared since (a writer on the store)
    return len(new), len(changed), 0


def update_rows(conn: sa.Connection, task: PartitionTask, table: sa.Table, names: list[str], rows: list[tuple]) -> None:
    """Rewrite rows in place by primary key (an UPDATE keeps the foreign keys that point at them valid)."""
    pk = set(task.store_plan.primary_key)
    if not rows or pk >= set(names):  # a row that is all key is equal to any row with its key
        return
    if conn.dialect.name == "postgresql" and len(rows) >= SET_BASED_ROWS:
        pgcopy.update_by_key(conn, table.name, names, task.store_plan.primary_key, rows)
        return
    stmt = (
        table.update()
        .where(*(table.c[n] == sa.bindparam(f"k_{n}") for n in task.store_plan.primary_key))
        .values({n: sa.bindparam(f"v_{n}") for n in names if n not in pk})
    )
    params = [{f"{'k' if n in pk else 'v'}_{n}": v for n, v in zip(names, row, strict=True)} for row in rows]
    conn.execute(stmt, params)


def _replace(conn: sa.Connection, task: PartitionTask, table: sa.Table, rows: list[tuple]) -> tuple:
    """Without a primary key rows have no identity: the range is replaced when it differs."""
    deleted = conn.execute(_in_range(table.delete(), task, table)).rowcount
    write_rows(conn, task, _batched(rows))
    return len(rows), 0, int(deleted or 0)


def _record(conn: sa.Connection, task: PartitionTask, rows: int, checksum: str, change: RangeChange) -> None:
    counts = {"inserted": change.inserted, "updated": change.updated, "deleted": change.deleted}
    if task.table.blocks:  # copied in block ranges, now brought up to date whole: one range recorded for it
        ledger.forget(conn, task.plan_hash, task.table.name)
    ledger.replace(conn, task.ledger_entry(rows, checksum, operation="sync", **counts))


def summary(tables: Sequence[TablePlan], changes: list[RangeChange], compared: list[RangeSummary]) -> list[TableSync]:
    out = {t.name: TableSync(t.name, t.wave) for t in tables}
    for s in compared:
        out[s.task.table.name].ranges += 1
        out[s.task.table.name].differing += s.differs
    for t in tables:
        for sp in t.stores:
            out[t.name].changes.setdefault(sp.store, {"inserted": 0, "updated": 0, "deleted": 0})
    for change in changes:
        out[change.table].add(change)
    return list(out.values())
