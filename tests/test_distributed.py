"""`copy --scheduler ADDR` runs the same partition tasks on a dask.distributed cluster (two worker
processes here) and gives stores identical to a local run, row for row and ledger entry for entry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from split.db import engine_for
from tests.conftest import sample_source
from tests.helpers import MAPPING, copy, store_image


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from distributed import LocalCluster

    # The workers do not get the encode key through their environment: tasks must carry it.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local.scheduler_address


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_cluster_copy_equals_a_local_copy(backend, cluster, dbs, session_dbs):
    source = sample_source(session_dbs, backend)
    local_nw, local_retail = dbs.url(backend, "nw0"), dbs.url(backend, "rt0")
    assert copy(MAPPING, source, local_nw, local_retail).returncode == 0

    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    done = copy(MAPPING, source, nw, retail, extra=("--scheduler", cluster))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["dashboard"].startswith("http"), result["dashboard"]
    assert "Dask dashboard: http" in done.stderr
    assert store_image(nw) == store_image(local_nw)
    assert store_image(retail) == store_image(local_retail)


def test_an_unreachable_scheduler_is_a_usage_error_before_anything_is_written(dbs, session_dbs):
    source = sample_source(session_dbs, "sqlite")
    nw, retail = dbs.url("sqlite", "nw", create=False), dbs.url("sqlite", "rt", create=False)
    failed = copy(MAPPING, source, nw, retail, extra=("--scheduler", "tcp://127.0.0.1:9"))
    assert failed.returncode == 2, failed.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in failed.stderr
    assert "Traceback" not in failed.stderr
    from pathlib import Path

    assert not Path(nw.removeprefix("sqlite:///")).exists()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_cluster_verify_finds_what_a_local_verify_finds(backend, cluster, dbs, session_dbs):
    """`verify --scheduler`: the key-range work (fingerprint, temporal scope, completeness) runs on the
    cluster's worker processes and gives the same results, check by check, clean and with a protected value
    planted in the last row of the last key range of a memo table."""
    from tests.helpers import ENV, reflected, run_cli
    from tests.test_verify import execute, protected_customer

    source = sample_source(session_dbs, backend)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert copy(MAPPING, source, nw, retail).returncode == 0
    args = ["verify", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, "--json"]

    def outcome(result) -> list[tuple]:  # type: ignore[no-untyped-def]
        fields = ("id", "store", "table", "column", "status", "observed", "expected", "samples")
        checks = json.loads(result.stdout)["checks"]
        # capture.retained names every capture slot on the source's server, another test's too, and the WAL it
        # keeps grows between the two runs; it runs here, never on the cluster
        return sorted(tuple(str(c[f]) for f in fields) for c in checks if c["id"] != "capture.retained")

    local, remote = run_cli(*args, env=ENV), run_cli(*args, "--scheduler", cluster, env=ENV)
    assert local.returncode == remote.returncode == 0, remote.stderr
    assert outcome(remote) == outcome(local)

    memos = reflected(retail, "contact_history")
    with engine_for(retail).connect() as conn:
        last = conn.execute(sa.select(sa.func.max(memos.c.contact_id))).scalar_one()
    phone = protected_customer(source)["phone"]
    execute(retail, memos.update().where(memos.c.contact_id == last).values(memo="折返し " + phone))
    local, remote = run_cli(*args, env=ENV), run_cli(*args, "--scheduler", cluster, env=ENV)
    assert local.returncode == remote.returncode == 1, remote.stderr
    assert outcome(remote) == outcome(local)
    found = {(c["id"], c["table"]) for c in json.loads(remote.stdout)["checks"] if c["status"] == "fail"}
    assert ("retail.fingerprint", "contact_history") in found, found
    assert phone not in remote.stdout + remote.stderr

    unreachable = run_cli(*args, "--scheduler", "tcp://127.0.0.1:9", env=ENV)
    assert unreachable.returncode == 2 and "cannot reach the Dask scheduler" in unreachable.stderr


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_a_cluster_sync_gives_what_a_fresh_copy_gives(backend, cluster, dbs, small_partitions):
    """`sync --scheduler`: the changed source (edits, inserts, deletes, switches both ways) brought into the
    stores by the cluster's worker processes, row for row what a fresh copy gives."""
    from split.sample.generate import generate
    from tests.test_sync import change_the_source, cli, image

    source = dbs.url(backend, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert cli("copy", small_partitions, source, nw, retail).returncode == 0
    change_the_source(source)
    synced = cli("sync", small_partitions, source, nw, retail, "--scheduler", cluster)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["updated"] > 0
    fresh_nw, fresh_retail = dbs.url(backend, "nw2"), dbs.url(backend, "rt2")
    assert cli("copy", small_partitions, source, fresh_nw, fresh_retail).returncode == 0
    assert image(nw) == image(fresh_nw)
    assert image(retail) == image(fresh_retail)
