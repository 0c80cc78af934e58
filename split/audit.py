"""`audit-log`: who on the retail side viewed records of customers that were not the affiliate's at that moment.

The seed documents report the same few figures for every leak (Kansai: 730 staff, 14,657 records; Chubu:
44 people, 26,593 views; Shikoku: 272 staff, 11,413 views): people, distinct customers, distinct retailers
whose customers were viewed, and the period. This computes them from an access-log table and the
ownership timeline of the mapping (the table with `own:` and `period:`), per day and in total.

A view is improper when, on the day of the view, no period of the viewed key belonged to one of the
affiliate's retailer codes: another retailer's customer, or a point nobody supplied yet (Okinawa's
new-build registrations). Only counts and dates are reported; user ids and keys stay in the database.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from split.db import check_reachable, engine_for
from split.errors import ConfigError
from split.i18n import _
from split.introspect import SourceSchema, reflect_source
from split.mapping import load_mapping
from split.mapping.load import suggest
from split.mapping.model import Mapping, Own
from split.prepare import read_only, source_store
from split.report import write_audit
from split.settings import ENV_LOG, ENV_NW, StoreUrl, mapping_path, store_url


@dataclass(frozen=True)
class LogSpec:
    """Where the access log is and what its columns mean; the defaults are the reference database's `access_log`."""

    table: str = "access_log"
    user_col: str = "user_id"
    org_col: str = "organisation"
    key_col: str = "supply_point_id"
    time_col: str = "viewed_at"
    retail_org: str = "RETAIL"
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, *, since: str | None = None, until: str | None = None, **columns: str) -> LogSpec:
        """From command-line text; a date that does not parse is the user's error (exit 2)."""
        return cls(**columns, since=_moment(since, "--since"), until=_moment(until, "--until"))

    @property
    def columns(self) -> list[str]:
        return [self.user_col, self.org_col, self.key_col, self.time_col]


def _moment(value: str | None, option: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        raise ConfigError(
            _("%(option)s %(value)s is not a date") % {"option": option, "value": repr(value)},
            hint=_("write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM"),
        ) from None


@dataclass
class Timeline:
    """Per key, the periods sorted by start: (start, end or None, retailer code)."""

    periods: dict[str, list[tuple[date, date | None, str]]] = field(default_factory=dict)
    starts: dict[str, list[date]] = field(default_factory=dict)

    def owner(self, key: str, day: date) -> str | None:
        """The retailer supplying `key` on `day` (both ends inclusive, open end = still supplying)."""
        spans = self.periods.get(key, [])
        i = bisect_right(self.starts.get(key, []), day)
        for start, end, code in reversed(spans[:i]):
            if start <= day and (end is None or day <= end):
                return code
        return None


def _day(value: Any) -> date:
    return (
        value.date()
        if isinstance(value, datetime)
        else value
        if isinstance(value, date)
        else date.fromisoformat(str(value)[:10])
    )


def ownership(mapping: Mapping, schema: SourceSchema) -> tuple[str, str, str, tuple[str, str]]:
    """The ownership table, its key column (kind supply_point_id), its retailer column and its period."""
    for rule in mapping.timelines:
        key = next((c.name for c in rule.columns if c.kind == "supply_point_id"), None)
        if key is not None and schema.table(rule.name):
            assert isinstance(rule.retail, Own) and rule.period  # a timeline is an `own:` table with a period
            return rule.name, key, rule.retail.column, rule.period
    raise ConfigError(
        _(
            "the mapping names no ownership timeline with a supply point key (a table with `retail: {own: …}`, `period:` and a column of kind supply_point_id)"
        ),
        hint=_("audit-log needs to know who supplied each supply point when"),
    )


def load_timeline(conn: sa.Connection, mapping: Mapping, schema: SourceSchema) -> Timeline:
    table, key, code, (start, end) = ownership(mapping, schema)
    stmt: sa.Select = sa.select(sa.column(key), sa.column(start), sa.column(end), sa.column(code)).select_from(
        sa.table(table)
    )
    timeline = Timeline()
    for k, s, e, c in conn.execute(stmt):
        if k is None or s is None:
            continue
        timeline.periods.setdefault(str(k), []).append((_day(s), _day(e) if e is not None else None, str(c)))
    for k, spans in timeline.periods.items():
        spans.sort(key=lambda p: p[0])
        timeline.starts[k] = [p[0] for p in spans]
    return timeline


@dataclass
class Figures:
    views: int = 0
    viewers: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)
    retailers: set[str] = field(default_factory=set)

    def add(self, user: str, key: str, owner: str | None) -> None:
        self.views += 1
        self.viewers.add(user)
        self.customers.add(key)
        if owner is not None:
            self.retailers.add(owner)

    def counts(self) -> dict[str, int]:
        return {
            "views": self.views,
            "viewers": len(self.viewers),
            "customers": len(self.customers),
            "retailers": len(self.retailers),
        }


