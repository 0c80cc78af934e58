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

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from split import ledger
from split.checksum import RowHasher, canonical
from split.db import engine_for
from split.engine.faults import fault_point
from split.engine.partition import PartitionTask, routed_batches, with_retries, write_rows
from split.plan import TablePlan, in_key_range

BATCH_ROWS = 5_000


@dataclass(frozen=True)
class RangeChange:
    """What one pass did to one key range of one table in one store."""

    table: str
    store: str
    partition_no: int
    inserted: int = 0
    updated: int = 0
    deleted: int = 0


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


# ── one range ──────────────────────────────────────────────────────────────────────────────


def _keyed(task: PartitionTask) -> list[int]:
    names = [c.name for c in task.store_plan.columns]
    return [names.index(k) for k in task.store_plan.primary_key]


def _target_table(task: PartitionTask) -> sa.Table:
    md = sa.MetaData()
    columns = [
        sa.Column(c.name, c.type, primary_key=c.name in task.store_plan.primary_key) for c in task.store_plan.columns
    ]
    return sa.Table(task.table.name, md, *columns)


def _in_range(stmt: Any, task: PartitionTask, table: sa.Table) -> Any:
    return in_key_range(stmt, table.c[task.table.key], task.partition) if task.table.key else stmt


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
    idx = _keyed(task)
    table = _target_table(task)
    expected = {_key(row, idx) for batch in routed_batches(task) for row in batch}
    with engine_for(task.target_url, writer=True).begin() as conn:
        gone = [row for row in _target_rows(conn, task, table) if _key(row, idx) not in expected]
        pk = [table.c[n] for n in task.store_plan.primary_key]
        stmt = table.delete().where(*(c == sa.bindparam(f"k_{c.name}") for c in pk))
        names = [c.name for c in task.store_plan.columns]
        params = [{f"k_{c.name}": row[names.index(c.name)] for c in pk} for row in gone]
        if params:
            conn.execute(stmt, params)
        fault_point("sync-deleted")
    return RangeChange(task.table.name, task.store, task.partition.no, deleted=len(gone))


def apply_range(task: PartitionTask) -> RangeChange:
    """Pass 2: update changed rows, insert new ones (and, without a key, replace the range), with a ledger row."""
    return with_retries(_apply_range, task, f"syncing {task.label}")


def _apply_range(task: PartitionTask) -> RangeChange:
    idx = _keyed(task)
    table = _target_table(task)
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
        _record(conn, task, hasher, change)
    fault_point("committed")
    return change


def _upsert(conn: sa.Connection, task: PartitionTask, table: sa.Table, idx: list[int], expected: dict) -> tuple:
    names = [c.name for c in task.store_plan.columns]
    changed, present = [], set()
    for row in _target_rows(conn, task, table):
        key = _key(row, idx)
        present.add(key)
        want = expected.get(key)
        if want is not None and _row_id(want) != _row_id(row):
            changed.append(want)
    new = [row for key, row in expected.items() if key not in present]
    if changed:
        pk = set(task.store_plan.primary_key)
        stmt = (
            table.update()
            .where(*(table.c[n] == sa.bindparam(f"k_{n}") for n in task.store_plan.primary_key))
            .values({n: sa.bindparam(f"v_{n}") for n in names if n not in pk})
        )
        conn.execute(
            stmt, [{**_params("k_", names, row, pk), **_params("v_", names, row, None, pk)} for row in changed]
        )
    if new:
        write_rows(conn, task, [new[i : i + BATCH_ROWS] for i in range(0, len(new), BATCH_ROWS)])
    # rows the source lost were deleted in pass 1; any left here appeared since (a writer on the store)
    return len(new), len(changed), 0


def _params(prefix: str, names: list[str], row: tuple, only: set | None, skip: set | None = None) -> dict:
    return {
        f"{prefix}{n}": v
        for n, v in zip(names, row, strict=True)
        if (only is None or n in only) and (skip is None or n not in skip)
    }


def _replace(conn: sa.Connection, task: PartitionTask, table: sa.Table, rows: list[tuple]) -> tuple:
    """Without a primary key rows have no identity: the range is replaced when it differs."""
    deleted = conn.execute(_in_range(table.delete(), task, table)).rowcount
    write_rows(conn, task, [rows[i : i + BATCH_ROWS] for i in range(0, len(rows), BATCH_ROWS)])
    return len(rows), 0, int(deleted or 0)


def _record(conn: sa.Connection, task: PartitionTask, hasher: RowHasher, change: RangeChange) -> None:
    counts = {"inserted": change.inserted, "updated": change.updated, "deleted": change.deleted}
    ledger.replace(conn, task.ledger_entry(hasher.rows, hasher.hexdigest(), operation="sync", **counts))


def summary(tables: list[TablePlan], changes: list[RangeChange], summaries: list) -> list[TableSync]:  # type: ignore[type-arg]
    out = {t.name: TableSync(t.name, t.wave) for t in tables}
    for s in summaries:
        out[s.task.table.name].ranges += 1
        out[s.task.table.name].differing += s.source != s.target
    for t in tables:
        for sp in t.stores:
            out[t.name].changes.setdefault(sp.store, {"inserted": 0, "updated": 0, "deleted": 0})
    for change in changes:
        out[change.table].add(change)
    return list(out.values())
