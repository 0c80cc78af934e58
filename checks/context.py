"""What every check needs: the plan, the mapping, the stores, a keyed hash for reporting."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from split.mapping.model import Mapping
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

    def retail_tables(self) -> list[tuple[TablePlan, StorePlan]]:
        return [(t, sp) for t in self.plan.tables if (sp := t.store("retail")) is not None]

    def store_tables(self, store: str) -> list[tuple[TablePlan, StorePlan]]:
        return [(t, sp) for t in self.plan.tables if (sp := t.store(store)) is not None]

    def keyed_hash(self, value: Any) -> str:
        """How a protected value or key appears in a report: 16 hex digits of HMAC-SHA256, never the value."""
        return hmac.new(self.report_key, normalize(value).encode(), hashlib.sha256).hexdigest()[:16]