@dataclass
class AuditResult:
    log: str  # masked URL and table
    timeline: str  # masked URL of the ownership timeline
    retail_org: str
    affiliate_codes: tuple[str, ...]
    scanned: int  # retail-side views looked at
    unjudged: int  # of those, views without a key or a readable time: counted, never silently dropped
    total: Figures
    per_day: dict[date, Figures]
    first_view: datetime | None
    last_view: datetime | None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.total.views else 0

    def to_dict(self) -> dict:
        stamp = lambda v: v.isoformat() if v else None  # noqa: E731
        return {
            **self.total.counts(),
            "first_view": stamp(self.first_view),
            "last_view": stamp(self.last_view),
            "per_day": [{"day": d.isoformat(), **f.counts()} for d, f in sorted(self.per_day.items())],
            "retail_views_scanned": self.scanned,
            "unjudged": self.unjudged,
            "log": self.log,
            "timeline": self.timeline,
            "retail_org": self.retail_org,
            "affiliate_codes": list(self.affiliate_codes),
            "since": stamp(self.since),
            "until": stamp(self.until),
        }


def audit(mapping: Mapping, authority: StoreUrl, log: StoreUrl, spec: LogSpec) -> AuditResult:
    """The ownership timeline from `authority` (the source, or the NW store after the split), the log from `log`."""
    auth_engine = engine_for(authority.url)
    with auth_engine.connect() as conn:
        timeline = load_timeline(conn, mapping, reflect_source(auth_engine))
    with engine_for(log.url).connect() as conn:
        found = investigate(conn, spec, timeline, mapping.affiliate.retailer_codes)
    return AuditResult(
        f"{log.masked} table {spec.table}",
        authority.masked,
        spec.retail_org,
        mapping.affiliate.retailer_codes,
        found["scanned"],
        found["unjudged"],
        found["total"],
        found["per_day"],
        found["first_view"],
        found["last_view"],
        spec.since,
        spec.until,
    )


def require_log_table(log: StoreUrl, spec: LogSpec) -> None:
    """Before anything runs: the log table and its four columns exist (else exit 2 with what is there)."""
    inspector = sa.inspect(engine_for(log.url))
    tables = inspector.get_table_names()
    if spec.table not in tables:
        raise ConfigError(
            _("the log database has no table %(table)s") % {"table": spec.table},
            hint=suggest(spec.table, tables) or "check --log-table",
        )
    present = [c["name"] for c in inspector.get_columns(spec.table)]
    missing = [c for c in spec.columns if c not in present]
    if missing:
        raise ConfigError(
            _("log table %(table)s has no column(s) %(missing)s")
            % {"table": spec.table, "missing": ", ".join(missing)},
            hint=_("its columns: %(present)s") % {"present": ", ".join(present)},
        )


def investigate(log_conn: sa.Connection, spec: LogSpec, timeline: Timeline, affiliate: tuple[str, ...]) -> dict:
    """Stream the retail organisation's views and count the improper ones."""
    t = sa.table(spec.table, *(sa.column(c) for c in spec.columns))
    stmt = sa.select(t.c[spec.user_col], t.c[spec.key_col], t.c[spec.time_col]).where(
        t.c[spec.org_col] == spec.retail_org
    )
    if spec.since:
        stmt = stmt.where(t.c[spec.time_col] >= spec.since)
    if spec.until:
        stmt = stmt.where(t.c[spec.time_col] < spec.until)
    total, per_day = Figures(), defaultdict[date, Figures](Figures)
    first = last = None
    scanned = unjudged = 0
    for user, key, at in log_conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt):
        scanned += 1
        at = _moment_of(at)
        if at is None or key is None:  # no record, or no day to look its owner up on
            unjudged += 1
            continue
        owner = timeline.owner(str(key), at.date())
        if owner in affiliate:
            continue
        total.add(str(user), str(key), owner)
        per_day[at.date()].add(str(user), str(key), owner)
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
    return {
        "scanned": scanned,
        "unjudged": unjudged,
        "total": total,
        "per_day": dict(per_day),
        "first_view": first,
        "last_view": last,
    }


def _moment_of(value: Any) -> datetime | None:
    """A log's time as the driver returns it (a datetime, or ISO text on SQLite); None when it is not one."""
    if isinstance(value, datetime) or value is None:
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


# ── the verbs' inputs ──────────────────────────────────────────────────────────────────────


def log_store(log_url: str | None) -> StoreUrl:
    """The access log's database (--log-url or BUNKATSU_LOG_URL), reachable, opened read-only."""
    given = store_url("log", log_url, ENV_LOG, option="--log-url")
    check_reachable(given.url, "log")
    return read_only(given)


def checked_log(mapping: Mapping, schema: SourceSchema, log_url: str, spec: LogSpec) -> tuple[StoreUrl, LogSpec]:
    """Before any check runs: the log is reachable and has its columns, the mapping names an ownership timeline."""
    log = log_store(log_url)
    require_log_table(log, spec)
    ownership(mapping, schema)
    return log, spec


def investigate_log(
    mapping_file: str | Path | None,
    source: str | None,
    nw: str | None,
    log_url: str | None,
    spec: LogSpec,
    report: Path | None,
) -> AuditResult:
    """`bunkatsu audit-log`: the ownership timeline from the source, or after the split from the NW store."""
    mapping = load_mapping(mapping_path(mapping_file))
    if source or not nw:
        authority = source_store(source)
    else:
        given = store_url("nw", nw, ENV_NW)
        check_reachable(given.url, "nw")
        authority = read_only(given)
    log = log_store(log_url)
    require_log_table(log, spec)
    result = audit(mapping, authority, log, spec)
    if report is not None:
        write_audit(result.to_dict(), report)
    return result
