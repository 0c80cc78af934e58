"""The capture verbs on a prepared context: start (inside `copy --capture`), status, drop.

Two kinds of source capture: PostgreSQL through a slot (`slot`), MariaDB/MySQL through the binlog from a
position recorded in the stores (`binlog`). SQLite sources have neither and keep checksum `sync`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from split import ledger
from split.capture import binlog, slot
from split.db import engine_for
from split.engine.copy import CopyResult, copy_tables
from split.engine.snapshot import exported_snapshot, is_postgresql
from split.errors import ConfigError
from split.i18n import _
from split.plan import TablePlan
from split.prepare import Prepared
from split.settings import StoreUrl


@dataclass(frozen=True)
class CaptureStart:
    """What `copy --capture` did on the source."""

    slot: str  # the capture's name (on PostgreSQL, its slot's and publication's)
    created: bool  # False: the capture already ran (an earlier wave, or a copy run again)
    position: str | None  # where it starts (an LSN, a binlog file:position), when created by this copy
    tables: tuple[str, ...]  # their changes are captured
    uncaptured: tuple[str, ...]  # no primary key as replica identity: brought up to date by checksum sync

    def to_dict(self) -> dict:
        return asdict(self)


def capture_name(prep: Prepared) -> str:
    return slot.capture_name(prep.plan.system, sa.make_url(prep.source.url).database or "")


def is_binlog(source: StoreUrl) -> bool:
    return sa.make_url(source.url).get_backend_name() in ("mysql", "mariadb")


def require_capturable(source: StoreUrl) -> None:
    if not (is_postgresql(source.url) or is_binlog(source)):
        raise ConfigError(
            _("change capture needs a PostgreSQL, MariaDB or MySQL source; %(masked)s is neither")
            % {"masked": source.masked},
            hint=_("SQLite sources are brought up to date by checksum `bunkatsu sync` (exact, reads every range)"),
        )


def binlog_position(prep: Prepared) -> binlog.Position | None:
    """Where the stores hold every captured change up to: the earliest store's (the follow starts there and
    applies again, harmlessly, what the other store already holds)."""
    found = [ledger.follow_position(engine_for(url)) for url in prep.urls.values()]
    marks = [binlog.Position.parse(p.partition(":")[2]) for p in found if p and p.startswith(binlog.SCHEME + ":")]
    return min(marks) if marks else None


def record_binlog_position(prep: Prepared, position: binlog.Position, run_id: str, *, keep: bool) -> None:
    """Record the position in both stores' ledgers; `keep`: not in a store that already has one (an earlier
    wave's capture goes on from its own, earlier position)."""
    for store, url in prep.urls.items():
        engine = engine_for(url, writer=True)
        if keep and ledger.follow_position(engine):
            continue
        with engine.begin() as conn:
            ledger.replace(
                conn,
                ledger.LedgerEntry(
                    prep.plan.hash, ledger.FOLLOW_ROW, 0, store, run_id, None, None, None, 0,
                    f"{binlog.SCHEME}:{position}", prep.plan.mapping_sha256, "capture",
                ),
            )  # fmt: skip


@contextmanager
def capture_snapshot(prep: Prepared) -> Iterator[tuple[str, CaptureStart]]:
    """The snapshot a `copy --capture` reads: the new slot's own, so that every change is in the copy or in
    the slot, exactly once. With a slot already there (an earlier wave) the copy reads a fresh snapshot: its
    changes since the slot's start are applied again by the follow, which is idempotent."""
    name = capture_name(prep)
    mapped = [t.name for t in prep.plan.tables]
    with slot.connect(prep.source.url) as conn:  # checked before anything is made on the source
        slot.require_logical(conn, prep.source.masked)
        published = slot.publishable(conn, mapped)
        existed = slot.slot_exists(conn, name)
        uncaptured = tuple(t for t in mapped if t not in published)
        if existed:
            slot.publish(conn, name, published)  # the mapping may have gained tables since
            with exported_snapshot(prep.source.url) as snapshot:
                assert snapshot is not None
                yield snapshot, CaptureStart(name, False, None, tuple(published), uncaptured)
            return
        with slot.replication_connection(prep.source.url, prep.source.masked) as replication:
            slot.publish(conn, name, published)  # before the slot: changes are decoded from the slot's start on
            snapshot, lsn = slot.create_slot(replication, name)
            yield snapshot, CaptureStart(name, True, lsn, tuple(published), uncaptured)


