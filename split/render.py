"""Human forms of results (rich tables on stdout, progress on stderr). JSON forms live on the results."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from split.i18n import N_, _
from split.progress import Progress as ProgressProtocol

if TYPE_CHECKING:  # render is imported by the CLI only after a command ran: types, not modules, at import time
    from checks.grants import GrantsResult
    from checks.verify import VerifyResult
    from split.audit import AuditResult
    from split.canary import CanaryResult
    from split.capture.follow import FollowResult
    from split.capture.slot import SlotStatus
    from split.cutover import CutoverRun, CutoverStatus, WaveState
    from split.demo import DemoResult, StagedDemoResult
    from split.discover import Discovery
    from split.engine.copy import CopyResult
    from split.plan import Plan, StorePlan
    from split.rehearsal import DryRunResult
    from split.sample.generate import SampleSummary
    from split.schema.command import MoveResult, RevisionResult
    from split.schema.migrations import StoreStatus
    from split.sync import SyncResult

out = Console(highlight=False)
if not out.is_terminal:  # pipes and CI logs: wide enough that table names are never cut
    out = Console(highlight=False, width=140)
err = Console(stderr=True, highlight=False)


def plan_table(plan: Plan) -> None:
    out.print(
        f"[bold]plan[/] {plan.hash[:16]}…  system {plan.system}  source {plan.source_dialect}  "
        f"mapping {plan.mapping_path} (sha256 {plan.mapping_sha256[:12]}…)"
    )
    table = Table(show_lines=False)
    for col in ("#", "wave", "table", "source rows", "partitions", "NW", "retail", "encoded", "dropped"):
        table.add_column(col, justify="right" if col in ("#", "source rows", "partitions") else "left")
    for t in plan.tables:
        nw, retail = t.store("nw"), t.store("retail")
        encoded = [c.name for c in retail.columns if c.transform == "encode"] if retail else []
        table.add_row(
            str(t.order + 1),
            t.wave,
            t.name,
            f"{t.source_rows:,}",
            f"{len(t.partitions)}" + (f" by {', '.join(t.key)}" if t.key else ""),
            _store_cell(nw),
            _store_cell(retail),
            ", ".join(encoded) or "–",
            ", ".join(t.dropped) or "–",
        )
    out.print(table)
    for t in plan.tables:
        for warning in t.warnings:
            err.print(f"[yellow]warning:[/] {warning}")


def _store_cell(sp: StorePlan | None) -> str:
    return "–" if sp is None else f"{len(sp.columns)} cols · {sp.scope}"


def copy_summary(result: CopyResult) -> None:
    table = Table(title=f"copy {result.run_id[:12]} · {_('plan')} {result.plan_hash[:12]}…")
    for col in (
        N_("table"),
        N_("wave"),
        N_("source rows"),
        N_("NW rows"),
        N_("retail rows"),
        N_("partitions"),
        N_("resumed"),
        N_("method"),
    ):
        table.add_column(_(col), justify="left" if col in ("table", "wave") else "right")
    for t in result.tables:
        table.add_row(
            t.name,
            t.wave,
            f"{t.source_rows:,}",
            _rows(t.rows.get("nw")),
            _rows(t.rows.get("retail")),
            str(t.partitions),
            str(t.skipped) if t.skipped else "–",
            ", ".join(t.methods) or "–",
        )
    out.print(table)
    for role, url in result.stores.items():
        out.print(f"  {_(role):<7} {url}")
    if result.snapshot:
        out.print("  " + _("every partition read PostgreSQL snapshot %(id)s") % {"id": result.snapshot})
    if result.capture:
        c = result.capture
        started = (
            f"started at {c['position']}"
            if c["created"]
            else "already running: the copy's changes are applied again, harmlessly"
        )
        out.print(f"  capture slot {c['slot']} {started}; `sync --follow` applies what changes from here")
        if c["uncaptured"]:
            out.print(
                f"  not captured (no primary key as replica identity; checksum sync covers them): {', '.join(c['uncaptured'])}"
            )
    out.print("  " + _("finished in %(s)s s") % {"s": f"{result.seconds:.1f}"})


def sync_summary(result: SyncResult) -> None:
    table = Table(title=f"sync {result.run_id[:12]} · plan {result.plan_hash[:12]}…")
    for column in ("table", "ranges", "differing", "NW +/~/−", "retail +/~/−"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for t in result.tables:
        cells = [
            "/".join(str(c[k]) for k in ("inserted", "updated", "deleted")) if (c := t.changes.get(store)) else "—"
            for store in ("nw", "retail")
        ]
        table.add_row(t.name, str(t.ranges), str(t.differing), *cells)
    out.print(table)
    for role, url in result.stores.items():
        out.print(f"  {role:<7} {url}")
    if result.snapshot:
        out.print(f"  every key range read PostgreSQL snapshot {result.snapshot}")
    totals = ", ".join(f"{result.total(k):,} {k}" for k in ("inserted", "updated", "deleted"))
    out.print(f"  {totals}; finished in {result.seconds:.1f} s")


def follow_summary(result: FollowResult) -> None:
    table = Table(title=f"sync --follow · slot {result.slot}")
    for column in ("store", "inserted", "updated", "deleted"):
        table.add_column(column, justify="left" if column == "store" else "right")
    for store, counts in result.rows.items():
        table.add_row(store, *(f"{counts[k]:,}" for k in ("inserted", "updated", "deleted")))
    out.print(table)
    out.print(
        f"  {result.changes:,} change(s) in {result.transactions:,} transaction(s), {result.batches} batch(es); "
        f"both stores hold the source up to {result.position} ({result.behind_bytes:,} byte(s) of WAL behind)"
    )
    if result.resynced:
        out.print(f"  compared by checksum sync (the slot names no keys for them): {', '.join(result.resynced)}")
    out.print(f"  finished in {result.seconds:.1f} s")


def capture_table(statuses: list[SlotStatus]) -> None:
    if not statuses:
        out.print("no bunkatsu capture slot on this server")
        return
    table = Table(title="capture slots")
    for column in ("slot", "database", "active", "applied up to", "behind", "WAL kept", "WAL status"):
        table.add_column(column, justify="right" if column in ("behind", "WAL kept") else "left")
    for s in statuses:
        table.add_row(
            s.name, s.database, "yes" if s.active else "no", s.confirmed_lsn or "—",
            _bytes(s.behind_bytes), _bytes(s.retained_bytes), s.wal_status or "—",
        )  # fmt: skip
    out.print(table)


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cutover_table(status: CutoverStatus) -> None:
    table = Table(title=f"cutover of {status.system} · mapping {status.mapping_sha256[:12]}…")
    for column in ("wave", "state", "next step", "waits for", "last entry"):
        table.add_column(column)
    switched = {w.wave for w in status.waves if w.state == "switched"}
    for w in status.waves:
        waiting = [d for d in w.depends_on if d not in switched]
        last = f"{w.last.at:%Y-%m-%d %H:%M} {w.last.operator}" if w.last and w.last.at else ""
        colour = "green" if w.state == "switched" else "red" if w.failed else ""
        state = f"[{colour}]{w.state}[/]" if colour else w.state
        table.add_row(w.wave, state, w.next_step or "—", ", ".join(waiting) or "—", last)
    out.print(table)
    if status.capture:
        c = status.capture
        out.print(
            f"  capture {c.name}: applied up to {c.confirmed_lsn}, {_bytes(c.behind_bytes)} behind, "
            f"{_bytes(c.retained_bytes)} of WAL kept on the source"
        )
    for w in status.waves:
        if w.failed:
            out.print(f"  {w.wave}: {w.failed.step} failed: {w.failed.message}")


def cutover_run_summary(result: CutoverRun) -> None:
    for s in result.steps:
        colour = {"passed": "green", "failed": "red"}.get(s.outcome, "yellow")
        out.print(f"  {s.step:<13} [{colour}]{s.outcome}[/] ({s.seconds:.1f} s) {s.message}")
        if s.report:
            out.print(f"                report: {s.report}")
    out.print(f"wave {result.wave}: {result.state.state}; next step: {result.state.next_step or '—'}")


def _rows(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def destinations(plan: Plan) -> Table:
    """Columns per destination: what the reviewer checks first."""
    table = Table(title=_("columns by destination"))
    for col in (N_("table"), N_("shared"), N_("nw only"), N_("retail only"), N_("encoded"), N_("dropped")):
        table.add_column(_(col), justify="left" if col == "table" else "right")
    for t in plan.tables:
        nw_plan, retail = t.store("nw"), t.store("retail")
        nw = {c.name for c in nw_plan.columns} if nw_plan else set()
        r_plain = {c.name for c in retail.columns if c.transform == "copy"} if retail else set()
        r_enc = {c.name for c in retail.columns if c.transform == "encode"} if retail else set()
        counts = Counter(shared=len(nw & r_plain), nw=len(nw - r_plain - r_enc), retail=len(r_plain - nw))
        table.add_row(
            t.name,
            str(counts["shared"]),
            str(counts["nw"]),
            str(counts["retail"]),
            str(len(r_enc)),
            str(len(t.dropped)),
        )
    return table


class BarProgress(ProgressProtocol):
    """Rich bars on stderr: one per table, advanced as partitions finish."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=False,
            disable=not enabled,
        )
        self.ids: dict[str, Any] = {}

    def note(self, message: str) -> None:
        err.print(message)  # printed even without bars: e.g. the Dask dashboard link

    def start(self, total: int, tables: dict[str, int]) -> None:
        for name, count in tables.items():
            self.ids[name] = self.bars.add_task(name, total=count)
        self.bars.start()

    def done(self, result: Any) -> None:
        self.bars.advance(self.ids[result.table])

    def stop(self) -> None:
        self.bars.stop()


