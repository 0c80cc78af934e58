"""One function per user verb. The CLI is a thin layer over these; scripts can call them directly.

Every verb validates all of its input before it writes anything (fail closed, exit 2), then works.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from split.errors import ConfigError, RuntimeFailure
from split.settings import (
    ENV_ENCODE_KEY,
    ENV_LOG,
    ENV_MAPPING,
    ENV_NW,
    ENV_RETAIL,
    ENV_SOURCE,
    StoreUrl,
    encode_key,
    mapping_path,
    store_url,
)

if TYPE_CHECKING:
    from split.introspect import SourceSchema
    from split.mapping.model import Mapping
    from split.subset import Sample


@dataclass(frozen=True)
class Checked:
    """A mapping validated against a reachable, reflected source."""

    mapping: Mapping
    schema: SourceSchema
    source: StoreUrl


def check_inputs(mapping_file: str | Path | None, source: str | None) -> Checked:
    from split.db import check_reachable, engine_for
    from split.introspect import reflect_source
    from split.mapping import load_mapping, validate_against_source

    path = mapping_path(mapping_file)
    src = store_url("source", source, ENV_SOURCE)
    mapping = load_mapping(path)
    check_reachable(src.url, "source")
    schema = reflect_source(engine_for(src.url))
    validate_against_source(mapping, schema)
    return Checked(mapping, schema, src)


def plan(mapping_file: str | Path | None = None, source: str | None = None):  # -> split.plan.Plan
    from split.db import engine_for
    from split.plan import compile_plan

    checked = check_inputs(mapping_file, source)
    return compile_plan(checked.mapping, checked.schema, engine_for(checked.source.url))


# ── discover ───────────────────────────────────────────────────────────────────────────────


def discover(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    *,
    sample_rows: int | None = None,
    draft: str | Path | None = None,
):  # -> split.discover.Discovery
    """Inventory the source and compare it with the mapping (if one is given): exit 1 when not covered.

    With `draft`, write a mapping draft for the missing parts (NW only, marked for review).
    """
    from sqlalchemy.engine import make_url

    from split.db import check_reachable, engine_for
    from split.discover import discover as inventory
    from split.discover import draft_text
    from split.discover.sample import DEFAULT_SAMPLE_ROWS
    from split.introspect import reflect_source
    from split.mapping import load_mapping

    rows = DEFAULT_SAMPLE_ROWS if sample_rows is None else sample_rows
    if rows < 0:
        raise ConfigError(f"--sample-rows {rows} is negative", hint="give a row count per table, or 0 for all rows")
    raw = mapping_file or os.environ.get(ENV_MAPPING)
    mapping = load_mapping(mapping_path(raw)) if raw else None  # discovery may start with no mapping at all
    src = store_url("source", source, ENV_SOURCE)
    target = Path(draft) if draft else None
    if target is not None and not target.parent.is_dir():
        raise ConfigError(f"the folder of --draft {target} does not exist", hint="create it or give another path")
    check_reachable(src.url, "source")
    engine = engine_for(src.url)
    found = inventory(engine, reflect_source(engine), mapping, rows, src.masked)
    if target is not None:
        system = mapping.system if mapping else Path(make_url(src.url).database or "shared").stem
        text = Path(mapping.path).read_text(encoding="utf-8") if mapping else None
        target.write_text(draft_text(found, text, system, time.strftime("%Y-%m-%d")), encoding="utf-8")
        found.draft = str(target)
    return found


# ── copy ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class TableCopy:
    name: str
    wave: str
    source_rows: int
    partitions: int
    rows: dict[str, int] = field(default_factory=dict)  # per store, from the ledger of this plan
    skipped: int = 0  # partitions already finished by an earlier run
    methods: list[str] = field(default_factory=list)  # copy-stream | copy-rows | insert (see README)

    def to_dict(self) -> dict:
        return {
            "table": self.name,
            "wave": self.wave,
            "source_rows": self.source_rows,
            "partitions": self.partitions,
            "rows": self.rows,
            "skipped_partitions": self.skipped,
            "methods": self.methods,
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

    def to_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "snapshot": self.snapshot,
            "dashboard": self.dashboard,
            "plan_hash": self.plan_hash,
            "mapping_sha256": self.mapping_sha256,
            "stores": self.stores,
            "schema": self.schema_notes,
            "seconds": round(self.seconds, 3),
            "tables": [t.to_dict() for t in self.tables],
        }


class Progress:
    """What a long verb reports while it works; the CLI draws bars from it. Defaults to silence."""

    def note(self, message: str) -> None: ...
    def start(self, total: int, tables: dict[str, int]) -> None: ...
    def done(self, result: object) -> None: ...
    def stop(self) -> None: ...


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
) -> CopyResult:
    from split.db import check_reachable, engine_for
    from split.engine.partition import copy_partition, range_tasks
    from split.engine.run import Runner
    from split.engine.snapshot import exported_snapshot
    from split.ledger import recorded_counts
    from split.plan import compile_plan
    from split.schema.command import prepare_for_copy
    from split.schema.derive import load_levels

    started = time.monotonic()
    checked = check_inputs(mapping_file, source)
    mapping = checked.mapping
    targets = {"nw": store_url("nw", nw, ENV_NW), "retail": store_url("retail", retail, ENV_RETAIL)}
    _distinct_stores(checked.source, *targets.values())
    key = encode_key(required=mapping.encodes)
    for target in targets.values():
        check_reachable(target.url, target.role, must_exist=False)
    plan_ = compile_plan(mapping, checked.schema, engine_for(checked.source.url))
    selected = select_tables(plan_, waves, tables)
    progress = progress or Progress()

    with Runner(workers, scheduler) as runner:
        dashboard = runner.dashboard_link
        if dashboard:
            progress.note(f"Dask dashboard: {dashboard}")
        schema_notes, metadata = prepare_for_copy(plan_, mapping, checked.schema, targets, migrations)
        for note in schema_notes:
            progress.note(note)
        levels = load_levels(metadata)
        run_id = uuid.uuid4().hex
        with exported_snapshot(checked.source.url) as snapshot:
            urls = {role: t.url for role, t in targets.items()}
            tasks = range_tasks(
                selected, checked.source.url, urls, plan_.hash, plan_.mapping_sha256, run_id, snapshot, key
            )
            progress.start(len(tasks), {t.name: len(t.partitions) * len(t.stores) for t in selected})
            try:  # foreign-key parents commit before their children start: one map per load level
                results = by_level(runner, copy_partition, tasks, levels, progress, "copy")
            finally:
                progress.stop()
    counts = {role: recorded_counts(engine_for(t.url), plan_.hash) for role, t in targets.items()}
    summary = []
    for t in selected:
        skipped = sum(1 for r in results if r.table == t.name and r.skipped)
        rows = {sp.store: counts[sp.store].get(t.name, 0) for sp in t.stores}
        methods = sorted({r.method for r in results if r.table == t.name and r.method})
        summary.append(TableCopy(t.name, t.wave, t.source_rows, len(t.partitions), rows, skipped, methods))
    stores = {"source": checked.source.masked, **{r: t.masked for r, t in targets.items()}}
    seconds = time.monotonic() - started
    return CopyResult(
        run_id, plan_.hash, plan_.mapping_sha256, stores, summary, schema_notes, seconds, snapshot, dashboard
    )


# ── sync ───────────────────────────────────────────────────────────────────────────────────


def sync(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    workers: int = 2,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    migrations: str | Path | None = None,
    progress: Progress | None = None,
):  # -> split.sync.SyncResult
    """Bring copied stores up to date with the source: compare key ranges, rewrite only the rows that differ."""
    from checks.reconcile import summarise_range
    from split import sync as sync_
    from split.db import check_reachable, engine_for
    from split.engine.partition import range_tasks
    from split.engine.run import Runner
    from split.engine.snapshot import exported_snapshot
    from split.plan import compile_plan
    from split.schema.command import require_at_head
    from split.schema.derive import load_levels

    started = time.monotonic()
    checked = check_inputs(mapping_file, source)
    targets = {"nw": store_url("nw", nw, ENV_NW), "retail": store_url("retail", retail, ENV_RETAIL)}
    _distinct_stores(checked.source, *targets.values())
    key = encode_key(required=checked.mapping.encodes)
    for target in targets.values():
        check_reachable(target.url, target.role, must_exist=False)  # a missing store is "empty: copy first"
    plan_ = compile_plan(checked.mapping, checked.schema, engine_for(checked.source.url))
    selected = select_tables(plan_, waves, tables)
    levels = load_levels(require_at_head(plan_, checked.mapping, checked.schema, targets, migrations))
    progress = progress or Progress()
    run_id = uuid.uuid4().hex
    urls = {role: t.url for role, t in targets.items()}
    with Runner(workers) as runner, exported_snapshot(checked.source.url) as snapshot:
        tasks = range_tasks(selected, checked.source.url, urls, plan_.hash, plan_.mapping_sha256, run_id, snapshot, key)
        progress.note(f"comparing {len(tasks)} key range(s)")
        summaries = runner.map(summarise_range, tasks, name="sync-compare")
        differing = [s.task for s in summaries if s.source != s.target]
        keyed = [t for t in differing if t.store_plan.primary_key]
        steps = Counter(t.table.name for t in [*keyed, *differing])
        progress.start(sum(steps.values()), {t.name: steps[t.name] for t in selected if steps[t.name]})
        try:
            changes = by_level(runner, sync_.delete_gone, keyed, levels, progress, "sync-delete", children_first=True)
            changes += by_level(runner, sync_.apply_range, differing, levels, progress, "sync-apply")
        finally:
            progress.stop()
    stores = {"source": checked.source.masked, **{r: t.masked for r, t in targets.items()}}
    return sync_.SyncResult(
        run_id,
        plan_.hash,
        plan_.mapping_sha256,
        stores,
        sync_.summary(selected, changes, summaries),
        time.monotonic() - started,
        snapshot,
    )


# ── dry-run ────────────────────────────────────────────────────────────────────────────────


@dataclass
class DryRunResult:
    scratch: str  # where the scratch stores were (folder or masked server)
    tables: list[str]  # what was rehearsed: the chosen tables and the parents they need
    copy: CopyResult
    verify: VerifyResult
    removed: bool = True
    sample: Sample | None = None  # when the rehearsal ran on a sample of the source

    @property
    def exit_code(self) -> int:
        return self.verify.exit_code

    def to_dict(self) -> dict:
        return {
            "verdict": self.verify.verdict,
            "scratch": self.scratch,
            "scratch_removed": self.removed,
            "tables": self.tables,
            "sample": self.sample.to_dict() if self.sample else None,
            "report": self.verify.report,
            "copy": self.copy.to_dict(),
            "verify": self.verify.to_dict(),
        }


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
    from split.db import engine_for
    from split.plan import compile_plan, with_parents
    from split.scratch import scratch_stores

    checked = check_inputs(mapping_file, source)
    encode_key(required=checked.mapping.encodes)
    plan_ = compile_plan(checked.mapping, checked.schema, engine_for(checked.source.url))
    chosen = [t.name for t in select_tables(plan_, waves, tables)]
    needed = with_parents(checked.mapping, checked.schema, chosen)
    rehearsed = [t.name for t in plan_.tables if t.name in needed]
    try:
        with scratch_stores(scratch_url) as scratch:
            nw, retail = scratch.stores["nw"], scratch.stores["retail"]
            migrations = scratch.folder / "migrations"
            if progress is not None:  # first, so that an operator knows what to drop after a `kill -9`
                progress.note(f"scratch stores: {scratch.describe()}")
            drawn = None
            if sample is not None:  # the rehearsal's source is then a consistent sample, in the scratch folder
                from split.subset import draw_sample

                sampled = f"sqlite:///{scratch.folder / 'sample.db'}"
                drawn = draw_sample(checked.source.url, checked.mapping, checked.schema, sampled, sample, sample_by)
                if progress is not None:
                    rows = sum(drawn.rows.values())
                    progress.note(f"sample: {drawn.values:,} values of {drawn.anchor}, {rows:,} rows")
                source = sampled
            copied = copy(
                mapping_file,
                source,
                nw,
                retail,
                workers=workers,
                tables=rehearsed,
                migrations=migrations,
                progress=progress,
            )
            proof = verify(
                mapping_file,
                source,
                nw,
                retail,
                report_dir=report_dir,
                workers=workers,
                migrations=migrations,
                tables=rehearsed,
                on_step=on_step,
            )
    except KeyboardInterrupt:  # the block above removed the scratch on its way out
        raise RuntimeFailure("interrupted: the rehearsal stopped and its scratch stores were removed") from None
    return DryRunResult(scratch.where, rehearsed, copied, proof, sample=drawn)


def by_level(runner, fn, tasks, levels: dict[str, int], progress, name: str, children_first: bool = False) -> list:  # type: ignore[no-untyped-def]
    """fn over the tasks, one foreign-key load level at a time: a level commits before the next starts."""
    results = []
    for level in sorted({levels[t.table.name] for t in tasks}, reverse=children_first):
        batch = [t for t in tasks if levels[t.table.name] == level]
        results += runner.map(fn, batch, progress.done, name=f"{name}-{level}")
    return results


def select_tables(plan_, waves: list[str] | None, tables: list[str] | None) -> list:  # type: ignore[no-untyped-def]
    """The tables of the chosen waves and/or names, in plan order; unknown names are usage errors."""
    known_waves = {t.wave for t in plan_.tables}
    known_tables = {t.name for t in plan_.tables}
    bad = [w for w in waves or [] if w not in known_waves] + [t for t in tables or [] if t not in known_tables]
    if bad:
        raise ConfigError(
            f"unknown wave or table: {', '.join(bad)}",
            hint=f"waves: {', '.join(sorted(known_waves))}; see `bunkatsu plan` for tables",
        )
    if not waves and not tables:
        return list(plan_.tables)
    return [t for t in plan_.tables if t.wave in (waves or []) or t.name in (tables or [])]


def _distinct_stores(*stores: StoreUrl) -> None:
    from split.db import normalise_url

    seen: dict[str, str] = {}
    for s in stores:
        key = normalise_url(s.url).render_as_string(hide_password=True)
        if key in seen:
            raise ConfigError(
                f"the {s.role} and {seen[key]} URLs point to the same database ({s.masked})",
                hint="the split needs three separate databases: source, NW and retail",
            )
        seen[key] = s.role


# ── sample-db ──────────────────────────────────────────────────────────────────────────────


def sample_db(
    url: str,
    supply_points: int = 200,
    seed: int = 1,
    *,
    interval_days: int = 4,
    replace: bool = False,
    on_progress: Callable[[int], None] | None = None,
):
    from split.db import create_database
    from split.sample.generate import generate
    from split.settings import parse_url

    parse_url(url, "sample")
    if supply_points < 1 or interval_days < 1:
        raise ConfigError("--supply-points and --interval-days must be at least 1")
    try:
        create_database(url)
    except Exception as exc:
        from split.db import describe_db_error

        raise ConfigError(
            f"cannot create or reach the database: {describe_db_error(exc, hide_values=False)}",
            hint="check the URL and that the server runs",
        ) from None
    return generate(url, supply_points, seed, interval_days=interval_days, replace=replace, on_progress=on_progress)


# ── demo ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class DemoResult:
    folder: str
    files: dict[str, str]
    sample: object
    plan: object
    copy: CopyResult
    verify: VerifyResult
    generated_key: bool
    audit: Any = None  # split.audit.AuditResult of the shared system's access log

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "files": self.files,
            "plan_hash": self.copy.plan_hash,
            "generated_encode_key": self.generated_key,
            "copy": self.copy.to_dict(),
            "audit_log": self.audit.to_dict() if self.audit else None,
            "verify": {"verdict": self.verify.verdict, "report": self.verify.report},
        }


def bundled_mapping() -> Path:
    """The reference mapping: inside the installed package, or in the source tree for editable installs."""
    packaged = Path(__file__).parent / "data" / "takuso.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "mappings" / "takuso.yaml"


@dataclass(frozen=True)
class DemoFolder:
    folder: Path
    files: dict[str, Path]  # shared / nw / retail SQLite files
    mapping: Path
    migrations: Path
    generated_key: bool

    @property
    def urls(self) -> dict[str, str]:
        return {role: f"sqlite:///{path}" for role, path in self.files.items()}

    def shown(self) -> dict[str, str]:
        return {k: str(v) for k, v in {**self.files, "mapping": self.mapping, "migrations": self.migrations}.items()}


def _demo_folder(folder: str | Path) -> DemoFolder:
    """The demo's folder, emptied of an earlier run: three SQLite files, the mapping, the revisions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {role: folder / f"{role}.db" for role in ("shared", "nw", "retail")}
    for path in files.values():
        path.unlink(missing_ok=True)
    migrations = folder / "migrations"  # the stores' Alembic revisions: recreated with the stores
    shutil.rmtree(migrations, ignore_errors=True)
    shutil.rmtree(folder / "cutover-reports", ignore_errors=True)
    mapping = folder / "takuso.yaml"
    shutil.copyfile(bundled_mapping(), mapping)
    generated = not os.environ.get(ENV_ENCODE_KEY)
    if generated:  # a throwaway key for the demo only; real runs take it from the NW's secret store
        os.environ[ENV_ENCODE_KEY] = secrets.token_hex(32)
    return DemoFolder(folder, files, mapping, migrations, generated)


