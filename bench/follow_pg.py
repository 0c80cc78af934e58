"""`sync --follow --until-idle` against checksum `sync`, PostgreSQL → PostgreSQL, in the same run (issue 21).

    .venv/bin/python bench/follow_pg.py --rows 10000000

The server needs `wal_level = logical` (.ci/run sets it). The source is a clone of bk_bench_src_<rows>
(bench/copy_pg.py builds it); the stores get the big table's foreign-key parents (untimed), then the big
table by `copy --capture` (timed), whose slot starts at the copy's own snapshot, and two follows with
nothing to apply move the slot past the copy: on this machine the stores share the source's server, so
the WAL they decode holds the copy's writes to the stores too (on separate servers it would not), and the
slot's restart point trails its confirmed point by one advance. Then, as on a wave night:
  1. 10,000 scattered corrections (one reading in 1,000), then `sync --follow --until-idle`: the final sync
     of a wave night with capture;
  2. 10,000 other corrections, then checksum `sync`: what the follow replaces;
  3. 200,000 corrections in one go, then `sync --follow --until-idle`: the sustained apply rate;
  4. `sync --follow --until-idle` with nothing pending: the floor.
  5. 200,000 other corrections applied by hand, the same way the follow writes them, without decoding or
     re-reading by key: the changed rows COPYed from the source by their predicate into a staged table in
     each store, then one UPDATE … FROM through the key index, both stores at once — what these servers can
     do, for step 3's rate to be read against.
Step 3's follow also re-reads step 2's keys (the slot holds them; applying them again changes nothing).
The slot is dropped at the end, and verify's completeness checks compare the stores with the source.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from copy_pg import BIN, TABLE, Bench, Measure, libpq, peak_rss  # noqa: E402
from sync_pg import _run, clone, verdict  # noqa: E402


def corrections(modulo: int, rest: int):  # noqa: ANN201
    def change(url: str) -> int:
        sql = f"UPDATE {TABLE} SET kwh_import = kwh_import + 0.001 WHERE mod(reading_id, {modulo}) = {rest}"
        return _run(url, sql)

    return change


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument(
        "--store-server",
        default=os.environ.get("BENCH_STORE_PG"),
        help="the stores' PostgreSQL server (default: the source's); a server of their own keeps their writes "
        "out of the WAL the follow decodes, as physically separate stores do",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=500_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each timed step into this folder")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile

    bench = Bench(args.server, args.rows, args.workers, args.partition_rows, 0)
    bench.ensure_source()
    source = f"{args.server.rstrip('/')}/bk_bench_follow_src"
    _drop_capture(bench, source)  # a slot left by an interrupted run would keep the clone from being dropped
    bench.source = clone(bench.source, source)
    bench.server = (args.store_server or args.server).rstrip("/")
    stores = bench.fresh_stores("follow")
    copy_scope_tables(bench, stores)
    results = [timed(bench, ["copy", "--capture"], stores, "bunkatsu copy --capture")]
    # The follow that runs while the shared system keeps working (runbooks/wave.md): it moves the slot past
    # the copy. Here the stores share the source's server, so that WAL holds the copy's own writes too.
    # Twice: a slot's restart point (where decoding starts) trails its confirmed point by one advance, so the
    # second follow decodes the copy's WAL again; a follow that keeps running decodes only recent WAL.
    for attempt in ("first", "second"):
        results.append(timed(bench, ["sync", "--follow", "--until-idle"], stores, f"follow after the copy ({attempt})"))
    plan = [
        ("follow", corrections(1000, 0), ["sync", "--follow", "--until-idle"], "sync --follow --until-idle"),
        ("sync", corrections(1000, 1), ["sync"], "checksum sync (what the follow replaces)"),
        ("follow", corrections(50, 2), ["sync", "--follow", "--until-idle"], "sync --follow --until-idle, sustained"),
        ("follow", None, ["sync", "--follow", "--until-idle"], "sync --follow --until-idle, nothing pending"),
    ]
    try:
        for _kind, change, verb, method in plan:
            changed = change(bench.source) if change else 0
            results.append(timed(bench, verb, stores, method, changed))
        results.append(by_hand(bench, stores, 50, 4))
        proven = verdict(bench, stores)
    finally:
        _drop_capture(bench, bench.source)
    print_table(results)
    print(f"\nverify --tables {TABLE} after the last follow: {proven}")
    results.append(Measure(f"verify after the last follow: {proven}", args.rows, 0, 0, 0.0, 0.0, "untimed"))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"follow-{stamp}.json").write_text(
        json.dumps([asdict(r) for r in results], indent=2) + "\n", encoding="utf-8"
    )


PROFILE: Path | None = None


def timed(bench: Bench, verb: list[str], stores: dict[str, str], method: str, changed: int = 0) -> Measure:
    cmd = [str(BIN / "bunkatsu")]
    if PROFILE:
        PROFILE.mkdir(parents=True, exist_ok=True)
        slug = "".join(c if c.isalnum() else "-" for c in method)
        cmd = [str(BIN / "python"), "-m", "cProfile", "-o", str(PROFILE / f"{slug}.prof"), "-m", "split"]
    cmd += [*verb, "--mapping", str(bench.mapping), "--source", bench.source, "--json"]
    cmd += ["--nw", stores["nw"], "--retail", stores["retail"], "--tables", TABLE, "--workers", str(bench.workers)]
    bench.checkpoint()
    seconds, peak, out = peak_rss(cmd, env=bench.env)
    report = json.loads(out)
    note = f"{changed:,} source rows changed" if changed else ""
    if "--follow" in verb:
        rows = report["rows"].get("nw", {})
        rate = report["changes"] / seconds if seconds else 0
        note += f"; {report['changes']:,} changes decoded, {rows.get('updated', 0):,} NW rows rewritten; {rate:,.0f} changes/s"
        if report["changes"]:  # where the follow's time went (the stores' steps overlap: a thread each)
            note += "; " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in report.get("steps", {}).items())
    elif verb == ["sync"]:
        table = report["tables"][0]
        note += f"; {table['differing_ranges']} of {table['ranges']} ranges differed, {report['updated']:,} updated"
    print(f"{method}: {seconds:.1f} s ({note})", file=sys.stderr)
    nw, retail = bench.counts(stores)
    return Measure(method, bench.rows, nw, retail, seconds, peak, note.strip("; "))


def copy_scope_tables(bench: Bench, stores: dict[str, str]) -> None:
    """The tables the big table's retail scope reads (its `follow` parents) and their parents, copied untimed,
    as on a wave night, where a follower's parents come in the same wave or an earlier one: the NW store then
    stands in for the retail store when the follow asks which keys the retail store holds
    (split/capture/held.py). Without them the follow reads the retail store's keys whole."""
    from split.capture.held import scope_reads
    from split.prepare import prepare

    prep = prepare(bench.mapping, bench.source, stores=(), need_key=False)
    scope = sorted({name for name, _columns in scope_reads(prep, TABLE, "retail")} - {TABLE})
    tables = [t for t in [*bench.parents(*scope), *scope] if t not in bench.parents()]
    cmd = [str(BIN / "bunkatsu"), "copy", "--mapping", str(bench.mapping), "--source", bench.source, "--json"]
    cmd += ["--nw", stores["nw"], "--retail", stores["retail"], *(a for t in tables for a in ("--tables", t))]
    peak_rss(cmd, env=bench.env)