def verify_summary(result: VerifyResult | GrantsResult) -> None:
    """Passing checks grouped per id (the report lists each); every failure on its own line."""
    colour = {"pass": "green", "fail": "red"}.get(result.verdict, "yellow")
    table = Table(title=_("verification"))
    for col in (
        N_("status"),
        N_("check"),
        N_("store"),
        N_("table"),
        N_("column"),
        N_("observed"),
        N_("expected"),
        N_("finding"),
    ):
        table.add_column(_(col), justify="right" if col in ("observed", "expected") else "left")
    grouped: dict[tuple[str, str], list[str]] = {}
    for c in result.checks:
        if c.status.value == "pass":
            grouped.setdefault((c.id, c.store), []).append(c.message)
            continue
        style = {"fail": "bold red", "warn": "blue"}.get(c.status.value, "yellow")
        table.add_row(
            f"[{style}]{_(c.status.value)}[/]",
            c.id,
            _(c.store),
            c.table or "",
            c.column or "",
            "" if c.observed is None else f"{c.observed:,}",
            "" if c.expected is None else f"{c.expected:,}",
            c.message,
        )
    for (check_id, store), messages in grouped.items():
        n = len(messages)  # one passing result: its message says what was proven (grants: what was looked at)
        table.add_row(
            "[green]" + _("pass") + "[/]",
            check_id,
            _(store),
            _("%(n)s table(s)") % {"n": n} if n > 1 else "",
            "",
            "",
            "",
            messages[0] if n == 1 else "",
        )
    out.print(table)
    summary = result.to_dict()["summary"]
    counts = [_("%(n)s passed") % {"n": summary["pass"]}, _("%(n)s failed") % {"n": summary["fail"]}]
    counts.append(_("%(n)s could not prove") % {"n": summary["error"]})
    if summary.get("warn"):
        counts.append(_("%(n)s warning(s)") % {"n": summary["warn"]})
    verdict = {"pass": _("PASS"), "fail": _("FAIL")}.get(result.verdict, _("COULD NOT PROVE"))
    label = _("verdict:")
    out.print(f"[bold {colour}]{label} {verdict}[/]  ({', '.join(counts)}; {result.seconds:.1f} s)")
    if result.report:
        out.print(_("report:") + f" {result.report}")


