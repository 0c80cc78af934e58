"""retail.fingerprint, retail.patterns, retail.temporal_scope: cross-store scans, partitioned with Dask.

Protected values are the identifying values (by `kind`) of source rows the retail store must not have,
minus values that retail legitimately holds from in-scope rows. They are kept only as keyed 8-byte
digests of their normalised form, and every string in the retail store is looked up — whole, and in
free text also every substring of a protected length — so `０９０－１２３４－５６７８` inside a memo is
found as `090-1234-5678`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from checks.context import VerifyContext, keyed_hash
from checks.kinds import inferred_kinds
from checks.results import CheckResult, could_not_prove, failed, passed
from split.db import describe_db_error, engine_for
from split.i18n import _
from split.mapping.model import IDENTIFYING_KINDS, Destination, Follow, NoRows
from split.normalize import searchable
from split.plan import TablePlan, sql_condition
from split.ranges import WHOLE, Partition, in_range, ordered
from split.scope import source_table

IDENTIFYING = set(IDENTIFYING_KINDS)
WINDOW_KINDS = {"free_text", "address", None}  # text that may embed other values
MIN_LENGTH = 3
PATTERNS = re.compile(  # in normalised text: digits without separators, lower case
    r"0\d{9,10}|\d{22}|[a-z0-9._%+]+@[a-z0-9.]+\.[a-z]{2,}|\d{7}"
)
SAMPLES = 5


@dataclass
class Protected:
    digests: dict[bytes, str] = field(default_factory=dict)  # digest → kind
    lengths: set[int] = field(default_factory=set)
    key: bytes = b""
    # Values retail legitimately holds (identifying values of in-scope rows, in columns that reach retail).
    # A retail value equal to one of them is not looked into: "中之島5丁目2-15 グランドパレス704号室" of an
    # in-scope customer contains "中之島5丁目2-15" of an out-of-scope one and leaks nothing.
    allowed: set[bytes] = field(default_factory=set)
    allowed_lengths: set[int] = field(default_factory=set)

    def digest(self, text: str) -> bytes:
        # a copy of the keyed state is cheaper than keying anew, and free text costs one digest per window
        hasher = _keyed_base(self.key[:64]).copy()
        hasher.update(text.encode())
        return hasher.digest()


@functools.lru_cache(maxsize=8)
def _keyed_base(key: bytes) -> Any:
    return hashlib.blake2b(key=key, digest_size=8)


def protected_values(ctx: VerifyContext) -> Protected:
    """Out-of-scope values minus the values retail legitimately holds. Every source query is linear without an
    index on the source: the scope is only ever a WHERE clause (a semi-join, as in `copy`), never a per-row
    CASE in the select list, which PostgreSQL runs as a subplan per row (quadratic on an unindexed source).
    That the two reads give the same sets as one read with a per-row flag: a value of a column that reaches
    retail is protected iff it appears in an out-of-scope row and in no in-scope row, which is "all rows
    minus the in-scope rows"; every other protected column is protected in every row."""
    out_of_scope: dict[str, str] = {}
    allowed: set[str] = set()
    engine = engine_for(ctx.source_url)
    quote = engine.dialect.identifier_preparer.quote  # a table or column may be named like a reserved word
    norm = functools.lru_cache(maxsize=1 << 16)(searchable)  # ids repeat once per reading, month, memo
    with engine.connect() as conn:

        def read(table: str, names: list[str], predicate: str = "") -> Iterator[Sequence[Any]]:
            """The distinct combinations of these columns' values (a supply point id comes once, not once per
            reading), distinct in binary order: a case- or accent-insensitive collation would merge two values
            that normalise apart, and one of them would go unprotected."""
            where = [sql_condition(predicate)] if predicate else []
            info = ctx.schema.tables[table]
            columns = [
                ordered(sa.literal_column(quote(n)), _plain_text(info.column(n).type))  # type: ignore[union-attr]
                for n in names
            ]
            return conn.execution_options(stream_results=True).execute(
                sa.select(*columns).select_from(sa.table(table)).where(*where).distinct()
            )

        for table, columns in protected_columns(ctx).items():
            table_plan = ctx.plan.table(table)
            retail = table_plan.store("retail") if table_plan else None
            plain = {c.name for c in retail.columns if c.transform == "copy"} if retail else set()
            reaching = [n for n in columns if n in plain]
            if reaching and retail is not None:
                for row in read(table, reaching, retail.predicate_sql):
                    allowed.update(norm(v) for v in row if v is not None)
            for row in read(table, list(columns)):
                for kind, value in zip(columns.values(), row, strict=True):
                    if value is not None and _protectable(text := norm(value), kind, value):
                        out_of_scope.setdefault(text, kind)
    protected = Protected(key=ctx.report_key)
    protected.allowed = {protected.digest(text) for text in allowed}
    protected.allowed_lengths = {len(text) for text in allowed}
    for text, kind in out_of_scope.items():
        if text not in allowed:
            protected.digests[protected.digest(text)] = kind
            protected.lengths.add(len(text))
    return protected


