"""`bunkatsu copy` of a whole many-table schema against the raw COPY pipes of the same rows, in one run.

    .venv/bin/python bench/many_tables.py --supply-points 3000
    .venv/bin/python bench/many_tables.py --supply-points 3000 --profile /tmp/many.prof

The 10M-row bench (`copy_pg.py`) times one big table; a real schema is many tables of every size, where the
fixed costs — per table and per run — show. This bench copies every table of the reference database (16
tables, both stores, the mapping's scopes) on PostgreSQL → PostgreSQL:

  1. raw pipes: for each table and store, parents first, `psql COPY (the plan's SELECT) TO STDOUT
     (FORMAT binary) | psql COPY … FROM STDIN (FORMAT binary)` into stores at head (bunkatsu's own DDL,
     foreign keys included), one pipe after the other;
  2. `bunkatsu copy --workers 2` into fresh stores at head, the whole mapping;
  3. with --verify, `bunkatsu verify` of that split (each wave's gate runs it twice).

Row counts per table are compared, so that a fast wrong copy cannot win. With --profile, the copy runs
under cProfile (`python -m cProfile -o FILE`). Prints a Markdown table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from copy_pg import BIN, ROOT, _q, libpq, peak_rss  # noqa: E402 - the same measuring helpers


def stores_at_head(server: str, label: str, env: dict, verb: tuple[str, ...] = ("upgrade",)) -> dict[str, str]:
    """Two new empty databases, given to `bunkatsu schema <verb>`: `upgrade` brings them to head; the first
    call, `revision -m bench`, writes the run's revisions that every later store is upgraded with."""
    from split.db import create_database, dispose_all, drop_database

    dispose_all()
    stores = {r: f"{server}/bk_many_{label}_{r}" for r in ("nw", "retail")}
    for url in stores.values():
        drop_database(url)
        create_database(url)
    cmd = [str(BIN / "bunkatsu"), "schema", *verb, "--nw", stores["nw"], "--retail", stores["retail"]]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return stores


