"""The `bunkatsu` command: a thin Typer layer over `split.api`.

Heavy libraries (SQLAlchemy engines, Dask, Great Expectations) are imported inside the commands so
that `bunkatsu --help` answers at once. `main` is the one place that turns errors into messages and
exit codes: 0 good, 1 violation found, 2 usage/mapping/configuration (nothing written), 3 runtime.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from split.errors import BunkatsuError
from split.i18n import N_

if TYPE_CHECKING:
    from split.audit import LogSpec
    from split.schema.command import MoveResult

app = typer.Typer(
    name="bunkatsu",
    help="Physically split a shared NW/retail database (物理分割) and prove the split is clean.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # a traceback only for bugs, and then a plain one
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

MappingOpt = Annotated[
    Path | None,
    typer.Option(
        "--mapping", "-m", envvar="BUNKATSU_MAPPING", show_envvar=True, help="Field-ownership mapping (YAML)."
    ),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        "--source", envvar="BUNKATSU_SOURCE_URL", show_envvar=True, help="SQLAlchemy URL of the shared source database."
    ),
]
NwOpt = Annotated[
    str | None, typer.Option("--nw", envvar="BUNKATSU_NW_URL", show_envvar=True, help="SQLAlchemy URL of the NW store.")
]
RetailOpt = Annotated[
    str | None,
    typer.Option(
        "--retail", envvar="BUNKATSU_RETAIL_URL", show_envvar=True, help="SQLAlchemy URL of the retail store."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document on stdout instead of tables.")]
MigrationsOpt = Annotated[
    Path | None,
    typer.Option(
        "--migrations",
        envvar="BUNKATSU_MIGRATIONS",
        show_envvar=True,
        help="Folder of the stores' Alembic environments (<dir>/nw, <dir>/retail). [default: migrations]",
    ),
]
StoreOpt = Annotated[str, typer.Option("--store", help="nw, retail or both.")]
WaveOpt = Annotated[list[str] | None, typer.Option("--wave", help="Only this wave (repeatable).")]
TablesOpt = Annotated[list[str] | None, typer.Option("--tables", help="Only this table (repeatable).")]
ReportOpt = Annotated[Path | None, typer.Option("--report", help="Write index.html, report.json, junit.xml here.")]
RolesOpt = Annotated[
    Path | None,
    typer.Option(
        "--roles",
        envvar="BUNKATSU_ROLES",
        show_envvar=True,
        help="YAML listing each company's database roles (nw: [...], retail: [...]): runs the grants check.",
    ),
]
WorkersOpt = Annotated[int, typer.Option(help="Key ranges worked on at once (1 = serial, same code path).")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        envvar="DASK_SCHEDULER_ADDRESS",
        help="Run the key ranges on this dask.distributed scheduler (tcp://host:8786) instead of locally.",
    ),
]

# The access log (`audit-log`, and `verify`'s audit-log check); the defaults are the reference database's.
_LOG = "Access log"
LogTableOpt = Annotated[str, typer.Option("--log-table", help="The access-log table.", rich_help_panel=_LOG)]
UserColOpt = Annotated[str, typer.Option("--user-col", help="Column: who viewed.", rich_help_panel=_LOG)]
OrgColOpt = Annotated[str, typer.Option("--org-col", help="Column: the viewer's organisation.", rich_help_panel=_LOG)]
KeyColOpt = Annotated[
    str, typer.Option("--key-col", help="Column: the record viewed (a supply point id).", rich_help_panel=_LOG)
]
TimeColOpt = Annotated[str, typer.Option("--time-col", help="Column: when.", rich_help_panel=_LOG)]
RetailOrgOpt = Annotated[
    str, typer.Option("--retail-org", help="The organisation value of the retail side.", rich_help_panel=_LOG)
]
SinceOpt = Annotated[
    str | None,
    typer.Option(help="Only views at or after this date (e.g. the switch date).", rich_help_panel=_LOG),
]
UntilOpt = Annotated[str | None, typer.Option(help="Only views before this date.", rich_help_panel=_LOG)]


@app.callback()
def _everywhere(
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            envvar="BUNKATSU_LANG",
            show_envvar=True,
            help="ja or en: every human line and report. [default: from LC_ALL/LANG, ja_JP.* → ja]",
        ),
    ] = None,
) -> None:
    """Options for every command, given before it: `bunkatsu --lang ja verify …`."""
    from split.settings import language_option

    language_option(lang)


def _emit_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


@app.command("sample-db", epilog="Example: bunkatsu sample-db sqlite:///shared.db --supply-points 200 --seed 1")
def sample_db(
    url: Annotated[str, typer.Argument(help="SQLAlchemy URL; PostgreSQL/MariaDB databases are created if missing.")],
    supply_points: Annotated[int, typer.Option(help="Number of supply points (供給地点).")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same rows, on every engine.")] = 1,
    interval_days: Annotated[int, typer.Option(help="Days of 30-minute readings per supply point.")] = 4,
    replace: Annotated[bool, typer.Option("--replace", help="Drop and rebuild existing reference tables.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the reference shared 託送 database (deterministic for a seed) on SQLite, PostgreSQL or MariaDB."""
    from split import api
    from split.render import sample_summary
    from split.settings import mask_url

    summary = api.sample_db(url, supply_points, seed, interval_days=interval_days, replace=replace)
    if as_json:
        _emit_json({"url": mask_url(url), "supply_points": supply_points, "seed": seed, "rows": summary.rows})
        return
    sample_summary(summary, mask_url(url))


