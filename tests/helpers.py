"""Independent readers for tests: rows as canonical tuples, straight from a store, no planner involved."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy as sa

from split.checksum import canonical
from split.db import engine_for

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "mappings" / "takuso.yaml"
TEST_KEY = "test-key-0123456789abcdef"
ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: int = 300, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    """Run `bunkatsu` in a child process, as a user would (exit codes, stdout/stderr separated)."""
    kept = ("BUNKATSU_REQUIRE_SERVERS", "BUNKATSU_MIGRATIONS")  # the test's own revisions folder, see `migrations`
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BUNKATSU_") or k in kept}
    if not {"LANG", "LC_ALL", "LC_MESSAGES"} & set(env or {}):
        full_env["BUNKATSU_LANG"] = "en"  # tests read English whatever the machine's locale, unless they choose
    full_env.setdefault("PYTHONFAULTHANDLER", "1")  # a child that crashes in C still prints each thread's frames
    full_env.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "split", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd
    )
    show_crash_files(done.stderr)
    return done


_CRASH_FILE = re.compile(r"/[^\s:：]*?bunkatsu-crash-[^/\s]+/traceback\.txt")


def show_crash_files(stderr: str) -> None:
    """A bug's traceback goes to a file of its own (`split.crash`), gone with the machine that ran the test:
    printed here, pytest shows it under the failing test (its captured output), in CI's log too."""
    for path in map(Path, _CRASH_FILE.findall(stderr)):
        if path.is_file():
            print(path.read_text(encoding="utf-8"))


def copy(
    mapping: Path,
    source: str,
    nw: str,
    retail: str,
    fault: str | None = None,
    workers: int = 2,
    extra: tuple = (),
    key: str | None = TEST_KEY,
) -> subprocess.CompletedProcess:
    """`bunkatsu copy --json` through the CLI; `fault` sets BUNKATSU_FAULT, `key=None` leaves the key unset."""
    env = {"BUNKATSU_ENCODE_KEY": key} if key else {}
    if fault:
        env["BUNKATSU_FAULT"] = fault
    args = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--workers", str(workers)]
    return run_cli("copy", *args, "--json", *extra, env=env)


def reflected(url: str, table: str) -> sa.Table:
    return sa.Table(table, sa.MetaData(), autoload_with=engine_for(url))


def table_names(url: str) -> set[str]:
    return set(sa.inspect(engine_for(url)).get_table_names())


def column_names(url: str, table: str) -> list[str]:
    return [c["name"] for c in sa.inspect(engine_for(url)).get_columns(table)]


def rows(url: str, table: str, columns: list[str] | None = None) -> list[dict]:
    t = reflected(url, table)
    cols = [t.c[c] for c in (columns or t.c.keys())]
    with engine_for(url).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(*cols))]


def canonical_rows(url: str, table: str, columns: list[str]) -> Counter:
    return Counter(tuple(canonical(r[c]) for c in columns) for r in rows(url, table, columns))


def count(url: str, table: str) -> int:
    with engine_for(url).connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one())


def period_table(md: sa.MetaData) -> sa.Table:
    """The supply contract periods of the property tests: which retailer had a point from start to end."""
    return sa.Table(
        "period",
        md,
        sa.Column("pid", sa.Integer, primary_key=True),
        sa.Column("spid", sa.Integer),
        sa.Column("retailer", sa.String(1)),
        sa.Column("start_day", sa.Date),
        sa.Column("end_day", sa.Date),
    )


def database_fingerprint(url: str) -> str:
    """A digest of everything a database holds: a SQLite file's bytes; else every table's columns and rows
    (sorted, canonical). Equal before and after means nothing was written."""
    import hashlib

    from split.db import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    for table in sorted(table_names(url)):
        columns = column_names(url, table)
        digest.update(repr((table, columns)).encode())
        for row in sorted(canonical_rows(url, table, columns).elements()):
            digest.update(repr(row).encode())
    return digest.hexdigest()


# The ledger and the evidence chain record when and by which run a range was written (and the chain a random
# salt): two runs that leave the same rows differ there. store_image compares the ledger by its counts.
CHAINED = {"bunkatsu_ledger", "bunkatsu_evidence"}


def store_image(url: str) -> dict:
    """Every table's rows as a multiset; the ledger as (table, partition) → (rows, checksum)."""
    image = {t: canonical_rows(url, t, column_names(url, t)) for t in table_names(url) - CHAINED}
    with engine_for(url).connect() as conn:
        ledger = conn.execute(
            sa.text("SELECT table_name, partition_no, row_count, checksum FROM bunkatsu_ledger")
        ).all()
    entries = [(t, int(n)) for t, n, _, _ in ledger]
    assert len(entries) == len(set(entries)), "a partition was recorded twice"
    image["__ledger__"] = {(t, int(n)): (int(c), s) for t, n, c, s in ledger}
    return image
