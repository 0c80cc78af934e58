"""Canary customers: fictitious new-entrant customers planted where retail must never see them.

A canary is one customer of a retailer that is not the affiliate, with a row in the ownership table
(the table with `own:` and `period:`) and in every table that follows it and holds identifying columns,
plus the foreign-key parents those rows need. Its values are unique and plainly fictitious (area 99
supply point ids, 0990 phone numbers — a range closed in 2014 —, `.invalid` mail, 試験県カナリア市), so a
hit is unambiguous, and they can be searched for anywhere, not only in the stores: extracts, mail, logs.

What was planted is recorded in `bunkatsu_canary` in the same database: the rows (to remove them) and
the digests of the values (for the `canary` check; the values are fictitious, but the check needs no
more than digests). Plant into the source before a copy, or into the NW store after the split.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import string
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from split.db import check_reachable, engine_for
from split.errors import ConfigError
from split.i18n import _
from split.identity import require_separate
from split.introspect import CANARY_TABLE, SourceSchema, TableInfo, reflect_source
from split.mapping import load_mapping
from split.mapping.model import IDENTIFYING_KINDS, Follow, Mapping, Own
from split.normalize import searchable
from split.settings import ENV_NW, ENV_SOURCE, StoreUrl, mapping_path, store_url

CANARY_KEY = b"bunkatsu-canary"  # public on purpose: canary values are fictitious; digests only save scanning
VALUE_KINDS = (*IDENTIFYING_KINDS, "free_text")


def canary_digest(value: str) -> bytes:
    """The digest `checks.fingerprint.Protected` computes for a normalised value under CANARY_KEY."""
    return hashlib.blake2b(searchable(value).encode(), key=CANARY_KEY, digest_size=8).digest()


def record_table(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        CANARY_TABLE,
        md,
        sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("canary_id", sa.String(16), nullable=False),
        sa.Column("planted_at", sa.String(32), nullable=False),
        sa.Column("entry", sa.String(8), nullable=False),  # row | value
        sa.Column("table_name", sa.String(128)),
        sa.Column("row_key", sa.Text),  # JSON of the primary key, for `canary remove`
        sa.Column("kind", sa.String(32)),
        sa.Column("digest", sa.String(32)),
        sa.Column("length", sa.Integer),
    )


# ── what to plant ───────────────────────────────────────────────────────────────────────────


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _i in range(n))


def _my_number(rng: random.Random) -> str:
    base = _digits(rng, 11)
    total = sum(int(d) * w for d, w in zip(base, (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    return base + str(0 if total % 11 <= 1 else 11 - total % 11)


def canary_values(token: str, rng: random.Random) -> dict[str, str]:
    """One canary's identifying values by kind: unique (the token), and fictitious at a glance."""
    phone = f"0990-{_digits(rng, 2)}-{_digits(rng, 4)}"
    return {
        "supply_point_id": "99" + _digits(rng, 20),
        "name": f"試験 カナリア{token}",
        "name_kana": f"シケン カナリア{token}",
        "phone": phone,
        "email": f"canary.{token.lower()}@example.invalid",
        "address": f"試験県カナリア市{token}町1-1",
        "postal_code": f"000-{_digits(rng, 4)}",
        "meter_no": f"CN{_digits(rng, 10)}",
        "contract_no": f"CANARY{token}{_digits(rng, 8)}",
        "my_number": _my_number(rng),
        "free_text": f"カナリア試験 連絡先 {phone}",
    }


@dataclass
class Canary:
    id: str
    values: dict[str, str]  # kind → value
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # table, primary key of the row
    inserted: set[tuple[str, str]] = field(default_factory=set)  # (kind, value) as stored (a column may truncate)


@dataclass
class CanaryResult:
    store: str  # masked URL
    into: str  # source | nw
    canaries: list[dict]  # id, values, rows (plant); or the count removed
    rows: int

    def to_dict(self) -> dict:
        return {"store": self.store, "into": self.into, "canaries": self.canaries, "rows": self.rows}


