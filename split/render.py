"""Human forms of results (rich tables on stdout, progress on stderr). JSON forms live on the results."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
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
    from split.evidence import CheckOutcome, PackResult
    from split.plan import Plan, StorePlan, TablePlan
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
    said = _("system %(system)s  source %(dialect)s  mapping %(path)s (sha256 %(sha)s…)")
    facts = {"system": plan.system, "dialect": plan.source_dialect, "path": plan.mapping_path}
    out.print(f"[bold]plan[/] {plan.hash[:16]}…  " + said % {**facts, "sha": plan.mapping_sha256[:12]})
    table = Table(show_lines=False)
    for col in (
        "#",
        N_("wave"),
        N_("table"),
        N_("source rows"),
        N_("partitions"),
        "NW",
        N_("retail"),
        N_("encoded"),
        N_("dropped"),
    ):
        table.add_column(_(col), justify="right" if col in ("#", "source rows", "partitions") else "left")
    for t in plan.tables:
        nw, retail = t.store("nw"), t.store("retail")
        encoded = [c.name for c in retail.columns if c.transform == "encode"] if retail else []
        table.add_row(
            str(t.order + 1),
            t.wave,
            t.name,
            f"{t.source_rows:,}",
            _partitions_cell(t),
            _store_cell(nw),
            _store_cell(retail),
            ", ".join(encoded) or "–",
            ", ".join(t.dropped) or "–",
        )
    out.print(table)
    for t in plan.tables:
        for warning in t.warnings:
            err.print(f"[yellow]{_('warning:')}[/] {warning.said()}")


def _partitions_cell(t: TablePlan) -> str:
    if t.blocks:
        return f"{len(t.blocks)} " + _("by ctid (copy only)")
    return f"{len(t.partitions)}" + (" " + _("by %(key)s") % {"key": ", ".join(t.key)} if t.key else "")


def _store_cell(sp: StorePlan | None) -> str:
    return "–" if sp is None else _("%(n)s cols") % {"n": len(sp.columns)} + f" · {sp.scope}"


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
    _store_lines(result.stores)
    if result.snapshot:
        out.print("  " + _("every partition read PostgreSQL snapshot %(id)s") % {"id": result.snapshot})
    if result.capture:
        c = result.capture
        said = (
            _("capture slot %(slot)s started at %(position)s; `sync --follow` applies what changes from here")
            if c["created"]
            else _(
                "capture slot %(slot)s already running: the copy's changes are applied again, harmlessly; "
                "`sync --follow` applies what changes from here"
            )
        )
        out.print("  " + said % {"slot": c["slot"], "position": c["position"]})
        if c["uncaptured"]:
            said = _("not captured (no primary key as replica identity; checksum sync covers them): %(tables)s")
            out.print("  " + said % {"tables": ", ".join(c["uncaptured"])})
    out.print("  " + _("finished in %(s)s s") % {"s": f"{result.seconds:.1f}"})


def sync_summary(result: SyncResult) -> None:
    table = Table(title=f"sync {result.run_id[:12]} · {_('plan')} {result.plan_hash[:12]}…")
    for column in (N_("table"), N_("ranges"), N_("differing"), N_("NW +/~/−"), N_("retail +/~/−")):
        table.add_column(_(column), justify="left" if column == "table" else "right")
    for t in result.tables:
        cells = [
            "/".join(str(c[k]) for k in ("inserted", "updated", "deleted")) if (c := t.changes.get(store)) else "—"
            for store in ("nw", "retail")
        ]
        table.add_row(t.name, str(t.ranges), str(t.differing), *cells)
    out.print(table)
    _store_lines(result.stores)
    if result.snapshot:
        out.print("  " + _("every key range read PostgreSQL snapshot %(id)s") % {"id": result.snapshot})
    counts = {k: f"{result.total(k):,}" for k in ("inserted", "updated", "deleted")}
    totals = _("%(inserted)s inserted, %(updated)s updated, %(deleted)s deleted") % counts
    out.print(f"  {totals}; " + _("finished in %(s)s s") % {"s": f"{result.seconds:.1f}"})


def follow_summary(result: FollowResult) -> None:
    table = Table(title=f"sync --follow · {_('slot')} {result.slot}")
    for column in (N_("store"), N_("inserted"), N_("updated"), N_("deleted")):
        table.add_column(_(column), justify="left" if column == "store" else "right")
    for store, counts in result.rows.items():
        table.add_row(_(store), *(f"{counts[k]:,}" for k in ("inserted", "updated", "deleted")))
    out.print(table)
    said = _(
        "%(changes)s change(s) in %(transactions)s transaction(s), %(batches)s batch(es); both stores hold the "
        "source up to %(position)s (%(behind)s byte(s) of WAL behind)"
    )
    tally = {
        "changes": f"{result.changes:,}",
        "transactions": f"{result.transactions:,}",
        "batches": str(result.batches),
    }
    out.print("  " + said % {**tally, "position": result.position, "behind": f"{result.behind_bytes:,}"})
    if result.resynced:
        said = _("compared by checksum sync (the slot names no keys for them): %(tables)s")
        out.print("  " + said % {"tables": ", ".join(result.resynced)})
    if result.read_whole:
        said = _(
            "keys read whole from the store, so that it was told none it does not hold (the NW store could not "
            "stand in): %(tables)s"
        )
        out.print("  " + said % {"tables": ", ".join(_plain(t) for t in result.read_whole)})
    out.print("  " + _("finished in %(s)s s") % {"s": f"{result.seconds:.1f}"})


def capture_table(statuses: list[SlotStatus], *, binlog: bool = False) -> None:
    if binlog:
        out.print(
            _("a MariaDB/MySQL capture keeps nothing on the server: `bunkatsu cutover status` shows its position")
        )
        return
    if not statuses:
        out.print(_("no bunkatsu capture slot on this server"))
        return
    table = Table(title=_("capture slots"))
    for column in (
        N_("slot"), N_("database"), N_("active"), N_("applied up to"), N_("behind"), N_("WAL kept"), N_("WAL status")
    ):  # fmt: skip
        table.add_column(_(column), justify="right" if column in ("behind", "WAL kept") else "left")
    for s in statuses:
        table.add_row(
            s.name, s.database, _("yes") if s.active else _("no"), s.confirmed_lsn or "—",
            _bytes(s.behind_bytes), _bytes(s.retained_bytes), s.wal_status or "—",
        )  # fmt: skip
    out.print(table)


def capture_dropped(name: str, existed: bool, *, binlog: bool) -> None:
    if binlog:
        said = _("capture %(name)s: a MariaDB/MySQL source holds nothing of it; the binlog expires on its own")
    elif existed:
        said = _("slot %(name)s: dropped, with its publication")
    else:
        said = _("slot %(name)s: not found; publication removed if any")
    _say(said % {"name": name})


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cutover_table(status: CutoverStatus) -> None:
    said = _("cutover of %(system)s · mapping %(sha)s…")
    table = Table(title=said % {"system": status.system, "sha": status.mapping_sha256[:12]})
    for column in (N_("wave"), N_("state"), N_("next step"), N_("waits for"), N_("last entry")):
        table.add_column(_(column))
    switched = {w.wave for w in status.waves if w.state == "switched"}
    for w in status.waves:
        waiting = [d for d in w.depends_on if d not in switched]
        last = f"{w.last.at:%Y-%m-%d %H:%M} {w.last.operator}" if w.last and w.last.at else ""
        colour = "green" if w.state == "switched" else "red" if w.failed else ""
        state = f"[{colour}]{w.said()}[/]" if colour else w.said()
        table.add_row(w.wave, state, w.next_step or "—", ", ".join(waiting) or "—", last)
    out.print(table)
    if status.capture:
        c = status.capture
        said = _("capture %(name)s: applied up to %(lsn)s, %(behind)s behind, %(kept)s of WAL kept on the source")
        lag = {"behind": _bytes(c.behind_bytes), "kept": _bytes(c.retained_bytes)}
        out.print("  " + said % {"name": c.name, "lsn": c.confirmed_lsn, **lag})
    for w in status.waves:
        if w.failed:
            said = _("%(step)s failed: %(message)s") % {"step": w.failed.step, "message": w.failed.message}
            out.print(f"  {w.wave}: {said}")


def cutover_run_summary(result: CutoverRun) -> None:
    for s in result.steps:
        colour = {"passed": "green", "failed": "red"}.get(s.outcome, "yellow")
        outcome = {"passed": N_("passed"), "failed": N_("failed"), "declined": N_("declined")}.get(s.outcome, s.outcome)
        out.print(f"  {s.step:<13} [{colour}]{_(outcome)}[/] ({s.seconds:.1f} s) {s.message}")
        if s.report:
            out.print("                " + _("report:") + f" {s.report}")
    said = _("wave %(wave)s: %(state)s; next step: %(step)s")
    out.print(said % {"wave": result.wave, "state": result.state.said(), "step": result.state.next_step or "—"})


def _store_lines(stores: dict[str, str]) -> None:
    """`  NW      postgresql://…` per store, aligned by display width (a Japanese role is two cells a character)."""
    names = {role: _(role) for role in stores}
    width = max((cell_len(n) for n in names.values()), default=0)
    for role, url in stores.items():
        out.print(f"  {names[role]}{' ' * (width - cell_len(names[role]))} {url}")


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
            _plain(c.table or ""),  # names and findings come from the stores: the retail company chose them
            _plain(c.column or ""),
            "" if c.observed is None else f"{c.observed:,}",
            "" if c.expected is None else f"{c.expected:,}",
            _plain(c.message),
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
            _plain(messages[0]) if n == 1 else "",
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
    said = _(
        "%(tables)s tables, %(columns)s columns, %(views)s views, %(routines)s routines/triggers; "
        "sampled up to %(rows)s rows per table"
    )
    counts = {"tables": len(schema.tables), "columns": sum(len(t.columns) for t in schema.tables.values())}
    counts |= {"views": len(views), "routines": len(found.readers) - len(views)}
    said %= {**counts, "rows": found.sample_rows or _("all")}
    out.print(f"[bold]discover[/] {found.source} ({found.dialect}): {said}")
    if found.mapping and found.mapping_sha256:
        out.print(_("mapping %(path)s (sha256 %(sha)s…)") % {"path": found.mapping, "sha": found.mapping_sha256[:12]})
    table = Table(show_lines=False)
    for col in (N_("finding"), N_("object"), N_("detail")):
        table.add_column(_(col))
    suggestions = {(c.table, c.column): c for c in found.columns}

    def detail(t: str, c: str) -> str:
        s = suggestions[(t, c)].suggestion
        return _plain(f"{s.kind}: {s.evidence}") if s else _("no identifier recognised")

    for t in cov.unmapped_tables:
        cols = found.columns_of(t)
        kinds = sorted({c.suggestion.kind for c in cols if c.suggestion})
        said = _("%(n)s columns") % {"n": len(cols)}
        table.add_row(
            f"[red]{_('unmapped table')}[/]",
            _plain(t),
            said + ("; " + _("kinds: %(kinds)s") % {"kinds": ", ".join(kinds)} if kinds else ""),
        )
    for t, c in cov.unmapped_columns:
        table.add_row(f"[red]{_('unmapped column')}[/]", _plain(f"{t}.{c}"), detail(t, c))
    vanished = _("in the mapping, not in the source")
    for t in cov.stale_tables:
        table.add_row(f"[red]{_('vanished table')}[/]", _plain(t), vanished)
    for t, c in cov.stale_columns:
        table.add_row(f"[red]{_('vanished column')}[/]", _plain(f"{t}.{c}"), vanished)
    for reader in found.readers:
        kept = reader.kept_from_retail(found.mapping_model)
        where = " " + _("on %(table)s") % {"table": reader.on_table} if reader.on_table else ""
        if kept:
            said = _("touches columns kept from retail: %(columns)s") % {"columns": ", ".join(kept)}
            table.add_row(f"[yellow]{_plain(reader.type)}[/]", _plain(reader.name + where), _plain(said))
        else:
            reads = ", ".join(reader.reads) or _("no source table")
            said = _("reads %(tables)s; touches no column kept from retail") % {"tables": reads}
            table.add_row(_plain(reader.type), _plain(reader.name + where), _plain(said))
    for review in found.kinds_to_review:
        said = _("mapped %(mapped)s") % {"mapped": f"{review.mapped_to}/{review.mapped_kind or '–'}"}
        table.add_row(
            f"[yellow]{_('kind to review')}[/]",
            _plain(f"{review.table}.{review.column}"),
            f"{said}; {detail(review.table, review.column)}",
        )
    if table.row_count:
        out.print(table)
    if cov.covered:
        said = _("every source table and column is in the mapping, and nothing it names has vanished")
        out.print(f"[green]{_('covered')}[/]: {said}")
    else:
        n = len(cov.unmapped_tables) + len(cov.unmapped_columns) + len(cov.stale_tables) + len(cov.stale_columns)
        said = _("%(n)s finding(s); `plan`, `copy` and `dry-run` refuse this source until the mapping covers it")
        out.print(f"[red]{_('NOT COVERED')}[/]: " + said % {"n": n})
    if found.draft:
        out.print(_("draft: %(path)s (additions marked REVIEW, NW only until reviewed)") % {"path": found.draft})


def audit_summary(result: AuditResult) -> None:
    d = result.to_dict()
    colour = "red" if d["views"] else "green"
    said = _("ownership from %(timeline)s · %(n)s %(org)s views")
    said %= {"timeline": d["timeline"], "n": f"{d['retail_views_scanned']:,}", "org": d["retail_org"]}
    out.print(f"[bold]audit-log[/] {d['log']} · {said}")
    views = _("%(n)s improper view(s)") % {"n": f"{d['views']:,}"}
    said = _(
        "by %(viewers)s people of %(customers)s customers of %(retailers)s other retailer(s); first %(first)s, last %(last)s"
    )
    counts = {k: f"{d[k]:,}" for k in ("viewers", "customers", "retailers")}
    said %= {**counts, "first": d["first_view"] or "–", "last": d["last_view"] or "–"}
    out.print(f"[bold {colour}]{views}[/] {said}")
    if d["unjudged"]:
        said = _("%(n)s view(s) without a key or a readable time could not be judged") % {"n": f"{d['unjudged']:,}"}
        out.print(f"[yellow]{said}[/]")
    if d["per_day"]:
        table = Table(title=_("per day"))
        for col in (N_("day"), N_("views"), N_("people"), N_("customers"), N_("retailers")):
            table.add_column(_(col), justify="left" if col == "day" else "right")
        for day in d["per_day"]:
            table.add_row(day["day"], *(f"{day[k]:,}" for k in ("views", "viewers", "customers", "retailers")))
        out.print(table)


def step_printer(as_json: bool) -> Callable[[str], None]:
    """`checking retail.tables…` lines on a terminal while verify works (never into --json output)."""

    def step(name: str) -> None:
        if not as_json and err.is_terminal:
            err.print("[dim]" + _("checking %(check)s…") % {"check": name} + "[/]")

    return step


def sample_summary(summary: SampleSummary, url: str) -> None:
    said = _("reference database at %(url)s: %(n)s supply points, seed %(seed)s")
    out.print(said % {"url": url, "n": f"{summary.supply_points:,}", "seed": summary.seed})
    for table, rows in summary.rows.items():
        out.print(f"  {table:<24} {rows:>10,}")


def dry_run_summary(result: DryRunResult) -> None:
    said = _("into scratch stores at %(where)s (%(n)s table(s))")
    out.print("[bold]dry-run[/] " + said % {"where": result.scratch, "n": len(result.tables)})
    if result.sample:
        said = _("on a sample: %(n)s values of %(anchor)s")
        out.print("  " + said % {"n": f"{result.sample.values:,}", "anchor": result.sample.anchor})
    copy_summary(result.copy)
    verify_summary(result.verify)
    out.print(_("scratch stores removed"))


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
    for role, path in result.files.items():  # the files' names (shared, nw, retail, mapping, report)
        out.print(f"  {role:<8} {path}")
    out.print(_("next: open %(report)s in a browser, or run") % {"report": result.verify.report})
    out.print(f"      bunkatsu plan --sql -m {result.files['mapping']} --source sqlite:///{result.files['shared']}")


def staged_demo_heading(supply_points: int, seed: int) -> None:
    said = _("%(n)s supply points (seed %(seed)s), wave by wave") % {"n": f"{supply_points:,}", "seed": seed}
    out.print(f"[bold]bunkatsu demo --staged[/]: {said}")


def staged_demo_wave(run: CutoverRun) -> None:
    """Each `cutover run` of the staged demo, as it finishes."""
    out.print(f"[bold]cutover run --wave {run.wave}[/]")
    cutover_run_summary(run)


def staged_demo_summary(result: StagedDemoResult) -> None:
    if result.changes:
        said = _(
            "while the contracts wave was open the shared system changed (%(switched)s customers switched retailer, "
            "%(corrected)s phone corrected): the final sync brought it over"
        )
        out.print(
            said % {"switched": result.changes["customers_switched"], "corrected": result.changes["phones_corrected"]}
        )
    verify_summary(result.verify)
    said = _("journal: SELECT * FROM bunkatsu_journal in %(nw)s (and %(retail)s)")
    out.print(said % {"nw": result.files["nw"], "retail": result.files["retail"]})


def revision_summary(results: list[RevisionResult]) -> None:
    for r in results:
        for path in r.initialised:
            out.print(f"{r.store}: " + _("created %(path)s") % {"path": path})
        if r.revision is None:
            out.print(f"{r.store}: " + _("the store already matches the mapping; no revision written"))
            continue
        said = _("wrote revision %(revision)s (revises %(down)s): %(path)s")
        out.print(f"{r.store}: " + said % {"revision": r.revision, "down": r.down_revision or "base", "path": r.path})
        for change in r.changes:
            out.print(f"    {change}")
    if any(r.revision for r in results):
        out.print(_("review the revision(s), commit them, then run `bunkatsu schema upgrade`"))


def moved_summary(results: list[MoveResult]) -> None:
    for r in results:
        if r.sql is not None:
            sys.stdout.write(f"-- {r.store} store\n{r.sql}")
        elif r.before == r.after:
            out.print(f"{r.store}: " + _("already at %(revision)s") % {"revision": r.after or "base"})
        else:
            out.print(f"{r.store}: {r.before or 'base'} → {r.after or 'base'}")


def schema_status(statuses: list[StoreStatus]) -> None:
    for s in statuses:
        mark = f"[green]{_('ok')}[/]" if s.state == "ok" else f"[red]{_(s.state)}[/]"
        out.print(f"{s.store} ({_plain(s.url)}): {mark}: {_plain(s.summary())}")
        for d in s.differences:  # names the store's own tables and columns
            out.print(f"    {_plain(d.text)}")
        if s.state != "ok":
            out.print(f"    → {_plain(s.fix())}")


def canary_planted(result: CanaryResult) -> None:
    where = _("the source (the only write bunkatsu makes there)") if result.into == "source" else result.store
    said = _("planted %(n)s canary customer(s), %(rows)s row(s), into %(where)s")
    out.print(said % {"n": len(result.canaries), "rows": result.rows, "where": where})
    if result.into == "source":
        out.print(f"  {_('source')}: {result.store}")
    for c in result.canaries:
        out.print(f"  {_('canary')} {c['id']}: " + ", ".join(f"{k} {v}" for k, v in c["values"].items()))


def canary_removed(result: CanaryResult) -> None:
    said = _("removed %(n)s canary customer(s), %(rows)s row(s), from %(store)s")
    out.print(said % {"n": result.canaries[0]["removed"], "rows": result.rows, "store": result.store})


def rolled_back(state: WaveState, reason: str) -> None:
    said = _("wave %(wave)s: rolled back (%(reason)s); next step: %(step)s")
    out.print(said % {"wave": state.wave, "reason": reason, "step": state.next_step})


def evidence_packed(result: PackResult) -> None:
    said = _("%(files)s files, %(reports)s gate reports") % {"files": result.files, "reports": len(result.reports)}
    _say(f"pack: {result.path} ({said})")
    for store, head in result.chains.items():
        said = _("%(store)s chain: %(n)s records, head %(head)s")
        _say("  " + said % {"store": _(store), "n": head["records"], "head": head["head"][:16]})
    if result.signature:
        _say("  " + _("signature: %(file)s") % {"file": result.signature})
    for defect in result.defects:
        _say("  " + _("broken: %(defect)s") % {"defect": defect})


def evidence_checked(result: CheckOutcome) -> None:
    if result.difference:
        said = _("evidence pack %(path)s: DIFFERS — %(difference)s")
        _say(said % {"path": result.path, "difference": result.difference})
        return
    parts = [_("%(n)s files") % {"n": result.files}]
    chains = [_("%(store)s %(n)s records") % {"store": _(s), "n": c["records"]} for s, c in result.chains.items()]
    parts.append(_("chains %(chains)s") % {"chains": ", ".join(chains)})
    if result.signature:
        parts.append(_("signature %(state)s") % {"state": _(result.signature)})
    parts += [f"{_(store)}: {said}" for store, said in result.stores.items()]
    _say(_("evidence pack %(path)s: intact (%(details)s)") % {"path": result.path, "details": "; ".join(parts)})


def _plain(text: str) -> str:
    """Text from a database (a table or column name, a finding that quotes one) shown as it is: `x[/]` is a
    name, not rich markup — as markup it would end the run in an error instead of the verdict."""
    return escape(text)


def _say(line: str) -> None:
    """A plain line: paths and findings printed as they are (no markup, never wrapped)."""
    out.print(line, markup=False, soft_wrap=True)