def copy_with_capture(prep: Prepared, tables: Sequence[TablePlan], **options: Any) -> CopyResult:
    """`copy --capture`: the copy reads the slot's own snapshot (`capture_snapshot`), or starts after the binlog
    position is recorded (`binlog_start`), and says what it started."""
    require_capturable(prep.source)
    if is_binlog(prep.source):
        started: list[CaptureStart] = []
        result = copy_tables(
            prep, tables, on_start=lambda run_id: started.append(binlog_start(prep, run_id)), **options
        )
        result.capture = started[0].to_dict()
        return result
    with capture_snapshot(prep) as (snapshot, start):
        result = copy_tables(prep, tables, snapshot=snapshot, **options)
    result.capture = start.to_dict()
    return result


def binlog_start(prep: Prepared, run_id: str) -> CaptureStart:
    """On a MariaDB/MySQL source, before any partition reads (the stores' ledgers exist by then): the settings
    checked, the position of a consistent snapshot recorded in both stores, unless a capture runs already."""
    with binlog.connect(prep.source.url) as conn:
        binlog.require_row_binlog(conn, prep.source.masked)
        running = binlog_position(prep)
        position = binlog.snapshot_position(conn)
    record_binlog_position(prep, position, run_id, keep=True)
    # every table is captured: a change to one without a primary key names no key, and it is compared whole
    everything = tuple(t.name for t in prep.plan.tables)
    return CaptureStart(capture_name(prep), running is None, None if running else str(position), everything, ())


def capture_slot(prep: Prepared) -> slot.SlotStatus | None:
    """This mapping's capture, if any: on PostgreSQL its slot; on MariaDB/MySQL the stores' position, how far
    behind it is, and whether the server still holds the binlog from there ("purged": checksum sync next)."""
    if is_binlog(prep.source):
        position = binlog_position(prep) if prep.urls else None
        if position is None:
            return None
        with binlog.connect(prep.source.url) as conn:
            kept = binlog.held(conn, position)
            lag = binlog.behind(conn, position) if kept else 0
        database = sa.make_url(prep.source.url).database or ""
        return slot.SlotStatus(
            capture_name(prep), database, False, str(position), lag, 0, "binlog" if kept else "purged"
        )
    if not is_postgresql(prep.source.url):
        return None
    with slot.connect(prep.source.url) as conn:
        return next((s for s in slot.statuses(conn) if s.name == capture_name(prep)), None)


def capture_running(prep: Prepared) -> bool:
    return capture_slot(prep) is not None


def capture_status(source: StoreUrl) -> list[slot.SlotStatus]:
    """Every bunkatsu slot on the source's server, whatever its mapping (a forgotten one keeps WAL and can fill
    the disk). A MariaDB/MySQL capture keeps nothing on the server: none is listed (`cutover status` shows its
    position)."""
    require_capturable(source)
    if is_binlog(source):
        return []
    with slot.connect(source.url) as conn:
        return slot.statuses(conn)


def capture_drop(prep: Prepared) -> tuple[str, bool]:
    """Drop this mapping's slot and publication on the source: (slot name, whether a slot was there). A
    MariaDB/MySQL capture has nothing on the source to drop."""
    require_capturable(prep.source)
    name = capture_name(prep)
    if is_binlog(prep.source):
        return name, False
    with slot.connect(prep.source.url) as conn:
        return name, slot.drop(conn, name)