def protected_columns(ctx: VerifyContext) -> dict[str, dict[str, str]]:
    """Per table, the columns whose out-of-scope values are protected, and their kind: the identifying kinds the
    mapping declares, every `encode` column (retail only ever holds its token, so its plaintext is protected in
    every row, in scope or not), and the kinds the mapping forgot (mapping.kinds)."""
    columns: dict[str, dict[str, str]] = defaultdict(dict)
    for rule in ctx.mapping.tables:
        for c in rule.columns:
            if c.kind in IDENTIFYING or c.to == Destination.ENCODE:
                columns[rule.name][c.name] = c.kind or "encoded"
    for f in inferred_kinds(ctx):
        columns[f.table][f.column] = f.kind
    return columns


NAME_KINDS = ("name", "name_kana")


def _protectable(text: str, kind: str | None, raw: object) -> bool:
    """Long enough to be evidence on its own. A full name is, however short: 林 誠 is family and given name
    (two parts in the source), while a lone two-character value would match everywhere."""
    if len(text) >= MIN_LENGTH:
        return True
    return kind in NAME_KINDS and len(text) == 2 and len(str(raw).split()) == 2


@dataclass(frozen=True)
class ScanTask:
    url: str
    table: str
    key: tuple[str, ...]  # the partition key; () = one partition
    partition: Partition
    kinds: dict[str, str | None]  # column → kind (None: unknown text)
    numbers: bool = False  # also look up whole numbers (a table the plan does not know: an extract)
    # the table's columns and types, reflected once for every range (reflecting a PostgreSQL table costs
    # ~0.1 s: per range, it was most of the scan); () = reflect here
    columns: tuple[tuple[str, Any], ...] = ()

    def relation(self, engine: sa.Engine) -> Any:
        if not self.columns:
            return sa.Table(self.table, sa.MetaData(), autoload_with=engine)
        return sa.table(self.table, *(sa.column(name, ctype) for name, ctype in self.columns))


def reflected_columns(engine: sa.Engine) -> dict[str, tuple[tuple[str, Any], ...]]:
    """Every table's columns and types in the store's default schema, in one round of catalog queries."""
    return {
        table: tuple((c["name"], c["type"]) for c in columns)
        for (_, table), columns in sa.inspect(engine).get_multi_columns().items()
    }


@dataclass
class ScanHits:
    table: str
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # column → rows with a hit
    kinds: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    pattern_rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    scanned: int = 0

    def add(self, column: str, digests: set[bytes], protected: Protected, rows: int = 1) -> None:
        self.rows[column] += rows
        for digest in digests:
            self.kinds[column].add(protected.digests[digest])
            if len(self.samples[column]) < SAMPLES:
                self.samples[column].append(digest.hex())