def counts(stores: dict[str, str], tables: list[str]) -> dict[str, dict[str, int]]:
    from split.db import engine_for

    out: dict[str, dict[str, int]] = {}
    for role, url in stores.items():
        with engine_for(url).connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            out[role] = {
                t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables if t in present
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--supply-points", type=int, default=3000)
    parser.add_argument("--interval-days", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--unindexed", action="store_true", help="drop every source index but the primary keys")
    parser.add_argument("--profile", help="run the copy under cProfile, writing this file")
    parser.add_argument("--verify", action="store_true", help="then time `bunkatsu verify` of the split")
    parser.add_argument("--verify-profile", help="run that verify under cProfile, writing this file")
    parser.add_argument(
        "--out", default=str(ROOT / "bench" / "results" / f"many-tables-{time.strftime('%Y%m%d-%H%M%S')}.json")
    )
    args = parser.parse_args()

    from split import api
    from split.db import create_database, database_exists, engine_for
    from split.demo import bundled_mapping
    from split.sample.generate import generate

    server = args.server.rstrip("/")
    bare = "_unindexed" if args.unindexed else ""
    source = f"{server}/bk_many_src_{args.supply_points}_{args.interval_days}{bare}"
    if not database_exists(source):
        create_database(source)
        print(f"building the reference database ({args.supply_points:,} supply points) …", file=sys.stderr)
        generate(source, args.supply_points, 1, interval_days=args.interval_days, replace=True)
        with engine_for(source).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if args.unindexed:  # legacy sources often have none: every source query must stay linear
                names = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%%pkey'"
                for (index,) in conn.exec_driver_sql(names).all():
                    conn.exec_driver_sql(f'DROP INDEX "{index}"')
            conn.exec_driver_sql("VACUUM ANALYZE")
    mapping = bundled_mapping()
    migrations = tempfile.mkdtemp(prefix="bk-many-migrations-")
    env = {**os.environ, "BUNKATSU_ENCODE_KEY": secrets.token_hex(16), "BUNKATSU_MIGRATIONS": migrations}
    env.update({"BUNKATSU_MAPPING": str(mapping), "BUNKATSU_SOURCE_URL": source})
    stores_at_head(server, "init", env, ("revision", "-m", "bench"))

    plan = api.plan(mapping, source)
    tables = [t.name for t in plan.tables]
    source_rows = sum(t.source_rows for t in plan.tables)

    # 1. the raw pipes, table by table, parents first, each store
    pipes = stores_at_head(server, "pipe", env)
    reflected = sa.MetaData()
    reflected.reflect(engine_for(pipes["nw"]))
    order = [t.name for t in reflected.sorted_tables]  # parents before children: the stores check foreign keys
    started = time.monotonic()
    for table in sorted(plan.tables, key=lambda t: order.index(t.name) if t.name in order else len(order)):
        for store_plan in table.stores:
            if store_plan.store not in pipes:
                continue
            cols = ", ".join(c.name for c in store_plan.columns)
            select = f"SELECT {cols} FROM {table.name}"  # an encoded column moves as it is: the limit, not a split
            if store_plan.predicate_sql:
                select += f" WHERE {store_plan.predicate_sql}"
            cmd = (
                f'psql -X -q -v ON_ERROR_STOP=1 "{libpq(source)}" -c "COPY ({_q(select)}) TO STDOUT (FORMAT binary)" '
                f'| psql -X -q -v ON_ERROR_STOP=1 "{libpq(pipes[store_plan.store])}" -c "COPY {table.name} ({cols}) '
                f'FROM STDIN (FORMAT binary)"'
            )
            peak_rss(["bash", "-o", "pipefail", "-c", cmd])
    pipe_seconds = time.monotonic() - started
    pipe_counts = counts(pipes, tables)

    # 2. bunkatsu copy, the whole mapping
    stores = stores_at_head(server, "copy", env)
    cmd = [str(BIN / "bunkatsu"), "copy", "--nw", stores["nw"], "--retail", stores["retail"], "--json"]
    cmd += ["--workers", str(args.workers)]
    if args.profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "split", *cmd[1:]]
    seconds, peak, out = peak_rss(cmd, env=env)
    copy_counts = counts(stores, tables)
    assert copy_counts == pipe_counts, (copy_counts, pipe_counts)
    methods = sorted({m for t in json.loads(out)["tables"] for m in t["methods"]})

    moved = sum(sum(c.values()) for c in copy_counts.values())

    # 3. bunkatsu verify of that split (the gate every wave runs twice)
    verify: dict = {}
    if args.verify:
        cmd = [str(BIN / "bunkatsu"), "verify", "--nw", stores["nw"], "--retail", stores["retail"], "--json"]
        cmd += ["--workers", str(args.workers)]
        if args.verify_profile:
            cmd = [sys.executable, "-m", "cProfile", "-o", args.verify_profile, "-m", "split", *cmd[1:]]
        v_seconds, v_peak, v_out = peak_rss(cmd, env=env)
        report = json.loads(v_out)
        slowest = sorted(report["step_seconds"].items(), key=lambda kv: -kv[1])[:5]
        verify = {"seconds": round(v_seconds, 2), "peak_rss_mb": round(v_peak, 1), "verdict": report["verdict"]}
        verify |= {"vs_copy": round(v_seconds / seconds, 2), "slowest_steps": dict(slowest)}
    result = {
        "supply_points": args.supply_points,
        "unindexed": args.unindexed,
        "tables": len(tables),
        "source_rows": source_rows,
        "rows_written": moved,
        "raw_pipes_seconds": round(pipe_seconds, 2),
        "copy_seconds": round(seconds, 2),
        "copy_peak_rss_mb": round(peak, 1),
        "ratio": round(seconds / pipe_seconds, 2),
        "methods": methods,
        "profile": args.profile,
        "verify": verify,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"| {args.supply_points:,} supply points{' (unindexed)' if args.unindexed else ''}, {len(tables)} tables, {source_rows:,} source rows, "
          f"{moved:,} rows written | raw pipes {pipe_seconds:.1f} s | `bunkatsu copy` {seconds:.1f} s "
          f"({seconds / pipe_seconds:.2f}×), {peak:.0f} MB |")  # fmt: skip
    if verify:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in verify["slowest_steps"].items())
        print(f"| `bunkatsu verify` {verify['seconds']:.1f} s ({verify['vs_copy']:.2f}× the copy), "
              f"{verify['peak_rss_mb']:.0f} MB, {verify['verdict']} | {steps} |")  # fmt: skip


if __name__ == "__main__":
    main()
