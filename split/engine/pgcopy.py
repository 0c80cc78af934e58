"""The PostgreSQL fast path: COPY through psycopg 3 (README "How `copy` works", measured in BENCHMARKS.md).

- `stream`: PostgreSQL → PostgreSQL without transforms. `COPY (SELECT …) TO STDOUT` on the source is
  piped block by block into `COPY … FROM STDIN` on the target; rows never become Python objects.
  Binary format when the column types are identical on both sides, text otherwise (text converts
  between compatible types, binary does not). Writes are grouped into ~1 MiB, which halves the CPU
  psycopg spends per row. The checksum is SHA-256 of the byte stream, the count is the server's.
- `write_rows`: any source → PostgreSQL target for rows that went through Python (encoded columns,
  other source engines): `COPY … FROM STDIN` with psycopg's own adaptation instead of INSERTs.

psycopg raises its own exceptions here, not SQLAlchemy's; `as_dbapi_error` wraps them so the retry
logic sees one kind of error, and a broken connection is invalidated instead of going back to the pool.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from split.errors import TerminalError
from split.i18n import _

FLUSH_BYTES = 1 << 20


def copy_columns(conn: Any, table: str, columns: Sequence[str]) -> str:
    """`"table" ("a", "b")` quoted by the server's rules."""
    from psycopg import sql

    ident = sql.SQL("{} ({})").format(sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
    return ident.as_string(conn)


def column_types(conn: Any, table: str, columns: Sequence[str]) -> list[str]:
    """The server's type names (with modifiers) of the columns, in order."""
    from psycopg import sql

    query = sql.SQL(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = {}::regclass AND attnum > 0 AND NOT attisdropped"
    ).format(sql.Literal(sql.Identifier(table).as_string(conn)))
    with conn.cursor() as cur:
        types = dict(cur.execute(query).fetchall())
    return [types.get(name, "?") for name in columns]


def stream(
    source: sa.Connection,
    target: sa.Connection,
    select_sql: str,
    table: str,
    columns: Sequence[str],
    on_flush: Callable[[], None],
    *,
    params: Sequence[Any] | None = None,
    into: str | None = None,
) -> tuple[int, str]:
    """Pipe one SELECT into one table (`into`, else the source's `table`); returns (rows, sha256 of the stream).
    The SELECT is sent as it is, or with `params` bound by psycopg (each `%` in it then doubled)."""
    src, dst = _raw(source), _raw(target)
    same_types = column_types(src, table, columns) == column_types(dst, into or table, columns)
    fmt = "(FORMAT binary)" if same_types else ""
    digest = hashlib.sha256()
    with src.cursor() as out_cur, dst.cursor() as in_cur:
        with (
            out_cur.copy(f"COPY ({select_sql}) TO STDOUT {fmt}", params) as out,
            in_cur.copy(f"COPY {copy_columns(dst, into or table, columns)} FROM STDIN {fmt}") as into_copy,
        ):
            buffer = bytearray()
            for block in out:
                buffer += block
                if len(buffer) >= FLUSH_BYTES:
                    digest.update(buffer)
                    into_copy.write(buffer)
                    buffer = bytearray()
                    on_flush()
            digest.update(buffer)
            into_copy.write(buffer)
            on_flush()  # every partition passes here at least once, with its data sent but COPY not ended
        sent, received = out_cur.rowcount, in_cur.rowcount
    if sent != received:  # never expected; a silent loss is the one thing a copy must not do
        raise TerminalError(
            _(
                "COPY of %(table)s: %(sent)s rows read from the source but %(received)s written; the partition was rolled back"
            )
            % {"table": table, "sent": sent, "received": received},
            hint=_("report this as a bug with the plan hash; then run the same command again"),
        )
    return received, digest.hexdigest()


def write_rows(
    target: sa.Connection,
    table: str,
    columns: Sequence[str],
    batches: Iterable[list[tuple]],
    on_batch: Callable[[list[tuple]], None] | None = None,
) -> None:
    """COPY rows that were prepared in Python (text format: psycopg adapts each value)."""
    dst = _raw(target)
    with dst.cursor() as cur, cur.copy(f"COPY {copy_columns(dst, table, columns)} FROM STDIN") as into:
        for rows in batches:
            for row in rows:
                into.write_row(row)
            if on_batch is not None:
                on_batch(rows)


# ── set-based changes by key: rows staged by COPY, then one statement (sync and follow on PostgreSQL) ──

_STAGES = itertools.count()


def stage(target: sa.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]) -> str:
    """A temporary table of these rows, typed as `table`'s columns, filled by COPY and dropped at commit;
    returns its name. One statement then joins it (UPDATE … FROM, DELETE … USING, a join) instead of one
    statement per row, which costs a round trip and a plan each."""
    name = _empty_stage(target, table, columns)
    with raw_errors(target):
        write_rows(target, name, columns, [list(rows)])
    _analyze(target, name)
    return name