def discover_report(found: Discovery) -> None:
    """What the inventory found, findings first; the full column list is in `--json`."""
    schema, cov = found.schema, found.coverage
    views = [r for r in found.readers if "view" in r.type]
    out.print(
        f"[bold]discover[/] {found.source} ({found.dialect}): {len(schema.tables)} tables, "
        f"{sum(len(t.columns) for t in schema.tables.values())} columns, {len(views)} views, "
        f"{len(found.readers) - len(views)} routines/triggers; sampled up to "
        f"{found.sample_rows or 'all'} rows per table"
    )
    if found.mapping and found.mapping_sha256:
        out.print(f"mapping {found.mapping} (sha256 {found.mapping_sha256[:12]}…)")
    table = Table(show_lines=False)
    for col in ("finding", "object", "detail"):
        table.add_column(col)
    suggestions = {(c.table, c.column): c for c in found.columns}

    def detail(t: str, c: str) -> str:
        s = suggestions[(t, c)].suggestion
        return f"{s.kind}: {s.evidence}" if s else "no identifier recognised"

    for t in cov.unmapped_tables:
        cols = found.columns_of(t)
        kinds = sorted({c.suggestion.kind for c in cols if c.suggestion})
        table.add_row(
            "[red]unmapped table[/]", t, f"{len(cols)} columns" + (f"; kinds: {', '.join(kinds)}" if kinds else "")
        )
    for t, c in cov.unmapped_columns:
        table.add_row("[red]unmapped column[/]", f"{t}.{c}", detail(t, c))
    for t in cov.stale_tables:
        table.add_row("[red]vanished table[/]", t, "in the mapping, not in the source")
    for t, c in cov.stale_columns:
        table.add_row("[red]vanished column[/]", f"{t}.{c}", "in the mapping, not in the source")
    for reader in found.readers:
        kept = reader.kept_from_retail(found.mapping_model)
        where = f" on {reader.on_table}" if reader.on_table else ""
        if kept:
            table.add_row(
                f"[yellow]{reader.type}[/]", reader.name + where, f"touches columns kept from retail: {', '.join(kept)}"
            )
        else:
            reads = ", ".join(reader.reads) or "no source table"
            table.add_row(reader.type, reader.name + where, f"reads {reads}; touches no column kept from retail")
    for review in found.kinds_to_review:
        table.add_row(
            "[yellow]kind to review[/]",
            f"{review.table}.{review.column}",
            f"mapped {review.mapped_to}/{review.mapped_kind or '–'}; {detail(review.table, review.column)}",
        )
    if table.row_count:
        out.print(table)
    if cov.covered:
        out.print(
            "[green]covered[/]: every source table and column is in the mapping, and nothing it names has vanished"
        )
    else:
        n = len(cov.unmapped_tables) + len(cov.unmapped_columns) + len(cov.stale_tables) + len(cov.stale_columns)
        out.print(
            f"[red]NOT COVERED[/]: {n} finding(s); `plan`, `copy` and `dry-run` refuse this source until the mapping covers it"
        )
    if found.draft:
        out.print(f"draft: {found.draft} (additions marked REVIEW, NW only until reviewed)")


