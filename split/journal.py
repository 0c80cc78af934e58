"""The journal: what happened to each wave, step by step, appended to the stores (README "Staged cutover": the evidence).

One row per step of `cutover run` (started, passed, failed), with the operator, the time, the mapping and
plan hashes, the counts and the report. It is what a utility shows its regulator for each wave, so it is
written to both stores (each company keeps its own evidence) and read from the NW store, the authority.
Never a protected value: counts, hashes, check ids and paths only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from split import chain

JOURNAL_TABLE = "bunkatsu_journal"

# Part of each store's derived schema (split/schema/derive.py), like the ledger.
journal = sa.Table(
    JOURNAL_TABLE,
    sa.MetaData(),
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("operator", sa.String(128), nullable=False),
    sa.Column("wave", sa.String(128), nullable=False),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # started | passed | failed
    sa.Column("mapping_sha256", sa.String(64), nullable=False),
    sa.Column("plan_hash", sa.String(64)),
    sa.Column("run_id", sa.String(32)),
    sa.Column("counts", sa.Text),  # JSON: rows copied, synced, checks passed/failed
    sa.Column("report", sa.Text),  # path of the verify report of a gate
    sa.Column("message", sa.Text),
)
chain.chained(journal)  # each row written is appended to the store's evidence chain


@dataclass(frozen=True)
class Entry:
    wave: str
    step: str
    outcome: str
    operator: str
    mapping_sha256: str
    plan_hash: str | None = None
    run_id: str | None = None
    counts: dict = field(default_factory=dict)
    report: str | None = None
    message: str | None = None
    at: datetime | None = None

    def to_dict(self) -> dict:
        return {**self.__dict__, "at": self.at.isoformat(sep=" ", timespec="seconds") if self.at else None}


def append(engine: sa.Engine, entry: Entry) -> None:
    values = {**entry.__dict__, "counts": json.dumps(entry.counts, sort_keys=True)}
    values["at"] = entry.at or datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        inserted = conn.execute(journal.insert().values(**values)).inserted_primary_key
        assert inserted is not None, "a single-row insert has a primary key"
        chain.record(conn, journal, {"entry_id": inserted[0]})


def entries(engine: sa.Engine, wave: str | None = None) -> list[Entry]:
    """Every entry in the order written; none when the store has no journal yet (nothing was run)."""
    if not sa.inspect(engine).has_table(JOURNAL_TABLE):
        return []
    stmt = sa.select(journal).order_by(journal.c.entry_id)
    if wave is not None:
        stmt = stmt.where(journal.c.wave == wave)
    with engine.connect() as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        Entry(**{**{k: v for k, v in r.items() if k != "entry_id"}, "counts": json.loads(r["counts"] or "{}")})
        for r in rows
    ]