def stage_from_source(
    source: sa.Connection,
    target: sa.Connection,
    select_sql: str,
    params: Iterable[Sequence[Any]],
    table: str,
    columns: Sequence[str],
) -> tuple[str, int]:
    """A temporary table like `stage`'s, filled by piping a SELECT on the source into it once per set of
    `params` (`stream`): the rows never become Python objects. Returns its name and the rows it holds."""
    name = _empty_stage(target, table, columns)
    total = 0
    with raw_errors(target, source):
        for bound in params:
            rows, _digest = stream(source, target, select_sql, table, columns, _no_flush, params=bound, into=name)
            total += rows
    _analyze(target, name)
    return name, total


def _no_flush() -> None:
    pass


def _analyze(target: sa.Connection, staged: str) -> None:
    """Statistics of the staged rows, for the plan of the statement that joins them."""
    from psycopg import sql

    with raw_errors(target):
        _raw(target).execute(sql.SQL("ANALYZE {}").format(sql.Identifier(staged)))


def _empty_stage(target: sa.Connection, table: str, columns: Sequence[str]) -> str:
    """A new temporary table with `table`'s columns (their types, no rows, no constraints), dropped at commit."""
    from psycopg import sql

    name = f"bk_stage_{next(_STAGES)}"
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    with raw_errors(target):
        _raw(target).execute(
            sql.SQL("CREATE TEMPORARY TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                sql.Identifier(name), listed, sql.Identifier(table)
            )
        )
    return name


def _staged_in_key_order(name: str, key: Sequence[str]) -> Any:
    """The staged rows in the key's order: the target's key index is then walked forward, page after page."""
    from psycopg import sql

    order = sql.SQL(", ").join(map(sql.Identifier, key))
    return sql.SQL("(SELECT * FROM {} ORDER BY {}) AS s").format(sql.Identifier(name), order)


def _by_key_index(target: sa.Connection, statement: Any) -> Any:
    """Run a join of staged rows with the target through the target's key index. From a few thousand staged
    rows PostgreSQL estimates a hash join over the whole table cheaper; on 10M rows it was twice as slow (its
    hash spills to disk), and its time grows with the table instead of with the changes (BENCHMARKS.md, issue
    21). Both settings are put back, for this transaction's other statements; a statement that failed leaves
    the transaction to its rollback, which discards them, and its own error is the one raised."""
    dst = _raw(target)
    with raw_errors(target):
        before = dst.execute(
            "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"
        ).fetchone()
        dst.execute("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
        done = dst.execute(statement)
        dst.execute(
            "SELECT set_config('enable_hashjoin', %s, true), set_config('enable_mergejoin', %s, true)", tuple(before)
        )
        return done


def _on(key: Sequence[str]) -> Any:
    from psycopg import sql

    return sql.SQL(" AND ").join(sql.SQL("t.{0} = s.{0}").format(sql.Identifier(k)) for k in key)


def _returned_key(key: Sequence[str]) -> Any:
    from psycopg import sql

    return sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(k)) for k in key)


def present_keys(target: sa.Connection, table: str, key: Sequence[str], keys: Iterable[tuple]) -> list[tuple]:
    """Which of these keys the table holds (as the table stores them)."""
    from psycopg import sql

    staged = stage(target, table, key, keys)
    query = sql.SQL("SELECT {} FROM {} AS t JOIN {} ON {}").format(
        _returned_key(key), sql.Identifier(table), _staged_in_key_order(staged, key), _on(key)
    )
    return [tuple(r) for r in _by_key_index(target, query).fetchall()]


