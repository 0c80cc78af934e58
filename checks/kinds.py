"""mapping.kinds: a mapping that forgets a `kind` does not weaken the proof.

The fingerprint protects the values of identifying columns, and it knows them by their `kind`. A column
that holds phone numbers but was mapped without a kind would add nothing to the protected set, silently.
So the authority's columns are sampled with `discover`'s recognisers (the first rows of each table, counts
only), and a column whose values look identifying is protected as the recognised kind anyway, and listed
as a warning with the hint to declare it. `kind: other` opts a column out on purpose; a column already of an
identifying kind, or encoded, is protected already.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, passed, warned
from split.db import describe_db_error, engine_for
from split.discover.sample import DEFAULT_SAMPLE_ROWS, sample_table
from split.i18n import _
from split.mapping.model import IDENTIFYING_KINDS, Destination

OPTED_OUT = "other"
_CACHE = "mapping.kinds"  # ctx.details key: sampled once per verify, used by the check and the fingerprint


@dataclass(frozen=True)
class InferredKind:
    table: str
    column: str
    kind: str  # an identifying kind the mapping did not declare
    evidence: str  # counts only


def inferred_kinds(ctx: VerifyContext) -> list[InferredKind]:
    """The undeclared identifying columns of the authority (sampled once per verify run)."""
    if _CACHE not in ctx.details:
        ctx.details[_CACHE] = _sample(ctx)
    found: list[InferredKind] = ctx.details[_CACHE]
    return found


def _sample(ctx: VerifyContext) -> list[InferredKind]:
    found = []
    with engine_for(ctx.source_url).connect() as conn:
        for rule in ctx.mapping.tables:
            info = ctx.schema.table(rule.name)
            if info is None:
                continue
            evidence = sample_table(conn, info, DEFAULT_SAMPLE_ROWS)
            for column, ev in evidence.items():
                declared = rule.column(column)
                if declared is not None and (
                    declared.kind in IDENTIFYING_KINDS
                    or declared.kind == OPTED_OUT
                    or declared.to == Destination.ENCODE
                ):
                    continue
                suggestion = ev.suggestion()
                if suggestion is not None and suggestion.kind in IDENTIFYING_KINDS:
                    found.append(InferredKind(rule.name, column, suggestion.kind, suggestion.evidence))
    return found


def mapping_kinds(ctx: VerifyContext) -> list[CheckResult]:
    try:
        found = inferred_kinds(ctx)
    except sa.exc.SQLAlchemyError as exc:
        return [could_not_prove("mapping.kinds", "source", None, describe_db_error(exc))]
    if not found:
        return [
            passed(
                "mapping.kinds", "source", message=_("every column whose sampled values look identifying has its kind")
            )
        ]
    return [
        warned(
            "mapping.kinds",
            "source",
            f.table,
            column=f.column,
            message=_(
                "protected as %(kind)s, which the mapping does not declare: %(evidence)s. Declare `kind: %(kind)s` "
                "(or `kind: %(other)s` if the values are not identifying)"
            )
            % {"kind": f.kind, "evidence": f.evidence, "other": OPTED_OUT},
        )
        for f in found
    ]