def scan(task: ScanTask, sets: tuple[Protected, ...]) -> list[ScanHits]:
    """One read of a key range, looked up against each protected set (hits per set, in order). Patterns are
    looked for with the first set only: the fingerprint's.

    Each distinct value of a column is normalised and looked up once per key range, and rows are counted
    only for a value that hits — rare. On PostgreSQL the server gives the distinct text values of the range
    with their row counts (`_grouped_text`), so a supply point id repeated once per reading crosses the
    wire once; everything else is read row by row, in batches whose distinct values a set gathers."""
    hits = [ScanHits(task.table) for _ in sets]
    engine = engine_for(task.url)
    table = task.relation(engine)
    # SQLite's declared types are only affinities: an INTEGER or DATE column holds any text the retail side
    # writes there. So on SQLite every column is read, raw (no conversion), and only strings are looked up.
    affinity_only = engine.dialect.name == "sqlite"
    texts = [c for c in table.c if affinity_only or _may_hold_text(c.type) or (task.numbers and _whole_number(c.type))]
    lookups = {c.name: _ColumnLookup(sets, _mode(task.kinds.get(c.name)), task.numbers) for c in texts}
    grouped = [c for c in texts if engine.dialect.name == "postgresql" and _plain_text(c.type)][:GROUPING_MAX]
    rows = [c for c in texts if c.name not in {g.name for g in grouped}]
    scanned = 0
    with engine.connect() as conn:
        if grouped:
            scanned = _grouped_text(conn, table, grouped, task, lookups, hits)
        if rows or not grouped:
            selected = [sa.type_coerce(c, sa.String).label(c.name) if affinity_only else c for c in rows]
            stmt = sa.select(*selected) if selected else sa.select(sa.literal(1))
            stmt = _in_range(stmt.select_from(table), table, task.key, task.partition)
            result = conn.execution_options(stream_results=True, yield_per=SCAN_BATCH).execute(stmt)
            scanned = 0
            for batch in result.partitions():
                scanned += len(batch)
                for column, values in zip(rows, zip(*batch, strict=True), strict=False):  # none: nothing to look up
                    lookups[column.name].count(column.name, values, hits)
    for h in hits:
        h.scanned = scanned
    return hits


def _plain_text(ctype: Any) -> bool:
    """A character type PostgreSQL can group in the "C" collation (an enum cannot take a collation)."""
    return isinstance(ctype, sa.String) and not isinstance(ctype, sa.Enum)


def _grouped_text(
    conn: sa.Connection,
    table: sa.Table,
    columns: list[sa.Column[Any]],
    task: ScanTask,
    lookups: dict[str, _ColumnLookup],
    hits: list[ScanHits],
) -> int:
    """PostgreSQL: each text column's distinct values in the range with their row counts, in one pass
    (`GROUPING SETS`), and the range's row count. Distinct in the "C" collation, whatever the column's: the
    retail side may declare a nondeterministic collation under which two different values (digits told
    equal by a tailoring rule) would group as one and the other would never be looked at."""
    binary = [ordered(c, True).label(c.name) for c in columns]
    sets = sa.func.grouping_sets(*(ordered(c, True) for c in columns), sa.text("()"))
    stmt = sa.select(*binary, sa.func.grouping(*(ordered(c, True) for c in columns)).label("bk_set"), sa.func.count())
    stmt = _in_range(stmt.select_from(table), table, task.key, task.partition).group_by(sets)
    everything = (1 << len(columns)) - 1  # GROUPING(): a bit set for each column not in the row's grouping set
    scanned = 0
    result = conn.execution_options(stream_results=True, yield_per=SCAN_BATCH).execute(stmt)
    for batch in result.partitions():  # a batch at a time: free text is as many groups as rows
        per_column: list[tuple[list[Any], list[int]]] = [([], []) for _ in columns]
        for row in batch:
            mask, rows = row[-2], int(row[-1])
            if mask == everything:
                scanned = rows
                continue
            i = len(columns) - (everything ^ mask).bit_length()
            per_column[i][0].append(row[i])
            per_column[i][1].append(rows)
        for column, (values, counts) in zip(columns, per_column, strict=True):
            lookups[column.name].count(column.name, values, hits, counts)
    return scanned


