"""Engines for store URLs: one place for driver quirks, database creation and connection errors."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import warnings
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from split.errors import ConfigError
from split.i18n import _
from split.settings import mask_url, parse_url

_engines: dict[str, sa.Engine] = {}
_lock = threading.Lock()

# SQLite stores NUMERIC as REAL; SQLAlchemy converts back to Decimal at the declared scale and
# warns once per process. The values round-trip at the precisions we copy; the warning is noise.
warnings.filterwarnings("ignore", message=r".*does \*not\* support Decimal objects natively.*")


def normalise_url(url: str) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        if parsed.get_driver_name() in ("mysqldb", "") or "+" not in parsed.drivername:
            parsed = parsed.set(drivername=f"{backend}+pymysql")
        if "charset" not in parsed.query:  # Japanese text needs 4-byte UTF-8
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed


READ_ONLY_POSTGRESQL = "-c default_transaction_read_only=on"
READ_ONLY_MYSQL = "SET SESSION TRANSACTION READ ONLY"


def read_only_url(url: str) -> str:
    """The same database, opened so that the session cannot write: the shared source is production.

    PostgreSQL `default_transaction_read_only`, MariaDB/MySQL `SET SESSION TRANSACTION READ ONLY` on every
    connection, SQLite `mode=ro`. It is a URL, so Dask workers that get it open read-only sessions too.
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        options = " ".join(filter(None, [parsed.query.get("options"), READ_ONLY_POSTGRESQL]))  # type: ignore[list-item]
        parsed = parsed.update_query_dict({"options": options})
    elif backend in ("mysql", "mariadb"):
        parsed = parsed.update_query_dict({"init_command": READ_ONLY_MYSQL})
    elif backend == "sqlite":
        path = sqlite_path(url)
        if path is None:
            return url  # in memory: nothing to protect
        uri = "file:" + quote(str(path.resolve()))
        return f"sqlite:///{uri}?mode=ro&uri=true"
    return parsed.render_as_string(hide_password=False)


def engine_for(url: str, *, writer: bool = False) -> sa.Engine:
    """A cached engine per URL and process (engines are never pickled: workers build their own).

    `writer` engines on SQLite take the write lock when a transaction begins (BEGIN IMMEDIATE):
    concurrent writers then queue on the busy timeout instead of deadlocking on a lock upgrade.
    """
    cache_key = f"{'w' if writer else 'r'}:{url}"
    with _lock:
        engine = _engines.get(cache_key)
        if engine is None:
            parsed = normalise_url(url)
            if parsed.get_backend_name() == "sqlite":
                engine = sa.create_engine(parsed, connect_args={"timeout": 300})
                _private_files(engine, sqlite_path(url))
                if writer:
                    _begin_immediate(engine)
            elif writer and parsed.get_backend_name() in ("mysql", "mariadb"):
                # No gap locks: concurrent partitions of one table replace disjoint key ranges.
                engine = sa.create_engine(parsed, pool_pre_ping=True, isolation_level="READ COMMITTED")
            else:
                engine = sa.create_engine(parsed, pool_pre_ping=True)
            _engines[cache_key] = engine
        return engine


