"""The prepared context, like Alembic's `Config`: every verb's inputs checked once, before anything is written.

`prepare` turns what the user gave (a mapping file, URLs, the environment) into one typed object: the
mapping, the reflected source, the plan, the stores with their identities, the encode key. Every verb
takes it; `cutover run` passes one from step to step; `dry-run` and the demo build theirs the same way.

Order of the checks (each a usage error, exit 2, nothing written): the mapping parses; the URLs parse;
the source is reachable and covered by the mapping; the encode key is set and strong; the stores are
reachable; no store is the source, and NW and retail are different databases (`split.identity`). The
source is then only ever opened read-only (`split.db.read_only_url`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from split.db import check_reachable, engine_for, read_only_url
from split.errors import ConfigError
from split.i18n import _
from split.identity import Identity, require_separate
from split.introspect import SourceSchema, reflect_source
from split.mapping import Mapping, load_mapping, validate_against_source
from split.mapping.authority import as_seen_in_store
from split.plan import Plan, TablePlan, compile_plan
from split.settings import (
    ENV_MAPPING,
    ENV_NW,
    ENV_RETAIL,
    ENV_SOURCE,
    StoreUrl,
    encode_key,
    mapping_path,
    migrations_dir,
    store_url,
)

STORES = ("nw", "retail")
STORE_ENV = {"nw": ENV_NW, "retail": ENV_RETAIL}


@dataclass(frozen=True)
class Prepared:
    """What a verb works on. `source` is read-only; after the split it is the NW store, the authority."""

    mapping: Mapping  # as planned (after the split: restricted to what the NW store holds)
    schema: SourceSchema
    plan: Plan
    source: StoreUrl
    stores: dict[str, StoreUrl]  # the target stores this verb uses: nw and/or retail
    key: bytes | None = field(repr=False)
    migrations: Path
    full_mapping: Mapping  # the mapping as written: what the retail store may hold
    identities: dict[str, Identity] = field(default_factory=dict, repr=False)
    post_split: bool = False

    @property
    def urls(self) -> dict[str, str]:
        return {role: s.url for role, s in self.stores.items()}

    @property
    def shown(self) -> dict[str, str]:
        """Every store by role, masked, as results print them."""
        source = {} if self.post_split else {"source": self.source.masked}
        return {**source, **{role: s.masked for role, s in self.stores.items()}}

    def select(self, waves: Sequence[str] | None = None, tables: Sequence[str] | None = None) -> list[TablePlan]:
        return select_tables(self.plan, waves, tables)

    def with_stores(self, urls: dict[str, str], migrations: Path) -> Prepared:
        """The same inputs against other stores (a rehearsal's scratch stores), checked the same way."""
        stores = {role: StoreUrl(role, url) for role, url in urls.items()}
        for store in stores.values():
            check_reachable(store.url, store.role, must_exist=False)
        identities = require_separate([self.source, *stores.values()])
        return replace(self, stores=stores, identities=identities, migrations=migrations)


def prepare(
    mapping_file: str | Path | None,
    source: str | None,
    nw: str | None = None,
    retail: str | None = None,
    *,
    stores: Sequence[str] = STORES,
    migrations: str | Path | None = None,
    key: bytes | None = None,
    need_key: bool = True,
    stores_exist: bool = False,
    ranges: bool = True,
) -> Prepared:
    """Check everything a verb needs before it writes (see the module docstring). `key` overrides the
    environment (the demo's throwaway key); `stores_exist`: verbs that only read the stores; `ranges=False`:
    a verb that reads rows by key only (`sync --follow`) skips counting rows and cutting key ranges."""
    mapping = load_mapping(mapping_path(mapping_file))
    src = source_store(source)
    targets = _targets(stores, nw, retail)
    schema = reflect_source(engine_for(src.url))
    validate_against_source(mapping, schema)
    key = key if key is not None else encode_key(required=need_key and mapping.encodes)
    for target in targets.values():
        check_reachable(target.url, target.role, must_exist=stores_exist)
    identities = require_separate([src, *targets.values()])
    plan = compile_plan(mapping, schema, engine_for(src.url), ranges=ranges)
    return Prepared(mapping, schema, plan, src, targets, key, migrations_dir(migrations), mapping, identities)


def prepare_post_split(
    mapping_file: str | Path | None,
    nw: str | None,
    retail: str | None,
    *,
    migrations: str | Path | None = None,
    key: bytes | None = None,
) -> Prepared:
    """After the split there is no source: the NW store is the authority, seen through the mapping
    restricted to what it holds."""
    full = load_mapping(mapping_path(mapping_file))
    targets = _targets(STORES, nw, retail)
    key = key if key is not None else encode_key(required=full.encodes)
    for target in targets.values():
        check_reachable(target.url, target.role, must_exist=True)
    identities = require_separate(targets.values())
    authority = read_only(targets["nw"])
    schema = reflect_source(engine_for(authority.url))
    mapping = as_seen_in_store(full, schema)
    plan = compile_plan(mapping, schema, engine_for(authority.url))
    return Prepared(
        mapping, schema, plan, authority, targets, key, migrations_dir(migrations), full, identities, post_split=True
    )


def source_store(value: str | None) -> StoreUrl:
    """The source, reachable, as a read-only StoreUrl (printed as the user gave it, masked)."""
    given = store_url("source", value, ENV_SOURCE)
    check_reachable(given.url, "source")
    return read_only(given)


def read_only(store: StoreUrl) -> StoreUrl:
    return StoreUrl(store.role, read_only_url(store.url), store.masked)


def _targets(roles: Sequence[str], nw: str | None, retail: str | None) -> dict[str, StoreUrl]:
    given = {"nw": nw, "retail": retail}
    return {role: store_url(role, given[role], STORE_ENV[role]) for role in roles}


def optional_mapping(mapping_file: str | Path | None) -> Mapping | None:
    """A mapping when one is given (option or environment); discovery may start without one."""
    raw = mapping_file or os.environ.get(ENV_MAPPING)
    return load_mapping(mapping_path(raw)) if raw else None


def select_tables(plan: Plan, waves: Sequence[str] | None, tables: Sequence[str] | None) -> list[TablePlan]:
    """The tables of the chosen waves and/or names, in plan order; unknown names are usage errors."""
    known_waves = {t.wave for t in plan.tables}
    known_tables = {t.name for t in plan.tables}
    bad = [w for w in waves or [] if w not in known_waves] + [t for t in tables or [] if t not in known_tables]
    if bad:
        raise ConfigError(
            _("unknown wave or table: %(bad)s") % {"bad": ", ".join(bad)},
            hint=_("waves: %(waves)s; see `bunkatsu plan` for tables") % {"waves": ", ".join(sorted(known_waves))},
        )
    if not waves and not tables:
        return list(plan.tables)
    return [t for t in plan.tables if t.wave in (waves or []) or t.name in (tables or [])]
