"""The capture verbs on a prepared context: start (inside `copy --capture`), status, drop."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from split.capture import slot
from split.engine.copy import CopyResult, copy_tables
from split.engine.snapshot import exported_snapshot, is_postgresql
from split.errors import ConfigError
from split.plan import TablePlan
from split.prepare import Prepared
from split.settings import StoreUrl


@dataclass(frozen=True)
class CaptureStart:
    """What `copy --capture` did on the source."""

    slot: str
    created: bool  # False: the capture already ran (an earlier wave, or a copy run again)
    position: str | None  # the slot's starting LSN, when created by this copy
    tables: tuple[str, ...]  # published: their changes are captured
    uncaptured: tuple[str, ...]  # no primary key as replica identity: brought up to date by checksum sync

    def to_dict(self) -> dict:
        return asdict(self)


def capture_name(prep: Prepared) -> str:
    return slot.capture_name(prep.plan.system, sa.make_url(prep.source.url).database or "")


def require_postgresql(source: StoreUrl) -> None:
    if not is_postgresql(source.url):
        raise ConfigError(
            f"change capture needs a PostgreSQL source; {source.masked} is not one",
            hint="SQLite and MariaDB sources are brought up to date by checksum `bunkatsu sync` (exact, reads every range)",
        )


@contextmanager
def capture_snapshot(prep: Prepared) -> Iterator[tuple[str, CaptureStart]]:
    """The snapshot a `copy --capture` reads: the new slot's own, so that every change is in the copy or in
    the slot, exactly once. With a slot already there (an earlier wave) the copy reads a fresh snapshot: its
    changes since the slot's start are applied again by the follow, which is idempotent."""
    require_postgresql(prep.source)
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
    """`copy --capture`: the copy reads the slot's own snapshot (`capture_snapshot`), and says what it started."""
    with capture_snapshot(prep) as (snapshot, start):
        result = copy_tables(prep, tables, snapshot=snapshot, **options)
    result.capture = start.to_dict()
    return result


def capture_slot(prep: Prepared) -> slot.SlotStatus | None:
    """This mapping's slot on the source, if any (never on a source that is not PostgreSQL)."""
    if not is_postgresql(prep.source.url):
        return None
    with slot.connect(prep.source.url) as conn:
        return next((s for s in slot.statuses(conn) if s.name == capture_name(prep)), None)


def capture_running(prep: Prepared) -> bool:
    return capture_slot(prep) is not None


def capture_status(source: StoreUrl) -> list[slot.SlotStatus]:
    """Every bunkatsu slot on the source's server, whatever its mapping (a forgotten one keeps WAL and can fill
    the disk)."""
    require_postgresql(source)
    with slot.connect(source.url) as conn:
        return slot.statuses(conn)


def capture_drop(prep: Prepared) -> tuple[str, bool]:
    """Drop this mapping's slot and publication on the source: (slot name, whether a slot was there)."""
    require_postgresql(prep.source)
    name = capture_name(prep)
    with slot.connect(prep.source.url) as conn:
        return name, slot.drop(conn, name)
