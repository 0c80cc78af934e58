"""One function per user verb; the CLI is a thin layer over these, and scripts can call them directly.

Each verb checks all of its input before it writes anything (`split.prepare`: fail closed, exit 2), then
hands the prepared context to the stage that does the work (`split.engine.copy`, `split.sync`,
`checks.verify`, `split.cutover`, …). Results are dataclasses with a `to_dict()` for `--json`; their
human form is `split.render`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from checks.grants import GrantsResult, roles_from, run_grants
from checks.suites import preload as preload_gx
from checks.verify import VerifyResult, verify_split
from split import canary, cutover, evidence, keys
from split.audit import AuditResult, LogSpec, checked_log, investigate_log
from split.canary import CanaryResult
from split.capture import command as capture
from split.capture.follow import FollowResult, follow_changes
from split.capture.slot import SlotStatus
from split.db import engine_for
from split.demo import DemoResult, StagedDemoResult
from split.demo import demo as demo_run
from split.demo import demo_staged as demo_staged_run
from split.discover import Discovery, write_draft
from split.discover import discover as inventory
from split.discover.sample import DEFAULT_SAMPLE_ROWS
from split.engine.copy import CopyResult, copy_tables
from split.errors import ConfigError
from split.i18n import _
from split.introspect import reflect_source
from split.plan import Plan
from split.prepare import optional_mapping, prepare, prepare_post_split, source_store
from split.progress import Progress
from split.rehearsal import DryRunResult, rehearse
from split.sample.generate import SampleSummary, build
from split.schema import command as schema
from split.settings import ENV_NW, ENV_RETAIL, report_folder, store_url, verify_log_url, workers_option
from split.sync import SyncResult, sync_tables

if TYPE_CHECKING:
    from split.schema.migrations import StoreStatus


def plan(mapping_file: str | Path | None = None, source: str | None = None) -> Plan:
    """Compile mapping × source into the plan (per table and store: columns, predicate, partitions, order)."""
    return prepare(mapping_file, source, stores=(), need_key=False).plan


def discover(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    *,
    sample_rows: int | None = None,
    draft: str | Path | None = None,
) -> Discovery:
    """Inventory the source and compare it with the mapping (if one is given): exit 1 when not covered.
    With `draft`, write a mapping draft for the missing parts (NW only, marked for review)."""
    rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else sample_rows
    if rows < 0:
        raise ConfigError(
            _("--sample-rows %(rows)s is negative") % {"rows": rows},
            hint=_("give a row count per table, or 0 for all rows"),
        )
    mapping = optional_mapping(mapping_file)  # discovery may start with no mapping at all
    target = Path(draft) if draft else None
    if target is not None and not target.parent.is_dir():
        raise ConfigError(
            _("the folder of --draft %(target)s does not exist") % {"target": target},
            hint=_("create it or give another path"),
        )
    src = source_store(source)
    engine = engine_for(src.url)
    found = inventory(engine, reflect_source(engine), mapping, rows, src.masked)
    if target is not None:
        write_draft(found, mapping, src, target)
    return found


def copy(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    workers: int = 2,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    scheduler: str | None = None,
    migrations: str | Path | None = None,
    progress: Progress | None = None,
    capture_changes: bool = False,
) -> CopyResult:
    """Split the source into the NW and retail stores; resumable (finished partitions are skipped). With
    `capture` (PostgreSQL), start change capture at the copy's snapshot for `sync(follow=True)`."""
    workers_option(workers)
    prep = prepare(mapping_file, source, nw, retail, migrations=migrations)
    run = capture.copy_with_capture if capture_changes else copy_tables
    return run(prep, prep.select(waves, tables), workers=workers, scheduler=scheduler, progress=progress)


def sync(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    migrations: str | Path | None = None,
    progress: Progress | None = None,
    follow: bool = False,
    until_idle: bool = False,
) -> SyncResult | FollowResult:
    """Bring copied stores up to date with the source: compare key ranges, rewrite only the rows that differ.
    With `follow` (after `copy --capture`), apply the captured changes instead; `until_idle`: stop when caught up."""
    workers_option(workers)
    prep = prepare(mapping_file, source, nw, retail, migrations=migrations, ranges=not follow)
    chosen = prep.select(waves, tables)
    if follow:
        return follow_changes(prep, chosen, until_idle=until_idle, workers=workers, progress=progress)
    return sync_tables(prep, chosen, workers=workers, scheduler=scheduler, progress=progress)


def capture_status(source: str | None = None) -> list[SlotStatus]:
    """Every bunkatsu capture slot on the source's server: lag and retained WAL (no mapping needed)."""
    return capture.capture_status(source_store(source))


