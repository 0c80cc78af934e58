"""`bunkatsu verify` through the CLI on SQLite, PostgreSQL and MariaDB: a clean split passes with no false
alarm; each planted leak or loss fails with the right check id naming the table; nothing planted appears
in any report artefact or output."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from checks.results import CHECK_IDS
from split.db import engine_for
from tests.conftest import BACKEND_PARAMS, require_backend, sample_source
from tests.helpers import MAPPING, TEST_KEY, reflected, rows, run_cli
from tests.test_copy_e2e import AFFILIATE, affiliate_periods, in_scope

ENV = {"BUNKATSU_ENCODE_KEY": TEST_KEY}


def verify(source: str, nw: str, retail: str, report: Path | None = None):
    args = ["verify", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    if report:
        args += ["--report", str(report)]
    return run_cli(*args, env=ENV)


def post_split(nw: str, retail: str):
    return run_cli(
        "verify", "--post-split", "--mapping", str(MAPPING), "--nw", nw, "--retail", retail, "--json", env=ENV
    )


def failing(result) -> set[tuple[str, str | None]]:
    return {(c["id"], c["table"]) for c in json.loads(result.stdout)["checks"] if c["status"] == "fail"}


def protected_customer(source: str) -> dict:
    """A new entrant's customer whose name and phone never appear in the affiliate's own rows."""
    periods = affiliate_periods(source)
    parties = rows(source, "customer_party")
    visible = {p["phone"] for p in parties if in_scope("customer_party", p, periods)}
    visible |= {p["contract_name"] for p in parties if in_scope("customer_party", p, periods)}
    return next(
        p
        for p in parties
        if not in_scope("customer_party", p, periods)
        and p["phone"] not in visible
        and p["contract_name"] not in visible
    )


def hiragana(kana: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)


def spelled_full_width(phone: str) -> str:
    return phone.replace("-", "").translate(str.maketrans("0123456789", "０１２３４５６７８９"))


def execute(url: str, *statements) -> None:
    with engine_for(url).begin() as conn:
        for stmt in statements:
            conn.execute(sa.text(stmt) if isinstance(stmt, str) else stmt)


@pytest.fixture
def split_stores(request, dbs, session_dbs):
    backend = request.param
    require_backend(backend)
    source = sample_source(session_dbs, backend)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "retail")
    copied = run_cli("copy", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV)
    assert copied.returncode == 0, copied.stderr
    return source, nw, retail


# What a plain `verify` runs: every stable check id but those that need a roles file, an access log or a
# capture slot on the source (tests/test_capture.py).
EVERY_CHECK = set(CHECK_IDS) - {"grants", "audit-log", "capture.retained"}


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_verify_catches_every_planted_leak_and_loss(split_stores, tmp_path):
    source, nw, retail = split_stores
    reports = tmp_path / "reports"
    outputs = []
    clean = verify(source, nw, retail, reports / "clean")
    assert clean.returncode == 0, (clean.stderr, failing(clean))
    assert json.loads(clean.stdout)["verdict"] == "pass"
    ran = {c["id"] for c in json.loads(clean.stdout)["checks"]} - {"capture.retained"}  # another test's slot
    assert ran == EVERY_CHECK, "the same checks on every engine"

    victim = protected_customer(source)
    party = reflected(retail, "customer_party")
    memo = reflected(retail, "contact_history")
    reading = reflected(retail, "interval_reading_30min")
    nw_usage = reflected(nw, "monthly_usage")
    retail_usage = reflected(retail, "monthly_usage")
    nw_meter = reflected(nw, "meter")
    retail_usage_row = rows(retail, "monthly_usage")[0]
    orphan = {**rows(nw, "meter")[0], "meter_no": "ORPHAN0001", "supply_point_id": "9" * 22}
    backend = sa.engine.make_url(nw).get_backend_name()
    no_fk_checks = {
        "postgresql": ["SET LOCAL session_replication_role = replica"],
        "mysql": ["SET FOREIGN_KEY_CHECKS = 0"],
    }
    fk_off = no_fk_checks.get(backend, [])
    left = next(
        p
        for p in rows(source, "supply_period")
        if p["retailer_code"] == AFFILIATE and p["end_date"] is not None and str(p["end_date"]) == "2024-11-30"
    )
    first_memo = rows(retail, "contact_history", ["contact_id", "memo"])[0]
    token_row = rows(retail, "customer_party", ["party_id", "ledger_ref"])[0]
    usage_row = rows(nw, "monthly_usage")[0]
    leak_row = {k: v for k, v in victim.items() if k != "memo"}
    leak_row["ledger_ref"] = "hm1:" + "0" * 64
    new_reading = {
        "reading_id": 10**9,
        "supply_point_id": left["supply_point_id"],
        "reading_date": date(2024, 12, 2),
        "slot": 1,
        "kwh_import": 0.5,
        "kwh_export": 0,
        "status": "速報",
    }

    mutations = [
        (
            "out-of-scope customer row",
            retail,
            [party.insert().values(**leak_row)],
            [party.delete().where(party.c.party_id == victim["party_id"])],
            {
                ("retail.row_scope", "customer_party"),
                ("retail.temporal_scope", "customer_party"),
                ("retail.fingerprint", "customer_party"),
                ("retail.completeness", "customer_party"),
            },
        ),
        (
            "NW-only column added",
            retail,
            ["ALTER TABLE supply_point ADD COLUMN substation_id VARCHAR(10)"],
            ["ALTER TABLE supply_point DROP COLUMN substation_id"],
            {("retail.columns", "supply_point"), ("schema.drift", None)},
        ),
        (
            "extra table with NW data",
            retail,
            ["CREATE TABLE work_order_extract (id INTEGER, memo VARCHAR(100))"],
            ["DROP TABLE work_order_extract"],
            {("retail.tables", "work_order_extract"), ("schema.drift", None)},
        ),
        (
            "view on the retail side",
            retail,
            ["CREATE VIEW churn_view AS SELECT supply_point_id FROM supply_point"],
            ["DROP VIEW churn_view"],
            {("retail.tables", "churn_view")},
        ),
        (
            "entrant's phone in a memo, full-width, no hyphens",
            retail,
            [
                memo.update()
                .where(memo.c.contact_id == first_memo["contact_id"])
                .values(memo=first_memo["memo"] + " 連絡先 " + spelled_full_width(victim["phone"]))
            ],
            [memo.update().where(memo.c.contact_id == first_memo["contact_id"]).values(memo=first_memo["memo"])],
            {
                ("retail.fingerprint", "contact_history"),
                ("retail.patterns", "contact_history"),
                ("retail.completeness", "contact_history"),
            },
        ),
        (
            "entrant's phone in a memo: the pattern check too",
            retail,
            [
                memo.update()
                .where(memo.c.contact_id == first_memo["contact_id"])
                .values(memo=first_memo["memo"] + " TEL" + victim["phone"].replace("-", ""))
            ],
            [memo.update().where(memo.c.contact_id == first_memo["contact_id"]).values(memo=first_memo["memo"])],
            {
                ("retail.patterns", "contact_history"),
                ("retail.fingerprint", "contact_history"),
                ("retail.completeness", "contact_history"),
            },
        ),
        (
            "entrant's full name in a memo, in hiragana",
            retail,
            [
                memo.update()
                .where(memo.c.contact_id == first_memo["contact_id"])
                .values(memo=first_memo["memo"] + hiragana(victim["name_kana"]) + "さまより入電")
            ],
            [memo.update().where(memo.c.contact_id == first_memo["contact_id"]).values(memo=first_memo["memo"])],
            {("retail.fingerprint", "contact_history"), ("retail.completeness", "contact_history")},
        ),
        (
            "entrant's phone as a number in an extract",
            retail,
            [
                "CREATE TABLE tel_extract (id INTEGER PRIMARY KEY, tel BIGINT)",
                f"INSERT INTO tel_extract VALUES (1, {int(victim['phone'].replace('-', ''))})",
            ],
            ["DROP TABLE tel_extract"],
            {("retail.tables", "tel_extract"), ("retail.fingerprint", "tel_extract"), ("schema.drift", None)},
        ),
        (
            "plaintext in an encoded column",
            retail,
            [party.update().where(party.c.party_id == token_row["party_id"]).values(ledger_ref="C0000123")],
            [
                party.update()
                .where(party.c.party_id == token_row["party_id"])
                .values(ledger_ref=token_row["ledger_ref"])
            ],
            {("retail.encoded", "customer_party"), ("retail.completeness", "customer_party")},
        ),
        (
            "reading after the customer switched away",
            retail,
            [reading.insert().values(**new_reading)],
            [reading.delete().where(reading.c.reading_id == 10**9)],
            {
                ("retail.temporal_scope", "interval_reading_30min"),
                ("retail.row_scope", "interval_reading_30min"),
                ("retail.completeness", "interval_reading_30min"),
            },
        ),
        (
            "row deleted from retail",
            retail,
            [retail_usage.delete().where(retail_usage.c.usage_id == retail_usage_row["usage_id"])],
            [retail_usage.insert().values(**retail_usage_row)],
            {("retail.completeness", "monthly_usage")},
        ),
        (
            "value changed in retail",
            retail,
            [
                retail_usage.update()
                .where(retail_usage.c.usage_id == retail_usage_row["usage_id"])
                .values(kwh=retail_usage_row["kwh"] + 1)
            ],
            [
                retail_usage.update()
                .where(retail_usage.c.usage_id == retail_usage_row["usage_id"])
                .values(kwh=retail_usage_row["kwh"])
            ],
            {("retail.completeness", "monthly_usage")},
        ),
        (
            "orphan in NW (foreign key checks off)",
            nw,
            [*fk_off, nw_meter.insert().values(**orphan)],
            [nw_meter.delete().where(nw_meter.c.meter_no == "ORPHAN0001")],
            {("integrity.fk", "meter"), ("nw.completeness", "meter")},
        ),
        (
            "row deleted from NW",
            nw,
            [nw_usage.delete().where(nw_usage.c.usage_id == usage_row["usage_id"])],
            [nw_usage.insert().values(**usage_row)],
            {("nw.completeness", "monthly_usage")},
        ),
        (
            "value changed in NW",
            nw,
            [nw_usage.update().where(nw_usage.c.usage_id == usage_row["usage_id"]).values(kwh=usage_row["kwh"] + 1)],
            [nw_usage.update().where(nw_usage.c.usage_id == usage_row["usage_id"]).values(kwh=usage_row["kwh"])],
            {("nw.completeness", "monthly_usage")},
        ),
    ]
    wrong = {}
    for label, url, apply, undo, expected in mutations:
        execute(url, *apply)
        result = verify(source, nw, retail, reports / label.replace(" ", "_"))
        outputs += [result.stdout, result.stderr]
        if result.returncode != 1 or failing(result) != expected:  # exactly the intended checks fail
            wrong[label] = (result.returncode, failing(result), result.stderr[-500:])
        execute(url, *undo)  # every mutation is undone: the next one fails on its own account
    assert not wrong, "\n".join(
        f"{label}: exit {code}, failing {sorted(map(str, found))} {err}" for label, (code, found, err) in wrong.items()
    )
    restored = verify(source, nw, retail)
    assert restored.returncode == 0, failing(restored)
    artefacts = [p.read_bytes() for p in reports.rglob("*") if p.is_file()] + [o.encode() for o in outputs]
    assert len(artefacts) > 3 * len(mutations)
    assert any(p.match("*/gx/index.html") for p in reports.rglob("*")), "Data Docs are part of the report folder"
    planted = [
        victim["phone"],
        victim["phone"].replace("-", ""),
        spelled_full_width(victim["phone"]),
        victim["contract_name"],
        victim["name_kana"],
        hiragana(victim["name_kana"]),
        str(int(victim["phone"].replace("-", ""))),
        "C0000123",
    ]
    for blob in artefacts:
        for value in planted:
            assert value.encode() not in blob, f"a planted value leaked into a report: {value!r}"


@pytest.mark.parametrize("split_stores", [BACKEND_PARAMS[0]], indirect=True)
def test_report_folder_and_outputs(split_stores, tmp_path):
    source, nw, retail = split_stores
    result = verify(source, nw, retail, tmp_path / "r")
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "pass" and len(report["plan_hash"]) == 64 and len(report["mapping_sha256"]) == 64
    assert {c["id"] for c in report["checks"]} == EVERY_CHECK
    gx = [c for c in report["checks"] if c["message"].startswith("Great Expectations")]
    assert {c["id"] for c in gx} == {"retail.columns", "retail.encoded", "retail.row_scope"}
    junit = (tmp_path / "r" / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase") == len(report["checks"]) and "<failure" not in junit
    assert (tmp_path / "r" / "gx" / "index.html").is_file()
    html = (tmp_path / "r" / "index.html").read_text(encoding="utf-8")
    assert "PASS — the split is clean" in html and "<script" not in html and "http" not in html.split("</style>")[0]
    assert json.loads(result.stdout)["verdict"] == "pass"


@pytest.mark.parametrize("split_stores", [BACKEND_PARAMS[0]], indirect=True)
def test_could_not_prove_is_exit_3_not_a_pass(split_stores, monkeypatch, tmp_path):
    source, nw, retail = split_stores
    execute(nw, "DROP TABLE access_log")
    # Without the revisions schema.drift cannot run either; with them it would report the missing table as
    # drift (a violation, exit 1), which outranks "could not prove".
    monkeypatch.setenv("BUNKATSU_MIGRATIONS", str(tmp_path / "no-revisions-here"))
    result = verify(source, nw, retail)
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "error"
    errors = {c["id"] for c in report["checks"] if c["status"] == "error"}
    assert {"nw.completeness", "schema.drift"} <= errors


@pytest.mark.parametrize("split_stores", [BACKEND_PARAMS[1]], indirect=True)
def test_a_column_differing_only_by_case_is_caught(split_stores):
    """GX's column-set expectation is case-insensitive; the catalogue check beside it is not."""
    source, nw, retail = split_stores
    execute(retail, 'ALTER TABLE contact_history ADD COLUMN "MEMO" TEXT')
    result = verify(source, nw, retail)
    assert result.returncode == 1
    checks = json.loads(result.stdout)["checks"]
    ours = [
        c for c in checks if c["id"] == "retail.columns" and c["table"] == "contact_history" and c["status"] == "fail"
    ]
    assert any("not allowed: MEMO" in c["message"] for c in ours), ours
    assert any("Great Expectations" in c["message"] for c in checks)


