"""The protected-set query on a PostgreSQL source without secondary indexes (as legacy systems often are).

    .venv/bin/python bench/unindexed.py --supply-points 2000
    .venv/bin/python bench/unindexed.py --supply-points 4000

Builds the reference database on PostgreSQL (127.0.0.1, user postgres), drops every index but the primary
keys, and times `checks.fingerprint.protected_values`: every source query must stay linear without an index
(the retail scope in WHERE, a hash semi-join; never a per-row subplan). Prints one Markdown table row.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time

import sqlalchemy as sa

from split import api
from split.db import engine_for
from split.demo import bundled_mapping

SERVER = "postgresql://postgres@127.0.0.1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--supply-points", type=int, default=2000)
    args = parser.parse_args()
    os.environ.setdefault("BUNKATSU_ENCODE_KEY", secrets.token_hex(32))
    name = f"bk_bench_unindexed_{args.supply_points}"
    with sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    source = f"{SERVER}/{name}"
    api.sample_db(source, args.supply_points, 1)
    with engine_for(source).begin() as conn:
        indexes = conn.execute(
            sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey'")
        ).scalars()
        for index in list(indexes):
            conn.execute(sa.text(f'DROP INDEX "{index}"'))
        readings = conn.execute(sa.text("SELECT count(*) FROM interval_reading_30min")).scalar_one()

    from checks.context import VerifyContext
    from checks.fingerprint import protected_values
    from split.prepare import prepare

    scratch = tempfile.mkdtemp(prefix="bk-unindexed-")
    prep = prepare(bundled_mapping(), source, f"sqlite:///{scratch}/nw.db", f"sqlite:///{scratch}/retail.db")
    ctx = VerifyContext(prep, secrets.token_bytes(32), 2)
    started = time.monotonic()
    protected = protected_values(ctx)
    seconds = time.monotonic() - started
    print("| supply points | readings | protected values | allowed values | protected set built |")
    print("|---:|---:|---:|---:|---:|")
    print(
        f"| {args.supply_points:,} | {readings:,} | {len(protected.digests):,} | {len(protected.allowed):,} | {seconds:.1f} s |"
    )


if __name__ == "__main__":
    main()
