"""Compile mapping × reflected source into an immutable plan with a stable hash (README "Commands": `plan`).

The plan says, per table and store: the columns and their transforms, the row predicate, the key
partitions and the load order. Everything the copy does is read from the plan; `plan --sql` shows
the exact statements.
"""

from __future__ import annotations

import copy
import hashlib
import json
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement, ColumnClause, ColumnElement
from sqlalchemy.sql.expression import FromClause, Select
from sqlalchemy.types import TypeEngine

from split.errors import MappingError, MappingProblem
from split.i18n import N_, _
from split.introspect import SourceSchema, TableInfo
from split.mapping.model import STORES, Destination, Mapping, NoRows, TableRule
from split.ranges import (
    WHOLE,
    Bound,
    Filtered,
    Partition,
    block_bounds,
    in_range,
    ordered,
    range_number,
    sample_bounds,
)
from split.scope import scope_predicate, source_table

TOKEN_LENGTH = 69  # "hm1:" + 64 hex digits + room for a version bump


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    type: TypeEngine[Any] = field(compare=False, repr=False)  # in the target
    type_text: str = ""
    nullable: bool = True
    transform: str = "copy"  # copy | encode
    kind: str | None = None
    source_type: TypeEngine[Any] | None = field(default=None, compare=False, repr=False)  # as read from the source

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "type": self.type_text,
            "nullable": self.nullable,
            "transform": self.transform,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class StorePlan:
    store: str
    columns: tuple[ColumnPlan, ...]
    scope: str  # the mapping's words, for people
    predicate_sql: str  # the row predicate in the source's SQL dialect; "" = all rows
    primary_key: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "scope": self.scope,
            "predicate": self.predicate_sql,
            "primary_key": list(self.primary_key),
            "columns": [c.to_dict() for c in self.columns],
        }


@dataclass(frozen=True)
class PlanWarning:
    """What `plan` tells the operator about a table: English in the plan (and its hash), said in the reader's
    language on screen."""

    template: str
    values: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        return self.template % dict(self.values)

    def said(self) -> str:
        return _(self.template) % dict(self.values)


@dataclass(frozen=True)
class TablePlan:
    name: str
    wave: str
    order: int
    key: tuple[str, ...]  # partition key columns; (): the table is one partition
    partitions: tuple[Partition, ...]
    stores: tuple[StorePlan, ...]  # only the stores that receive the table
    dropped: tuple[str, ...]  # columns going to neither store
    source_rows: int
    order_by: tuple[str, ...]  # deterministic row order: primary key, else every column
    warnings: tuple[PlanWarning, ...] = ()  # what `plan` should tell the operator about this table
    # A PostgreSQL table without a key: the copy's ranges of its physical blocks (`split.ranges`); its
    # `partitions` stay one range, for sync and verify, which compare the stores' rows with the source's.
    blocks: tuple[Partition, ...] = ()

    def store(self, name: str) -> StorePlan | None:
        return next((s for s in self.stores if s.store == name), None)

    @property
    def copy_ranges(self) -> tuple[Partition, ...]:
        return self.blocks or self.partitions

    def to_dict(self) -> dict:
        blocks = {"blocks": [p.to_dict() for p in self.blocks]} if self.blocks else {}
        return {
            "name": self.name,
            "wave": self.wave,
            "order": self.order,
            "key": list(self.key),
            "source_rows": self.source_rows,
            "order_by": list(self.order_by),
            "dropped": list(self.dropped),
            "partitions": [p.to_dict() for p in self.partitions],
            **blocks,
            "stores": [s.to_dict() for s in self.stores],
            "warnings": [str(w) for w in self.warnings],  # English: the plan hash is the same in every language
        }


@dataclass(frozen=True)
class Plan:
    system: str
    mapping_path: str
    mapping_sha256: str
    source_dialect: str
    affiliate_codes: tuple[str, ...]
    tables: tuple[TablePlan, ...]
    hash: str = ""

    def table(self, name: str) -> TablePlan | None:
        return next((t for t in self.tables if t.name == name), None)

    def body(self) -> dict:
        return {
            "system": self.system,
            "mapping_sha256": self.mapping_sha256,
            "source_dialect": self.source_dialect,
            "affiliate_codes": list(self.affiliate_codes),
            "tables": [t.to_dict() for t in self.tables],
        }

    def to_dict(self) -> dict:
        return {"plan_hash": self.hash, "mapping": self.mapping_path, **self.body()}


