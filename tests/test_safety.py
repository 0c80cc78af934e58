"""Safe by construction: the shared source is production. It is opened read-only, and a store that is the
source under another spelling (a path alias, a host alias, another role) is refused before anything is
written, on every engine; so are NW and retail in one database."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for, read_only_url
from split.prepare import prepare
from split.sample.generate import generate
from tests.conftest import BACKEND_PARAMS, MARIADB_SERVER, PG_SERVER
from tests.helpers import MAPPING, TEST_KEY, database_fingerprint, run_cli, table_names

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}


@pytest.fixture
def source(request: pytest.FixtureRequest, dbs, tmp_path: Path) -> str:
    """A small shared database of the test's own: a bug that wrote to it would harm no other test."""
    url = dbs.url(request.param, "src")
    generate(url, 20, 5)
    return url


def _other_login(url: str) -> Iterator[str]:
    """The same database through another account (PostgreSQL role, MariaDB user), dropped afterwards."""
    parsed = sa.engine.make_url(url)
    name = f"bk_alias_{uuid.uuid4().hex[:8]}"
    backend = parsed.get_backend_name()
    admin = sa.create_engine(f"{PG_SERVER}/postgres" if backend == "postgresql" else f"{MARIADB_SERVER}/")
    create, drop = {
        "postgresql": ([f"CREATE ROLE {name} LOGIN"], [f"DROP ROLE IF EXISTS {name}"]),
        "mysql": (
            [f"CREATE USER '{name}'@'%'", f"GRANT SELECT ON `{parsed.database}`.* TO '{name}'@'%'"],
            [f"DROP USER IF EXISTS '{name}'@'%'"],
        ),
    }[backend]
    with admin.begin() as conn:
        for sql in create:
            conn.execute(sa.text(sql))
    try:
        yield parsed.set(username=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            for sql in drop:
                conn.execute(sa.text(sql))
        admin.dispose()


@pytest.fixture
def aliases(source: str, tmp_path: Path) -> Iterator[list[str]]:
    """Other spellings of the source URL that reach the very same database."""
    if source.startswith("sqlite"):
        path = Path(source.removeprefix("sqlite:///"))
        link = tmp_path / "elsewhere.db"
        link.symlink_to(path)
        yield [f"sqlite:///{path.parent}/./{path.name}", f"sqlite:///{link}"]
        return
    host_alias = source.replace("127.0.0.1", "localhost")
    for other_role in _other_login(source):
        yield [host_alias, other_role]


def _fresh_store(dbs, source: str, label: str) -> str:
    backend = sa.engine.make_url(source).get_backend_name()
    return dbs.url({"mysql": "mariadb"}.get(backend, backend), label)


COMMANDS = {
    "schema revision": lambda src, nw, rt: ["schema", "revision", "--store", "retail", *_all(src, nw, rt)],
    "schema upgrade": lambda src, nw, rt: ["schema", "upgrade", "--store", "retail", "--source", src, "--retail", rt],
    "copy": lambda src, nw, rt: ["copy", *_all(src, nw, rt)],
    "sync": lambda src, nw, rt: ["sync", *_all(src, nw, rt)],
}


def _all(src: str, nw: str, rt: str) -> list[str]:
    return ["--mapping", str(MAPPING), "--source", src, "--nw", nw, "--retail", rt]


@pytest.mark.parametrize("source", BACKEND_PARAMS, indirect=True)
def test_the_source_under_another_name_is_refused_and_left_unchanged(source, aliases, dbs):
    before = database_fingerprint(source)
    nw = _fresh_store(dbs, source, "nw")
    for i, (name, args) in enumerate(COMMANDS.items()):
        alias = aliases[i % len(aliases)]
        result = run_cli(*args(source, nw, alias), env=ENV)
        assert result.returncode == 2, (name, alias, result.stderr)
        assert "Traceback" not in result.stderr
        flat = " ".join(result.stderr.split())
        assert "point to the same database" in flat or "is the source" in flat, (name, result.stderr)
        assert "nothing was written" in flat, (name, result.stderr)
    assert database_fingerprint(source) == before, "the source was written"
    assert table_names(nw) == set(), "a store was written before the refusal"


@pytest.mark.parametrize("source", BACKEND_PARAMS, indirect=True)
def test_nw_and_retail_in_one_database_are_refused(source, dbs):
    store = _fresh_store(dbs, source, "one")
    same = (
        store.replace("127.0.0.1", "localhost") if "127.0.0.1" in store else store.replace("sqlite:///", "sqlite:///./")
    )
    if store.startswith("sqlite"):
        path = Path(store.removeprefix("sqlite:///"))
        same = f"sqlite:///{path.parent}/../{path.parent.name}/{path.name}"
    result = run_cli("copy", *_all(source, store, same), env=ENV)
    assert result.returncode == 2, result.stderr
    assert "the retail and nw URLs point to the same database" in " ".join(result.stderr.split())
    assert table_names(store) == set()


@pytest.mark.parametrize("source", BACKEND_PARAMS, indirect=True)
def test_a_write_through_the_source_connection_fails(source, dbs, tmp_path, encode_key):
    """The prepared source (what every verb reads) is a read-only session; the data is unchanged."""
    before = database_fingerprint(source)
    nw, retail = _fresh_store(dbs, source, "nw"), _fresh_store(dbs, source, "rt")
    prep = prepare(MAPPING, source, nw, retail)
    assert prep.source.url == read_only_url(source)
    engine = engine_for(prep.source.url)
    writes = ["UPDATE area SET area_name = 'x'", "CREATE TABLE planted (id INTEGER)", "DELETE FROM meter"]
    for sql in writes:
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.text(sql))
    assert "planted" not in table_names(source)
    assert database_fingerprint(source) == before
    assert prep.source.masked == prep.source.masked.replace(TEST_KEY, "")  # printed as given, never the key


