"""The scope algebra: a mapping's row scope for a store, compiled to a SQL predicate on the source.

`follow` chains become nested EXISTS subqueries, `at:` becomes a date-inside-period condition on the
parent row, so the source does the filtering and out-of-scope rows never leave it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from split.introspect import SourceSchema
from split.mapping.model import AllRows, Follow, Mapping, NoRows, Own


def source_table(schema: SourceSchema, name: str, alias: str | None = None) -> Any:
    """A lightweight table construct with the source's portable column types (no reflection needed)."""
    info = schema.tables[name]
    table = sa.table(name, *(sa.column(c.name, c.type) for c in info.columns))
    return table.alias(alias) if alias else table


def scope_predicate(mapping: Mapping, schema: SourceSchema, table: Any, name: str, store: str, depth: int = 1) -> Any:
    """A boolean clause selecting the rows of `table` (named `name`) that `store` receives.

    Returns None for all rows and `sa.false()` for none.
    """
    scope = mapping.table(name).scope(store)  # type: ignore[union-attr]
    if isinstance(scope, AllRows):
        return None
    if isinstance(scope, NoRows):
        return sa.false()
    if isinstance(scope, Own):
        return table.c[scope.column].in_(mapping.affiliate.retailer_codes)
    assert isinstance(scope, Follow)
    parent_rule = mapping.table(scope.table)
    assert parent_rule is not None
    parent = source_table(schema, scope.table, alias=f"p{depth}")
    conditions = [parent.c[parent_col] == table.c[child_col] for child_col, parent_col in scope.on]
    if scope.at:
        start, end = parent_rule.period  # type: ignore[misc]
        day = table.c[scope.at]
        conditions += [parent.c[start] <= day, sa.or_(parent.c[end].is_(None), day <= parent.c[end])]
    inner = scope_predicate(mapping, schema, parent, scope.table, store, depth + 1)
    if inner is not None:
        conditions.append(inner)
    return sa.exists(sa.select(sa.literal_column("1")).select_from(parent).where(*conditions))
