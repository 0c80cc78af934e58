"""The staged cutover: waves walked through their steps and gates, told by the journal, in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.cutover import STEPS
from split.db import engine_for
from split.sample.generate import generate
from tests.conftest import BACKEND_PARAMS
from tests.helpers import MAPPING, TEST_KEY, run_cli

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY, "BUNKATSU_OPERATOR": "yamada"}


@pytest.fixture
def stores(dbs, tmp_path):
    def make(backend: str = "sqlite") -> dict:
        source = f"sqlite:///{tmp_path / 'src.db'}"
        generate(source, 40, 5)
        return {"source": source, "nw": dbs.url(backend, "nw"), "retail": dbs.url(backend, "rt")}

    return make


def cutover(s: dict, *args: str, tmp: Path | None = None):
    urls = ["--mapping", str(MAPPING), "--source", s["source"], "--nw", s["nw"]]
    if args[0] == "run":
        urls += ["--retail", s["retail"], "--reports", str(tmp or Path("cutover-reports"))]
    return run_cli("cutover", *args, *urls, "--json", env=ENV)


def journal(url: str) -> list[dict]:
    with engine_for(url).connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM bunkatsu_journal ORDER BY entry_id")).mappings().all()
    return [dict(r) for r in rows]


def status(s: dict) -> dict:
    result = cutover(s, "status")
    assert result.returncode == 0, result.stderr
    return {w["wave"]: w for w in json.loads(result.stdout)["waves"]}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_a_wave_walks_every_step_and_the_journal_tells_it(backend, stores, tmp_path):
    s = stores(backend)
    assert status(s)["masters"]["state"] == "not started"
    result = cutover(s, "run", "--wave", "masters", "--yes", tmp=tmp_path / "reports")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["state"] == "switched"

    for store in ("nw", "retail"):  # each company keeps the evidence of its own store
        entries = journal(s[store])
        assert [e["step"] for e in entries] == list(STEPS)
        assert all(e["outcome"] == "passed" and e["operator"] == "yamada" and e["wave"] == "masters" for e in entries)
        assert all(len(e["mapping_sha256"]) == 64 for e in entries)
        copied = json.loads(entries[0]["counts"])
        assert copied["area"]["nw"] > 0 and entries[0]["plan_hash"]
        gates = [e for e in entries if e["step"] in ("verify", "final-verify")]
        assert all(Path(e["report"]).with_name("report.json").is_file() for e in gates)

    waves = status(s)
    assert waves["masters"]["state"] == "switched" and waves["masters"]["next_step"] is None
    assert waves["contracts"]["state"] == "not started" and waves["contracts"]["depends_on"] == ["masters"]


def test_a_wave_cannot_start_before_the_waves_it_needs(stores, tmp_path):
    s = stores()
    result = cutover(s, "run", "--wave", "usage", "--yes", tmp=tmp_path)
    assert result.returncode == 2
    assert "contracts" in result.stderr and "cutover run --wave" in result.stderr
    nw_file = Path(s["nw"].removeprefix("sqlite:///"))
    assert not nw_file.exists() or nw_file.stat().st_size == 0, "nothing was written"


def test_a_failed_gate_keeps_the_wave_unswitched_and_a_rerun_continues_at_the_gate(stores, tmp_path):
    s = stores()
    assert cutover(s, "run", "--wave", "masters", "--yes", tmp=tmp_path).returncode == 0
    day = cutover(s, "run", "--wave", "contracts", "--until", "sync", tmp=tmp_path)
    assert day.returncode == 0, day.stderr
    assert status(s)["contracts"]["state"] == "sync passed"

    # someone loads a competitor's supply period into the retail store (of a point the affiliate also supplied)
    periods = sa.Table("supply_period", sa.MetaData(), autoload_with=engine_for(s["source"]))
    affiliate = periods.alias("q")
    competitor = sa.select(periods).where(
        periods.c.retailer_code != "00016",
        sa.exists().where(
            affiliate.c.supply_point_id == periods.c.supply_point_id, affiliate.c.retailer_code == "00016"
        ),
    )
    with engine_for(s["source"]).connect() as conn:
        row = dict(conn.execute(competitor.order_by(periods.c.period_id)).mappings().first())
    with engine_for(s["retail"]).begin() as conn:
        conn.execute(periods.insert().values(row))
    gate = cutover(s, "run", "--wave", "contracts", "--yes", tmp=tmp_path)
    assert gate.returncode == 1
    ran = json.loads(gate.stdout)
    assert [st["step"] for st in ran["steps"]] == ["verify"] and ran["state"] == "stopped at verify"
    wave = status(s)["contracts"]
    assert wave["state"] == "stopped at verify" and "retail.row_scope" in wave["reason"]
    assert "switched" not in wave["passed"]

    with engine_for(s["retail"]).begin() as conn:
        conn.execute(sa.text("DELETE FROM supply_period WHERE period_id = :p"), {"p": row["period_id"]})
    again = cutover(s, "run", "--wave", "contracts", "--yes", tmp=tmp_path)
    assert again.returncode == 0, again.stdout
    assert [st["step"] for st in json.loads(again.stdout)["steps"]] == list(STEPS[2:])
    told = [(e["step"], e["outcome"]) for e in journal(s["nw"]) if e["wave"] == "contracts"]
    assert told == [("copy", "passed"), ("sync", "passed"), ("verify", "failed")] + [(st, "passed") for st in STEPS[2:]]


def test_the_freeze_needs_a_confirmation(stores, tmp_path):
    s = stores()
    result = cutover(s, "run", "--wave", "masters", tmp=tmp_path)  # no terminal here, no --yes
    assert result.returncode == 2
    assert "--yes" in result.stderr and "Traceback" not in result.stderr
    assert status(s)["masters"]["state"] == "not started"


def test_a_rollback_is_journaled_and_the_wave_starts_over(stores, tmp_path):
    s = stores()
    assert cutover(s, "run", "--wave", "masters", "--yes", tmp=tmp_path).returncode == 0
    assert cutover(s, "run", "--wave", "contracts", "--until", "sync", tmp=tmp_path).returncode == 0

    def rollback(wave: str):
        urls = ["--mapping", str(MAPPING), "--source", s["source"], "--nw", s["nw"], "--retail", s["retail"]]
        return run_cli("cutover", "rollback", "--wave", wave, "--reason", "請求処理の不具合", *urls, env=ENV)

    refused = rollback("masters")
    assert refused.returncode == 2 and "contracts" in refused.stderr
    assert rollback("contracts").returncode == 0
    assert status(s)["contracts"]["state"] == "not started"
    assert status(s)["masters"]["state"] == "switched"
    last = journal(s["retail"])[-1]
    assert (last["wave"], last["step"], last["message"]) == ("contracts", "rollback", "請求処理の不具合")
    again = cutover(s, "run", "--wave", "contracts", "--until", "copy", tmp=tmp_path)
    assert [st["step"] for st in json.loads(again.stdout)["steps"]] == ["copy"]


def test_staged_demo_switches_every_wave_and_syncs_the_live_changes(tmp_path):
    result = run_cli("demo", "--staged", "--dir", str(tmp_path / "demo"), "--supply-points", "60", "--json")
    assert result.returncode == 0, result.stderr
    demo = json.loads(result.stdout)
    assert demo["verify"]["verdict"] == "pass"
    assert demo["source_changes"]["customers_switched"] == 2
    last = {r["wave"]: r for r in demo["runs"]}
    assert set(last) == {"masters", "contracts", "usage", "nw_only", "retail_only"}
    assert all(r["state"] == "switched" for r in last.values())
    final_sync = next(s for s in last["contracts"]["steps"] if s["step"] == "final-sync")
    assert final_sync["message"] != "0 inserted, 0 updated, 0 deleted"  # the switches reached the stores
    assert [e["step"] for e in journal(f"sqlite:///{demo['files']['nw']}") if e["wave"] == "usage"] == list(STEPS)
