"""Engine-neutral row checksums: the same rows give the same digest on SQLite, PostgreSQL and MariaDB.

Values are canonicalised first (booleans as 0/1, decimals without trailing zeros, dates in ISO form, instants
in UTC)
because drivers return the same stored value as different Python types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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


# ── the same summary computed by a PostgreSQL server over the range's rows (see split.engine.compare) ──

# Types whose extended hash a server computes from the value alone, alike in every database: not from a
# session setting, an OID (an enum's), a collation, or a display scale (`numeric` without a fixed scale
# hashes 1.0 and 1.00 alike). Text is hashed by its bytes (`COLLATE "C"`): a nondeterministic collation
# the retail side declares would hash 'Abc' and 'abc' alike. Any other type is hashed as its text form.
_BY_VALUE = re.compile(
    r"smallint|integer|bigint|boolean|date|uuid|bytea|numeric\(\d+,\d+\)"
    r"|timestamp(\(\d\))? without time zone|time(\(\d\))? without time zone"
)
_TEXT = re.compile(r"text|character varying(\(\d+\))?|character\(\d+\)")


@dataclass(frozen=True)
class ServerHash:
    """How both servers hash a range's rows `r`, given the columns' types (identical on both sides).

    PostgreSQL 14+ hashes a row's values (`hash_record_extended`), twice as fast as hashing its text form
    (`hashtextextended(r::text)`, older servers). A record's hash is a linear combination of its columns'
    hashes, and a range's checksum is a sum over rows: summed as they are, two rows that swap a column's
    values would sum alike. `hashint8extended` mixes each row's hash first, so they do not."""

    types: tuple[tuple[str, str], ...]  # (column, the server's type name), in the plan's order
    by_value: bool  # hash_record_extended exists on both servers

    @property
    def name(self) -> str:
        """What the ledger calls a range checksum summed from these hashes."""
        return "hre-sum" if self.by_value else "hte-sum"

    def of(self, names: Sequence[str] | None = None) -> str:
        """A 64-bit hash of these columns of `r` (all: the row)."""
        if not self.by_value:
            if names is None:
                return "hashtextextended(r::text, 0)"
            return f"hashtextextended(ROW({', '.join('r.' + _quoted(n) for n in names)})::text, 0)"
        types = dict(self.types)
        values = ", ".join(_hashed(n, types[n]) for n in (names if names is not None else types))
        return f"hashint8extended(hash_record_extended(ROW({values}), 0), 0)"

    def summary_sql(self, select_sql: str) -> str:
        return f"SELECT count(*), coalesce(sum({self.of()}), 0) FROM ({select_sql}) AS r"


def _hashed(name: str, type_name: str) -> str:
    column = "r." + _quoted(name)
    if _BY_VALUE.fullmatch(type_name):
        return column
    if _TEXT.fullmatch(type_name):
        return f'{column} COLLATE "C"'
    return f'CAST({column} AS text) COLLATE "C"'


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
