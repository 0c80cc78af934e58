"""`evidence.chain`: the journal and ledger of each store are what bunkatsu wrote (split/chain.py).

Each store's chain is walked from its genesis and its journal and ledger rows compared with it: an edited,
deleted, inserted or reordered row fails, naming the table, the row's key and the chain record. The head
(records and hash) goes into the report, so that a later pack or report can show the chain only grew. After
the split the retail store is the retailer's own database: only the NW store's chain is checked then.
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split import chain
from split.db import describe_db_error, engine_for
from split.i18n import _

CHECK = "evidence.chain"


def evidence_chain(ctx: VerifyContext) -> list[CheckResult]:
    stores = {"nw": ctx.stores["nw"]} if ctx.post_split else ctx.stores
    return [_store_chain(store, url) for store, url in stores.items()]


def _store_chain(store: str, url: str) -> CheckResult:
    try:
        with engine_for(url).connect() as conn:
            if not chain.has_chain(conn):
                return could_not_prove(
                    CHECK, store, chain.CHAIN_TABLE,
                    _(
                        "the store has no evidence chain (a store bunkatsu wrote before it kept one): run `bunkatsu "
                        "schema revision --store %(store)s` and `schema upgrade`; rows written before are adopted by "
                        "the chain"
                    )
                    % {"store": store},
                )  # fmt: skip
            found = chain.examine(conn)
    except sa.exc.SQLAlchemyError as exc:
        return could_not_prove(CHECK, store, chain.CHAIN_TABLE, describe_db_error(exc))
    if found.defect:
        return failed(CHECK, store, chain.CHAIN_TABLE, message=found.defect, observed=found.records)
    counts = {"ledger": found.rows.get("bunkatsu_ledger", 0), "journal": found.rows.get("bunkatsu_journal", 0)}
    said = _(
        "%(records)s records, head %(head)s; %(ledger)s ledger and %(journal)s journal rows as bunkatsu wrote them"
    )
    message = said % {"records": found.records, "head": found.head[:16], **counts}
    return passed(CHECK, store, chain.CHAIN_TABLE, observed=found.records, message=message)
