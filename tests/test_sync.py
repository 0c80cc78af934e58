"""`sync` after the source moved on: edits, inserts, deletes and customers switching in both directions.

The oracle is independent of sync: a fresh copy of the changed source into new stores. After sync the
stores must equal it table by table, and `verify` must pass.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.sample.generate import AFFILIATE_CODE, generate
from split.sample.live import SWITCH, open_period, switch_customer
from split.sync import SET_BASED_ROWS
from tests.conftest import BACKEND_PARAMS
from tests.helpers import TEST_KEY, canonical_rows, column_names, run_cli, table_names

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}
TOOLKIT = {"bunkatsu_ledger", "bunkatsu_schema_version", "bunkatsu_journal", "bunkatsu_evidence"}


def cli(verb: str, mapping: Path, source: str, nw: str, retail: str, *extra: str, fault: str | None = None):
    args = [verb, "--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json", *extra]
    return run_cli(*args, env={**ENV, **({"BUNKATSU_FAULT": fault} if fault else {})})


def image(url: str) -> dict:
    return {t: canonical_rows(url, t, column_names(url, t)) for t in table_names(url) - TOOLKIT}


def change_the_source(url: str) -> dict:
    """Edit, insert, delete, and switch one customer away from the affiliate and one to it."""
    md = sa.MetaData()
    periods = sa.Table("supply_period", md, autoload_with=engine_for(url))
    usage = sa.Table("monthly_usage", md, autoload_with=engine_for(url))
    party = sa.Table("customer_party", md, autoload_with=engine_for(url))
    history = sa.Table("contact_history", md, autoload_with=engine_for(url))
    with engine_for(url).begin() as conn:
        leaving = open_period(conn, periods, affiliate=True)
        coming = open_period(conn, periods, affiliate=False)
        switch_customer(conn, periods, leaving, coming.retailer_code)
        switch_customer(conn, periods, coming, AFFILIATE_CODE)
        conn.execute(usage.update().where(usage.c.usage_id.in_([3, 4000])).values(kwh=usage.c.kwh + 1))
        conn.execute(usage.delete().where(usage.c.usage_id.in_([5, 4001])))
        template = conn.execute(sa.select(usage).where(usage.c.usage_id == 6)).one()._asdict()
        top = conn.execute(sa.select(sa.func.max(usage.c.usage_id))).scalar_one()
        conn.execute(usage.insert().values({**template, "usage_id": top + 1, "usage_month": date(2024, 12, 1)}))
        conn.execute(party.update().where(party.c.party_id == 1).values(phone="090-0000-1234", memo="移転"))
        first_contact = conn.execute(sa.select(sa.func.min(history.c.contact_id))).scalar_one()
        conn.execute(history.delete().where(history.c.contact_id == first_contact))
        change_natural_key_rows(conn, sa.Table("generation_reading_30min", md, autoload_with=engine_for(url)))
    return {"leaving": leaving.supply_point_id, "coming": coming.supply_point_id}


def correct_many_readings(url: str) -> int:
    """Scattered corrections to one reading in five: enough rows that a PostgreSQL store takes them by one
    staged statement (split.sync.SET_BASED_ROWS), not one statement per row."""
    readings = sa.Table("interval_reading_30min", sa.MetaData(), autoload_with=engine_for(url))
    with engine_for(url).begin() as conn:
        return conn.execute(
            readings.update().where(readings.c.reading_id % 5 == 0).values(kwh_import=readings.c.kwh_import + 1)
        ).rowcount


def change_natural_key_rows(conn: sa.Connection, gen: sa.Table) -> None:
    """The natural-key table (no surrogate id): edit its first reading, delete its last, add a day."""
    key = [gen.c.supply_point_id, gen.c.reading_date, gen.c.slot]
    first = conn.execute(sa.select(gen).order_by(*key).limit(1)).one()._asdict()
    last = conn.execute(sa.select(gen).order_by(*(k.desc() for k in key)).limit(1)).one()._asdict()

    def at(row: dict):  # noqa: ANN202
        return sa.and_(*(k == row[k.name] for k in key))

    conn.execute(gen.update().where(at(first)).values(kwh_generated=gen.c.kwh_generated + 1))
    conn.execute(gen.delete().where(at(last)))
    conn.execute(gen.insert().values({**first, "reading_date": date(2024, 12, 31)}))


def retail_usage_points(url: str) -> set[str]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT DISTINCT supply_point_id FROM monthly_usage WHERE usage_month >= :d"), {"d": SWITCH}
        )
        return {r[0] for r in rows}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_sync_brings_the_stores_to_what_a_fresh_copy_gives(backend, dbs, small_partitions):
    source = dbs.url(backend, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert cli("copy", small_partitions, source, nw, retail).returncode == 0

    moved = change_the_source(source)
    corrected = correct_many_readings(source)
    assert moved["leaving"] in retail_usage_points(retail)
    synced = cli("sync", small_partitions, source, nw, retail)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["inserted"] > 0 and report["updated"] > 0 and report["deleted"] > 0
    readings = next(t for t in report["tables"] if t["table"] == "interval_reading_30min")
    assert readings["changes"]["nw"]["updated"] == corrected >= 2 * SET_BASED_ROWS, readings
    usage = next(t for t in report["tables"] if t["table"] == "monthly_usage")
    assert 0 < usage["differing_ranges"] < usage["ranges"], "only the ranges that changed are rewritten"
    natural = next(t for t in report["tables"] if t["table"] == "generation_reading_30min")
    assert natural["ranges"] > 2 and natural["differing_ranges"] > 0, natural
    assert natural["changes"]["nw"]["updated"] == 1 and natural["changes"]["nw"]["deleted"] == 1

    fresh_nw, fresh_retail = dbs.url(backend, "nw2"), dbs.url(backend, "rt2")
    assert cli("copy", small_partitions, source, fresh_nw, fresh_retail).returncode == 0
    assert image(nw) == image(fresh_nw)
    assert image(retail) == image(fresh_retail)
    after = retail_usage_points(retail)
    assert moved["leaving"] not in after and moved["coming"] in after  # ownership by date, both directions

    proof = cli("verify", small_partitions, source, nw, retail)
    assert proof.returncode == 0, [c for c in json.loads(proof.stdout)["checks"] if c["status"] != "pass"]

    with engine_for(nw).connect() as conn:
        kinds = {
            c.split(":")[0]
            for c in conn.execute(sa.text("SELECT checksum FROM bunkatsu_ledger WHERE operation = 'sync'")).scalars()
        }
    # PostgreSQL on both sides: ranges are diffed by the servers' row hashes; elsewhere rows go through Python
    assert bool(kinds & {"hre-sum", "hte-sum"}) == (backend == "postgresql")

    again = json.loads(cli("sync", small_partitions, source, nw, retail).stdout)
    assert all(t["differing_ranges"] == 0 for t in again["tables"]), "a second sync finds nothing to do"


def test_sync_records_each_changed_range_in_the_ledger(dbs, tmp_path, small_partitions):
    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 40, 3)
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    assert cli("copy", small_partitions, source, nw, retail).returncode == 0
    with engine_for(source).begin() as conn:
        conn.execute(sa.text("UPDATE monthly_usage SET kwh = kwh + 1 WHERE usage_id = 2"))
    report = json.loads(cli("sync", small_partitions, source, nw, retail).stdout)
    with engine_for(nw).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT table_name, updated, row_count, run_id FROM bunkatsu_ledger WHERE operation = 'sync'")
        ).all()
    assert [(t, u) for t, u, _, _ in rows] == [("monthly_usage", 1)]
    assert rows[0][3] == report["run_id"] and rows[0][2] > 0


def test_sync_into_empty_stores_says_copy_first(dbs, tmp_path):
    source = f"sqlite:///{tmp_path / 'src.db'}"
    generate(source, 10, 3)
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "rt")
    from tests.helpers import MAPPING

    result = cli("sync", MAPPING, source, nw, retail)
    assert result.returncode == 2
    assert "run `bunkatsu copy` first" in result.stderr and "Traceback" not in result.stderr


SYNC_KILLS = [
    *(pytest.param("sqlite", f, id=f"sqlite-{f}") for f in ("sync-deleted:2", "sync-applied:3", "committed:4")),
    *(
        pytest.param(backend, f, id=f"{backend}-{f}", marks=getattr(pytest.mark, backend))
        for backend in ("postgresql", "mariadb")
        for f in ("sync-deleted:2", "sync-applied:3")
    ),
]


@pytest.mark.parametrize(("backend", "fault"), SYNC_KILLS)
def test_a_sync_killed_half_way_is_finished_by_the_next(backend, fault, dbs, small_partitions):
    source = dbs.url(backend, "src")
    generate(source, 60, 11)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert cli("copy", small_partitions, source, nw, retail).returncode == 0
    change_the_source(source)
    killed = cli("sync", small_partitions, source, nw, retail, "--workers", "1", fault=fault)
    assert killed.returncode == -9, killed.stderr
    assert cli("sync", small_partitions, source, nw, retail).returncode == 0

    fresh_nw, fresh_retail = dbs.url(backend, "nw2"), dbs.url(backend, "rt2")
    assert cli("copy", small_partitions, source, fresh_nw, fresh_retail).returncode == 0
    assert image(nw) == image(fresh_nw)
    assert image(retail) == image(fresh_retail)


@pytest.mark.postgresql
def test_the_servers_name_exactly_the_keys_that_differ_reading_only_their_buckets(dbs, tmp_path, monkeypatch):
    """PostgreSQL on both sides: bucket sums narrow a differing range to the buckets holding a change, and the
    merge of their sorted (key, hash) pairs names exactly the new, changed and gone keys — on a composite key
    led by text, in binary order (ｱ sorts after あ by code point)."""
    from split.engine import pairdiff
    from split.engine.compare import server_hash
    from split.engine.partition import range_tasks
    from split.prepare import prepare

    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE reading (point varchar(12), day date, kwh int NOT NULL, PRIMARY KEY (point, day))"
        )
        conn.exec_driver_sql(
            "INSERT INTO reading SELECT p, DATE '2024-01-01' + d, p_n * d FROM"
            " (SELECT 'P' || lpad(g::text, 5, '0') AS p, g AS p_n FROM generate_series(1, 400) g) pts,"
            " generate_series(0, 19) d"
        )
    mapping = tmp_path / "reading.yaml"
    mapping.write_text(
        "version: 1\nsystem: t\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  reading:\n    retail: none\n    partition: {rows: 100000}\n"
        "waves:\n  - {name: all, tables: [reading]}\n",
        encoding="utf-8",
    )
    assert cli("copy", mapping, source, nw, retail).returncode == 0
    changed = [("P00007", date(2024, 1, 3)), ("P00250", date(2024, 1, 20)), ("P00399", date(2024, 1, 1))]
    gone = [("P00100", date(2024, 1, 5)), ("P00400", date(2024, 1, 20))]
    new = [("P00001", date(2025, 1, 1)), ("ｱ", date(2024, 1, 1)), ("あ", date(2024, 1, 1))]
    with engine_for(source, writer=True).begin() as conn:
        for point, day in changed:
            conn.execute(sa.text("UPDATE reading SET kwh = -1 WHERE point = :p AND day = :d"), {"p": point, "d": day})
        for point, day in gone:
            conn.execute(sa.text("DELETE FROM reading WHERE point = :p AND day = :d"), {"p": point, "d": day})
        for point, day in new:
            conn.execute(sa.text("INSERT INTO reading VALUES (:p, :d, 0)"), {"p": point, "d": day})
    read = []
    pairs = pairdiff._pairs

    def counted(*args):  # type: ignore[no-untyped-def]
        for pair in pairs(*args):
            read.append(pair)
            yield pair

    monkeypatch.setattr(pairdiff, "_pairs", counted)
    prep = prepare(mapping, source, nw, retail, stores_exist=True, key=TEST_KEY.encode())
    [task] = range_tasks(prep.plan.tables, source, prep.urls, prep.plan.hash, "", "t", None, None)
    with engine_for(nw, writer=True).begin() as conn:
        diff = pairdiff.range_diff(task, conn, server_hash(task))
    assert (diff.changed, diff.gone, diff.new) == (sorted(changed), sorted(gone), sorted(new))
    assert diff.source_rows == 8_000 - len(gone) + len(new)
    assert len(read) < 1_000, len(read)  # 8,000 rows on each side; only the differing buckets' pairs were read


@pytest.mark.postgresql
def test_stores_in_another_time_zone_are_not_all_changed(dbs, tmp_path):
    """A `timestamptz` is written in the session's time zone: were the servers to hash rows of a store set to
    Asia/Tokyo against a source in UTC, every row would differ and sync would rewrite them all. Such ranges are
    compared in Python instead, where the values (not their text) are hashed."""
    source, nw, retail = dbs.url("postgresql", "src"), dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE event (id int PRIMARY KEY, at timestamptz NOT NULL, kwh int NOT NULL)")
        conn.exec_driver_sql(
            "INSERT INTO event SELECT g, TIMESTAMPTZ '2024-04-01 00:00+00' + g * INTERVAL '1 hour', g"
            " FROM generate_series(1, 500) g"
        )
    mapping = tmp_path / "event.yaml"
    mapping.write_text(
        "version: 1\nsystem: t\naffiliate: {name: A, retailer_codes: [A0001]}\n"
        "tables:\n  event:\n    retail: none\n    partition: {rows: 200}\n"
        "waves:\n  - {name: all, tables: [event]}\n",
        encoding="utf-8",
    )
    assert cli("copy", mapping, source, nw, retail).returncode == 0
    for url, zone in ((source, "UTC"), (nw, "Asia/Tokyo")):
        with engine_for(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"ALTER DATABASE {sa.make_url(url).database} SET TimeZone = '{zone}'")
    with engine_for(source, writer=True).begin() as conn:
        conn.exec_driver_sql("UPDATE event SET kwh = -1 WHERE id = 250")

    synced = cli("sync", mapping, source, nw, retail)
    assert synced.returncode == 0, synced.stderr
    [table] = json.loads(synced.stdout)["tables"]
    assert table["changes"]["nw"] == {"inserted": 0, "updated": 1, "deleted": 0}, table
    proof = cli("verify", mapping, source, nw, retail)
    assert proof.returncode == 0, [c for c in json.loads(proof.stdout)["checks"] if c["status"] != "pass"]