def test_post_split_runs_without_the_source(dbs, tmp_path):
    """After the split the source is gone: the NW store is the authority for scopes and protected values."""
    from split.sample.generate import generate

    source_file = tmp_path / "shared.db"
    source = f"sqlite:///{source_file}"
    generate(source, 80, 11)
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "retail")
    copied = run_cli("copy", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV)
    assert copied.returncode == 0, copied.stderr
    victim = protected_customer(source)  # read before the source goes away
    source_file.unlink()
    args = ["verify", "--post-split", "--mapping", str(MAPPING), "--nw", nw, "--retail", retail, "--json"]
    clean = run_cli(*args, env=ENV)
    assert clean.returncode == 0, (clean.stderr, failing(clean))
    ids = {c["id"] for c in json.loads(clean.stdout)["checks"]}
    assert "nw.completeness" not in ids and {"retail.fingerprint", "retail.temporal_scope"} <= ids
    account = reflected(retail, "retail_account")
    first = rows(retail, "retail_account", ["account_no"])[0]["account_no"]
    execute(retail, account.update().where(account.c.account_no == first).values(note="督促 " + victim["phone"]))
    leaked = run_cli(*args, env=ENV)
    assert leaked.returncode == 1
    assert ("retail.fingerprint", "retail_account") in failing(leaked)
    assert victim["phone"] not in leaked.stdout + leaked.stderr


