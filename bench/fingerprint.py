"""Throughput and peak memory of the retail.fingerprint scan on a larger reference database.

    .venv/bin/python bench/fingerprint.py --supply-points 10000 --dir /tmp/bk-bench

Builds the reference database on SQLite (unless it exists), copies it, then times building the protected
set and scanning the retail store, partitioned by the plan's key ranges. Prints one Markdown table row.
Then plants canary customers into the NW store (once) and times verify's steps that read the retail store
for leaked values (fingerprint, patterns, canaries): a second table.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import time
from pathlib import Path

from split import api
from split.demo import bundled_mapping


def reference_split(folder: Path, supply_points: int, workers: int) -> dict[str, str]:
    """The reference database on SQLite and its split, built on the first run (the same files every run)."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = {r: f"sqlite:///{folder / f'{r}-{supply_points}.db'}" for r in ("shared", "nw", "retail")}
    if not (folder / f"shared-{supply_points}.db").exists():
        api.sample_db(urls["shared"], supply_points, 1)
        migrations = folder / f"migrations-{supply_points}"  # the stores' Alembic environments: not in the project
        api.copy(bundled_mapping(), urls["shared"], urls["nw"], urls["retail"], workers=workers, migrations=migrations)
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supply-points", type=int, default=10_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bk-bench"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("BUNKATSU_ENCODE_KEY", secrets.token_hex(32))
    mapping = bundled_mapping()
    urls = reference_split(args.dir, args.supply_points, args.workers)

    from checks.context import VerifyContext
    from checks.fingerprint import fingerprint_and_patterns, protected_values
    from split.prepare import prepare

    prep = prepare(mapping, urls["shared"], urls["nw"], urls["retail"], stores_exist=True)
    ctx = VerifyContext(prep, secrets.token_bytes(32), args.workers)
    started = time.monotonic()
    protected = protected_values(ctx)
    built = time.monotonic() - started
    started = time.monotonic()
    results = fingerprint_and_patterns(ctx)
    scanned = time.monotonic() - started
    rows = sum(r.observed or 0 for r in results if r.id == "retail.fingerprint" and r.status.value == "pass")
    # The split is clean: every finding is a false alarm (a column named with its count, never a value).
    alarms = [f"{r.id} {r.table}.{r.column} ({r.observed})" for r in results if r.status.value == "fail"]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        "| supply points | retail rows scanned | protected values | build set | scan | rows/s | peak RSS | false alarms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.supply_points:,} | {rows:,} | {len(protected.digests):,} | {built:.1f} s | {scanned:.1f} s | "
        f"{rows / scanned:,.0f} | {rss:,.0f} MB | {len(alarms)} |"
    )
    for alarm in alarms:
        print(f"false alarm: {alarm}")
    print()
    leak_steps(ctx, mapping, urls, args.supply_points)


def leak_steps(ctx, mapping, urls: dict[str, str], supply_points: int) -> None:  # type: ignore[no-untyped-def]
    """verify's steps that scan the retail store for values, with canaries planted into the NW store."""
    from checks.runner import CHECKS
    from split.canary import recorded
    from split.db import engine_for

    if not recorded(engine_for(urls["nw"])):
        api.canary_plant(mapping, nw=urls["nw"], into="nw", count=3)
    timings = []
    for name, check in CHECKS:
        if "fingerprint" in name or "canary" in name:
            started = time.monotonic()
            results = check(ctx)
            assert all(r.status.value == "pass" for r in results), [r.message for r in results if r.status != "pass"]
            timings.append((name, time.monotonic() - started))
    print("| supply points | verify step | wall |")
    print("|---:|---|---:|")
    for name, seconds in timings:
        print(f"| {supply_points:,} | {name} | {seconds:.1f} s |")
    print(f"| {supply_points:,} | **total** | **{sum(s for _, s in timings):.1f} s** |")


if __name__ == "__main__":
    main()
