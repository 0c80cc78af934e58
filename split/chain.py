"""The evidence chain: every journal and ledger row bunkatsu writes is also appended to a hash chain in the
same store and the same transaction (README "Evidence"), so that an edited, deleted, inserted or reordered row
is detected by `verify` (`evidence.chain`) and by `evidence check`.

Each record holds the row as the store returned it after the write (canonical JSON: what is hashed is what a
reader will read back, whatever the engine did to a time or a number), the hash of the record before it, and
its own hash over both. Records are numbered 0, 1, 2 …; record 0 (genesis) is written by the first append and
adopts, in key order, the rows a store held before it had a chain (an upgraded store).

Appends are serialised per store by a row lock on the genesis record, taken as the last statement before the
writer's commit (SQLite: the writer already holds the database's write lock): two partitions finishing at once
cannot both extend the same head. A chain proves that nothing was changed after it was written; someone who
can write the store could still rebuild all of it, which is why its head is recorded elsewhere too (every gate
report, every evidence pack).

A column that may hold a customer's key (the NW ledger's range bounds: a quantile of supply point ids) is
chained as a keyed hash (HMAC-SHA256 under a random salt kept in the genesis record, never exported): the chain's
records and an evidence pack hold no protected value, and an edit of such a column is still found in the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from split.i18n import _

CHAIN_TABLE = "bunkatsu_evidence"
GENESIS = "0" * 64

# Part of each store's derived schema (split/schema/derive.py), like the journal and ledger.
chain = sa.Table(
    CHAIN_TABLE,
    sa.MetaData(),
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("table_name", sa.String(64), nullable=False),
    sa.Column("action", sa.String(8), nullable=False),  # genesis | adopt | write | delete
    sa.Column("row_key", sa.Text, nullable=False),  # the row's primary key, JSON
    sa.Column("row_json", sa.Text),  # the row as read back, canonical JSON; NULL when deleted
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("salt", sa.String(64)),  # genesis only: keys the hidden columns' hashes; not hashed, never exported
)

# The tables whose rows are chained, by name, and their hidden columns: registered by their modules.
CHAINED: dict[str, sa.Table] = {}
HIDDEN: dict[str, frozenset[str]] = {}


def chained(table: sa.Table, hidden: Iterable[str] = ()) -> sa.Table:
    CHAINED[table.name] = table
    HIDDEN[table.name] = frozenset(hidden)
    return table


def record(conn: sa.Connection, table: sa.Table, key: Mapping[str, Any]) -> None:
    """Append the row of `table` with primary key `key`, as it now reads in this transaction (or its deletion),
    to the chain. Called after the write, inside the writer's transaction, just before its commit."""
    where = [c == key[c.name] for c in table.primary_key.columns]
    row = conn.execute(sa.select(table).where(*where)).mappings().first()
    written = _key_of(table, row if row is not None else key)  # the key as read back, as `examine` reads it
    seq, prev, salt = _lock_head(conn, (table.name, written))
    if row is None:
        _append(conn, seq + 1, prev, table.name, "delete", written, None)
    else:
        _append(conn, seq + 1, prev, table.name, "write", written, chained_form(table.name, row, salt))


@dataclass
class Examination:
    """What one store's chain says: its length and head, and the first defect found (None: intact)."""

    records: int = 0
    head: str = GENESIS
    defect: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # rows checked against the chain, per table

    def to_dict(self) -> dict:
        return {"records": self.records, "head": self.head, "defect": self.defect, "rows": self.rows}


def has_chain(conn: sa.Connection) -> bool:
    return sa.inspect(conn).has_table(CHAIN_TABLE)


def examine(conn: sa.Connection) -> Examination:
    """The store's chain and its journal and ledger rows, as `walk` finds them."""
    records, rows = records_and_rows(conn)
    return walk(records, rows)


