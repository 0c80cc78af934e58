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
    period = f" since {spec.since:%Y-%m-%d}" if spec.since else ""
    unjudged = f"; {found.unjudged:,} without a key or a readable time not judged" if found.unjudged else ""
    t = found.total.counts()
    if not t["views"]:
        return passed(
            "audit-log",
            "log",
            spec.table,
            observed=0,
            expected=0,
            message=f"no retail-side view of a customer not the affiliate's{period} ({found.scanned:,} retail-side views{unjudged})",
        )
    first, last = (f"{v:%Y-%m-%d}" if v else "?" for v in (found.first_view, found.last_view))
    return failed(
        "audit-log",
        "log",
        spec.table,
        observed=t["views"],
        expected=0,
        message=f"{t['views']:,} improper view(s){period} by {t['viewers']:,} people of {t['customers']:,} customers "
        f"of {t['retailers']:,} retailers, {first} to {last}{unjudged}",
    )
