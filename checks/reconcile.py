"""nw.completeness and retail.completeness: each store equals what the plan says it should hold.

Per key range, both sides give a count and an order-independent checksum (sum of 64-bit row hashes, so
engines that sort text differently still agree). Only ranges that differ are read again, row by row,
to name the differing keys — as keyed hashes, never as values.
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split.db import describe_db_error
from split.engine.compare import keyed_rows, summaries, target_batches
from split.engine.partition import PartitionTask, routed_batches
from split.i18n import _
from split.settings import Secret

SAMPLES = 5


def narrow(ctx: VerifyContext, task: PartitionTask) -> tuple[int, int, int, tuple[str, ...]]:
    """Missing, extra and changed rows of a differing range, and keyed hashes of some of their keys."""
    expected, actual = keyed_rows(task, routed_batches(task)), keyed_rows(task, target_batches(task))
    exp_keys = {k for k, _ in expected}
    act_keys = {k for k, _ in actual}
    missing = exp_keys - act_keys
    extra = act_keys - exp_keys
    changed = {k for k, _ in (expected - actual) if k in act_keys} | {
        k for k, _ in (actual - expected) if k in exp_keys
    }
    samples = tuple(ctx.keyed_hash("|".join(k)) for k in sorted(missing | extra | changed)[:SAMPLES])
    return len(missing), len(extra), len(changed), samples


def completeness(ctx: VerifyContext, store: str) -> list[CheckResult]:
    check_id = f"{store}.completeness"
    key = Secret(ctx.encode_key) if ctx.encode_key else None
    tasks = [
        PartitionTask(
            t, store, part, ctx.source_url, ctx.stores[store], ctx.plan.hash, ctx.plan.mapping_sha256, "verify", key=key
        )
        for t, _ in ctx.store_tables(store)
        for part in t.partitions
    ]
    try:
        summarised = summaries(ctx.run, tasks, f"{store}-completeness")
    except (sa.exc.SQLAlchemyError, KeyError) as exc:
        return [could_not_prove(check_id, store, None, describe_db_error(exc))]
    results = []
    for table, sp in ctx.store_tables(store):
        mine = [s for s in summarised if s.task.table.name == table.name]
        expected_rows = sum(s.source[0] for s in mine)
        actual_rows = sum(s.target[0] for s in mine)
        differing = [s for s in mine if s.differs]
        if not differing:
            results.append(
                passed(
                    check_id,
                    store,
                    table.name,
                    observed=actual_rows,
                    expected=expected_rows,
                    message=_("%(n)s key range(s) equal") % {"n": len(mine)},
                )
            )
            continue
        missing = extra = changed = 0
        samples: tuple[str, ...] = ()
        for s in differing:
            m, e, c, smp = narrow(ctx, s.task)
            missing, extra, changed, samples = missing + m, extra + e, changed + c, samples + smp
        counted = ((missing, _("%(n)s missing")), (extra, _("%(n)s unexpected")), (changed, _("%(n)s changed")))
        parts = [said % {"n": n} for n, said in counted if n]
        if not parts:  # the in-database checksums differ but every row reads back equal: fail, and say so
            parts.append(_("checksums differ though no row differs when read back (column text forms differ?)"))
        encoded = any(c.transform == "encode" for c in sp.columns)
        if encoded and changed and changed == expected_rows:
            parts.append(_("(every row differs: was the copy made with another BUNKATSU_ENCODE_KEY?)"))
        results.append(
            failed(
                check_id,
                store,
                table.name,
                observed=actual_rows,
                expected=expected_rows,
                message=_("%(rows)s row(s) in %(differing)s of %(ranges)s key range(s)")
                % {"rows": ", ".join(parts), "differing": len(differing), "ranges": len(mine)},
                samples=samples[:SAMPLES],
            )
        )
    return results