def records_and_rows(conn: sa.Connection) -> tuple[list[dict], dict[str, list[str]]]:
    """The chain's records (without the salt) and each chained table's rows in their chained form (hidden
    columns hashed): what `walk` compares, and what an evidence pack holds."""
    records = [dict(r) for r in conn.execute(sa.select(chain).order_by(chain.c.seq)).mappings()]
    salt = records[0].get("salt") if records else None
    for r in records:
        r.pop("salt", None)
    inspector = sa.inspect(conn)
    rows = {
        name: sorted(chained_form(name, row, salt) for row in _rows(conn, table)) if inspector.has_table(name) else []
        for name, table in CHAINED.items()
    }
    return records, rows


def walk(records: Iterable[Mapping[Any, Any]], rows: Mapping[str, Iterable[str]]) -> Examination:
    """Walk the chain from genesis (each record's number, link and hash), then compare each chained table's
    rows (chained form) with the last record of each key: a row the chain does not hold, one it holds
    differently and one it holds but the table lost are each a defect, named by table, key and record.
    Records that do not read as bunkatsu writes them (a chain table retyped or filled by hand, a pack's
    JSON reshaped) are a defect too, never a crash; no value is shown."""
    try:
        return _walk(records, rows)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        said = _("the chain does not read as bunkatsu writes it (%(error)s): it was altered")
        return Examination(defect=said % {"error": type(exc).__name__})


def _walk(records: Iterable[Mapping[Any, Any]], rows: Mapping[str, Iterable[str]]) -> Examination:
    found = Examination()
    state: dict[tuple[str, str], str | None] = {}
    for r in records:
        if r["seq"] != found.records:
            found.defect = _("record %(n)s of the chain is missing (the next one is %(next)s)") % {
                "n": found.records,
                "next": r["seq"],
            }
            return found
        if r["prev_hash"] != found.head:
            said = _("record %(n)s does not follow record %(before)s (a record was replaced or moved)")
            found.defect = said % {"n": r["seq"], "before": r["seq"] - 1}
            return found
        if r["hash"] != _hash(r["seq"], r["prev_hash"], r["table_name"], r["action"], r["row_key"], r["row_json"]):
            found.defect = _("record %(n)s was changed after it was written") % {"n": r["seq"]}
            return found
        found.records, found.head = found.records + 1, r["hash"]
        if r["action"] != "genesis":
            state[(r["table_name"], r["row_key"])] = r["row_json"]
    for name, table in sorted(CHAINED.items()):
        held = {_key_of(table, json.loads(row)): row for row in rows.get(name, [])}
        found.rows[name] = len(held)
        defect = _first_difference(name, held, {k: v for (t, k), v in state.items() if t == name})
        if defect:
            found.defect = defect
            return found
    return found


def _first_difference(name: str, rows: dict[str, str], chained_rows: dict[str, str | None]) -> str | None:
    for key in sorted(rows.keys() | chained_rows.keys()):
        held, recorded = rows.get(key), chained_rows.get(key)
        if held == recorded:
            continue
        if key not in chained_rows:
            said = _("%(table)s row %(key)s is not in the chain (written by something other than bunkatsu)")
        elif held is None:
            said = _("%(table)s row %(key)s was deleted after bunkatsu wrote it")
        elif recorded is None:
            said = _("%(table)s row %(key)s was deleted by bunkatsu but is back")
        else:
            said = _("%(table)s row %(key)s was changed after bunkatsu wrote it")
        return said % {"table": name, "key": key}
    return None


def chained_form(table: str, row: Mapping[Any, Any], salt: str | None) -> str:
    """The row as chained: JSON with sorted keys, times and numbers spelled one way, each hidden column that
    holds a value replaced by its keyed hash."""
    hidden = HIDDEN.get(table, frozenset())
    plain = {str(k): _plain(v) for k, v in row.items()}
    key = _salt_bytes(salt)
    for name in hidden & plain.keys():
        if plain[name] is not None:
            value = json.dumps(plain[name], ensure_ascii=False).encode("utf-8")
            plain[name] = "hmac:" + hmac.new(key, value, hashlib.sha256).hexdigest()
    return canonical_json(plain)


def _salt_bytes(salt: object) -> bytes:
    """The genesis record's salt; one a store no longer holds as written (edited, retyped) keys nothing, and
    every hidden column then reads as changed — found, never a crash."""
    if isinstance(salt, str) and len(salt) == 64:
        try:
            return bytes.fromhex(salt)
        except ValueError:
            pass
    return b""