def by_hand(bench: Bench, stores: dict[str, str], modulo: int, rest: int) -> Measure:
    """Step 5: the servers' own floor for applying corrections to both stores (see the module's docstring)."""
    import psycopg

    changed = corrections(modulo, rest)(bench.source)
    columns, predicate = bench.statements()
    cols = ", ".join(columns)
    sets = ", ".join(f"{c} = s.{c}" for c in columns if c != "reading_id")
    picked = f"mod(reading_id, {modulo}) = {rest}"
    selects = {"nw": picked, "retail": f"{picked} AND ({predicate})"}
    rewritten: dict[str, int] = {}

    def apply(role: str) -> None:
        with psycopg.connect(libpq(bench.source)) as src, psycopg.connect(libpq(stores[role])) as dst:
            dst.execute(f"CREATE TEMPORARY TABLE s AS SELECT {cols} FROM {TABLE} WITH NO DATA")
            read = f"COPY (SELECT {cols} FROM {TABLE} WHERE {selects[role]}) TO STDOUT (FORMAT binary)"
            with src.cursor().copy(read) as out, dst.cursor().copy("COPY s FROM STDIN (FORMAT binary)") as into:
                for block in out:
                    into.write(block)
            dst.execute("ANALYZE s")
            dst.execute("SET enable_hashjoin = off")  # through the key index, as the follow's staged statements
            dst.execute("SET enable_mergejoin = off")
            update = f"UPDATE {TABLE} AS t SET {sets} FROM (SELECT * FROM s ORDER BY reading_id) AS s"
            rewritten[role] = dst.execute(f"{update} WHERE t.reading_id = s.reading_id").rowcount

    bench.checkpoint()
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(apply, role) for role in ("nw", "retail")]:
            done.result()
    seconds = time.monotonic() - started
    note = f"{changed:,} source rows changed; {rewritten.get('nw', 0):,} NW rows rewritten; {changed / seconds:,.0f} rows/s"
    print(f"by hand: {seconds:.1f} s ({note})", file=sys.stderr)
    nw, retail = bench.counts(stores)
    return Measure(
        "by hand: COPY into staged tables, UPDATE … FROM (the servers' floor)",
        bench.rows,
        nw,
        retail,
        seconds,
        0.0,
        note,
    )


def _drop_capture(bench: Bench, source: str) -> None:
    from split.db import database_exists

    if database_exists(source):
        cmd = [str(BIN / "bunkatsu"), "capture", "drop", "--mapping", str(bench.mapping), "--source", source]
        peak_rss(cmd, env=bench.env, check=False)


def print_table(results: list[Measure]) -> None:
    print("| rows | method | wall | peak RSS | note |")
    print("|---:|---|---:|---:|---|")
    for m in results:
        print(f"| {m.rows:,} | {m.method} | {m.seconds:.1f} s | {m.peak_rss_mb:.0f} MB | {m.note} |")


if __name__ == "__main__":
    main()
