"""Which touched keys a store holds, found without telling a store a key it may not see.

The follow deletes, in each store, the touched rows the source no longer gives it (deleted, or out of its
scope now), and reads the former `on` values of touched parent rows from the stores. Asking a store by key
is safe where the store may see every key of the table: the NW store (the authority), or a store whose scope
for the table is `all`. The retail store with a row scope is run by the party the split protects data from
(DESIGN §6a): the key of a row it never held — a competitor's customer's supply point id — must not reach it,
in a statement, a parameter or a temporary table. For such a store the follow asks instead:

- **the NW store, standing in**, when it can: it holds, with scope `all`, the table and every table the
  store's scope reads, with the columns the scope reads, and it is at the same capture position as the
  store, so it holds what the source held when the store was last brought up to date. The store's scope is
  evaluated there on the keys, before the NW store takes the batch: the keys it selects are the ones the
  store holds.
- **else the store's own keys of the table**, read whole and compared here: slow on a big table; needed
  only after an interrupted follow left the stores at different positions, or for a scope the NW store
  cannot evaluate.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from split.capture import slot
from split.checksum import canonical
from split.db import engine_for
from split.mapping.model import AllRows, Follow, Own
from split.prepare import Prepared
from split.scope import scope_predicate, source_table

Key = tuple  # a primary key's values, typed as the source's driver returns them

NW = "nw"


def may_see(prep: Prepared, store: str, table: str) -> bool:
    """Whether every key of `table` may be sent to `store`."""
    rule = prep.mapping.table(table)
    return store == NW or (rule is not None and isinstance(rule.scope(store), AllRows))


def stand_in(prep: Prepared, store: str, table: str, positions: dict[str, str | None], copied: set[str]) -> bool:
    """Whether the NW store can tell which keys of `table` `store` holds (see the module's docstring);
    `positions`: each store's capture position, `copied`: the tables the NW store's ledger records."""
    if NW not in prep.urls or store == NW or positions.get(NW) != positions.get(store):
        return False
    return all(_whole_in_nw(prep, name, columns, copied) for name, columns in scope_reads(prep, table, store))


def scope_reads(prep: Prepared, table: str, store: str) -> list[tuple[str, set[str]]]:
    """The tables `store`'s scope for `table` reads, each with the columns it reads, down its chain of follows."""
    rule = prep.mapping.table(table)
    scope = rule.scope(store) if rule is not None else None
    if isinstance(scope, Own):
        return [(table, {scope.column})]
    if not isinstance(scope, Follow):
        return [(table, set())]
    parent = prep.mapping.table(scope.table)
    child_columns = {c for c, _p in scope.on} | ({scope.at} if scope.at else set())
    parent_columns = {p for _c, p in scope.on} | (set(parent.period or ()) if scope.at and parent else set())
    return [(table, child_columns), (scope.table, parent_columns), *scope_reads(prep, scope.table, store)]


def _whole_in_nw(prep: Prepared, table: str, columns: set[str], copied: set[str]) -> bool:
    rule, plan = prep.mapping.table(table), prep.plan.table(table)
    held = plan.store(NW) if plan else None
    return (
        table in copied
        and rule is not None
        and isinstance(rule.scope(NW), AllRows)
        and held is not None
        and columns <= {c.name for c in held.columns if c.transform == "copy"}
    )


def held_keys(
    prep: Prepared, store: str, table: str, keys: set[Key], positions: dict[str, str | None], copied: set[str]
) -> set[Key]:
    """Which of these keys (as the source types them) `store` holds, for a store that may not see them all:
    asked of the NW store standing in, or found in the store's own keys, read whole."""
    pk = list(prep.schema.tables[table].primary_key)
    if stand_in(prep, store, table, positions, copied):
        return held_by_scope(prep, store, table, pk, keys)
    return {key for key, _values in read_whole(prep.urls[store], store_table(prep, store, table), pk, (), keys)}


def held_by_scope(prep: Prepared, store: str, table: str, pk: Sequence[str], keys: Iterable[Key]) -> set[Key]:
    """The keys whose rows the NW store has in `store`'s scope."""
    asked = _by_canonical(keys)
    t = source_table(prep.schema, table)
    predicate = scope_predicate(prep.mapping, prep.schema, t, table, store)
    out: set[Key] = set()
    with engine_for(prep.urls[NW]).connect() as conn:
        for where in key_filters(conn, table, list(pk), list(asked.values())):
            stmt = sa.select(*(t.c[k] for k in pk)).where(where)
            rows = conn.execute(stmt if predicate is None else stmt.where(predicate))
            out.update(asked[canonical_key(r)] for r in rows)
    return out


def store_table(prep: Prepared, store: str, table: str) -> Any:
    """The table as `store` holds it, typed (SQLite gives dates back as text otherwise)."""
    held = prep.plan.table(table)
    sp = held.store(store) if held else None
    assert sp is not None
    return sa.table(table, *(sa.column(c.name, c.type) for c in sp.columns))


def read_whole(
    url: str, t: Any, pk: Sequence[str], want: Sequence[str], keys: Iterable[Key]
) -> Iterator[tuple[Key, tuple]]:
    """(key, `want` values) of the rows of table `t` in the store at `url` whose key is one of `keys`, found
    by reading every row of the table: no key is sent to the store."""
    asked = _by_canonical(keys)
    with engine_for(url).connect() as conn:
        stmt = sa.select(*(t.c[k] for k in pk), *(t.c[w] for w in want))
        for chunk in conn.execute(stmt.execution_options(stream_results=True)).partitions(10_000):
            for row in chunk:
                key = asked.get(canonical_key(row[: len(pk)]))
                if key is not None:
                    yield key, tuple(row[len(pk) :])


def canonical_key(key: Iterable[Any]) -> tuple:
    """A key as text, alike whichever driver or engine typed it: how keys from two places are compared."""
    return tuple(canonical(v) for v in key)


def _by_canonical(keys: Iterable[Key]) -> dict[tuple, Key]:
    return {canonical_key(k): k for k in keys}


# ── key lists in statements ──────────────────────────────────────────────────────────────────────

CHUNK = 1_000  # keys per IN list
ARRAY_CHUNK = 20_000  # keys per array parameter (PostgreSQL)


def key_filters(conn: sa.Connection, table: str, pk: list[str], keys: list[Key]) -> Iterator[Any]:
    """WHERE clauses that together name these keys. A one-column key on PostgreSQL is one array of its own
    type per 20,000 keys (`k = ANY(CAST(:keys AS bigint[]))`, walked in the key's index); other keys are IN
    lists of 1,000 (every engine has them; each key costs a parameter to parse)."""
    if conn.dialect.name == "postgresql" and len(pk) == 1:
        array = f"{column_types(conn, table)[pk[0]]}[]"
        column = conn.dialect.identifier_preparer.quote(pk[0])
        for chunk in chunks(keys, ARRAY_CHUNK):
            yield sa.text(f"{column} = ANY(CAST(:keys AS {array}))").bindparams(keys=[k[0] for k in chunk])
        return
    target = sa.tuple_(*(sa.column(k) for k in pk)) if len(pk) > 1 else sa.column(pk[0])
    for chunk in chunks(keys):
        yield target.in_(chunk if len(pk) > 1 else [k[0] for k in chunk])


def column_types(conn: sa.Connection, table: str) -> dict[str, str]:
    """A PostgreSQL table's column types as the server names them (with modifiers: `character(22)`)."""
    query = sa.text(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = to_regclass(:t) AND attnum > 0 AND NOT attisdropped"
    )
    return dict(conn.execute(query, {"t": slot.quote(table)}).all())


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    items = list(items)
    return [items[i : i + size] for i in range(0, len(items), size)]
