"""Where the follow's changes come from: a reader per kind of source, batch by batch.

A PostgreSQL source is read from its slot (`split.capture.slot`, messages decoded by
`split.capture.pgoutput`); a MariaDB/MySQL source from its binlog (`split.capture.binlog`). Both give a
`Batch`: the keys committed transactions touched, in each table's primary-key order, and the tables to
compare by checksum instead. The follow (`split.capture.follow`) applies it and does not know which.
"""

from __future__ import annotations

import codecs
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from split.capture import binlog, slot
from split.capture.command import binlog_position, capture_name, is_binlog, record_binlog_position
from split.capture.pgoutput import Decoder
from split.errors import ConfigError
from split.i18n import _
from split.prepare import Prepared

BATCH_MESSAGES = 20_000  # about this many decoded messages per batch (whole transactions, so sometimes more)


@dataclass
class Batch:
    """Committed source transactions, as the follow applies them: the keys they touched, and the tables it
    compares by checksum instead (truncated, changed without a key or by a statement)."""

    start: str  # the position it was read from
    end: str  # the position it reaches: both stores hold every change before it once it is applied
    keys: dict[str, set[tuple]] = field(default_factory=dict)  # by table, in its primary key's column order
    whole: set[str] = field(default_factory=set)
    transactions: int = 0
    changes: int = 0
    text: set[str] = field(default_factory=set)  # tables whose keys are their values' text (pgoutput): cast back
    more: bool = False  # the batch stopped at its size: read on at once


class ChangeReader(Protocol):
    """A source's captured changes, batch by batch, from where both stores hold them."""

    scheme: str  # how the ledger writes its positions: "lsn", "binlog"
    captured: set[str]  # the tables whose changes it names; the others are compared by checksum at the end

    def read(self) -> Batch: ...

    def confirm(self, batch: Batch) -> None:
        """Both stores committed the batch (and what it resynced): read on from its end."""

    def behind(self) -> int: ...


@contextmanager
def open_reader(prep: Prepared) -> Iterator[ChangeReader]:
    if is_binlog(prep.source):
        yield _BinlogReader(prep)
        return
    name = capture_name(prep)
    with slot.connect(prep.source.url) as conn:
        if not slot.slot_exists(conn, name):
            raise _no_capture(name)
        yield _SlotReader(prep, conn, name)


def _no_capture(name: str) -> ConfigError:
    return ConfigError(
        _("no capture for this source and mapping (%(name)s)") % {"name": name},
        hint=_("start one with `bunkatsu copy --capture` (it copies from the capture's own starting point)"),
    )


class _SlotReader:
    """PostgreSQL: the slot's pgoutput messages, peeked; the slot moves only once both stores committed."""

    scheme = "lsn"

    def __init__(self, prep: Prepared, conn: Any, name: str) -> None:
        self.prep, self.conn, self.name = prep, conn, name
        self.captured = {
            r[0] for r in conn.execute("SELECT tablename FROM pg_publication_tables WHERE pubname = %s", (name,))
        }
        self.encoding = _python_codec(conn.execute("SHOW server_encoding").fetchone()[0])
        self.confirmed = next(s.confirmed_lsn for s in slot.statuses(conn) if s.name == name) or "0/0"

    def read(self) -> Batch:
        upto = slot.decodable_position(self.conn)
        decoder, messages = Decoder(self.encoding), 0
        for message in slot.peek(self.conn, self.name, upto, BATCH_MESSAGES):
            decoder.feed(message)
            messages += 1
        more = messages >= BATCH_MESSAGES and bool(decoder.committed)
        batch = Batch(self.confirmed, slot.lsn_text(decoder.committed[-1].end_lsn) if more else upto, more=more)
        identity = {r.name: r.identity for r in decoder.relations.values()}
        batch.text = decoder.text_keyed
        for txn in decoder.committed:
            batch.transactions += 1
            batch.changes += txn.changes
            batch.whole |= txn.truncated | txn.whole
            for table, keys in txn.keys.items():
                add_keys(self.prep, batch, table, identity.get(table, ()), keys)
        return batch

    def confirm(self, batch: Batch) -> None:
        slot.advance(self.conn, self.name, batch.end)
        self.confirmed = batch.end

    def behind(self) -> int:
        return slot.lsn_int(slot.current_lsn(self.conn)) - slot.lsn_int(self.confirmed)