RESERVED_MAPPING = """\
version: 1
system: reserved
affiliate: {name: x, retailer_codes: [A0001]}
tables:
  order:
    retail: {own: select}
    columns: {id: shared, select: shared, group: {to: shared, kind: phone}}
"""


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_tables_and_columns_named_like_reserved_words(backend, dbs, tmp_path):
    """`order`, `select`, `group`: every statement quotes names, so the proof runs (and still finds a leak)."""
    source, nw, retail = dbs.url(backend, "src"), dbs.url(backend, "nw"), dbs.url(backend, "retail")
    md = sa.MetaData()
    order = sa.Table(
        "order",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("select", sa.String(5)),
        sa.Column("group", sa.String(20)),
    )
    md.create_all(engine_for(source))
    execute(source, order.insert().values([(1, "A0001", "090-1234-5678"), (2, "B0002", "080-9999-0000")]))
    mapping = tmp_path / "reserved.yaml"
    mapping.write_text(RESERVED_MAPPING, encoding="utf-8")
    stores = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail]
    copied = run_cli("copy", *stores, env=ENV)
    assert copied.returncode == 0, copied.stderr
    clean = run_cli("verify", *stores, "--json", env=ENV)
    assert clean.returncode == 0, (clean.stderr, failing(clean))
    execute(retail, order.update().where(order.c.id == 1).values(group="080-9999-0000"))
    leaked = run_cli("verify", *stores, "--json", env=ENV)
    assert leaked.returncode == 1 and ("retail.fingerprint", "order") in failing(leaked)


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_markup_in_a_retail_name_is_shown_as_text_in_the_report(split_stores, tmp_path):
    """The retail company names its tables: a name with markup must not run in the reviewer's browser."""
    source, nw, retail = split_stores
    name = "<img src=x onerror=alert(1)>"
    sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)).create(engine_for(retail))
    result = verify(source, nw, retail, tmp_path / "report")
    assert result.returncode == 1
    assert ("retail.tables", name) in failing(result)
    html = (tmp_path / "report" / "index.html").read_bytes()
    assert b"<img src=x" not in html
    assert b"&lt;img src=x onerror=" in html