def plan_hash(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def compile_plan(mapping: Mapping, schema: SourceSchema, engine: sa.Engine, *, ranges: bool = True) -> Plan:
    """Build the plan. Reads the source only for row counts and key bounds (the partitions); without
    `ranges`, not at all: every table is one range of unknown size (minutes saved on billions of rows)."""
    order = load_order(mapping, schema)
    with engine.connect() as conn:
        tables = tuple(
            _table_plan(mapping, schema, conn, engine.dialect, name, i, ranges) for i, name in enumerate(order)
        )
    plan = Plan(mapping.system, mapping.path, mapping.sha256, schema.dialect, mapping.affiliate.retailer_codes, tables)
    return Plan(**{**plan.__dict__, "hash": plan_hash(plan.body())})


def load_order(mapping: Mapping, schema: SourceSchema) -> list[str]:
    """Waves in order; inside a wave, parents (follow targets, foreign keys) before children."""
    out: list[str] = []
    for wave in mapping.waves:
        pending = list(wave.tables)
        while pending:
            for name in pending:
                deps = _parents(mapping, schema, name) & set(pending)
                if not deps - {name}:
                    out.append(name)
                    pending.remove(name)
                    break
            else:  # a foreign-key cycle inside the wave: keep the mapping's order
                out += pending
                break
    return out


def with_parents(mapping: Mapping, schema: SourceSchema, names: list[str]) -> set[str]:
    """The tables and, transitively, those they need in the stores first: foreign-key parents, follow targets."""
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += [p for p in _parents(mapping, schema, name) if mapping.table(p) is not None]
    return found


def _parents(mapping: Mapping, schema: SourceSchema, name: str) -> set[str]:
    rule = mapping.table(name)
    parents = {fk.ref_table for fk in schema.tables[name].foreign_keys}
    for store in STORES:
        scope = rule.scope(store)  # type: ignore[union-attr]
        if hasattr(scope, "table"):
            parents.add(scope.table)
    return parents


def _table_plan(
    mapping: Mapping, schema: SourceSchema, conn: sa.Connection, dialect: Dialect, name: str, order: int, ranges: bool
) -> TablePlan:
    rule = mapping.table(name)
    assert rule is not None
    info = schema.tables[name]
    stores = tuple(sp for store in STORES if (sp := _store_plan(mapping, schema, rule, store, dialect)) is not None)
    dropped = tuple(c.name for c in info.columns if rule.destination(c.name) is Destination.DROP)
    table = source_table(schema, name)
    rows = int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()) if ranges else 0
    key, warnings = partition_key(rule, info)
    partitions: tuple[Partition, ...] = (WHOLE,)
    blocks: tuple[Partition, ...] = ()
    if key and rule.partition and ranges:
        partitions, warnings = _partitions(conn, table, rule, info, key, rows, stores, dialect)
    elif rule.partition and ranges and _tid_range_scans(conn):
        blocks, cut = _block_ranges(conn, table, rule, rows)
        warnings = cut or warnings
    order_by = info.primary_key or info.column_names
    return TablePlan(
        name, mapping.wave_of(name), order, key, partitions, stores, dropped, rows, tuple(order_by), warnings, blocks
    )


def _tid_range_scans(conn: sa.Connection) -> bool:
    """PostgreSQL 14 and later read a `ctid` range by its blocks alone (before, each range scans the table)."""
    if conn.dialect.name != "postgresql":
        return False
    return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) >= 140000


def _block_ranges(
    conn: sa.Connection, table: Any, rule: TableRule, rows: int
) -> tuple[tuple[Partition, ...], tuple[PlanWarning, ...]]:
    """The copy's block ranges of a PostgreSQL table without a key, and what `plan` says of them."""
    assert rule.partition is not None
    edges = [None, *block_bounds(conn, table, rows, rule.partition.rows), None]
    if len(edges) == 2:
        return (), ()
    blocks = tuple(Partition(i, edges[i], edges[i + 1], blocks=True) for i in range(len(edges) - 1))
    template = N_(
        "%(table)s has no primary key: copied in %(n)s ranges of its blocks (ctid) inside one snapshot; a copy "
        "interrupted and run again copies it again from the start, and sync and verify compare it whole"
    )
    return blocks, (PlanWarning(template, (("table", rule.name), ("n", str(len(blocks))))),)