def capture_drop(mapping_file: str | Path | None = None, source: str | None = None) -> tuple[str, bool]:
    """Drop this mapping's capture slot and publication on the source."""
    return capture.capture_drop(prepare(mapping_file, source, stores=(), need_key=False))


def evidence_pack(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    out: str | Path,
    wave: str | None = None,
    migrations: str | Path | None = None,
    sign_key: str | Path | None = None,
    include: Sequence[str | Path] = (),
) -> evidence.PackResult:
    """One archive of what a wave's sign-off needs (or everything so far), with a manifest of SHA-256s."""
    prep = prepare(mapping_file, source, nw, retail, migrations=migrations, stores_exist=True, need_key=False)
    key = Path(sign_key) if sign_key else None
    return evidence.pack(prep, Path(out), wave=wave, sign_key=key, include=[Path(p) for p in include])


def evidence_check(
    path: str | Path, *, public_key: str | Path | None = None, nw: str | None = None, retail: str | None = None
) -> evidence.CheckOutcome:
    """Recompute an evidence pack; with the stores, show their chains still hold the packed heads."""
    given = (("nw", nw, ENV_NW), ("retail", retail, ENV_RETAIL))
    stores = {role: store_url(role, url, env).url for role, url, env in given if url}  # only when given
    return evidence.check(Path(path), public_key=Path(public_key) if public_key else None, stores=stores)


