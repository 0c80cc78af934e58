"""Create the target tables of one store from the plan.

The single place that decides target DDL, so that Alembic-managed schemas can replace it without
touching the engine.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from split.errors import ConfigError
from split.mapping.model import Follow, Mapping
from split.plan import Plan, StorePlan

MYSQL_KEY_LENGTH = 255  # MariaDB cannot index TEXT without a length


def target_type(column_type: Any, dialect: str, in_key: bool) -> Any:
    """Adjust a portable type for the target engine."""
    if dialect in ("mysql", "mariadb"):
        if isinstance(column_type, sa.String) and not column_type.length:
            return sa.String(MYSQL_KEY_LENGTH, collation="utf8mb4_bin") if in_key else sa.Text(collation="utf8mb4_bin")
        if isinstance(column_type, sa.String):  # byte-exact comparison: keys that differ only by case stay distinct
            return type(column_type)(column_type.length, collation="utf8mb4_bin")
    return column_type


def target_table(metadata: sa.MetaData, name: str, store_plan: StorePlan, dialect: str) -> sa.Table:
    columns = [
        sa.Column(
            c.name,
            target_type(c.type, dialect, c.name in store_plan.primary_key),
            nullable=c.nullable,
            primary_key=c.name in store_plan.primary_key,
            autoincrement=False,
        )
        for c in store_plan.columns
    ]
    return sa.Table(name, metadata, *columns, mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


def store_metadata(plan: Plan, store: str, dialect: str, follow_keys: dict[str, set[str]] | None = None) -> sa.MetaData:
    """The store's tables; `follow_keys` (table → columns) get an index each, for scope joins inside the store."""
    metadata = sa.MetaData()
    for table in plan.tables:
        sp = table.store(store)
        if sp is not None:
            t = target_table(metadata, table.name, sp, dialect)
            for col in sorted((follow_keys or {}).get(table.name, set()) - set(sp.primary_key[:1])):
                if col in t.c:
                    sa.Index(f"ix_{table.name}_{col}"[:60], t.c[col])
    return metadata


def follow_keys(mapping: Mapping, store: str) -> dict[str, set[str]]:
    """Columns that `follow` scopes of this store join on: the parent's key and the child's key."""
    keys: dict[str, set[str]] = {}
    for rule in mapping.tables:
        scope = rule.scope(store)
        if isinstance(scope, Follow):
            keys.setdefault(scope.table, set()).update(p for _, p in scope.on)
            keys.setdefault(rule.name, set()).update(c for c, _ in scope.on)
    return keys


def check_store_tables(plan: Plan, store: str, engine: sa.Engine) -> None:
    """Refuse a store whose existing tables have other columns than the plan (before anything is written)."""
    metadata = store_metadata(plan, store, engine.dialect.name)
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    mismatched = []
    for table in metadata.sorted_tables:
        if table.name in existing:
            have = [c["name"] for c in inspector.get_columns(table.name)]
            if have != [c.name for c in table.columns]:
                mismatched.append(f"{table.name} (has {', '.join(have)}; plan wants {', '.join(table.columns.keys())})")
    if mismatched:
        raise ConfigError(
            f"the {store} store has tables whose columns differ from the plan: {'; '.join(mismatched)}",
            hint=f"copy into an empty {store} store, or bring its schema in line first",
        )


def create_store_tables(plan: Plan, store: str, engine: sa.Engine, mapping: Mapping | None = None) -> list[str]:
    """Create the store's missing tables (call `check_store_tables` first). Returns the created names."""
    metadata = store_metadata(plan, store, engine.dialect.name, follow_keys(mapping, store) if mapping else None)
    existing = set(sa.inspect(engine).get_table_names())
    created = [t.name for t in metadata.sorted_tables if t.name not in existing]
    metadata.create_all(engine, checkfirst=True)
    return created