SCAN_BATCH = 10_000
GROUPING_MAX = 31  # PostgreSQL's GROUPING() takes at most 31 columns (an integer's bits)
SEEN_LIMIT = 200_000  # distinct values remembered per column and key range: bounds memory on free text
Lookup = tuple[tuple[set[bytes], ...], bool]  # per protected set the digests found; whether a pattern matched
_NO_TEXT = frozenset({int, float, Decimal, bool, date, datetime, time, timedelta})  # as_text gives None
_STRUCTURED = object()  # marks JSON and arrays read as their text: looked into as free text, whatever the column


class _ColumnLookup:
    """The values of one column of one key range already looked up, and which of them hit (rarely any)."""

    def __init__(self, sets: tuple[Protected, ...], mode: str, numbers: bool) -> None:
        self.sets, self.mode, self.numbers = sets, mode, numbers
        self.lengths = [sorted(p.lengths) for p in sets]
        self.seen: set[Any] = set()  # every value looked up in this range
        self.hitting: dict[Any, Lookup] = {}  # those found in a set, or holding a pattern

    def count(
        self, column: str, values: Sequence[Any], hits: list[ScanHits], rows: Sequence[int] | None = None
    ) -> None:
        """Look up the values not seen before; count the rows of those that hit (`rows`: each value's row count,
        when the values are distinct already, else one row each)."""
        try:
            distinct = set(values)
        except TypeError:  # JSON objects and arrays are not hashable: by their text
            values = [v if _hashable(v) else (_STRUCTURED, as_text(v)) for v in values]
            distinct = set(values)
        distinct.discard(None)
        if len(self.seen) + len(distinct) > SEEN_LIMIT:
            self.seen.clear()
            self.hitting.clear()
        for value in distinct - self.seen:
            if type(value) in _NO_TEXT and not self.numbers:  # SQLite hands numbers and dates back as such
                continue
            self.seen.add(value)
            if (lookup := self._classify(value)) is not None:
                self.hitting[value] = lookup
        if distinct.isdisjoint(self.hitting):
            return
        for i, value in enumerate(values):  # a hit: count its rows
            if (lookup := self.hitting.get(value)) is None:
                continue
            n = rows[i] if rows is not None else 1
            digests_per_set, pattern = lookup
            for h, p, digests in zip(hits, self.sets, digests_per_set, strict=True):
                if digests:
                    h.add(column, digests, p, n)
            if pattern:
                hits[0].pattern_rows[column] += n

    def _classify(self, raw: Any) -> Lookup | None:
        mode = self.mode
        value: str | None
        if isinstance(raw, str):
            value = raw
        elif isinstance(raw, tuple) and raw and raw[0] is _STRUCTURED:
            value, mode = raw[1], "free_text"
        elif self.numbers and (digits := _digits(raw)):
            value, mode = digits, "number"
        else:
            value, mode = as_text(raw), "free_text"  # bytes, UUID, XML: text with structure
        if not value:
            return None
        found, pattern = _looked_up(self.sets, mode, value, self.lengths)
        return (found, pattern) if pattern or any(found) else None


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _looked_up(sets: tuple[Protected, ...], mode: str, value: str, lengths: list[list[int]]) -> Lookup:
    text = searchable(value)
    if mode == "number":  # a number lost its leading zero: 090-1234-5678 stored as 9012345678
        found = tuple(_lookup(p, text, []) | _lookup(p, "0" + text, []) for p in sets)
    else:
        found = tuple(
            set() if p.digest(text) in p.allowed else _lookup(p, text, n if mode != "whole" else [])
            for p, n in zip(sets, lengths, strict=True)
        )
    first = sets[0]
    pattern = (
        mode == "free_text"
        and first.digest(text) not in first.allowed
        and any(first.digest(m) in first.digests for m in PATTERNS.findall(text))
    )
    return found, pattern


