"""`dry-run`: a full rehearsal into scratch stores that leaves nothing behind, whatever happens."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.sample.generate import generate
from split.scratch import PREFIX
from tests.conftest import PG_SERVER, require_backend, sample_source
from tests.helpers import MAPPING, ROOT, TEST_KEY, run_cli

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}


def scratch_left(tmp: Path) -> list[Path]:
    return sorted(tmp.glob(f"{PREFIX}*"))


def scratch_databases(stderr: str) -> list[str]:
    """The run's scratch databases (named on stderr when it starts) that still exist on the server.

    By name, not by listing bk_dryrun_%: other tests rehearse on the same server at the same time."""
    names = sorted(set(re.findall(r"bk_dryrun_[0-9a-f]+_(?:nw|retail)", stderr)))
    assert len(names) == 2, stderr
    engine = sa.create_engine(f"{PG_SERVER}/postgres")
    query = sa.text("SELECT datname FROM pg_database WHERE datname IN :names").bindparams(
        sa.bindparam("names", expanding=True)
    )
    try:
        with engine.connect() as conn:
            return list(conn.execute(query, {"names": names}).scalars())
    finally:
        engine.dispose()


def dry_run(source: str, tmp: Path, *extra: str):
    env = {**ENV, "TMPDIR": str(tmp)}
    return run_cli("dry-run", "--mapping", str(MAPPING), "--source", source, "--json", *extra, env=env)


def test_rehearsal_passes_writes_the_report_and_removes_the_scratch(session_dbs, tmp_path, migrations):
    source = sample_source(session_dbs, "sqlite")
    result = dry_run(source, tmp_path, "--report", str(tmp_path / "report"))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "pass" and summary["scratch_removed"]
    assert len(summary["tables"]) == len(
        json.loads(run_cli("plan", "-m", str(MAPPING), "--source", source, "--json").stdout)["tables"]
    )
    assert json.loads((tmp_path / "report" / "report.json").read_text())["verdict"] == "pass"
    assert scratch_left(tmp_path) == []
    assert not migrations.exists(), "a rehearsal writes no revision into the project"


def test_a_wave_is_rehearsed_with_the_tables_it_needs(session_dbs, tmp_path):
    source = sample_source(session_dbs, "sqlite")
    result = dry_run(source, tmp_path, "--wave", "usage")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rehearsed = set(summary["tables"])
    assert {"monthly_usage", "interval_reading_30min", "contact_history"} <= rehearsed
    assert {"supply_period", "supply_point"} <= rehearsed  # follow targets and foreign-key parents
    assert "retail_account" not in rehearsed and "fit_contract" not in rehearsed
    checked = {c["table"] for c in summary["verify"]["checks"] if c["id"] == "nw.completeness"}
    assert checked == rehearsed & checked and "fit_contract" not in checked


@pytest.mark.postgresql
def test_rehearsal_on_a_server_drops_its_databases(session_dbs, tmp_path):
    require_backend("postgresql")
    source = sample_source(session_dbs, "postgresql")
    result = dry_run(source, tmp_path, "--scratch-url", PG_SERVER, "--wave", "masters")
    assert result.returncode == 0, result.stderr
    assert "postgres@127.0.0.1" in json.loads(result.stdout)["scratch"]
    assert scratch_databases(result.stderr) == []


@pytest.mark.postgresql
def test_a_rehearsal_that_fails_still_removes_its_scratch(session_dbs, tmp_path):
    """Every write to the scratch stores loses its connection: the copy gives up, the databases still go."""
    require_backend("postgresql")
    source = sample_source(session_dbs, "sqlite")
    env = {**ENV, "TMPDIR": str(tmp_path), "BUNKATSU_FAULT": "rows-written:1+:drop"}
    args = ["dry-run", "-m", str(MAPPING), "--source", source, "--scratch-url", PG_SERVER, "--wave", "masters"]
    result = run_cli(*args, env=env)
    assert result.returncode == 3, result.stderr
    assert "after 3 attempts" in result.stderr and "Traceback" not in result.stderr
    assert scratch_databases(result.stderr) == []
    assert scratch_left(tmp_path) == []


def test_a_scratch_url_that_is_not_a_server_is_a_usage_error(session_dbs, tmp_path):
    result = dry_run(sample_source(session_dbs, "sqlite"), tmp_path, "--scratch-url", "sqlite:///x.db")
    assert result.returncode == 2 and "PostgreSQL or MariaDB" in result.stderr
    assert scratch_left(tmp_path) == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_rehearsal_leaves_nothing_behind(backend, how, tmp_path):
    source = f"sqlite:///{tmp_path / 'big.db'}"
    generate(source, 400, 2, interval_days=6)
    extra = []
    if backend == "postgresql":
        require_backend(backend)
        extra = ["--scratch-url", PG_SERVER]
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUNKATSU_") or k == "BUNKATSU_MIGRATIONS"}
    env.update(ENV, TMPDIR=str(scratch_root))
    cmd = [sys.executable, "-m", "split", "dry-run", "--mapping", str(MAPPING), "--source", source, *extra]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _copying(scratch_root, backend):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(how)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert scratch_left(scratch_root) == []
    if backend == "postgresql":
        assert scratch_databases(stderr) == []


def _copying(root: Path, backend: str) -> bool:
    """The copy has started: the scratch holds its revisions (and, on SQLite, the stores)."""
    return any((d / "migrations" / "retail" / "versions").is_dir() for d in root.glob(f"{PREFIX}*"))
