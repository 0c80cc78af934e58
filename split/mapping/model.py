"""The mapping as immutable typed objects (the format: mappings/README.md). Built only by `split.mapping.load`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Destination(StrEnum):
    SHARED = "shared"  # NW gets all its rows, retail its scoped rows
    NW = "nw"  # NW only
    RETAIL = "retail"  # retail only
    ENCODE = "encode"  # NW gets the value, retail a keyed token
    DROP = "drop"  # neither side

    @property
    def reaches_nw(self) -> bool:
        return self in (Destination.SHARED, Destination.NW, Destination.ENCODE)

    @property
    def reaches_retail(self) -> bool:
        return self in (Destination.SHARED, Destination.RETAIL, Destination.ENCODE)

    def reaches(self, store: str) -> bool:
        return self.reaches_nw if store == "nw" else self.reaches_retail


DESTINATIONS = tuple(d.value for d in Destination)

# Kinds of value, for normalising and scanning. Identifying kinds are what the leak checks fingerprint.
IDENTIFYING_KINDS = (
    "name",
    "name_kana",
    "phone",
    "email",
    "address",
    "postal_code",
    "supply_point_id",
    "meter_no",
    "contract_no",
    "my_number",
)
KINDS = (*IDENTIFYING_KINDS, "retailer_code", "corporate_number", "free_text", "amount", "date", "code", "other")
STORES = ("nw", "retail")


@dataclass(frozen=True)
class Position:
    """Where something was written: file, 1-based line and column. Not part of equality."""

    file: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def _pos() -> Position:
    return field(default=Position(), compare=False, repr=False)


# Row scopes: which rows of a table a store receives.
@dataclass(frozen=True)
class AllRows:
    def describe(self) -> str:
        return "all"


@dataclass(frozen=True)
class NoRows:
    def describe(self) -> str:
        return "none"


@dataclass(frozen=True)
class Own:
    """Rows whose COLUMN holds one of the affiliate's retailer codes."""

    column: str
    pos: Position = _pos()

    def describe(self) -> str:
        return f"own: {self.column}"


@dataclass(frozen=True)
class Follow:
    """Rows whose key matches an in-scope row of TABLE; with `at`, only while that parent row's period lasts."""

    table: str
    on: tuple[tuple[str, str], ...]  # (child column, parent column) pairs
    at: str | None = None
    pos: Position = _pos()

    def describe(self) -> str:
        on = ", ".join(c if c == p else f"{c}={p}" for c, p in self.on)
        return f"follow: {self.table} on {on}" + (f" at {self.at}" if self.at else "")


Scope = AllRows | NoRows | Own | Follow


@dataclass(frozen=True)
class ColumnRule:
    name: str
    to: Destination
    kind: str | None = None
    pos: Position = _pos()


@dataclass(frozen=True)
class Partitioning:
    by: tuple[str, ...]  # NOT NULL orderable columns, () = the primary key: partitions are half-open key ranges
    rows: int  # target rows per partition
    pos: Position = _pos()


@dataclass(frozen=True)
class TableRule:
    name: str
    nw: Scope
    retail: Scope
    columns: tuple[ColumnRule, ...]
    columns_listed: bool  # False only for `retail: none` tables: every column then goes to NW
    period: tuple[str, str] | None = None
    partition: Partitioning | None = None
    pos: Position = _pos()

    def scope(self, store: str) -> Scope:
        return self.nw if store == "nw" else self.retail

    def column(self, name: str) -> ColumnRule | None:
        return next((c for c in self.columns if c.name == name), None)

    def destination(self, column: str) -> Destination:
        """Where a source column goes. Unlisted columns of an unlisted table go to NW only."""
        rule = self.column(column)
        if rule is not None:
            return rule.to
        if not self.columns_listed:
            return Destination.NW
        raise KeyError(column)


@dataclass(frozen=True)
class Affiliate:
    name: str
    retailer_codes: tuple[str, ...]


@dataclass(frozen=True)
class Wave:
    name: str
    tables: tuple[str, ...]
    pos: Position = _pos()


@dataclass(frozen=True)
class Mapping:
    version: int
    system: str
    affiliate: Affiliate
    tables: tuple[TableRule, ...]
    waves: tuple[Wave, ...]
    path: str = field(default="", compare=False)
    sha256: str = field(default="", compare=False)  # of the file's bytes: hashed into every ledger row and report

    def table(self, name: str) -> TableRule | None:
        return next((t for t in self.tables if t.name == name), None)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    @property
    def encodes(self) -> bool:
        return any(c.to is Destination.ENCODE for t in self.tables for c in t.columns)

    def wave_of(self, table: str) -> str:
        return next(w.name for w in self.waves if table in w.tables)

    @property
    def timelines(self) -> tuple[TableRule, ...]:
        """The tables that record who supplies whom and when (`retail: {own: …}` with `period:`)."""
        return tuple(t for t in self.tables if isinstance(t.retail, Own) and t.period)
