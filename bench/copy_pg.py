"""`bunkatsu copy` and `verify` on PostgreSQL → PostgreSQL against the physical limit, in the same run.

    .venv/bin/python bench/copy_pg.py --rows 1000000             # quick (make bench)
    .venv/bin/python bench/copy_pg.py --rows 10000000 --rows 20000000

For each size: builds the reference database with `interval_reading_30min` at that many rows (first run
only; kept as bk_bench_src_<rows>), then, each into freshly created stores with bunkatsu's own DDL:
  1. raw pipes: `psql COPY (SELECT …) TO STDOUT (FORMAT binary) | psql COPY … FROM STDIN (FORMAT binary)`,
     NW (every row) then retail (the plan's scope predicate), one after the other;
  2. `bunkatsu copy --tables interval_reading_30min` (local threaded scheduler);
  3. the same on a dask.distributed LocalCluster of worker processes (`--scheduler`);
  4. pandas `read_sql(chunksize)` + `to_sql(method="multi")`, on the first --pandas-rows key range only
     (it is two orders of magnitude slower) and extrapolated linearly to the full size;
  5. `bunkatsu verify` of the split (the other tables are copied first, untimed; they hold ~8 % of the rows);
  6. diagnostics: the source reads alone (NW, retail with the scope pushed down, and one read with the
     scope as a column, which routing in the client would need).
Wall time and peak RSS (sum over the process tree, polled every 50 ms) per method; row counts are compared
with the pipes' so that a fast wrong copy cannot win. Prints a Markdown table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TABLE = "interval_reading_30min"
DAYS = 8  # interval days per supply point: rows = supply points × 48 × DAYS


@dataclass
class Measure:
    method: str
    rows: int  # rows of the table in the source
    nw_rows: int
    retail_rows: int
    seconds: float
    peak_rss_mb: float
    note: str = ""


def peak_rss(
    cmd: list[str] | str, env: dict | None = None, shell: bool = False, check: bool = True
) -> tuple[float, float, str]:
    """Run, polling the summed RSS of the whole process tree; (seconds, peak MB, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    out, err = proc.communicate()
    seconds = time.monotonic() - started
    done.set()
    poller.join()
    if check and proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {cmd}\n{err[-2000:]}")
    return seconds, peak / 2**20, out


class Bench:
    def __init__(self, server: str, rows: int, workers: int, partition_rows: int, pandas_rows: int) -> None:
        self.server, self.rows, self.workers = server.rstrip("/"), rows, workers
        self.partition_rows, self.pandas_rows = partition_rows, pandas_rows
        self.source = f"{self.server}/bk_bench_src_{rows}"
        self.migrations = tempfile.mkdtemp(prefix="bk-bench-migrations-")  # the stores' Alembic revisions
        self.env = {
            **os.environ,
            "BUNKATSU_ENCODE_KEY": os.environ.get("BUNKATSU_ENCODE_KEY") or secrets.token_hex(16),
            "BUNKATSU_MIGRATIONS": self.migrations,
        }
        self.mapping = Path(f"/tmp/bk-bench-mapping-{partition_rows}.yaml")
        from split.demo import bundled_mapping

        text = bundled_mapping().read_text(encoding="utf-8").replace("rows: 20000", f"rows: {partition_rows}")
        self.mapping.write_text(text, encoding="utf-8")

    # ── set-up ──
    def ensure_source(self) -> None:
        from split.db import create_database, database_exists, engine_for
        from split.sample.generate import generate

        if database_exists(self.source):
            with engine_for(self.source).connect() as conn:
                if conn.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one() >= self.rows:
                    return
        create_database(self.source)
        points = math.ceil(self.rows / (48 * DAYS))
        started = time.monotonic()
        print(f"building the reference database: {points:,} supply points × 48 × {DAYS} days …", file=sys.stderr)
        generate(self.source, points, 1, interval_days=DAYS, replace=True)
        with engine_for(self.source).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        print(f"  built in {time.monotonic() - started:.0f} s", file=sys.stderr)

    def fresh_stores(self, label: str) -> dict[str, str]:
        """New stores at head, holding the big table's foreign-key parents (loaded untimed): every method
        then loads the same table into the same schema, constraints included."""
        from split.db import create_database, dispose_all, drop_database

        dispose_all()
        stores = {r: f"{self.server}/bk_bench_{label}_{r}" for r in ("nw", "retail")}
        for url in stores.values():
            drop_database(url)
            create_database(url)
        cmd = [str(BIN / "bunkatsu"), "copy", "--mapping", str(self.mapping), "--source", self.source, "--json"]
        cmd += ["--nw", stores["nw"], "--retail", stores["retail"]]
        cmd += [arg for parent in self.parents() for arg in ("--tables", parent)]
        peak_rss(cmd, env=self.env)
        self.checkpoint()
        return stores

    def parents(self, *tables: str) -> list[str]:
        """The foreign-key ancestors of these tables (default: the big table) in the NW store's derived schema
        (a superset of retail's)."""
        from split.db import engine_for
        from split.prepare import prepare
        from split.schema.derive import store_metadata

        prep = prepare(self.mapping, self.source, stores=(), need_key=False)
        metadata = store_metadata(prep.plan, prep.mapping, prep.schema, "nw", engine_for(self.source).dialect)
        found: list[str] = []
        todo = list(tables or [TABLE])
        while todo:
            for fk in metadata.tables[todo.pop()].foreign_key_constraints:
                if fk.referred_table.name not in found:
                    found.append(fk.referred_table.name)
                    todo.append(fk.referred_table.name)
        return found

    def checkpoint(self) -> None:
        from split.db import engine_for

        with engine_for(self.source).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("CHECKPOINT")  # start every method with the same WAL state

    def counts(self, stores: dict[str, str]) -> tuple[int, int]:
        from split.db import engine_for

        out = []
        for url in stores.values():
            with engine_for(url).connect() as conn:
                out.append(conn.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one())
        return out[0], out[1]

    def statements(self) -> tuple[list[str], str]:
        """The table's columns and the retail scope predicate, exactly as the plan has them."""
        from split import api

        table = api.plan(self.mapping, self.source).table(TABLE)
        return [c.name for c in table.store("nw").columns], table.store("retail").predicate_sql

    # ── methods ──
    def raw_pipes(self) -> Measure:
        stores = self.fresh_stores("pipe")
        columns, predicate = self.statements()
        cols = ", ".join(columns)
        selects = {"nw": f"SELECT {cols} FROM {TABLE}", "retail": f"SELECT {cols} FROM {TABLE} WHERE {predicate}"}
        seconds = peak = 0.0
        for role, url in stores.items():
            cmd = (
                f'psql -X -q -v ON_ERROR_STOP=1 "{libpq(self.source)}" -c "COPY ({_q(selects[role])}) TO STDOUT '
                f'(FORMAT binary)" | psql -X -q -v ON_ERROR_STOP=1 "{libpq(url)}" -c "COPY {TABLE} ({cols}) '
                f'FROM STDIN (FORMAT binary)"'
            )
            s, p, _ = peak_rss(["bash", "-o", "pipefail", "-c", cmd])
            seconds, peak = seconds + s, max(peak, p)
        return Measure("raw psql COPY pipes (NW, then retail)", self.rows, *self.counts(stores), seconds, peak)

    def source_reads(self) -> list[Measure]:
        """What reading the source costs, to /dev/null: the two scoped reads the copy makes, and the one
        read that routing in the client would need instead (every row, with its scope as a column)."""
        columns, predicate = self.statements()
        cols = ", ".join(columns)
        reads = {
            "source read: NW (all rows)": f"SELECT {cols} FROM {TABLE}",
            "source read: retail (scope pushed down)": f"SELECT {cols} FROM {TABLE} WHERE {predicate}",
            "source read: once, scope as a column": f"SELECT {cols}, ({predicate}) AS in_retail FROM {TABLE}",
        }
        out = []
        for name, select in reads.items():
            cmd = f'psql -X -q "{libpq(self.source)}" -c "COPY ({_q(select)}) TO STDOUT (FORMAT binary)" > /dev/null'
            seconds, peak, _ = peak_rss(["bash", "-o", "pipefail", "-c", cmd])
            out.append(Measure(name, self.rows, 0, 0, seconds, peak, "diagnostic: read only, nothing written"))
        return out

    def bunkatsu_copy(self, scheduler: str | None = None) -> Measure:
        stores = self.fresh_stores("copy" if not scheduler else "dist")
        cmd = [str(BIN / "bunkatsu"), "copy", "--mapping", str(self.mapping), "--source", self.source]
        cmd += ["--nw", stores["nw"], "--retail", stores["retail"], "--tables", TABLE, "--json"]
        cmd += ["--workers", str(self.workers)] + (["--scheduler", scheduler] if scheduler else [])
        seconds, peak, out = peak_rss(cmd, env=self.env)
        methods = json.loads(out)["tables"][0]["methods"]
        name = "bunkatsu copy" + (
            " --scheduler (LocalCluster, 2 processes)" if scheduler else f" --workers {self.workers}"
        )
        note = ", ".join(methods) + ("; RSS: client only" if scheduler else "")
        self.last_copy = stores
        return Measure(name, self.rows, *self.counts(stores), seconds, peak, note)

    def pandas(self) -> Measure:
        stores = self.fresh_stores("pandas")
        columns, predicate = self.statements()
        args = [sys.executable, __file__, "pandas-worker", self.source, stores["nw"], stores["retail"]]
        args += [",".join(columns), predicate, str(self.pandas_rows)]
        seconds, peak, _ = peak_rss(args, env=self.env)
        nw, retail = self.counts(stores)
        scale = self.rows / max(nw, 1)
        note = f"measured on {nw:,} rows in {seconds:.0f} s, ×{scale:.1f}"
        return Measure("pandas read_sql + to_sql (extrapolated)", self.rows, nw, retail, seconds * scale, peak, note)

    def verify(self) -> Measure:
        stores = self.last_copy
        rest = [str(BIN / "bunkatsu"), "copy", "--mapping", str(self.mapping), "--source", self.source]
        rest += ["--nw", stores["nw"], "--retail", stores["retail"], "--workers", str(self.workers), "--json"]
        peak_rss(rest, env=self.env)  # the other tables, so that verify sees a whole split (untimed)
        self.checkpoint()
        cmd = [str(BIN / "bunkatsu"), "verify", "--mapping", str(self.mapping), "--source", self.source]
        cmd += ["--nw", stores["nw"], "--retail", stores["retail"], "--workers", str(self.workers), "--json"]
        seconds, peak, out = peak_rss(cmd, env=self.env)
        result = json.loads(out)
        steps = result["step_seconds"]
        slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:4]
        scanned = sum(t["retail_rows"] or 0 for t in result["tables"])
        fingerprint = steps["retail.fingerprint + retail.patterns + canary"]
        note = f"verdict {result['verdict']}; fingerprint scan {scanned / fingerprint:,.0f} retail rows/s"
        note += "".join(f"; {k} {v:.1f} s" for k, v in slowest)
        return Measure("bunkatsu verify (whole split)", self.rows, *self.counts(stores), seconds, peak, note)


def libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _q(sql: str) -> str:
    return sql.replace('"', '\\"')


def pandas_worker(source: str, nw: str, retail: str, columns: str, predicate: str, limit: str) -> None:
    """What an engineer writes by hand: read in chunks, write with to_sql."""
    import pandas as pd

    src = sa.create_engine(source)
    with src.connect() as conn:
        lo = conn.execute(sa.text(f"SELECT min(reading_id) FROM {TABLE}")).scalar_one()
    hi = lo + int(limit)
    where = f"reading_id < {hi}"
    for url, condition in ((nw, where), (retail, f"{where} AND {predicate}")):
        target = sa.create_engine(url)
        query = f"SELECT {columns} FROM {TABLE} WHERE {condition}"
        for chunk in pd.read_sql(sa.text(query), src, chunksize=50_000):
            chunk.to_sql(TABLE, target, if_exists="append", index=False, method="multi", chunksize=5_000)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "pandas-worker":
        pandas_worker(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="rows of the interval table (repeatable)")
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partition-rows", type=int, default=500_000)
    parser.add_argument("--pandas-rows", type=int, default=200_000)
    parser.add_argument("--skip", action="append", default=[], help="pipes|copy|verify|cluster|pandas|reads")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results: list[Measure] = []
    for rows in args.rows or [1_000_000]:
        bench = Bench(args.server, rows, args.workers, args.partition_rows, args.pandas_rows)
        bench.ensure_source()
        steps = [
            ("pipes", bench.raw_pipes),
            ("copy", bench.bunkatsu_copy),
            ("verify", bench.verify),
            ("cluster", lambda b=bench: b.bunkatsu_copy(scheduler=start_cluster(args.workers))),
            ("pandas", bench.pandas),
        ]
        for name, step in steps:
            if name not in args.skip:
                results.append(step())
                print(row(results[-1], results), file=sys.stderr)
        if "reads" not in args.skip:
            results += bench.source_reads()
    print_table(results)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (args.out / f"copy-{stamp}.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


_cluster = None


def start_cluster(workers: int) -> str:
    global _cluster
    if _cluster is None:
        from distributed import LocalCluster

        _cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    return _cluster.scheduler_address


def row(m: Measure, all_results: list[Measure]) -> str:
    pipes = next((r for r in all_results if r.rows == m.rows and r.method.startswith("raw")), None)
    ratio = f"{m.seconds / pipes.seconds:.2f}×" if pipes else "–"
    written = m.nw_rows + m.retail_rows
    rate = f"{written / m.seconds:,.0f}" if written and not m.method.startswith("pandas") else "–"
    return (
        f"| {m.rows:,} | {m.method} | {m.seconds:.1f} s | {ratio} | {rate} | {m.peak_rss_mb:.0f} MB "
        f"| {m.nw_rows:,} / {m.retail_rows:,} | {m.note} |"
    )


def print_table(results: list[Measure]) -> None:
    print("| rows | method | wall | vs pipes | rows written/s | peak RSS | NW / retail rows | note |")
    print("|---:|---|---:|---:|---:|---:|---:|---|")
    for m in results:
        print(row(m, results))


if __name__ == "__main__":
    main()