def _mode(kind: str | None) -> str:
    """whole: the value is looked up as a whole; window: also every substring; free_text: and patterns.
    (number: a whole number in an unplanned table, looked up with and without a leading zero.)"""
    if kind == "free_text":
        return "free_text"
    return "window" if kind in WINDOW_KINDS else "whole"


NOT_TEXT = (sa.Integer, sa.Numeric, sa.Float, sa.Boolean, sa.Date, sa.DateTime, sa.Time, sa.Interval)
ENCODINGS = ("utf-8", "cp932", "euc_jp")  # Japanese systems' own: a BLOB of Shift_JIS text is text


def _whole_number(ctype: Any) -> bool:
    return isinstance(ctype, (sa.Integer, sa.Numeric))  # Float too: a DOUBLE holds a phone exactly


def _digits(value: object) -> str | None:
    """A whole number as the digits an identifier would be written with (a phone, a 22-digit id in NUMERIC,
    a phone in a DOUBLE column)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        return None
    if isinstance(value, float) and not value.is_integer():  # also NaN and infinities
        return None
    if isinstance(value, Decimal) and (not value.is_finite() or value != value.to_integral_value()):
        return None
    digits = format(abs(int(value)), "d")
    return digits if len(digits) >= MIN_LENGTH else None


def _may_hold_text(ctype: Any) -> bool:
    """Every column but numbers, dates and booleans: strings, JSON, arrays, XML, binary, and any type not
    known (fail closed: scan what is not known to be unable to hold a name)."""
    return not isinstance(ctype, NOT_TEXT)


def as_text(value: object) -> str | None:
    """The text a value can carry: a string itself; JSON and arrays as their keys and values, one per line;
    bytes in every encoding they decode in strictly; other objects (UUID, XML) as `str()`."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (int, float, Decimal, bool, date, time, timedelta)):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        decoded = []
        for encoding in ENCODINGS:
            try:
                decoded.append(bytes(value).decode(encoding))
            except UnicodeDecodeError:
                continue
        return "\n".join(dict.fromkeys(decoded)) or None
    if isinstance(value, (dict, list, tuple)):
        return "\n".join(_leaves(value)) or None
    return str(value)


def _leaves(value: object) -> list[str]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in (str(k), *_leaves(v))]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    text = as_text(value)
    return [text] if text else []


def _lookup(protected: Protected, text: str, lengths: list[int]) -> set[bytes]:
    """The protected digests `text` holds: whole, and as every window of the given lengths (the hot loop of
    free text: one keyed digest per window, from the text's UTF-8 encoded once)."""
    found = set()
    digests = protected.digests
    whole = protected.digest(text)
    if whole in digests:
        found.add(whole)
    if not lengths or lengths[0] >= len(text):
        return found
    cuts = _cuts_a_run(text)
    data = text.encode()
    offsets = [0, *itertools.accumulate(len(c.encode()) for c in text)] if len(data) != len(text) else None
    base = _keyed_base(protected.key[:64])
    for n in lengths:
        if n >= len(text):
            break
        for i in range(len(text) - n + 1):
            if cuts[i] or cuts[i + n]:
                continue
            hasher = base.copy()
            hasher.update(data[offsets[i] : offsets[i + n]] if offsets else data[i : i + n])
            d = hasher.digest()
            if d in digests and not _inside_allowed(protected, text, i, i + n):
                found.add(d)
    return found


def _inside_allowed(protected: Protected, text: str, start: int, end: int) -> bool:
    """Whether this occurrence lies inside a longer value retail legitimately holds: 林一郎 (out of scope) in
    小林一郎様 (in scope), an out-of-scope street inside an in-scope customer's full address. Such text names
    the allowed value and leaks nothing; another occurrence of the protected value elsewhere still counts.
    Only run on a hit, which is rare."""
    for m in protected.allowed_lengths:
        if m <= end - start or m > len(text):
            continue
        for j in range(max(0, end - m), min(start, len(text) - m) + 1):
            if protected.digest(text[j : j + m]) in protected.allowed:
                return True
    return False


