"""Fault injection for tests: BUNKATSU_FAULT=point:n[+][:action].

The fault fires the n-th time `point` is reached in this process (with `+`: the n-th time and every
time after). Points: rows-written (a batch or ~1 MiB block of the partition is in the open target
transaction, no ledger row yet), ledger-written (ledger row in the transaction, not committed),
committed (after the commit); in `sync`: sync-deleted (a range's deletions in the open transaction),
sync-applied (a range's updates and inserts in the open transaction, no ledger row yet). Actions:
- kill (default): SIGKILL this process; no cleanup runs, as after a power cut or the OOM killer.
- drop: the target server ends the partition's connection (terminated from another session), as when
  a network link or a server restart drops it; the copy must retry that partition.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

_counts: dict[str, int] = {}
_lock = threading.Lock()
_armed = threading.local()  # per worker thread: how to drop the current target connection


def _spec() -> tuple[str, int, bool, str] | None:
    spec = os.environ.get("BUNKATSU_FAULT")
    if not spec:
        return None
    point, _, rest = spec.partition(":")
    nth, _, action = rest.partition(":")
    every = nth.endswith("+")
    return point, int(nth.rstrip("+") or 1), every, action or "kill"


def arm_drop_fault(conn: sa.Connection) -> None:
    """Remember how to drop this target connection, if a drop fault is configured."""
    spec = _spec()
    if spec and spec[3] == "drop":
        _armed.drop = _dropper(conn)


def fault_point(name: str) -> None:
    spec = _spec()
    if spec is None or spec[0] != name:
        return
    _, nth, every, action = spec
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        fire = _counts[name] >= nth if every else _counts[name] == nth
    if not fire:
        return
    if action == "drop":
        drop = getattr(_armed, "drop", None)
        if drop is not None:
            drop()
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _dropper(conn: sa.Connection) -> Callable[[], None] | None:
    raw: Any = conn.connection.driver_connection
    dialect = conn.dialect.name
    if dialect == "postgresql":
        sql = f"SELECT pg_terminate_backend({int(raw.info.backend_pid)}, 5000)"  # waits until it is gone
    elif dialect in ("mysql", "mariadb"):
        sql = f"KILL CONNECTION {int(raw.thread_id())}"
    else:
        return None  # SQLite has no connection to drop
    url = conn.engine.url

    def drop() -> None:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as other:
                other.exec_driver_sql(sql)
        finally:
            engine.dispose()

    return drop