def _begin_immediate(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _private_files(engine: sa.Engine, path: Path | None) -> None:
    """A SQLite store holds plaintext of the customers: a file SQLite is about to create is created 0600 first
    (its journal and WAL files take the database file's permissions)."""
    if path is None:
        return

    @sa.event.listens_for(engine, "do_connect")
    def _create_private(dialect, conn_rec, cargs, cparams):  # type: ignore[no-untyped-def]
        if not path.exists() and "mode=ro" not in str(cargs[0] if cargs else ""):
            create_private_file(path)


def create_private_file(path: Path) -> None:
    """An empty file only its owner can read and write (a no-op when it exists)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (also of a `file:` URI, as `read_only_url` writes them); None otherwise."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if parsed.query.get("uri") == "true" and database.startswith("file:"):
        database = database.removeprefix("file:").split("?", 1)[0]
        if database.startswith("//"):  # file://host/path: only the local form is meaningful here
            database = "/" + database[2:].split("/", 1)[-1]
    return Path(database)


def check_reachable(url: str, role: str, *, must_exist: bool = True) -> None:
    """Connect once before any work so that a wrong URL fails as a usage error with nothing written."""
    parse_url(url, role)
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.is_file():
            raise ConfigError(
                _("the %(role)s database file does not exist: %(path)s") % {"role": _(role), "path": path},
                hint=_("check the path; create the reference database with `bunkatsu sample-db`"),
            )
        if not path.parent.is_dir():
            raise ConfigError(
                _("the folder of the %(role)s database does not exist: %(parent)s")
                % {"role": _(role), "parent": path.parent}
            )
        if not path.is_file():
            return  # SQLite creates the file on first write: connecting now would write it already
    try:
        with engine_for(url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        raise ConfigError(
            _("cannot connect to the %(role)s database %(url)s: %(exc)s")
            % {"role": _(role), "url": mask_url(url), "exc": describe_db_error(exc, hide_values=False)},
            hint=_("check host, port, database name, user and that the server runs; nothing was written"),
        ) from None


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\([^)]*\)=\([^)]*\)")
_LONG_NUMBER = re.compile(r"\d{6,}")


def describe_db_error(exc: BaseException, *, hide_values: bool = True) -> str:
    """A one-line reason without the statement, its parameters or quoted values (they may be protected).

    Drivers quote offending values ("Duplicate entry '0610…' for key"): those are replaced by «…».
    """
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if hide_values:  # connection errors name hosts and databases only: those stay readable
        text = redact(text)
    return f"{type(orig).__name__}: {text[:300]}"


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@\s]+@")


def redact(text: str) -> str:
    """Passwords in URLs masked; quoted strings and long digit runs replaced (they may be protected values)."""
    return _LONG_NUMBER.sub("…", _QUOTED.sub("«…»", _URL_PASSWORD.sub(r"\1:***@", text)))


def is_disconnect(exc: BaseException) -> bool:
    """A lost connection (the dialect says so): retrying on a new connection can help."""
    return isinstance(exc, sa.exc.DBAPIError) and (
        bool(exc.connection_invalidated) or isinstance(exc, sa.exc.InterfaceError)
    )


_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available
_RETRYABLE_MYSQL_CODES = {1205, 1213}  # lock wait timeout, deadlock


def is_transient(exc: BaseException) -> bool:
    """Lost connections, deadlocks and lock timeouts: the transaction was rolled back; a retry can succeed."""
    if is_disconnect(exc):
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _RETRYABLE_MYSQL_CODES:
        return True
    return "database is locked" in str(orig)  # SQLite, past its busy timeout


def _server_url(url: URL) -> URL:
    if url.get_backend_name() == "postgresql":
        return url.set(database="postgres")
    return url._replace(database=None)  # URL.set() treats None as "unchanged"


def _database_name(url: URL) -> str:
    if not url.database:
        raise ConfigError(
            _("the URL %(url)s names no database") % {"url": url.render_as_string(hide_password=True)},
            hint=_("add the database name: …/dbname"),
        )
    return url.database


def database_exists(url: str) -> bool:
    parsed = normalise_url(url)
    path = sqlite_path(url)
    if parsed.get_backend_name() == "sqlite":
        return path is None or path.is_file()
    engine = sa.create_engine(_server_url(parsed), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            if parsed.get_backend_name() == "postgresql":
                q = "SELECT 1 FROM pg_database WHERE datname = :n"
            else:
                q = "SELECT 1 FROM information_schema.schemata WHERE schema_name = :n"
            return conn.execute(sa.text(q), {"n": parsed.database}).first() is not None
    finally:
        engine.dispose()


def create_database(url: str) -> None:
    """Create the database of a PostgreSQL/MariaDB URL if it is missing (SQLite creates files itself)."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" or database_exists(url):
        return
    engine = sa.create_engine(_server_url(parsed), isolation_level="AUTOCOMMIT")
    name = _database_name(parsed)
    try:
        with engine.connect() as conn:
            quoted = engine.dialect.identifier_preparer.quote(name)
            if parsed.get_backend_name() == "postgresql":
                conn.execute(sa.text(f"CREATE DATABASE {quoted} ENCODING 'UTF8' TEMPLATE template0"))
            else:
                conn.execute(sa.text(f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    finally:
        engine.dispose()


def drop_database(url: str) -> None:
    parsed = normalise_url(url)
    path = sqlite_path(url)
    if parsed.get_backend_name() == "sqlite":
        if path is not None:
            path.unlink(missing_ok=True)
        return
    with _lock:
        for cache_key in (f"r:{url}", f"w:{url}"):
            cached = _engines.pop(cache_key, None)
            if cached is not None:
                cached.dispose()
    engine = sa.create_engine(_server_url(parsed), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            quoted = engine.dialect.identifier_preparer.quote(_database_name(parsed))
            suffix = " WITH (FORCE)" if parsed.get_backend_name() == "postgresql" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quoted}{suffix}"))
    finally:
        engine.dispose()
