"""The fingerprint scan locally and on a dask.distributed LocalCluster of 1 and 2 worker processes.

    .venv/bin/python bench/cluster.py --supply-points 10000 --dir /tmp/bk-bench

Uses (or builds) the same split as bench/fingerprint.py. The scan is Python per value, so threads share one
core's worth (the GIL); worker processes each have their own. Prints one Markdown table.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from fingerprint import reference_split  # noqa: E402

from split.demo import bundled_mapping  # noqa: E402
from split.engine.run import Runner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supply-points", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bk-bench"))
    args = parser.parse_args()
    os.environ.setdefault("BUNKATSU_ENCODE_KEY", secrets.token_hex(32))
    urls = reference_split(args.dir, args.supply_points, 2)

    from distributed import LocalCluster

    from checks.context import VerifyContext
    from checks.fingerprint import protected_values, scan_retail
    from split.prepare import prepare

    prep = prepare(bundled_mapping(), urls["shared"], urls["nw"], urls["retail"], stores_exist=True)
    key = secrets.token_bytes(32)
    protected = protected_values(VerifyContext(prep, key, 2))
    rows: list[tuple[str, float, int]] = []

    def timed(label: str, runner: Runner | None) -> None:
        ctx = VerifyContext(prep, key, 2, runner=runner)
        started = time.monotonic()
        [hits] = scan_retail(ctx, (protected,), "fingerprint")
        rows.append((label, time.monotonic() - started, sum(h.scanned for h in hits.values())))

    timed("local, 2 threads", None)
    for n in (1, 2):
        local = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        with local as cluster, Runner(n, cluster.scheduler_address) as runner:
            timed(f"LocalCluster, {n} worker process(es)", runner)
    base = rows[1][1]
    print("| supply points | where | retail rows scanned | scan | rows/s | vs 1 worker process |")
    print("|---:|---|---:|---:|---:|---:|")
    for label, seconds, scanned in rows:
        print(
            f"| {args.supply_points:,} | {label} | {scanned:,} | {seconds:.1f} s | {scanned / seconds:,.0f} | "
            f"{base / seconds:.2f}× |"
        )


if __name__ == "__main__":
    main()