@pytest.mark.parametrize("split_stores", [pytest.param("sqlite")], indirect=True)
def test_markup_in_a_retail_name_is_shown_as_text_on_the_terminal(split_stores, tmp_path):
    """A retail table named like terminal markup (`x[/]` would end rich's rendering in an error): the verdict
    still prints, FAIL with exit 1, and the names print as they are."""
    source, nw, retail = split_stores
    names = ["x[/]", "[bold green]all fine"]
    for name in names:
        sa.Table(name, sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)).create(engine_for(retail))
    done = run_cli("verify", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV)
    assert done.returncode == 1, done.stderr
    assert "verdict: FAIL" in done.stdout and "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert all(name in done.stdout for name in names), done.stdout


def _checks(result) -> dict[tuple[str, str | None], str]:  # type: ignore[no-untyped-def]
    """The failing checks' messages by (id, table), several joined by ` | `."""
    found: dict[tuple[str, str | None], str] = {}
    for c in json.loads(result.stdout)["checks"]:
        if c["status"] == "fail":
            key = (c["id"], c["table"])
            found[key] = f"{found[key]} | {c['message']}" if key in found else c["message"]
    return found


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_the_retail_side_has_no_hiding_places(split_stores, tmp_path):
    """Objects the retail company controls, planted where the first proof did not look: a view under an allowed
    table's name, a table named like bunkatsu's own, another schema (PostgreSQL). Each fails retail.tables, and
    what a tool-named table holds is scanned like any other table."""
    source, nw, retail = split_stores
    backend = sa.engine.make_url(retail).get_backend_name()
    phone = protected_customer(source)["phone"]
    literal = f"'{phone}'"
    execute(
        retail,
        "DROP TABLE retail_account",
        f"CREATE VIEW retail_account AS SELECT 1 AS account_no, {literal} AS note",
        "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY, memo VARCHAR(200))",
        f"INSERT INTO alembic_version VALUES ('abc', {literal})",
    )
    if backend == "postgresql":
        execute(retail, "CREATE SCHEMA extract", "CREATE TABLE extract.customers (id INTEGER, phone VARCHAR(20))")
    result = verify(source, nw, retail, tmp_path / "report")
    assert result.returncode == 1, result.stderr
    found = _checks(result)
    assert "holds tables only" in found[("retail.tables", "retail_account")]
    assert "named like a bunkatsu table but is not one" in found[("retail.tables", "alembic_version")]
    assert "memo" in found[("retail.tables", "alembic_version")]
    assert ("retail.fingerprint", "alembic_version") in found
    if backend == "postgresql":
        assert ("retail.tables", "extract.customers") in found
    report = b"".join(p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file())
    assert phone.encode() not in report
    # the nightly run after the split, with the NW store as the authority, sees the same
    after = post_split(nw, retail)
    assert after.returncode == 1, after.stderr
    found = _checks(after)
    assert "holds tables only" in found[("retail.tables", "retail_account")]
    assert "named like a bunkatsu table but is not one" in found[("retail.tables", "alembic_version")]
    assert ("retail.fingerprint", "alembic_version") in found


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_the_plaintext_of_an_encoded_column_is_protected_even_in_scope(split_stores, tmp_path):
    """`encode` means retail never sees the plaintext, in any row: an in-scope 需要者管理番号 in a memo fails."""
    source, nw, retail = split_stores
    periods = affiliate_periods(source)
    own = next(p for p in rows(source, "customer_party") if in_scope("customer_party", p, periods) and p["ledger_ref"])
    memo = reflected(retail, "retail_account")
    with engine_for(retail).begin() as conn:
        key = conn.execute(sa.select(sa.func.min(memo.c.account_no))).scalar_one()
        conn.execute(
            memo.update().where(memo.c.account_no == key).values(note=f"需要者管理番号 {own['ledger_ref']} 確認済")
        )
    result = verify(source, nw, retail, tmp_path / "report")
    assert result.returncode == 1, result.stderr
    assert ("retail.fingerprint", "retail_account") in failing(result)
    report = b"".join(p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file())
    assert str(own["ledger_ref"]).encode() not in report
    after = post_split(nw, retail)  # the NW store holds the plaintext: protected after the split too
    assert after.returncode == 1 and ("retail.fingerprint", "retail_account") in failing(after), after.stderr


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_values_inside_json_and_binary_columns_are_found(split_stores, tmp_path):
    """A foreign customer's name and phone inside JSON (walked) and inside bytes (UTF-8 and Shift_JIS)."""
    source, nw, retail = split_stores
    victim = protected_customer(source)
    backend = sa.engine.make_url(retail).get_backend_name()
    json_type, blob_type = {"postgresql": ("JSONB", "BYTEA"), "sqlite": ("JSON", "BLOB")}.get(backend, ("JSON", "BLOB"))
    doc = json.dumps({"customer": {"tel": [victim["phone"]], "id": 7}}, ensure_ascii=False)
    execute(retail, f"CREATE TABLE sales_extract (id INTEGER PRIMARY KEY, doc {json_type}, raw {blob_type})")
    with engine_for(retail).begin() as conn:
        conn.execute(
            sa.text("INSERT INTO sales_extract VALUES (1, :doc, :raw)"),
            {"doc": doc, "raw": f"{victim['contract_name']} {victim['phone']}".encode("cp932")},
        )
    result = verify(source, nw, retail, tmp_path / "report")
    assert result.returncode == 1, result.stderr
    found = [
        c for c in json.loads(result.stdout)["checks"] if c["id"] == "retail.fingerprint" and c["status"] == "fail"
    ]
    assert {c["column"] for c in found if c["table"] == "sales_extract"} == {"doc", "raw"}, found
    after = post_split(nw, retail)
    assert after.returncode == 1 and ("retail.fingerprint", "sales_extract") in failing(after), after.stderr


