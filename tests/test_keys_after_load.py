"""Load first, index after (`split.schema.keys`): a big table's primary key is built once its rows are in, on
PostgreSQL stores; an interrupted copy leaves the key to build, and the store says so until the next copy
builds it; a row twice in the table fails the build, and the message names no value."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from split.db import engine_for
from tests.conftest import sample_source
from tests.helpers import TEST_KEY, copy, run_cli, store_image

pytestmark = pytest.mark.postgresql

READINGS = "interval_reading_30min"  # partitioned, and no foreign key refers to it


def primary_key(url: str, table: str) -> list[str]:
    return sa.inspect(engine_for(url)).get_pk_constraint(table)["constrained_columns"]


def schema_check(mapping, nw: str, retail: str, source: str) -> dict:
    args = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    result = run_cli("schema", "check", *args, env={"BUNKATSU_ENCODE_KEY": TEST_KEY})
    return {s["store"]: s for s in json.loads(result.stdout)["stores"]}


def test_a_big_table_is_loaded_without_its_key_and_the_key_built_after(dbs, session_dbs, small_partitions):
    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    done = copy(small_partitions, source, nw, retail)
    assert done.returncode == 0, done.stderr
    tables = {t["table"]: t for t in json.loads(done.stdout)["tables"]}
    assert set(tables[READINGS]["key_built_after_load"]) == {"nw", "retail"}
    assert tables[READINGS]["partitions"] > 1
    inspector = sa.inspect(engine_for(nw))
    parents = {fk["referred_table"] for t in inspector.get_table_names() for fk in inspector.get_foreign_keys(t)}
    assert parents and all(not tables[t]["key_built_after_load"] for t in parents & set(tables))
    for store in (nw, retail):
        assert primary_key(store, READINGS) == primary_key(source, READINGS)
    for store in ("nw", "retail"):  # the key and every index as head has them
        assert schema_check(small_partitions, nw, retail, source)[store]["state"] == "ok"


def test_a_copy_killed_before_the_key_is_built_leaves_it_missing_and_the_next_copy_builds_it(
    dbs, session_dbs, small_partitions
):
    source = sample_source(session_dbs, "postgresql")
    base_nw, base_retail = dbs.url("postgresql", "nw0"), dbs.url("postgresql", "rt0")
    assert copy(small_partitions, source, base_nw, base_retail).returncode == 0
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    killed = copy(small_partitions, source, nw, retail, fault="committed:40")
    assert killed.returncode == -9, killed.stderr
    assert primary_key(nw, READINGS) == [] or primary_key(retail, READINGS) == []

    states = schema_check(small_partitions, nw, retail, source)
    missing = [s for s in states.values() if any("primary key on " + READINGS in d for d in s["differences"])]
    assert missing and all(s["state"] == "drifted" for s in missing), states
    assert all("`bunkatsu copy` (or `sync`) again" in s["fix"] for s in missing), states

    resumed = copy(small_partitions, source, nw, retail)
    assert resumed.returncode == 0, resumed.stderr
    assert "index(es) it lacked, as head has them" in " ".join(resumed.stderr.split())
    assert primary_key(nw, READINGS) == primary_key(retail, READINGS) == primary_key(source, READINGS)
    assert store_image(nw) == store_image(base_nw)
    assert store_image(retail) == store_image(base_retail)


def test_a_row_put_twice_while_the_key_was_away_stops_the_next_copy_and_is_not_shown(
    dbs, session_dbs, small_partitions
):
    """Another writer (the retail side, say) doubles a row while an interrupted copy left the key to build:
    the next copy refuses to build a key the rows break, exits with the terminal code, and PostgreSQL's
    detail (which quotes the duplicated supply point id) reaches neither stream."""
    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    killed = copy(small_partitions, source, nw, retail, fault="committed:40")
    assert killed.returncode == -9, killed.stderr
    target = nw if primary_key(nw, READINGS) == [] else retail
    with engine_for(target, writer=True).begin() as conn:
        doubled = conn.execute(sa.text(f"SELECT supply_point_id FROM {READINGS} LIMIT 1")).scalar_one()
        conn.execute(
            sa.text(f"INSERT INTO {READINGS} SELECT * FROM {READINGS} WHERE supply_point_id = :s"), {"s": doubled}
        )
    again = copy(small_partitions, source, nw, retail)
    assert again.returncode == 3, (again.returncode, again.stderr)
    assert "breaks its primary key" in again.stderr
    assert doubled not in again.stderr + again.stdout
    assert primary_key(target, READINGS) == []


def test_a_primary_key_dropped_by_hand_is_a_difference_from_head(dbs, session_dbs, small_partitions):
    """Alembic's comparison does not look at primary keys: bunkatsu does, so a store whose key someone
    dropped no longer passes as at head (and would accept duplicates)."""
    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    assert copy(small_partitions, source, nw, retail).returncode == 0
    with engine_for(retail, writer=True).begin() as conn:
        name = sa.inspect(conn).get_pk_constraint("supply_point")["name"]
        conn.exec_driver_sql(f"ALTER TABLE supply_point DROP CONSTRAINT {name} CASCADE")
    state = schema_check(small_partitions, nw, retail, source)["retail"]
    assert state["state"] == "drifted"
    assert any(d.startswith("primary key on supply_point(") for d in state["differences"]), state


def test_a_constraint_the_retail_side_tied_to_an_index_keeps_the_key_in_place(dbs, session_dbs, small_partitions):
    """The retail operator adds an exclusion constraint to the empty readings table of a store at head (Alembic
    does not compare those, so the store still passes as at head). Its index cannot be dropped: the retail
    table keeps its key and is loaded with it, the NW one is still loaded first; the copy finishes, no traceback."""
    source = sample_source(session_dbs, "postgresql")
    nw, retail = dbs.url("postgresql", "nw"), dbs.url("postgresql", "rt")
    stores = ["--mapping", str(small_partitions), "--source", source, "--nw", nw, "--retail", retail]
    for verb in ("revision", "upgrade"):
        assert run_cli("schema", verb, *stores, env={"BUNKATSU_ENCODE_KEY": TEST_KEY}).returncode == 0
    key = primary_key(source, READINGS)
    with engine_for(retail, writer=True).begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {READINGS} ADD CONSTRAINT tied EXCLUDE USING btree ({key[0]} WITH =)"))
    done = copy(small_partitions, source, nw, retail)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    tables = {t["table"]: t for t in json.loads(done.stdout)["tables"]}
    assert set(tables[READINGS]["key_built_after_load"]) == {"nw"}
    assert primary_key(retail, READINGS) == primary_key(nw, READINGS) == key