def canonical_json(row: Mapping[str, Any]) -> str:
    """A row already in plain values (as chained, or as a pack holds it) spelled the one way it is hashed; a
    value of a type bunkatsu never writes (a column retyped by hand) by its text, so it differs, and is found."""
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _hash(seq: int, prev: str, table: str, action: str, key: str, row: str | None) -> str:
    payload = json.dumps([seq, prev, table, action, key, row], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _append(conn: sa.Connection, seq: int, prev: str, table: str, action: str, key: str, row: str | None) -> str:
    digest = _hash(seq, prev, table, action, key, row)
    values = {"seq": seq, "table_name": table, "action": action, "row_key": key, "row_json": row}
    conn.execute(chain.insert().values(**values, prev_hash=prev, hash=digest))
    return digest


def _key_of(table: sa.Table, row: Mapping[Any, Any]) -> str:
    return json.dumps([_plain(row[c.name]) for c in table.primary_key.columns], ensure_ascii=False)


def _rows(conn: sa.Connection, table: sa.Table) -> Iterable[Mapping[Any, Any]]:
    return conn.execute(sa.select(table)).mappings()


def _lock_head(conn: sa.Connection, writing: tuple[str, str]) -> tuple[int, str, str]:
    """Lock the chain for this transaction and return its last record (number, hash), beginning the chain
    first if the store has none. The lock is the genesis record's row lock (held until commit); on a READ
    COMMITTED writer (bunkatsu's on PostgreSQL and MariaDB) the read after it sees every earlier append."""
    genesis = sa.select(chain.c.salt).where(chain.c.seq == 0)
    if conn.dialect.name != "sqlite":
        genesis = genesis.with_for_update()
    salt = conn.execute(genesis).scalar()
    if salt is None:
        if _insert_genesis(conn):
            _adopt(conn, writing)
        salt = conn.execute(genesis).scalar_one()
    newest = sa.select(chain.c.seq, chain.c.hash).order_by(chain.c.seq.desc()).limit(1)
    if conn.dialect.name != "sqlite":  # a locking read sees the latest commit under any isolation level
        newest = newest.with_for_update()
    last = conn.execute(newest).one()
    return int(last.seq), str(last.hash), str(salt)


def _insert_genesis(conn: sa.Connection) -> bool:
    """Insert record 0 unless another writer just did (it then waits for that writer's commit); whether we did."""
    values = {"seq": 0, "table_name": "", "action": "genesis", "row_key": "[]", "row_json": None}
    values |= {"prev_hash": GENESIS, "hash": _hash(0, GENESIS, "", "genesis", "[]", None)}
    values["salt"] = secrets.token_hex(32)
    stmt: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        done = pg_insert(chain).values(**values).on_conflict_do_nothing().returning(chain.c.seq)
        return conn.execute(done).first() is not None  # its rowcount says -1 here
    if conn.dialect.name in ("mysql", "mariadb"):
        stmt = chain.insert().values(**values).prefix_with("IGNORE")
    else:
        stmt = chain.insert().values(**values).prefix_with("OR IGNORE")
    return conn.execute(stmt).rowcount == 1


def _adopt(conn: sa.Connection, writing: tuple[str, str]) -> None:
    """A store that held journal or ledger rows before it had a chain: they begin it, in table and key order
    (but the row being written now, which the chain records next)."""
    seq, prev = 0, _hash(0, GENESIS, "", "genesis", "[]", None)
    salt = conn.execute(sa.select(chain.c.salt).where(chain.c.seq == 0)).scalar_one()
    inspector = sa.inspect(conn)
    for name, table in sorted(CHAINED.items()):
        if not inspector.has_table(name):
            continue
        rows = sorted((_key_of(table, row), chained_form(name, row, salt)) for row in _rows(conn, table))
        rows = [(key, row) for key, row in rows if (name, key) != writing]
        for key, row in rows:
            seq += 1
            prev = _append(conn, seq, prev, name, "adopt", key, row)
