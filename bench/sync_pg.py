"""`bunkatsu sync` on PostgreSQL → PostgreSQL: what keeping copied stores in step costs, against a recopy.

    .venv/bin/python bench/sync_pg.py --rows 10000000

Uses the source that bench/copy_pg.py builds (bk_bench_src_<rows>), cloned as a template into its own
database so that the changes below never touch it. The stores get the big table's foreign-key parents and
`interval_reading_30min` by `bunkatsu copy` (timed: the recopy that sync replaces), then:
  1. sync with nothing changed: the cost of comparing (every key range, summed inside PostgreSQL);
  2. appends: new readings after the last key (a day of meter data arriving), then sync;
  3. scattered corrections: one reading in every 1,000 corrected across the whole table, then sync;
  4. switches: 20 affiliate customers switch to a new entrant on the first day of the readings, then sync.
After the last sync `verify --tables` checks that both stores equal the changed source (untimed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from copy_pg import BIN, TABLE, Bench, Measure, peak_rss  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=500_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    bench = Bench(args.server, args.rows, args.workers, args.partition_rows, 0)
    bench.ensure_source()
    bench.source = clone(bench.source, f"{args.server.rstrip('/')}/bk_bench_sync_src")
    results: list[Measure] = []

    stores = bench.fresh_stores("sync")
    results.append(timed(bench, "copy", stores, "bunkatsu copy (the recopy sync replaces)"))
    results.append(timed(bench, "sync", stores, "sync, nothing changed (compare only)"))
    for name, change in SCENARIOS:
        rows = change(bench.source)
        results.append(timed(bench, "sync", stores, f"sync after {name}", f"{rows:,} source rows changed"))
    proven = verdict(bench, stores)
    print_table(results)
    print(f"\nverify --tables {TABLE} after the last sync: {proven}")
    results.append(Measure(f"verify after the last sync: {proven}", args.rows, 0, 0, 0.0, 0.0, "untimed"))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"sync-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


def clone(source: str, target: str) -> str:
    """A copy of the source to change freely: PostgreSQL copies the template's files, in seconds."""
    from split.db import dispose_all, drop_database, normalise_url

    dispose_all()  # a template must have no open sessions, ours included
    drop_database(target)
    server = sa.create_engine(normalise_url(source).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        template, name = normalise_url(source).database, normalise_url(target).database
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    server.dispose()
    return target


def timed(bench: Bench, verb: str, stores: dict[str, str], method: str, note: str = "") -> Measure:
    cmd = [str(BIN / "bunkatsu"), verb, "--mapping", str(bench.mapping), "--source", bench.source, "--json"]
    cmd += ["--nw", stores["nw"], "--retail", stores["retail"], "--tables", TABLE, "--workers", str(bench.workers)]
    bench.checkpoint()
    seconds, peak, out = peak_rss(cmd, env=bench.env)
    report = json.loads(out)
    if verb == "sync":
        table = report["tables"][0]
        changed = f"{report['inserted']:,} inserted, {report['updated']:,} updated, {report['deleted']:,} deleted"
        ranges = f"{table['differing_ranges']} of {table['ranges']} ranges differed"
        note = "; ".join(part for part in (note, ranges, changed) if part)
    nw, retail = bench.counts(stores)
    print(f"{method}: {seconds:.1f} s", file=sys.stderr)
    return Measure(method, bench.rows, nw, retail, seconds, peak, note)


def verdict(bench: Bench, stores: dict[str, str]) -> str:
    """The stores against the changed source, once at the end (untimed): sync must leave nothing behind.

    Only the completeness checks count here: the bench stores hold the big table and its foreign-key
    parents, not `supply_period`, so `retail.row_scope` cannot find the follow parents in the store."""
    proof = [str(BIN / "bunkatsu"), "verify", "--mapping", str(bench.mapping), "--source", bench.source]
    proof += ["--nw", stores["nw"], "--retail", stores["retail"], "--tables", TABLE, "--json"]
    report = json.loads(peak_rss(proof, env=bench.env, check=False)[2])
    checks = [c for c in report["checks"] if c["id"].endswith(".completeness")]
    failing = sorted({f"{c['id']}: {c['message']}" for c in checks if c["status"] != "pass"})
    return "completeness pass" if checks and not failing else f"completeness FAIL ({'; '.join(failing)})"


def appends(url: str) -> int:
    """A day of readings for the first 2,000 supply points, after the last key."""
    sql = f"""
        INSERT INTO {TABLE} (reading_id, supply_point_id, reading_date, slot, kwh_import, kwh_export, status)
        SELECT m.top + row_number() OVER (ORDER BY p.supply_point_id, s.slot), p.supply_point_id,
               m.last_day + 1, s.slot, 0.1, 0, 'OK'
        FROM (SELECT supply_point_id FROM supply_point ORDER BY supply_point_id LIMIT 2000) p
        CROSS JOIN generate_series(1, 48) AS s(slot)
        CROSS JOIN (SELECT max(reading_id) AS top, max(reading_date) AS last_day FROM {TABLE}) m"""
    return _run(url, sql)


def corrections(url: str) -> int:
    return _run(url, f"UPDATE {TABLE} SET kwh_import = kwh_import + 0.001 WHERE mod(reading_id, 1000) = 0")


def switches(url: str) -> int:
    """20 affiliate customers switch to a new entrant on the first day of the readings."""
    sql = f"""
        WITH day AS (SELECT min(reading_date) AS d FROM {TABLE}),
        leaving AS (
            SELECT p.period_id FROM supply_period p, day
            WHERE p.retailer_code = '00016' AND p.end_date IS NULL AND p.start_date < day.d
            ORDER BY p.period_id LIMIT 20),
        ended AS (
            UPDATE supply_period p SET end_date = day.d - 1 FROM day, leaving
            WHERE p.period_id = leaving.period_id RETURNING p.*)
        INSERT INTO supply_period (period_id, supply_point_id, retailer_code, wheeling_contract_id, start_date)
        SELECT (SELECT max(period_id) FROM supply_period) + row_number() OVER (ORDER BY e.period_id),
               e.supply_point_id, '01236', e.wheeling_contract_id, day.d
        FROM ended e, day"""
    return _run(url, sql)


def _run(url: str, sql: str) -> int:
    from split.db import engine_for

    with engine_for(url).begin() as conn:
        return int(conn.exec_driver_sql(sql).rowcount or 0)


SCENARIOS = [("appends", appends), ("scattered corrections", corrections), ("switches", switches)]


def print_table(results: list[Measure]) -> None:
    copy = results[0].seconds
    print("| rows | method | wall | vs copy | peak RSS | note |")
    print("|---:|---|---:|---:|---:|---|")
    for m in results:
        print(
            f"| {m.rows:,} | {m.method} | {m.seconds:.1f} s | {m.seconds / copy:.2f}× | {m.peak_rss_mb:.0f} MB | {m.note} |"
        )


if __name__ == "__main__":
    main()
