"""`sync --follow`: the source's captured changes applied to both stores, through the plan.

Each batch of committed source transactions names the keys it touched (`split.capture.readers`). The
follow does not replay the values it decoded: it reads the touched rows again from the source through
each store's plan — projection, encoding, row scope, `at:` dates — and makes the store's rows for those
keys equal to them (delete, update, insert). So unchanged TOASTed columns, every type's
text form and the order of changes within the batch never matter, and applying a batch twice changes
nothing the second time: a follow killed anywhere is finished by the next, which starts from the capture's
position (moved only after both stores committed: the slot's, or the one both stores' ledgers record).

**Ownership re-scopes.** A change to a table that others `follow` (a customer switching to or from the
affiliate, a period end moved) changes which of the followers' rows belong in a store. For each touched
parent row the `on` values are taken both as the source has them now and as each store still holds them
(the row's former values); every follower row with those values is touched too, down the chain of
follows, and re-read like the rest — in the same store transaction as the change that caused it.

**The retail store is told no key it does not hold.** Which touched keys a store with a row scope holds is
asked of the NW store standing in, or found in the store's own keys read whole (`split.capture.held`).

What the capture cannot name is compared by checksum `sync`: a truncated table, a table changed without a
key or by a statement, a table outside a PostgreSQL publication (no primary key as its replica identity) —
the latter once, when `--until-idle` ends.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa

from split import ledger
from split.capture.command import capture_name, require_capturable
from split.capture.held import (
    ARRAY_CHUNK,
    Key,
    canonical_key,
    chunks,
    column_types,
    held_keys,
    key_filters,
    may_see,
    read_whole,
    stand_in,
)
from split.capture.readers import Batch, open_reader, primary_key
from split.db import engine_for
from split.engine import pgcopy
from split.engine.faults import fault_point
from split.engine.partition import PartitionTask, route_rows, write_rows
from split.engine.snapshot import exported_snapshot, source_connection
from split.errors import TerminalError
from split.i18n import _
from split.ledger import FOLLOW_ROW, recorded_tables
from split.mapping.model import Follow
from split.plan import StorePlan, TablePlan, render, store_select
from split.prepare import Prepared
from split.progress import Progress
from split.ranges import WHOLE
from split.schema.command import require_at_head
from split.schema.derive import load_levels
from split.settings import Secret
from split.sync import SET_BASED_ROWS, sync_tables, target_table, update_rows

POLL_SECONDS = 1.0
NOTE_SECONDS = 30.0  # a lag line at least this often while idle


@dataclass
class FollowResult:
    slot: str
    position: str = ""  # the source position (LSN, binlog file:position) both stores hold every change up to
    transactions: int = 0
    changes: int = 0  # row changes decoded from the slot
    batches: int = 0
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # store → inserted/updated/deleted
    resynced: list[str] = field(default_factory=list)  # tables compared by checksum sync instead
    read_whole: list[str] = field(default_factory=list)  # "store:table": the store's keys read whole (held.py)
    piped: list[str] = field(default_factory=list)  # "store:table": rows piped from the source by COPY (`Wanted`)
    behind_bytes: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # seconds spent per step, summed over batches

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the block's time to `step` (each thread times steps of its own: `read:nw`, `write:retail`)."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.steps[step] = self.steps.get(step, 0.0) + time.monotonic() - started

    def count(self, store: str, what: str, n: int) -> None:
        counts = self.rows.setdefault(store, {"inserted": 0, "updated": 0, "deleted": 0})
        counts[what] += n

    def to_dict(self) -> dict:
        return {
            "slot": self.slot,
            "position": self.position,
            "transactions": self.transactions,
            "changes": self.changes,
            "batches": self.batches,
            "rows": self.rows,
            "resynced": self.resynced,
            "read_whole": self.read_whole,
            "piped": self.piped,
            "behind_bytes": self.behind_bytes,
            "seconds": round(self.seconds, 3),
            "steps": {step: round(seconds, 3) for step, seconds in self.steps.items()},
        }


def follow_changes(
    prep: Prepared,
    tables: Sequence[TablePlan],
    *,
    until_idle: bool,
    workers: int = 2,
    progress: Progress | None = None,
) -> FollowResult:
    """Apply the captured changes to both stores until caught up (`until_idle`) or interrupted; what the
    capture cannot name is compared by checksum sync (`workers` of them)."""
    started = time.monotonic()
    progress = progress or Progress()
    require_capturable(prep.source)
    levels = load_levels(require_at_head(prep, progress.note))  # foreign-key parents first, as copy and sync load
    ordered_tables = sorted(tables, key=lambda t: (levels.get(t.name, 0), t.order))
    result = FollowResult(capture_name(prep))
    held = {store: recorded_tables(engine_for(url)) for store, url in prep.urls.items()}
    with open_reader(prep) as reader:
        noted = time.monotonic()
        while True:
            result.batches += 1
            with result.timed("read"):
                batch = reader.read()
            whole = apply_batch(prep, ordered_tables, batch, reader.scheme, result, held)
            if whole:
                with result.timed("resync"):
                    sync_tables(prep, whole, workers=workers, progress=progress)
                result.resynced += [t.name for t in whole if t.name not in result.resynced]
            reader.confirm(batch)
            fault_point("follow-advanced")
            result.position, result.behind_bytes = batch.end, reader.behind()
            if batch.transactions or time.monotonic() - noted > NOTE_SECONDS:
                progress.note(_lag_line(result))
                noted = time.monotonic()
            if batch.more:
                continue
            if until_idle:
                break
            time.sleep(POLL_SECONDS)
        uncaptured = [t for t in ordered_tables if t.name not in reader.captured]
    if until_idle and uncaptured:
        sync_tables(prep, uncaptured, workers=workers, progress=progress)
        result.resynced += [t.name for t in uncaptured if t.name not in result.resynced]
    result.seconds = time.monotonic() - started
    return result


def _lag_line(result: FollowResult) -> str:
    said = _(
        "follow: %(changes)s change(s) in %(transactions)s transaction(s) applied, at %(position)s, %(behind)s byte(s) behind"
    )
    return said % {
        "changes": result.changes,
        "transactions": result.transactions,
        "position": result.position,
        "behind": result.behind_bytes,
    }


# ── one batch ────────────────────────────────────────────────────────────────────────────────


def apply_batch(
    prep: Prepared,
    tables: Sequence[TablePlan],
    batch: Batch,
    scheme: str,
    result: FollowResult,
    held: dict[str, set[str]],
) -> list[TablePlan]:
    """Apply one batch to every store (`held`: the tables each store's ledger records a copy of); returns the
    tables to compare by checksum instead. Each store's transaction records the batch's end — or its start,
    when tables remain to be resynced (the reader's `confirm` records the end after them)."""
    by_name = {t.name: t for t in tables}
    whole = set(batch.whole)
    result.transactions += batch.transactions
    result.changes += batch.changes
    if not batch.transactions and not whole:
        return []
    asking = Asking(prep, capture_positions(prep), held)
    with exported_snapshot(prep.source.url) as snapshot:  # one view of the source for the whole batch
        with _source_view(prep, snapshot) as src, result.timed("keys"):
            touched: dict[str, set[Key]] = {}
            for table, keys in batch.keys.items():
                plan_table = by_name.get(table)
                if plan_table is None or table in whole:
                    continue
                pk = primary_key(prep, table)
                if not _keyed_alike(plan_table, pk):
                    whole.add(table)  # the stores do not hold the table's rows by the source's key
                    continue
                as_text = table in batch.text  # pgoutput's text of a key that is not an integer: the source casts it
                touched[table] = _typed_keys(src, table, pk, keys) if as_text else {k for k in keys if None not in k}
            _add_followers(prep, tables, touched, src, asking)
        run_id = uuid.uuid4().hex
        resync = [by_name[n] for n in sorted(whole) if n in by_name]
        position = f"{scheme}:{batch.start if resync else batch.end}"

        def apply_to(store: str, url: str, answered: dict[str, Future[None]]) -> None:
            copied = [t for t in tables if t.name in held[store]]  # a table not copied yet: its copy brings it
            try:
                with engine_for(url, writer=True).begin() as conn:
                    with _source_view(prep, snapshot) as src, result.timed(f"read:{store}"):
                        wanted = {
                            t.name: _wanted(prep, t, store, ordered[t.name], src, conn)
                            for t in copied
                            if t.name in touched
                        }
                    with result.timed(f"held:{store}"):
                        known = asking.held_by(store, touched, wanted, result)
                    answered[store].set_result(None)
                    with result.timed(f"wait:{store}"):
                        for other in answered.values():
                            other.result()
                    with result.timed(f"write:{store}"):
                        touched_here = {**touched, **known}  # a scoped store: only the keys it holds
                        _apply_store(prep, copied, store, conn, touched_here, wanted, position, run_id, result)
            except BaseException as exc:
                if not answered[store].done():
                    answered[store].set_exception(exc)
                raise
            fault_point("follow-store-committed")

        # The stores are separate servers: each reads its rows from the source and writes them at once, in a
        # thread of its own (the time is the servers'; one batch, one snapshot, whatever thread reads it). No
        # store writes a row before every store knows which touched keys it holds: the NW store, standing in
        # for the retail store, is asked as it was before the batch.
        ordered = {table: _in_order(keys) for table, keys in touched.items()}  # once, for every store
        answered: dict[str, Future[None]] = {store: Future() for store in prep.urls}
        with ThreadPoolExecutor(len(prep.urls), thread_name_prefix="follow") as pool:
            for applied in [pool.submit(apply_to, store, url, answered) for store, url in prep.urls.items()]:
                applied.result()
    return resync


@contextmanager
def _source_view(prep: Prepared, snapshot: str | None) -> Iterator[sa.Connection]:
    """A read of the source inside the batch's snapshot (PostgreSQL), else in a REPEATABLE READ transaction."""
    if snapshot is not None:
        with source_connection(prep.source.url, snapshot) as src:
            yield src
        return
    with engine_for(prep.source.url).connect() as src:
        yield src.execution_options(isolation_level="REPEATABLE READ")


def _keyed_alike(table: TablePlan, pk: tuple[str, ...]) -> bool:
    """Every store holds the table's rows by the source's primary key, copied as is (not encoded)."""
    return all(
        sp.primary_key == pk and all(c.transform == "copy" for c in sp.columns if c.name in pk) for sp in table.stores
    )


def _typed_keys(conn: sa.Connection, table: str, columns: tuple[str, ...], keys: Iterable[tuple]) -> set[Key]:
    """The keys' text (as decoded) cast back to the columns' types by the source itself."""
    types = column_types(conn, table)
    keys = [k for k in keys if None not in k]
    out: set[Key] = set()
    casts = ", ".join(f"CAST(u.c{i} AS {types[c]})" for i, c in enumerate(columns))
    arrays = ", ".join(f"CAST(:a{i} AS text[])" for i in range(len(columns)))
    names = ", ".join(f"c{i}" for i in range(len(columns)))
    for chunk in chunks(keys, ARRAY_CHUNK):
        params = {f"a{i}": [str(k[i]) for k in chunk] for i in range(len(columns))}  # an int too, if its type changed
        out.update(
            tuple(r) for r in conn.execute(sa.text(f"SELECT {casts} FROM unnest({arrays}) AS u({names})"), params)
        )
    return out


def capture_positions(prep: Prepared) -> dict[str, str | None]:
    """The capture position each store's ledger records (equal unless a follow stopped between the stores)."""
    return {store: ledger.follow_position(engine_for(url)) for store, url in prep.urls.items()}


@dataclass(frozen=True)
class Asking:
    """How each store may be asked about touched keys (`split.capture.held`): `positions`, each store's
    capture position; `copied`, the tables each store's ledger records."""

    prep: Prepared
    positions: dict[str, str | None]
    copied: dict[str, set[str]]

    def may_see(self, store: str, table: str) -> bool:
        return may_see(self.prep, store, table)

    def stand_in(self, store: str, table: str) -> bool:
        return stand_in(self.prep, store, table, self.positions, self.copied.get("nw", set()))

    def held_by(
        self, store: str, touched: dict[str, set[Key]], wanted: dict[str, Wanted], result: FollowResult
    ) -> dict[str, set[Key]]:
        """For each touched table `store` may not be sent every key of, the touched keys it holds that the source
        no longer gives it (those it is given, in `wanted`, it receives whether it held them or not: after
        corrections, none is asked). The tables whose keys it had to read whole are named in `result` (slow on
        a big table: said, not hidden)."""
        known: dict[str, set[Key]] = {}
        for table, keys in touched.items():
            if not keys or table not in self.copied[store] or self.may_see(store, table):
                continue
            given = wanted[table].keys
            asked = {k for k in keys if canonical_key(k) not in given}
            nw = self.copied.get("nw", set())
            known[table] = held_keys(self.prep, store, table, asked, self.positions, nw) if asked else set()
            if asked and not self.stand_in(store, table) and f"{store}:{table}" not in result.read_whole:
                result.read_whole.append(f"{store}:{table}")
        return known


def _add_followers(
    prep: Prepared, tables: Sequence[TablePlan], touched: dict[str, set[Key]], src: sa.Connection, asking: Asking
) -> None:
    """Touch every row of a following table whose `on` values a touched parent row has now (source) or had
    (each store). Repeated until nothing more is touched: a chain of follows (meter → supply_point →
    supply_period) is walked whatever order the tables come in; each parent key is looked at once per edge."""
    edges = [
        (child.name, scope.table, scope.on)
        for child in tables
        if (rule := prep.mapping.table(child.name)) is not None
        for scope in {rule.scope("nw"), rule.scope("retail")}
        if isinstance(scope, Follow)
    ]
    seen: dict[tuple[str, str], set[Key]] = {}
    while True:
        grew = False
        for child, parent, on in edges:
            done = seen.setdefault((child, parent), set())
            keys = touched.get(parent, set()) - done
            if not keys:
                continue
            done |= keys
            values = _parent_values(prep, parent, [p for _, p in on], keys, src, asking)
            if values:
                child_cols, child_pk = [c for c, _ in on], primary_key(prep, child)
                found = _values_by_key(src, _named(child, [*child_cols, *child_pk]), child_cols, child_pk, values)
                before = len(touched.setdefault(child, set()))
                touched[child] |= found
                grew |= len(touched[child]) > before
        if not grew:
            return


def _parent_values(
    prep: Prepared, parent: str, columns: list[str], keys: set[Key], src: sa.Connection, asking: Asking
) -> set[tuple]:
    """The `on` values of these parent rows as the source has them now and as each store still holds them. A
    store that may not be sent the keys is not asked by them: the NW store, standing in, held the same rows
    (read already), or the store's own rows are read whole."""
    pk = primary_key(prep, parent)
    values = _values_by_key(src, _named(parent, [*pk, *columns]), pk, columns, keys)
    held = prep.plan.table(parent)
    in_nw = held.store("nw") if held else None
    nw_read = in_nw is not None and set(columns) <= {c.name for c in in_nw.columns}
    for store, url in prep.urls.items():
        sp = held.store(store) if held else None
        if not (held and sp and set(columns) <= {c.name for c in sp.columns}):
            continue
        target = target_table(_task(prep, held, store, url, ""))
        if asking.may_see(store, parent):
            with engine_for(url).connect() as conn:
                values |= _values_by_key(conn, target, pk, columns, keys)
        elif not (nw_read and asking.stand_in(store, parent)):
            values |= {found for _key, found in read_whole(url, target, pk, columns, keys)}
    return values


def _named(table: str, columns: Sequence[str]) -> sa.TableClause:
    return sa.table(table, *(sa.column(c) for c in dict.fromkeys(columns)))


def _values_by_key(
    conn: sa.Connection, t: sa.TableClause, match: Sequence[str], want: Sequence[str], keys: Iterable[tuple]
) -> set[tuple]:
    """`want` of the rows whose `match` columns are one of `keys`, in chunks. A store is read through its
    typed table (SQLite gives dates back as text otherwise)."""
    target = sa.tuple_(*(t.c[c] for c in match)) if len(match) > 1 else t.c[match[0]]
    out: set[tuple] = set()
    for chunk in chunks(list(keys)):
        values = chunk if len(match) > 1 else [k[0] for k in chunk]
        out.update(tuple(r) for r in conn.execute(sa.select(*(t.c[c] for c in want)).where(target.in_(values))))
    return out


def _task(prep: Prepared, table: TablePlan, store: str, url: str, run_id: str) -> PartitionTask:
    return PartitionTask(
        table, store, WHOLE, prep.source.url, url, prep.plan.hash, prep.plan.mapping_sha256, run_id, None,
        Secret(prep.key) if prep.key else None,
    )  # fmt: skip


@dataclass
class Wanted:
    """The rows a store should hold for one table's touched keys (none for a key out of its scope now), and
    their keys (canonical). Either in Python, routed (`rows`, by key), or `staged`: piped from the source by
    COPY into a temporary table of the store's open transaction (`count` rows), never Python objects."""

    keys: set[tuple]
    rows: dict[tuple, tuple] = field(default_factory=dict)
    staged: str | None = None
    count: int = 0


def _wanted(
    prep: Prepared, table: TablePlan, store: str, keys: Sequence[Key], src: sa.Connection, conn: sa.Connection
) -> Wanted:
    sp = table.store(store)
    if sp is None or not keys:
        return Wanted(set())
    if _piped(sp, src, conn, len(keys)):
        return _staged_rows(table, sp, keys, src, conn)
    rows = _source_rows(prep, table, store, keys, src)
    return Wanted(set(rows), rows)


def _piped(sp: StorePlan, src: sa.Connection, conn: sa.Connection, keys: int) -> bool:
    """PostgreSQL to PostgreSQL, nothing to encode: the rows go from server to server as `copy` sends them.
    Below SET_BASED_ROWS a temporary table costs more than the rows."""
    return (
        src.dialect.name == conn.dialect.name == "postgresql"
        and all(c.transform == "copy" for c in sp.columns)
        and keys >= SET_BASED_ROWS
    )


def _staged_rows(
    table: TablePlan, sp: StorePlan, keys: Sequence[Key], src: sa.Connection, conn: sa.Connection
) -> Wanted:
    """The store's SELECT (projection, scope, `at:` dates) of the rows with these keys, piped into the store.
    The keys travel as one array per key column, each of the column's own type (a `char(22)` compared as text
    would match nothing): `= ANY(array)` for one column, the arrays unnested side by side for a natural key."""
    key = sp.primary_key
    types = column_types(src, table.name)
    quote = src.dialect.identifier_preparer.quote
    arrays = [f"CAST(%s AS {types[c]}[])" for c in key]
    if len(key) == 1:
        condition = f"r.{quote(key[0])} = ANY({arrays[0]})"
    else:
        condition = f"({', '.join(f'r.{quote(c)}' for c in key)}) IN (SELECT * FROM unnest({', '.join(arrays)}))"
    select = render(store_select(table, sp, WHOLE).order_by(None), src.dialect)  # its `%` doubled, as psycopg binds
    query = f"SELECT * FROM ({select}) AS r WHERE {condition}"
    # the keys come in order: each array a stretch of the key, the source reads its pages once, not per array
    bound = [tuple([k[i] for k in chunk] for i in range(len(key))) for chunk in chunks(keys, ARRAY_CHUNK)]
    names = [c.name for c in sp.columns]
    staged, count = pgcopy.stage_from_source(src, conn, query, bound, table.name, names)
    given = {canonical_key(k) for k in pgcopy.staged_keys(conn, staged, list(key))}
    return Wanted(given, staged=staged, count=count)


def _in_order(keys: set[Key]) -> list[Key]:
    """The keys sorted (a store's rows are then read from the source in the key's order)."""
    try:
        return sorted(keys)
    except TypeError:  # values Python does not order (never in a key the source orders): any order is right
        return list(keys)


def _source_rows(
    prep: Prepared, table: TablePlan, store: str, keys: Sequence[Key], src: sa.Connection
) -> dict[tuple, tuple]:
    """The rows the store should hold for these keys (none when out of its scope now), routed (encoded)."""
    sp = table.store(store)
    assert sp is not None
    task = _task(prep, table, store, prep.urls[store], "")
    names = [c.name for c in sp.columns]
    idx = [names.index(k) for k in sp.primary_key]
    base = store_select(table, sp, WHOLE).order_by(None)
    out: dict[tuple, tuple] = {}
    for where in key_filters(src, table.name, list(sp.primary_key), list(keys)):
        for row in route_rows(task, list(src.execute(base.where(where)))):
            out[canonical_key(row[i] for i in idx)] = row
    return out


def _apply_store(
    prep: Prepared,
    tables: Sequence[TablePlan],
    store: str,
    conn: sa.Connection,
    touched: dict[str, set[Key]],
    wanted: dict[str, Wanted],
    position: str,
    run_id: str,
    result: FollowResult,
) -> None:
    """In the store's open transaction: deletions children first, then updates and inserts parents first, then
    the position. A touched key the source no longer gives the store is deleted (if held); a wanted row is
    rewritten where the store holds its key and inserted where it does not."""
    chosen = [t for t in tables if t.name in touched and t.store(store) is not None]
    url = prep.urls[store]
    for table in reversed(chosen):
        task = _task(prep, table, store, url, run_id)
        gone = [k for k in touched[table.name] if canonical_key(k) not in wanted[table.name].keys]
        result.count(store, "deleted", _delete_keys(conn, target_table(task), list(task.store_plan.primary_key), gone))
    for table in chosen:
        task = _task(prep, table, store, url, run_id)
        updated, inserted = _write_wanted(conn, task, wanted[table.name])
        piped = f"{store}:{table.name}"
        if wanted[table.name].staged and piped not in result.piped:
            result.piped.append(piped)
        result.count(store, "updated", updated)
        result.count(store, "inserted", inserted)
    fault_point("follow-applied")
    counts = result.rows.get(store, {})
    ledger.replace(
        conn,
        ledger.LedgerEntry(
            prep.plan.hash, FOLLOW_ROW, 0, store, run_id, None, None, None, 0, position,
            prep.plan.mapping_sha256, "follow", counts.get("inserted"), counts.get("updated"), counts.get("deleted"),
        ),
    )  # fmt: skip


def _write_wanted(conn: sa.Connection, task: PartitionTask, want: Wanted) -> tuple[int, int]:
    """Rewrite the wanted rows the store holds, insert the others; (updated, inserted)."""
    if want.staged is None:
        present = _rewrite_present(conn, task, want.rows)
        new = [row for key, row in want.rows.items() if key not in present]
        if new:
            write_rows(conn, task, [new])
        return len(present), len(new)
    names, pk = [c.name for c in task.store_plan.columns], list(task.store_plan.primary_key)
    updated, inserted = pgcopy.merge_staged(conn, target_table(task).name, names, pk, want.staged, want.count)
    if updated + inserted != want.count:  # never expected: every staged row is either held or new
        raise TerminalError(
            _("follow: %(count)s rows of %(table)s read from the source, but %(written)s written; nothing was applied")
            % {"count": want.count, "table": task.label, "written": updated + inserted},
            hint=_("report this as a bug with the plan hash; then run the same command again"),
        )
    return updated, inserted


def _rewrite_present(conn: sa.Connection, task: PartitionTask, rows: dict[tuple, tuple]) -> set[tuple]:
    """Rewrite the rows whose keys the store holds; returns those keys (canonical). On PostgreSQL one staged
    `UPDATE … RETURNING` both finds and rewrites them; elsewhere the keys are looked up first."""
    target, pk = target_table(task), list(task.store_plan.primary_key)
    names = [c.name for c in task.store_plan.columns]
    if conn.dialect.name == "postgresql" and len(rows) >= SET_BASED_ROWS and not set(pk) >= set(names):
        return {canonical_key(k) for k in pgcopy.update_by_key(conn, target.name, names, pk, rows.values())}
    idx = [names.index(k) for k in pk]
    keys = {tuple(row[i] for i in idx) for row in rows.values()}  # typed, as the store is asked
    present = {canonical_key(k) for k in _held_keys(conn, target, pk, keys)}
    update_rows(conn, task, target, names, [row for key, row in rows.items() if key in present])
    return present


def _held_keys(conn: sa.Connection, target: sa.Table, pk: list[str], keys: set[Key]) -> set[tuple]:
    """Which of these keys the store holds: on PostgreSQL by one join with the keys staged by COPY."""
    if conn.dialect.name == "postgresql" and len(keys) >= SET_BASED_ROWS:
        return set(pgcopy.present_keys(conn, target.name, pk, keys))
    return _values_by_key(conn, target, pk, pk, keys)


def _delete_keys(conn: sa.Connection, target: sa.Table, pk: list[str], keys: list[tuple]) -> int:
    """Delete the rows with these keys that the store holds; returns how many."""
    if not keys:
        return 0
    if conn.dialect.name == "postgresql" and len(keys) >= SET_BASED_ROWS:
        return pgcopy.delete_keys(conn, target.name, pk, keys)
    held = list(_values_by_key(conn, target, pk, pk, keys))
    for chunk in chunks(held):
        stmt = target.delete().where(*(target.c[n] == sa.bindparam(f"k_{n}") for n in pk))
        conn.execute(stmt, [{f"k_{n}": v for n, v in zip(pk, key, strict=True)} for key in chunk])
    return len(held)
