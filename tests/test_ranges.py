"""Key ranges (`split.ranges`): every row in exactly one partition, in every engine, whatever the key.

The oracle is Python's order of tuples (`str` compares by code point): each engine, evaluating the range
conditions itself, must put every row into the partition Python puts it in — with keys of mixed widths,
case, kana, trailing spaces, quotes and backslashes, where a collation (MariaDB's case-insensitive
default, a linguistic one on PostgreSQL) would order them differently.
"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from split.db import engine_for
from split.ranges import EXACT_UP_TO, Partition, in_range, range_count, sample_bounds
from tests.conftest import BACKEND_PARAMS, sample_source
from tests.helpers import MAPPING, TEST_KEY, copy, run_cli

ALPHABET = "aAbBzZ09 ｱアあァ亜ßéeÉ'\\%_-０"
texts = st.text(alphabet=ALPHABET, max_size=6)
key = st.tuples(texts, st.integers(-3, 3))
# a store's row may have a NULL key (the retail side can drop a NOT NULL): it belongs to the first range
stored_key = st.tuples(st.none() | texts, st.none() | st.integers(-3, 3))


def key_table(url: str) -> sa.Table:
    """No primary key: MariaDB's default collation would refuse 'a' and 'A' as duplicates."""
    table = sa.Table(
        "k",
        sa.MetaData(),
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("a", sa.String(20)),
        sa.Column("b", sa.Integer),
    )
    table.create(engine_for(url, writer=True), checkfirst=True)
    return table


def refill(conn: sa.Connection, table: sa.Table, rows: list[tuple[str, int]]) -> None:
    conn.execute(table.delete())
    conn.execute(table.insert(), [{"id": i, "a": a, "b": b} for i, (a, b) in enumerate(rows)])


def partitions(bounds: list[tuple]) -> list[Partition]:
    edges = [None, *bounds, None]
    return [Partition(i, edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_every_row_falls_in_the_partition_binary_order_gives_it_in_every_engine(backend, dbs):
    url = dbs.url(backend, "ranges")
    table = key_table(url)
    engine = engine_for(url, writer=True)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(stored_key, min_size=1, max_size=30), cuts=st.lists(key, min_size=1, max_size=4))
    def check(rows: list[tuple[str | None, int | None]], cuts: list[tuple[str, int]]) -> None:
        bounds = sorted(set(cuts))
        with engine.begin() as conn:
            refill(conn, table, rows)
            seen: dict[int, int] = {}
            for part in partitions(bounds):
                stmt = in_range(sa.select(table.c.id), [table.c.a, table.c.b], part)
                for (row_id,) in conn.execute(stmt):
                    assert row_id not in seen, f"row {rows[row_id]!r} in partitions {seen[row_id]} and {part.no}"
                    seen[row_id] = part.no
        for i, row_key in enumerate(rows):
            expected = 0 if None in row_key else bisect.bisect_right(bounds, row_key)
            assert seen.get(i) == expected, f"{row_key!r} with bounds {bounds!r}"

    check()


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_bounds_sampled_in_the_database_are_binary_order_quantiles(backend, dbs):
    url = dbs.url(backend, "quantiles")
    table = key_table(url)
    engine = engine_for(url, writer=True)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(key, min_size=4, max_size=40), per=st.integers(2, 9))
    def check(rows: list[tuple[str, int]], per: int) -> None:
        with engine.begin() as conn:
            refill(conn, table, rows)
            bounds = sample_bounds(conn, table, ("a", "b"), (True, False), len(rows), per)
        ordered = sorted(rows)
        count = range_count(len(rows), per)
        expected = sorted({ordered[i * len(rows) // count] for i in range(1, count)}) if count > 1 else []
        assert bounds == expected

    check()


def skewed_ids(n: int) -> list[int]:
    """Ids that jump by millions after a system migration, and again after a second one."""
    third = n // 3
    return [*range(third), *range(5_000_000, 5_000_000 + third), *range(10**12, 10**12 + n - 2 * third)]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_partitions_of_a_skewed_integer_key_hold_about_the_same_rows(backend, dbs):
    url = dbs.url(backend, "skew")
    table = sa.Table("s", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False))
    engine = engine_for(url, writer=True)
    table.create(engine)
    ids = skewed_ids(9_000)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i} for i in ids])
        bounds = sample_bounds(conn, table, ("id",), (False,), len(ids), 1_000)
        sizes = [
            conn.execute(in_range(sa.select(sa.func.count()).select_from(table), [table.c.id], p)).scalar_one()
            for p in partitions(bounds)
        ]
    assert len(sizes) == 9 and sum(sizes) == len(ids)
    assert all(750 <= s <= 1_250 for s in sizes), sizes