def demo(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> DemoResult:
    d = _demo_folder(folder)
    urls = d.urls
    sample = sample_db(urls["shared"], supply_points, seed)
    plan_ = plan(d.mapping, urls["shared"])
    result = copy(
        d.mapping,
        urls["shared"],
        urls["nw"],
        urls["retail"],
        workers=workers,
        migrations=d.migrations,
        progress=progress,
    )
    # the shared system's access log, investigated as the seed documents did; its section joins the report
    audit = audit_log(d.mapping, urls["shared"], log_url=urls["shared"], report_dir=d.folder / "report")
    proof = verify(
        d.mapping,
        urls["shared"],
        urls["nw"],
        urls["retail"],
        report_dir=d.folder / "report",
        workers=workers,
        migrations=d.migrations,
    )
    return DemoResult(str(d.folder), d.shown(), sample, plan_, result, proof, d.generated_key, audit)


@dataclass
class StagedDemoResult:
    folder: str
    files: dict[str, str]
    runs: list  # split.cutover.CutoverRun, in the order they ran (two per wave: day and night)
    changes: dict[str, int]  # what changed in the source while the contracts wave was under way
    verify: VerifyResult
    generated_key: bool

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "files": self.files,
            "generated_encode_key": self.generated_key,
            "source_changes": self.changes,
            "runs": [r.to_dict() for r in self.runs],
            "verify": {"verdict": self.verify.verdict, "report": self.verify.report},
        }


