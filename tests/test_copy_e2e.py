"""End to end through the CLI on SQLite, PostgreSQL and MariaDB (and across them): the NW store equals the
source, the retail store holds exactly the in-scope rows and allowed columns, dated rows respect ownership
by date, encoded columns hold tokens. Expectations are computed here from the source data and the business
rules, independently of the planner."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import defaultdict
from datetime import date

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.normalize import normalize
from tests.conftest import require_backend, sample_source
from tests.helpers import MAPPING, TEST_KEY, canonical_rows, column_names, count, rows, run_cli, table_names

AFFILIATE = "00016"
NW_ONLY_TABLES = {"work_order", "fit_contract", "access_log"}
RETAIL_ONLY_TABLES = {"retail_account"}
NW_ONLY_COLUMNS = {
    "supply_point": {"substation_id", "feeder_id", "transformer_id"},
    "meter": {"comm_route", "comm_module_id"},
    "customer_party": {"memo"},
    "switching_request": {"from_retailer_code"},
    "contact_history": {"staff_name"},
}
DATED = {
    "customer_party": "registered_on",
    "monthly_usage": "usage_month",
    "interval_reading_30min": "reading_date",
    "generation_reading_30min": "reading_date",
    "contact_history": "contact_date",
}
KEYS = {
    "area": ("area_code",),
    "retailer": ("retailer_code",),
    "supply_period": ("period_id",),
    "supply_point": ("supply_point_id",),
    "wheeling_contract": ("wheeling_contract_id",),
    "meter": ("meter_no",),
    "customer_party": ("party_id",),
    "switching_request": ("request_id",),
    "monthly_usage": ("usage_id",),
    "interval_reading_30min": ("reading_id",),
    "generation_reading_30min": ("supply_point_id", "reading_date", "slot"),  # a natural key
    "contact_history": ("contact_id",),
    "retail_account": ("account_no",),
}


def key_of(table: str, row: dict) -> tuple:
    return tuple(row[c] for c in KEYS[table])


COMBINATIONS = [
    pytest.param("sqlite", "sqlite", "sqlite", id="sqlite"),
    pytest.param("postgresql", "postgresql", "postgresql", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", "mariadb", "mariadb", id="mariadb", marks=pytest.mark.mariadb),
    pytest.param(
        "sqlite",
        "postgresql",
        "mariadb",
        id="sqlite-to-pg+mariadb",
        marks=[pytest.mark.postgresql, pytest.mark.mariadb],
    ),
    pytest.param(
        "mariadb",
        "sqlite",
        "postgresql",
        id="mariadb-to-sqlite+pg",
        marks=[pytest.mark.postgresql, pytest.mark.mariadb],
    ),
]


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def affiliate_periods(url: str) -> dict[str, list[tuple[date, date | None]]]:
    periods = defaultdict(list)
    for p in rows(url, "supply_period"):
        if p["retailer_code"] == AFFILIATE:
            periods[p["supply_point_id"]].append((_day(p["start_date"]), p["end_date"] and _day(p["end_date"])))
    return periods


def in_scope(table: str, row: dict, periods: dict) -> bool:
    """The business rule, written out: the affiliate's own rows, and dated rows only while it supplied."""
    if table in ("area", "retailer", "retail_account"):
        return True
    if table in ("supply_period", "wheeling_contract"):
        return row["retailer_code"] == AFFILIATE
    if table == "switching_request":
        return row["to_retailer_code"] == AFFILIATE
    spans = periods.get(row["supply_point_id"], [])
    if table in DATED:
        day = _day(row[DATED[table]])
        return any(start <= day and (end is None or day <= end) for start, end in spans)
    return bool(spans)  # supply_point, meter: points the affiliate supplies or supplied


@pytest.fixture
def split_stores(request, dbs, session_dbs):
    source_backend, nw_backend, retail_backend = request.param
    for backend in request.param:
        require_backend(backend)
    source = sample_source(session_dbs, source_backend)
    nw, retail = dbs.url(nw_backend, "nw"), dbs.url(retail_backend, "retail")
    result = run_cli(
        "copy",
        "--mapping",
        str(MAPPING),
        "--source",
        source,
        "--nw",
        nw,
        "--retail",
        retail,
        "--workers",
        "2",
        "--json",
        env={"BUNKATSU_ENCODE_KEY": TEST_KEY},
    )
    assert result.returncode == 0, result.stderr
    return source, nw, retail, json.loads(result.stdout)


