"""The split itself: the plan's key ranges copied into both stores, exactly once, one load level at a time.

Stores are brought to their schema head first (an empty store gets the first revision); every partition
of the run reads one exported snapshot on PostgreSQL; each partition commits with its ledger row; the
result's row counts are read back from the ledger, so what is reported is what was recorded.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from split.db import engine_for
from split.engine.partition import PartitionResult, copy_partition, range_tasks
from split.engine.run import Runner, by_level
from split.engine.snapshot import exported_snapshot
from split.errors import ConfigError
from split.i18n import _
from split.ledger import forget, recorded_counts, recorded_partitions, recorded_tables
from split.plan import TablePlan
from split.prepare import Prepared
from split.progress import Progress
from split.schema.command import prepare_for_copy
from split.schema.derive import load_levels, store_metadata
from split.schema.keys import KeyBuilt, build_keys, defer_keys


@dataclass
class TableCopy:
    name: str
    wave: str
    source_rows: int
    partitions: int
    rows: dict[str, int] = field(default_factory=dict)  # per store, from the ledger of this plan
    skipped: int = 0  # partitions already finished by an earlier run
    methods: list[str] = field(default_factory=list)  # copy-stream | copy-rows | insert (see README)
    key_built_after: dict[str, float] = field(default_factory=dict)  # store → seconds (split.schema.keys)

    def to_dict(self) -> dict:
        return {
            "table": self.name,
            "wave": self.wave,
            "source_rows": self.source_rows,
            "partitions": self.partitions,
            "rows": self.rows,
            "skipped_partitions": self.skipped,
            "methods": self.methods,
            "key_built_after_load": {store: round(s, 3) for store, s in self.key_built_after.items()},
        }


@dataclass
class CopyResult:
    run_id: str
    plan_hash: str
    mapping_sha256: str
    stores: dict[str, str]  # role → masked URL
    tables: list[TableCopy]
    schema_notes: list[str]  # what `copy` did to the store schemas (first revision, upgrade to head)
    seconds: float
    snapshot: str | None = None  # the PostgreSQL snapshot every partition read
    dashboard: str | None = None  # the Dask dashboard, when run on a cluster
    capture: dict | None = None  # `copy --capture`: the slot it started or found (split.capture)

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "snapshot": self.snapshot,
            "dashboard": self.dashboard,
            "capture": self.capture,
            "plan_hash": self.plan_hash,
            "mapping_sha256": self.mapping_sha256,
            "stores": self.stores,
            "schema": self.schema_notes,
            "seconds": round(self.seconds, 3),
            "tables": [t.to_dict() for t in self.tables],
        }


def copy_tables(
    prep: Prepared,
    tables: Sequence[TablePlan],
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: Progress | None = None,
    snapshot: str | None = None,
    on_start: Callable[[str], object] | None = None,
) -> CopyResult:
    """`snapshot`: one the caller holds open (a capture slot's own), else the run exports one. `on_start(run_id)`
    runs once the stores' schemas are ready, before any partition reads (a binlog capture records its start)."""
    started = time.monotonic()
    progress = progress or Progress()
    plan = prep.plan
    require_parents(prep, tables)
    with Runner(workers, scheduler) as runner:
        dashboard = runner.dashboard_link
        if dashboard:
            progress.note(_("Dask dashboard: %(url)s") % {"url": dashboard})
        schema_notes, metadata = prepare_for_copy(prep)
        for note in schema_notes:
            progress.note(note)
        levels = load_levels(metadata)
        run_id = uuid.uuid4().hex
        if on_start:
            on_start(run_id)
        restart_block_copies(prep, tables)
        builds = defer_keys(prep.urls, tables, metadata)  # load first, build the key after (split.schema.keys)
        keyless = {(b.store, b.table) for b in builds}
        with nullcontext(snapshot) if snapshot else exported_snapshot(prep.source.url) as snapshot:
            tasks = range_tasks(
                tables, prep.source.url, prep.urls, plan.hash, plan.mapping_sha256, run_id, snapshot, prep.key,
                copying=True,
            )  # fmt: skip
            tasks = [replace(t, fresh=True) if (t.store, t.table.name) in keyless else t for t in tasks]
            progress.start(len(tasks), {t.name: len(t.copy_ranges) * len(t.stores) for t in tables})
            try:  # foreign-key parents commit before their children start: one map per load level
                results = by_level(runner, copy_partition, tasks, levels, progress.done, "copy")
            finally:
                progress.stop()
        if builds:
            progress.note(_("building the primary keys of %(n)s table(s) loaded without them") % {"n": len(builds)})
        built = runner.map(build_keys, builds, name="keys")
    summary = _summary(prep, tables, results, built)
    seconds = time.monotonic() - started
    return CopyResult(
        run_id, plan.hash, plan.mapping_sha256, prep.shown, summary, schema_notes, seconds, snapshot, dashboard
    )


def restart_block_copies(prep: Prepared, tables: Sequence[TablePlan]) -> None:
    """A table copied in block ranges (PostgreSQL, no key) is copied whole in one run, or again from the start.
    A block range names rows only inside the snapshot that cut it: a row updated since has moved to another
    block, so ranges copied by an interrupted run and the rest copied now could hold it twice, or not at all.
    Unless every range is recorded under this plan, the table is emptied in the store and its ranges forgotten
    (one transaction), before any range is read."""
    for t in tables:
        if not t.blocks:
            continue
        wanted = {p.no for p in t.blocks}
        for sp in t.stores:
            engine = engine_for(prep.urls[sp.store], writer=True)
            recorded = {no for name, no in recorded_partitions(engine, prep.plan.hash) if name == t.name}
            if recorded >= wanted:
                continue
            with engine.begin() as conn:
                conn.execute(sa.delete(sa.table(t.name)))
                forget(conn, prep.plan.hash, t.name)


def require_parents(prep: Prepared, tables: Sequence[TablePlan]) -> None:
    """A subset (`--wave`, `--tables`) loads into stores whose foreign keys hold: a parent table outside the
    subset must already be in the store (recorded in its ledger, under any plan), else the first child row
    would fail half-way through the run. Checked before anything is written."""
    chosen = {t.name for t in tables}
    if chosen >= {t.name for t in prep.plan.tables}:
        return
    for store, url in prep.urls.items():
        engine = engine_for(url)
        metadata = store_metadata(prep.plan, prep.mapping, prep.schema, store, engine.dialect)
        needed = sorted(
            (fk.referred_table.name, name)
            for name in chosen & set(metadata.tables)
            for fk in metadata.tables[name].foreign_key_constraints
            if fk.referred_table.name not in chosen | {name}
        )
        held = recorded_tables(engine)
        missing = [(parent, child) for parent, child in needed if parent not in held]
        if missing:
            parent, child = missing[0]
            wave = prep.mapping.wave_of(parent)
            raise ConfigError(
                f"the {store} store does not hold {parent} yet, and {child} refers to it (foreign key): "
                f"copying {child} without it would fail at its first row"
                + (f" ({len(missing) - 1} more such parent(s))" if len(missing) > 1 else ""),
                hint=_("copy the parent first (`--tables %(parent)s`, or its wave `--wave %(wave)s`), or both together")
                % {"parent": parent, "wave": wave},
            )


def _summary(
    prep: Prepared, tables: Sequence[TablePlan], results: list[PartitionResult], built: list[KeyBuilt]
) -> list[TableCopy]:
    counts = {role: recorded_counts(engine_for(url), prep.plan.hash) for role, url in prep.urls.items()}
    summary = []
    for t in tables:
        mine = [r for r in results if r.table == t.name]
        skipped = sum(1 for r in mine if r.skipped)
        rows = {sp.store: counts[sp.store].get(t.name, 0) for sp in t.stores}
        methods = sorted({r.method for r in mine if r.method})
        keys = {b.store: b.seconds for b in built if b.table == t.name}
        summary.append(TableCopy(t.name, t.wave, t.source_rows, len(t.copy_ranges), rows, skipped, methods, keys))
    return summary