def demo_staged(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    on_run: Callable[[object], None] | None = None,
) -> StagedDemoResult:
    """The staged flow: every wave walked through `cutover run` (day: up to the first gate; night: freeze,
    final sync, final gate, switched), with the shared system changing while the contracts wave is open."""
    from split import cutover
    from split.sample.live import a_day_of_changes

    d = _demo_folder(folder)
    urls = d.urls
    sample_db(urls["shared"], supply_points, seed)
    common: dict[str, Any] = dict(
        mapping_file=d.mapping,
        source=urls["shared"],
        nw=urls["nw"],
        retail=urls["retail"],
        operator="demo",
        reports=d.folder / "cutover-reports",
        workers=workers,
        migrations=d.migrations,
        progress=progress,
    )
    runs: list = []
    changes: dict[str, int] = {}

    def ran(run_) -> bool:  # type: ignore[no-untyped-def]
        runs.append(run_)
        if on_run is not None:
            on_run(run_)
        return run_.exit_code == 0

    for wave in load_mapping_file(d.mapping).waves:
        if not ran(cutover.run(**common, wave=wave.name, until="verify", confirm=None)):
            break
        if wave.name == "contracts":  # the shared system moved on between the first gate and the freeze
            changes = a_day_of_changes(urls["shared"])
        if not ran(cutover.run(**common, wave=wave.name, confirm=lambda question: True)):  # the demo confirms
            break
    proof = verify(
        d.mapping,
        urls["shared"],
        urls["nw"],
        urls["retail"],
        report_dir=d.folder / "report",
        workers=workers,
        migrations=d.migrations,
    )
    return StagedDemoResult(str(d.folder), d.shown(), runs, changes, proof, d.generated_key)


