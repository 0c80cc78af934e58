"""Change capture on a MariaDB or MySQL source: its row-based binary log, read from a recorded position.

Nothing is created on the source. `copy --capture` reads the binlog position of a consistent snapshot
(`START TRANSACTION WITH CONSISTENT SNAPSHOT`, whose `binlog_snapshot_file/position` MariaDB reports as
of that very snapshot) before any partition reads, and records it in both stores' ledgers. Every change
committed before it is visible to every partition, which all start later; every change after it is in
the binlog. A change a partition already copied is read again by the follow, which is harmless: the
follow re-reads touched rows from the source, it never replays values (`split.capture.follow`).

The position moves in the stores' ledgers only, after both committed. There is no slot to forget, so
nothing keeps binlog on the source's disk: the server's own expiry (`binlog_expire_logs_seconds`) does,
and a position it has purged is noticed and made up by checksum `sync`.

The binlog is read over the replication protocol with `mysql-replication` (a replica's COM_BINLOG_DUMP,
by file and position, non-blocking: the server ends the stream once it has sent what is written).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from split.errors import ConfigError
from split.i18n import _

SCHEME = "binlog"
REQUIRED = {"log_bin": "1", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}
_SKIPPED_QUERIES = ("BEGIN", "COMMIT", "XA ", "SAVEPOINT", "ROLLBACK")
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD")  # logged as a statement, inside its transaction


@dataclass(frozen=True, order=True)
class Position:
    """A place in the binlog: file names sort in the order the server writes them (zero-padded numbers)."""

    file: str
    pos: int

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}"

    @classmethod
    def parse(cls, text: str) -> Position:
        file, _colon, pos = text.rpartition(":")
        return cls(file, int(pos))


@dataclass
class BinlogBatch:
    """The keys that committed transactions touched, by table, typed as the binlog decodes them."""

    end: Position
    keys: dict[str, set[tuple]] = field(default_factory=dict)
    key_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the columns `keys` hold, by table
    whole: set[str] = field(default_factory=set)  # changed without a key (a table without a primary key)
    statements: list[str] = field(default_factory=list)  # TRUNCATE, DDL, DML logged as a statement: no rows
    transactions: int = 0
    changes: int = 0
    more: bool = False  # stopped at its size: read on at once


def connection_settings(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": parsed.port or 3306,
        "user": parsed.username or "root",
        "password": parsed.password or "",
        "charset": "utf8mb4",
    }


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """A plain connection for the server's settings and positions (reads only)."""
    import pymysql

    conn = pymysql.connect(**connection_settings(url), autocommit=True)
    try:
        yield conn
    finally:
        conn.close()


def _scalar(conn: Any, sql: str) -> Any:
    with conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    return row[-1] if row else None


def require_row_binlog(conn: Any, masked: str) -> None:
    """The settings the capture needs, named when missing (a DBA sets them; a restart for log_bin)."""
    for setting, wanted in REQUIRED.items():
        value = str(_scalar(conn, f"SELECT @@{setting}")).upper()
        if value.replace("ON", "1") != wanted:  # log_bin reads 1 or ON
            raise ConfigError(
                _("the source %(masked)s has %(setting)s = %(value)s: change capture needs %(setting)s = %(wanted)s")
                % {"masked": masked, "setting": setting, "value": value, "wanted": wanted},
                hint=_(
                    "a DBA sets log_bin, binlog_format = ROW, binlog_row_image = FULL and binlog_row_metadata = FULL and restarts the server (runbooks/wave.md, 'Server setup'); or run `copy` without --capture and use checksum `sync`"
                ),
            )


def snapshot_position(conn: Any) -> Position:
    """The binlog position of a consistent snapshot: every transaction before it is visible to every read
    that starts afterwards, and every one after it is in the binlog from there on."""
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
        found = {name.lower(): value for name, value in cur.fetchall()}
        cur.execute("COMMIT")
    if "binlog_snapshot_file" in found:
        return Position(found["binlog_snapshot_file"], int(found["binlog_snapshot_position"]))
    with conn.cursor() as cur:  # MySQL has no snapshot position: the current one, under a global read lock
        cur.execute("FLUSH TABLES WITH READ LOCK")
        try:
            cur.execute("SHOW MASTER STATUS")
            file, pos = cur.fetchone()[:2]
        finally:
            cur.execute("UNLOCK TABLES")
    return Position(file, int(pos))


