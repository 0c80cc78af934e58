"""Target schemas as Alembic revisions: derived per store, versioned, drift-checked, on all three engines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for
from tests.conftest import BACKEND_PARAMS, sample_source
from tests.helpers import MAPPING, TEST_KEY, run_cli

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}


class Split:
    """A source and two fresh stores, driven through the CLI like an operator would."""

    def __init__(self, session_dbs, dbs, backend: str) -> None:  # type: ignore[no-untyped-def]
        self.source = sample_source(session_dbs, backend)
        self.nw, self.retail = dbs.url(backend, "nw"), dbs.url(backend, "retail")

    def cli(self, *args: str, mapping: Path = MAPPING) -> subprocess.CompletedProcess:
        stores = ["--source", self.source, "--nw", self.nw, "--retail", self.retail]
        return run_cli(*args, "--mapping", str(mapping), *stores, env=ENV)

    def json(self, *args: str, mapping: Path = MAPPING) -> dict:
        r = self.cli(*args, "--json", mapping=mapping)
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout)

    def retail_columns(self, table: str) -> list[str]:
        engine = engine_for(self.retail)
        engine.dispose()  # the CLI changed the schema in another process
        return [c["name"] for c in sa.inspect(engine).get_columns(table)]

    def execute_retail(self, sql: str) -> None:
        with engine_for(self.retail, writer=True).begin() as conn:
            conn.execute(sa.text(sql))
        engine_for(self.retail, writer=True).dispose()


def reclassified(tmp_path: Path) -> Path:
    """The reference mapping with customer_party.email moved from shared to NW-only."""
    text = MAPPING.read_text(encoding="utf-8")
    assert "email: {to: shared, kind: email}" in text
    path = tmp_path / "email-nw.yaml"
    path.write_text(text.replace("email: {to: shared, kind: email}", "email: {to: nw, kind: email}"), encoding="utf-8")
    return path


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_schema_lifecycle(backend, session_dbs, dbs, tmp_path, migrations):
    split = Split(session_dbs, dbs, backend)

    # fresh stores → revision → upgrade → copy → verify
    revisions = {r["store"]: r for r in split.json("schema", "revision", "-m", "initial")["revisions"]}
    assert set(revisions) == {"nw", "retail"}
    first = revisions["retail"]["revision"]
    assert first and Path(revisions["retail"]["path"]).is_file()
    assert Path(revisions["retail"]["path"]).parent == migrations / "retail" / "versions"
    assert "table customer_party: missing from the store" in revisions["retail"]["changes"]
    checked = split.cli("schema", "check")
    assert checked.returncode == 1
    assert [s["state"] for s in split.json("schema", "check")["stores"]] == ["empty", "empty"]
    assert split.cli("schema", "upgrade").returncode == 0
    assert [s["state"] for s in split.json("schema", "check")["stores"]] == ["ok", "ok"]
    copied = split.json("copy")
    assert copied["schema"] == []  # already at head: copy had nothing to do to the schemas
    assert split.cli("verify").returncode == 0

    # a column someone added by hand on the retail side: check names it, copy refuses
    split.execute_retail("ALTER TABLE customer_party ADD COLUMN extra_note VARCHAR(20)")
    checked = split.cli("schema", "check", "--store", "retail")
    assert checked.returncode == 1
    assert (
        "drifted" in checked.stdout
        and "customer_party.extra_note: in the store but not in the schema" in checked.stdout
    )
    refused = split.cli("copy")
    assert refused.returncode == 2 and "extra_note" in refused.stderr and "schema revision" in refused.stderr
    proof = split.json("verify")
    drift = [c for c in proof["checks"] if c["id"] == "schema.drift" and c["status"] == "fail"]
    assert proof["verdict"] == "fail" and [c["store"] for c in drift] == ["retail"]
    assert "customer_party.extra_note" in drift[0]["message"]
    split.execute_retail("ALTER TABLE customer_party DROP COLUMN extra_note")
    assert split.cli("schema", "check").returncode == 0

    # the mapping moves a column from shared to NW-only: the retail head is stale, a revision drops it
    moved = reclassified(tmp_path)
    states = {s["store"]: s["state"] for s in split.json("schema", "check", mapping=moved)["stores"]}
    assert states == {"nw": "ok", "retail": "mapping-changed"}
    refused = split.cli("copy", mapping=moved)
    assert refused.returncode == 2 and "schema revision --store retail" in refused.stderr
    revisions = {
        r["store"]: r for r in split.json("schema", "revision", "-m", "email NW-only", mapping=moved)["revisions"]
    }
    assert revisions["nw"]["revision"] is None  # NW still receives the column: nothing to change there
    second = revisions["retail"]["revision"]
    assert revisions["retail"]["down_revision"] == first
    assert revisions["retail"]["changes"] == ["column customer_party.email: in the store but not in the schema"]
    text = Path(revisions["retail"]["path"]).read_text(encoding="utf-8")
    assert re.search(r"drop_column\((?:'customer_party', )?'email'\)", text)  # SQLite: inside a batch operation
    refused = split.cli("copy", mapping=moved)
    assert refused.returncode == 2 and "schema upgrade --store retail" in refused.stderr
    assert split.cli("schema", "upgrade", mapping=moved).returncode == 0
    assert "email" not in split.retail_columns("customer_party")
    assert split.cli("verify", mapping=moved).returncode == 0

    # downgrade: the column comes back (nullable: its values return with the next copy)
    moves = split.json("schema", "downgrade", "--store", "retail")["stores"]
    assert moves == [{"store": "retail", "before": second, "after": first, "sql": None}]
    assert "email" in split.retail_columns("customer_party")


def test_copy_brings_empty_stores_to_head_and_says_so(session_dbs, dbs, migrations):
    split = Split(session_dbs, dbs, "sqlite")
    copied = split.json("copy")
    notes = " ".join(copied["schema"])
    assert "nw store: wrote the first revision" in notes and "retail store was empty: upgraded to head" in notes
    assert sorted(p.name for p in migrations.iterdir()) == ["alembic.ini", "nw", "retail"]
    assert split.cli("schema", "check").returncode == 0
    again = split.json("copy")
    assert again["schema"] == []
    assert all(t["skipped_partitions"] == t["partitions"] * len(t["rows"]) for t in again["tables"])  # per store


def test_upgrade_sql_prints_ddl_and_plain_alembic_works(session_dbs, dbs, migrations):
    split = Split(session_dbs, dbs, "sqlite")
    assert split.cli("schema", "revision", "--store", "retail").returncode == 0
    shown = split.cli("schema", "upgrade", "--store", "retail", "--sql")
    assert shown.returncode == 0, shown.stderr
    assert "CREATE TABLE customer_party" in shown.stdout and "bunkatsu_schema_version" in shown.stdout
    # shown, not run (the version table was made by `revision`, as `alembic revision --autogenerate` does)
    assert sa.inspect(engine_for(split.retail)).get_table_names() == ["bunkatsu_schema_version"]

    # Alembic users' own command, on the generated alembic.ini section, with the URL from the environment
    env = {**os.environ, "BUNKATSU_RETAIL_URL": split.retail}
    ini = str(migrations / "alembic.ini")
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", ini, "-n", "retail", "upgrade", "head"], capture_output=True, env=env
    )
    assert done.returncode == 0, done.stderr
    checked = split.json("schema", "check", "--store", "retail")
    assert checked["ok"] is True


def test_schema_errors_are_usage_errors(session_dbs, dbs, migrations):
    split = Split(session_dbs, dbs, "sqlite")
    assert split.cli("schema", "check").returncode == 1  # empty stores: not at head
    assert not any(Path(url.removeprefix("sqlite:///")).exists() for url in (split.nw, split.retail))  # read only
    nothing = split.cli("schema", "upgrade")
    assert nothing.returncode == 2 and "schema revision" in nothing.stderr and "Traceback" not in nothing.stderr
    wrong = split.cli("schema", "check", "--store", "both-ish")
    assert wrong.returncode == 2 and "--store nw, retail or both" in wrong.stderr
    assert split.cli("schema", "revision").returncode == 0
    assert split.cli("schema", "upgrade").returncode == 0
    bad = split.cli("schema", "downgrade", "--to", "no-such-revision")
    assert bad.returncode == 2 and "no-such-revision" in bad.stderr and "Traceback" not in bad.stderr


def test_one_history_serves_every_engine(session_dbs, dbs, migrations):
    """Revisions written against SQLite stores (a rehearsal) upgrade, copy and verify PostgreSQL and MariaDB
    stores from the same folder: one schema history for every engine."""
    rehearsal = Split(session_dbs, dbs, "sqlite")
    written = rehearsal.json("schema", "revision", "-m", "initial")
    assert all(r["revision"] for r in written["revisions"])
    versions = {p.name for p in migrations.glob("*/versions/*.py")}
    assert rehearsal.cli("copy").returncode == 0

    for backend in ("postgresql", "mariadb"):
        split = Split(session_dbs, dbs, backend)
        split.source = rehearsal.source  # the same shared database; the stores are another engine
        upgraded = run_cli("schema", "upgrade", "--nw", split.nw, "--retail", split.retail, "--json")
        assert upgraded.returncode == 0, upgraded.stderr
        check = split.json("schema", "check")
        assert check["ok"], check
        assert all(s["state"] == "ok" and s["head_matches_mapping"] for s in check["stores"])
        copied = split.cli("copy")
        assert copied.returncode == 0, copied.stderr
        verified = split.cli("verify", "--json")
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["verdict"] == "pass"
        assert {p.name for p in migrations.glob("*/versions/*.py")} == versions, "no engine wrote a revision of its own"


@pytest.mark.postgresql
def test_a_head_rendered_for_another_engine_is_named_as_such(session_dbs, dbs, migrations):
    """A head from an earlier bunkatsu carries one engine's digest: the same mapping, another engine."""
    from split.prepare import prepare
    from split.schema.command import derive, envs_of
    from split.schema.derive import engine_digest

    rehearsal = Split(session_dbs, dbs, "sqlite")
    assert rehearsal.cli("schema", "revision", "--store", "nw", "-m", "initial").returncode == 0
    revision = next((migrations / "nw" / "versions").glob("*.py"))
    prep = prepare(MAPPING, rehearsal.source, rehearsal.nw, rehearsal.retail, stores=("nw",), need_key=False)
    derived = derive(prep, envs_of(prep)[0])
    legacy = engine_digest(derived.metadata, engine_for(rehearsal.nw).dialect)
    text = revision.read_text(encoding="utf-8").replace(repr(derived.digest), repr(legacy))
    revision.write_text(text, encoding="utf-8")

    own = rehearsal.json("schema", "check", "--store", "nw")["stores"][0]
    assert own["head_matches_mapping"] and own["state"] == "empty", "its own engine's legacy digest still matches"
    pg = Split(session_dbs, dbs, "postgresql")
    pg.source = rehearsal.source
    refused = pg.cli("copy")
    assert refused.returncode == 2 and "rendered for sqlite by an earlier bunkatsu" in " ".join(refused.stderr.split())
    assert run_cli("schema", "upgrade", "--store", "nw", "--nw", pg.nw).returncode == 0
    status = pg.json("schema", "check", "--store", "nw")["stores"][0]
    assert status["state"] == "other-engine" and status["head_engine"] == "sqlite", status
    assert "rendered for sqlite" in " ".join(pg.cli("schema", "check", "--store", "nw").stdout.split())
    assert "engine-neutral" in status["fix"]
