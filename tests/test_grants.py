"""The grants check on real PostgreSQL and MariaDB servers: each path by which a retail role can read the NW
store is found and named (directly, through a role, through PUBLIC, default privileges), bridges from the
retail side are found, and a clean setup passes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from checks.grants import load_roles
from split.db import engine_for
from split.errors import ConfigError
from tests.helpers import run_cli

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


def _run(conn: sa.Connection, *statements: str) -> None:
    for s in statements:
        conn.execute(sa.text(s))


class Setup:
    """An NW and a retail database with three NW tables, a retail login role, a group role and an NW role."""

    def __init__(self, dbs, backend: str, tmp: Path) -> None:  # type: ignore[no-untyped-def]
        self.backend = backend
        self.nw, self.retail = dbs.url(backend, "gnw"), dbs.url(backend, "gret")
        uid = uuid.uuid4().hex[:8]
        self.r, self.g, self.n = f"bk_r_{uid}", f"bk_g_{uid}", f"bk_n_{uid}"
        self.nw_db = str(engine_for(self.nw).url.database)
        with engine_for(self.nw).begin() as conn:
            _run(conn, *(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v VARCHAR(10))" for i in (1, 2, 3)))
        with self.admin() as conn:
            if backend == "postgresql":
                _run(
                    conn,
                    f"CREATE ROLE {self.r} LOGIN",
                    f"CREATE ROLE {self.g} NOLOGIN",
                    f"CREATE ROLE {self.n} LOGIN",
                    f"REVOKE CONNECT ON DATABASE {self.nw_db} FROM PUBLIC",  # PostgreSQL's default lets anyone in
                )
            else:
                _run(conn, f"CREATE USER '{self.r}'@'%'", f"CREATE ROLE {self.g}", f"CREATE USER '{self.n}'@'%'")
        self.roles = tmp / "roles.yaml"
        self.roles.write_text(f"nw: [{self.n}]\nretail: [{self.r}]\n", encoding="utf-8")

    def admin(self):  # type: ignore[no-untyped-def]
        return engine_for(self.nw).begin()

    def grants(self, *extra: str) -> tuple[int, str]:
        """Exit code and every check's message, one per line (from --json: rich wraps long lines)."""
        r = run_cli("grants", "--roles", str(self.roles), "--nw", self.nw, "--retail", self.retail, "--json", *extra)
        assert "Traceback" not in r.stderr, r.stderr
        return r.returncode, "\n".join(c["message"] for c in json.loads(r.stdout)["checks"])

    def drop(self) -> None:
        with self.admin() as conn:
            if self.backend == "postgresql":
                for role in (self.r, self.g, self.n):
                    for url in (self.nw, self.retail):
                        with engine_for(url).begin() as c:
                            c.execute(sa.text(f"DROP OWNED BY {role}"))
                    conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
            else:
                _run(conn, f"DROP USER IF EXISTS '{self.r}'@'%'", f"DROP USER IF EXISTS '{self.n}'@'%'")
                _run(conn, f"DROP ROLE IF EXISTS {self.g}")


@pytest.fixture
def setup(dbs, request, tmp_path) -> Iterator[Setup]:  # type: ignore[no-untyped-def]
    s = Setup(dbs, request.param, tmp_path)
    yield s
    s.drop()


def _on(s: Setup, table: str) -> str:
    return f"{s.nw_db}.{table}" if s.backend == "mariadb" else table


@pytest.mark.parametrize("setup", SERVERS, indirect=True)
def test_each_path_to_an_nw_table_is_found_and_named(setup: Setup):
    s = setup
    code, out = s.grants()
    assert code == 0, out
    assert "no retail role (1 listed) can log in to or read the NW store" in out

    cases = [  # (grant, revoke, what the finding says)
        (f"GRANT SELECT ON {_on(s, 't1')} TO {s.r}", f"REVOKE SELECT ON {_on(s, 't1')} FROM {s.r}", "directly"),
        (
            f"GRANT SELECT ON {_on(s, 't2')} TO {s.g}",
            f"REVOKE SELECT ON {_on(s, 't2')} FROM {s.g}",
            f"through role {s.g}",
        ),
        (f"GRANT SELECT ON {_on(s, 't3')} TO PUBLIC", f"REVOKE SELECT ON {_on(s, 't3')} FROM PUBLIC", "through PUBLIC"),
    ]
    if s.backend == "mariadb":  # MariaDB names users with a host
        cases[0] = (
            f"GRANT SELECT ON {_on(s, 't1')} TO '{s.r}'@'%'",
            f"REVOKE SELECT ON {_on(s, 't1')} FROM '{s.r}'@'%'",
            "directly",
        )
    membership = f"GRANT {s.g} TO {s.r}" if s.backend == "postgresql" else f"GRANT {s.g} TO '{s.r}'@'%'"
    with s.admin() as conn:
        conn.execute(sa.text(membership))
    for table, (grant, revoke, path) in zip(("t1", "t2", "t3"), cases, strict=True):
        with s.admin() as conn:
            conn.execute(sa.text(grant))
        r = run_cli("grants", "--roles", str(s.roles), "--nw", s.nw, "--retail", s.retail, "--json")
        code, doc = r.returncode, json.loads(r.stdout)
        failing = [c for c in doc["checks"] if c["status"] == "fail"]
        assert code == 1 and doc["verdict"] == "fail", doc
        assert any(
            c["table"] == table and s.r in c["message"] and path in c["message"] and c["store"] == "nw" for c in failing
        ), failing
        with s.admin() as conn:
            conn.execute(sa.text(revoke))
        assert s.grants()[0] == 0


