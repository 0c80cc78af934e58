"""The capture's two objects on a PostgreSQL source: a publication and a logical replication slot.

They are the only objects bunkatsu creates on the source, and only when told (`copy --capture`); `capture
drop` removes both. The publication lists the mapped tables whose replica identity is their primary key:
a table without one cannot be published for updates without making the source refuse its UPDATE and
DELETE statements, so such tables stay out and are brought up to date by checksum `sync`.

The slot is created over a replication connection with `SNAPSHOT 'export'`: the snapshot every partition
of the copy then reads is the slot's starting point, so each change is either in the copy or in the slot,
never both, never neither. psycopg 3 runs replication commands (it has no streaming replication
protocol, which the follow does not need: it reads the slot with `pg_logical_slot_peek_binary_changes`
and moves it with `pg_replication_slot_advance`, in SQL, after the stores committed).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import make_url

from split.db import READ_ONLY_POSTGRESQL
from split.errors import ConfigError
from split.i18n import _
from split.settings import CAPTURE_PREFIX

PREFIX = CAPTURE_PREFIX


@dataclass(frozen=True)
class SlotStatus:
    """One capture slot as `capture status` shows it; sizes in bytes of WAL."""

    name: str
    database: str
    active: bool
    confirmed_lsn: str | None
    behind_bytes: int  # WAL written since the last applied change
    retained_bytes: int  # WAL the slot keeps on the source's disk
    wal_status: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def capture_name(system: str, database: str) -> str:
    """One capture per mapped system and source database (slot names are unique per server)."""
    slug = re.sub(r"[^a-z0-9_]+", "_", system.lower()).strip("_")[:30]
    digest = hashlib.sha256(f"{system}\0{database}".encode()).hexdigest()[:8]
    return f"{PREFIX}{slug}_{digest}" if slug else f"{PREFIX}{digest}"


def connect(url: str, *, replication: bool = False) -> Any:
    """The capture's own connection to the source: not read-only (it creates and moves the slot), autocommit."""
    import psycopg

    parsed = make_url(url)
    options = (parsed.query.get("options") or "").replace(READ_ONLY_POSTGRESQL, "").strip()  # type: ignore[union-attr]
    extra = {k: v for k, v in parsed.query.items() if k != "options" and isinstance(v, str)}
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
        "options": options or None,
        "replication": "database" if replication else None,
        **extra,
    }
    return psycopg.connect(autocommit=True, **{k: v for k, v in params.items() if v is not None})


def require_logical(conn: Any, masked: str) -> None:
    """Logical decoding needs `wal_level = logical` (a restart) and a free slot: said before anything is made."""
    level, slots, used = conn.execute(
        "SELECT current_setting('wal_level'), current_setting('max_replication_slots')::int,"
        " (SELECT count(*) FROM pg_replication_slots)"
    ).fetchone()
    if level != "logical":
        raise ConfigError(
            _("the source %(masked)s has wal_level = %(level)s: change capture needs wal_level = logical")
            % {"masked": masked, "level": level},
            hint=_(
                "a DBA sets `wal_level = logical` in postgresql.conf and restarts the server (runbooks/wave.md, 'Server setup'); or run `copy` without --capture and use checksum `sync`"
            ),
        )
    if used >= slots:
        raise ConfigError(
            _("the source %(masked)s has no free replication slot (max_replication_slots = %(slots)s, %(used)s in use)")
            % {"masked": masked, "slots": slots, "used": used},
            hint=_("raise max_replication_slots (a restart), or drop an unused slot (`bunkatsu capture status`)"),
        )


