"""A natural-key table against the same rows with an integer surrogate key: `bunkatsu copy` on PostgreSQL.

    .venv/bin/python bench/natural_key.py --rows 1000000              # quick
    .venv/bin/python bench/natural_key.py --rows 10080000 --out bench/results/natural-key-10m.json
    .venv/bin/python bench/natural_key.py --rows 10080000 --binary-index --out bench/results/natural-key-10m-binary.json
    .venv/bin/python bench/natural_key.py --rows 10080000 --keyless --out bench/results/keyless-10m.json

Builds (first run only, kept as bk_bench_nk_<rows>) a source with two tables holding the same 30-minute
readings: `reading_surrogate` keyed by `reading_id bigint`, and `reading_natural` keyed by its natural
key (supply_point_id varchar(22), reading_date, slot) with no surrogate. Both are mapped with
`partition: {rows: --partition-rows}` (the natural table by its primary key, so three columns, one of
them text). Then, each into fresh stores: the raw `psql COPY … | psql COPY` pipe of the table, and
`bunkatsu copy --tables T` of each table. Wall time, peak RSS of the process tree, the plan's time (the
natural key's bounds are sampled) and the partitions' row counts (min/max against `rows:`).

`--keyless`: instead, the same readings in `reading_keyless`, a table without any key, copied in block
(ctid) ranges (`partition: {rows: …}`) and as one partition (no `partition`), against its raw pipe.

`--follow`: each table is copied with `--capture` (the server needs `wal_level = logical`); two follows with
nothing to apply move the slot past the copy (untimed); then every reading of slot 1 is corrected on the
source (one reading in 48: 210,000 at 10,080,000 rows) and `sync --follow --until-idle` is timed, the natural
key's rows piped like the surrogate key's; the slot is dropped after each table. The source keeps the
corrections (values only: the counts, keys and bounds stay).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from copy_pg import BIN, libpq, peak_rss  # noqa: E402

TABLES = ("reading_surrogate", "reading_natural")
DAYS = 30


def mapping_text(partition_rows: int | None, partitioned: tuple[str, ...]) -> str:
    """Every table of the source (a mapping classifies them all), `partition: {rows: …}` on `partitioned`."""
    everything = (*TABLES, "reading_keyless")
    tables = "".join(
        f"  {t}:\n    retail: none\n"
        + (f"    partition: {{rows: {partition_rows}}}\n" if partition_rows and t in partitioned else "")
        + "    columns:\n      supply_point_id: {to: nw, kind: supply_point_id}\n"
        "      reading_date: nw\n      slot: nw\n      kwh: nw\n"
        + ("      reading_id: nw\n" if t == "reading_surrogate" else "")
        for t in everything
    )
    return (
        "version: 1\nsystem: bench\naffiliate: {name: A, retailer_codes: ['00016']}\n"
        f"tables:\n{tables}waves:\n  - {{name: all, tables: [{', '.join(everything)}]}}\n"
    )


def build(source: str, rows: int) -> None:
    from split.db import create_database, database_exists, engine_for

    if database_exists(source) and sa.inspect(engine_for(source)).has_table("reading_keyless"):
        with engine_for(source).connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM reading_natural")).scalar_one() == rows:
                return
    create_database(source)
    points = rows // (48 * DAYS)
    print(f"building {points:,} supply points × {DAYS} days × 48 slots …", file=sys.stderr)
    # points in a random order of their ids, as a real table fills: the natural key is not the load order
    readings = f"""
        SELECT row_number() OVER () AS reading_id, p.spid::varchar(22) AS spid, DATE '2024-11-01' + d AS reading_date,
               s::smallint AS slot, round((random() * 0.9 + 0.02)::numeric, 3)::numeric(9, 3) AS kwh
        FROM (SELECT '06' || lpad((g::bigint * 7919 + 1000003)::text, 20, '0') AS spid
              FROM generate_series(1, {points}) g ORDER BY random()) p,
             generate_series(0, {DAYS - 1}) d, generate_series(1, 48) s"""
    with engine_for(source).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS reading_surrogate, reading_natural")
        conn.exec_driver_sql(f"CREATE TABLE reading_surrogate AS {readings}")
        conn.exec_driver_sql("ALTER TABLE reading_surrogate ADD PRIMARY KEY (reading_id)")
        conn.exec_driver_sql(
            "CREATE TABLE reading_natural AS SELECT spid, reading_date, slot, kwh FROM reading_surrogate"
        )
        for t in TABLES:
            conn.exec_driver_sql(f"ALTER TABLE {t} RENAME COLUMN spid TO supply_point_id")
            for c in ("supply_point_id", "reading_date", "slot", "kwh"):
                conn.exec_driver_sql(f"ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL")
        conn.exec_driver_sql("ALTER TABLE reading_natural ADD PRIMARY KEY (supply_point_id, reading_date, slot)")
        conn.exec_driver_sql("CREATE TABLE reading_keyless AS SELECT * FROM reading_natural")
        conn.exec_driver_sql("VACUUM ANALYZE")


def create_like(url: str, table: str) -> None:
    """The table as the copy's store holds it (same types, same primary key), for the raw pipe."""
    from split.db import engine_for

    surrogate = "reading_id bigint PRIMARY KEY, " if table == "reading_surrogate" else ""
    key = "" if surrogate or table == "reading_keyless" else ", PRIMARY KEY (supply_point_id, reading_date, slot)"
    collate = "" if surrogate else 'COLLATE "C"'  # as bunkatsu's store has it (split/schema/derive.py)
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} ({surrogate}supply_point_id varchar(22) {collate} NOT NULL, reading_date date NOT NULL, "
            f"slot smallint NOT NULL, kwh numeric(9, 3) NOT NULL{key})"
        )