_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")  # text is normalised: case-folded, NFKC


def _cuts_a_run(text: str) -> list[bool]:
    """For each position 0…len(text), whether a window starting or ending there cuts through a run of digits
    or of Latin letters, and so is part of another token: postal code 5421537 is not inside pole number
    k854215370, nor lot 2-1 inside lot 2-15. Kanji and kana runs have no word boundaries (山田太郎様), so
    windows in them always count."""
    classes = [1 if c in _DIGITS else 2 if c in _LETTERS else 0 for c in text]
    return [False, *(a == b != 0 for a, b in zip(classes, classes[1:], strict=False)), False]


def scan_retail(ctx: VerifyContext, sets: tuple[Protected, ...], name: str) -> list[dict[str, ScanHits]]:
    """Every table of the retail store, planned ones by key range, read once and looked up against each
    protected set; per set, the hits per table."""
    tasks = []
    url = ctx.stores["retail"]
    columns = reflected_columns(engine_for(url))
    present = set(columns)
    for table_plan, _store_plan in ctx.retail_tables():
        if table_plan.name in present:
            kinds, cols = _kinds(ctx, table_plan.name), columns[table_plan.name]
            tasks += [
                ScanTask(url, table_plan.name, table_plan.key, part, kinds, columns=cols)
                for part in table_plan.partitions
            ]
    for table in _unplanned_tables(ctx, present):
        tasks.append(ScanTask(url, table, (), WHOLE, _kinds(ctx, table), numbers=True, columns=columns[table]))
    per_task = ctx.run(scan, tasks, name=name, shared=sets)
    return [_merged([hits[i] for hits in per_task]) for i in range(len(sets))]


def _kinds(ctx: VerifyContext, table: str) -> dict[str, str | None]:
    """The mapping's kinds of a retail table's columns. From the whole mapping: after the split a retail-only
    table (`nw: none`) is not in the NW-based plan, and its free text is still free text (patterns too)."""
    rule = ctx.prep.full_mapping.table(table)
    return {c.name: c.kind for c in rule.columns} if rule else {}


def _merged(hits: list[ScanHits]) -> dict[str, ScanHits]:
    merged: dict[str, ScanHits] = {}
    for h in hits:
        m = merged.setdefault(h.table, ScanHits(h.table))
        m.scanned += h.scanned
        for col, n in h.rows.items():
            m.rows[col] += n
            m.kinds[col] |= h.kinds[col]
            m.samples[col] = (m.samples[col] + h.samples[col])[:SAMPLES]
        for col, n in h.pattern_rows.items():
            m.pattern_rows[col] += n
    return merged


def scan_failure(exc: Exception) -> str:
    """Why a value scan could not run, for a "could not prove" result."""
    return (
        describe_db_error(exc)
        if isinstance(exc, sa.exc.SQLAlchemyError)
        else _("column %(column)s is missing") % {"column": exc}
    )


def fingerprint_and_patterns(ctx: VerifyContext) -> list[CheckResult]:
    """The fingerprint and patterns alone (verify runs them in one read with the canaries: checks.leaks)."""
    try:
        protected = protected_values(ctx)
        [merged] = scan_retail(ctx, (protected,), "fingerprint")
    except (sa.exc.SQLAlchemyError, KeyError) as exc:
        return [could_not_prove("retail.fingerprint", "retail", None, scan_failure(exc))]
    return fingerprint_results(protected, merged)


