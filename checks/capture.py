"""`capture.retained`: a capture slot on the source keeps WAL until the source's disk is full.

A slot nobody reads (a follow stopped days ago, a capture abandoned with its waves) keeps every WAL segment
written since its position. `verify` looks at every bunkatsu slot on a PostgreSQL source's server — any
mapping's: the disk they fill is the same — and warns above `BUNKATSU_CAPTURE_WARN_WAL` (default 4GB), or
when the server has invalidated a slot (`wal_status = lost`: its follow cannot go on). A warning leaves the
verdict alone: the split is not less clean, the source is in danger. Nothing is reported on a source
without slots, nor on MariaDB/MySQL (a binlog capture keeps nothing on the server).
"""

from __future__ import annotations

import sqlalchemy as sa

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, passed, warned
from split.db import describe_db_error, engine_for
from split.engine.snapshot import is_postgresql
from split.i18n import _
from split.settings import CAPTURE_PREFIX

CHECK = "capture.retained"


def retained_wal(ctx: VerifyContext) -> list[CheckResult]:
    if ctx.post_split or not is_postgresql(ctx.source_url):
        return []
    try:
        with engine_for(ctx.source_url).connect() as conn:
            slots = conn.execute(
                sa.text(
                    "SELECT slot_name, coalesce(pg_current_wal_lsn() - restart_lsn, 0)::bigint, wal_status"
                    " FROM pg_replication_slots WHERE slot_name LIKE :prefix ORDER BY slot_name"
                ),
                {"prefix": CAPTURE_PREFIX.replace("_", "\\_") + "%"},
            ).all()
    except sa.exc.SQLAlchemyError as exc:
        return [could_not_prove(CHECK, "source", None, describe_db_error(exc))]
    results = []
    for name, kept, status in slots:
        said = _("slot %(name)s keeps %(size)s of WAL on the source") % {"name": name, "size": _size(kept)}
        if status == "lost":
            message = _(
                "slot %(name)s was invalidated by the server (wal_status lost): its follow cannot go on; "
                "drop it (`bunkatsu capture drop`)"
            )
            results.append(warned(CHECK, "source", message=message % {"name": name}))
        elif kept > ctx.capture_warn_bytes:
            hint = _("follow it (`sync --follow`) or drop it (`capture drop`) before the source's disk fills")
            limit = _("more than %(size)s, BUNKATSU_CAPTURE_WARN_WAL") % {"size": _size(ctx.capture_warn_bytes)}
            results.append(warned(CHECK, "source", message=f"{said} ({limit}): {hint}"))
        else:
            results.append(passed(CHECK, "source", observed=int(kept), message=said))
    return results


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"
