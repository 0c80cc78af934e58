"""`copy --scheduler ADDR` runs the same partition tasks on a dask.distributed cluster (two worker
processes here) and gives stores identical to a local run, row for row and ledger entry for entry."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

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
