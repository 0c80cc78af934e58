"""The value checks of `verify`, step by step, on a split that exists: the protected set, the retail scan, the
temporal scope. Run it twice with two checkouts to put two versions side by side on the same data:

    BUNKATSU_ENCODE_KEY=… .venv/bin/python bench/verify_steps.py --mapping M --source URL --nw URL --retail URL
    BUNKATSU_ENCODE_KEY=… PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/verify_steps.py …

bench/copy_pg.py leaves such a split behind (bk_bench_src_<rows>, bk_bench_copy_nw, bk_bench_copy_retail, and
its mapping in /tmp/bk-bench-mapping-500000.yaml). Prints one Markdown row per step.
"""

from __future__ import annotations

import argparse
import resource
import secrets
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mapping", type=Path, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--nw", required=True)
    parser.add_argument("--retail", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import checks.fingerprint as fingerprint
    from checks.context import VerifyContext
    from split.prepare import prepare

    prep = prepare(args.mapping, args.source, args.nw, args.retail, stores_exist=True)
    ctx = VerifyContext(prep, secrets.token_bytes(32), args.workers)
    print(f"code: {fingerprint.__file__}\n\n| step | wall | what |\n|---|---:|---|")

    started = time.monotonic()
    protected = fingerprint.protected_values(ctx)
    shown("protected set", started, f"{len(protected.digests):,} protected values")

    started = time.monotonic()
    [hits] = fingerprint.scan_retail(ctx, (protected,), "fingerprint")
    scanned = sum(h.scanned for h in hits.values())
    seconds = time.monotonic() - started
    shown("retail scan", started, f"{scanned:,} retail rows, {scanned / seconds:,.0f} rows/s")

    started = time.monotonic()
    results = fingerprint.temporal_scope(ctx)
    shown("retail.temporal_scope", started, f"{sum(r.observed or 0 for r in results):,} dated rows")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def shown(step: str, started: float, what: str) -> None:
    print(f"| {step} | {time.monotonic() - started:.1f} s | {what} |", flush=True)


if __name__ == "__main__":
    main()