@app.command(
    epilog="Examples: bunkatsu discover --source postgresql://…/shared --draft mappings/draft.yaml   (no mapping yet)\n\n"
    "          bunkatsu discover -m mappings/takuso.yaml --source sqlite:///shared.db --draft takuso-next.yaml"
)
def discover(
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            envvar="BUNKATSU_MAPPING",
            show_envvar=True,
            help="Mapping to compare with. [default: none: every table is unmapped]",
        ),
    ] = None,
    source: SourceOpt = None,
    sample_rows: Annotated[
        int | None,
        typer.Option(help="Rows sampled per table to suggest kinds (0: every row). [default: 1000]"),
    ] = None,
    draft: Annotated[
        Path | None,
        typer.Option(
            "--draft",
            help="Write a mapping draft here: the mapping with what is missing added as NW only, marked REVIEW.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Inventory the source: tables, columns, keys, views, routines and triggers; what the mapping does not cover;
    which views and routines touch columns kept from retail; suggested kinds from sampled values (counts only).

    Exit codes: 0 the mapping covers the source, 1 it does not (unmapped or vanished tables/columns)."""
    from split import api

    result = api.discover(mapping, source, sample_rows=sample_rows, draft=draft)
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import discover_report

        discover_report(result)
    raise typer.Exit(result.exit_code)


@app.command(
    epilog="Examples: bunkatsu plan -m mappings/takuso.yaml --source sqlite:///shared.db\n\n"
    "          bunkatsu plan --sql   (with BUNKATSU_MAPPING and BUNKATSU_SOURCE_URL set)"
)
def plan(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    as_json: JsonOpt = False,
    sql: Annotated[bool, typer.Option("--sql", help="Print the exact SELECT each store gets.")] = False,
) -> None:
    """Show what goes where: per table and store the columns, row predicate, partitions and order. Fails closed."""
    from split import api

    result = api.plan(mapping, source)
    if as_json:
        _emit_json(result.to_dict())
    elif sql:
        from split.plan import plan_sql

        sys.stdout.write(plan_sql(result) + "\n")
    else:
        from split.render import plan_table

        plan_table(result)


@app.command(
    epilog="Example: BUNKATSU_ENCODE_KEY=… bunkatsu copy -m mappings/takuso.yaml --source sqlite:///shared.db "
    "--nw sqlite:///nw.db --retail sqlite:///retail.db --workers 2"
)
def copy(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    wave: WaveOpt = None,
    tables: TablesOpt = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    migrations: MigrationsOpt = None,
    capture: Annotated[
        bool,
        typer.Option(
            "--capture",
            help="Start change capture at the copy's own starting point; `sync --follow` then applies what "
            "changed after it. PostgreSQL: a logical replication slot and a publication on the source (the only "
            "objects bunkatsu makes there). MariaDB/MySQL: the row binlog's position, recorded in the stores.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Split the source into the NW and retail stores. Resumable: a re-run skips finished partitions."""
    from split import api
    from split.render import BarProgress, copy_summary

    result = api.copy(
        mapping,
        source,
        nw,
        retail,
        workers=workers,
        waves=wave,
        tables=tables,
        scheduler=scheduler,
        migrations=migrations,
        progress=BarProgress(enabled=sys.stderr.isatty()),
        capture_changes=capture,
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        copy_summary(result)


@app.command(
    epilog="Example: BUNKATSU_ENCODE_KEY=… bunkatsu sync -m mappings/takuso.yaml --source postgresql://…/shared "
    "--nw postgresql://…/nw --retail postgresql://…/retail --wave contracts"
)
def sync(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    wave: WaveOpt = None,
    tables: TablesOpt = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    migrations: MigrationsOpt = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Apply the changes captured since `copy --capture` (PostgreSQL, MariaDB/MySQL), instead of "
            "comparing checksums; "
            "runs until interrupted, with a line of lag.",
        ),
    ] = False,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="With --follow: stop once caught up (the final sync of a wave).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Bring copied stores up to date with the source: changed, new and deleted rows, and customers who switched.

    Compares key-range checksums and rewrites only the rows of ranges that differ. Safe to re-run. With
    --follow, applies the captured changes instead: seconds for a few thousand changes, whatever the size."""
    from split import api
    from split.render import BarProgress, follow_summary, sync_summary
    from split.sync import SyncResult

    if until_idle and not follow:
        raise typer.BadParameter("--until-idle goes with --follow", param_hint="--until-idle")
    result = api.sync(
        mapping,
        source,
        nw,
        retail,
        workers=workers,
        scheduler=scheduler,
        waves=wave,
        tables=tables,
        migrations=migrations,
        progress=BarProgress(enabled=sys.stderr.isatty() and not as_json),
        follow=follow,
        until_idle=until_idle,
    )
    if as_json:
        _emit_json(result.to_dict())
    elif isinstance(result, SyncResult):
        sync_summary(result)
    else:
        follow_summary(result)


@app.command(
    epilog="Examples: bunkatsu verify -m mappings/takuso.yaml --source sqlite:///shared.db --nw sqlite:///nw.db "
    "--retail sqlite:///retail.db --report report/\n\n"
    "          bunkatsu verify --post-split --roles roles.yaml --since 2027-04-01 --report evidence/   "
    "(nightly; URLs and the NW system's log from BUNKATSU_*_URL)"
)
def verify(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    report: ReportOpt = None,
    workers: WorkersOpt = 2,
    scheduler: SchedulerOpt = None,
    post_split: Annotated[
        bool, typer.Option("--post-split", help="No source: the NW store is the authority (scheduled runs).")
    ] = False,
    wave: WaveOpt = None,
    tables: TablesOpt = None,
    migrations: MigrationsOpt = None,
    roles: RolesOpt = None,
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url",
            help="Run the audit-log check on this access log (with --post-split also from BUNKATSU_LOG_URL): "
            "the NW system's log, with --since the switch date.",
            rich_help_panel=_LOG,
        ),
    ] = None,
    log_table: LogTableOpt = "access_log",
    user_col: UserColOpt = "user_id",
    org_col: OrgColOpt = "organisation",
    key_col: KeyColOpt = "supply_point_id",
    time_col: TimeColOpt = "viewed_at",
    retail_org: RetailOrgOpt = "RETAIL",
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Prove the split: no non-public column or value on the retail side, nothing lost on the NW side.

    Exit 0 when every check passes, 1 when any finds a violation, 3 when one could not run (nothing proven).
    With --wave/--tables the row checks cover those tables; the retail store is still checked whole for
    tables and leaked values. After the split (--post-split), --roles adds the grants check and the NW system's
    access log (--log-url, BUNKATSU_LOG_URL) the audit-log check.
    """
    from split import api
    from split.render import step_printer, verify_summary

    result = api.verify(
        mapping,
        source,
        nw,
        retail,
        report_dir=report,
        workers=workers,
        scheduler=scheduler,
        post_split=post_split,
        migrations=migrations,
        waves=wave,
        tables=tables,
        roles=roles,
        log_url=log_url,
        log_spec=_log_spec(log_table, user_col, org_col, key_col, time_col, retail_org, since, until),
        on_step=step_printer(as_json),
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        verify_summary(result)
    raise typer.Exit(result.exit_code)


@app.command(
    epilog="Example: bunkatsu grants --roles roles.yaml --nw postgresql://audit@nw-db/nw "
    "--retail postgresql://audit@retail-db/retail --post-split"
)
def grants(
    nw: NwOpt = None,
    retail: RetailOpt = None,
    roles: RolesOpt = None,
    post_split: Annotated[
        bool,
        typer.Option("--post-split", help="After the last wave: NW roles that can write the retail store fail too."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Prove from the servers' catalogues that no retail role can log in to or read the NW store (directly, through
    a role, through PUBLIC, by default privileges, as a superuser) and that no foreign server, dblink or FEDERATED
    table on the retail side reaches it. PostgreSQL and MariaDB/MySQL. Also part of `verify --roles`.

    Exit 0 clean, 1 a finding (each names the role, the object and the path), 3 could not prove."""
    from split import api
    from split.render import verify_summary

    result = api.grants(nw, retail, roles=roles, post_split=post_split)
    if as_json:
        _emit_json(result.to_dict())
    else:
        verify_summary(result)
    raise typer.Exit(result.exit_code)


@app.command(
    "dry-run",
    epilog="Examples: bunkatsu dry-run -m mappings/takuso.yaml --source postgresql://…/shared --report rehearsal/\n\n"
    "          bunkatsu dry-run --wave contracts --scratch-url postgresql://postgres@127.0.0.1:5432",
)
def dry_run(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    scratch_url: Annotated[
        str | None,
        typer.Option(
            "--scratch-url",
            envvar="BUNKATSU_SCRATCH_URL",
            show_envvar=True,
            help="PostgreSQL/MariaDB server for the scratch stores (databases made and dropped here). "
            "[default: temporary SQLite files]",
        ),
    ] = None,
    wave: WaveOpt = None,
    tables: TablesOpt = None,
    report: ReportOpt = None,
    workers: WorkersOpt = 2,
    sample: Annotated[
        int | None,
        typer.Option(
            "--sample",
            help="Rehearse on N values of the anchor column (e.g. N supply points) with all their rows, "
            "and the rows those refer to.",
        ),
    ] = None,
    sample_by: Annotated[
        str | None,
        typer.Option("--sample-by", help="The anchor column. [default: the column follow scopes join on most]"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rehearse the split: copy into scratch stores, verify, write the report, remove the scratch (also on failure
    or Ctrl-C). A subset (--wave/--tables) brings the tables it needs first (foreign-key parents, follow targets).

    Exit codes as `verify`: 0 the rehearsal passed, 1 a check found a violation, 3 could not prove."""
    from split import api
    from split.render import BarProgress, dry_run_summary, step_printer

    result = api.dry_run(
        mapping,
        source,
        scratch_url=scratch_url,
        waves=wave,
        tables=tables,
        report_dir=report,
        workers=workers,
        sample=sample,
        sample_by=sample_by,
        progress=BarProgress(enabled=sys.stderr.isatty() and not as_json),
        on_step=step_printer(as_json),
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        dry_run_summary(result)
    raise typer.Exit(result.exit_code)


@app.command(epilog="Example: bunkatsu demo --dir /tmp/bunkatsu-demo --supply-points 500")
def demo(
    dir: Annotated[Path, typer.Option("--dir", help="Folder for the demo databases (recreated).")] = Path(
        "bunkatsu-demo"
    ),
    supply_points: Annotated[int, typer.Option(help="Size of the reference database.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed of the reference database.")] = 1,
    staged: Annotated[
        bool, typer.Option("--staged", help="Walk every wave through `cutover run`, with a source change synced.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Build the reference database on SQLite, split it into NW and retail stores, and show what went where."""
    from split import api
    from split.render import BarProgress, demo_summary, staged_demo_heading, staged_demo_summary, staged_demo_wave

    progress = BarProgress(enabled=sys.stderr.isatty() and not as_json)
    if staged:
        if not as_json:
            staged_demo_heading(supply_points, seed)
        on_run = None if as_json else staged_demo_wave
        staged_result = api.demo_staged(dir, supply_points, seed, progress=progress, on_run=on_run)
        if as_json:
            _emit_json(staged_result.to_dict())
        else:
            staged_demo_summary(staged_result)
        raise typer.Exit(staged_result.verify.exit_code)
    result = api.demo(dir, supply_points, seed, progress=progress)
    if as_json:
        _emit_json(result.to_dict())
    else:
        demo_summary(result, supply_points, seed)
    raise typer.Exit(result.verify.exit_code)


# ── schema ─────────────────────────────────────────────────────────────────────────────────

schema_app = typer.Typer(
    help="Target schemas as Alembic revisions derived from source + mapping, one environment per store.",
    epilog="Example: bunkatsu schema revision -m initial, review migrations/*/versions/, bunkatsu schema upgrade",
    no_args_is_help=True,
)
app.add_typer(schema_app, name="schema")
ToOpt = Annotated[str, typer.Option("--to", help="Target revision: an id, head, base, +1, -1 …")]
SqlOpt = Annotated[bool, typer.Option("--sql", help="Print the DDL instead of running it (Alembic offline mode).")]


@schema_app.command(
    "revision",
    epilog='Example: bunkatsu schema revision --store retail -m "memo goes NW-only" --mapping mappings/takuso.yaml '
    "--source sqlite:///shared.db --retail sqlite:///retail.db",
)
def schema_revision(
    message: Annotated[str | None, typer.Option("--message", "-m", help="Revision message.")] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", envvar="BUNKATSU_MAPPING", show_envvar=True, help="Field-ownership mapping (YAML)."),
    ] = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    store: StoreOpt = "both",
    migrations: MigrationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an autogenerated revision per store: what the store (at head) lacks or has beyond the mapping."""
    from split import api
    from split.render import revision_summary

    results = api.schema_revision(mapping, source, nw, retail, store=store, message=message, migrations=migrations)
    if as_json:
        _emit_json({"revisions": [r.to_dict() for r in results]})
    else:
        revision_summary(results)


@schema_app.command(
    "upgrade",
    epilog="Examples: bunkatsu schema upgrade --nw … --retail …\n\n"
    "          bunkatsu schema upgrade --store retail --sql > retail.sql",
)
def schema_upgrade(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    store: StoreOpt = "both",
    to: ToOpt = "head",
    sql: SqlOpt = False,
    migrations: MigrationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply the stores' revisions up to head (or --to). The mapping is not needed, the revisions are; a store that
    is the source (when --source or BUNKATSU_SOURCE_URL names it) or holds tables bunkatsu did not make is refused."""
    from split import api

    _moved(api.schema_upgrade(nw, retail, source=source, store=store, to=to, sql=sql, migrations=migrations), as_json)


@schema_app.command("downgrade", epilog="Example: bunkatsu schema downgrade --store retail --to -1")
def schema_downgrade(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    store: StoreOpt = "both",
    to: ToOpt = "-1",
    sql: SqlOpt = False,
    migrations: MigrationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Undo revisions down to --to (default: one step). Columns that come back are empty until the next copy."""
    from split import api

    _moved(api.schema_downgrade(nw, retail, source=source, store=store, to=to, sql=sql, migrations=migrations), as_json)


def _moved(results: list[MoveResult], as_json: bool) -> None:
    from split.render import moved_summary

    if as_json:
        _emit_json({"stores": [r.to_dict() for r in results]})
    else:
        moved_summary(results)


@schema_app.command(
    "check",
    epilog="Example: bunkatsu schema check --store retail   (exit 0 at head and matching, 1 otherwise)",
)
def schema_check(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    store: StoreOpt = "both",
    migrations: MigrationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare each store with its head and with the mapping: drift, pending revisions, stale head (exit 1)."""
    from split import api
    from split.render import schema_status

    statuses = api.schema_check(mapping, source, nw, retail, store=store, migrations=migrations)
    if as_json:
        _emit_json({"ok": all(s.state == "ok" for s in statuses), "stores": [s.to_dict() for s in statuses]})
    else:
        schema_status(statuses)
    raise typer.Exit(0 if all(s.state == "ok" for s in statuses) else 1)


@app.command(
    "audit-log",
    epilog="Example: bunkatsu audit-log -m mappings/takuso.yaml --source sqlite:///shared.db "
    "--log-url sqlite:///shared.db --log-table access_log --user-col user_id --org-col organisation "
    "--key-col supply_point_id --time-col viewed_at --retail-org RETAIL --report audit/",
)
def audit_log(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: Annotated[
        str | None,
        typer.Option("--nw", help="After the split: the NW store holds the ownership timeline (instead of --source)."),
    ] = None,
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url",
            envvar="BUNKATSU_LOG_URL",
            show_envvar=True,
            help="SQLAlchemy URL of the database holding the log.",
        ),
    ] = None,
    log_table: LogTableOpt = "access_log",
    user_col: UserColOpt = "user_id",
    org_col: OrgColOpt = "organisation",
    key_col: KeyColOpt = "supply_point_id",
    time_col: TimeColOpt = "viewed_at",
    retail_org: RetailOrgOpt = "RETAIL",
    since: SinceOpt = None,
    until: UntilOpt = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Write audit-log.html and audit-log.json here (a verify report there shows them)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Investigate an access log as the seed documents do: retail-side people who viewed customers that were not
    the affiliate's on the day of the view, distinct customers and retailers, first and last view, per day.

    Exit 0 when there is no such view, 1 when there are (after the split there must be none)."""
    from split import api

    result = api.audit_log(
        mapping,
        source,
        nw,
        log_url=log_url,
        spec=_log_spec(log_table, user_col, org_col, key_col, time_col, retail_org, since, until),
        report_dir=report,
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import audit_summary

        audit_summary(result)
    raise typer.Exit(result.exit_code)


def _log_spec(
    table: str, user: str, org: str, key: str, time: str, retail_org: str, since: str | None, until: str | None
) -> LogSpec:
    from split.audit import LogSpec

    return LogSpec.parse(
        table=table,
        user_col=user,
        org_col=org,
        key_col=key,
        time_col=time,
        retail_org=retail_org,
        since=since,
        until=until,
    )


# ── canary ─────────────────────────────────────────────────────────────────────────────────

canary_app = typer.Typer(
    help="Canary customers: fictitious new-entrant customers that `verify` must never find on the retail side.",
    epilog="Example: bunkatsu canary plant --count 3, then bunkatsu copy …, bunkatsu verify …",
    no_args_is_help=True,
)
app.add_typer(canary_app, name="canary")
IntoOpt = Annotated[
    str, typer.Option("--into", help="source (before a copy; `copy`/`sync` carry them to NW) or nw (after the split).")
]


@canary_app.command(
    "plant", epilog="Example: bunkatsu canary plant -m mappings/takuso.yaml --source sqlite:///shared.db --count 3"
)
def canary_plant(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    into: IntoOpt = "source",
    count: Annotated[int, typer.Option(help="Canary customers to plant.")] = 3,
    as_json: JsonOpt = False,
) -> None:
    """Plant clearly marked fictitious customers of a retailer other than the affiliate (a row in the ownership
    table and in every table following it with identifying columns), recorded in `bunkatsu_canary` with the
    digests of their values. Every `verify` then checks that none of their values reaches the retail store.
    The values printed are fictitious (area-99 supply points, 0990 phones, .invalid mail): search other
    systems and extracts for them too."""
    from split import api

    result = api.canary_plant(mapping, source, nw, into=into, count=count)
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import canary_planted

        canary_planted(result)


@canary_app.command("remove", epilog="Example: bunkatsu canary remove --source sqlite:///shared.db")
def canary_remove(
    source: SourceOpt = None, nw: NwOpt = None, into: IntoOpt = "source", as_json: JsonOpt = False
) -> None:
    """Delete every planted canary row and the record. Canaries planted into the source and already copied
    leave the NW store with the next `bunkatsu sync`."""
    from split import api

    result = api.canary_remove(source, nw, into=into)
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import canary_removed

        canary_removed(result)


# ── capture ──────────────────────────────────────────────────────────────────────────────────

capture_app = typer.Typer(
    help="Change capture on a PostgreSQL source (started by `copy --capture`): its slot's lag and retained WAL, "
    "and dropping it. A MariaDB/MySQL capture keeps nothing on the source: `cutover status` shows its position.",
    epilog="Example: bunkatsu capture status -m mappings/takuso.yaml --source postgresql://…/shared",
    no_args_is_help=True,
)
app.add_typer(capture_app, name="capture")


@capture_app.command("status", epilog="Example: bunkatsu capture status --source postgresql://…/shared --json")
def capture_status(source: SourceOpt = None, as_json: JsonOpt = False) -> None:
    """Every bunkatsu slot on the source's server: active or not, how far behind, how much WAL it keeps on the
    source's disk. A forgotten slot keeps WAL until the disk is full: drop it when its waves are switched."""
    from split import api

    statuses = api.capture_status(source)
    if as_json:
        _emit_json({"slots": [s.to_dict() for s in statuses]})
    else:
        from split.render import capture_table

        capture_table(statuses, binlog=_is_binlog_url(source))  # the option reads BUNKATSU_SOURCE_URL too


@capture_app.command(
    "drop", epilog="Example: bunkatsu capture drop -m mappings/takuso.yaml --source postgresql://…/shared"
)
def capture_drop(mapping: MappingOpt = None, source: SourceOpt = None, as_json: JsonOpt = False) -> None:
    """Drop this mapping's slot and publication on the source (the WAL it kept is freed). `sync --follow` is
    then no longer possible: checksum `sync` still is."""
    from split import api

    name, existed = api.capture_drop(mapping, source)
    if as_json:
        _emit_json({"slot": name, "dropped": existed})
    else:
        from split.render import capture_dropped

        capture_dropped(name, existed, binlog=_is_binlog_url(source))


# ── cutover ────────────────────────────────────────────────────────────────────────────────

cutover_app = typer.Typer(
    help="The staged cutover: waves walked copy → sync → verify → freeze → final-sync → final-verify → switched.",
    epilog="Example: bunkatsu cutover status, then bunkatsu cutover run --wave masters",
    no_args_is_help=True,
)
app.add_typer(cutover_app, name="cutover")
OperatorOpt = Annotated[
    str | None,
    typer.Option(
        "--operator",
        envvar="BUNKATSU_OPERATOR",
        show_envvar=True,
        help="Recorded in the journal. [default: login name]",
    ),
]


@cutover_app.command("status", epilog="Example: bunkatsu cutover status -m mappings/takuso.yaml --json")
def cutover_status(
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Each wave's state from the journal in the NW store: steps passed, the next step, what it waits for."""
    from split import api
    from split.render import cutover_table

    result = api.cutover_status(mapping, source, nw, retail)
    if as_json:
        _emit_json(result.to_dict())
    else:
        cutover_table(result)


@cutover_app.command(
    "run",
    epilog="Examples: bunkatsu cutover run --wave masters --until verify   (day: copy, sync, first gate)\n\n"
    "          bunkatsu cutover run --wave masters   (night: asks to confirm the freeze, final sync, gate, switched)",
)
def cutover_run(
    wave: Annotated[str, typer.Option("--wave", help="The wave to move on.")],
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Stop after this step (e.g. verify).")] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Confirm the freeze without asking (scripted runs, after writes stopped).")
    ] = False,
    operator: OperatorOpt = None,
    reports: Annotated[Path, typer.Option("--reports", help="Gate reports go to <dir>/<wave>/<step>-<time>/.")] = Path(
        "cutover-reports"
    ),
    workers: WorkersOpt = 2,
    migrations: MigrationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move one wave on from where it stopped; every step is journaled in both stores.

    Exit 0 when the wave reached --until or switched, 1 when a gate found a violation (the wave stays
    unswitched; fix, then run again: it continues with the gate), 2 when the freeze was not confirmed or
    the wave depends on waves not switched yet, 3 when a step could not run.
    """
    from split import api
    from split.render import BarProgress, cutover_run_summary, step_printer

    confirm = (lambda question: True) if yes else (_ask if sys.stdin.isatty() else None)
    result = api.cutover_run(
        mapping,
        source,
        nw,
        retail,
        wave=wave,
        operator=operator,
        confirm=confirm,
        until=until,
        reports=reports,
        workers=workers,
        migrations=migrations,
        progress=BarProgress(enabled=sys.stderr.isatty() and not as_json),
        on_step=step_printer(as_json),
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        cutover_run_summary(result)
    raise typer.Exit(result.exit_code)


@cutover_app.command(
    "rollback",
    epilog='Example: bunkatsu cutover rollback --wave contracts --reason "billing run failed on the new store"',
)
def cutover_rollback(
    wave: Annotated[str, typer.Option("--wave", help="The wave that goes back to the shared system.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the journal.")],
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    operator: OperatorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that a wave goes back to the shared system; its next run starts again at copy.

    The applications are pointed back by the operators (runbooks/wave.md, "Rolling a wave back"); rows stay in the stores."""
    from split import api
    from split.render import rolled_back

    state = api.cutover_rollback(mapping, source, nw, retail, wave=wave, reason=reason, operator=operator)
    if as_json:
        _emit_json(state.to_dict())
    else:
        rolled_back(state, reason)


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False, err=True)


# ── evidence ───────────────────────────────────────────────────────────────────────────────

evidence_app = typer.Typer(
    help="Evidence for sign-off: one tamper-evident archive per wave (`pack`), and its check (`check`).",
    epilog="Example: bunkatsu evidence pack --wave masters --out evidence-masters.zip, then "
    "bunkatsu evidence check evidence-masters.zip",
    no_args_is_help=True,
)
app.add_typer(evidence_app, name="evidence")


@evidence_app.command(
    "pack",
    epilog="Examples: bunkatsu evidence pack -m mappings/takuso.yaml --wave masters --out masters.zip\n\n"
    "          bunkatsu evidence pack --out all.zip --sign-key ~/.ssh/id_ed25519   (writes all.zip.sig)\n\n"
    "          bunkatsu evidence pack --wave masters --out m.zip --include audit/ --include grants.json",
)
def evidence_pack(
    out: Annotated[Path, typer.Option("--out", help="The archive to write (never overwritten).")],
    mapping: MappingOpt = None,
    source: SourceOpt = None,
    nw: NwOpt = None,
    retail: RetailOpt = None,
    wave: Annotated[str | None, typer.Option("--wave", help="Only this wave's gate reports. [default: all]")] = None,
    migrations: MigrationsOpt = None,
    sign_key: Annotated[
        Path | None, typer.Option("--sign-key", help="Sign with this key: `ssh-keygen -Y sign`, FILE.sig beside it.")
    ] = None,
    include: Annotated[
        list[Path] | None,
        typer.Option(
            "--include",
            help="Also pack this file or folder (an audit-log report, `grants --json` output), under included/.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one archive of what a wave's sign-off needs: the mapping and its hash, the plan (JSON and SQL), the
    Alembic revisions, every gate's report folder, each store's journal, ledger and evidence chain (range
    bounds as keyed hashes), what `--include` names, and a manifest with the SHA-256 of every file and the
    chains' heads. Exit 1 when a store's chain is already broken (the pack is written, and says so)."""
    from split import api

    result = api.evidence_pack(
        mapping, source, nw, retail, out=out, wave=wave, migrations=migrations, sign_key=sign_key, include=include or []
    )
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import evidence_packed

        evidence_packed(result)
    if result.defects:
        raise typer.Exit(1)


@evidence_app.command(
    "check",
    epilog="Examples: bunkatsu evidence check masters.zip\n\n"
    "          bunkatsu evidence check masters.zip --public-key nw-signer.pub --nw postgresql://…/nw",
)
def evidence_check(
    path: Annotated[Path, typer.Argument(help="The evidence pack.")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="Verify FILE.sig with this OpenSSH public key.")
    ] = None,
    nw: Annotated[str | None, typer.Option("--nw", help="Also show the NW store's chain still holds the head.")] = None,
    retail: Annotated[
        str | None, typer.Option("--retail", help="Also show the retail store's chain still holds the head.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every file's SHA-256, walk each store's chain and compare the packed journal and ledger with it,
    verify the signature (with --public-key) and the stores' chains (with --nw/--retail). Exit 0 when all holds,
    1 naming the first file, row or record that differs."""
    from split import api

    result = api.evidence_check(path, public_key=public_key, nw=nw, retail=retail)
    if as_json:
        _emit_json(result.to_dict())
    else:
        from split.render import evidence_checked

        evidence_checked(result)
    raise typer.Exit(result.exit_code)


# ── key ────────────────────────────────────────────────────────────────────────────────────

key_app = typer.Typer(
    help="The encode key (BUNKATSU_ENCODE_KEY): HMAC key of `encode` columns.",
    epilog="Example: export BUNKATSU_ENCODE_KEY=$(bunkatsu key generate)   (keep it in the NW secret store)",
    no_args_is_help=True,
)
app.add_typer(key_app, name="key")


@key_app.command(
    "generate",
    epilog="Example: bunkatsu key generate > /run/secrets/bunkatsu-key   (then store it in the NW secret store)",
)
def key_generate(as_json: JsonOpt = False) -> None:
    """Print a fresh encode key: 256 random bits as 64 hex digits. Keys under 128 bits (estimated) are refused.

    The key belongs to the NW company: keep it in its secret store, never in a file of the project or on the
    retail side. Rotating it changes every token (runbooks/keys.md)."""
    from split import api

    key = api.key_generate()
    if as_json:
        _emit_json({"key": key, "bits": 256})
    else:
        sys.stdout.write(key + "\n")


def main() -> None:
    """Entry point: the one place that maps errors to messages and exit codes."""
    _utf8_streams()
    try:
        args, lang = _lang_first(sys.argv[1:])
        _choose_language(lang)
        rc = _command(args).main(args=args, standalone_mode=False, prog_name="bunkatsu")  # also `python -m split`
    except BunkatsuError as exc:
        _fail(exc.render(), exc.exit_code)
    except KeyboardInterrupt:
        from split.i18n import _

        _fail(_("interrupted: finished partitions are kept; run the same command again to continue"), 3)
    except Exception as exc:
        _other_error(exc)
    sys.exit(rc if isinstance(rc, int) else 0)


def _lang_first(args: list[str]) -> tuple[list[str], str | None]:
    """`--lang` belongs to every command: wherever it is given (`bunkatsu verify --lang ja …`), it is read first,
    by the root callback, so that the language is chosen before anything prints. Also returns its value."""
    rest: list[str] = []
    lang: list[str] = []
    value = None
    given = iter(args)
    for arg in given:
        if arg == "--lang":
            value = next(given, "")
            lang = [arg, value]
        elif arg.startswith("--lang="):
            value = arg.removeprefix("--lang=")
            lang = [arg]
        else:
            rest.append(arg)
    return lang + rest, value


def _choose_language(given: str | None) -> None:
    """The language before Click reads the line: its own errors (an unknown command) come before any callback.
    The root callback chooses again from the same option (the same check, in `settings.language_option`)."""
    from split.settings import language_option

    language_option((os.environ.get("BUNKATSU_LANG") or None) if given is None else given)


def _command(args: list[str]) -> Any:
    """The Click command tree Typer builds from `app`; asked for help in another language than English, its
    help texts in that language (only then: translating them costs Typer's help module on every start)."""
    import typer.main

    command = typer.main.get_command(app)
    if {"--help", "-h"} & set(args) or _names_a_group(command, args):  # a group alone shows its help
        from split import help_text, i18n

        if i18n.language() != "en":
            help_text.translate(command)
    return command


def _names_a_group(command: Any, args: list[str]) -> bool:
    words = args[2:] if args[:1] == ["--lang"] else args  # `_lang_first` put `--lang VALUE` first
    for arg in (a for a in words if not a.startswith("-")):
        command = getattr(command, "commands", {}).get(arg)
        if command is None:
            return False
    return hasattr(command, "commands")


def _utf8_streams() -> None:
    """stdout and stderr in UTF-8 whatever the locale: under `LC_ALL=C` or a locale that was never generated
    Python may fall back to ASCII, and a Japanese table name or a Japanese message would then crash the
    command that prints it. Arguments decoded there keep their bytes as surrogates (a Japanese file name):
    `surrogateescape` writes those bytes back unchanged."""
    for stream in (sys.stdout, sys.stderr):
        if (getattr(stream, "encoding", None) or "").lower().replace("-", "") != "utf8" and hasattr(
            stream, "reconfigure"
        ):
            stream.reconfigure(encoding="utf-8", errors="surrogateescape")


def _other_error(exc: Exception) -> None:
    """Click's usage errors (from `click` or the copy Typer vendors, whatever the version), database errors,
    and bugs: a bug ends with one redacted line and a crash file, never a value on stderr."""
    from split.i18n import _

    names = {(c.__module__.split(".")[0], c.__name__) for c in type(exc).__mro__}
    if names & {("click", "Abort"), ("typer", "Abort")}:
        _fail(_("aborted"), 3)
    if names & {("click", "ClickException"), ("typer", "ClickException")}:
        _usage_error(exc)
    if _is_database_error(exc):
        from split.db import describe_db_error

        said = _("database error: %(error)s")
        hint = _("check the database named above, then run the same command again (finished partitions are kept)")
        _fail(said % {"error": describe_db_error(exc)} + f"\n  → {hint}", 3)
    from split.crash import write_crash_file

    where = write_crash_file(exc)
    said = _("internal error (%(error)s); this is a bug in bunkatsu. Redacted details: %(file)s")
    _fail(said % {"error": type(exc).__name__, "file": where}, 3)


def _usage_error(exc: Exception) -> None:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `bunkatsu schema` alone: the group's help
        exc.show()  # type: ignore[attr-defined]
        sys.exit(2)
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "bunkatsu"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    from split.i18n import _

    see = _("(see `%(command)s --help`)") % {"command": command}
    _fail(f"{_click_said(message)} {see}", getattr(exc, "exit_code", 2) or 2)


# Click's usage errors, as the Click Typer vendors words them (in English only: it has no catalogue), each
# matched whole and said again from bunkatsu's catalogue; a message of another shape is left as Click said it.
_CLICK_MESSAGES = (
    (r"No such option: (?P<name>\S+)", N_("No such option: %(name)s")),
    (r"Missing command\.", N_("Missing command.")),
    (r"No such command '(?P<name>[^']*)'\.", N_("No such command '%(name)s'.")),
    (r"Missing option (?P<name>.+)\.", N_("Missing option %(name)s.")),
    (r"Missing argument (?P<name>.+)\.", N_("Missing argument %(name)s.")),
    (r"Option (?P<name>'[^']*') requires an argument\.", N_("Option %(name)s requires an argument.")),
    (r"Option (?P<name>'[^']*') does not take a value\.", N_("Option %(name)s does not take a value.")),
    (r"Got unexpected extra argument\(s\) \((?P<args>.*)\)", N_("Got unexpected extra argument(s) (%(args)s)")),
    (r"Invalid value for (?P<name>'[^']*'): (?P<detail>.*)", N_("Invalid value for %(name)s: %(detail)s")),
)


def _click_said(message: str) -> str:
    import re

    from split.i18n import _

    head, _sep, suggestion = message.partition(" Did you mean ")
    for pattern, template in _CLICK_MESSAGES:
        if found := re.fullmatch(pattern, head):
            said = _(template) % found.groupdict()
            break
    else:
        return message
    if suggestion:  # "'plan'?" or "one of …?"
        said += " " + _("Did you mean %(names)s?") % {"names": suggestion.removesuffix("?")}
    return said


def _is_binlog_url(url: str | None) -> bool:
    return bool(url) and url.split(":", 1)[0].split("+", 1)[0] in ("mysql", "mariadb")  # type: ignore[union-attr]


def _is_database_error(exc: BaseException) -> bool:
    """SQLAlchemy is imported only by commands that use it; --help never pays for it. psycopg's own errors
    and PyMySQL's reach here from connections bunkatsu opens without SQLAlchemy (the capture's: a slot, a binlog)."""
    sa_exc = sys.modules.get("sqlalchemy.exc")
    drivers = [m.Error for name in ("psycopg", "pymysql") if (m := sys.modules.get(name)) is not None]
    return (sa_exc is not None and isinstance(exc, sa_exc.DBAPIError)) or isinstance(exc, tuple(drivers))


def _fail(message: str, code: int) -> None:
    from rich.console import Console
    from rich.markup import escape

    from split.i18n import _

    label = _("error:")
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]{label}[/] {escape(message)}")
    sys.exit(code)


if __name__ == "__main__":
    main()
