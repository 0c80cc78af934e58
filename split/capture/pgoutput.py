"""PostgreSQL's `pgoutput` logical decoding messages (protocol version 1), decoded into the keys they touch.

Only what the follow needs is kept: which table, which key, whether a whole table was truncated, and
where each transaction ends. Column values other than the key are not decoded: the follow re-reads the
touched rows from the source through the plan (`split.capture.follow`), so unchanged TOASTed values —
which pgoutput does not resend — and every type's text form never matter. Message layout:
https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from split.i18n import _

# integer types (int8, int2, int4): their text is read into Python's int here, exactly as the driver would
# type it, so such keys need no round trip to the source to be cast back (`Relation.typed`)
_INTEGERS = frozenset({20, 21, 23})


@dataclass(frozen=True)
class Relation:
    """A table as the decoding session describes it; `identity` are the replica identity's columns."""

    oid: int
    schema: str
    name: str
    columns: tuple[str, ...]
    identity: tuple[str, ...]
    positions: tuple[int, ...]  # where the identity's columns are in a row's tuple, in the identity's order
    typed: bool = False  # every identity column is an integer: its keys are decoded as ints, not text


@dataclass
class Transaction:
    """One committed source transaction's touched keys (as the type's text, or ints for a `typed` relation),
    by table name."""

    end_lsn: int  # of the commit record: the slot may advance past it once the transaction is applied
    keys: dict[str, set[tuple[str | int | None, ...]]] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    whole: set[str] = field(default_factory=set)  # changes without a usable key: re-read the whole table
    changes: int = 0


class Decoder:
    """Feed messages in slot order; `committed` collects the transactions whose commit was seen."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding  # the source database's: text values arrive in it
        self.relations: dict[int, Relation] = {}
        self.text_keyed: set[str] = set()  # tables any of whose relations was not `typed`: keys as text
        self.committed: list[Transaction] = []
        self._open: Transaction | None = None

    def feed(self, message: bytes) -> None:
        kind, body = message[:1], memoryview(message)[1:]
        if kind == b"B":
            self._open = Transaction(end_lsn=0)
        elif kind == b"C":
            _flags, _commit_lsn, end_lsn, _ts = struct.unpack_from("!bqqq", body)
            assert self._open is not None, "a commit without its begin"
            self._open.end_lsn = end_lsn
            self.committed.append(self._open)
            self._open = None
        elif kind == b"R":
            self._relation(body)
        elif kind in (b"I", b"U", b"D"):
            self._row_change(kind, body)
        elif kind == b"T":
            (count, _options), at = struct.unpack_from("!ib", body), 5
            for i in range(count):
                (oid,) = struct.unpack_from("!I", body, at + 4 * i)
                self._txn().truncated.add(self.relations[oid].name)
                self._txn().changes += 1
        # 'O' origin, 'Y' type, 'M' message: nothing to apply

    def _txn(self) -> Transaction:
        assert self._open is not None, "a change outside a transaction"
        return self._open

    def _relation(self, body: memoryview) -> None:
        (oid,) = struct.unpack_from("!I", body)
        at = 4
        schema, at = _string(body, at)
        name, at = _string(body, at)
        _identity_setting, ncols = struct.unpack_from("!bh", body, at)
        at += 3
        columns, identity, types = [], [], []
        for _i in range(ncols):
            flags = body[at]
            column, at = _string(body, at + 1)
            (type_oid,) = struct.unpack_from("!I", body, at)
            at += 8  # type oid, type modifier
            columns.append(column)
            if flags & 1:
                identity.append(column)
                types.append(type_oid)
        positions = tuple(columns.index(c) for c in identity)
        typed = bool(types) and all(t in _INTEGERS for t in types)
        self.relations[oid] = Relation(oid, schema, name, tuple(columns), tuple(identity), positions, typed)
        if not typed:
            self.text_keyed.add(name)

    def _row_change(self, kind: bytes, body: memoryview) -> None:
        (oid,) = struct.unpack_from("!I", body)
        relation, txn, at = self.relations[oid], self._txn(), 4
        txn.changes += 1
        if not relation.identity:
            txn.whole.add(relation.name)
            return
        keys = txn.keys.setdefault(relation.name, set())
        while at < len(body):
            marker = body[at]
            # K: the old key (a delete, or an update that changed the key); O: the whole old row (REPLICA
            # IDENTITY FULL); N: the new row. Each names a key whose rows the stores must match again.
            if marker not in _TUPLE_MARKERS:
                raise ValueError(
                    _("pgoutput: unexpected tuple marker %(marker)s in a %(kind)s message")
                    % {"marker": repr(bytes([marker])), "kind": kind.decode()}
                )
            # the new row ends an insert or an update, a delete holds one tuple: past its key nothing is read
            last = marker == _NEW or kind == b"D"
            text, at = _key_of(body, at + 1, relation.positions, self.encoding, to_end=not last)
            keys.add(tuple(None if v is None else int(v) for v in text) if relation.typed else text)
            if last:
                return


def _string(body: memoryview, at: int) -> tuple[str, int]:
    end = bytes(body[at:]).index(b"\0") + at
    return bytes(body[at:end]).decode("utf-8"), end + 1


_TUPLE_MARKERS = frozenset(b"KON")
_NEW = ord("N")
_NULL, _UNCHANGED, _TEXT, _BINARY = (ord(c) for c in "nutb")
_LENGTH = struct.Struct("!i")


def _key_of(
    body: memoryview, at: int, positions: tuple[int, ...], encoding: str, *, to_end: bool
) -> tuple[tuple[str | None, ...], int]:
    """The values at `positions` of a TupleData (each null, unchanged TOAST — left as None:
    never a key — or text), and where the tuple ends (`to_end`; else the columns after the key's last one are
    not looked at, and the position returned is where reading stopped). The other columns are stepped over,
    never decoded: a reading's key is one column of eight, and the follow re-reads the row from the source."""
    (ncols,) = struct.unpack_from("!h", body, at)
    at += 2
    if not to_end and positions:
        ncols = min(ncols, max(positions) + 1)
    values: dict[int, str | None] = {}
    for i in range(ncols):
        kind = body[at]
        at += 1
        if kind in (_TEXT, _BINARY):
            (length,) = _LENGTH.unpack_from(body, at)
            if i in positions:
                values[i] = bytes(body[at + 4 : at + 4 + length]).decode(encoding)
            at += 4 + length
        elif kind not in (_NULL, _UNCHANGED):
            raise ValueError(_("pgoutput: unexpected column kind %(kind)s") % {"kind": repr(bytes([kind]))})
    return tuple(values.get(i) for i in positions), at