def test_canaries_into_the_source_is_the_one_write_and_says_so(tmp_path):
    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 20, 5)
    before = database_fingerprint(source)
    planted = run_cli("canary", "plant", "-m", str(MAPPING), "--source", source, "--into", "source", "--count", "1")
    assert planted.returncode == 0, planted.stderr
    assert "into the source (the only write bunkatsu makes there)" in " ".join(planted.stdout.split())
    assert database_fingerprint(source) != before
    removed = run_cli("canary", "remove", "--source", source, "--into", "source")
    assert removed.returncode == 0, removed.stderr


def test_sqlite_stores_and_crash_files_are_private(tmp_path, encode_key):
    """Stores hold customers' plaintext: created 0600, whatever the umask."""
    import os

    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 20, 5)
    old = os.umask(0o022)
    try:
        result = run_cli(
            "copy", *_all(source, f"sqlite:///{tmp_path / 'nw.db'}", f"sqlite:///{tmp_path / 'rt.db'}"), env=ENV
        )
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    for name in ("nw.db", "rt.db"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    from split.crash import write_crash_file

    crash = write_crash_file(ValueError("坂本 和也 070-1234-5678"))
    assert crash.stat().st_mode & 0o077 == 0 and crash.parent.stat().st_mode & 0o077 == 0
    text = crash.read_text(encoding="utf-8")
    shutil.rmtree(crash.parent)
    assert "坂本" not in text and "070-1234-5678" not in text


def test_a_crash_file_named_on_stderr_is_shown_under_the_failing_test(capsys):
    """CI's log is all that is left of a failing run: the redacted traceback a bug's one line names is
    printed with the test's output (English and Japanese lines alike)."""
    from split.crash import write_crash_file
    from tests.helpers import show_crash_files

    def a_bug() -> None:
        None.end_lsn  # type: ignore[attr-defined]  # noqa: B018 - the bug

    try:
        a_bug()
    except AttributeError as exc:
        crash = write_crash_file(exc)
    show_crash_files(f"error: internal error (AttributeError); this is a bug in bunkatsu. Redacted details: {crash}\n")
    shown = capsys.readouterr().out
    assert "AttributeError" in shown and "None.end_lsn" in shown, "the exception and its line of code"
    show_crash_files(f"エラー: 内部エラー (AttributeError)。詳細：{crash}。\n")
    assert "None.end_lsn" in capsys.readouterr().out
    shutil.rmtree(crash.parent)