def canary_target(into: str, source: str | None, nw: str | None) -> StoreUrl:
    """Where canaries are planted or removed: the source only when told so (the one write bunkatsu makes there),
    else the NW store, which must then not be the source under another name."""
    if into not in ("source", "nw"):
        raise ConfigError(
            _("--into %(into)s: expected source or nw") % {"into": into},
            hint=_("source before a copy, nw after the split"),
        )
    if into == "source":
        target = store_url("source", source, ENV_SOURCE)
        check_reachable(target.url, "source")
        return target
    target = store_url("nw", nw, ENV_NW)
    check_reachable(target.url, "nw")
    if source or os.environ.get(ENV_SOURCE):
        given = store_url("source", source, ENV_SOURCE)
        check_reachable(given.url, "source")
        require_separate([given, target])  # identities only: nothing is written to the source here
    return target


def ownership_table(mapping: Mapping) -> tuple[str, Own]:
    if not mapping.timelines:
        raise ConfigError(
            _("the mapping has no ownership timeline (a table with `retail: {own: …}` and `period:`)"),
            hint=_("canaries are customers of another retailer: they need the table that records who supplies whom"),
        )
    rule = mapping.timelines[0]
    assert isinstance(rule.retail, Own)  # a timeline is an `own:` table
    return rule.name, rule.retail


def canary_tables(mapping: Mapping, schema: SourceSchema, owner: str) -> list[str]:
    """The ownership table, every table following it (directly or by a chain) that holds identifying
    columns, and parents they reference by an identifying column, in load order."""
    chosen = {owner}
    changed = True
    while changed:
        changed = False
        for rule in mapping.tables:
            scope = rule.retail
            info = schema.table(rule.name)
            if rule.name in chosen or info is None or not isinstance(scope, Follow) or scope.table not in chosen:
                continue
            if any(c.kind in IDENTIFYING_KINDS for c in rule.columns):
                chosen.add(rule.name)
                changed = True
        for name in list(chosen):
            for fk in schema.tables[name].foreign_keys:
                kinds = {c.kind for c in mapping.table(name).columns if c.name in fk.columns}  # type: ignore[union-attr]
                if kinds & set(IDENTIFYING_KINDS) and fk.ref_table not in chosen and schema.table(fk.ref_table):
                    chosen.add(fk.ref_table)
                    changed = True
    return _parents_first(mapping, schema, chosen)


def _parents_first(mapping: Mapping, schema: SourceSchema, chosen: set[str]) -> list[str]:
    """Foreign-key parents before their children (the database insists); among the tables that are ready,
    follow targets first, so that a row can copy its join values from its canary parent."""

    def waiting(t: str, parents: set[str], pending: set[str]) -> bool:
        return bool(parents & (pending - {t}))

    def fk_parents(t: str) -> set[str]:
        return {fk.ref_table for fk in schema.tables[t].foreign_keys}

    def follow_parent(t: str) -> set[str]:
        scope = mapping.table(t).retail  # type: ignore[union-attr]
        return {scope.table} if isinstance(scope, Follow) else set()

    order: list[str] = []
    pending = set(chosen)
    while pending:
        ready = sorted(t for t in pending if not waiting(t, fk_parents(t), pending)) or sorted(pending)  # a cycle
        first = [t for t in ready if not waiting(t, follow_parent(t), pending)] or ready
        order.append(first[0])
        pending.discard(first[0])
    return order