# ── verify ─────────────────────────────────────────────────────────────────────────────────


class CheckOutcome:
    """What a result made of check results shares: the exit code of its verdict and the counts per status."""

    verdict: str
    checks: list

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.verdict, 3)

    def summary(self) -> dict[str, int]:
        return {s: sum(c.status.value == s for c in self.checks) for s in ("pass", "fail", "error")}


@dataclass
class VerifyResult(CheckOutcome):
    verdict: str  # pass | fail | error
    system: str
    mapping: str
    mapping_sha256: str
    plan_hash: str
    stores: dict[str, str]
    tables: list[dict]
    checks: list  # checks.results.CheckResult
    seconds: float
    report: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time per check step
    audit: Any = None  # split.audit.AuditResult when the audit-log check ran

    def to_dict(self) -> dict:
        summary = self.summary()
        return {
            "verdict": self.verdict,
            "system": self.system,
            "mapping": self.mapping,
            "mapping_sha256": self.mapping_sha256,
            "plan_hash": self.plan_hash,
            "stores": self.stores,
            "summary": summary,
            "seconds": round(self.seconds, 2),
            "step_seconds": self.step_seconds,
            "tables": self.tables,
            "checks": [c.to_dict() for c in self.checks],
            "audit_log": self.audit.to_dict() if self.audit else None,
            "report": self.report,
        }