def test_a_value_that_breaks_a_check_never_reaches_stderr(tmp_path, session_dbs, dbs):
    """A name and phone written into a retail DATE column (SQLite takes any text there): whatever check trips
    over it, the error output carries no value and the run is never a pass."""
    source = sample_source(session_dbs, "sqlite")
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "retail")
    assert (
        run_cli(
            "copy", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV
        ).returncode
        == 0
    )
    victim = protected_customer(source)
    planted = f"{victim['contract_name']} {victim['phone']}"
    execute(
        retail,
        sa.text(
            "UPDATE monthly_usage SET usage_month = :v WHERE usage_id = (SELECT min(usage_id) FROM monthly_usage)"
        ).bindparams(v=planted),
    )
    result = verify(source, nw, retail, tmp_path / "report")
    # never a pass: the check that converts the column could not prove, and on SQLite the scan, reading every
    # column raw, also finds the name (a found leak outranks "could not prove": exit 1)
    assert result.returncode == 1, result.stderr
    assert ("retail.fingerprint", "monthly_usage") in failing(result)
    assert "Traceback" not in result.stderr
    unproven = [c for c in json.loads(result.stdout)["checks"] if c["status"] == "error"]
    assert any("does not convert to its column's type" in c["message"] for c in unproven), unproven
    written = b"".join(p.read_bytes() for p in (tmp_path / "report").rglob("*") if p.is_file())
    for part in (victim["contract_name"], victim["phone"], victim["phone"].replace("-", "")):
        assert part not in result.stderr + result.stdout
        assert part.encode() not in written