def _partitions(
    conn: sa.Connection,
    table: Any,
    rule: TableRule,
    info: TableInfo,
    key: tuple[str, ...],
    rows: int,
    stores: tuple[StorePlan, ...],
    dialect: Dialect,
) -> tuple[tuple[Partition, ...], tuple[PlanWarning, ...]]:
    """The table's key ranges, and what `plan` should warn about them."""
    assert rule.partition is not None
    text = tuple(isinstance(info.column(k).type, sa.String) for k in key)  # type: ignore[union-attr]
    if not info.primary_key:
        _require_unique(conn, table, rule, key, text)
    bounds = sample_bounds(conn, table, key, text, rows, rule.partition.rows)
    if bounds and dialect.name == "postgresql" and any(text):  # one range has no bounds to order by
        _require_code_point_order(conn, table, rule, [k for k, t in zip(key, text, strict=True) if t])
    indexed = not text[0] or binary_index(conn, table, key[0])
    retail = next((sp for sp in stores if sp.store == "retail"), None)
    if bounds and retail is not None and retail.predicate_sql:
        bounds = retail_visible(conn, table, key, text, bounds, retail.predicate_sql, indexed=indexed)
    edges = [None, *bounds, None]
    partitions = tuple(Partition(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1))
    if len(partitions) > 1 and not indexed:
        template = (
            N_(
                "%(table)s: no index of the source reads `%(column)s` in binary order, so each of the %(n)s "
                "partitions scans the table (text key ranges compare in binary order in every engine); "
                'CREATE INDEX ON %(table)s (%(column)s COLLATE "C", …) reads them by index'
            )
            if dialect.name == "postgresql"
            else N_(
                "%(table)s: no index of the source reads `%(column)s` in binary order, so each of the %(n)s "
                "partitions scans the table (text key ranges compare in binary order in every engine)"
            )
        )
        values = (("table", rule.name), ("column", key[0]), ("n", str(len(partitions))))
        return partitions, (PlanWarning(template, values),)
    return partitions, ()


def retail_visible(
    conn: sa.Connection,
    table: Any,
    key: tuple[str, ...],
    text: tuple[bool, ...],
    bounds: list[Bound],
    predicate: str,
    *,
    indexed: bool,
) -> list[Bound]:
    """Each bound moved up to the first key the retail store holds, up to the next bound (dropped if none).

    Bounds travel to the retail store: in the statements that read and clear its ranges, which its
    operator can log. A quantile of the source is any row's key — a competitor's customer's supply point id.
    A key retail holds tells it nothing; the range grows by the rows outside its scope just past the
    quantile (at most one supply point's readings, for a natural key led by the supply point).

    With an index that reads the key in binary order each bound is one short index probe. Without one each
    probe would scan the table (616 bounds of a 617,000-row natural-key table: 31 s), so the scoped keys are
    then read once, in binary order, and the bounds found in one walk (PostgreSQL walks them itself); all
    ways give the same bounds."""
    columns = [table.c[k] for k in key]
    order = [ordered(c, t) for c, t in zip(columns, text, strict=True)]
    scoped = sa.select(*columns).select_from(table).where(sql_condition(predicate))
    if not indexed and conn.dialect.name == "postgresql":
        return _first_at_or_above_by_server(conn, scoped, columns, text, bounds)
    if not indexed:
        read = in_range(scoped, columns, Partition(0, bounds[0], None)).order_by(*order)
        keys = conn.execute(read.execution_options(stream_results=True, yield_per=10_000))  # memory: one batch
        return _first_at_or_above(bounds, (tuple(k) for batch in keys.partitions() for k in batch))
    visible: list[Bound] = []
    for bound, upper in zip(bounds, [*bounds[1:], None], strict=True):
        first = conn.execute(in_range(scoped, columns, Partition(0, bound, upper)).order_by(*order).limit(1)).first()
        if first is not None:
            visible.append(tuple(first))
    return visible