@pytest.mark.postgresql
def test_a_big_postgresql_table_is_sampled_repeatably_and_stays_balanced(dbs):
    """Above EXACT_UP_TO rows PostgreSQL samples (TABLESAMPLE BERNOULLI … REPEATABLE): the same bounds on
    every run of the same source, each range within ±25 % of `rows:`."""
    url = dbs.url("postgresql", "sampled")
    rows = EXACT_UP_TO + 100_000
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE big (id bigint PRIMARY KEY)")
        # skewed: a dense block, then ids spread a million apart
        conn.exec_driver_sql(f"INSERT INTO big SELECT g FROM generate_series(1, {rows // 2}) g")
        conn.exec_driver_sql(
            f"INSERT INTO big SELECT g::bigint * 1000000 FROM generate_series(1, {rows - rows // 2}) g"
        )
    table = sa.Table("big", sa.MetaData(), autoload_with=engine_for(url))
    with engine_for(url).connect() as conn:
        first = sample_bounds(conn, table, ("id",), (False,), rows, 50_000)
        again = sample_bounds(conn, table, ("id",), (False,), rows, 50_000)
        sizes = [
            conn.execute(in_range(sa.select(sa.func.count()).select_from(table), [table.c.id], p)).scalar_one()
            for p in partitions(first)
        ]
    assert first == again
    assert len(sizes) == 12 and sum(sizes) == rows
    assert all(37_500 <= s <= 62_500 for s in sizes), sizes