def test_text_in_a_sqlite_integer_or_date_column_is_scanned(tmp_path, session_dbs, dbs):
    """SQLite keeps any text in an INTEGER, REAL or DATE column: the retail side could hide a name there."""
    source = sample_source(session_dbs, "sqlite")
    nw, retail = dbs.url("sqlite", "nw"), dbs.url("sqlite", "retail")
    assert (
        run_cli(
            "copy", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=ENV
        ).returncode
        == 0
    )
    victim = protected_customer(source)
    execute(
        retail,
        "CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER, x REAL)",
        sa.text("INSERT INTO counters VALUES (1, :v, 2.5)").bindparams(
            v=f"{victim['contract_name']} {victim['phone']}"
        ),
    )
    result = verify(source, nw, retail, tmp_path / "report")
    assert result.returncode == 1, result.stderr
    found = [
        c for c in json.loads(result.stdout)["checks"] if c["id"] == "retail.fingerprint" and c["status"] == "fail"
    ]
    assert [(c["table"], c["column"]) for c in found] == [("counters", "n")], found


def found_in(table: str) -> set[tuple[str, str]]:
    """A protected value in free text: the fingerprint and, for a phone, the pattern check."""
    return {("retail.fingerprint", table), ("retail.patterns", table)}


@pytest.mark.parametrize("split_stores", BACKEND_PARAMS, indirect=True)
def test_full_names_in_free_text_and_a_forgotten_kind(split_stores, tmp_path):
    """A new entrant's customer's full name in retail memos (kanji without the space, hiragana) and phone, found
    before and after the split, with a mapping that forgot `kind: phone`: verify protects the column as the
    kind its values show and warns under mapping.kinds; the clean split still passes."""
    source, nw, retail = split_stores
    victim = protected_customer(source)
    text = MAPPING.read_text(encoding="utf-8")
    forgot = tmp_path / "forgot-a-kind.yaml"
    forgot.write_text(text.replace("phone: {to: shared, kind: phone}", "phone: shared"), encoding="utf-8")
    assert forgot.read_text(encoding="utf-8") != text

    def run(*authority: str):
        return run_cli(
            "verify", "--mapping", str(forgot), *authority, "--nw", nw, "--retail", retail, "--json", env=ENV
        )

    clean = run("--source", source)
    assert clean.returncode == 0, (clean.stderr, failing(clean))
    warned = [c for c in json.loads(clean.stdout)["checks"] if c["status"] == "warn" and c["id"] == "mapping.kinds"]
    assert [(c["id"], c["table"], c["column"]) for c in warned] == [("mapping.kinds", "customer_party", "phone")]
    assert "protected as phone" in warned[0]["message"] and "kind: phone" in warned[0]["message"]

    account = reflected(retail, "retail_account")
    first = [r["account_no"] for r in rows(retail, "retail_account", ["account_no"])][:3]
    planted = [
        victim["contract_name"].replace(" ", "") + "様より入電",
        "折返し " + hiragana(victim["name_kana"]) + " さま",
        "督促先 " + victim["phone"],
    ]
    for key, note in zip(first, planted, strict=True):
        execute(retail, account.update().where(account.c.account_no == key).values(note=note))
    for authority, expected in (
        (("--source", source), {*found_in("retail_account"), ("retail.completeness", "retail_account")}),
        (("--post-split",), found_in("retail_account")),
    ):
        result = run(*authority)
        assert result.returncode == 1, result.stderr
        assert failing(result) == expected, failing(result)
        [hit] = [
            c for c in json.loads(result.stdout)["checks"] if c["id"] == "retail.fingerprint" and c["status"] == "fail"
        ]
        assert hit["observed"] == 3, hit  # each planted memo on its own
        for value in (victim["contract_name"], victim["name_kana"], victim["phone"], *planted):
            assert value not in result.stdout + result.stderr


