"""`verify` as a stage: the prepared split, every check that applies, a verdict, and the report folder."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import STATUSES, CheckOutcome, CheckResult, verdict
from checks.runner import run_checks
from split.db import engine_for
from split.engine.run import Runner
from split.prepare import Prepared
from split.report import write_report

if TYPE_CHECKING:
    from checks.grants import Roles
    from split.audit import AuditResult, LogSpec
    from split.settings import StoreUrl


@dataclass
class VerifyResult(CheckOutcome):
    verdict: str  # pass | fail | error
    system: str
    mapping: str
    mapping_sha256: str
    plan_hash: str
    stores: dict[str, str]
    tables: list[dict]
    checks: list[CheckResult]
    seconds: float
    report: str | None = None
    step_seconds: dict[str, float] = field(default_factory=dict)  # wall time per check step
    audit: AuditResult | None = None  # when the audit-log check ran

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "system": self.system,
            "mapping": self.mapping,
            "mapping_sha256": self.mapping_sha256,
            "plan_hash": self.plan_hash,
            "stores": self.stores,
            "summary": self.summary(),
            "seconds": round(self.seconds, 2),
            "step_seconds": self.step_seconds,
            "tables": self.tables,
            "checks": [c.to_dict() for c in self.checks],
            "audit_log": self.audit.to_dict() if self.audit else None,
            "report": self.report,
        }


def verify_split(
    prep: Prepared,
    *,
    only: Sequence[str] | None = None,
    report_dir: str | Path | None = None,
    workers: int = 2,
    scheduler: str | None = None,
    roles: Roles | None = None,
    log: tuple[StoreUrl, LogSpec] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> VerifyResult:
    """Every check against the prepared stores; `only`: the tables whose rows are checked (a wave, a rehearsal);
    `scheduler`: a dask.distributed scheduler for the partition work (connected first: a wrong address is a
    usage error before any check runs)."""
    started = time.monotonic()
    step_seconds: dict[str, float] = {}
    with Runner(workers, scheduler) as runner:
        ctx = VerifyContext(
            prep,
            report_key(prep.key),
            workers,
            str(Path(report_dir).resolve() / "gx") if report_dir else None,  # GX wants an absolute path
            frozenset(only) if only is not None else None,
            roles,
            log,
            runner=runner,
        )
        results = run_checks(ctx, on_step, step_seconds)
    plan = prep.plan
    result = VerifyResult(
        verdict(results).value,
        plan.system,
        plan.mapping_path,
        plan.mapping_sha256,
        plan.hash,
        prep.shown,
        table_summary(prep, results),
        results,
        time.monotonic() - started,
        step_seconds=step_seconds,
        audit=ctx.details.get("audit-log"),
    )
    if report_dir is not None:
        result.report = str(write_report(result, report_dir))
    return result


def report_key(key: bytes | None) -> bytes:
    """Report hashes are keyed, and never with the encode key itself: a report must not help to link tokens."""
    return hmac.new(key, b"bunkatsu-report", hashlib.sha256).digest() if key else secrets.token_bytes(32)


def table_summary(prep: Prepared, results: list[CheckResult]) -> list[dict[str, Any]]:
    """Per table: rows in source / NW / retail, columns by destination, check statuses."""
    plan = prep.plan

    def rows(role: str, name: str) -> int | None:
        table = plan.table(name)
        if table is None or table.store(role) is None:
            return None
        try:
            with engine_for(prep.stores[role].url).connect() as conn:
                return int(conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one())
        except sa.exc.SQLAlchemyError:
            return None

    tables = []
    for t in plan.tables:
        nw = t.store("nw")
        nw_cols = {c.name for c in nw.columns} if nw else set()
        retail = t.store("retail")
        plain = {c.name for c in retail.columns if c.transform == "copy"} if retail else set()
        encoded = {c.name for c in retail.columns if c.transform == "encode"} if retail else set()
        statuses = [c.status.value for c in results if c.table == t.name]
        tables.append(
            {
                "name": t.name,
                "wave": t.wave,
                "source_rows": t.source_rows,
                "nw_rows": rows("nw", t.name),
                "retail_rows": rows("retail", t.name),
                "columns": {
                    "shared": len(nw_cols & plain),
                    "nw": len(nw_cols - plain - encoded),
                    "retail": len(plain - nw_cols),
                    "encoded": len(encoded),
                    "dropped": len(t.dropped),
                },
                "checks": {s: statuses.count(s) for s in STATUSES},
            }
        )
    return tables