class _Filler:
    """Values for one row of a table: canary values by kind, parents' values, fresh keys, plain defaults."""

    def __init__(self, conn: sa.Connection, mapping: Mapping, schema: SourceSchema, owner: str, own: Own) -> None:
        self.conn, self.mapping, self.schema = conn, mapping, schema
        self.owner, self.period = owner, mapping.table(owner).period  # type: ignore[union-attr]
        self.other_code = self._other_retailer(owner, own.column)
        self.next_int: dict[tuple[str, str], int] = {}
        self.existing: dict[tuple[str, str], Any] = {}

    def _other_retailer(self, table: str, column: str) -> Any:
        codes = set(self.mapping.affiliate.retailer_codes)
        stmt: sa.Select = sa.select(sa.column(column)).select_from(sa.table(table)).distinct()
        for (code,) in self.conn.execute(stmt):
            if code is not None and str(code) not in codes:
                return code
        raise ConfigError(
            _("%(table)s.%(column)s holds no retailer other than the affiliate") % {"table": table, "column": column},
            hint=_("canaries are customers of a new entrant: the source must know at least one"),
        )

    def _fresh_int(self, table: str, column: str, small: bool = False) -> int:
        key = (table, column)
        if key not in self.next_int:
            top = self.conn.execute(sa.select(sa.func.max(sa.column(column))).select_from(sa.table(table))).scalar()
            # far from the live sequence's next values; a SMALLINT (the slot of a natural key) just above them
            self.next_int[key] = int(top or 0) + (0 if small else 1_000_000)
        self.next_int[key] += 1
        return self.next_int[key]

    def _existing(self, table: str, column: str) -> Any:
        key = (table, column)
        if key not in self.existing:
            stmt: sa.Select = sa.select(sa.column(column)).select_from(sa.table(table))
            stmt = stmt.where(sa.column(column).is_not(None))
            self.existing[key] = self.conn.execute(stmt.limit(1)).scalar()
        return self.existing[key]

    def row(self, info: TableInfo, canary: Canary, planted: dict[str, dict[str, Any]]) -> dict[str, Any]:
        rule = self.mapping.table(info.name)
        kinds = {c.name: c.kind for c in rule.columns} if rule else {}
        own = rule.retail.column if rule and isinstance(rule.retail, Own) else None
        follow = rule.retail if rule and isinstance(rule.retail, Follow) and rule.retail.table in planted else None
        joins = dict(follow.on) if follow else {}
        fks = {fk.columns[0]: fk for fk in info.foreign_keys if len(fk.columns) == 1}
        today = date.today()
        row: dict[str, Any] = {}
        for col in info.columns:
            kind, fk = kinds.get(col.name), fks.get(col.name)
            if col.name == own:
                value: Any = self.other_code
            elif follow is not None and col.name in joins:  # the row must join its canary parent
                value = planted[follow.table][joins[col.name]]
            elif kind in canary.values:
                value = canary.values[kind]
            elif fk is not None and fk.ref_table in planted:
                value = planted[fk.ref_table][fk.ref_columns[0]]
            elif fk is not None:
                value = self._existing(fk.ref_table, fk.ref_columns[0])
            elif info.name == self.owner and self.period and col.name == self.period[0]:
                value = today - timedelta(days=30)
            elif info.name == self.owner and self.period and col.name == self.period[1]:
                value = None if col.nullable else today + timedelta(days=365)
            elif col.name in info.primary_key and col.is_integer:
                value = self._fresh_int(info.name, col.name, small=isinstance(col.type, sa.SmallInteger))
            elif col.name in info.primary_key and isinstance(col.type, sa.String):
                value = f"CN{canary.id}"  # other key columns (the day of a natural key) take their plain default
            elif col.nullable:
                value = None
            else:
                value = _plain_default(col.type, today)
            if isinstance(value, str) and getattr(col.type, "length", None):
                value = value[: col.type.length]
            if isinstance(value, str) and kind in VALUE_KINDS:
                canary.inserted.add((kind, value))  # the digest must be of what the store holds  # type: ignore[arg-type]
            row[col.name] = value
        return row


def _plain_default(ctype: Any, today: date) -> Any:
    if isinstance(ctype, sa.Boolean):
        return False
    if isinstance(ctype, sa.DateTime):
        return datetime.combine(today, datetime.min.time())
    if isinstance(ctype, sa.Date):
        return today
    if isinstance(ctype, sa.Integer):
        return 0
    if isinstance(ctype, sa.Numeric):
        return Decimal(0)
    if isinstance(ctype, sa.Float):
        return 0.0
    return "CANARY"


# ── plant, list, remove ─────────────────────────────────────────────────────────────────────


