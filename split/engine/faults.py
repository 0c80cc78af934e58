"""Fault injection for tests: BUNKATSU_FAULT=point:n kills this process with SIGKILL the n-th time
`point` is reached. Points: rows-written (data in the open transaction, no ledger row yet),
ledger-written (ledger row in the transaction, not committed), committed (after the commit).
"""

from __future__ import annotations

import os
import signal
import threading

_counts: dict[str, int] = {}
_lock = threading.Lock()


def fault_point(name: str) -> None:
    spec = os.environ.get("BUNKATSU_FAULT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    with _lock:
        _counts[name] = _counts.get(name, 0) + 1
        if _counts[name] >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)
