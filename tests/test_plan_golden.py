"""Golden files for the plan of the reference mapping on each engine. Regenerate with UPDATE_GOLDEN=1
after a deliberate change, and review the diff like any other change to the compliance policy."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import BACKEND_PARAMS, require_backend, sample_source
from tests.helpers import MAPPING, run_cli

GOLDEN = Path(__file__).parent / "golden"


def _stable(text: str) -> str:
    """Mapping paths differ per checkout; everything else must match byte for byte."""
    return re.sub(r"(-- mapping |\"mapping\": \")\S+?(\s|\")", r"\1<mapping>\2", text)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_plan_sql_matches_golden(backend, session_dbs):
    require_backend(backend)
    source = sample_source(session_dbs, backend)
    result = run_cli("plan", "--mapping", str(MAPPING), "--source", source, "--sql")
    assert result.returncode == 0, result.stderr
    golden = GOLDEN / f"plan-{backend}.sql"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(_stable(result.stdout), encoding="utf-8")
    assert _stable(result.stdout) == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_plan_json_matches_golden_and_hash_is_stable(backend, session_dbs):
    require_backend(backend)
    source = sample_source(session_dbs, backend)
    first = run_cli("plan", "--mapping", str(MAPPING), "--source", source, "--json")
    second = run_cli("plan", "--mapping", str(MAPPING), "--source", source, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["plan_hash"] == json.loads(second.stdout)["plan_hash"]
    golden = GOLDEN / f"plan-{backend}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(_stable(first.stdout), encoding="utf-8")
    assert _stable(first.stdout) == golden.read_text(encoding="utf-8")


def test_plan_hash_changes_with_the_mapping(session_dbs, tmp_path):
    source = sample_source(session_dbs, "sqlite")
    changed = tmp_path / "m.yaml"
    changed.write_text(
        MAPPING.read_text(encoding="utf-8").replace("voltage_class: shared", "voltage_class: nw"), encoding="utf-8"
    )
    a = json.loads(run_cli("plan", "--mapping", str(MAPPING), "--source", source, "--json").stdout)
    b = json.loads(run_cli("plan", "--mapping", str(changed), "--source", source, "--json").stdout)
    assert a["plan_hash"] != b["plan_hash"] and a["mapping_sha256"] != b["mapping_sha256"]
    retail_cols = next(
        s for t in b["tables"] if t["name"] == "supply_point" for s in t["stores"] if s["store"] == "retail"
    )
    assert "voltage_class" not in [c["name"] for c in retail_cols["columns"]]
