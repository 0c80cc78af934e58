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
from typing import Any

import sqlalchemy as sa

from split.errors import ConfigError
from split.introspect import SourceSchema
from split.mapping.model import Mapping, Own

REFERENCE_LOG = {  # the access log of the reference database (`sample-db`): the CLI's defaults
    "log_table": "access_log",
    "user_col": "user_id",
    "org_col": "organisation",
    "key_col": "supply_point_id",
    "time_col": "viewed_at",
    "retail_org": "RETAIL",
}


@dataclass(frozen=True)
class LogSpec:
    """Where the access log is and what its columns mean."""

    table: str
    user_col: str
    org_col: str
    key_col: str
    time_col: str
    retail_org: str
    since: datetime | None = None
    until: datetime | None = None


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
    for rule in mapping.tables:
        if isinstance(rule.retail, Own) and rule.period and schema.table(rule.name):
            key = next((c.name for c in rule.columns if c.kind == "supply_point_id"), None)
            if key is None:
                continue
            return rule.name, key, rule.retail.column, rule.period
    raise ConfigError(
        "the mapping names no ownership timeline with a supply point key "
        "(a table with `retail: {own: …}`, `period:` and a column of kind supply_point_id)",
        hint="audit-log needs to know who supplied each supply point when",
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
            "log": self.log,
            "timeline": self.timeline,
            "retail_org": self.retail_org,
            "affiliate_codes": list(self.affiliate_codes),
            "since": stamp(self.since),
            "until": stamp(self.until),
        }


def investigate(log_conn: sa.Connection, spec: LogSpec, timeline: Timeline, affiliate: tuple[str, ...]) -> dict:
    """Stream the retail organisation's views and count the improper ones."""
    t = sa.table(spec.table, *(sa.column(c) for c in (spec.user_col, spec.org_col, spec.key_col, spec.time_col)))
    stmt = sa.select(t.c[spec.user_col], t.c[spec.key_col], t.c[spec.time_col]).where(
        t.c[spec.org_col] == spec.retail_org
    )
    if spec.since:
        stmt = stmt.where(t.c[spec.time_col] >= spec.since)
    if spec.until:
        stmt = stmt.where(t.c[spec.time_col] < spec.until)
    total, per_day = Figures(), defaultdict[date, Figures](Figures)
    first = last = None
    scanned = 0
    for user, key, at in log_conn.execution_options(stream_results=True, yield_per=10_000).execute(stmt):
        scanned += 1
        if at is None or key is None:
            continue
        at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
        owner = timeline.owner(str(key), at.date())
        if owner in affiliate:
            continue
        total.add(str(user), str(key), owner)
        per_day[at.date()].add(str(user), str(key), owner)
        first = at if first is None or at < first else first
        last = at if last is None or at > last else last
    return {"scanned": scanned, "total": total, "per_day": dict(per_day), "first_view": first, "last_view": last}
