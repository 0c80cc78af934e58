"""Change capture (issue 21): `copy --capture`, source changes, `sync --follow --until-idle`.

The oracle is the one `test_sync` uses, independent of the follow: a fresh copy of the changed source into
new stores. After the follow the stores must equal it table by table, and `verify` must pass — also when
the follow was killed (`kill -9`) at any of its steps and run again.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from split.capture.pgoutput import Decoder
from split.db import engine_for
from split.sample.generate import generate
from split.sync import SET_BASED_ROWS
from tests.conftest import REQUIRE_SERVERS
from tests.helpers import count, run_cli
from tests.test_sync import ENV, change_the_source, cli, correct_many_readings, image, retail_usage_points


def require_capture_settings(dbs, backend: str) -> None:  # noqa: ANN001
    """Logical decoding needs `wal_level = logical`; a binlog capture a row binlog with named columns (.ci/run
    sets both, with a restart)."""
    with engine_for(dbs.url(backend, "probe")).connect() as conn:
        if backend == "postgresql":
            found, wanted = conn.exec_driver_sql("SHOW wal_level").scalar_one(), "logical"
        else:
            found = conn.exec_driver_sql(
                "SELECT CONCAT(@@log_bin = 1, ' ', @@binlog_format, ' ', @@binlog_row_image, ' ', @@binlog_row_metadata)"
            ).scalar()
            wanted = "1 ROW FULL FULL"
    if found != wanted:
        message = f"the {backend} server's settings are {found}; change capture needs {wanted} (.ci/run sets them)"
        if REQUIRE_SERVERS:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def logical(dbs) -> None:  # noqa: ANN001
    require_capture_settings(dbs, "postgresql")


CAPTURING = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=CAPTURING)
def capturing(request, dbs) -> str:  # noqa: ANN001
    """A source that captures changes (PostgreSQL by a slot, MariaDB by its binlog), with stores of its kind."""
    require_capture_settings(dbs, request.param)
    return request.param


def add_supply_point(url: str) -> str:
    """A new supply point of the affiliate with its period, meter, usage and readings: the rows of an existing
    affiliate point, cloned under a new id (surrogate keys renumbered)."""
    md = sa.MetaData()
    md.reflect(engine_for(url))
    periods = md.tables["supply_period"]
    with engine_for(url).begin() as conn:
        model = (
            conn.execute(
                sa.select(periods.c.supply_point_id)
                .where(periods.c.retailer_code == "00016")
                .order_by(periods.c.period_id)
            )
            .scalars()
            .all()[-1]
        )
        new_id = model[:-6] + "999999"
        for name in ("supply_point", "meter", "supply_period", "monthly_usage", "interval_reading_30min"):
            table = md.tables[name]
            rows = [r._asdict() for r in conn.execute(sa.select(table).where(table.c.supply_point_id == model))]
            surrogate = [c.name for c in table.primary_key.columns if c.name != "supply_point_id"]
            top = {c: conn.execute(sa.select(sa.func.max(table.c[c]))).scalar_one() for c in surrogate}
            for i, row in enumerate(rows, start=1):  # integer ids after the last; text ids (meter_no) marked
                row.update({c: top[c] + i if isinstance(top[c], int) else f"N{i:03d}{row[c]}"[:12] for c in surrogate})
                row["supply_point_id"] = new_id
            if rows:
                conn.execute(table.insert(), rows)
    return new_id


def docs_source(source: str, tmp_path, docs: str, *, note: str):  # noqa: ANN001, ANN201
    """doc (a key, a body, a revision; `docs` fills it), tag (all key) and note (no key at all) in the source,
    and their mapping (`note`: the note table's rule)."""
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE doc (code varchar(12) PRIMARY KEY, body text NOT NULL, rev int NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE tag (name varchar(12) PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE note (who varchar(12), said text)")
        conn.exec_driver_sql(docs)
        conn.exec_driver_sql("INSERT INTO tag VALUES ('a'), ('b')")
        conn.exec_driver_sql("INSERT INTO note VALUES ('x', '1'), ('y', '2')")
    mapping = tmp_path / "docs.yaml"
    mapping.write_text(
        "version: 1\nsystem: 文書\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  doc:\n    retail: all\n    columns: {code: shared, body: shared, rev: shared}\n"
        f"  tag:\n    retail: all\n    columns: {{name: shared}}\n  note:\n    {note}\n"
        "waves:\n  - {name: all, tables: [doc, tag, note]}\n",
        encoding="utf-8",
    )
    return mapping


def follow(mapping, source, nw, retail, fault: str | None = None):  # noqa: ANN001, ANN201
    return cli("sync", mapping, source, nw, retail, "--follow", "--until-idle", fault=fault)


def assert_like_a_fresh_copy(dbs, mapping, source, nw, retail, backend: str = "postgresql") -> None:  # noqa: ANN001
    fresh_nw, fresh_retail = dbs.url(backend, "nw2"), dbs.url(backend, "rt2")
    assert cli("copy", mapping, source, fresh_nw, fresh_retail).returncode == 0
    assert image(nw) == image(fresh_nw)
    assert image(retail) == image(fresh_retail)
    proof = cli("verify", mapping, source, nw, retail)
    assert proof.returncode == 0, [c for c in json.loads(proof.stdout)["checks"] if c["status"] != "pass"]


def test_follow_applies_every_kind_of_change_like_a_fresh_copy(dbs, capturing, small_partitions):
    source = dbs.url(capturing, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(capturing, "nw"), dbs.url(capturing, "rt")
    copied = cli("copy", small_partitions, source, nw, retail, "--capture")
    assert copied.returncode == 0, copied.stderr
    capture = json.loads(copied.stdout)["capture"]
    assert capture["created"] and capture["position"] and "monthly_usage" in capture["tables"]

    moved = change_the_source(source)  # edits, inserts, deletions, a customer leaving and one coming
    new_point = add_supply_point(source)
    corrected = correct_many_readings(source)  # a PostgreSQL store takes them by staged statements
    assert moved["leaving"] in retail_usage_points(retail)

    followed = follow(small_partitions, source, nw, retail)
    assert followed.returncode == 0, followed.stderr
    report = json.loads(followed.stdout)
    assert report["transactions"] == 3 and report["changes"] > corrected, report
    assert report["rows"]["nw"]["updated"] >= corrected >= 2 * SET_BASED_ROWS, report
    assert report["rows"]["retail"]["deleted"] > 0 and report["rows"]["retail"]["inserted"] > 0
    if capturing == "postgresql":  # the corrections' rows went server to server, into each store's scope
        assert {"nw:interval_reading_30min", "retail:interval_reading_30min"} <= set(report["piped"]), report
    after = retail_usage_points(retail)
    assert moved["leaving"] not in after and moved["coming"] in after and new_point in after
    assert_like_a_fresh_copy(dbs, small_partitions, source, nw, retail, capturing)

    again = json.loads(follow(small_partitions, source, nw, retail).stdout)
    assert again["transactions"] == 0 and again["rows"] == {}, "the capture moved past what was applied"


def supply_points(url: str) -> set[str]:
    with engine_for(url).connect() as conn:
        return set(conn.execute(sa.text("SELECT supply_point_id FROM supply_point")).scalars())


@contextmanager
def traffic_to(url: str) -> Iterator[list[str]]:
    """Every statement, parameter and COPY row this process sends to the database at `url`, as text."""
    from split.engine import pgcopy

    database, sent = sa.make_url(url).database, []

    def statement(conn, cursor, text, parameters, context, executemany) -> None:  # noqa: ANN001
        if conn.engine.url.database == database:
            sent.append(f"{text} {parameters!r}")

    original = pgcopy.write_rows

    def copied(target, table, columns, batches, on_batch=None):  # noqa: ANN001, ANN202
        batches = [list(b) for b in batches]
        if target.engine.url.database == database:
            sent.extend(repr(row) for batch in batches for row in batch)
        return original(target, table, columns, batches, on_batch)

    original_stage = pgcopy.stage_from_source

    def piped(source, target, select_sql, params, table, columns):  # noqa: ANN001, ANN202
        """Rows piped from the source (never Python objects on the way): what arrived, read back."""
        name, rows = original_stage(source, target, select_sql, params, table, columns)
        if target.engine.url.database == database:
            sent.extend(repr(tuple(r)) for r in target.exec_driver_sql(f'SELECT * FROM "{name}"'))
            sent.append(f"piped {rows}")
        return name, rows

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", statement)
    pgcopy.write_rows, pgcopy.stage_from_source = copied, piped
    try:
        yield sent
    finally:
        pgcopy.write_rows, pgcopy.stage_from_source = original, original_stage
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", statement)


def test_the_retail_store_is_never_sent_a_key_it_does_not_hold(dbs, capturing, small_partitions, monkeypatch):
    """The follow finds which touched keys a store holds, to delete what left its scope. The retail store is run
    by the party the split protects data from: the key of a row it never held — a competitor's customer's
    supply point id — may reach it in no statement, parameter or staged row, though the batch changes such
    rows (supply points, readings, a natural key led by the supply point id), deletes some and switches a
    customer away. The follow runs in this process, and everything it sends the retail store is recorded."""
    from split import api

    source = dbs.url(capturing, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(capturing, "nw"), dbs.url(capturing, "rt")
    assert cli("copy", small_partitions, source, nw, retail, "--capture").returncode == 0
    held_before = supply_points(retail)
    change_the_source(source)
    add_supply_point(source)
    correct_many_readings(source)
    with engine_for(source).begin() as conn:  # a competitor's customers' own rows, changed and deleted
        outside = sorted(supply_points(source) - held_before)
        conn.execute(sa.text("UPDATE supply_point SET voltage_class = CONCAT('x', voltage_class) WHERE supply_point_id = :s"),
                     [{"s": s} for s in outside[:5]])  # fmt: skip
        conn.execute(sa.text("DELETE FROM interval_reading_30min WHERE supply_point_id = :s"), {"s": outside[5]})

    monkeypatch.setenv("BUNKATSU_ENCODE_KEY", ENV["BUNKATSU_ENCODE_KEY"])
    with traffic_to(retail) as sent:
        followed = api.sync(small_partitions, source, nw, retail, follow=True, until_idle=True)
    never_held = supply_points(source) - held_before - supply_points(retail)
    assert len(never_held) >= 5 and sent
    told = "\n".join(sent)
    assert [s for s in never_held if s in told] == [], "keys the retail store never held were sent to it"
    assert followed.read_whole == [], "the NW store stood in"
    if capturing == "postgresql":  # the corrected readings were piped: what arrived is recorded too
        assert "retail:interval_reading_30min" in followed.piped and "piped " in told

    # The stores at two positions, as a follow stopped between their commits leaves them: the retail store's
    # keys are read whole, which the result says.
    from split.capture import follow as following

    apart = {"nw": "lsn:0/2", "retail": "lsn:0/1"}
    monkeypatch.setattr(following, "capture_positions", lambda prep: {s: apart[s] for s in prep.urls})
    correct_many_readings(source)
    with engine_for(source).begin() as conn:
        conn.execute(sa.text("DELETE FROM interval_reading_30min WHERE supply_point_id = :s"), {"s": outside[4]})
    with traffic_to(retail) as sent:
        again = api.sync(small_partitions, source, nw, retail, follow=True, until_idle=True)
    assert "retail:interval_reading_30min" in again.read_whole, again.read_whole
    told = "\n".join(sent)
    assert [s for s in never_held if s in told] == [], "keys the retail store never held were sent to it"
    assert_like_a_fresh_copy(dbs, small_partitions, source, nw, retail, capturing)


@pytest.mark.postgresql
def test_both_ways_to_find_the_keys_a_scoped_store_holds_agree_and_tell_it_none(dbs, small_partitions, monkeypatch):
    """The NW store standing in (the stores at one position) and the retail store's own keys read whole (after
    an interrupted follow left them at two) find the same keys: those the retail store holds. Reading whole
    sends the retail store no key at all."""
    from split.capture.held import held_keys
    from split.ledger import recorded_tables
    from split.prepare import prepare

    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    generate(source, 60, 11)
    assert cli("copy", small_partitions, source, nw, retail).returncode == 0
    monkeypatch.setenv("BUNKATSU_ENCODE_KEY", ENV["BUNKATSU_ENCODE_KEY"])
    prep = prepare(small_partitions, source, nw, retail, ranges=False)
    copied = recorded_tables(engine_for(nw))
    for table, key in (("supply_point", "supply_point_id"), ("interval_reading_30min", "reading_id")):
        with engine_for(source).connect() as conn:
            keys = {(k,) for k in conn.execute(sa.text(f"SELECT {key} FROM {table}")).scalars()}
        with engine_for(retail).connect() as conn:
            truth = {(k,) for k in conn.execute(sa.text(f"SELECT {key} FROM {table}")).scalars()}
        by_nw = held_keys(prep, "retail", table, keys, {"nw": "lsn:0/9", "retail": "lsn:0/9"}, copied)
        with traffic_to(retail) as sent:
            by_reading = held_keys(prep, "retail", table, keys, {"nw": "lsn:0/9", "retail": "lsn:0/8"}, copied)
        assert by_nw == by_reading == truth and 0 < len(truth) < len(keys), table
        assert sent and all(s.endswith(" {}") and "WHERE" not in s for s in sent), sent  # no key, no condition


@pytest.mark.parametrize("fault", ["follow-applied:1", "follow-store-committed:1", "follow-advanced:1"])
def test_a_follow_killed_anywhere_is_finished_by_the_next(dbs, capturing, small_partitions, fault):
    source = dbs.url(capturing, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(capturing, "nw"), dbs.url(capturing, "rt")
    assert cli("copy", small_partitions, source, nw, retail, "--capture").returncode == 0
    change_the_source(source)
    add_supply_point(source)
    killed = follow(small_partitions, source, nw, retail, fault=fault)
    assert killed.returncode == -9, killed.stderr
    finished = follow(small_partitions, source, nw, retail)
    assert finished.returncode == 0, finished.stderr
    assert_like_a_fresh_copy(dbs, small_partitions, source, nw, retail, capturing)


@pytest.mark.postgresql
def test_key_changes_toasted_values_truncates_and_tables_without_a_key(dbs, logical, tmp_path):
    """An update of the primary key, an update beside a TOASTed value (pgoutput does not resend it), a
    truncated table and a table without a primary key (kept out of the publication: its source UPDATEs would
    otherwise be refused) all end like a fresh copy."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    # 12,800 characters of incompressible text: stored out of line
    docs = "INSERT INTO doc SELECT 'D' || g, repeat(md5(g::text), 400), 1 FROM generate_series(1, 50) g"
    mapping = docs_source(source, tmp_path, docs, note="retail: none")
    copied = cli("copy", mapping, source, nw, retail, "--capture")
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["capture"]["uncaptured"] == ["note"]
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("UPDATE doc SET code = 'D1-new' WHERE code = 'D1'")
        conn.exec_driver_sql("UPDATE doc SET rev = 2 WHERE code = 'D2'")
        conn.exec_driver_sql("DELETE FROM doc WHERE code = 'D3'")
        conn.exec_driver_sql("TRUNCATE tag")
        conn.exec_driver_sql("INSERT INTO tag VALUES ('c')")
        conn.exec_driver_sql("UPDATE note SET said = '3' WHERE who = 'x'")  # allowed: note is not published
    followed = follow(mapping, source, nw, retail)
    assert followed.returncode == 0, followed.stderr
    assert sorted(json.loads(followed.stdout)["resynced"]) == ["note", "tag"]
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail)


def one_table(source: str, tmp_path, table: str, columns: str, *statements: str):  # noqa: ANN001, ANN201
    """A source of one table, made by `statements`, that both stores receive whole; and its mapping."""
    with engine_for(source).begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    mapping = tmp_path / f"{table}.yaml"
    mapping.write_text(
        f"version: 1\nsystem: {table}\naffiliate: {{name: A, retailer_codes: [A0001]}}\ntables:\n  {table}:\n"
        f"    retail: all\n    columns: {{{columns}}}\nwaves:\n  - {{name: all, tables: [{table}]}}\n",
        encoding="utf-8",
    )
    return mapping


def follow_one_table(dbs, tmp_path, table: str, columns: str, made: tuple[str, ...], changes: tuple[str, ...]):  # noqa: ANN001, ANN201
    """A one-table source (`made`) copied with `--capture` into PostgreSQL stores, changed (`changes`), then
    followed: the follow's report, once the stores are shown to equal a fresh copy of the changed source."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    mapping = one_table(source, tmp_path, table, columns, *made)
    assert cli("copy", mapping, source, nw, retail, "--capture").returncode == 0
    with engine_for(source).begin() as conn:
        for statement in changes:
            conn.exec_driver_sql(statement)
    followed = follow(mapping, source, nw, retail)
    assert followed.returncode == 0, followed.stderr
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail)
    return json.loads(followed.stdout)


@pytest.mark.postgresql
def test_a_padded_char_key_is_followed_by_staged_statements(dbs, logical, tmp_path):
    """A CHAR(n) key (the server pads it) read back by an array of its own type, and a few hundred changes of
    each kind, so that each store takes them by staged statements: exactly those rows are rewritten, deleted
    and inserted. A key compared as text instead of as CHAR(8) would miss every row."""
    report = follow_one_table(
        dbs, tmp_path, "lot", "code: shared, qty: shared",
        ("CREATE TABLE lot (code char(8) PRIMARY KEY, qty int NOT NULL)",
         "INSERT INTO lot SELECT 'L' || g, g FROM generate_series(1, 1000) g"),
        ("UPDATE lot SET qty = -qty WHERE qty <= 600 AND qty %% 3 = 0",  # 200 rows
         "DELETE FROM lot WHERE qty > 850",  # 150
         "INSERT INTO lot SELECT 'N' || g, g FROM generate_series(1, 120) g"),
    )  # fmt: skip
    rows = report["rows"]
    assert rows["nw"] == rows["retail"] == {"inserted": 120, "updated": 200, "deleted": 150}, rows
    assert min(rows["nw"].values()) >= SET_BASED_ROWS  # each kind by a staged statement
    assert sorted(report["piped"]) == ["nw:lot", "retail:lot"]  # the rows went server to server
    assert {"read", "keys", "read:nw", "write:nw", "read:retail", "write:retail"} <= set(report["steps"])


@pytest.mark.postgresql
def test_a_natural_key_is_followed_by_piped_rows(dbs, logical, tmp_path):
    """A key of a padded code, a date and a slot (the 30-minute readings' shape): the keys travel as one array
    per column, each of its own type, unnested side by side. Exactly the changed rows are rewritten, deleted
    and inserted, and the stores equal a fresh copy; with the arrays paired wrongly (or compared as text) the
    counts or the stores would differ."""
    report = follow_one_table(
        dbs, tmp_path, "meter_read", "code: shared, day: shared, slot: shared, kwh: shared",
        ("CREATE TABLE meter_read (code char(8), day date, slot smallint, kwh int NOT NULL,"
         " PRIMARY KEY (code, day, slot))",
         "INSERT INTO meter_read SELECT 'M' || (g %% 50), DATE '2024-04-01' + (g / 50) %% 10, g / 500, g"
         " FROM generate_series(0, 1999) g"),
        ("UPDATE meter_read SET kwh = -kwh WHERE kwh %% 10 = 3",  # 200 rows
         "DELETE FROM meter_read WHERE kwh >= 1850",  # 135 (15 of the 150 were negated)
         "INSERT INTO meter_read SELECT 'N' || g, DATE '2024-05-01', 1, g FROM generate_series(1, 120) g",
         "UPDATE meter_read SET slot = slot + 10 WHERE code = 'M7' AND slot = 0"),  # 10 keys moved
    )  # fmt: skip
    assert sorted(report["piped"]) == ["nw:meter_read", "retail:meter_read"], report
    moved = 10  # each key move is a deletion and an insertion
    expected = {"inserted": 120 + moved, "updated": 200, "deleted": 135 + moved}
    assert report["rows"]["nw"] == report["rows"]["retail"] == expected, report


@pytest.mark.postgresql
def test_a_table_keyed_by_every_column_is_followed_by_piped_rows(dbs, logical, tmp_path):
    """A link table (every column in its key): a row the store holds is the staged row already, so it counts
    as held (updated), not as written short; new links are inserted, removed ones deleted."""
    report = follow_one_table(
        dbs, tmp_path, "link", "a: shared, b: shared",
        ("CREATE TABLE link (a int, b text, PRIMARY KEY (a, b))",
         "INSERT INTO link SELECT g, 'b' || g FROM generate_series(1, 600) g"),
        ("UPDATE link SET b = b || 'x' WHERE a <= 150",  # a key change: delete and insert
         "UPDATE link SET b = b WHERE a BETWEEN 200 AND 299",  # touched, held, unchanged
         "DELETE FROM link WHERE a > 500",
         "INSERT INTO link SELECT g, 'n' || g FROM generate_series(1, 130) g"),
    )  # fmt: skip
    assert sorted(report["piped"]) == ["nw:link", "retail:link"], report
    assert report["rows"]["nw"] == report["rows"]["retail"] == {"inserted": 280, "updated": 100, "deleted": 250}


@pytest.mark.postgresql
def test_an_insert_the_retail_store_swallows_fails_the_follow(dbs, logical, tmp_path):
    """The retail side adds a trigger that drops every new row of a link table (every column in its key). The
    rows written must equal the rows piped: the follow fails (exit 3) and applies nothing, instead of
    counting the swallowed rows as held."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    mapping = one_table(
        source, tmp_path, "link", "a: shared, b: shared",
        "CREATE TABLE link (a int, b text, PRIMARY KEY (a, b))",
        "INSERT INTO link SELECT g, 'b' || g FROM generate_series(1, 300) g",
    )  # fmt: skip
    assert cli("copy", mapping, source, nw, retail, "--capture").returncode == 0
    with engine_for(retail, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE FUNCTION swallow() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END'")
        conn.exec_driver_sql("CREATE TRIGGER swallow BEFORE INSERT ON link FOR EACH ROW EXECUTE FUNCTION swallow()")
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("UPDATE link SET b = b WHERE a <= 100")  # touched, held
        conn.exec_driver_sql("INSERT INTO link SELECT g, 'n' || g FROM generate_series(1, 150) g")
    followed = follow(mapping, source, nw, retail)
    assert followed.returncode == 3, followed.stderr
    assert "read from the source, but" in " ".join(followed.stderr.split())
    assert count(retail, "link") == 300


@pytest.mark.postgresql
def test_a_percent_sign_in_the_retail_scope_means_itself_in_the_piped_rows(dbs, logical, tmp_path):
    """The piped SELECT is bound by psycopg, which reads `%%` as `%`: the retail scope `retailer_code IN ('R%1')`
    selects that retailer's rows in the follow as in the copy, and a customer coming to it arrives."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE code_book (code varchar(12) PRIMARY KEY, retailer_code varchar(10) NOT NULL, qty int NOT NULL)"
        )
        conn.exec_driver_sql(
            "INSERT INTO code_book SELECT 'c%%' || g, CASE WHEN g %% 2 = 0 THEN 'R%%1' ELSE 'X' END, g"
            " FROM generate_series(1, 600) g"
        )
    mapping = tmp_path / "pct.yaml"
    mapping.write_text(
        "version: 1\nsystem: pct\naffiliate: {name: A, retailer_codes: ['R%1']}\ntables:\n  code_book:\n"
        "    retail: {own: retailer_code}\n    columns: {code: shared, retailer_code: shared, qty: shared}\n"
        "waves:\n  - {name: all, tables: [code_book]}\n",
        encoding="utf-8",
    )
    assert cli("copy", mapping, source, nw, retail, "--capture").returncode == 0
    assert count(retail, "code_book") == 300
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql("UPDATE code_book SET qty = -qty WHERE qty <= 300")  # 150 of them the affiliate's
        conn.exec_driver_sql("UPDATE code_book SET retailer_code = 'R%%1' WHERE qty > 500 AND retailer_code = 'X'")
    followed = follow(mapping, source, nw, retail)
    assert followed.returncode == 0, followed.stderr
    report = json.loads(followed.stdout)
    assert report["rows"]["retail"] == {"inserted": 50, "updated": 150, "deleted": 0}, report
    assert sorted(report["piped"]) == ["nw:code_book", "retail:code_book"]
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail)


@pytest.mark.postgresql
def test_capture_status_and_drop(dbs, logical, tmp_path):
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    mapping = one_table(source, tmp_path, "tag", "name: shared", "CREATE TABLE tag (name varchar(12) PRIMARY KEY)")
    assert cli("copy", mapping, source, nw, retail, "--capture").returncode == 0
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("INSERT INTO tag SELECT 't' || g FROM generate_series(1, 1000) g")
    status = run_cli("capture", "status", "--source", source, "--json")
    assert status.returncode == 0, status.stderr
    database = sa.make_url(source).database
    [mine] = [s for s in json.loads(status.stdout)["slots"] if s["database"] == database]
    assert mine["behind_bytes"] > 0 and mine["retained_bytes"] >= mine["behind_bytes"]

    human = run_cli("capture", "status", "--source", source)
    assert mine["name"] in human.stdout and "WAL kept" in human.stdout

    stores = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    calm = run_cli("verify", *stores, env=ENV)  # fails: the stores lack the new rows (nobody followed)
    mine_now = [c for c in json.loads(calm.stdout)["checks"] if c["id"] == "capture.retained"]
    assert [c["status"] for c in mine_now if mine["name"] in c["message"]] == ["pass"]
    warned = run_cli("verify", *stores, env={**ENV, "BUNKATSU_CAPTURE_WARN_WAL": "1kB"})
    assert warned.returncode == calm.returncode == 1, "a warning leaves the verdict alone"
    [warning] = [c for c in json.loads(warned.stdout)["checks"] if mine["name"] in c["message"]]
    assert warning["id"] == "capture.retained" and warning["status"] == "warn", warning
    assert "capture drop" in warning["message"] and "BUNKATSU_CAPTURE_WARN_WAL" in warning["message"]
    nonsense = run_cli("verify", *stores, env={**ENV, "BUNKATSU_CAPTURE_WARN_WAL": "lots"})
    assert nonsense.returncode == 2 and "BUNKATSU_CAPTURE_WARN_WAL" in nonsense.stderr, nonsense.stderr

    dropped = run_cli("capture", "drop", "--mapping", str(mapping), "--source", source, "--json")
    assert json.loads(dropped.stdout) == {"slot": mine["name"], "dropped": True}
    after = json.loads(run_cli("capture", "status", "--source", source, "--json").stdout)
    assert all(s["database"] != database for s in after["slots"])
    gone = follow(mapping, source, nw, retail)
    assert gone.returncode == 2 and "copy --capture" in gone.stderr and "Traceback" not in gone.stderr


def test_capture_usage_errors(dbs, tmp_path):
    from tests.helpers import MAPPING

    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 10, 3)
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    sqlite = cli("copy", MAPPING, source, nw, retail, "--capture")
    assert sqlite.returncode == 2 and "PostgreSQL, MariaDB or MySQL source" in sqlite.stderr
    assert "checksum" in sqlite.stderr
    assert sa.inspect(engine_for(nw)).get_table_names() == [], "nothing written"
    alone = run_cli(
        "sync", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, "--until-idle", env=ENV
    )
    assert alone.returncode == 2 and "--until-idle goes with --follow" in alone.stderr


def test_a_wave_night_with_capture_follows_in_the_freeze_and_drops_the_slot_at_the_last_switch(
    dbs, capturing, tmp_path
):
    source, nw, retail = dbs.url(capturing, "src"), dbs.url(capturing, "nw"), dbs.url(capturing, "rt")
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tag (name varchar(12) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO tag VALUES ('a'), ('b')")
    mapping = tmp_path / "tags.yaml"
    mapping.write_text(
        "version: 1\nsystem: tags\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  tag:\n    retail: all\n    columns: {name: shared}\nwaves:\n  - {name: all, tables: [tag]}\n",
        encoding="utf-8",
    )
    assert cli("copy", mapping, source, nw, retail, "--capture").returncode == 0  # days before
    with engine_for(source).begin() as conn:  # the shared system keeps working until the freeze
        conn.exec_driver_sql("INSERT INTO tag VALUES ('c')")
        conn.exec_driver_sql("DELETE FROM tag WHERE name = 'a'")
    stores = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    before = json.loads(run_cli("cutover", "status", *stores, env=ENV).stdout)
    assert before["capture"]["behind_bytes"] > 0, "cutover status shows the capture's lag"
    night = run_cli("cutover", "run", "--wave", "all", "--yes", "--reports", str(tmp_path), *stores, env=ENV)
    assert night.returncode == 0, night.stderr
    steps = {s["step"]: s["message"] for s in json.loads(night.stdout)["steps"]}
    assert steps["final-sync"].startswith("2 captured change(s) applied"), steps["final-sync"]
    with engine_for(retail).connect() as conn:
        assert sorted(conn.exec_driver_sql("SELECT name FROM tag").scalars()) == ["b", "c"]
    if capturing == "mariadb":  # nothing on the source to drop: the binlog expires on its own
        assert "dropped" not in steps["switched"]
        return
    assert "dropped (the last wave is switched)" in steps["switched"]
    status = json.loads(run_cli("capture", "status", "--source", source, "--json").stdout)
    assert all(s["database"] != sa.make_url(source).database for s in status["slots"])


@pytest.mark.postgresql
def test_an_account_that_may_not_publish_gets_a_database_error_not_a_bug(dbs, logical, tmp_path):
    """The capture's own connection is psycopg's, not SQLAlchemy's: a refusal there (here: CREATE PUBLICATION
    by an account that does not own the table) is a database error with its reason (exit 3), never "a bug",
    and it shows no password."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    role = f"bk_nopub_{sa.make_url(source).database[-10:]}"
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tag (name varchar(12) PRIMARY KEY)")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD 'sekret-pw' REPLICATION")
        conn.exec_driver_sql(f"GRANT SELECT ON tag TO {role}")
    try:
        mapping = tmp_path / "tags.yaml"
        mapping.write_text(
            "version: 1\nsystem: tags\naffiliate: {name: A, retailer_codes: [A0001]}\n"
            "tables:\n  tag:\n    retail: all\n    columns: {name: shared}\nwaves:\n  - {name: all, tables: [tag]}\n",
            encoding="utf-8",
        )
        as_role = sa.make_url(source).set(username=role, password="sekret-pw").render_as_string(hide_password=False)
        refused = cli("copy", mapping, as_role, nw, retail, "--capture")
        assert refused.returncode == 3, refused.stderr
        assert "database error: InsufficientPrivilege" in refused.stderr and "bug" not in refused.stderr
        assert "sekret-pw" not in refused.stderr + refused.stdout
    finally:
        with engine_for(source).begin() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")


@pytest.mark.mariadb
def test_binlog_capture_key_changes_statements_keyless_tables_and_a_purged_position(dbs, tmp_path):
    """On MariaDB: a key change, a TRUNCATE, an UPDATE a session logged as a statement (no row image) and a
    table without a primary key all end like a fresh copy; a position the server no longer holds (its binlog
    expired) is made up by a checksum sync of every table, never lost."""
    require_capture_settings(dbs, "mariadb")
    source, nw, retail = dbs.url("mariadb", "src"), dbs.url("mariadb", "nw"), dbs.url("mariadb", "rt")
    docs = "INSERT INTO doc VALUES ('D1', 'ａ', 1), ('D2', 'b', 1), ('D3', 'c', 1), ('D4', 'd', 1)"
    mapping = docs_source(source, tmp_path, docs, note="retail: all\n    columns: {who: shared, said: shared}")
    copied = cli("copy", mapping, source, nw, retail, "--capture")
    assert copied.returncode == 0, copied.stderr
    capture = json.loads(copied.stdout)["capture"]
    assert capture["created"] and capture["position"].startswith("mariadb-bin.") and capture["uncaptured"] == []
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("UPDATE doc SET code = 'D1-new' WHERE code = 'D1'")
        conn.exec_driver_sql("DELETE FROM doc WHERE code = 'D3'")
        conn.exec_driver_sql("UPDATE note SET said = '3' WHERE who = 'x'")  # no key: the table is compared
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("TRUNCATE tag")
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("INSERT INTO tag VALUES ('c')")
    with engine_for(source).connect() as conn:
        conn.exec_driver_sql("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.exec_driver_sql("SET SESSION binlog_format = 'STATEMENT'")
        conn.exec_driver_sql("UPDATE doc SET rev = rev + 1 WHERE code = 'D2'")  # logged as SQL: no keys
        conn.commit()
        conn.exec_driver_sql("SET SESSION binlog_format = 'ROW'")  # the connection goes back to the pool
    followed = follow(mapping, source, nw, retail)
    assert followed.returncode == 0, followed.stderr
    report = json.loads(followed.stdout)
    assert sorted(report["resynced"]) == ["doc", "note", "tag"], report
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail, "mariadb")

    from split.capture import binlog

    with binlog.connect(source) as elsewhere, elsewhere.cursor() as cur:  # a session in no database
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SET SESSION binlog_format = 'STATEMENT'")
        cur.execute(f"UPDATE `{sa.make_url(source).database}`.doc SET rev = rev + 5 WHERE code = 'D2'")
    named = json.loads(follow(mapping, source, nw, retail).stdout)
    assert named["resynced"] == ["doc"] and named["transactions"] == 1, named
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail, "mariadb")

    from split import ledger

    for url in (nw, retail):  # as if bunkatsu had recorded a position the server has purged since
        with engine_for(url, writer=True).begin() as conn:
            held = conn.execute(sa.select(ledger.ledger).where(ledger.ledger.c.table_name == ledger.FOLLOW_ROW))
            for row in held.mappings().all():  # through the ledger's writer: its evidence chain records it
                kept = {k: v for k, v in row.items() if k in ledger.LedgerEntry.__dataclass_fields__}
                ledger.replace(conn, ledger.LedgerEntry(**{**kept, "checksum": "binlog:mariadb-bin.000000:4"}))
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("UPDATE doc SET body = 'changed while nobody followed' WHERE code = 'D4'")
    status = json.loads(run_cli("cutover", "status", "--mapping", str(mapping), "--source", source, "--nw", nw,
                                "--retail", retail, "--json", env=ENV).stdout)  # fmt: skip
    assert status["capture"]["wal_status"] == "purged", status["capture"]
    made_up = follow(mapping, source, nw, retail)
    assert made_up.returncode == 0, made_up.stderr
    assert sorted(json.loads(made_up.stdout)["resynced"]) == ["doc", "note", "tag"]
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail, "mariadb")
    with engine_for(source).begin() as conn:
        conn.exec_driver_sql("UPDATE doc SET rev = 9 WHERE code = 'D4'")
    onwards = json.loads(follow(mapping, source, nw, retail).stdout)
    assert onwards["transactions"] == 1 and onwards["resynced"] == [], "the capture goes on from the new position"
    assert_like_a_fresh_copy(dbs, mapping, source, nw, retail, "mariadb")


@pytest.mark.mariadb
def test_a_binlog_setting_the_capture_needs_is_named(dbs):
    """`copy --capture` checks the server's binlog settings before anything is written: one that is off is
    named with the value it needs (exit 2). binlog_format is the one a session can change, so the check is
    run on such a session (the others need a restart of the shared server)."""
    from split.capture import binlog
    from split.errors import ConfigError

    require_capture_settings(dbs, "mariadb")
    url = dbs.url("mariadb", "src")
    with binlog.connect(url) as conn:
        binlog.require_row_binlog(conn, "mysql://…/src")  # the server as .ci/run sets it
        with conn.cursor() as cur:
            cur.execute("SET SESSION binlog_format = 'MIXED'")
        with pytest.raises(ConfigError) as refused:
            binlog.require_row_binlog(conn, "mysql://…/src")
    assert "binlog_format = MIXED" in str(refused.value) and "binlog_format = ROW" in str(refused.value)
    assert "runbooks/wave.md" in (refused.value.hint or "")
    status = run_cli("capture", "status", "--source", url)
    assert status.returncode == 0 and "keeps nothing on the server" in status.stdout, status.stderr
    assert json.loads(run_cli("capture", "status", "--source", url, "--json").stdout) == {"slots": []}


def test_a_statement_names_a_table_however_it_is_spelt():
    """A TRUNCATE, DDL or statement-logged DML makes the follow compare the tables it names: a name with
    characters outside a word (MariaDB allows them quoted), in another case, or with a quoted backtick is
    still found; a longer name that contains it is not the table."""
    from split.capture.readers import _tables_named

    tables = {"使用量-2024", "doc", "a`b", "tag"}
    assert _tables_named("TRUNCATE `使用量-2024`", tables) == {"使用量-2024"}
    assert _tables_named("truncate table DOC", tables) == {"doc"}
    assert _tables_named("DELETE FROM `a``b` WHERE 1", tables) == {"a`b"}
    assert _tables_named("UPDATE `src`.`doc` SET rev = 1", tables) == {"doc"}
    assert _tables_named("UPDATE docs SET tags = 1", tables) == set()


@pytest.mark.postgresql
def test_a_staged_statement_that_fails_raises_its_own_error(dbs):
    """The staged statements turn hash joins off for themselves and put the settings back after; when the
    statement fails, its own error is raised (a NOT NULL broken), not the aborted transaction's that putting
    the settings back would meet."""
    from split.engine import pgcopy

    store = dbs.url("postgresql", "store")
    with engine_for(store).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE lot (code int PRIMARY KEY, qty int NOT NULL)")
        conn.exec_driver_sql("INSERT INTO lot SELECT g, g FROM generate_series(1, 200) g")
    with pytest.raises(sa.exc.DBAPIError) as raised, engine_for(store).begin() as conn:
        pgcopy.update_by_key(conn, "lot", ["code", "qty"], ["code"], [(g, None) for g in range(1, 150)])
    assert "NotNullViolation" in type(raised.value.orig).__name__ or "not-null" in str(raised.value), raised.value
    with engine_for(store).begin() as conn:
        assert [tuple(r) for r in pgcopy.update_by_key(conn, "lot", ["code", "qty"], ["code"], [(1, 7)])] == [(1,)]
        settings = conn.exec_driver_sql("SELECT current_setting('enable_hashjoin')").scalar_one()
    assert settings == "on", "put back for the transaction's other statements"


column_value = st.none() | st.just("unchanged") | st.text(alphabet="aZ0 '\\%日本ｱ", max_size=5)


def _relation(columns: tuple[str, ...], key: tuple[str, ...], type_oid: int = 25) -> bytes:
    relation = b"R" + struct.pack("!I", 7) + b"public\0t\0" + struct.pack("!bh", ord("d"), len(columns))
    for name in columns:
        relation += bytes([1 if name in key else 0]) + name.encode() + b"\0" + struct.pack("!Ii", type_oid, -1)
    return relation


def _tuple(marker: str, row: Sequence[str | None]) -> bytes:
    data = marker.encode() + struct.pack("!h", len(row))
    for value in row:
        if value is None:
            data += b"n"
        elif value == "unchanged":
            data += b"u"
        else:
            data += b"t" + struct.pack("!i", len(value.encode())) + value.encode()
    return data


def _decoded(*messages: bytes) -> Decoder:
    decoder = Decoder()
    for message in (b"B" + bytes(20), *messages, b"C" + struct.pack("!bqqq", 0, 1, 2, 3)):
        decoder.feed(message)
    return decoder


@given(
    rows=st.lists(st.lists(column_value, min_size=3, max_size=3), min_size=1, max_size=2),
    key=st.sampled_from([("a",), ("c",), ("a", "c"), ("b", "c")]),
    deleted=st.booleans(),
)
def test_the_decoder_takes_each_tuples_key_columns_and_steps_over_the_rest(rows, key, deleted):
    """pgoutput messages built byte by byte: an insert (its new row), a delete (its old row) or an update (its old
    row, then its new one). The key is read from its columns (in the table's column order), every other column
    stepped over by its length (a column decoded by the wrong length shifts every key after it)."""
    columns = ("a", "b", "c")
    if len(rows) == 2:
        change = b"U" + struct.pack("!I", 7) + _tuple("O", rows[0]) + _tuple("N", rows[1])
    else:
        change = (b"D" if deleted else b"I") + struct.pack("!I", 7) + _tuple("O" if deleted else "N", rows[0])
    [txn] = _decoded(_relation(columns, key), change).committed
    expected = {
        tuple(None if row[columns.index(k)] == "unchanged" else row[columns.index(k)] for k in key) for row in rows
    }
    assert txn.keys["t"] == expected and txn.changes == 1


def test_an_integer_key_is_decoded_as_an_int_and_a_text_key_is_left_to_the_source():
    """An int8/int4/int2 key needs no cast by the source (its text is an int's); any other type is left as
    text, for the source to cast back to its own type (a `char(8)` or a date Python would type otherwise)."""
    change = b"I" + struct.pack("!I", 7) + _tuple("N", ["42", "x", None])
    typed = _decoded(_relation(("a", "b", "c"), ("a",), type_oid=20), change)
    assert typed.committed[0].keys["t"] == {(42,)} and typed.text_keyed == set()
    text = _decoded(_relation(("a", "b", "c"), ("a",), type_oid=1042), change)
    assert text.committed[0].keys["t"] == {("42",)} and text.text_keyed == {"t"}