@pytest.mark.postgresql
def test_postgresql_connect_default_privileges_and_dblink(dbs, tmp_path):
    s = Setup(dbs, "postgresql", tmp_path)
    try:
        with s.admin() as conn:
            conn.execute(sa.text(f"GRANT CONNECT ON DATABASE {s.nw_db} TO PUBLIC"))
        code, out = s.grants()
        assert code == 1 and f"retail role {s.r} can connect to the database of the NW store through PUBLIC" in out
        with s.admin() as conn:
            _run(
                conn,
                f"REVOKE CONNECT ON DATABASE {s.nw_db} FROM PUBLIC",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {s.r}",
            )
        code, out = s.grants()
        assert code == 1 and "tables created later (default privileges)" in out
        with s.admin() as conn:
            conn.execute(sa.text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {s.r}"))
        with engine_for(s.retail).begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION dblink"))
        code, out = s.grants()
        assert code == 1 and "extension dblink is installed" in out
        with engine_for(s.retail).begin() as conn:
            conn.execute(sa.text("DROP EXTENSION dblink"))
        # the NW loader writing the retail store: allowed during the waves, a finding after the split
        with engine_for(s.retail).begin() as conn:
            _run(conn, "CREATE TABLE r1 (id INTEGER)", f"GRANT INSERT ON r1 TO {s.n}")
        code, out = s.grants()
        assert code == 0 and f"NW role(s) {s.n} can write the retail store" in out
        code, out = s.grants("--post-split")
        assert code == 1 and f"NW role {s.n} can INSERT table r1 of the retail store directly" in out
    finally:
        s.drop()


def test_roles_file_errors_are_usage_errors(tmp_path):
    cases = {
        "nw: [a]\n": "exactly the keys nw and retail",
        "nw: [a]\nretail: [a]\n": "listed for both companies",
        "nw: [a]\nretail: []\n": "no retail role",
        "nw: a\nretail: [b]\n": "must be a list",
        "nw: [a\n": "not valid YAML",
    }
    for text, words in cases.items():
        path = tmp_path / "roles.yaml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError, match=words):
            load_roles(path)
    r = run_cli(
        "grants", "--roles", str(tmp_path / "missing.yaml"), "--nw", "sqlite:///a.db", "--retail", "sqlite:///b.db"
    )
    assert r.returncode == 2 and "roles file not found" in r.stderr


def test_sqlite_stores_cannot_prove_grants(dbs, tmp_path):
    nw, retail = dbs.url("sqlite", "n"), dbs.url("sqlite", "r")
    for url in (nw, retail):
        with engine_for(url).begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER)"))
    roles = tmp_path / "roles.yaml"
    roles.write_text("nw: [a]\nretail: [b]\n", encoding="utf-8")
    r = run_cli("grants", "--roles", str(roles), "--nw", nw, "--retail", retail)
    assert r.returncode == 3 and "SQLite has no database roles" in r.stdout


@pytest.mark.parametrize("setup", SERVERS, indirect=True)
def test_a_listed_role_that_does_not_exist_is_a_finding(setup: Setup):
    """A typo in the roles file would leave the real retail role unchecked: never a silent pass."""
    s = setup
    s.roles.write_text(f"nw: [{s.n}]\nretail: [{s.r}, {s.r}_typo]\n", encoding="utf-8")
    code, out = s.grants()
    assert code == 1, out
    assert f"listed retail role {s.r}_typo exists on neither server" in out