@pytest.mark.parametrize(
    "split_stores", [p.values for p in COMBINATIONS], indirect=True, ids=[p.id for p in COMBINATIONS]
)
def test_split_is_exact(split_stores):
    source, nw, retail, report = split_stores
    source_tables = table_names(source)

    # NW: every table but retail's own, every column, every row.
    toolkit = {"bunkatsu_ledger", "bunkatsu_journal", "bunkatsu_evidence", "bunkatsu_schema_version"}
    assert table_names(nw) == source_tables - RETAIL_ONLY_TABLES | toolkit
    for table in source_tables - RETAIL_ONLY_TABLES:
        columns = column_names(source, table)
        assert column_names(nw, table) == columns, table
        assert canonical_rows(nw, table, columns) == canonical_rows(source, table, columns), table

    # Retail: exactly the allowed tables and columns.
    assert table_names(retail) == source_tables - NW_ONLY_TABLES | toolkit
    periods = affiliate_periods(source)
    for table in source_tables - NW_ONLY_TABLES:
        allowed = [c for c in column_names(source, table) if c not in NW_ONLY_COLUMNS.get(table, set())]
        assert column_names(retail, table) == allowed, table
        # exactly the in-scope rows, with their values (encoded columns compared below)
        plain = [c for c in allowed if c != "ledger_ref"]
        expected = [r for r in rows(source, table) if in_scope(table, r, periods)]
        got_keys = {key_of(table, r) for r in rows(retail, table, list(KEYS[table]))}
        assert got_keys == {key_of(table, r) for r in expected}, table
        got = canonical_rows(retail, table, plain)
        assert sum(got.values()) == len(expected)
        assert got == canonical_rows_from(expected, plain), table
        assert len(expected) > 0 or table == "switching_request"

    # Encoded: tokens only, each the HMAC of the normalised source value.
    source_refs = {r["party_id"]: r["ledger_ref"] for r in rows(source, "customer_party")}
    for r in rows(retail, "customer_party", ["party_id", "ledger_ref"]):
        assert re.fullmatch(r"hm1:[0-9a-f]{64}", r["ledger_ref"])
        digest = hmac.new(TEST_KEY.encode(), normalize(source_refs[r["party_id"]]).encode(), hashlib.sha256)
        assert r["ledger_ref"] == "hm1:" + digest.hexdigest()

    # The report's counts are the stores' counts.
    for t in report["tables"]:
        for store, url in (("nw", nw), ("retail", retail)):
            if store in t["rows"]:
                assert t["rows"][store] == count(url, t["table"]), (store, t["table"])


def canonical_rows_from(expected: list[dict], columns: list[str]):
    from collections import Counter

    from split.checksum import canonical

    return Counter(tuple(canonical(r[c]) for c in columns) for r in expected)


@pytest.mark.parametrize(
    "split_stores", [p.values for p in COMBINATIONS[:3]], indirect=True, ids=[p.id for p in COMBINATIONS[:3]]
)
def test_ownership_by_date_in_the_retail_store(split_stores):
    source, nw, retail, _ = split_stores
    # Checked inside the retail store with its own SQL: no reading outside an affiliate supply period.
    outside = sa.text(
        "SELECT count(*) FROM interval_reading_30min r WHERE NOT EXISTS (SELECT 1 FROM supply_period p "
        "WHERE p.supply_point_id = r.supply_point_id AND p.retailer_code = :code AND p.start_date <= r.reading_date "
        "AND (p.end_date IS NULL OR r.reading_date <= p.end_date))"
    )
    with engine_for(retail).connect() as conn:
        assert conn.execute(outside, {"code": AFFILIATE}).scalar_one() == 0

    # Customers who left the affiliate on 2024-12-01: their readings stop on the retail side that day.
    left = {
        p["supply_point_id"]
        for p in rows(source, "supply_period")
        if p["retailer_code"] == AFFILIATE and p["end_date"] is not None and _day(p["end_date"]) == date(2024, 11, 30)
    }
    assert left, "the reference database must contain customers who switched away inside the reading window"
    retail_days = defaultdict(set)
    for r in rows(retail, "interval_reading_30min", ["supply_point_id", "reading_date"]):
        retail_days[r["supply_point_id"]].add(_day(r["reading_date"]))
    nw_days = defaultdict(set)
    for r in rows(nw, "interval_reading_30min", ["supply_point_id", "reading_date"]):
        nw_days[r["supply_point_id"]].add(_day(r["reading_date"]))
    for spid in left:
        assert max(retail_days[spid]) == date(2024, 11, 30), spid
        assert date(2024, 12, 2) in nw_days[spid]