def verify(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    report_dir: str | Path | None = None,
    workers: int = 2,
    post_split: bool = False,
    migrations: str | Path | None = None,
    waves: list[str] | None = None,
    tables: list[str] | None = None,
    roles: str | Path | None = None,
    log_url: str | None = None,
    log_spec: Any = None,  # split.audit.LogSpec (default: the reference access_log)
    on_step: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Run every check against the stores (exit 0 pass, 1 violation, 3 could not prove).

    With `post_split` there is no source: the NW store is the authority for scopes and protected values.
    With `waves`/`tables`, the row checks cover those tables only (the retail store still may hold no other table).
    With `roles` (a roles file, or BUNKATSU_ROLES), the grants check runs too; with `log_url`, the audit-log
    check (after the split: the NW system's log, with `log_spec.since` the switch date).
    """
    import hashlib
    import hmac

    from checks.context import VerifyContext, allowed_retail_columns
    from checks.results import verdict
    from checks.runner import run_checks
    from split.db import check_reachable, engine_for
    from split.plan import compile_plan

    started = time.monotonic()
    targets = {"nw": store_url("nw", nw, ENV_NW), "retail": store_url("retail", retail, ENV_RETAIL)}
    role_list = _roles(roles)
    checked = _authority_inputs(mapping_file, targets["nw"]) if post_split else check_inputs(mapping_file, source)
    mapping = checked.mapping
    urls = {"source": checked.source, **targets} if not post_split else targets
    _distinct_stores(*urls.values())
    key = encode_key(required=mapping.encodes)
    for target in targets.values():
        check_reachable(target.url, target.role)
    plan_ = compile_plan(mapping, checked.schema, engine_for(checked.source.url))
    only = frozenset(t.name for t in select_tables(plan_, waves, tables)) if waves or tables else None
    full_mapping = load_mapping_file(mapping_file) if post_split else mapping
    log = _checked_log(log_url, log_spec, mapping, checked.schema) if log_url else None
    # Report hashes are keyed, and never with the encode key itself: a report must not help to link tokens.
    report_key = hmac.new(key, b"bunkatsu-report", hashlib.sha256).digest() if key else secrets.token_bytes(32)
    ctx = VerifyContext(
        plan_,
        mapping,
        checked.source.url,
        {r: t.url for r, t in targets.items()},
        report_key,
        key,
        workers,
        allowed_retail_columns(full_mapping),
        post_split,
        str(Path(report_dir).resolve() / "gx") if report_dir else None,  # GX wants an absolute path
        checked.schema,
        str(migrations) if migrations else None,
        only,
        role_list,
        log,
    )
    step_seconds: dict[str, float] = {}
    results = run_checks(ctx, on_step, step_seconds)
    stores = {r: t.masked for r, t in urls.items()}
    result = VerifyResult(
        verdict(results).value,
        plan_.system,
        plan_.mapping_path,
        plan_.mapping_sha256,
        plan_.hash,
        stores,
        _table_summary(plan_, targets, results),
        results,
        time.monotonic() - started,
        step_seconds=step_seconds,
        audit=ctx.details.get("audit-log"),
    )
    if report_dir is not None:
        from split.report import write_report

        result.report = str(write_report(result, report_dir))
    return result


def _checked_log(log_url: str, spec: Any, mapping: Mapping, schema: SourceSchema):  # -> (StoreUrl, LogSpec)
    """Before any check runs: the log is reachable and has its columns, the mapping names an ownership timeline."""
    from split.audit import LogSpec, ownership, require_log_table
    from split.db import check_reachable

    log, spec = _log_store(log_url), spec or LogSpec()
    check_reachable(log.url, log.role)
    require_log_table(log, spec)
    ownership(mapping, schema)
    return log, spec


def _roles(roles: str | Path | None):  # -> checks.grants.Roles | None
    from checks.grants import ENV_ROLES, load_roles

    raw = roles or os.environ.get(ENV_ROLES)
    return load_roles(raw) if raw else None


@dataclass
class GrantsResult(CheckOutcome):
    verdict: str
    stores: dict[str, str]
    roles: str
    checks: list  # checks.results.CheckResult
    seconds: float
    report: str | None = None

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "stores": self.stores,
            "roles": self.roles,
            "summary": self.summary(),
            "seconds": round(self.seconds, 2),
            "checks": [c.to_dict() for c in self.checks],
        }


def grants(
    nw: str | None = None, retail: str | None = None, *, roles: str | Path | None = None, post_split: bool = False
) -> GrantsResult:
    """The grants check alone: no retail role reads the NW store, nothing on the retail side reaches it."""
    from checks.grants import grants as grants_check
    from checks.results import verdict
    from split.db import check_reachable

    started = time.monotonic()
    targets = {"nw": store_url("nw", nw, ENV_NW), "retail": store_url("retail", retail, ENV_RETAIL)}
    role_list = _roles(roles)
    if role_list is None:
        raise ConfigError("no roles file given", hint="pass --roles FILE or set BUNKATSU_ROLES (nw: and retail: lists)")
    _distinct_stores(*targets.values())
    for target in targets.values():
        check_reachable(target.url, target.role)
    results = grants_check({r: t.url for r, t in targets.items()}, role_list, post_split)
    stores = {r: t.masked for r, t in targets.items()}
    return GrantsResult(verdict(results).value, stores, role_list.path, results, time.monotonic() - started)


# ── audit-log ──────────────────────────────────────────────────────────────────────────────


def audit_log(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    *,
    log_url: str | None,
    spec: Any = None,  # split.audit.LogSpec (default: the reference database's access_log)
    report_dir: str | Path | None = None,
):  # -> split.audit.AuditResult
    """Improper views in an access log: retail-side people viewing customers not the affiliate's at the time.

    The ownership timeline comes from the source or, after the split, from the NW store (`nw`)."""
    from split.audit import LogSpec, audit, require_log_table
    from split.db import check_reachable

    mapping = load_mapping_file(mapping_file)
    authority = store_url("source", source, ENV_SOURCE) if source or not nw else store_url("nw", nw, ENV_NW)
    log = _log_store(log_url)
    spec = spec or LogSpec()
    for target in (authority, log):
        check_reachable(target.url, target.role)
    require_log_table(log, spec)
    result = audit(mapping, authority, log, spec)
    if report_dir is not None:
        from split.report import write_audit

        write_audit(result.to_dict(), report_dir)
    return result


def _log_store(log_url: str | None) -> StoreUrl:
    return store_url("log", log_url, ENV_LOG, option="--log-url")


# ── canary ─────────────────────────────────────────────────────────────────────────────────


@dataclass
class CanaryResult:
    store: str  # masked URL
    into: str  # source | nw
    canaries: list[dict]  # id, values, rows (plant); or the count removed
    rows: int

    def to_dict(self) -> dict:
        return {"store": self.store, "into": self.into, "canaries": self.canaries, "rows": self.rows}


def _canary_target(into: str, source: str | None, nw: str | None) -> StoreUrl:
    from split.db import check_reachable

    if into not in ("source", "nw"):
        raise ConfigError(f"--into {into}: expected source or nw", hint="source before a copy, nw after the split")
    target = store_url("source", source, ENV_SOURCE) if into == "source" else store_url("nw", nw, ENV_NW)
    check_reachable(target.url, target.role)
    return target


def canary_plant(
    mapping_file: str | Path | None = None,
    source: str | None = None,
    nw: str | None = None,
    *,
    into: str = "source",
    count: int = 3,
) -> CanaryResult:
    """Plant `count` fictitious new-entrant customers into the source (before a copy) or the NW store (after)."""
    from split.canary import plant
    from split.db import engine_for
    from split.introspect import reflect_source

    if not 1 <= count <= 1000:
        raise ConfigError(f"--count {count}: plant between 1 and 1000 canaries", hint="a few per wave are enough")
    mapping = load_mapping_file(mapping_file)
    target = _canary_target(into, source, nw)
    engine = engine_for(target.url)
    canaries = plant(engine, mapping, reflect_source(engine), count)
    listed = [{"id": c.id, "values": dict(sorted(c.inserted)), "rows": [t for t, _ in c.rows]} for c in canaries]
    return CanaryResult(target.masked, into, listed, sum(len(c.rows) for c in canaries))


def canary_remove(source: str | None = None, nw: str | None = None, *, into: str = "source") -> CanaryResult:
    """Delete every planted canary row and the record from the source or the NW store."""
    from split.canary import remove
    from split.db import engine_for
    from split.introspect import reflect_source

    target = _canary_target(into, source, nw)
    engine = engine_for(target.url)
    canaries, rows = remove(engine, reflect_source(engine))
    return CanaryResult(target.masked, into, [{"removed": canaries}], rows)


def load_mapping_file(mapping_file: str | Path | None):  # -> Mapping
    from split.mapping import load_mapping

    return load_mapping(mapping_path(mapping_file))


def _authority_inputs(mapping_file: str | Path | None, nw: StoreUrl) -> Checked:
    """Post-split: the NW store stands in for the source, seen through the mapping restricted to it."""
    from split.db import check_reachable, engine_for
    from split.introspect import reflect_source
    from split.mapping.authority import as_seen_in_store

    mapping = load_mapping_file(mapping_file)
    check_reachable(nw.url, "nw")
    schema = reflect_source(engine_for(nw.url))
    return Checked(as_seen_in_store(mapping, schema), schema, StoreUrl("source", nw.url))


def _table_summary(plan_, targets: dict[str, StoreUrl], results: list) -> list[dict]:  # type: ignore[no-untyped-def]
    import sqlalchemy as sa

    from split.db import engine_for

    def rows(role: str, name: str) -> int | None:
        if plan_.table(name).store(role) is None:
            return None
        try:
            with engine_for(targets[role].url).connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one())
        except sa.exc.SQLAlchemyError:
            return None

    tables = []
    for t in plan_.tables:
        nw_cols = {c.name for c in t.store("nw").columns} if t.store("nw") else set()
        retail = t.store("retail")
        plain = {c.name for c in retail.columns if c.transform == "copy"} if retail else set()
        encoded = {c.name for c in retail.columns if c.transform == "encode"} if retail else set()
        statuses = [c.status.value for c in results if c.table == t.name]
        tables.append(
            {
                "name": t.name,
                "wave": t.wave,
                "source_rows": t.source_rows,
                "nw_rows": rows("nw", t.name),
                "retail_rows": rows("retail", t.name),
                "columns": {
                    "shared": len(nw_cols & plain),
                    "nw": len(nw_cols - plain - encoded),
                    "retail": len(plain - nw_cols),
                    "encoded": len(encoded),
                    "dropped": len(t.dropped),
                },
                "checks": {s: statuses.count(s) for s in ("pass", "fail", "error")},
            }
        )
    return tables
