"""Check results: stable ids, a status that tells "leak found" from "could not prove", counts, hashes only."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from split.i18n import _


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"  # a violation was found (exit 1)
    WARN = "warn"  # proven, but something deserves a look (mapping.kinds, capture.retained): verdict unchanged
    ERROR = "error"  # the check could not run: nothing is proven (exit 3), never a pass


STATUSES = tuple(s.value for s in Status)


CHECK_IDS = (
    "retail.tables",
    "retail.columns",
    "retail.row_scope",
    "retail.temporal_scope",
    "retail.encoded",
    "retail.patterns",
    "retail.fingerprint",
    "nw.completeness",
    "retail.completeness",
    "integrity.fk",
    "schema.drift",
    "grants",
    "canary",
    "audit-log",
    "mapping.kinds",
    "capture.retained",
    "evidence.chain",
)


@dataclass(frozen=True)
class CheckResult:
    id: str
    store: str
    status: Status
    table: str | None = None
    column: str | None = None
    observed: int | None = None
    expected: int | None = None
    message: str = ""  # never a protected value: names of objects, counts, keyed hashes
    samples: tuple[str, ...] = field(default=())  # keyed hashes of offending keys or values

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "store": self.store,
            "table": self.table,
            "column": self.column,
            "status": self.status.value,
            "observed": self.observed,
            "expected": self.expected,
            "message": self.message,
            "samples": list(self.samples),
        }


def passed(
    id: str,
    store: str,
    table: str | None = None,
    *,
    column: str | None = None,
    observed: int | None = None,
    expected: int | None = None,
    message: str = "",
) -> CheckResult:
    return CheckResult(id, store, Status.PASS, table, column, observed, expected, message)


def failed(
    id: str,
    store: str,
    table: str | None = None,
    *,
    column: str | None = None,
    observed: int | None = None,
    expected: int | None = None,
    message: str = "",
    samples: tuple[str, ...] = (),
) -> CheckResult:
    return CheckResult(id, store, Status.FAIL, table, column, observed, expected, message, samples)


def warned(
    id: str, store: str, table: str | None = None, *, column: str | None = None, message: str = ""
) -> CheckResult:
    return CheckResult(id, store, Status.WARN, table, column, message=message)


def could_not_prove(id: str, store: str, table: str | None, reason: str) -> CheckResult:
    return CheckResult(id, store, Status.ERROR, table, message=_("could not prove: %(reason)s") % {"reason": reason})


def verdict(results: list[CheckResult]) -> Status:
    """A found violation outranks a check that could not run; only all-pass (warnings allowed) is a pass."""
    statuses = {r.status for r in results}
    if Status.FAIL in statuses:
        return Status.FAIL
    if Status.ERROR in statuses or not results:
        return Status.ERROR
    return Status.PASS


class CheckOutcome:
    """What a result made of check results shares: the exit code of its verdict and the counts per status."""

    verdict: str
    checks: list[CheckResult]

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1}.get(self.verdict, 3)

    def summary(self) -> dict[str, int]:
        return {s: sum(c.status.value == s for c in self.checks) for s in STATUSES}