def publishable(conn: Any, tables: list[str]) -> list[str]:
    """The tables whose replica identity is their primary key (the default, with a primary key)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c WHERE c.oid = ANY(%s::regclass[]) AND c.relreplident = 'd'"
        " AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
        ([quote(t) for t in tables],),
    ).fetchall()
    found = {r[0] for r in rows}
    return [t for t in tables if t in found]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def publish(conn: Any, name: str, tables: list[str]) -> None:
    """Create the publication, or set its tables to these (a mapping that gained a table)."""
    listed = ", ".join(quote(t) for t in tables)
    exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    if not tables:
        raise ConfigError(
            _("no mapped table can be captured: none has a primary key as its replica identity"),
            hint=_("run `copy` without --capture and use checksum `sync`"),
        )
    verb = f"ALTER PUBLICATION {quote(name)} SET TABLE" if exists else f"CREATE PUBLICATION {quote(name)} FOR TABLE"
    conn.execute(f"{verb} {listed}")


def slot_exists(conn: Any, name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone() is not None


@contextmanager
def replication_connection(url: str, masked: str) -> Iterator[Any]:
    """A replication connection (for the slot and its snapshot), refused clearly: its own pg_hba.conf line
    (`replication`, which `all` does not match) and the account's REPLICATION attribute."""
    import psycopg

    try:
        conn = connect(url, replication=True)
    except psycopg.OperationalError as exc:
        raise ConfigError(
            _("the source %(masked)s refused a replication connection: %(detail)s")
            % {"masked": masked, "detail": str(exc).strip().splitlines()[-1]},
            hint=_(
                "a DBA allows it: a pg_hba.conf line `host replication <user> <address> <method>` and `ALTER ROLE <user> REPLICATION` (runbooks/wave.md, 'Server setup')"
            ),
        ) from None
    with conn:
        yield conn


def create_slot(conn: Any, name: str) -> tuple[str, str]:
    """Create the slot on a replication connection and export its snapshot: (snapshot id, starting LSN). The
    snapshot lives while that connection runs nothing else: the caller holds it, idle, until the copy ends."""
    new_syntax = int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 150000
    option = "(SNAPSHOT 'export')" if new_syntax else "EXPORT_SNAPSHOT"
    _slot, lsn, snapshot, _plugin = conn.execute(
        f"CREATE_REPLICATION_SLOT {quote(name)} LOGICAL pgoutput {option}"
    ).fetchone()
    return str(snapshot), str(lsn)


def statuses(conn: Any) -> list[SlotStatus]:
    rows = conn.execute(
        "SELECT slot_name, database, active, confirmed_flush_lsn::text,"
        " coalesce(pg_current_wal_lsn() - confirmed_flush_lsn, 0)::bigint,"
        " coalesce(pg_current_wal_lsn() - restart_lsn, 0)::bigint, wal_status"
        " FROM pg_replication_slots WHERE slot_name LIKE %s ORDER BY slot_name",
        (PREFIX.replace("_", "\\_") + "%",),
    ).fetchall()
    return [SlotStatus(*row) for row in rows]


def drop(conn: Any, name: str) -> bool:
    """Drop the slot and the publication; False when there was no slot."""
    existed = slot_exists(conn, name)
    if existed:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    conn.execute(f"DROP PUBLICATION IF EXISTS {quote(name)}")
    return existed


def peek(conn: Any, name: str, upto: str, limit: int) -> Iterator[bytes]:
    """The slot's pgoutput messages up to `upto`, whole transactions, stopping after about `limit` messages;
    nothing is consumed (the slot moves only by `advance`)."""
    # streamed in chunks (a big source transaction is not held whole here); not a server-side cursor, whose
    # FETCH round trips cost ~90 ms each on this path
    for (data,) in conn.cursor().stream(
        "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, %s::pg_lsn, %s,"
        " 'proto_version', '1', 'publication_names', %s)",
        (name, upto, limit, name),
        size=1000,
    ):
        yield bytes(data)


def advance(conn: Any, name: str, lsn: str) -> None:
    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (name, lsn))


def decodable_position(conn: Any) -> str:
    """A position to decode up to: every transaction committed before it lies behind it, and all WAL before
    it is on disk. A transactional logical message does it (its commit flushes the WAL; no table is
    written, pgoutput does not send it). The flush position alone is not enough: it can fall inside a
    record whose rest an idle server's WAL writer leaves unflushed (a read that pruned pages after a
    checkpoint writes such WAL), and the decoding then waits — 18.8 s measured — until something flushes."""
    return str(conn.execute("SELECT pg_logical_emit_message(true, 'bunkatsu', 'follow')").fetchone()[0])


def current_lsn(conn: Any) -> str:
    """The WAL written to disk (how far a capture is behind is measured to it)."""
    return str(conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()[0])


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)