def binary_logs(conn: Any) -> list[tuple[str, int]]:
    """The binlog files the server still holds, oldest first, with their sizes."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(row[0], int(row[1])) for row in cur.fetchall()]


def held(conn: Any, position: Position) -> bool:
    """Whether the server still holds the binlog from this position on (expiry purges whole files)."""
    return position.file in {name for name, _ in binary_logs(conn)}


def behind(conn: Any, position: Position) -> int:
    """Bytes of binlog written after this position (every schema's: the binlog is the server's)."""
    total = 0
    for name, size in binary_logs(conn):
        if name == position.file:
            total += max(size - position.pos, 0)
        elif name > position.file:
            total += size
    return total


def read_batch(url: str, start: Position, limit: int) -> BinlogBatch:
    """The committed transactions of the source's database from `start`, about `limit` row changes, ending at
    a commit (a transaction is never split). Row events name their keys; a TRUNCATE, or a change logged as a
    statement (a session that set binlog_format itself), marks its tables whole."""
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import QueryEvent, RotateEvent, XidEvent
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    database = make_url(url).database
    batch, pending = BinlogBatch(start), _Pending()
    stream = BinLogStreamReader(
        connection_settings=connection_settings(url),
        server_id=0x40000000 | (os.getpid() & 0xFFFFFF),  # a replica id of its own: two readers never clash
        log_file=start.file,
        log_pos=start.pos,
        resume_stream=True,
        blocking=False,
        only_schemas=[database],
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, QueryEvent, XidEvent, RotateEvent],
    )
    try:
        for event in stream:
            if isinstance(event, (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent)):
                pending.rows(event)
            elif isinstance(event, QueryEvent):
                query = event.query.strip()
                schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
                if query.upper() == "COMMIT":  # a transaction of a non-transactional engine ends
                    pending.commit(batch, Position(stream.log_file, stream.log_pos))
                elif _names_database(query, schema, database) and not query.upper().startswith(_SKIPPED_QUERIES):
                    pending.statement(query)
                    if not query.upper().startswith(_DML):  # DDL and TRUNCATE commit by themselves
                        pending.commit(batch, Position(stream.log_file, stream.log_pos))
            elif isinstance(event, XidEvent):
                pending.commit(batch, Position(stream.log_file, stream.log_pos))
            if batch.changes >= limit and not pending.changes:
                batch.more = True
                break
    finally:
        stream.close()
    return batch


def _names_database(query: str, schema: str | None, database: str | None) -> bool:
    """A statement may change this database's tables: issued in it (`USE`), or naming it (`db.table`). A
    statement elsewhere that merely mentions the name costs a needless comparison, never a miss."""
    return schema == database or bool(database and names(query, database))


def names(query: str, identifier: str) -> bool:
    """A statement names an identifier: bare, or quoted in backticks (a backtick inside doubled), in any case
    (a server with case-insensitive names matches so). Not a part of a longer word; a string that merely
    contains the name costs a needless comparison, never a miss."""
    spellings = {identifier, identifier.replace("`", "``")}
    return any(re.search(rf"(?<![\w$]){re.escape(spelling)}(?![\w$])", query, re.IGNORECASE) for spelling in spellings)


class _Pending:
    """The open transaction's touched keys, added to the batch at its commit."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.keys: dict[str, set[tuple]] = {}
        self.key_columns: dict[str, tuple[str, ...]] = {}
        self.whole: set[str] = set()
        self.statements: list[str] = []
        self.changes = 0

    def rows(self, event: Any) -> None:
        key = event.primary_key if isinstance(event.primary_key, tuple) else (event.primary_key,)
        self.changes += len(event.rows)
        # an update may change the key: both images name one; an image without the key's columns by name
        # (written while binlog_row_metadata was not FULL) names none, and the table is compared whole
        images = [row[i] for row in event.rows for i in ("values", "before_values", "after_values") if i in row]
        known = self.key_columns.setdefault(event.table, key)
        if not event.primary_key or known != key or any(c not in image for image in images for c in key):
            self.whole.add(event.table)
            return
        self.keys.setdefault(event.table, set()).update(tuple(image[c] for c in key) for image in images)

    def statement(self, query: str) -> None:
        self.statements.append(query)
        self.changes += 1

    def commit(self, batch: BinlogBatch, end: Position) -> None:
        batch.end = end  # past other databases' transactions too: they are never read again
        if not self.changes:
            return
        for table, keys in self.keys.items():
            if batch.key_columns.setdefault(table, self.key_columns[table]) != self.key_columns[table]:
                batch.whole.add(table)  # its key changed between transactions (an ALTER): compared whole
            batch.keys.setdefault(table, set()).update(keys)
        batch.whole |= self.whole
        batch.statements += self.statements
        batch.transactions += 1
        batch.changes += self.changes
        self.reset()