def fingerprint_results(protected: Protected, merged: dict[str, ScanHits]) -> list[CheckResult]:
    results = []
    for table, h in merged.items():
        for col, n in sorted(h.rows.items()):
            kind_list = ", ".join(sorted(k for k in h.kinds[col] if k)) or "identifying"
            results.append(
                failed(
                    "retail.fingerprint",
                    "retail",
                    table,
                    column=col,
                    observed=n,
                    expected=0,
                    message=_("%(n)s row(s) hold value(s) of out-of-scope rows (%(kinds)s)")
                    % {"n": n, "kinds": kind_list},
                    samples=tuple(h.samples[col]),
                )
            )
        for col, n in sorted(h.pattern_rows.items()):
            results.append(
                failed(
                    "retail.patterns",
                    "retail",
                    table,
                    column=col,
                    observed=n,
                    expected=0,
                    message=_(
                        "%(n)s free-text value(s) hold phone numbers, ids, e-mails or postal codes of out-of-scope "
                        "customers"
                    )
                    % {"n": n},
                )
            )
        if not h.rows:
            results.append(
                passed(
                    "retail.fingerprint",
                    "retail",
                    table,
                    observed=h.scanned,
                    message=_("%(rows)s row(s) scanned against %(values)s protected value(s)")
                    % {"rows": h.scanned, "values": len(protected.digests)},
                )
            )
    if not any(r.id == "retail.patterns" for r in results):
        results.append(
            passed("retail.patterns", "retail", observed=0, expected=0, message=_("no protected value in free text"))
        )
    return results


def _unplanned_tables(ctx: VerifyContext, present: set[str]) -> list[str]:
    """Every other table of the retail store is scanned whole: an extract someone left there is exactly the
    risk, and after the split retail-only tables are not in the NW-based plan. The toolkit's own tables too:
    a name is no reason to trust what a table holds."""
    planned = {t.name for t, _ in ctx.retail_tables()}
    return sorted(present - planned)


# ── retail.temporal_scope ─────────────────────────────────────────────────────────────────────