KEYLESS_MAPPING = """\
version: 1
system: keyless
affiliate: {name: x, retailer_codes: [A0001]}
tables:
  note:
    retail: {own: code}
    columns: {code: shared, body: shared}
"""


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_a_difference_in_a_table_without_a_primary_key_is_named(backend, dbs, tmp_path):
    """Without a key, rows are compared as a multiset: a changed row is one missing and one unexpected, and
    a duplicate row removed is one missing — a finding, never a crash."""
    source, nw, retail = dbs.url(backend, "src"), dbs.url(backend, "nw"), dbs.url(backend, "retail")
    note = sa.Table("note", sa.MetaData(), sa.Column("code", sa.String(5)), sa.Column("body", sa.String(50)))
    note.create(engine_for(source))
    execute(source, note.insert().values([("A0001", "x"), ("A0001", "x"), ("A0001", "y"), ("B0002", "z")]))
    mapping = tmp_path / "keyless.yaml"
    mapping.write_text(KEYLESS_MAPPING, encoding="utf-8")
    stores = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail]
    assert run_cli("copy", *stores, env=ENV).returncode == 0
    assert run_cli("verify", *stores, "--json", env=ENV).returncode == 0
    execute(retail, note.update().where(note.c.body == "y").values(body="q"))
    changed = run_cli("verify", *stores, "--json", env=ENV)
    assert changed.returncode == 1 and "Traceback" not in changed.stderr, changed.stderr
    [found] = [c for c in json.loads(changed.stdout)["checks"] if c["status"] == "fail"]
    assert (found["id"], found["table"]) == ("retail.completeness", "note")
    assert "1 missing, 1 unexpected" in found["message"], found["message"]


