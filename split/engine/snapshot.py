"""One point-in-time image of a PostgreSQL source for a whole run (README "How `copy` works").

The run exports a snapshot at its start (`pg_export_snapshot()` in a REPEATABLE READ transaction that
stays open until the run ends); every partition, in any thread, process or Dask worker, reads inside
`SET TRANSACTION SNAPSHOT`. Writes that land on the source during the copy are then invisible to all
partitions alike, so the stores never hold half of a source transaction. Other engines have no
exportable snapshot: each partition reads in its own transaction (documented in the README).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from split.db import engine_for, normalise_url
from split.i18n import _

_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9A-F]+)?$")


def is_postgresql(url: str) -> bool:
    return normalise_url(url).get_backend_name() == "postgresql"


@contextmanager
def exported_snapshot(url: str) -> Iterator[str | None]:
    """The snapshot id of an open transaction on the source, held for the duration of the block."""
    if not is_postgresql(url):
        yield None
        return
    with engine_for(url).connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            yield str(snapshot)


@contextmanager
def source_connection(url: str, snapshot: str | None) -> Iterator[sa.Connection]:
    """A read transaction on the source, inside the run's snapshot when there is one."""
    with engine_for(url).connect() as conn:
        if snapshot is None:
            yield conn
            return
        if not _SNAPSHOT_ID.match(snapshot):  # it is interpolated into SQL below
            raise ValueError(_("not a PostgreSQL snapshot id: %(snapshot)s") % {"snapshot": repr(snapshot)})
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            yield conn