@pytest.mark.postgresql
def test_a_sample_sorted_by_the_server_gives_the_quantiles_python_sorting_gives(dbs):
    """The sample of a big table is sorted by the server and streamed (memory holds the picks only): its
    quantiles must be those of the same sample sorted here, by code point, with text keys whose linguistic
    order differs (case, kana, width) and a second key column."""
    from split.ranges import SAMPLE_SEED

    url = dbs.url("postgresql", "sampledtext")
    rows = EXACT_UP_TO + 20_000
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql(  # a linguistic collation: the server sorts otherwise unless told "C"
            'CREATE TABLE big (k varchar(12) COLLATE "und-x-icu" NOT NULL, n int NOT NULL, PRIMARY KEY (k, n))'
        )
        conn.exec_driver_sql(
            "INSERT INTO big SELECT (ARRAY['a','B','ｱ','あ','Ａ','b'])[1 + g %% 6] || (g / 7)::text, g %% 7"
            f" FROM generate_series(0, {rows - 1}) g"
        )
    table = sa.Table("big", sa.MetaData(), autoload_with=engine_for(url))
    count = range_count(rows, 10_000)
    with engine_for(url).connect() as conn:
        bounds = sample_bounds(conn, table, ("k", "n"), (True, False), rows, 10_000)
        fraction = min(1.0, count * 400 / rows)
        sample = sorted(
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT k, n FROM big TABLESAMPLE BERNOULLI ({fraction * 100:.6f}) REPEATABLE ({SAMPLE_SEED})"
            )
        )
    assert len(bounds) == count - 1
    assert bounds == sorted({sample[i * len(sample) // count] for i in range(1, count)})


# ── through the CLI ──────────────────────────────────────────────────────────────────────────


def plan_json(mapping: Path, source: str) -> dict:
    result = run_cli("plan", "--mapping", str(mapping), "--source", source, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_shows_the_natural_key_bounds(tmp_path, dbs):
    from split.sample.generate import generate

    source = dbs.url("sqlite", "src")
    generate(source, 120, 5)
    plan = plan_json(MAPPING, source)
    table = next(t for t in plan["tables"] if t["name"] == "generation_reading_30min")
    assert table["key"] == ["supply_point_id", "reading_date", "slot"]
    parts = table["partitions"]
    assert len(parts) > 1 and parts[0]["lo"] is None and parts[-1]["hi"] is None
    for before, after in zip(parts, parts[1:], strict=False):
        assert before["hi"] == after["lo"] and len(after["lo"]) == 3  # contiguous, one value per key column
        spid, day, slot = after["lo"]
        assert isinstance(spid, str) and len(day) == 10 and isinstance(slot, int)


def keyless_source(url: str, duplicate: bool) -> None:
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy (code VARCHAR(10) NOT NULL, day DATE NOT NULL, note VARCHAR(20))")
        rows = [{"c": f"C{i:04d}", "d": "2024-01-01"} for i in range(50)]
        if duplicate:
            rows.append(rows[7])
        conn.execute(sa.text("INSERT INTO legacy VALUES (:c, :d, NULL)"), rows)


def keyless_mapping(tmp_path: Path, partition: str) -> Path:
    path = tmp_path / "legacy.yaml"
    path.write_text(
        "version: 1\nsystem: legacy\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  legacy:\n    retail: none\n"
        f"    partition: {partition}\n"
        "waves:\n  - {name: all, tables: [legacy]}\n",
        encoding="utf-8",
    )
    return path


def test_a_table_without_primary_key_is_cut_by_a_unique_declared_key(tmp_path, dbs):
    source = dbs.url("sqlite", "legacy")
    keyless_source(source, duplicate=False)
    plan = plan_json(keyless_mapping(tmp_path, "{by: [code, day], rows: 10}"), source)
    assert len(plan["tables"][0]["partitions"]) == 5 and plan["tables"][0]["warnings"] == []


def test_a_declared_key_that_is_not_unique_is_refused(tmp_path, dbs):
    source = dbs.url("sqlite", "legacy")
    keyless_source(source, duplicate=True)
    result = run_cli(
        "plan", "--mapping", str(keyless_mapping(tmp_path, "{by: [code, day], rows: 10}")), "--source", source
    )
    assert result.returncode == 2, result.stderr
    assert "not unique" in result.stderr and "legacy.yaml:" in result.stderr and "Traceback" not in result.stderr


def test_a_table_without_any_key_is_one_partition_and_plan_says_so(tmp_path, dbs):
    source = dbs.url("sqlite", "legacy")
    keyless_source(source, duplicate=True)
    mapping = keyless_mapping(tmp_path, "{rows: 10}")
    plan = plan_json(mapping, source)
    assert len(plan["tables"][0]["partitions"]) == 1 and "no primary key" in plan["tables"][0]["warnings"][0]
    shown = run_cli("plan", "--mapping", str(mapping), "--source", source, env={"BUNKATSU_ENCODE_KEY": TEST_KEY})
    assert shown.returncode == 0 and "one partition" in " ".join(shown.stderr.split())


def test_the_retail_store_is_never_sent_a_key_outside_its_scope(tmp_path, dbs):
    """Range bounds travel to the retail store in the statements that read and clear its ranges: each is a
    key the retail store holds, never a competitor's customer's supply point id; its ledger keeps none."""
    from split.sample.generate import generate

    source = dbs.url("sqlite", "src")
    generate(source, 120, 5)
    mapping = tmp_path / "small.yaml"
    mapping.write_text(
        MAPPING.read_text(encoding="utf-8").replace("rows: 20000", "rows: 300").replace("rows: 1000", "rows: 300")
    )
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    copied = copy(mapping, source, nw, retail)
    assert copied.returncode == 0, copied.stderr
    checked = 0
    for table in plan_json(mapping, source)["tables"]:
        if not any(s["store"] == "retail" for s in table["stores"]) or len(table["partitions"]) < 2:
            continue
        with engine_for(retail).connect() as conn:
            held = {
                tuple(str(v) for v in r)
                for r in conn.execute(sa.text(f"SELECT {', '.join(table['key'])} FROM {table['name']}"))
            }
        for part in table["partitions"][1:]:
            assert tuple(str(v) for v in part["lo"]) in held, (table["name"], part["no"])
            checked += 1
    assert checked > 10
    with engine_for(retail).connect() as conn:
        kept = conn.execute(
            sa.text("SELECT count(*) FROM bunkatsu_ledger WHERE key_range IS NOT NULL OR key_lo IS NOT NULL")
        ).scalar_one()
    assert kept == 0


DROP_KEY_CONSTRAINTS = {
    "postgresql": [
        "ALTER TABLE generation_reading_30min DROP CONSTRAINT generation_reading_30min_pkey",
        "ALTER TABLE generation_reading_30min ALTER COLUMN supply_point_id DROP NOT NULL",
    ],
    "mariadb": [
        "ALTER TABLE generation_reading_30min DROP FOREIGN KEY fk_generation_reading_30min_supply_point_id",
        "ALTER TABLE generation_reading_30min DROP PRIMARY KEY,"
        " MODIFY supply_point_id VARCHAR(22) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
    ],
    "sqlite": [  # SQLite cannot drop a constraint: the table is made again without any
        "CREATE TABLE bare (supply_point_id VARCHAR(22), reading_date DATE, slot SMALLINT, "
        "kwh_generated NUMERIC(9, 3), kwh_exported NUMERIC(9, 3))",
        "INSERT INTO bare SELECT * FROM generation_reading_30min",
        "DROP TABLE generation_reading_30min",
        "ALTER TABLE bare RENAME TO generation_reading_30min",
    ],
}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_a_row_whose_key_the_retail_side_nulled_does_not_hide_from_verify(backend, dbs, session_dbs):
    """The retail side drops the key's NOT NULL and adds a row whose natural key starts with a NULL: by
    comparison it is in no key range (every comparison with NULL is unknown), so the first range holds it
    and completeness counts it."""
    source = sample_source(session_dbs, backend)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "retail")
    assert copy(MAPPING, source, nw, retail).returncode == 0
    plan = plan_json(MAPPING, source)
    assert len(next(t for t in plan["tables"] if t["name"] == "generation_reading_30min")["partitions"]) > 1
    with engine_for(retail, writer=True).begin() as conn:
        for statement in DROP_KEY_CONSTRAINTS[backend]:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(
            "INSERT INTO generation_reading_30min (supply_point_id, reading_date, slot, kwh_generated, kwh_exported)"
            " SELECT NULL, reading_date, slot, kwh_generated, kwh_exported FROM generation_reading_30min"
            " WHERE slot = 25 ORDER BY supply_point_id, reading_date LIMIT 1"
        )
    args = ["--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail]
    result = run_cli(
        "verify", *args, "--tables", "generation_reading_30min", "--json", env={"BUNKATSU_ENCODE_KEY": TEST_KEY}
    )
    assert result.returncode == 1, result.stderr
    failed = {(c["id"], c["table"]) for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"}
    assert ("retail.completeness", "generation_reading_30min") in failed, failed


@pytest.mark.postgresql
def test_a_text_key_in_a_non_utf8_postgresql_database_is_refused_unless_ascii(tmp_path, dbs):
    """In EUC_JP, `COLLATE "C"` orders the encoding's bytes (ｱ before あ), not code points as the stores and
    Python do: a non-ASCII text key there is refused before anything is written; ASCII ids are accepted."""
    url = dbs.url("postgresql", "eucjp", create=False)
    name = sa.engine.make_url(url).database
    with engine_for(url.rsplit("/", 1)[0] + "/postgres", writer=True).connect() as admin:
        admin.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            f"CREATE DATABASE {name} ENCODING 'EUC_JP' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE legacy (code VARCHAR(10) PRIMARY KEY, day DATE NOT NULL, note VARCHAR(20))")
        conn.execute(
            sa.text("INSERT INTO legacy VALUES (:c, '2024-01-01', NULL)"), [{"c": f"C{i:04d}"} for i in range(50)]
        )
    mapping = keyless_mapping(tmp_path, "{rows: 10}")
    assert len(plan_json(mapping, url)["tables"][0]["partitions"]) == 5  # ASCII keys: accepted
    with engine_for(url, writer=True).begin() as conn:
        conn.execute(sa.text("INSERT INTO legacy VALUES (:c, '2024-01-01', NULL)"), [{"c": "ｱ"}, {"c": "あ"}])
    refused = run_cli("plan", "--mapping", str(mapping), "--source", url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "legacy.code" in message and "EUC_JP" in message and "legacy.yaml:" in message, message


@settings(max_examples=300, deadline=None)
@given(st.lists(key, unique=True), st.lists(key, min_size=1, unique=True))
def test_one_walk_finds_each_bounds_first_scoped_key(keys, bounds):
    """Without an index each bound's first retail key is found by one walk over the ordered keys: it must
    give, bound by bound, the first key at or above the bound and below the next one, or drop the bound."""
    from split.plan import _first_at_or_above

    bounds, keys = sorted(bounds), sorted(keys)
    expected = []
    for i, bound in enumerate(bounds):
        inside = [k for k in keys if k >= bound and (i + 1 == len(bounds) or k < bounds[i + 1])]
        if inside:
            expected.append(inside[0])
    assert _first_at_or_above(bounds, iter(keys)) == expected


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_retail_bounds_are_the_same_by_index_probes_and_by_one_read(backend, session_dbs):
    """The two ways of moving a natural key's bounds into the retail scope give the same bounds on every
    engine (the plan hash, and so every ledger row, depends on them)."""
    from split.plan import retail_visible
    from split.prepare import prepare
    from split.scope import source_table

    source = sample_source(session_dbs, backend)
    prep = prepare(MAPPING, source, stores=(), need_key=False)
    plan = prep.plan.table("generation_reading_30min")
    table = source_table(prep.schema, plan.name)
    text = (True, False, False)
    with engine_for(source).connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        bounds = sample_bounds(conn, table, plan.key, text, rows, 60)
        predicate = plan.store("retail").predicate_sql
        probed = retail_visible(conn, table, plan.key, text, bounds, predicate, indexed=True)
        walked = retail_visible(conn, table, plan.key, text, bounds, predicate, indexed=False)
    assert len(bounds) > 20
    assert probed != bounds, "no bound moved: the scope did not apply"
    assert walked == probed


@pytest.mark.postgresql
def test_one_pass_over_an_unindexed_text_key_sums_each_range_as_range_by_range_does(dbs, session_dbs, tmp_path):
    """Without an index in binary order every key range of the natural-key table would scan it: verify and sync
    then sum all its ranges in one pass per side, each row's range found in the server. Both ways must give
    every range the same count and checksum — also with a row changed in the last range, one gone from a middle
    one, and a store row whose key the retail side nulled (it belongs to the first range)."""
    from split.engine.compare import scanned, server_hash, summarise_range, summarise_scanned, summary_jobs
    from split.engine.partition import range_tasks
    from split.prepare import prepare

    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "retail")
    mapping = tmp_path / "small.yaml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8").replace("rows: 1000", "rows: 150"), encoding="utf-8")
    assert copy(mapping, source, nw, retail).returncode == 0
    prep = prepare(mapping, source, nw, retail, stores_exist=True, key=TEST_KEY.encode())
    table = prep.plan.table("generation_reading_30min")
    tasks = [
        t for t in range_tasks([table], source, prep.urls, prep.plan.hash, "", "t", None, None) if t.store == "retail"
    ]
    assert len(tasks) > 5 and scanned(tasks[0])
    assert summary_jobs(tasks) == [tuple(tasks)], "one job for the whole table"
    last, middle = tasks[-1].partition, tasks[len(tasks) // 2].partition
    with engine_for(retail, writer=True).begin() as conn:
        for statement in DROP_KEY_CONSTRAINTS["postgresql"]:
            conn.exec_driver_sql(statement)
        conn.execute(
            sa.text(
                "UPDATE generation_reading_30min SET kwh_generated = kwh_generated + 1 WHERE (supply_point_id, "
                "reading_date, slot) = (SELECT supply_point_id, reading_date, slot FROM generation_reading_30min "
                'ORDER BY supply_point_id COLLATE "C" DESC, reading_date DESC, slot DESC LIMIT 1)'
            )
        )
        conn.execute(
            sa.text(
                'DELETE FROM generation_reading_30min WHERE supply_point_id COLLATE "C" = :p AND reading_date = :d '
                "AND slot = :s"
            ),
            dict(zip("pds", middle.lo, strict=True)),
        )
        conn.exec_driver_sql(
            "INSERT INTO generation_reading_30min SELECT NULL, reading_date, slot, kwh_generated, kwh_exported"
            " FROM generation_reading_30min LIMIT 1"
        )
    one_pass = summarise_scanned(tasks, server_hash(tasks[0]))
    by_range = [summarise_range(t) for t in tasks]
    assert [(s.source, s.target) for s in one_pass] == [(s.source, s.target) for s in by_range]
    assert {s.task.partition.no for s in one_pass if s.differs} == {0, middle.no, last.no}


def test_a_percent_sign_in_a_bound_or_a_scope_value_means_itself_in_the_copys_stream(tmp_path, dbs):
    """PostgreSQL → PostgreSQL, the COPY stream sends its SELECT as it is: a `%` rendered for a driver that binds
    parameters (doubled) would compare keys and retailer codes against other strings, and rows would fall into
    other ranges than the ledger, `sync` and `verify` say, or out of the retail store's scope."""
    source = dbs.url("postgresql", "pct_src")
    codes = sorted({f"c{sep}{i:02d}" for i in range(40) for sep in ("%", "%%", "", "_")})
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql(
            'CREATE TABLE code_book (code VARCHAR(20) COLLATE "C" PRIMARY KEY, retailer_code VARCHAR(10) NOT NULL)'
        )
        conn.execute(
            sa.text("INSERT INTO code_book VALUES (:c, :r)"),
            [{"c": c, "r": "R%1" if i % 3 == 0 else "X"} for i, c in enumerate(codes)],
        )
    mapping = tmp_path / "pct.yaml"
    mapping.write_text(
        "version: 1\nsystem: pct\naffiliate: {name: A, retailer_codes: ['R%1']}\n"
        "tables:\n  code_book:\n    retail: {own: retailer_code}\n    partition: {rows: 12}\n"
        "    columns: {code: shared, retailer_code: shared}\n"
        "waves:\n  - {name: all, tables: [code_book]}\n",
        encoding="utf-8",
    )
    nw, retail = dbs.url("postgresql", "pct_nw"), dbs.url("postgresql", "pct_rt")
    copied = copy(mapping, source, nw, retail)
    assert copied.returncode == 0, copied.stderr
    with engine_for(retail).connect() as conn:
        held = {r[0] for r in conn.execute(sa.text("SELECT code FROM code_book"))}
    assert held == {c for i, c in enumerate(codes) if i % 3 == 0}
    with engine_for(nw).connect() as conn:
        ranges = conn.execute(
            sa.text("SELECT key_range, row_count FROM bunkatsu_ledger WHERE table_name = 'code_book'")
        ).all()
    assert len(ranges) > 5 and any("%" in (json.loads(r)["lo"] or [""])[0] for r, _n in ranges)
    for key_range, rows in ranges:
        bounds = json.loads(key_range)
        lo, hi = (bounds["lo"] or [None])[0], (bounds["hi"] or [None])[0]
        expected = [c for c in codes if (lo is None or c >= lo) and (hi is None or c < hi)]
        assert rows == len(expected), (lo, hi)
