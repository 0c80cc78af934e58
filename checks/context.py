"""What every check needs: the plan, the mapping, the stores, a keyed hash for reporting."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from split.mapping.model import Mapping, NoRows
from split.normalize import normalize
from split.plan import Plan, StorePlan, TablePlan


@dataclass(frozen=True)
class VerifyContext:
    plan: Plan
    mapping: Mapping
    source_url: str
    stores: dict[str, str]  # nw / retail → URL
    report_key: bytes  # keys the hashes shown in reports (the encode key, or a per-run secret)
    encode_key: bytes | None
    workers: int = 2
    allowed_retail: dict[str, list[str]] = field(default_factory=dict)  # table → columns, from the full mapping
    post_split: bool = False  # the source is gone: `source_url` is the NW store, the authority
    gx_docs_dir: str | None = None  # where Great Expectations writes its Data Docs, if anywhere
    schema: Any = None  # the reflected source (split.introspect.SourceSchema), for the derived store schemas
    migrations: str | None = None  # the stores' Alembic environments (None: BUNKATSU_MIGRATIONS or migrations/)
    only: frozenset[str] | None = None  # a wave or a rehearsal: the tables whose rows are checked (None: all)
    roles: Any = None  # checks.grants.Roles: with a roles file, the grants check runs too
    log: Any = None  # (StoreUrl, split.audit.LogSpec): with an access log, the audit-log check runs too
    details: dict[str, Any] = field(default_factory=dict)  # what a check leaves for the report beyond its results

    def retail_tables(self) -> list[tuple[TablePlan, StorePlan]]:
        return self.store_tables("retail")

    def store_tables(self, store: str) -> list[tuple[TablePlan, StorePlan]]:
        """The tables whose rows the checks cover in that store; schemas and table lists are always checked whole."""
        chosen = [t for t in self.plan.tables if self.only is None or t.name in self.only]
        return [(t, sp) for t in chosen if (sp := t.store(store)) is not None]

    def keyed_hash(self, value: Any) -> str:
        """How a protected value or key appears in a report: 16 hex digits of HMAC-SHA256, never the value."""
        return hmac.new(self.report_key, normalize(value).encode(), hashlib.sha256).hexdigest()[:16]


def allowed_retail_columns(mapping: Mapping) -> dict[str, list[str]]:
    """What the retail store may hold, from the mapping alone (also when no source is left to plan from)."""
    allowed = {}
    for rule in mapping.tables:
        columns = [c.name for c in rule.columns if c.to.reaches_retail]
        if not isinstance(rule.retail, NoRows) and columns:
            allowed[rule.name] = columns
    return allowed
