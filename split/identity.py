"""Which database a URL reaches: the same database spelled two ways is the same database.

Comparing URL strings lets `sqlite:////d/./shared.db`, `localhost` for `127.0.0.1`, or another user on the
same database pass as "different". So before anything is written, every store is resolved to the database
the server says it is, and a store that is the source, or NW and retail in one database, is refused.

- PostgreSQL: the postmaster's start time (a cluster cloned from another shares its `system_identifier`,
  not its start; every role can read it) and the database's OID; the identifier is shown, not compared.
- MariaDB/MySQL: `@@server_uuid` where the server has one (MySQL); else host name, port, data directory
  and the server instance stamp in the high bits of `UUID_SHORT()` (server id and start-up time); and the
  schema (database) name.
- SQLite: device and inode of the real path; a file that does not exist yet is its folder's device and
  inode plus the name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from split.db import engine_for, normalise_url, sqlite_path
from split.errors import ConfigError
from split.i18n import N_, _
from split.settings import StoreUrl

ROLE_NAMES = {
    "source": N_("the source"),
    "nw": N_("the NW store"),
    "retail": N_("the retail store"),
    "log": N_("the access log"),
}


@dataclass(frozen=True)
class Identity:
    engine: str
    server: str  # what tells the server (or the file system) apart
    database: str  # what tells the database apart on it
    detail: str = field(default="", compare=False)  # shown, not compared: a role may not be allowed to read it

    def __str__(self) -> str:
        return " ".join(filter(None, (self.engine, self.server, self.database, self.detail)))


def identify(url: str) -> Identity:
    """The database this URL reaches. Connects (except for SQLite files); never writes."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is None:  # in memory: a database of its own per connection
            return Identity("sqlite", "memory", str(id(parsed)))
        return _file_identity(path)
    with engine_for(url).connect() as conn:
        if backend == "postgresql":
            return _postgresql_identity(conn)
        return _mysql_identity(conn)


def _file_identity(path: Path) -> Identity:
    real = Path(os.path.realpath(path))
    if real.exists():
        st = real.stat()
        return Identity("sqlite", f"dev {st.st_dev}", f"inode {st.st_ino}")
    folder = real.parent.stat()  # not created yet: its folder and name
    return Identity("sqlite", f"dev {folder.st_dev}", f"inode {folder.st_ino}/{real.name}")


def _postgresql_identity(conn: sa.Connection) -> Identity:
    started = conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar_one()
    oid = conn.execute(sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")).scalar_one()
    try:
        with conn.begin_nested():
            system = conn.execute(sa.text("SELECT system_identifier FROM pg_control_system()")).scalar_one()
    except sa.exc.DBAPIError:  # a role without EXECUTE on it (hardened servers revoke it from PUBLIC)
        system = "?"
    # The start time to the microsecond tells clusters apart, clones included (they share the identifier), and
    # every role can read it: comparing the identifier would let a role without EXECUTE pass as "another" cluster.
    return Identity("postgresql", f"started {started.isoformat()}", f"oid {oid}", f"system {system}")


def _mysql_identity(conn: sa.Connection) -> Identity:
    schema = conn.execute(sa.text("SELECT DATABASE()")).scalar_one()
    try:
        with conn.begin_nested():
            uuid = conn.execute(sa.text("SELECT @@server_uuid")).scalar_one()
        return Identity("mysql", f"uuid {uuid}", f"schema {schema}")
    except sa.exc.DBAPIError:  # MariaDB has no server_uuid
        pass
    host, port, datadir, stamp = conn.execute(sa.text("SELECT @@hostname, @@port, @@datadir, UUID_SHORT() >> 24")).one()
    return Identity("mysql", f"{host}:{port} {datadir} instance {stamp}", f"schema {schema}")


def require_separate(stores: Iterable[StoreUrl]) -> dict[str, Identity]:
    """Each store's identity; a usage error (exit 2, nothing written) when two roles reach one database."""
    seen: dict[Identity, StoreUrl] = {}
    identities = {}
    for store in stores:
        identity = identify(store.url)
        first = seen.get(identity)
        if first is not None:
            raise ConfigError(
                _(
                    "the %(role)s and %(role2)s URLs point to the same database: %(masked)s and %(masked2)s both reach %(first)s"
                )
                % {
                    "role": _(store.role),
                    "role2": _(first.role),
                    "masked": store.masked,
                    "masked2": first.masked,
                    "first": _(ROLE_NAMES.get(first.role, first.role)),
                },
                hint=_hint(first.role, store.role),
            )
        seen[identity] = store
        identities[store.role] = identity
    return identities


def _hint(first: str, second: str) -> str:
    if "source" in (first, second):
        return _("bunkatsu never writes the shared source: give NW and retail stores of their own; nothing was written")
    return _("the split needs separate databases for the NW and the retail store; nothing was written")
