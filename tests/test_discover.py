"""`bunkatsu discover` through the CLI on real databases: what the mapping misses, views and routines that
touch protected columns, the draft, and no sampled value in any output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.mapping import load_mapping
from split.sample.generate import generate
from tests.conftest import BACKEND_PARAMS
from tests.helpers import MAPPING, run_cli

PLANTED = [f"070-9{i:03d}-4321" for i in range(30)]  # the new column's phones: must never be printed

# DDL per engine: a phone column in a block-mapped table, a column in a flow-mapped table (`area`),
# a view that reads a column kept from retail, and (servers) a routine.
CHANGES = {
    "sqlite": [
        "CREATE VIEW v_contacts AS SELECT supply_point_id, contract_name, memo FROM customer_party",
        "CREATE TRIGGER t_memo AFTER UPDATE ON customer_party BEGIN SELECT NEW.memo; END",
    ],
    "postgresql": [
        "CREATE VIEW v_contacts AS SELECT supply_point_id, contract_name, memo FROM customer_party",
        "CREATE MATERIALIZED VIEW mv_usage AS SELECT supply_point_id, sum(kwh) AS kwh FROM monthly_usage "
        "GROUP BY supply_point_id",
        "CREATE FUNCTION work_count() RETURNS bigint AS 'SELECT count(*) FROM work_order' LANGUAGE sql",
    ],
    "mariadb": [
        "CREATE VIEW v_contacts AS SELECT supply_point_id, contract_name, memo FROM customer_party",
        "CREATE PROCEDURE work_count() SELECT count(*) FROM work_order",
    ],
}


def changed_source(dbs, backend: str) -> str:  # type: ignore[no-untyped-def]
    url = dbs.url(backend, "disc")
    generate(url, 30, 3)
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customer_party ADD COLUMN mobile_phone VARCHAR(16)"))
        ids = [r[0] for r in conn.execute(sa.text("SELECT party_id FROM customer_party ORDER BY party_id"))]
        for party_id, phone in zip(ids, PLANTED, strict=False):
            conn.execute(
                sa.text("UPDATE customer_party SET mobile_phone = :p WHERE party_id = :i"), {"p": phone, "i": party_id}
            )
        conn.execute(sa.text("ALTER TABLE area ADD COLUMN hotline VARCHAR(16)"))
        for (code,) in conn.execute(sa.text("SELECT area_code FROM area")).all():
            conn.execute(
                sa.text("UPDATE area SET hotline = :p WHERE area_code = :c"), {"p": f"0120-6{code}-111", "c": code}
            )
        for statement in CHANGES[backend]:
            conn.execute(sa.text(statement))
    return url


def _no_planted_value(*texts: str) -> None:
    blob = "\n".join(texts).encode()
    for phone in PLANTED:
        for spelling in (phone, phone.replace("-", "")):
            assert spelling.encode() not in blob


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_discover_lists_the_new_column_and_view_and_plan_refuses(dbs, backend, tmp_path):
    source = changed_source(dbs, backend)
    draft = tmp_path / "draft.yaml"

    found = run_cli("discover", "-m", str(MAPPING), "--source", source, "--json", "--draft", str(draft))
    assert found.returncode == 1, found.stderr
    doc = json.loads(found.stdout)
    assert doc["coverage"]["unmapped_columns"] == ["area.hotline", "customer_party.mobile_phone"]
    assert not doc["coverage"]["unmapped_tables"] and not doc["coverage"]["stale_columns"]
    party = next(t for t in doc["tables"] if t["name"] == "customer_party")
    mobile = next(c for c in party["columns"] if c["name"] == "mobile_phone")
    assert mobile["mapped_to"] is None and mobile["suggestion"]["kind"] == "phone"
    assert "30 of 30 sampled values (100%)" in mobile["suggestion"]["evidence"]
    views = {v["name"]: v for v in doc["views"]}
    assert views["v_contacts"]["reads"] == ["customer_party"]
    assert views["v_contacts"]["kept_from_retail"] == ["customer_party.memo"]  # contract_name is shared
    if backend == "postgresql":
        assert views["mv_usage"]["type"] == "materialized view"
    routines = {r["name"]: r for r in doc["routines"]}
    if backend == "sqlite":
        assert routines["t_memo"]["on_table"] == "customer_party"
        assert routines["t_memo"]["kept_from_retail"] == ["customer_party.memo"]
    else:  # work_order goes to NW only: reading it at all is reading what retail may not see
        assert routines["work_count"]["kept_from_retail"] == ["work_order.*"]

    human = run_cli("discover", "-m", str(MAPPING), "--source", source)
    assert human.returncode == 1
    for name in ("customer_party.mobile_phone", "area.hotline", "v_contacts", "NOT COVERED"):
        assert name in human.stdout

    refused = run_cli("plan", "-m", str(MAPPING), "--source", source)
    assert refused.returncode == 2 and "mobile_phone" in refused.stderr and "hotline" in refused.stderr

    text = draft.read_text(encoding="utf-8")
    assert "mobile_phone: {to: nw, kind: phone}  # REVIEW:" in text
    assert "hotline: {to: nw, kind: phone}  # REVIEW:" in text  # into the flow mapping of `area`
    assert text.count("# REVIEW:") == 2  # the two columns and nothing else
    drafted = load_mapping(draft)
    assert drafted.table("customer_party").column("mobile_phone").to.value == "nw"  # type: ignore[union-attr]
    planned = run_cli("plan", "-m", str(draft), "--source", source, "--json")
    assert planned.returncode == 0, planned.stderr
    _no_planted_value(found.stdout, found.stderr, human.stdout, text)


def test_a_source_without_mapping_gets_a_whole_draft_that_sends_everything_to_nw(dbs, tmp_path):
    source = dbs.url("sqlite", "fresh")
    generate(source, 20, 5)
    draft = tmp_path / "first.yaml"
    found = run_cli("discover", "--source", source, "--draft", str(draft), "--sample-rows", "0", "--json")
    assert found.returncode == 1
    doc = json.loads(found.stdout)
    assert len(doc["coverage"]["unmapped_tables"]) == len(doc["tables"]) == 16
    mapping = load_mapping(draft)
    assert {t.name for t in mapping.tables} == {t["name"] for t in doc["tables"]}
    assert all(t.retail.describe() == "none" and all(c.to.value == "nw" for c in t.columns) for t in mapping.tables)
    party = mapping.table("customer_party")
    assert party is not None
    kinds = {c.name: c.kind for c in party.columns}
    assert kinds["phone"] == "phone" and kinds["email"] == "email" and kinds["supply_point_id"] == "supply_point_id"
    assert kinds["contract_name"] == "name" and kinds["name_kana"] == "name_kana" and kinds["memo"] == "free_text"
    assert run_cli("plan", "-m", str(draft), "--source", source).returncode == 0
    # once the draft is the mapping, the source is covered
    again = run_cli("discover", "-m", str(draft), "--source", source, "--sample-rows", "10")
    assert again.returncode == 0 and "covered" in again.stdout


def test_vanished_names_are_findings_and_marked_in_the_draft(dbs, tmp_path):
    source = dbs.url("sqlite", "gone")
    generate(source, 20, 5)
    with engine_for(source).begin() as conn:
        conn.execute(sa.text("ALTER TABLE customer_party DROP COLUMN email"))
        conn.execute(sa.text("DROP TABLE retail_account"))
    draft = tmp_path / "d.yaml"
    found = run_cli("discover", "-m", str(MAPPING), "--source", source, "--json", "--draft", str(draft))
    assert found.returncode == 1
    cov = json.loads(found.stdout)["coverage"]
    assert cov["stale_columns"] == ["customer_party.email"] and cov["stale_tables"] == ["retail_account"]
    text = draft.read_text(encoding="utf-8")
    assert "REVIEW: the source has no column customer_party.email" in text
    assert "REVIEW: the source has no table retail_account" in text
    load_mapping(draft)  # still a mapping; removing the entries is the reviewers' decision


def test_the_reference_database_is_covered_by_the_reference_mapping(dbs):
    source = dbs.url("sqlite", "ref")
    generate(source, 20, 5)
    found = run_cli("discover", "-m", str(MAPPING), "--source", source, "--json")
    assert found.returncode == 0, found.stdout[-2000:]
    assert json.loads(found.stdout)["coverage"]["covered"] is True


def test_bad_input_is_exit_2_and_writes_nothing(dbs, tmp_path):
    source = dbs.url("sqlite", "bad")
    generate(source, 5, 1)
    draft = tmp_path / "never.yaml"
    cases = [
        (["--source", source, "--sample-rows", "-1", "--draft", str(draft)], "--sample-rows"),
        (["--source", source, "--draft", str(tmp_path / "no" / "such" / "d.yaml")], "--draft"),
        (["-m", str(tmp_path / "missing.yaml"), "--source", source, "--draft", str(draft)], "mapping file not found"),
        (["--source", "sqlite:///" + str(tmp_path / "none.db"), "--draft", str(draft)], "source"),
    ]
    for args, words in cases:
        r = run_cli("discover", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and "Traceback" not in r.stderr
        assert not draft.exists()
    assert not Path(tmp_path / "no").exists()


# ── the draft's insertions, on generated mapping layouts ────────────────────────────────────

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from split.discover.draft import NewColumn, extend_mapping  # noqa: E402
from split.discover.inventory import Coverage  # noqa: E402
from split.discover.recognize import Suggestion  # noqa: E402

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)


def _mapping_text(tables: dict[str, tuple[list[str], str]], waves: str) -> str:
    lines = ["version: 1", "system: gen", "affiliate: {name: A, retailer_codes: ['00016']}", "tables:"]
    for name, (columns, style) in tables.items():
        lines += [f"  {name}:  # a reviewer's comment", "    retail: all"]
        if style == "flow":
            lines.append("    columns: {" + ", ".join(f"{c}: shared" for c in columns) + "}  # kept")
        elif style == "flow-multiline":
            lines += ["    columns: {"] + [f"      {c}: shared," for c in columns] + ["    }"]
        else:
            lines += ["    columns:"] + [f"      {c}: {{to: shared, kind: code}}  # why" for c in columns]
    if waves == "block":
        lines += ["waves:"] + [f"  - {{name: w{i}, tables: [{t}]}}" for i, t in enumerate(tables)]
    elif waves == "flow":
        lines.append("waves: [" + ", ".join(f"{{name: w{i}, tables: [{t}]}}" for i, t in enumerate(tables)) + "]")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        NAMES,
        st.tuples(
            st.lists(NAMES, min_size=1, max_size=4, unique=True), st.sampled_from(["block", "flow", "flow-multiline"])
        ),
        min_size=1,
        max_size=4,
    ),
    st.lists(NAMES, max_size=3, unique=True),
    st.lists(NAMES, max_size=2, unique=True),
    st.sampled_from(["none", "block", "flow"]),
    st.booleans(),
)
def test_draft_insertions_keep_the_mapping_loadable(tmp_path, tables, new_cols, new_tables, waves, suggest):
    new_tables = [t for t in new_tables if t not in tables]
    original = _mapping_text(tables, waves)
    first = next(iter(tables))
    added = [c for c in new_cols if c not in tables[first][0]]
    suggestion = Suggestion("phone", "3 of 3 sampled values", 1.0) if suggest else None
    columns = {first: [NewColumn(first, c, suggestion, 3) for c in added]}
    columns.update({t: [NewColumn(t, "id", None, 0)] for t in new_tables})
    cov = Coverage(unmapped_tables=new_tables, unmapped_columns=[(first, c) for c in added])
    path = tmp_path / "draft.yaml"
    path.write_text(extend_mapping(original, cov, columns, "a header\nof two lines"), encoding="utf-8")
    drafted = load_mapping(path)
    for name, (cols, _style) in tables.items():
        rule = drafted.table(name)
        assert rule is not None
        assert all(rule.column(c).to.value == "shared" for c in cols)  # type: ignore[union-attr]
    for c in added:
        rule = drafted.table(first).column(c)  # type: ignore[union-attr]
        assert rule is not None and rule.to.value == "nw" and rule.kind == ("phone" if suggest else None)
    for t in new_tables:
        assert drafted.table(t).retail.describe() == "none"  # type: ignore[union-attr]
        if waves != "none":
            assert drafted.wave_of(t) == "discovered"
