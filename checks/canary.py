"""`canary`: no value of a planted canary customer appears anywhere in the retail store.

The canaries' digests are read from `bunkatsu_canary` in the source and in the NW store (wherever they
were planted) and looked up with the fingerprint's scanner: every column of every retail table, inside
free text, in any spelling. A canary is fictitious, so a hit names it: the finding says which canary
and where, and the investigation can start from the planted row.
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.fingerprint import SAMPLES, Protected, scan_retail
from checks.results import CheckResult, could_not_prove, failed, passed
from split.canary import CANARY_KEY, recorded
from split.db import describe_db_error, engine_for


def canary_values(ctx: VerifyContext) -> Protected:
    protected = Protected(key=CANARY_KEY)
    for url in dict.fromkeys((ctx.source_url, ctx.stores["nw"])):
        for e in recorded(engine_for(url)):
            if e["entry"] == "value":
                protected.digests[bytes.fromhex(e["digest"])] = f"canary {e['canary_id']} ({e['kind']})"
                protected.lengths.add(int(e["length"]))
    return protected


def canary(ctx: VerifyContext) -> list[CheckResult]:
    try:
        protected = canary_values(ctx)
        if not protected.digests:
            return [
                passed("canary", "retail", observed=0, expected=0, message="no canary planted (bunkatsu canary plant)")
            ]
        hits = scan_retail(ctx, protected, "canary")
    except sa.exc.SQLAlchemyError as exc:
        return [could_not_prove("canary", "retail", None, describe_db_error(exc))]
    canaries = len({kind.split()[1] for kind in protected.digests.values()})
    results = []
    for table, h in sorted(hits.items()):
        for column, n in sorted(h.rows.items()):
            found = ", ".join(sorted(h.kinds[column]))
            results.append(
                failed(
                    "canary",
                    "retail",
                    table,
                    column=column,
                    observed=n,
                    expected=0,
                    message=f"{n} row(s) hold a planted canary's value: {found}",
                    samples=tuple(h.samples[column][:SAMPLES]),
                )
            )
    if not results:
        scanned = sum(h.scanned for h in hits.values())
        results.append(
            passed(
                "canary",
                "retail",
                observed=0,
                expected=0,
                message=f"{scanned} retail row(s) scanned: no value of {canaries} canary customer(s)",
            )
        )
    return results
