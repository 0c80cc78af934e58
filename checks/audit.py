"""`audit-log` as a check of `verify --post-split`: no retail-side person viewed a customer not the affiliate's.

The investigation itself is `split.audit` (also the `audit-log` command). As a check it turns the figures
into one result for the verdict and JUnit, and a database error into "could not prove". Counts and
dates only: user ids and keys stay in the log.
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split.audit import AuditResult, LogSpec, audit
from split.db import describe_db_error
from split.i18n import _
from split.settings import StoreUrl


def audit_log(ctx: VerifyContext) -> list[CheckResult]:
    """The ownership timeline from the authority (the source, or the NW store after the split)."""
    assert ctx.log is not None, "the runner schedules audit-log only with an access log"
    log, spec = ctx.log
    try:
        found = audit(ctx.mapping, StoreUrl("source", ctx.source_url), log, spec)
    except sa.exc.SQLAlchemyError as exc:
        return [could_not_prove("audit-log", "log", spec.table, describe_db_error(exc))]
    ctx.details["audit-log"] = found
    return [audit_result(found, spec)]


def audit_result(found: AuditResult, spec: LogSpec) -> CheckResult:
    period = _(" since %(day)s") % {"day": f"{spec.since:%Y-%m-%d}"} if spec.since else ""
    unjudged = ""
    if found.unjudged:
        unjudged = _("; %(n)s without a key or a readable time not judged") % {"n": f"{found.unjudged:,}"}
    t = found.total.counts()
    if not t["views"]:
        return passed(
            "audit-log",
            "log",
            spec.table,
            observed=0,
            expected=0,
            message=_(
                "no retail-side view of a customer not the affiliate's%(period)s (%(n)s retail-side views%(unjudged)s)"
            )
            % {"period": period, "n": f"{found.scanned:,}", "unjudged": unjudged},
        )
    first, last = (f"{v:%Y-%m-%d}" if v else "?" for v in (found.first_view, found.last_view))
    return failed(
        "audit-log",
        "log",
        spec.table,
        observed=t["views"],
        expected=0,
        message=_(
            "%(views)s improper view(s)%(period)s by %(people)s people of %(customers)s customers of %(retailers)s "
            "retailers, %(first)s to %(last)s%(unjudged)s"
        )
        % {
            **{k: f"{t[k]:,}" for k in ("views", "customers", "retailers")},
            "people": f"{t['viewers']:,}",
            "period": period,
            "first": first,
            "last": last,
            "unjudged": unjudged,
        },
    )
