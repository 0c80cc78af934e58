"""A bounded, consistent sample of the source for rehearsing on huge databases (`dry-run --sample N`).

Sampling rows table by table would break what the split depends on: a meter reading without its supply
period is out of scope for a different reason than in the real data. So the sample is drawn by an
**anchor**, the column the mapping's `follow` scopes join on most (in a 託送 mapping: `supply_point_id`):

1. the first N distinct anchor values (of the table where the anchor is the primary key, if any);
2. every row of every table that has the anchor column and one of those values — all of a supply
   point's periods, contracts, readings and history, so follow chains and ownership by date are whole;
3. tables without the anchor: rows that reference kept rows (foreign keys, follow scopes), else the
   first N rows by primary key;
4. then, until nothing changes, every row a kept row refers to by foreign key (no orphans).

The sample goes into a SQLite file with the source's tables, keys and indexes; the rehearsal then runs
against it as its source. Memory holds the kept keys, never the rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from split.db import engine_for
from split.errors import ConfigError
from split.i18n import _
from split.introspect import SourceSchema, TableInfo
from split.mapping.model import Follow, Mapping
from split.schema.derive import short_name

CHUNK = 500  # values per IN list
BATCH = 5_000


@dataclass
class Sample:
    anchor: str
    values: int  # distinct anchor values drawn
    rows: dict[str, int] = field(default_factory=dict)  # table → rows in the sample

    def to_dict(self) -> dict:
        return {"anchor": self.anchor, "values": self.values, "rows": self.rows}


def anchor_column(mapping: Mapping, schema: SourceSchema) -> str:
    """The child column that follow scopes join on most often."""
    counts = Counter(
        child
        for rule in mapping.tables
        for scope in (rule.retail, rule.nw)
        if isinstance(scope, Follow)
        for child, _ in scope.on
    )
    if not counts:
        raise ConfigError(
            _("the mapping has no follow scope to draw a consistent sample by"),
            hint=_("pass --sample-by COLUMN (a key column most tables share), or rehearse without --sample"),
        )
    return counts.most_common(1)[0][0]


def draw_sample(
    source_url: str, mapping: Mapping, schema: SourceSchema, target_url: str, n: int, anchor: str | None = None
) -> Sample:
    if n < 1:
        raise ConfigError(_("--sample must be at least 1 (got %(n)s)") % {"n": n})
    anchor = anchor or anchor_column(mapping, schema)
    anchored = [t for t in schema.tables.values() if t.column(anchor) is not None]
    if not anchored:
        raise ConfigError(
            _("no source table has the column %(anchor)s") % {"anchor": repr(anchor)},
            hint=_("pass --sample-by with a column the tables share"),
        )
    source = engine_for(source_url)
    values = _first_values(source, _anchor_home(anchored, anchor), anchor, n)
    kept = _select(source, mapping, schema, anchor, values, n)
    _close_over_foreign_keys(source, schema, kept)
    metadata = _metadata(schema)
    target = engine_for(target_url, writer=True)
    metadata.create_all(target)
    sample = Sample(anchor, len(values))
    for name, keys in kept.items():
        sample.rows[name] = _write(source, target, metadata.tables[name], schema.tables[name], keys)
    return sample


# ── choosing rows: each table's kept rows as a set of key tuples (primary key, else every column) ──


def _anchor_home(anchored: list[TableInfo], anchor: str) -> TableInfo:
    return next((t for t in anchored if t.primary_key == (anchor,)), anchored[0])


def _light(table: TableInfo, columns: Any) -> Any:
    """A table construct with the source's types for these columns (values come back as Python objects)."""
    return sa.table(table.name, *(sa.column(c, table.column(c).type) for c in dict.fromkeys(columns)))  # type: ignore[union-attr]


def _first_values(engine: sa.Engine, table: TableInfo, column: str, n: int) -> list[Any]:
    t = _light(table, [column])
    stmt = sa.select(t.c[column]).distinct().where(t.c[column].is_not(None)).order_by(t.c[column]).limit(n)
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def _key(table: TableInfo) -> tuple[str, ...]:
    return table.primary_key or table.column_names


def _rows_where(engine: sa.Engine, table: TableInfo, column: str, values: list[Any]) -> Iterator[tuple]:
    """Key tuples of the rows whose `column` is one of `values`, asked in chunks (IN lists stay small)."""
    t = _light(table, [*_key(table), column])
    with engine.connect() as conn:
        for i in range(0, len(values), CHUNK):
            stmt = sa.select(*(t.c[c] for c in _key(table))).where(t.c[column].in_(values[i : i + CHUNK]))
            yield from (tuple(r) for r in conn.execute(stmt))


def _first_rows(engine: sa.Engine, table: TableInfo, n: int) -> set[tuple]:
    t = _light(table, _key(table))
    with engine.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(*t.c).order_by(*t.c).limit(n))}


def _references(
    mapping: Mapping, schema: SourceSchema, name: str
) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(parent, child columns, parent columns) for the table's foreign keys and follow scopes."""
    refs = [(fk.ref_table, fk.columns, fk.ref_columns) for fk in schema.tables[name].foreign_keys]
    rule = mapping.table(name)
    for scope in (rule.retail, rule.nw) if rule else ():
        if isinstance(scope, Follow):
            refs.append((scope.table, tuple(c for c, _ in scope.on), tuple(p for _, p in scope.on)))
    return refs