@pytest.mark.parametrize("split_stores", [BACKEND_PARAMS[2]], indirect=True)
def test_another_database_the_retail_user_can_read_is_a_finding(split_stores):
    """MariaDB: the retail company's user reaches a second database on the server (here the NW store itself).
    With a user of its own database only, the proof passes; with global SELECT (root) it says what it cannot
    cover, as a warning."""
    source, nw, retail = split_stores
    user = f"bk_retail_{uuid.uuid4().hex[:8]}"
    retail_db, nw_db = (sa.engine.make_url(u).database for u in (retail, nw))
    as_user = sa.engine.make_url(retail).set(username=user, password="retail-pw").render_as_string(hide_password=False)
    execute(nw, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'retail-pw'", f"GRANT ALL ON `{retail_db}`.* TO '{user}'@'%'")
    try:
        args = ["verify", "--mapping", str(MAPPING), "--source", source, "--nw", nw, "--json"]
        own_only = run_cli(*args, "--retail", as_user, env=ENV)
        assert own_only.returncode == 0, (own_only.stderr, failing(own_only))
        assert not [c for c in json.loads(own_only.stdout)["checks"] if c["status"] == "warn"]
        execute(nw, f"GRANT SELECT ON `{nw_db}`.* TO '{user}'@'%'")
        reaches_nw = run_cli(*args, "--retail", as_user, env=ENV)
        assert reaches_nw.returncode == 1, reaches_nw.stderr
        assert failing(reaches_nw) == {("retail.tables", f"{nw_db}.*")}
        as_root = run_cli(*args, "--retail", retail, env=ENV)
        assert as_root.returncode == 0, failing(as_root)
        [warning] = [c for c in json.loads(as_root.stdout)["checks"] if c["status"] == "warn"]
        assert warning["id"] == "retail.tables" and "global SELECT" in warning["message"]
        assert "retail-pw" not in reaches_nw.stdout + reaches_nw.stderr
    finally:
        execute(nw, f"DROP USER '{user}'@'%'")
