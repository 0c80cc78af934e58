"""Each store's target schema as SQLAlchemy `MetaData`, derived from the reflected source and the plan.

Alembic autogenerates the store's revisions from it and `schema check` compares the store with it:
this module is the one place that decides target DDL.

- Only the columns the store receives, with the types translated for the store's engine
  (`target_type`); encoded columns get a token-sized string.
- The primary key, the source's indexes whose columns all reach the store, an index on every
  column a `follow` scope joins on.
- The source's foreign keys that stay valid inside the store (`fk_guaranteed`): a retail store
  holds only the rows in scope, so a foreign key is kept only when the scopes prove that every
  retail child row's parent row is in the retail store too.
- The toolkit's ledger and journal tables, and the evidence chain over them.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

from split.chain import chain
from split.errors import ConfigError
from split.i18n import _
from split.introspect import ForeignKeyInfo, IndexInfo, SourceSchema
from split.journal import journal
from split.ledger import ledger
from split.mapping.model import AllRows, Follow, Mapping, Own
from split.plan import Plan, StorePlan

MYSQL_KEY_LENGTH = 255  # MariaDB cannot index TEXT without a length
MAX_NAME = 60  # below PostgreSQL's 63 and MariaDB's 64 characters
MYSQL = ("mysql", "mariadb")


def target_type(column_type: TypeEngine[Any], dialect: str, indexed: bool) -> TypeEngine[Any]:
    """The store's type for a portable source type, chosen so that no value is truncated or rounded.

    MariaDB needs the most care: TEXT holds 64 KiB (about 21,000 Japanese characters), FLOAT is single
    precision, DATETIME drops microseconds and DECIMAL defaults to (10, 0). Strings compare byte-exact
    (utf8mb4_bin) so that keys differing only by case or width stay distinct, as in the source.
    """
    if isinstance(column_type, sa.Enum):  # enum types are per-database objects: keep the labels as text
        return target_type(sa.String(max((len(e) for e in column_type.enums), default=1)), dialect, indexed)
    if dialect not in MYSQL:
        return column_type
    if isinstance(column_type, sa.String):
        if column_type.length:
            return sa.String(column_type.length, collation="utf8mb4_bin")
        return (
            sa.String(MYSQL_KEY_LENGTH, collation="utf8mb4_bin") if indexed else mysql.LONGTEXT(collation="utf8mb4_bin")
        )
    if isinstance(column_type, sa.Float) and not isinstance(column_type, sa.Double) and column_type.precision is None:
        return sa.Double()
    if isinstance(column_type, sa.Numeric) and not isinstance(column_type, sa.Float) and column_type.precision is None:
        return sa.Numeric(65, 30)
    if isinstance(column_type, sa.DateTime):
        return mysql.DATETIME(fsp=6)
    if isinstance(column_type, sa.Time):
        return mysql.TIME(fsp=6)
    if isinstance(column_type, sa.LargeBinary):
        return mysql.LONGBLOB()
    return column_type


def portable_type(column_type: TypeEngine[Any], indexed: bool, range_key: bool = False) -> TypeEngine[Any]:
    """One type for every engine: the source's type, with the MySQL/MariaDB form as a variant.

    The same revision then builds the same schema on SQLite (a rehearsal), PostgreSQL and MariaDB, and
    Alembic renders the variant into the revision file (`….with_variant(mysql.LONGTEXT(…), 'mysql', …)`).

    A text column of a partition key is `COLLATE "C"` on PostgreSQL: key ranges compare in binary order
    (`split.ranges`), and PostgreSQL uses an index only for comparisons in the index's own collation, so
    every range read and every range cleared before a partition is written would otherwise scan the table."""
    generic = target_type(column_type, "generic", indexed)
    for_mysql = target_type(column_type, "mysql", indexed)
    portable = generic if for_mysql is generic else generic.with_variant(for_mysql, *MYSQL)
    if range_key and isinstance(generic, sa.String) and not isinstance(generic, sa.Enum):
        binary = copy.copy(generic)
        binary.collation = "C"
        portable = portable.with_variant(binary, "postgresql")
    return portable


def _check_compiles(
    column_type: TypeEngine[Any], dialect: Dialect, where: str, source_type: TypeEngine[Any] | None = None
) -> None:
    """Refuse a column the store cannot hold faithfully (exit 2, before anything is written)."""
    source_type = column_type if source_type is None else source_type
    if dialect.name in MYSQL and isinstance(source_type, sa.DateTime) and source_type.timezone:
        raise ConfigError(
            _("%(where)s: a timestamp with time zone has no equivalent in MySQL/MariaDB: the zone would be lost")
            % {"where": where},
            hint=_("use PostgreSQL for this store, or convert the column to UTC in a source view first"),
        )
    try:
        column_type.compile(dialect=dialect)
    except Exception as exc:  # the type has no form in the target engine
        raise ConfigError(
            _("%(where)s: the source type %(column_type)s has no equivalent in %(name)s (%(name2)s)")
            % {"where": where, "column_type": repr(column_type), "name": dialect.name, "name2": type(exc).__name__},
            hint=_("store it in an engine that has the type, or send the column to `drop` in the mapping"),
        ) from None


def short_name(*parts: str) -> str:
    """A constraint or index name within every engine's limit; long names end in a hash to stay unique."""
    name = "_".join(parts)
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