def plant(engine: sa.Engine, mapping: Mapping, schema: SourceSchema, count: int) -> list[Canary]:
    """Insert `count` canaries and their record in one transaction."""
    owner, own = ownership_table(mapping)
    tables = canary_tables(mapping, schema, owner)
    rng = random.Random(secrets.randbits(64))
    md = sa.MetaData()
    record = record_table(md)
    stamp = datetime.now().isoformat(timespec="seconds")
    canaries = []
    with engine.begin() as conn:
        md.create_all(conn, checkfirst=True)
        filler = _Filler(conn, mapping, schema, owner, own)
        for _i in range(count):
            token = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _i in range(6))
            canary = Canary(token, canary_values(token, rng))
            planted: dict[str, dict[str, Any]] = {}
            for name in tables:
                info = schema.tables[name]
                row = filler.row(info, canary, planted)
                target = sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in info.columns))
                conn.execute(target.insert(), [row])
                planted[name] = row
                canary.rows.append((name, {k: row[k] for k in info.primary_key} or row))
            blank: dict[str, Any] = {c.name: None for c in record.c if c.name != "entry_id"}
            blank |= {"canary_id": token, "planted_at": stamp}
            entries = [blank | {"entry": "row", "table_name": t, "row_key": _key_json(k)} for t, k in canary.rows]
            entries += [
                blank
                | {
                    "entry": "value",
                    "kind": kind,
                    "digest": canary_digest(value).hex(),
                    "length": len(searchable(value)),
                }
                for kind, value in sorted(canary.inserted)
            ]
            conn.execute(record.insert(), entries)
            canaries.append(canary)
    return canaries


def _key_json(key: dict[str, Any]) -> str:
    return json.dumps(key, default=str, ensure_ascii=False, sort_keys=True)


def recorded(engine: sa.Engine) -> list[dict[str, Any]]:
    """The record of planted canaries in this database (empty when none was ever planted)."""
    if CANARY_TABLE not in sa.inspect(engine).get_table_names():
        return []
    record = record_table(sa.MetaData())
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(record).order_by(record.c.entry_id))]


def remove(engine: sa.Engine, schema: SourceSchema) -> tuple[int, int]:
    """Delete every planted row (children first) and the record; returns (canaries, rows) removed."""
    entries = recorded(engine)
    rows = [e for e in entries if e["entry"] == "row"]
    md = sa.MetaData()
    record = record_table(md)
    deleted = 0
    with engine.begin() as conn:
        for e in reversed(rows):  # planted parents first, so removed children first
            info = schema.table(e["table_name"])
            if info is None:
                continue
            key = json.loads(e["row_key"])
            table = sa.Table(info.name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in info.columns))
            where = [table.c[k] == _typed(table.c[k].type, v) for k, v in key.items()]
            deleted += conn.execute(sa.delete(table).where(*where)).rowcount or 0
        if entries:
            record.drop(conn)
    return len({e["canary_id"] for e in entries}), deleted


def _typed(ctype: Any, value: Any) -> Any:
    """A key value back from JSON: dates were written as ISO text."""
    if value is None:
        return None
    if isinstance(ctype, sa.DateTime):
        return datetime.fromisoformat(value)
    if isinstance(ctype, sa.Date):
        return date.fromisoformat(value)
    if isinstance(ctype, sa.Numeric) and not isinstance(ctype, sa.Float | sa.Integer):
        return Decimal(str(value))
    return value


def plant_canaries(
    mapping_file: str | Path | None, source: str | None, nw: str | None, into: str, count: int
) -> CanaryResult:
    """`canary plant`: into the source only when told so, else into the NW store."""
    if not 1 <= count <= 1000:
        raise ConfigError(
            _("--count %(count)s: plant between 1 and 1000 canaries") % {"count": count},
            hint=_("a few per wave are enough"),
        )
    mapping = load_mapping(mapping_path(mapping_file))
    target = canary_target(into, source, nw)
    engine = engine_for(target.url, writer=True)
    canaries = plant(engine, mapping, reflect_source(engine), count)
    listed = [{"id": c.id, "values": dict(sorted(c.inserted)), "rows": [t for t, _ in c.rows]} for c in canaries]
    return CanaryResult(target.masked, into, listed, sum(len(c.rows) for c in canaries))


def remove_canaries(source: str | None, nw: str | None, into: str) -> CanaryResult:

    target = canary_target(into, source, nw)
    engine = engine_for(target.url, writer=True)
    canaries, rows = remove(engine, reflect_source(engine))
    return CanaryResult(target.masked, into, [{"removed": canaries}], rows)
