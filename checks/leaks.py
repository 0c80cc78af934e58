"""One read of the retail store for every value check: `retail.fingerprint` and `retail.patterns` (the
out-of-scope values of the authority) and `canary` (the planted canaries' recorded digests).

The read is the expensive part (every string of every retail table, and in free text every window of a
protected length), so the sets are looked up together; each check still fails, or could not prove, on
its own.
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.canary import NONE_PLANTED, canary_results, canary_values
from checks.context import VerifyContext
from checks.fingerprint import Protected, fingerprint_results, protected_values, scan_failure, scan_retail
from checks.results import CheckResult, could_not_prove, passed
from split.db import describe_db_error
from split.i18n import _


def leaked_values(ctx: VerifyContext) -> list[CheckResult]:
    results: list[CheckResult] = []
    sets: dict[str, Protected] = {}
    try:
        sets["retail.fingerprint"] = protected_values(ctx)
    except (sa.exc.SQLAlchemyError, KeyError) as exc:
        results.append(could_not_prove("retail.fingerprint", "retail", None, scan_failure(exc)))
    try:
        canaries = canary_values(ctx)
    except sa.exc.SQLAlchemyError as exc:
        results.append(could_not_prove("canary", "retail", None, describe_db_error(exc)))
    else:
        if canaries.digests:
            sets["canary"] = canaries
        else:
            results.append(passed("canary", "retail", observed=0, expected=0, message=_(NONE_PLANTED)))
    if not sets:
        return results
    try:
        hits = dict(zip(sets, scan_retail(ctx, tuple(sets.values()), "retail values"), strict=True))
    except (sa.exc.SQLAlchemyError, KeyError) as exc:
        return results + [could_not_prove(check, "retail", None, scan_failure(exc)) for check in sets]
    if "retail.fingerprint" in hits:
        results = fingerprint_results(sets["retail.fingerprint"], hits["retail.fingerprint"]) + results
    if "canary" in hits:
        results += canary_results(sets["canary"], hits["canary"])
    return results