class _BinlogReader:
    """MariaDB/MySQL: the binlog from the earliest position the stores recorded. The position is confirmed by
    recording it in both stores (in the batch's own transaction, or after what it resynced). A position the
    server has purged is made up by a checksum sync of every table, from a new position taken first."""

    scheme = binlog.SCHEME

    def __init__(self, prep: Prepared) -> None:
        self.prep = prep
        self.captured = {t.name for t in prep.plan.tables}  # a keyless table's changes mark it whole
        position = binlog_position(prep)
        if position is None:
            raise _no_capture(capture_name(prep))
        self.position = position

    def read(self) -> Batch:
        with binlog.connect(self.prep.source.url) as conn:
            if not binlog.held(conn, self.position):
                restart = binlog.snapshot_position(conn)  # before the checksum sync reads anything
                everything = {t.name for t in self.prep.plan.tables}
                return Batch(str(self.position), str(restart), whole=everything)
        read = binlog.read_batch(self.prep.source.url, self.position, BATCH_MESSAGES)
        batch = Batch(str(self.position), str(read.end), whole=set(read.whole), more=read.more)
        batch.transactions, batch.changes = read.transactions, read.changes
        for table, keys in read.keys.items():
            add_keys(self.prep, batch, table, read.key_columns[table], keys)
        names = {t.name for t in self.prep.plan.tables}
        batch.whole |= {t for q in read.statements for t in _tables_named(q, names)}
        return batch

    def confirm(self, batch: Batch) -> None:
        # a batch's own transactions recorded its start when it resynced tables (the end holds once they are),
        # and nothing when it held none of this database's transactions (the end is past other databases')
        if batch.whole or (not batch.transactions and batch.end != batch.start):
            record_binlog_position(self.prep, binlog.Position.parse(batch.end), uuid.uuid4().hex, keep=False)
        self.position = binlog.Position.parse(batch.end)

    def behind(self) -> int:
        with binlog.connect(self.prep.source.url) as conn:
            return binlog.behind(conn, self.position)


def _tables_named(statement: str, tables: set[str]) -> set[str]:
    """The mapped tables a statement names (a TRUNCATE, DDL, DML logged as a statement): each is compared by
    checksum. A word that merely looks like a table name costs a needless comparison, never a miss."""
    return {table for table in tables if binlog.names(statement, table)}


def _python_codec(server_encoding: str) -> str:
    """Python's name for the source's encoding (text values arrive in it); one Python lacks is refused."""
    name = {"UTF8": "utf-8", "SQL_ASCII": "latin-1", "WIN1252": "cp1252", "WIN932": "cp932", "SJIS": "cp932"}.get(
        server_encoding, server_encoding
    )
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ConfigError(
            _("the source's encoding %(server_encoding)s has no Python codec to read its captured keys")
            % {"server_encoding": server_encoding},
            hint=_("use checksum `bunkatsu sync` for this source"),
        ) from None


def add_keys(prep: Prepared, batch: Batch, table: str, named: Sequence[str], keys: Iterable[tuple]) -> None:
    """Keys the capture names by `named` columns, put in the source's primary-key order; a table whose
    captured key is not that primary key (another replica identity, a key changed since) is compared whole."""
    if table not in prep.schema.tables:
        return
    pk = primary_key(prep, table)
    if set(named) != set(pk):
        batch.whole.add(table)
        return
    order = [list(named).index(c) for c in pk]
    held = batch.keys.setdefault(table, set())
    held.update(keys if order == sorted(order) else (tuple(k[i] for i in order) for k in keys))


def primary_key(prep: Prepared, table: str) -> tuple[str, ...]:
    return tuple(prep.schema.tables[table].primary_key)