def verify(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    report_dir: str | Path | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    post_split: bool = False,
    migrations: str | Path | None = None,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    roles: str | Path | None = None,
    log_url: str | None = None,
    log_spec: LogSpec | None = None,
    on_step: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Run every check against the stores (exit 0 pass, 1 violation, 3 could not prove).

    With `post_split` there is no source: the NW store is the authority for scopes and protected values.
    With `waves`/`tables`, the row checks cover those tables only (the retail store still may hold no other table).
    With `scheduler`, the key-range work runs on that dask.distributed cluster.
    With `roles` (a roles file, or BUNKATSU_ROLES), the grants check runs too; with an access log (`log_url`,
    or after the split BUNKATSU_LOG_URL), the audit-log check (with `log_spec.since` the switch date).
    """
    workers_option(workers)
    report = report_folder(report_dir)
    role_list = roles_from(roles)
    if post_split:
        prep = prepare_post_split(mapping_file, nw, retail, migrations=migrations)
    else:
        prep = prepare(mapping_file, source, nw, retail, migrations=migrations, stores_exist=True)
    preload_gx()  # after `prepare` and its imports (Alembic, the drivers): while the access log and checks run
    only = [t.name for t in prep.select(waves, tables)] if waves or tables else None
    log_at = verify_log_url(log_url, post_split)
    log = checked_log(prep.mapping, prep.schema, log_at, log_spec or LogSpec()) if log_at else None
    return verify_split(
        prep,
        only=only,
        report_dir=report,
        workers=workers,
        scheduler=scheduler,
        roles=role_list,
        log=log,
        on_step=on_step,
    )


def dry_run(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    *,
    scratch_url: str | None = None,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    report_dir: str | Path | None = None,
    workers: int = 2,
    sample: int | None = None,
    sample_by: str | None = None,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DryRunResult:
    """Rehearse the split into scratch stores: copy, verify, report; the scratch is removed in every case."""
    workers_option(workers)
    report = report_folder(report_dir)
    prep = prepare(mapping_file, source, stores=())
    chosen = [t.name for t in prep.select(waves, tables)]
    return rehearse(
        prep,
        chosen,
        scratch_url=scratch_url,
        report_dir=report,
        workers=workers,
        sample=sample,
        sample_by=sample_by,
        progress=progress,
        on_step=on_step,
    )


def grants(
    nw: str | None = None, retail: str | None = None, *, roles: str | Path | None = None, post_split: bool = False
) -> GrantsResult:
    """The grants check alone: no retail role reads the NW store, nothing on the retail side reaches it."""
    return run_grants(nw, retail, roles, post_split)


def audit_log(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    *,
    log_url: str | None,
    spec: LogSpec | None = None,
    report_dir: str | Path | None = None,
) -> AuditResult:
    """Improper views in an access log: retail-side people viewing customers not the affiliate's at the time.
    The ownership timeline comes from the source or, after the split, from the NW store (`nw`)."""
    return investigate_log(mapping_file, source, nw, log_url, spec or LogSpec(), report_folder(report_dir))


def canary_plant(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    *,
    into: str = "source",
    count: int = 3,
) -> CanaryResult:
    """Plant `count` fictitious new-entrant customers into the source (before a copy) or the NW store (after).
    The only write bunkatsu ever makes to the source, and only when told `--into source`."""
    return canary.plant_canaries(mapping_file, source, nw, into, count)


def canary_remove(source: str | None = None, nw: str | None = None, *, into: str = "source") -> CanaryResult:
    """Delete every planted canary row and the record from the source or the NW store."""
    return canary.remove_canaries(source, nw, into)


def sample_db(
    url: str,
    supply_points: int = 200,
    seed: int = 1,
    *,
    interval_days: int = 4,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Build the reference shared 託送 database (deterministic for a seed) on SQLite, PostgreSQL or MariaDB."""
    return build(url, supply_points, seed, interval_days=interval_days, replace=replace, on_progress=on_progress)


def demo(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> DemoResult:
    """Build the reference database on SQLite, split it, investigate its access log, verify, write the report."""
    workers_option(workers)
    return demo_run(folder, supply_points, seed, workers=workers, progress=progress)


def demo_staged(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    on_run: Callable[[cutover.CutoverRun], None] | None = None,
) -> StagedDemoResult:
    """The staged flow on the reference database: every wave through `cutover run`, with a source change."""
    workers_option(workers)
    return demo_staged_run(folder, supply_points, seed, workers=workers, progress=progress, on_run=on_run)


# ── schema ─────────────────────────────────────────────────────────────────────────────────


def schema_revision(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    store: str = "both",
    message: str | None = None,
    migrations: str | Path | None = None,
) -> list[schema.RevisionResult]:
    """Write an autogenerated revision per store: what the store (at head) lacks or has beyond the mapping."""
    prep = prepare(
        mapping_file, source, nw, retail, stores=schema.stores_of(store), migrations=migrations, need_key=False
    )
    return schema.revision(prep, message)


def schema_check(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    store: str = "both",
    migrations: str | Path | None = None,
) -> list[StoreStatus]:
    """Each store against its head and the mapping: drift, pending revisions, a head of another mapping."""
    prep = prepare(
        mapping_file, source, nw, retail, stores=schema.stores_of(store), migrations=migrations, need_key=False
    )
    return schema.check(prep)


def schema_upgrade(
    nw: str | None = None,
    retail: str | None = None,
    *,
    source: str | None = None,
    store: str = "both",
    to: str = "head",
    sql: bool = False,
    migrations: str | Path | None = None,
) -> list[schema.MoveResult]:
    """Apply the stores' revisions up to `to`. The mapping is not needed: the revisions are."""
    return schema.move(schema.store_envs(nw, retail, source, store, migrations, sql), "upgrade", to, sql)


def schema_downgrade(
    nw: str | None = None,
    retail: str | None = None,
    *,
    source: str | None = None,
    store: str = "both",
    to: str = "-1",
    sql: bool = False,
    migrations: str | Path | None = None,
) -> list[schema.MoveResult]:
    """Undo revisions down to `to` (default one step); columns that come back are empty until the next copy."""
    return schema.move(schema.store_envs(nw, retail, source, store, migrations, sql), "downgrade", to, sql)


# ── cutover ────────────────────────────────────────────────────────────────────────────────


def cutover_status(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
) -> cutover.CutoverStatus:
    """Each wave's state from the journal in the NW store: steps passed, next step, the waves it waits for."""
    stores = ("nw", "retail") if retail or os.environ.get(ENV_RETAIL) else ("nw",)
    return cutover.status(prepare(mapping_file, source, nw, retail, stores=stores, need_key=False))


def cutover_run(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    wave: str,
    operator: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    until: str | None = None,
    reports: str | Path = "cutover-reports",
    workers: int = 2,
    migrations: str | Path | None = None,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> cutover.CutoverRun:
    """Walk one wave from where it stopped, journaling every step in both stores (see `split.cutover`)."""
    workers_option(workers)
    prep = prepare(mapping_file, source, nw, retail, migrations=migrations)
    return cutover.run(
        prep,
        wave=wave,
        operator=operator,
        confirm=confirm,
        until=until,
        reports=reports,
        workers=workers,
        progress=progress,
        on_step=on_step,
    )


def cutover_rollback(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    wave: str,
    reason: str,
    operator: str | None = None,
) -> cutover.WaveState:
    """Record that a wave goes back to the shared system; its next run starts again at copy."""
    prep = prepare(mapping_file, source, nw, retail, need_key=False)
    return cutover.rollback(prep, wave=wave, reason=reason, operator=operator)


def key_generate() -> str:
    """A fresh encode key (256 random bits) for BUNKATSU_ENCODE_KEY."""
    return keys.generate()