def store_metadata(plan: Plan, mapping: Mapping, schema: SourceSchema, store: str, dialect: Dialect) -> sa.MetaData:
    """The store's full schema, the same for every engine (portable types); `dialect` (a SQLAlchemy dialect
    instance, the store's) only checks that the store's engine can hold every column."""
    metadata = sa.MetaData()
    plans = {t.name: sp for t in plan.tables if (sp := t.store(store)) is not None}
    fks = _kept_foreign_keys(mapping, schema, store, plans)
    range_keys = {t.name: set(t.key) for t in plan.tables}
    for name, sp in plans.items():
        follow = _follow_keys(mapping, store).get(name, set())
        indexes = _indexes(schema.tables[name].indexes, _names(sp), sp.primary_key)
        keyed = set(sp.primary_key) | {c for fk in fks[name] for c in fk.columns} | follow
        keyed |= {c for ix in indexes for c in ix.columns}
        columns = []
        for c in sp.columns:
            indexed = c.name in keyed
            where = f"{store} store, {name}.{c.name}"
            _check_compiles(target_type(c.type, dialect.name, indexed), dialect, where, c.type)
            columns.append(
                sa.Column(
                    c.name,
                    portable_type(c.type, indexed, c.name in range_keys[name]),
                    nullable=c.nullable and c.name not in sp.primary_key,
                )
            )
        table = sa.Table(name, metadata, *columns, mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")
        if sp.primary_key:
            table.append_constraint(sa.PrimaryKeyConstraint(*sp.primary_key))
        for fk in fks[name]:
            table.append_constraint(
                sa.ForeignKeyConstraint(
                    list(fk.columns),
                    [f"{fk.ref_table}.{c}" for c in fk.ref_columns],
                    name=short_name("fk", name, *fk.columns),
                )
            )
        for ix in indexes:  # named here: source names are per table on MariaDB, but per schema on PostgreSQL
            sa.Index(
                short_name("ux" if ix.unique else "ix", name, *ix.columns),
                *(table.c[c] for c in ix.columns),
                unique=ix.unique,
            )
        leading = {ix.columns[0] for ix in indexes} | set(sp.primary_key[:1])
        for col in sorted(follow - leading):
            sa.Index(short_name("ix", name, col), table.c[col])
    ledger.to_metadata(metadata)
    journal.to_metadata(metadata)
    chain.to_metadata(metadata)
    return metadata


def _indexes(source: tuple[IndexInfo, ...], columns: set[str], primary_key: tuple[str, ...] = ()) -> list[IndexInfo]:
    """The source's indexes whose columns all reach the store, one per column list (a unique one wins):
    MariaDB reflects the index it made for a foreign key next to an explicit one on the same column. One on
    the primary key's columns is the primary key's own index already (a source may have a second one in
    another collation, for bunkatsu's binary-ordered key ranges: the store's key column is binary itself)."""
    by_columns: dict[tuple[str, ...], IndexInfo] = {}
    for ix in sorted(source, key=lambda ix: not ix.unique):
        if set(ix.columns) <= columns and ix.columns != primary_key:
            by_columns.setdefault(ix.columns, ix)
    return list(by_columns.values())


def _names(sp: StorePlan) -> set[str]:
    return {c.name for c in sp.columns}


def _kept_foreign_keys(
    mapping: Mapping, schema: SourceSchema, store: str, plans: dict[str, StorePlan]
) -> dict[str, list[ForeignKeyInfo]]:
    """Per table, the source's foreign keys that hold in the store and can be loaded.

    Both ends reach the store with the same transform, the scopes guarantee the parent row, and the
    key is not part of a cycle: key ranges load in parallel, level by level (`load_levels`), so a
    self-reference or a cycle could point at a row not loaded yet.
    """
    candidates: dict[str, list[ForeignKeyInfo]] = {}
    for name, child in plans.items():
        candidates[name] = []
        for fk in schema.tables[name].foreign_keys:
            parent = plans.get(fk.ref_table)
            if parent is None or fk.ref_table == name:
                continue
            child_cols = {c.name: c.transform for c in child.columns}
            parent_cols = {c.name: c.transform for c in parent.columns}
            pairs = zip(fk.columns, fk.ref_columns, strict=True)
            same = all(c in child_cols and p in parent_cols and child_cols[c] == parent_cols[p] for c, p in pairs)
            if same and fk_guaranteed(mapping, store, name, fk):
                candidates[name].append(fk)

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                stack += [fk.ref_table for fk in candidates.get(node, ())]
        return False

    return {name: [fk for fk in fks if not reaches(fk.ref_table, name)] for name, fks in candidates.items()}


def fk_guaranteed(mapping: Mapping, store: str, child: str, fk: ForeignKeyInfo) -> bool:
    """Whether the row scopes prove: every child row the store receives has its parent row in the store.

    Conservative: a foreign key is kept only when one of these holds (else the store gets no constraint,
    and `integrity.fk` still reports orphans):
    - the store receives every parent row;
    - the child follows the parent on (at least) the foreign-key columns;
    - the parent follows a table T without `at`, and the child row itself is that T row, or the child
      follows T on the same values;
    - both are `own` scopes on the same retailer-code value.
    """
    child_rule, parent_rule = mapping.table(child), mapping.table(fk.ref_table)
    assert child_rule is not None and parent_rule is not None
    child_scope, parent_scope = child_rule.scope(store), parent_rule.scope(store)
    via_fk = dict(zip(fk.ref_columns, fk.columns, strict=True))  # parent column → child column
    if isinstance(parent_scope, AllRows):
        return True
    pairs = set(zip(fk.columns, fk.ref_columns, strict=True))
    if isinstance(child_scope, Follow) and child_scope.table == fk.ref_table and pairs <= set(child_scope.on):
        return True
    if isinstance(parent_scope, Follow) and parent_scope.at is None:
        needed = [(via_fk.get(p), t) for p, t in parent_scope.on]  # child column that must equal T.t
        if any(c is None for c, _ in needed):
            return False
        if child == parent_scope.table and all(c == t for c, t in needed):
            return True
        if isinstance(child_scope, Follow) and child_scope.table == parent_scope.table:
            return set(needed) <= set(child_scope.on)
        return False
    if isinstance(parent_scope, Own) and isinstance(child_scope, Own):
        return via_fk.get(parent_scope.column) == child_scope.column
    return False


def _follow_keys(mapping: Mapping, store: str) -> dict[str, set[str]]:
    """Columns that `follow` scopes of this store join on: the parent's key and the child's key."""
    keys: dict[str, set[str]] = {}
    for rule in mapping.tables:
        scope = rule.scope(store)
        if isinstance(scope, Follow):
            keys.setdefault(scope.table, set()).update(p for _, p in scope.on)
            keys.setdefault(rule.name, set()).update(c for c, _ in scope.on)
    return keys


def load_levels(metadata_by_store: dict[str, sa.MetaData]) -> dict[str, int]:
    """Per table, how many foreign-key parents deep it is in any store: level 0 loads first, then 1, …"""
    parents: dict[str, set[str]] = {}
    for metadata in metadata_by_store.values():
        for table in metadata.tables.values():
            parents.setdefault(table.name, set()).update(
                fk.referred_table.name for fk in table.foreign_key_constraints if fk.referred_table is not table
            )
    levels: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in levels:
            levels[name] = 0  # each store's kept keys are acyclic; the guard only stops a cross-store cycle
            levels[name] = max((level(p) + 1 for p in parents.get(name, ())), default=0)
        return levels[name]

    for name in parents:
        level(name)
    return levels


def schema_digest(metadata: sa.MetaData) -> str:
    """A stable, engine-neutral hash of the schema: recorded in each revision, so that a store's head can be
    compared with the mapping without a database, whichever engine the revision was generated on."""
    return _digest(metadata, _portable_text)


def engine_digest(metadata: sa.MetaData, dialect: Dialect) -> str:
    """The digest as bunkatsu wrote it before revisions were engine-neutral: the schema as one engine creates
    it. Heads carrying it are still recognised (this engine's: a match; another's: said so)."""
    return _digest(metadata, lambda t: str(t.compile(dialect=dialect)))


def _portable_text(column_type: TypeEngine[Any]) -> str:
    variants = getattr(column_type, "_variant_mapping", {})
    return repr(column_type) + "".join(f" {name}:{variants[name]!r}" for name in sorted(variants))


def _digest(metadata: sa.MetaData, type_text: Callable[[TypeEngine[Any]], str]) -> str:
    body = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        body.append(
            {
                "table": table.name,
                "columns": [[c.name, type_text(c.type), c.nullable] for c in table.columns],
                "pk": [c.name for c in table.primary_key.columns],
                "fks": sorted(
                    [fk.name, [e.parent.name for e in fk.elements], [e.target_fullname for e in fk.elements]]
                    for fk in table.foreign_key_constraints
                ),
                "indexes": sorted([ix.name, [c.name for c in ix.columns], bool(ix.unique)] for ix in table.indexes),
            }
        )
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
