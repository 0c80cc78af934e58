"""`canary`: no value of a planted canary customer appears anywhere in the retail store.

The canaries' digests are read from `bunkatsu_canary` in the source and in the NW store (wherever they
were planted) and looked up in the fingerprint's read of the retail store: every column of every retail
table, inside free text, in any spelling. They are a set of their own, independent of the scopes: a
canary is found even if a bug put its rows in scope and the fingerprint did not protect them. A canary is fictitious, so a hit names it: the finding says which canary
and where, and the investigation can start from the planted row.
"""

from __future__ import annotations

from checks.context import VerifyContext
from checks.fingerprint import SAMPLES, Protected, ScanHits
from checks.results import CheckResult, failed, passed
from split.canary import CANARY_KEY, recorded
from split.db import engine_for
from split.i18n import N_, _


def canary_values(ctx: VerifyContext) -> Protected:
    protected = Protected(key=CANARY_KEY)
    for url in dict.fromkeys((ctx.source_url, ctx.stores["nw"])):
        for e in recorded(engine_for(url)):
            if e["entry"] == "value":
                protected.digests[bytes.fromhex(e["digest"])] = f"canary {e['canary_id']} ({e['kind']})"
                protected.lengths.add(int(e["length"]))
    return protected


NONE_PLANTED = N_("no canary planted (bunkatsu canary plant)")


def canary_results(protected: Protected, hits: dict[str, ScanHits]) -> list[CheckResult]:
    """From the retail scan's hits against the canaries' digests (one read with the fingerprint: checks.leaks)."""
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
                    message=_("%(n)s row(s) hold a planted canary's value: %(found)s") % {"n": n, "found": found},
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
                message=_("%(scanned)s retail row(s) scanned: no value of %(n)s canary customer(s)")
                % {"scanned": scanned, "n": canaries},
            )
        )
    return results
