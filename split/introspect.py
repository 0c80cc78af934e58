"""Reflect the source schema into plain objects the planner and validator can use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

# The toolkit's own tables in a store: the ledger, the journal and the Alembic version table (ours and the
# default name). The first two are part of the store's derived schema; the version tables belong to Alembic.
SCHEMA_TOOLKIT_TABLES = ("bunkatsu_ledger", "bunkatsu_journal", "bunkatsu_evidence")
TOOLKIT_TABLES = (*SCHEMA_TOOLKIT_TABLES, "bunkatsu_schema_version", "alembic_version")
# The record of planted canaries: in the source or the NW store only, never a table to map or copy. Not in
# TOOLKIT_TABLES, because the retail store may not hold it: there it is an extra table like any other.
CANARY_TABLE = "bunkatsu_canary"


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: Any = field(compare=False, repr=False)  # a generic SQLAlchemy type, portable across engines
    type_text: str = ""
    nullable: bool = True

    @property
    def is_integer(self) -> bool:
        return isinstance(self.type, sa.Integer)


@dataclass(frozen=True)
class ForeignKeyInfo:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class IndexInfo:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[ForeignKeyInfo, ...] = ()
    indexes: tuple[IndexInfo, ...] = ()

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class SourceSchema:
    dialect: str
    tables: dict[str, TableInfo]

    def table(self, name: str) -> TableInfo | None:
        return self.tables.get(name)


def portable_type(col_type: Any) -> Any:
    """The engine-neutral form of a reflected type (VARCHAR(22) stays String(22), NUMERIC(12,1) stays so)."""
    try:
        generic = col_type.as_generic()
    except NotImplementedError:
        return col_type
    if isinstance(generic, sa.Float) and getattr(col_type, "precision", None) is None:
        return sa.Float()
    return generic


def reflect_source(engine: sa.Engine) -> SourceSchema:
    inspector = sa.inspect(engine)
    tables = {}
    for name in sorted(inspector.get_table_names()):
        if name in TOOLKIT_TABLES or name == CANARY_TABLE:
            continue
        columns = tuple(
            ColumnInfo(c["name"], portable_type(c["type"]), str(c["type"]), bool(c.get("nullable", True)))
            for c in inspector.get_columns(name)
        )
        pk = tuple(inspector.get_pk_constraint(name).get("constrained_columns") or ())
        fks = tuple(
            ForeignKeyInfo(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in inspector.get_foreign_keys(name)
        )
        indexes = tuple(
            IndexInfo(str(ix["name"]), tuple(str(c) for c in ix["column_names"]), bool(ix.get("unique")))
            for ix in inspector.get_indexes(name)
            if ix.get("name") and all(ix.get("column_names") or [None])  # expression indexes are not copied
        )
        tables[name] = TableInfo(name, columns, pk, fks, indexes)
    return SourceSchema(engine.dialect.name, tables)