def binary_index(source: str, wanted: bool) -> None:
    from split.db import engine_for

    with engine_for(source).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if wanted:
            conn.exec_driver_sql(
                'CREATE INDEX IF NOT EXISTS reading_natural_binary ON reading_natural (supply_point_id COLLATE "C", '
                "reading_date, slot)"
            )
        else:
            conn.exec_driver_sql("DROP INDEX IF EXISTS reading_natural_binary")


def fresh(server: str, label: str) -> dict[str, str]:
    from split.db import create_database, dispose_all, drop_database

    dispose_all()
    stores = {r: f"{server}/bk_bench_nk_{label}_{r}" for r in ("nw", "retail")}
    for url in stores.values():
        drop_database(url)
        create_database(url)
    return stores


def follow(mapping: Path, source: str, stores: dict[str, str], table: str, env: dict[str, str]) -> dict:
    """Slot 1 of every day corrected, then `sync --follow --until-idle` timed (see the module docstring)."""
    from split.db import engine_for

    args = ["--mapping", str(mapping), "--source", source, "--nw", stores["nw"], "--retail", stores["retail"]]
    cmd = [str(BIN / "bunkatsu"), "sync", "--follow", "--until-idle", *args, "--tables", table, "--json"]
    try:
        for _ in range(2):  # past the copy's own WAL (the stores share the source's server here)
            peak_rss(cmd, env=env)
        with engine_for(source, writer=True).begin() as conn:
            changed = conn.execute(sa.text(f"UPDATE {table} SET kwh = kwh + 0.001 WHERE slot = 1")).rowcount
        seconds, peak, out = peak_rss(cmd, env=env)
    finally:
        drop = [str(BIN / "bunkatsu"), "capture", "drop", "--mapping", str(mapping), "--source", source]
        peak_rss(drop, env=env, check=False)
    report = json.loads(out)
    assert report["rows"]["nw"]["updated"] == changed, (report["rows"], changed)
    return {
        "follow_changes": changed,
        "follow_s": round(seconds, 1),
        "follow_per_s": round(changed / seconds),
        "follow_peak_mb": round(peak),
        "follow_piped": report["piped"],
        "follow_steps": report["steps"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--partition-rows", type=int, default=500_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keyless", action="store_true", help="the table without a key, in block ranges and whole")
    parser.add_argument("--follow", action="store_true", help="copy with --capture, then time a follow of 1/48 rows")
    parser.add_argument(
        "--binary-index",
        action="store_true",
        help='give the source natural table the index `plan` asks for: (supply_point_id COLLATE "C", …)',
    )
    args = parser.parse_args()
    source = f"{args.server}/bk_bench_nk_{args.rows}"
    build(source, args.rows)
    binary_index(source, args.binary_index)
    folder = Path(tempfile.mkdtemp())
    env = {**os.environ, "BUNKATSU_ENCODE_KEY": secrets.token_hex(16), "BUNKATSU_MIGRATIONS": str(folder)}
    results = []
    runs = [(t, args.partition_rows) for t in TABLES]
    if args.keyless:  # in block ranges, then as one partition
        runs = [("reading_keyless", args.partition_rows), ("reading_keyless", None)]
    for table, per_range in runs:
        mapping = folder / f"bench-{per_range}.yaml"
        mapping.write_text(mapping_text(per_range, (table,) if args.keyless else TABLES), encoding="utf-8")
        stores = fresh(args.server, "pipe")
        cols = "supply_point_id, reading_date, slot, kwh" + (", reading_id" if table == "reading_surrogate" else "")
        create_like(stores["nw"], table)
        pipe = (
            f'psql -X -q -v ON_ERROR_STOP=1 "{libpq(source)}" -c "COPY (SELECT {cols} FROM {table}) TO STDOUT '
            f'(FORMAT binary)" | psql -X -q -v ON_ERROR_STOP=1 "{libpq(stores["nw"])}" -c "COPY {table} ({cols}) '
            f'FROM STDIN (FORMAT binary)"'
        )
        pipe_s, pipe_mb, _ = peak_rss(["bash", "-o", "pipefail", "-c", pipe])

        plan_cmd = [str(BIN / "bunkatsu"), "plan", "--mapping", str(mapping), "--source", source, "--json"]
        plan_s, _, plan_out = peak_rss(plan_cmd, env=env)
        planned = next(t for t in json.loads(plan_out)["tables"] if t["name"] == table)
        parts = planned.get("blocks") or planned["partitions"]

        stores = fresh(args.server, "copy")
        cmd = [str(BIN / "bunkatsu"), "copy", "--mapping", str(mapping), "--source", source, "--json"]
        cmd += ["--nw", stores["nw"], "--retail", stores["retail"], "--tables", table, "--workers", str(args.workers)]
        seconds, peak, out = peak_rss(cmd + (["--capture"] if args.follow else []), env=env)
        from split.db import engine_for

        with engine_for(stores["nw"]).connect() as conn:
            sizes = [
                int(n)
                for (n,) in conn.execute(
                    sa.text("SELECT row_count FROM bunkatsu_ledger WHERE table_name = :t"), {"t": table}
                )
            ]
        copied = sum(t["rows"].get("nw", 0) for t in json.loads(out)["tables"])
        key_build = sum(sum(t.get("key_built_after_load", {}).values()) for t in json.loads(out)["tables"])
        assert copied == args.rows == sum(sizes), (copied, args.rows, sum(sizes))
        results.append(
            {
                "table": table + ("" if per_range else " (no partition)"),
                "source_binary_index": args.binary_index and table == "reading_natural",
                "rows": args.rows,
                "partitions": len(parts),
                "smallest": min(sizes),
                "largest": max(sizes),
                "plan_s": round(plan_s, 1),
                "copy_s": round(seconds, 1),
                "key_build_s": round(key_build, 1),  # of copy_s: the store building the key after the load
                "copy_peak_mb": round(peak),
                "pipe_s": round(pipe_s, 1),
                "pipe_peak_mb": round(pipe_mb),
            }
        )
        if args.follow:
            results[-1].update(follow(mapping, source, stores, table, env))
        print(json.dumps(results[-1]), file=sys.stderr)
    head = "| table | rows | partitions (min–max rows) | plan s | copy s | of which key build s | copy peak MB | raw pipe s |"
    print(head + "\n|---|---:|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| `{r['table']}` | {r['rows']:,} | {r['partitions']} ({r['smallest']:,}–{r['largest']:,}) | "
            f"{r['plan_s']} | {r['copy_s']} | {r['key_build_s']} | {r['copy_peak_mb']} | {r['pipe_s']} |"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
