"""Engine-neutral row checksums: the same rows give the same digest on SQLite, PostgreSQL and MariaDB.

Values are canonicalised first (booleans as 0/1, decimals without trailing zeros, dates in ISO form, instants
in UTC)
because drivers return the same stored value as different Python types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal

_NULL = "\\N"


def canonical(value: object) -> str:
    kind = type(value)
    if kind is str:  # the hot path: most values are text or integers
        return value  # type: ignore[return-value]
    if kind is int:
        return str(value)
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, datetime):
        # an instant, whatever zone the session showed it in (a store server set to Asia/Tokyo, a source in UTC)
        return (value if value.tzinfo is None else value.astimezone(UTC)).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


class RowHasher:
    """SHA-256 over rows in key order; also counts them."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()
        self.rows = 0

    def update(self, rows: Iterable[Sequence[object]]) -> None:
        for row in rows:
            self._h.update("\x1f".join(canonical(v) for v in row).encode())
            self._h.update(b"\x1e")
            self.rows += 1

    def hexdigest(self) -> str:
        return self._h.hexdigest()


# ── key-range checksums (data-diff's idea): one count and one order-independent sum per range ──────────

MASK = (1 << 64) - 1


def row_hash(row: Sequence[object]) -> int:
    """A 64-bit hash of one row's canonical form: summed per range, so row order (and collation) never matters."""
    digest = hashlib.blake2b("\x1f".join(canonical(v) for v in row).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def range_sum(batches: Iterable[Iterable[Sequence[object]]]) -> tuple[int, int]:
    """(rows, checksum) of a range's rows, computed in Python."""
    rows = total = 0
    for batch in batches:
        for row in batch:
            rows += 1
            total = (total + row_hash(row)) & MASK
    return rows, total


# The same summary computed by a PostgreSQL server over the range's rows (see split.engine.compare).
IN_DATABASE_SUM = "SELECT count(*), coalesce(sum(hashtextextended(r::text, 0)), 0) FROM ({}) AS r"