def _first_at_or_above_by_server(
    conn: sa.Connection, scoped: Select[Any], columns: list[Any], text: tuple[bool, ...], bounds: list[Bound]
) -> list[Bound]:
    """`_first_at_or_above` done by PostgreSQL in one scan: each scoped key at or above the first bound gets the
    number of the bound below it (a binary search over the bounds, `range_number`), and the first key of
    each number is kept (DISTINCT ON, in binary order). The scoped keys — 1.2M on the 20M-reading bench —
    then never cross the wire nor pass through Python. JIT is off for the transaction (the plan's reads
    only): it spent minutes compiling the search's large expression (BENCHMARKS.md, issue 20)."""
    parts = [Partition(i, bound, None) for i, bound in enumerate(bounds)]
    numbered = scoped.add_columns(range_number(columns, parts).label("bk_bound"))
    inner = in_range(numbered, columns, Partition(0, bounds[0], None)).subquery()
    keys = [inner.c[c.name] for c in columns]
    first = (
        sa.select(*keys)
        .ext(distinct_on(inner.c.bk_bound))
        .order_by(inner.c.bk_bound, *(ordered(k, t) for k, t in zip(keys, text, strict=True)))
    )
    conn.exec_driver_sql("SET LOCAL jit = off")
    return [tuple(row) for row in conn.execute(first)]


def _first_at_or_above(bounds: list[Bound], keys: Iterable[Bound]) -> list[Bound]:
    """For each bound, the first of the ascending `keys` at or above it and below the next bound (none: the
    bound is dropped). Python orders `str` by code point, the binary order the keys arrive in."""
    visible: list[Bound] = []
    i = 0
    for k in keys:
        while i + 1 < len(bounds) and k >= bounds[i + 1]:
            i += 1  # no key in [bounds[i], bounds[i + 1]): that bound is dropped
        if k >= bounds[i]:
            visible.append(k)
            i += 1
            if i == len(bounds):
                break
    return visible


def _require_unique(
    conn: sa.Connection, table: Any, rule: TableRule, key: tuple[str, ...], text: tuple[bool, ...]
) -> None:
    """A table without a primary key is cut by its declared `by`, which must then identify rows: completeness
    and sync name a differing row by it. Duplicates are looked for in the ranges' own (binary) order."""
    columns = [ordered(table.c[k], t) for k, t in zip(key, text, strict=True)]
    duplicate = sa.select(sa.literal(1)).select_from(table).group_by(*columns).having(sa.func.count() > 1).limit(1)
    if conn.execute(duplicate).first() is not None:
        raise _partition_problem(
            rule,
            _(
                "partition key (%(key)s) of %(name)s is not unique in the source, and the table has no primary key to tell its rows apart"
            )
            % {"key": ", ".join(key), "name": rule.name},
            _("partition by columns that identify a row, or leave `by` out to copy the table as one partition"),
        )


def _partition_problem(rule: TableRule, message: str, hint: str) -> MappingError:
    """A usage error at the table's `partition:` in the mapping."""
    pos = rule.partition.pos  # type: ignore[union-attr]
    return MappingError([MappingProblem(message, pos.file, pos.line, pos.column, hint)])


def _require_code_point_order(conn: sa.Connection, table: Any, rule: TableRule, columns: list[str]) -> None:
    """`COLLATE "C"` is code point order, as every other engine and Python compare, only in a UTF-8 database:
    in EUC_JP or SJIS it is the order of that encoding's bytes (ｱ before あ), so a row would fall into one
    range on the source and another in a store. ASCII text (supply point ids) orders alike in every encoding:
    such a key is accepted, anything else refused before anything is written."""
    encoding = conn.exec_driver_sql("SHOW server_encoding").scalar_one()
    if encoding == "UTF8":
        return
    for name in columns:
        non_ascii = sa.select(sa.literal(1)).select_from(table).where(table.c[name].regexp_match(r"[^\x01-\x7f]"))
        if conn.execute(non_ascii.limit(1)).first() is not None:
            raise _partition_problem(
                rule,
                _(
                    "partition key column %(name)s.%(table)s holds non-ASCII text in a %(encoding)s database, whose binary order is not the code point order the stores and the other engines use"
                )
                % {"name": rule.name, "table": name, "encoding": encoding},
                _("partition by columns that are not text (or hold ASCII only), or leave `partition` out"),
            )