def _day(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def temporal_scope(ctx: VerifyContext) -> list[CheckResult]:
    """No dated retail row outside the affiliate's periods, as the source (the authority) records them."""
    results = []
    schema = ctx.schema
    for table_plan, _store_plan in ctx.retail_tables():
        rule = ctx.mapping.table(table_plan.name)
        scope = rule.retail if rule else None
        if not isinstance(scope, Follow) or not scope.at:
            continue
        parent_rule = ctx.mapping.table(scope.table)
        parent_plan = ctx.plan.table(scope.table)
        if parent_rule is None or parent_plan is None or isinstance(parent_rule.retail, NoRows):
            continue
        try:
            periods = _periods(ctx, schema, scope, parent_plan, parent_rule.period)
            inspector = sa.inspect(engine_for(ctx.stores["retail"]))
            columns = tuple((c["name"], c["type"]) for c in inspector.get_columns(table_plan.name))
            pk = tuple(inspector.get_pk_constraint(table_plan.name)["constrained_columns"])
            ranges = [
                DatedRange(ctx.stores["retail"], ctx.report_key, table_plan, scope, periods, part, columns, pk)
                for part in table_plan.partitions
            ]
            counts = ctx.run(_dated_rows_outside, ranges, name=f"temporal-{table_plan.name}")
            outside, total = sum(c[0] for c in counts), sum(c[1] for c in counts)
            samples = tuple(s for c in counts for s in c[2])[:SAMPLES]
        except (sa.exc.SQLAlchemyError, KeyError) as exc:
            reason = describe_db_error(exc) if isinstance(exc, sa.exc.SQLAlchemyError) else f"column {exc} is missing"
            results.append(could_not_prove("retail.temporal_scope", "retail", table_plan.name, reason))
            continue
        if outside:
            results.append(
                failed(
                    "retail.temporal_scope",
                    "retail",
                    table_plan.name,
                    column=scope.at,
                    observed=outside,
                    expected=0,
                    message=_("%(n)s row(s) dated outside the affiliate's supply periods") % {"n": outside},
                    samples=samples,
                )
            )
        else:
            results.append(passed("retail.temporal_scope", "retail", table_plan.name, column=scope.at, observed=total))
    return results


def _periods(ctx, schema, scope: Follow, parent_plan: TablePlan, period) -> dict[tuple, list[tuple]]:  # type: ignore[no-untyped-def]
    parent = source_table(schema, scope.table)
    retail = parent_plan.store("retail")
    cols = [parent.c[p] for _, p in scope.on]
    stmt = sa.select(*cols, parent.c[period[0]], parent.c[period[1]])
    if retail and retail.predicate_sql:
        stmt = stmt.where(sql_condition(retail.predicate_sql))
    periods: dict[tuple, list[tuple]] = defaultdict(list)
    with engine_for(ctx.source_url).connect() as conn:
        for row in conn.execute(stmt):
            key = tuple(str(v) for v in row[: len(cols)])
            periods[key].append((_day(row[-2]), _day(row[-1])))
    return periods


@dataclass(frozen=True)
class DatedRange:
    """One key range of a dated retail table, with what checking it needs (it may travel to a cluster worker)."""

    url: str
    report_key: bytes = field(repr=False)
    table_plan: TablePlan
    scope: Follow
    periods: dict[tuple, list[tuple]] = field(repr=False)
    part: Partition
    columns: tuple[tuple[str, Any], ...]  # the retail table's, reflected once for every range
    primary_key: tuple[str, ...]


def _dated_rows_outside(job: DatedRange) -> tuple[int, int, tuple[str, ...]]:
    """One key range of a dated retail table against the authority's periods: (outside, total, samples)."""
    url, table_plan, scope, periods, part = job.url, job.table_plan, job.scope, job.periods, job.part
    table = sa.table(table_plan.name, *(sa.column(name, ctype) for name, ctype in job.columns))
    keys = [table.c[c] for c, _ in scope.on]
    assert scope.at is not None
    outside = total = 0
    samples: list[str] = []
    at = table.c[scope.at]
    # Readings repeat (point, day) 48 times: PostgreSQL and SQLite group them, text keys in binary equality
    # (a collation the retail side declares — NOCASE, a nondeterministic one — could merge two supply points,
    # and one's rows would be judged by the other's periods); elsewhere every row is read.
    dialect = engine_for(url).dialect.name
    grouped = dialect in ("postgresql", "sqlite")
    # SQLite takes a collation (NOCASE) on a column of any declared type, and any such column holds text
    binary = [ordered(k, dialect == "sqlite" or _plain_text(k.type)) for k in keys]
    selected = [b.label(k.name) for b, k in zip(binary, keys, strict=True)] if grouped else keys
    stmt = sa.select(*selected, at, sa.func.count() if grouped else sa.literal(1))
    stmt = _in_range(stmt, table, table_plan.key, part)
    if grouped:
        stmt = stmt.group_by(*binary, at)
    offending: list[tuple] = []  # (key values…, day) of the first few groups outside
    with engine_for(url).connect() as conn:
        for row in conn.execution_options(stream_results=True).execute(stmt):
            rows = int(row[-1])
            total += rows
            day = _day(row[len(keys)])
            spans = periods.get(tuple(str(v) for v in row[: len(keys)]), [])
            if day is None or not any(s <= day and (e is None or day <= e) for s, e in spans):
                outside += rows
                if len(offending) < SAMPLES:
                    offending.append(tuple(row[: len(keys) + 1]))
        for group in offending:  # keyed hashes of the offending rows' primary keys
            where = [c == v for c, v in zip([*keys, at], group, strict=True)]
            named = [table.c[c] for c in job.primary_key] or [*keys, at]  # the retail side may drop the key
            pk = sa.select(*named).where(*where).limit(SAMPLES - len(samples))
            samples += [keyed_hash(job.report_key, "|".join(map(str, r))) for r in conn.execute(pk)]
    return outside, total, tuple(samples[:SAMPLES])


def _in_range(stmt: Any, table: Any, key: tuple[str, ...], part: Partition) -> Any:
    """The partition's rows of a retail table. Where the retail side dropped a key column, the first
    partition reads the whole table and the others nothing, so no row is counted twice."""
    if all(k in table.c for k in key):
        return in_range(stmt, [table.c[k] for k in key], part)
    return stmt if part.no == 0 else stmt.where(sa.false())