def audit_summary(result: AuditResult) -> None:
    d = result.to_dict()
    colour = "red" if d["views"] else "green"
    out.print(
        f"[bold]audit-log[/] {d['log']} · ownership from {d['timeline']} · {d['retail_views_scanned']:,} {d['retail_org']} views"
    )
    out.print(
        f"[bold {colour}]{d['views']:,} improper view(s)[/] by {d['viewers']:,} people of {d['customers']:,} customers "
        f"of {d['retailers']:,} other retailer(s); first {d['first_view'] or '–'}, last {d['last_view'] or '–'}"
    )
    if d["unjudged"]:
        out.print(f"[yellow]{d['unjudged']:,} view(s) without a key or a readable time could not be judged[/]")
    if d["per_day"]:
        table = Table(title="per day")
        for col in ("day", "views", "people", "customers", "retailers"):
            table.add_column(col, justify="left" if col == "day" else "right")
        for day in d["per_day"]:
            table.add_row(day["day"], *(f"{day[k]:,}" for k in ("views", "viewers", "customers", "retailers")))
        out.print(table)


def step_printer(as_json: bool) -> Callable[[str], None]:
    """`checking retail.tables…` lines on a terminal while verify works (never into --json output)."""

    def step(name: str) -> None:
        if not as_json and err.is_terminal:
            err.print(f"[dim]checking {name}…[/]")

    return step


def sample_summary(summary: SampleSummary, url: str) -> None:
    out.print(f"reference database at {url}: {summary.supply_points:,} supply points, seed {summary.seed}")
    for table, rows in summary.rows.items():
        out.print(f"  {table:<24} {rows:>10,}")


def dry_run_summary(result: DryRunResult) -> None:
    out.print(f"[bold]dry-run[/] into scratch stores at {result.scratch} ({len(result.tables)} table(s))")
    if result.sample:
        out.print(f"  on a sample: {result.sample.values:,} values of {result.sample.anchor}")
    copy_summary(result.copy)
    verify_summary(result.verify)
    out.print("scratch stores removed")