def binary_index(conn: sa.Connection, table: Any, column: str) -> bool:
    """Whether an index of the source leads with `column` in binary order, so that key ranges are read by
    it: on PostgreSQL one in the "C" collation; SQLite compares in binary unless told otherwise; MariaDB
    reads binary ranges of a text column only by scanning (the comparison converts the column)."""
    if conn.dialect.name == "sqlite":
        return True
    if conn.dialect.name != "postgresql":
        return False
    found = conn.execute(
        sa.text(
            "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "JOIN pg_collation c ON c.oid = i.indcollation[0] "
            "WHERE i.indrelid = CAST(:t AS regclass) AND a.attname = :c AND c.collname IN ('C', 'POSIX', 'ucs_basic')"
        ),
        {"t": conn.dialect.identifier_preparer.format_table(table), "c": column},
    )
    return found.first() is not None


def partition_key(rule: TableRule, info: TableInfo) -> tuple[tuple[str, ...], tuple[PlanWarning, ...]]:
    """The columns a partitioned table is cut by: the mapping's `by`, else the primary key. A table with
    neither is copied as one partition, and `plan` says so."""
    if rule.partition is None:
        return (), ()
    key = rule.partition.by or info.primary_key
    if not key:
        template = N_(
            "%(table)s has no primary key and its partition names no `by` column: copied as one partition "
            "(name a unique NOT NULL column or columns in `partition: {by: …}` to cut it into ranges)"
        )
        return (), (PlanWarning(template, (("table", rule.name),)),)
    return tuple(key), ()


def _store_plan(
    mapping: Mapping, schema: SourceSchema, rule: TableRule, store: str, dialect: Dialect
) -> StorePlan | None:
    scope = rule.scope(store)
    info = schema.tables[rule.name]
    columns = []
    for col in info.columns:
        dest = rule.destination(col.name)
        if not dest.reaches(store):
            continue
        encode = store == "retail" and dest is Destination.ENCODE
        kind = rule.column(col.name).kind if rule.column(col.name) else None  # type: ignore[union-attr]
        ctype = sa.String(TOKEN_LENGTH) if encode else col.type
        columns.append(
            ColumnPlan(col.name, ctype, _type_text(ctype), col.nullable, "encode" if encode else "copy", kind, col.type)
        )
    if isinstance(scope, NoRows) or not columns:
        return None
    table = source_table(schema, rule.name)
    predicate = scope_predicate(mapping, schema, table, rule.name, store)
    names = {c.name for c in columns}
    pk = info.primary_key if info.primary_key and set(info.primary_key) <= names else ()
    return StorePlan(store, tuple(columns), scope.describe(), render_predicate(table, predicate, dialect), tuple(pk))


def _type_text(ctype: TypeEngine[Any]) -> str:
    try:
        return str(ctype.compile())
    except Exception:
        return type(ctype).__name__.upper()


def render(stmt: ClauseElement, dialect: Dialect) -> str:
    """The statement with its values inline, for a driver that binds parameters: with psycopg and PyMySQL each
    `%` is doubled, as those drivers expect when they bind (`exec_driver_sql`, a COPY given parameters)."""
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def render_verbatim(stmt: ClauseElement, dialect: Dialect) -> str:
    """The statement as the server must read it, for a statement the driver sends as it is (a COPY without
    parameters): a `%` in a value or a key range's bound stays one `%`."""
    if not dialect.identifier_preparer._double_percents:
        return render(stmt, dialect)
    verbatim = copy.copy(dialect)
    verbatim.identifier_preparer = copy.copy(dialect.identifier_preparer)
    verbatim.identifier_preparer._double_percents = False
    verbatim._type_memos = weakref.WeakKeyDictionary()  # literal processors cached for `dialect` would double
    return render(stmt, verbatim)


def render_predicate(table: FromClause, predicate: ColumnElement[Any] | None, dialect: Dialect) -> str:
    """The predicate as SQL text, compiled inside its enclosing SELECT.

    Compiled on its own, an EXISTS has no enclosing query to correlate with and would list the outer
    table in its own FROM: the subquery would no longer refer to the row, and every row would pass.
    """
    if predicate is None:
        return ""
    sql = render_verbatim(sa.select(sa.literal_column("1")).select_from(table).where(predicate), dialect)
    head, sep, where = sql.partition("\nWHERE ")
    assert sep, sql
    return where.strip()


