"""schema.drift: each store is at its Alembic head, and (with a source) matches the schema the mapping derives."""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split.db import describe_db_error
from split.errors import BunkatsuError
from split.i18n import _
from split.schema.command import connection, derive, read_status, store_env
from split.schema.migrations import current_revision
from split.settings import StoreUrl

SHOWN = 5  # differences named in the message; `bunkatsu schema check` lists them all


def schema_drift(ctx: VerifyContext) -> list[CheckResult]:
    results = []
    for store, target in ctx.prep.stores.items():
        try:
            results.append(_store_drift(ctx, store, target))
        except (sa.exc.SQLAlchemyError, BunkatsuError) as exc:
            reason = exc.message if isinstance(exc, BunkatsuError) else describe_db_error(exc)
            results.append(could_not_prove("schema.drift", store, None, reason))
    return results


def _store_drift(ctx: VerifyContext, store: str, target: StoreUrl) -> CheckResult:
    env = store_env(target, ctx.prep.migrations)
    if not env.has_revisions():
        return could_not_prove(
            "schema.drift",
            store,
            None,
            _("no revisions for the %(store)s store in %(directory)s (pass --migrations DIR)")
            % {"store": store, "directory": env.directory},
        )
    if ctx.post_split:  # no source to derive from: the store against its head only
        with connection(env) as conn:
            current = current_revision(conn)
        if current == env.head():
            said = _("at head %(head)s (compared with head only: no source)") % {"head": current}
            return passed("schema.drift", store, message=said)
        said = _("at %(current)s, head is %(head)s") % {"current": current or "base", "head": env.head()}
        return failed("schema.drift", store, message=said)
    st = read_status(env, derive(ctx.prep, env))
    if st.state in ("ok", "loosened"):
        return passed("schema.drift", store, message=st.summary())
    shown = "; ".join(d.text for d in st.differences[:SHOWN])
    more = " " + _("(and %(n)s more)") % {"n": len(st.differences) - SHOWN} if len(st.differences) > SHOWN else ""
    detail = f": {shown}{more}" if shown else ""
    return failed(
        "schema.drift",
        store,
        observed=len(st.differences),
        expected=0,
        message=f"{st.state}: {st.summary()}{detail} → {st.fix()}",
    )
