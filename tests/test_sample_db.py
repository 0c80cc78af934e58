"""The reference shared 託送 database: deterministic for a seed on every engine, and realistic."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from split.sample.generate import AFFILIATE_CODE, generate
from tests.conftest import BACKEND_PARAMS, require_backend, sample_source
from tests.helpers import canonical_rows, column_names, rows, run_cli, table_names

TABLES = [
    "area",
    "retailer",
    "supply_point",
    "meter",
    "wheeling_contract",
    "supply_period",
    "customer_party",
    "switching_request",
    "monthly_usage",
    "interval_reading_30min",
    "contact_history",
    "work_order",
    "fit_contract",
    "retail_account",
    "access_log",
]


def image(url: str) -> dict:
    return {t: canonical_rows(url, t, column_names(url, t)) for t in TABLES}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_same_seed_same_rows_on_every_engine(backend, dbs, session_dbs):
    require_backend(backend)
    reference = sample_source(session_dbs, "sqlite")
    url = sample_source(session_dbs, backend)
    assert table_names(url) >= set(TABLES)
    assert image(url) == image(reference)


def test_a_different_seed_gives_different_rows(dbs):
    a, b = dbs.url("sqlite", "a"), dbs.url("sqlite", "b")
    generate(a, 30, 1)
    generate(b, 30, 2)
    assert image(a)["customer_party"] != image(b)["customer_party"]


def test_cli_builds_it_and_refuses_to_overwrite_without_replace(dbs):
    url = dbs.url("sqlite", "cli")
    first = run_cli("sample-db", url, "--supply-points", "50", "--seed", "3", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["rows"]["supply_point"] == 50
    again = run_cli("sample-db", url, "--supply-points", "50")
    assert again.returncode == 2 and "--replace" in again.stderr
    assert run_cli("sample-db", url, "--supply-points", "60", "--replace").returncode == 0


def test_the_data_looks_like_a_kansai_takuso_database(session_dbs):
    url = sample_source(session_dbs, "sqlite")
    points = rows(url, "supply_point")
    assert all(re.fullmatch(r"06\d{20}", p["supply_point_id"]) for p in points)  # 22 digits, area prefix 06
    parties = rows(url, "customer_party")
    assert all(re.fullmatch(r"0\d{1,3}-\d{2,4}-\d{4}", p["phone"]) for p in parties)
    assert all(re.search(r"[\u4e00-\u9fff]", p["contract_name"]) for p in parties)  # kanji names
    assert all(re.fullmatch(r"[\u30a0-\u30ff ]+", p["name_kana"]) for p in parties)
    assert all(
        p["billing_address"].startswith(("大阪府", "京都府", "兵庫県", "奈良県", "滋賀県", "和歌山県")) for p in parties
    )

    current = [p for p in rows(url, "supply_period") if p["end_date"] is None]
    share = sum(p["retailer_code"] == AFFILIATE_CODE for p in current) / len(current)
    assert 0.75 <= share <= 0.85, share  # DESIGN §7: affiliate customers about 75–85 %
    switches = Counter(
        (r["from_retailer_code"] == AFFILIATE_CODE, r["to_retailer_code"] == AFFILIATE_CODE)
        for r in rows(url, "switching_request")
    )
    assert switches[(True, False)] > 0 and switches[(False, True)] > 0  # switching both ways

    memos = [r for r in rows(url, "contact_history")]
    assert {m["department"] for m in memos} == {"NW", "小売"}  # both departments write free text
    assert any(re.search(r"[0-9０-９]{2,4}[-－]?[0-9０-９]{2,4}[-－]?[0-9０-９]{4}", m["memo"]) for m in memos)
    assert any("様" in m["memo"] for m in memos)  # names in free text
    logs = rows(url, "access_log")
    assert any(log["organisation"] == "RETAIL" for log in logs)
