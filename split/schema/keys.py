"""Load first, index after: a big table's primary key and indexes built once its rows are in, as pg_restore
and pgcopydb do (BENCHMARKS.md, issue 19).

Maintaining a primary key row by row costs more than the load itself: 10M readings took 23 s into a table
keyed by (supply_point_id, reading_date, slot) and 6 s into the same table without its key, whose key was
then built in 4 s. So a table that `copy` loads in several ranges into an **empty** PostgreSQL store table
has its primary key and indexes dropped first (one transaction) and built after every range of it has
committed, as head has them.

What keeps this safe:
- only tables no foreign key refers to: a parent keeps the key its children's rows are checked against;
- the ranges of one run never overlap, and a range commits with its ledger row, so no row is loaded twice
  while the key is away; the key's build is the proof (a duplicate fails it, and the copy with it);
- a copy interrupted before the build leaves the store without the key: `schema check` and `verify` see the
  store as differing from head, and the next `copy` (or `sync`, `sync --follow`) builds the key before it
  writes anything (`split.schema.command`), then loads the rest with the key in place.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa

from split.db import describe_db_error, engine_for
from split.errors import TerminalError
from split.i18n import _
from split.plan import TablePlan


@dataclass(frozen=True)
class KeyBuild:
    """One table's primary key and indexes in one store, to build after its rows are loaded."""

    store: str
    table: str
    url: str = field(repr=False)  # may carry a password
    statements: tuple[str, ...]  # DDL as head has it, compiled for the store


@dataclass(frozen=True)
class KeyBuilt:
    store: str
    table: str
    seconds: float


def defer_keys(
    urls: dict[str, str], tables: Sequence[TablePlan], metadata_by_store: dict[str, sa.MetaData]
) -> list[KeyBuild]:
    """Drop the key and indexes of each table loaded in several ranges into an empty PostgreSQL store table
    that no foreign key refers to; the builds to run once the rows are in."""
    builds = []
    for store, url in urls.items():
        engine = engine_for(url, writer=True)
        if engine.dialect.name != "postgresql":
            continue  # InnoDB stores rows in the primary key itself; SQLite cannot add one to a table
        metadata = metadata_by_store[store]
        referred = {fk.referred_table.name for t in metadata.tables.values() for fk in t.foreign_key_constraints}
        for plan in tables:
            table = metadata.tables.get(plan.name)
            if table is None or plan.store(store) is None or len(plan.copy_ranges) < 2 or plan.name in referred:
                continue
            statements = build_statements(table, engine.dialect)
            if statements and _dropped_if_empty(engine, table):
                builds.append(KeyBuild(store, plan.name, url, statements))
    return builds


def build_statements(table: sa.Table, dialect: sa.engine.Dialect) -> tuple[str, ...]:
    elements: list[sa.schema.ExecutableDDLElement] = []
    if table.primary_key.columns:
        elements.append(sa.schema.AddConstraint(table.primary_key))
    elements += [sa.schema.CreateIndex(ix) for ix in sorted(table.indexes, key=lambda ix: ix.name or "")]
    return tuple(str(e.compile(dialect=dialect)) for e in elements)


def _dropped_if_empty(engine: sa.Engine, table: sa.Table) -> bool:
    """Drop the table's key and indexes if it holds no row and nothing else is tied to them; both in one
    transaction, under a lock that keeps rows out between the look and the drop. Otherwise (rows, an index
    that backs a constraint the store's operator added — Alembic does not compare exclusion constraints —,
    or the store refusing the drop) the table keeps its key and is loaded as before: loading first is only
    faster, never needed."""
    try:
        with engine.begin() as conn:
            conn.execute(_ddl(f"LOCK TABLE {_quoted(conn, table.name)} IN SHARE ROW EXCLUSIVE MODE"))
            if conn.execute(sa.select(sa.literal(1)).select_from(sa.table(table.name)).limit(1)).first():
                return False
            inspector = sa.inspect(conn)
            indexes = inspector.get_indexes(table.name)
            if any(ix.get("duplicates_constraint") for ix in indexes):
                return False
            key = inspector.get_pk_constraint(table.name)["name"]
            if key:
                conn.execute(_ddl(f"ALTER TABLE {_quoted(conn, table.name)} DROP CONSTRAINT {_quoted(conn, key)}"))
            for ix in indexes:
                conn.execute(_ddl(f"DROP INDEX {_quoted(conn, str(ix['name']))}"))
    except sa.exc.DBAPIError:  # rolled back: nothing was dropped
        return False
    return True


def build_keys(build: KeyBuild) -> KeyBuilt:
    """Run in a worker: one transaction for the table's key and indexes."""
    started = time.monotonic()
    with engine_for(build.url, writer=True).connect() as conn:
        execute_builds(conn, build.store, build.table, [_ddl(s) for s in build.statements])
        conn.commit()
    return KeyBuilt(build.store, build.table, time.monotonic() - started)


def execute_builds(conn: sa.Connection, store: str, table: str, statements: Sequence[sa.Executable]) -> None:
    """Build keys and indexes in the open transaction. A key the rows break fails with
    the reason and no value (PostgreSQL's detail line names the duplicated key: it is never shown)."""
    try:
        for statement in statements:
            conn.execute(statement)
    except sa.exc.IntegrityError as exc:
        raise TerminalError(
            _("the %(store)s store's %(table)s breaks its primary key or a unique index: %(exc)s")
            % {"store": store, "table": table, "exc": describe_db_error(exc)},
            hint=_(
                "a row is in the table twice: bunkatsu loads each range once, so another writer or a bug put it "
                "there; do not use this store: find the cause (report a bug if only bunkatsu wrote it) and copy "
                "into an empty store again"
            ),
        ) from None
    except sa.exc.DBAPIError as exc:
        raise TerminalError(
            _("the %(store)s store refused to build the key of %(table)s: %(exc)s")
            % {"store": store, "table": table, "exc": describe_db_error(exc)},
            hint=_("give the copying account DDL rights on the store (CREATE/ALTER/DROP), then run the copy again"),
        ) from None


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _ddl(sql: str) -> sa.TextClause:
    """DDL as text, its names already quoted: a `:` in a name is not a bind parameter."""
    return sa.text(sql.replace(":", r"\:"))