def store_select(table_plan: TablePlan, store_plan: StorePlan, part: Partition) -> Select[Any]:
    """The SELECT one partition sends to one store: projection, scope predicate, key range, key order."""
    typed = {c.name: c.source_type for c in store_plan.columns}
    names = dict.fromkeys([*typed, *table_plan.order_by, *table_plan.key])
    table = sa.table(table_plan.name, *(sa.column(n, typed.get(n)) for n in names))
    stmt = sa.select(*(table.c[c.name] for c in store_plan.columns)).select_from(table)
    if store_plan.predicate_sql:
        stmt = stmt.where(sql_condition(store_plan.predicate_sql))
    stmt = in_key_range(stmt, table_plan, part, table)
    if part.blocks:  # read in the blocks' own order: sorting by every column cost 3× the raw pipe at 10M rows
        return stmt
    return stmt.order_by(*row_order(table_plan, store_plan, table))


def row_order(table_plan: TablePlan, store_plan: StorePlan, table: Any) -> list[ColumnElement[Any]]:
    """The deterministic order rows are read in. A partitioned table is read in its key's range order (text
    in binary order, `split.ranges`), so that the index that serves the range also gives the order and no
    partition is sorted; then the rest of the primary key, for keys that are not unique."""
    text = {c.name: isinstance(c.source_type, sa.String) for c in store_plan.columns}
    key = [ordered(table.c[k], text.get(k, False)) for k in table_plan.key]
    return key + [table.c[c] for c in table_plan.order_by if c not in table_plan.key]


def sql_condition(sql: str) -> ColumnClause[Any]:
    """A rendered predicate as a WHERE condition, taken verbatim. `sa.text` would re-read `:y` inside a quoted
    literal (a retailer code `o' :y`) as a bind parameter; the scope grammar only ever renders conjunctions
    (AND, IN, EXISTS), so no grouping is needed around it."""
    return sa.literal_column(sql)  # untyped: a Boolean would render as `(…) = 1` where booleans are not native


def in_key_range(stmt: Filtered, table_plan: TablePlan, part: Partition, table: Any = None) -> Filtered:
    """Restrict a SELECT or DELETE to one of the table's partitions (`split.ranges`); the key columns are
    taken from `table` when given, else named. A table of one partition is not restricted."""
    if part.blocks:  # the source's statements read the table alone: its `ctid` needs no table name
        return in_range(stmt, [sa.literal_column("ctid")], part)
    columns = [table.c[k] if table is not None else sa.column(k) for k in table_plan.key]
    return in_range(stmt, columns, part)


def render_statement(plan: Plan, table_plan: TablePlan, store_plan: StorePlan) -> str:
    """The store's SELECT over the whole table (no key range), in the source dialect."""
    from sqlalchemy.dialects import registry

    dialect = registry.load(plan.source_dialect)()
    return render_verbatim(store_select(table_plan, store_plan, WHOLE), dialect)


def plan_sql(plan: Plan, *, bounds: bool = True) -> str:
    """The exact SELECT each store gets per table (key-range conditions listed per partition; without
    `bounds`, their number only: a natural key's bound is a customer's supply point id)."""
    lines = [
        f"-- bunkatsu plan {plan.hash}",
        f"-- mapping {plan.mapping_path} sha256 {plan.mapping_sha256}",
        f"-- source dialect {plan.source_dialect}",
        "",
    ]
    for t in plan.tables:
        for sp in t.stores:
            lines.append(f"-- {t.order + 1}. {t.name} → {sp.store} (wave {t.wave}; scope {sp.scope})")
            for c in sp.columns:
                if c.transform == "encode":
                    lines.append(
                        f"--   {c.name}: encoded in transit as HMAC-SHA256 token (key from BUNKATSU_ENCODE_KEY)"
                    )
            if len(t.partitions) > 1:
                key = t.key[0] if len(t.key) == 1 else f"({', '.join(t.key)})"
                ranges = ", ".join(p.describe() for p in t.partitions) if bounds else f"{len(t.partitions)} (withheld)"
                lines.append(f"--   partitions by {key}, each adds `AND {key} >= lo AND {key} < hi`: {ranges}")
            if t.blocks:  # block numbers are no customer's value: always shown
                ranges = ", ".join(p.describe() for p in t.blocks)
                lines.append(
                    f"--   copied in block ranges, each adds `AND ctid >= '(lo,0)' AND ctid < '(hi,0)'`: {ranges}"
                )
            lines.append(render_statement(plan, t, sp) + ";")
            lines.append("")
    return "\n".join(lines)