def _select(
    engine: sa.Engine, mapping: Mapping, schema: SourceSchema, anchor: str, values: list[Any], n: int
) -> dict[str, set[tuple]]:
    kept = {
        t.name: set(_rows_where(engine, t, anchor, values))
        for t in schema.tables.values()
        if t.column(anchor) is not None
    }
    pending = [t for t in schema.tables.values() if t.name not in kept]
    decided = True
    while decided:  # tables that refer to kept rows take the rows that do; their own children next
        decided = False
        for table in list(pending):
            refs = [r for r in _references(mapping, schema, table.name) if r[0] in kept and r[0] != table.name]
            if not refs:
                continue
            rows: set[tuple] = set()
            for parent, child_cols, parent_cols in refs:
                wanted = _referenced_values(engine, schema.tables[parent], kept[parent], parent_cols)
                rows |= set(_rows_matching(engine, table, child_cols, wanted))
            kept[table.name] = rows
            pending.remove(table)
            decided = True
    for table in pending:  # masters and tables unrelated to the anchor
        kept[table.name] = _first_rows(engine, table, n)
    return kept


def _close_over_foreign_keys(engine: sa.Engine, schema: SourceSchema, kept: dict[str, set[tuple]]) -> None:
    """Add every row a kept row refers to by foreign key, until nothing changes (cycles included)."""
    changed = True
    while changed:
        changed = False
        for child_name, keys in list(kept.items()):
            child = schema.tables[child_name]
            for fk in child.foreign_keys:
                parent = schema.tables[fk.ref_table]
                wanted = _referenced_values(engine, child, keys, fk.columns)
                if not wanted:
                    continue
                have = kept.setdefault(parent.name, set())
                found = {r for r in _rows_matching(engine, parent, fk.ref_columns, wanted)} - have
                if found:
                    have |= found
                    changed = True


def _referenced_values(engine: sa.Engine, table: TableInfo, keys: set[tuple], columns: tuple[str, ...]) -> set[tuple]:
    if tuple(columns) == _key(table)[: len(columns)] and len(columns) == len(_key(table)):
        return {k for k in keys if None not in k}
    out: set[tuple] = set()
    for row in _read(engine, table, keys, columns):
        if None not in row:
            out.add(row)
    return out


def _rows_matching(
    engine: sa.Engine, table: TableInfo, columns: tuple[str, ...], wanted: set[tuple]
) -> Iterator[tuple]:
    if len(columns) == 1:
        yield from _rows_where(engine, table, columns[0], [w[0] for w in wanted])
        return
    t = _light(table, [*_key(table), *columns])  # composite: filter here
    with engine.connect() as conn:
        for row in conn.execute(sa.select(*(t.c[c] for c in (*_key(table), *columns)))):
            if tuple(row[len(_key(table)) :]) in wanted:
                yield tuple(row[: len(_key(table))])


def _read(engine: sa.Engine, table: TableInfo, keys: set[tuple], columns: tuple[str, ...]) -> Iterator[tuple]:
    """The given columns of the kept rows (by key, in chunks)."""
    key = _key(table)
    t = _light(table, [*key, *columns])
    ordered = sorted(keys, key=lambda k: tuple(str(v) for v in k))
    with engine.connect() as conn:
        for i in range(0, len(ordered), CHUNK):
            chunk = ordered[i : i + CHUNK]
            if len(key) == 1:
                where = t.c[key[0]].in_([k[0] for k in chunk])
            else:
                where = sa.tuple_(*(t.c[c] for c in key)).in_(chunk)
            yield from (tuple(r) for r in conn.execute(sa.select(*(t.c[c] for c in columns)).where(where)))


# ── writing the sample ────────────────────────────────────────────────────────────────────────


def _metadata(schema: SourceSchema) -> sa.MetaData:
    metadata = sa.MetaData()
    for info in schema.tables.values():
        columns = [sa.Column(c.name, c.type, nullable=c.nullable) for c in info.columns]
        constraints: list[Any] = []
        if info.primary_key:
            constraints.append(sa.PrimaryKeyConstraint(*info.primary_key))
        for fk in info.foreign_keys:
            refs = [f"{fk.ref_table}.{c}" for c in fk.ref_columns]
            constraints.append(sa.ForeignKeyConstraint(list(fk.columns), refs))
        table = sa.Table(info.name, metadata, *columns, *constraints)
        named: dict[str, Any] = {}  # source index names are per table on MariaDB, per schema on SQLite: named here
        for ix in info.indexes:
            named.setdefault(short_name("ux" if ix.unique else "ix", info.name, *ix.columns), ix)
        for name, ix in named.items():
            sa.Index(name, *(table.c[c] for c in ix.columns), unique=ix.unique)
    return metadata


def _write(source: sa.Engine, target: sa.Engine, table: sa.Table, info: TableInfo, keys: set[tuple]) -> int:
    rows = 0
    batch: list[dict] = []
    names = list(info.column_names)
    with target.begin() as conn:
        for row in _read(source, info, keys, tuple(names)):
            batch.append(dict(zip(names, row, strict=True)))
            if len(batch) >= BATCH:
                conn.execute(table.insert(), batch)
                rows, batch = rows + len(batch), []
        if batch:
            conn.execute(table.insert(), batch)
            rows += len(batch)
    return rows
