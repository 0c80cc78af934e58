"""Canary customers through the CLI: planted into a source before a copy (SQLite, PostgreSQL) or into the NW
store after the split, never in the retail store after a clean copy, found by `verify` when one of their values
is written into a retail memo in another spelling, and removed without a trace."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.sample.generate import generate
from tests.helpers import MAPPING, TEST_KEY, count, run_cli, table_names

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}
STORES_PARAMS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)]


def _cli(*args: str) -> dict:
    r = run_cli(*args, "--json", env=ENV)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    doc = json.loads(r.stdout)
    doc["_exit"] = r.returncode
    return doc


def _verify(source: str, nw: str, retail: str, *extra: str) -> dict:
    return _cli("verify", "-m", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, *extra)


def _canary_failures(doc: dict) -> list[dict]:
    return [c for c in doc["checks"] if c["id"] == "canary" and c["status"] == "fail"]


def _write_into_retail_memo(retail: str, value: str) -> None:
    with engine_for(retail).begin() as conn:
        key = conn.execute(sa.text("SELECT min(account_no) FROM retail_account")).scalar_one()
        conn.execute(sa.text("UPDATE retail_account SET note = :v WHERE account_no = :k"), {"v": value, "k": key})


def _drop_roles(url: str, names: tuple[str, ...]) -> None:
    with engine_for(url).begin() as conn:
        for name in names:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {name}"))


@pytest.mark.parametrize("backend", STORES_PARAMS)
def test_a_canary_copied_into_a_retail_memo_fails_verify(dbs, backend, tmp_path, request):
    source, nw, retail = (dbs.url(backend, label) for label in ("csrc", "cnw", "cret"))
    generate(source, 40, 11)
    before = {t: count(source, t) for t in table_names(source)}

    planted = _cli("canary", "plant", "-m", str(MAPPING), "--source", source, "--count", "2")
    assert len(planted["canaries"]) == 2 and "bunkatsu_canary" in table_names(source)
    first = planted["canaries"][0]
    assert {"supply_period", "customer_party", "supply_point"} <= set(first["rows"])
    phone = first["values"]["phone"]

    run = run_cli("copy", "-m", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV)
    assert run.returncode == 0, run.stderr
    roles = []
    if backend == "postgresql":  # the grants check joins the proof with a roles file of two real, idle roles
        uid = uuid.uuid4().hex[:8]
        names = (f"bk_nobody_nw_{uid}", f"bk_nobody_retail_{uid}")
        with engine_for(nw).begin() as conn:
            for name in names:
                conn.execute(sa.text(f"CREATE ROLE {name} NOLOGIN"))
        request.addfinalizer(lambda: _drop_roles(nw, names))
        (tmp_path / "roles.yaml").write_text(f"nw: [{names[0]}]\nretail: [{names[1]}]\n", encoding="utf-8")
        roles = ["--roles", str(tmp_path / "roles.yaml")]
    clean = _verify(source, nw, retail, *roles)
    assert clean["_exit"] == 0, [c for c in clean["checks"] if c["status"] != "pass"]
    assert "no value of 2 canary customer(s)" in next(c["message"] for c in clean["checks"] if c["id"] == "canary")
    assert any(c["id"] == "grants" for c in clean["checks"]) == bool(roles)
    assert "bunkatsu_canary" not in table_names(nw) | table_names(retail)  # the record is never copied

    # a staff member copies the canary's number into a retail note, full width and without hyphens
    spelled = phone.replace("-", "").translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    _write_into_retail_memo(retail, f"督促連絡先 {spelled} まで")
    leaked = _verify(source, nw, retail)
    assert leaked["_exit"] == 1
    found = _canary_failures(leaked)
    assert [(c["table"], c["column"]) for c in found] == [("retail_account", "note")]
    assert f"canary {first['id']} (phone)" in found[0]["message"]

    removed = _cli("canary", "remove", "--source", source)
    assert removed["canaries"] == [{"removed": 2}] and removed["rows"] == sum(
        len(c["rows"]) for c in planted["canaries"]
    )
    assert {t: count(source, t) for t in table_names(source)} == before  # nothing left, record table dropped


def test_canaries_planted_into_the_nw_store_after_the_split(dbs):
    source, nw, retail = (dbs.url("sqlite", label) for label in ("psrc", "pnw", "pret"))
    generate(source, 30, 12)
    assert (
        run_cli("copy", "-m", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV).returncode == 0
    )
    planted = _cli("canary", "plant", "-m", str(MAPPING), "--nw", nw, "--into", "nw", "--count", "1")
    assert planted["into"] == "nw"
    post = ["--post-split"]
    clean = _cli("verify", "-m", str(MAPPING), "--nw", nw, "--retail", retail, *post)
    assert clean["_exit"] == 0, [c for c in clean["checks"] if c["status"] != "pass"]
    _write_into_retail_memo(retail, planted["canaries"][0]["values"]["email"].upper())
    leaked = _cli("verify", "-m", str(MAPPING), "--nw", nw, "--retail", retail, *post)
    assert leaked["_exit"] == 1 and _canary_failures(leaked)


def test_canary_input_errors_are_exit_2(dbs):
    source = dbs.url("sqlite", "cbad")
    generate(source, 5, 1)
    for args, words in [
        (["plant", "-m", str(MAPPING), "--source", source, "--count", "0"], "--count"),
        (["plant", "-m", str(MAPPING), "--source", source, "--into", "retail"], "--into"),
        (["remove", "--into", "nw"], "no nw URL given"),
    ]:
        r = run_cli("canary", *args)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert "bunkatsu_canary" not in table_names(source)
