"""What every check needs: the plan, the mapping, the stores, a keyed hash for reporting."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from split.engine.run import Runner
from split.introspect import SourceSchema
from split.mapping.model import Mapping, NoRows
from split.normalize import normalize
from split.plan import Plan, StorePlan, TablePlan
from split.prepare import Prepared
from split.settings import capture_warn_bytes

T = TypeVar("T")
R = TypeVar("R")

if TYPE_CHECKING:
    from checks.grants import Roles
    from split.audit import LogSpec
    from split.settings import StoreUrl


@dataclass(frozen=True)
class VerifyContext:
    """The prepared inputs plus what only verify needs; checks read the plan, mapping and stores through it."""

    prep: Prepared
    report_key: bytes = field(repr=False)  # keys the hashes shown in reports (derived from the encode key, or per run)
    workers: int = 2
    gx_docs_dir: str | None = None  # where Great Expectations writes its Data Docs, if anywhere
    only: frozenset[str] | None = None  # a wave or a rehearsal: the tables whose rows are checked (None: all)
    roles: Roles | None = None  # with a roles file, the grants check runs too
    log: tuple[StoreUrl, LogSpec] | None = None  # with an access log, the audit-log check runs too
    details: dict[str, Any] = field(default_factory=dict)  # what a check leaves for the report beyond its results
    runner: Runner | None = field(default=None, repr=False)  # where partition tasks run (None: locally, `workers`)
    # a capture slot keeping more WAL than this is a warning (read before any check runs: a bad value is exit 2)
    capture_warn_bytes: int = field(default_factory=capture_warn_bytes)
    reflected: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)  # (url, table) → sa.Table

    @property
    def plan(self) -> Plan:
        return self.prep.plan

    @property
    def mapping(self) -> Mapping:
        return self.prep.mapping

    @property
    def schema(self) -> SourceSchema:
        return self.prep.schema

    @property
    def source_url(self) -> str:
        """The authority, read-only: the source, or after the split the NW store."""
        return self.prep.source.url

    @property
    def stores(self) -> dict[str, str]:
        return self.prep.urls

    @property
    def encode_key(self) -> bytes | None:
        return self.prep.key

    @property
    def post_split(self) -> bool:
        return self.prep.post_split

    @property
    def allowed_retail(self) -> dict[str, list[str]]:
        return allowed_retail_columns(self.prep.full_mapping)

    def retail_tables(self) -> list[tuple[TablePlan, StorePlan]]:
        return self.store_tables("retail")

    def store_tables(self, store: str) -> list[tuple[TablePlan, StorePlan]]:
        """The tables whose rows the checks cover in that store; schemas and table lists are always checked whole."""
        chosen = [t for t in self.plan.tables if self.only is None or t.name in self.only]
        return [(t, sp) for t in chosen if (sp := t.store(store)) is not None]

    def keyed_hash(self, value: Any) -> str:
        return keyed_hash(self.report_key, value)

    def run(self, fn: Callable[..., R], items: Sequence[T], name: str, shared: Any = None) -> list[R]:
        """fn over the items on the verify's runner (a dask.distributed cluster with `--scheduler`), else locally;
        with `shared`, fn(item, shared) (sent to each cluster worker once). Items and fn travel to the workers:
        they carry URLs, plans and keyed digests, never a connection."""
        if self.runner is not None:
            return self.runner.map(fn, items, name=name, shared=shared)
        with Runner(self.workers) as runner:
            return runner.map(fn, items, name=name, shared=shared)


def keyed_hash(key: bytes, value: Any) -> str:
    """How a protected value or key appears in a report: 16 hex digits of HMAC-SHA256, never the value."""
    return hmac.new(key, normalize(value).encode(), hashlib.sha256).hexdigest()[:16]


def allowed_retail_columns(mapping: Mapping) -> dict[str, list[str]]:
    """What the retail store may hold, from the mapping alone (also when no source is left to plan from)."""
    allowed = {}
    for rule in mapping.tables:
        columns = [c.name for c in rule.columns if c.to.reaches_retail]
        if not isinstance(rule.retail, NoRows) and columns:
            allowed[rule.name] = columns
    return allowed
