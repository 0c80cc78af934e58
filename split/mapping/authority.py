"""The mapping as seen from one store: for post-split checks, when the NW store is the authority.

The NW store holds what the mapping sent it and nothing else: tables with `nw: none` and columns that
went to retail or were dropped are absent. Planning against it needs a mapping restricted to what is
there; scopes that follow a table the store does not hold cannot be evaluated and are left out.
"""

from __future__ import annotations

from dataclasses import replace

from split.introspect import SourceSchema
from split.mapping.model import ColumnRule, Destination, Follow, Mapping, TableRule


def as_seen_in_store(mapping: Mapping, store: SourceSchema) -> Mapping:
    kept: list[TableRule] = []
    for rule in mapping.tables:
        info = store.table(rule.name)
        if info is None:
            continue
        columns = tuple(c for c in rule.columns if info.column(c.name) is not None)
        if rule.columns_listed:  # columns someone added to the NW store later are the NW's own
            columns += tuple(ColumnRule(n, Destination.NW) for n in info.column_names if rule.column(n) is None)
        kept.append(replace(rule, columns=columns))
    names = {t.name for t in kept}
    kept = [t for t in kept if all(not isinstance(s, Follow) or s.table in names for s in (t.nw, t.retail))]
    names = {t.name for t in kept}
    waves = tuple(
        w for w in (replace(w, tables=tuple(n for n in w.tables if n in names)) for w in mapping.waves) if w.tables
    )
    return replace(mapping, tables=tuple(kept), waves=waves)
