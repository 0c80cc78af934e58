"""Run every check that applies (README "What `verify` proves"), in a fixed order, and collect the results."""

from __future__ import annotations

import time
from collections.abc import Callable

from checks.audit import audit_log
from checks.capture import retained_wal
from checks.context import VerifyContext
from checks.drift import schema_drift
from checks.evidence import evidence_chain
from checks.fingerprint import temporal_scope
from checks.grants import grants
from checks.kinds import mapping_kinds
from checks.leaks import leaked_values
from checks.reconcile import completeness
from checks.results import CheckResult, could_not_prove
from checks.structure import integrity_fk, retail_columns, retail_encoded, retail_row_scope, retail_tables
from checks.suites import gx_suites
from checks.suites import preload as preload_gx
from split.i18n import _

CHECKS: list[tuple[str, Callable[[VerifyContext], list[CheckResult]]]] = [
    ("retail.tables", retail_tables),
    ("retail.columns", retail_columns),
    ("Great Expectations suites", gx_suites),
    ("retail.row_scope", retail_row_scope),
    ("retail.temporal_scope", temporal_scope),
    ("retail.encoded", retail_encoded),
    ("mapping.kinds", mapping_kinds),  # before the fingerprint, which protects what it finds
    ("retail.fingerprint + retail.patterns + canary", leaked_values),  # one read of the retail store
    ("nw.completeness", lambda ctx: completeness(ctx, "nw")),
    ("retail.completeness", lambda ctx: completeness(ctx, "retail")),
    ("integrity.fk", integrity_fk),
    ("schema.drift", schema_drift),
    ("grants", lambda ctx: grants(ctx.stores, ctx.roles, ctx.post_split) if ctx.roles else []),
    ("audit-log", lambda ctx: audit_log(ctx) if ctx.log else []),
    ("capture.retained", retained_wal),
    ("evidence.chain", evidence_chain),
]


# Run after the others (their results keep their place): Great Expectations' import, started in a thread
# when the checks start, then overlaps the checks that wait for the databases.
RUN_LATE = {"Great Expectations suites"}


# After the split the retail store is the retailer's own database: it legitimately changes (its own
# updates, new customers) and the source is gone, so equality checks no longer apply there.
POST_SPLIT_SKIPS = {"nw.completeness", "retail.completeness"}


def run_checks(
    ctx: VerifyContext, on_step: Callable[[str], None] | None = None, seconds: dict[str, float] | None = None
) -> list[CheckResult]:
    """Database errors inside a check become "could not prove" results (inside each check), and so does a stored
    value the driver cannot convert to its column's type; anything else is a bug and raises.
    `seconds` receives the wall time of each step (for reports and benchmarks)."""
    preload_gx()
    done: dict[str, list[CheckResult]] = {}
    for name, check in sorted(CHECKS, key=lambda step: step[0] in RUN_LATE):  # stable: the others keep their order
        if ctx.post_split and name in POST_SPLIT_SKIPS:
            continue
        if on_step:
            on_step(name)
        started = time.monotonic()
        results = done.setdefault(name, [])
        try:
            results += check(ctx)
        except (ValueError, TypeError) as exc:
            if not _raised_converting_a_value(exc):
                raise
            # The message would quote the value (a name and phone in a DATE column): never shown.
            check_id = name.split(" + ")[0]
            store = "nw" if check_id.startswith("nw.") else "retail"
            said = _("a stored value does not convert to its column's type (%(error)s; value not shown)")
            reason = said % {"error": type(exc).__name__}
            results.append(could_not_prove(check_id, store, None, reason))
        if seconds is not None:
            seconds[name] = round(time.monotonic() - started, 3)
    return [result for name, _check in CHECKS for result in done.get(name, [])]


def _raised_converting_a_value(exc: BaseException) -> bool:
    """Whether the innermost frame is the database driver's or SQLAlchemy's conversion of a fetched value."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename if tb is not None else ""
    return any(part in where for part in ("sqlalchemy", "psycopg", "pymysql"))