def demo_summary(result: DemoResult, supply_points: int, seed: int) -> None:
    said = _("reference 託送 database with %(n)s supply points (seed %(seed)s)")
    out.print("[bold]bunkatsu demo[/]: " + said % {"n": f"{supply_points:,}", "seed": seed})
    copy_summary(result.copy)
    out.print(destinations(result.plan))
    if result.generated_key:
        out.print(
            "  " + _("encode key: a throwaway key was generated for this demo (set BUNKATSU_ENCODE_KEY to choose one)")
        )
    a = result.audit.to_dict()
    period = f", {a['first_view'][:10]} – {a['last_view'][:10]}" if a["views"] else ""
    said = _(
        "access log of the shared system (audit-log): %(views)s improper views by %(people)s retail-side people of "
        "%(customers)s customers of %(retailers)s other retailers%(period)s: the leak the physical split closes"
    )
    counts = {k: f"{a[k]:,}" for k in ("views", "customers", "retailers")}
    out.print(said % {**counts, "people": f"{a['viewers']:,}", "period": period})
    verify_summary(result.verify)
    out.print("[bold]" + _("files") + "[/]")
    for role, path in result.files.items():
        out.print(f"  {role:<8} {path}")
    out.print(_("next: open %(report)s in a browser, or run") % {"report": result.verify.report})
    out.print(f"      bunkatsu plan --sql -m {result.files['mapping']} --source sqlite:///{result.files['shared']}")


def staged_demo_heading(supply_points: int, seed: int) -> None:
    out.print(f"[bold]bunkatsu demo --staged[/]: {supply_points:,} supply points (seed {seed}), wave by wave")


def staged_demo_wave(run: CutoverRun) -> None:
    """Each `cutover run` of the staged demo, as it finishes."""
    out.print(f"[bold]cutover run --wave {run.wave}[/]")
    cutover_run_summary(run)


def staged_demo_summary(result: StagedDemoResult) -> None:
    if result.changes:
        out.print(
            f"while the contracts wave was open the shared system changed ({result.changes['customers_switched']} "
            f"customers switched retailer, {result.changes['phones_corrected']} phone corrected): the final sync "
            "brought it over"
        )
    verify_summary(result.verify)
    out.print(f"journal: SELECT * FROM bunkatsu_journal in {result.files['nw']} (and {result.files['retail']})")


def revision_summary(results: list[RevisionResult]) -> None:
    for r in results:
        for path in r.initialised:
            out.print(f"{r.store}: created {path}")
        if r.revision is None:
            out.print(f"{r.store}: the store already matches the mapping; no revision written")
            continue
        out.print(f"{r.store}: wrote revision {r.revision} (revises {r.down_revision or 'base'}): {r.path}")
        for change in r.changes:
            out.print(f"    {change}")
    if any(r.revision for r in results):
        out.print("review the revision(s), commit them, then run `bunkatsu schema upgrade`")


def moved_summary(results: list[MoveResult]) -> None:
    for r in results:
        if r.sql is not None:
            sys.stdout.write(f"-- {r.store} store\n{r.sql}")
        elif r.before == r.after:
            out.print(f"{r.store}: already at {r.after or 'base'}")
        else:
            out.print(f"{r.store}: {r.before or 'base'} → {r.after or 'base'}")


def schema_status(statuses: list[StoreStatus]) -> None:
    for s in statuses:
        mark = "[green]ok[/]" if s.state == "ok" else f"[red]{s.state}[/]"
        out.print(f"{s.store} ({s.url}): {mark}: {s.summary()}")
        for d in s.differences:
            out.print(f"    {d.text}")
        if s.state != "ok":
            out.print(f"    → {s.fix()}")


def canary_planted(result: CanaryResult) -> None:
    where = "the source (the only write bunkatsu makes there)" if result.into == "source" else result.store
    out.print(f"planted {len(result.canaries)} canary customer(s), {result.rows} row(s), into {where}")
    if result.into == "source":
        out.print(f"  source: {result.store}")
    for c in result.canaries:
        out.print(f"  canary {c['id']}: " + ", ".join(f"{k} {v}" for k, v in c["values"].items()))


def canary_removed(result: CanaryResult) -> None:
    out.print(f"removed {result.canaries[0]['removed']} canary customer(s), {result.rows} row(s), from {result.store}")


def rolled_back(state: WaveState, reason: str) -> None:
    out.print(f"wave {state.wave}: rolled back ({reason}); next step: {state.next_step}")
