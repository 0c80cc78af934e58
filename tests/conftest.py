"""Real databases for tests: SQLite files, and PostgreSQL/MariaDB databases created and dropped per test.

With BUNKATSU_REQUIRE_SERVERS=1 (set by .ci/run) a missing server fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import create_database, dispose_all, drop_database
from tests.helpers import MAPPING, TEST_KEY

os.environ["BUNKATSU_LANG"] = "en"  # tests read English; a test of Japanese chooses it (run_cli's env, --lang)
PG_SERVER = os.environ.get("BUNKATSU_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
MARIADB_SERVER = os.environ.get("BUNKATSU_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")
REQUIRE_SERVERS = os.environ.get("BUNKATSU_REQUIRE_SERVERS") == "1"
BACKENDS = ["sqlite", "postgresql", "mariadb"]

SERVER_MARKS = ("postgresql", "mariadb")

_reachable: dict[str, str | None] = {}
_deselected_server_tests: list[str] = []


def pytest_deselected(items: list[pytest.Item]) -> None:
    _deselected_server_tests.extend(i.nodeid for i in items if any(i.get_closest_marker(m) for m in SERVER_MARKS))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Where servers are required (CI), a run that leaves out PostgreSQL or MariaDB tests (`-m`, `-k`) fails:
    an engine must never drop out of CI quietly."""
    if REQUIRE_SERVERS and _deselected_server_tests:
        raise pytest.UsageError(
            f"BUNKATSU_REQUIRE_SERVERS=1 but {len(_deselected_server_tests)} PostgreSQL/MariaDB test(s) were "
            f"deselected (first: {_deselected_server_tests[0]}); CI runs every engine"
        )


def _server_error(backend: str) -> str | None:
    if backend not in _reachable:
        url = {"postgresql": f"{PG_SERVER}/postgres", "mariadb": f"{MARIADB_SERVER}/"}[backend]
        try:
            engine = sa.create_engine(url)
            with engine.connect():
                pass
            engine.dispose()
            _reachable[backend] = None
        except Exception as exc:  # any failure to connect means the server is not usable here
            _reachable[backend] = str(exc).splitlines()[0]
    return _reachable[backend]


def require_backend(backend: str) -> None:
    if backend == "sqlite":
        return
    error = _server_error(backend)
    if error:
        message = f"{backend} server not reachable: {error}"
        if REQUIRE_SERVERS:
            pytest.fail(message + " (BUNKATSU_REQUIRE_SERVERS=1: servers are required here)")
        pytest.skip(message)


class Databases:
    """Hands out fresh database URLs of a backend and drops them all at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []

    def url(self, backend: str, label: str = "db", create: bool = True) -> str:
        require_backend(backend)
        name = f"bk_{label}_{uuid.uuid4().hex[:10]}"
        if backend == "sqlite":
            url = f"sqlite:///{self.tmp / (name + '.db')}"
        elif backend == "postgresql":
            url = f"{PG_SERVER}/{name}"
        else:
            url = f"{MARIADB_SERVER}/{name}"
        if create:
            create_database(url)
        self.created.append(url)
        return url

    def drop_all(self) -> None:
        dispose_all()
        for url in self.created:
            if url.startswith("postgresql"):
                _drop_slots(url)
            drop_database(url)


def _drop_slots(url: str) -> None:
    """A capture's slot (`copy --capture`) keeps its database from being dropped."""
    engine = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = :db"),
                {"db": sa.make_url(url).database},
            )
    finally:
        engine.dispose()


@pytest.fixture
def dbs(tmp_path: Path) -> Iterator[Databases]:
    d = Databases(tmp_path)
    yield d
    d.drop_all()


@pytest.fixture(scope="session")
def session_dbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    d = Databases(tmp_path_factory.mktemp("session-dbs"))
    yield d
    d.drop_all()


_sources: dict[str, str] = {}


def sample_source(session_dbs: Databases, backend: str, supply_points: int = 200, seed: int = 7) -> str:
    """A reference database per backend, built once per session and never written to by tests."""
    key = f"{backend}-{supply_points}-{seed}"
    if key not in _sources:
        from split.sample.generate import generate

        url = session_dbs.url(backend, "src")
        generate(url, supply_points, seed)
        _sources[key] = url
    return _sources[key]


@pytest.fixture(autouse=True)
def migrations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's stores get their own Alembic revisions (never the repository's `migrations/`)."""
    folder = tmp_path / "migrations"
    monkeypatch.setenv("BUNKATSU_MIGRATIONS", str(folder))
    return folder


@pytest.fixture
def encode_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("BUNKATSU_ENCODE_KEY", TEST_KEY)
    return TEST_KEY


BACKEND_PARAMS = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture
def small_partitions(tmp_path: Path) -> Path:
    """The reference mapping with many small partitions, so that a kill lands between them."""
    text = (
        MAPPING.read_text(encoding="utf-8")
        .replace("rows: 20000", "rows: 1500")
        .replace("rows: 5000", "rows: 800")
        .replace("rows: 1000", "rows: 300")
    )
    path = tmp_path / "small.yaml"
    path.write_text(text, encoding="utf-8")
    return path