def delete_keys(target: sa.Connection, table: str, key: Sequence[str], keys: Iterable[tuple]) -> int:
    """Delete the rows with these keys (a key the table does not hold is passed over); returns how many."""
    from psycopg import sql

    staged = stage(target, table, key, keys)
    query = sql.SQL("DELETE FROM {} AS t USING {} WHERE {}").format(
        sql.Identifier(table), _staged_in_key_order(staged, key), _on(key)
    )
    return int(_by_key_index(target, query).rowcount)


def update_by_key(
    target: sa.Connection, table: str, columns: Sequence[str], key: Sequence[str], rows: Iterable[tuple]
) -> list[tuple]:
    """Rewrite rows in place by key: every column but the key's takes the staged row's value. Returns the keys
    the table held (as it stores them): the other rows are new."""
    from psycopg import sql

    staged = stage(target, table, columns, rows)
    query = _update_from(table, columns, key, staged) + sql.SQL(" RETURNING {}").format(_returned_key(key))
    return [tuple(r) for r in _by_key_index(target, query).fetchall()]


def _update_from(table: str, columns: Sequence[str], key: Sequence[str], staged: str) -> Any:
    """`UPDATE table … FROM` the staged rows in key order: every column but the key's takes the staged value."""
    from psycopg import sql

    sets = sql.SQL(", ").join(sql.SQL("{0} = s.{0}").format(sql.Identifier(c)) for c in columns if c not in key)
    return sql.SQL("UPDATE {} AS t SET {} FROM {} WHERE {}").format(
        sql.Identifier(table), sets, _staged_in_key_order(staged, key), _on(key)
    )


def merge_staged(
    target: sa.Connection, table: str, columns: Sequence[str], key: Sequence[str], staged: str, rows: int
) -> tuple[int, int]:
    """Make `table` hold the `rows` staged rows: rewritten in place where it holds their key, inserted where it
    does not (both through the key index, in key order). Returns (updated, inserted); a table whose every
    column is in its key holds a staged row already when it holds its key: such rows are counted as updated,
    not written, so that an insert the store swallowed still shows in the caller's sum."""
    from psycopg import sql

    if all(c in key for c in columns):
        held = sql.SQL("SELECT count(*) FROM {} AS s WHERE EXISTS (SELECT 1 FROM {} AS t WHERE {})").format(
            sql.Identifier(staged), sql.Identifier(table), _on(key)
        )
        updated = int(_by_key_index(target, held).fetchone()[0])
    else:
        updated = int(_by_key_index(target, _update_from(table, columns, key, staged)).rowcount)
    if updated == rows:  # every staged row was held: none is new (corrections, the common case)
        return updated, 0
    listed = sql.SQL(", ").join(map(sql.Identifier, columns))
    chosen = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns)
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE NOT EXISTS (SELECT 1 FROM {} AS t WHERE {})").format(
        sql.Identifier(table), listed, chosen, _staged_in_key_order(staged, key), sql.Identifier(table), _on(key)
    )
    inserted = int(_by_key_index(target, insert).rowcount)
    return updated, inserted


def staged_keys(target: sa.Connection, staged: str, key: Sequence[str]) -> list[tuple]:
    """The keys of the staged rows (as the target types them)."""
    from psycopg import sql

    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(map(sql.Identifier, key)), sql.Identifier(staged))
    with raw_errors(target):
        return [tuple(r) for r in _raw(target).execute(query).fetchall()]


def _raw(conn: sa.Connection) -> Any:
    return conn.connection.driver_connection


@contextmanager
def raw_errors(*conns: sa.Connection) -> Iterator[None]:
    """psycopg's own exceptions (raised inside COPY) as SQLAlchemy's, so that retries treat them alike."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        broken = [c for c in conns if is_broken(c)]
        raise as_dbapi_error(exc, broken) from None


def is_broken(conn: sa.Connection) -> bool:
    raw = _raw(conn)
    return bool(getattr(raw, "broken", False) or getattr(raw, "closed", False))


def as_dbapi_error(exc: Exception, broken: Sequence[sa.Connection]) -> sa.exc.DBAPIError:
    """psycopg's own error as SQLAlchemy's; broken connections are invalidated, never pooled again."""
    import psycopg

    for conn in broken:
        conn.invalidate()
    error = sa.exc.DBAPIError.instance(None, None, exc, psycopg.Error, connection_invalidated=bool(broken))
    return error  # type: ignore[return-value]
