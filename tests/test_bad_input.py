"""The bad-input matrix: every mistake a user can make gets exit 2, one line that says what and where (and,
after an arrow, what to do), no traceback, and nothing written: no store, no revision folder, no report.

Each case runs through the CLI in a child process, as a user would. `tests/test_cli_errors.py` holds the
cases that need more set-up than a row here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import sample_source
from tests.helpers import MAPPING, TEST_KEY, run_cli


@dataclass
class Case:
    id: str
    args: Callable[[Path, str, str, str, Path], list[str]]  # (mapping, source, nw, retail, tmp) → argv
    expect: tuple[str, ...]  # phrases of the message, whitespace folded
    edit: tuple[str, str] | None = None  # a change to the reference mapping
    env: dict[str, str] = field(default_factory=lambda: {"BUNKATSU_ENCODE_KEY": TEST_KEY})
    stdin: str | None = None


def stores(m: Path, s: str, nw: str, rt: str, tmp: Path) -> list[str]:
    return ["--mapping", str(m), "--source", s, "--nw", nw, "--retail", rt]


def copy_argv(*extra: str) -> Callable[[Path, str, str, str, Path], list[str]]:
    return lambda m, s, nw, rt, tmp: ["copy", *stores(m, s, nw, rt, tmp), *extra]


def verify(*extra: str) -> Callable[[Path, str, str, str, Path], list[str]]:
    return lambda m, s, nw, rt, tmp: ["verify", *stores(m, s, nw, rt, tmp), *extra]


def with_source(url: str, command: str = "copy") -> Callable[[Path, str, str, str, Path], list[str]]:
    return lambda m, s, nw, rt, tmp: [command, "--mapping", str(m), "--source", url, "--nw", nw, "--retail", rt]


def with_store(role: str, url: str) -> Callable[[Path, str, str, str, Path], list[str]]:
    def argv(m: Path, s: str, nw: str, rt: str, tmp: Path) -> list[str]:
        given = {"nw": nw, "retail": rt, role: url}
        return ["copy", "--mapping", str(m), "--source", s, "--nw", given["nw"], "--retail", given["retail"]]

    return argv


NO_KEY: dict[str, str] = {}

CASES = [
    # ── the mapping file ──────────────────────────────────────────────────────────────────────
    Case(
        "malformed-yaml",
        copy_argv(),
        ("malformed YAML", "takuso.yaml:"),
        ("  area:\n    retail: all", "  area:\n    retail: [all"),
    ),
    Case(
        "unknown-key",
        copy_argv(),
        ("unknown key `periode`", "did you mean `period`?"),
        ("    period: [", "    periode: ["),
    ),
    Case(
        "duplicate-key",
        copy_argv(),
        ("duplicate entry `area_name`", "list it once"),
        ("area_name: shared,", "area_name: shared, area_name: nw,"),
    ),
    Case("unknown-destination", copy_argv(), ("unknown destination `nww`",), ("phone: {to: shared", "phone: {to: nww")),
    Case("unknown-kind", copy_argv(), ("unknown kind `fone`",), ("kind: phone}", "kind: fone}")),
    Case("version-2", copy_argv(), ("version",), ("version: 1", "version: 2")),
    Case(
        "mapped-column-gone",
        copy_argv(),
        ("ghost_col", "area"),
        ("nw_company_name: shared}", "nw_company_name: shared, ghost_col: shared}"),
    ),
    Case(
        "own-column-missing",
        copy_argv(),
        ("retailer_cod",),
        ("retail: {own: retailer_code}\n    period", "retail: {own: retailer_cod}\n    period"),
    ),
    Case(
        "on-column-missing",
        copy_argv(),
        ("supply_point_idx",),
        ("retail: {follow: supply_point, on: supply_point_id}", "retail: {follow: supply_point, on: supply_point_idx}"),
    ),
    Case(
        "period-column-missing",
        copy_argv(),
        ("start_dat",),
        ("period: [start_date, end_date]", "period: [start_dat, end_date]"),
    ),
    Case(
        "follow-unknown-table",
        copy_argv(),
        ("supply_periods",),
        (
            "retail: {follow: supply_period, on: supply_point_id}",
            "retail: {follow: supply_periods, on: supply_point_id}",
        ),
    ),
    Case("at-without-period", copy_argv(), ("period",), ("    period: [start_date, end_date]   # both", "    # both")),
    Case(
        "partition-key-missing",
        copy_argv(),
        ("usage_idx",),
        ("partition: {by: usage_id,", "partition: {by: usage_idx,"),
    ),
    Case(
        "partition-key-not-orderable",
        copy_argv(),
        ("has_grid_connected_gen", "not the same in every engine"),
        (
            "    retail: {follow: supply_period, on: supply_point_id}\n    columns:\n      supply_point_id: {to: shared, kind: supply_point_id}\n      area_code",
            "    retail: {follow: supply_period, on: supply_point_id}\n    partition: {by: has_grid_connected_gen}\n"
            "    columns:\n      supply_point_id: {to: shared, kind: supply_point_id}\n      area_code",
        ),
    ),
    Case(
        "partitioned-table-with-an-unmapped-column",
        copy_argv(),
        ("generation_reading_30min does not map source column(s) kwh_exported",),
        ("      kwh_exported: shared\n  contact_history:", "  contact_history:"),
    ),
    Case(
        "partition-key-column-twice",
        copy_argv(),
        ("lists a column twice",),
        ("partition: {by: [supply_point_id, reading_date, slot]", "partition: {by: [slot, reading_date, slot]"),
    ),
    Case(
        "partition-key-empty-list",
        copy_argv(),
        ("empty list",),
        ("partition: {by: [supply_point_id, reading_date, slot]", "partition: {by: []"),
    ),
    Case(
        "partition-key-nullable",
        copy_argv(),
        ("max_demand_kw may be NULL",),
        ("partition: {by: usage_id,", "partition: {by: max_demand_kw,"),
    ),
    Case("table-in-no-wave", copy_argv(), ("access_log", "wave"), ("fit_contract, access_log]}", "fit_contract]}")),
    Case(
        "table-in-two-waves",
        copy_argv(),
        ("area", "wave"),
        ("{name: usage, tables: [", "{name: usage, tables: [area, "),
    ),
    Case(
        "mapping-file-missing",
        lambda m, s, nw, rt, tmp: ["copy", *stores(tmp / "nope.yaml", s, nw, rt, tmp)],
        ("nope.yaml",),
    ),
    Case("mapping-is-a-folder", lambda m, s, nw, rt, tmp: ["copy", *stores(tmp, s, nw, rt, tmp)], ("mapping",)),
    Case("mapping-empty", copy_argv(), ("mapping",), ("", "")),
    Case(
        "no-mapping-given",
        lambda m, s, nw, rt, tmp: ["copy", "--source", s, "--nw", nw, "--retail", rt],
        ("no mapping given",),
    ),
    # ── URLs ──────────────────────────────────────────────────────────────────────────────────
    Case(
        "port-not-a-number",
        with_store("nw", "postgresql://postgres@127.0.0.1:abc/nw"),
        ("not a SQLAlchemy URL", "a port is a number"),
    ),
    Case("url-without-database", with_store("nw", "postgresql://postgres@127.0.0.1:5432"), ("names no database",)),
    Case("unsupported-backend", with_store("retail", "oracle://u@h/db"), ("unsupported database `oracle`",)),
    Case("not-a-url", with_store("nw", "nw.db"), ("not a SQLAlchemy URL",)),
    Case("no-source", lambda m, s, nw, rt, tmp: ["copy", "--mapping", str(m), "--nw", nw, "--retail", rt], ("source",)),
    Case("source-file-missing", with_source("sqlite:////nonexistent/shared.db"), ("source",)),
    Case(
        "bad-mariadb-credentials",
        with_store("nw", "mysql+pymysql://nobody:s3cret@127.0.0.1:3306/bk_x"),
        ("cannot connect to the nw database", "***"),
    ),
    Case(
        "nw-is-the-source",
        lambda m, s, nw, rt, tmp: ["copy", *stores(m, s, s, rt, tmp)],
        ("same database", "nothing was written"),
    ),
    Case("nw-is-retail", lambda m, s, nw, rt, tmp: ["copy", *stores(m, s, nw, nw, tmp)], ("same database",)),
    # ── the encode key ────────────────────────────────────────────────────────────────────────
    Case("no-encode-key", copy_argv(), ("BUNKATSU_ENCODE_KEY is not set", "bunkatsu key generate"), env=NO_KEY),
    Case("key-of-spaces", copy_argv(), ("too weak",), env={"BUNKATSU_ENCODE_KEY": " " * 16}),
    Case("key-a-password", copy_argv(), ("too weak",), env={"BUNKATSU_ENCODE_KEY": "password1234567890"}),
    Case("key-repeated", copy_argv(), ("too weak",), env={"BUNKATSU_ENCODE_KEY": "abcd" * 16}),
    # ── options ───────────────────────────────────────────────────────────────────────────────
    Case("workers-0", copy_argv("--workers", "0"), ("--workers must be at least 1",)),
    Case("unknown-wave", copy_argv("--wave", "nosuch"), ("unknown wave or table: nosuch",)),
    Case("unknown-table", copy_argv("--tables", "nosuch"), ("unknown wave or table: nosuch",)),
    Case("unknown-option", copy_argv("--bogus"), ("No such option: --bogus", "bunkatsu copy --help")),
    Case("option-without-value", lambda m, s, nw, rt, tmp: ["copy", "--mapping"], ("--mapping",)),
    Case("workers-not-a-number", copy_argv("--workers", "two"), ("Invalid value for '--workers'",)),
    Case("unknown-command", lambda m, s, nw, rt, tmp: ["cpy"], ("No such command",)),
    Case(
        "sample-0",
        lambda m, s, nw, rt, tmp: ["dry-run", "--mapping", str(m), "--source", s, "--sample", "0"],
        ("--sample",),
    ),
    Case("report-is-a-file", verify("--report", "REPORT_FILE"), ("is a file, not a folder",)),
    Case("report-inside-a-file", verify("--report", "REPORT_FILE/sub"), ("which is a file, not a folder",)),
    Case(
        "schema-store-bogus",
        lambda m, s, nw, rt, tmp: ["schema", "check", *stores(m, s, nw, rt, tmp), "--store", "both2"],
        ("unknown store",),
    ),
    Case(
        "canary-into-bogus",
        lambda m, s, nw, rt, tmp: ["canary", "plant", "--mapping", str(m), "--source", s, "--into", "retail"],
        ("--into retail",),
    ),
    Case(
        "canary-count-0",
        lambda m, s, nw, rt, tmp: ["canary", "plant", "--mapping", str(m), "--nw", nw, "--into", "nw", "--count", "0"],
        ("--count 0",),
    ),
    Case(
        "rollback-empty-reason",
        lambda m, s, nw, rt, tmp: [
            "cutover",
            "rollback",
            *stores(m, s, nw, rt, tmp),
            "--wave",
            "masters",
            "--reason",
            " ",
        ],
        ("reason",),
    ),
    Case(
        "sample-db-no-url",
        lambda m, s, nw, rt, tmp: ["sample-db"],
        ("Missing argument 'url'", "bunkatsu sample-db --help"),
    ),
    Case(
        "grants-roles-missing",
        lambda m, s, nw, rt, tmp: ["grants", "--nw", nw, "--retail", rt, "--roles", str(tmp / "roles.yaml")],
        ("roles.yaml",),
    ),
]


@pytest.fixture
def setup(tmp_path: Path, session_dbs) -> tuple[str, str, str, Path]:
    source = sample_source(session_dbs, "sqlite")
    return source, f"sqlite:///{tmp_path / 'nw.db'}", f"sqlite:///{tmp_path / 'retail.db'}", tmp_path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, setup, migrations: Path) -> None:
    source, nw, retail, tmp = setup
    mapping = MAPPING
    if case.edit is not None:
        text = MAPPING.read_text(encoding="utf-8")
        old, new = case.edit
        assert old in text, f"the case's edit no longer applies: {old!r}"
        mapping = tmp / "takuso.yaml"
        mapping.write_text(text.replace(old, new, 1) if old else "", encoding="utf-8")
    report_file = tmp / "report.txt"
    report_file.write_text("an existing file", encoding="utf-8")
    argv = [a.replace("REPORT_FILE", str(report_file)) for a in case.args(mapping, source, nw, retail, tmp)]
    result = run_cli(*argv, env=case.env)

    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error:"), result.stderr
    # one message and its hint; a mapping's problems are listed together, one "- " line each
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.lstrip().startswith("- ")]
    assert len(lines) <= 3, "one message (and its hint), not a listing of internals: " + result.stderr
    flat = " ".join(result.stderr.split())
    for phrase in case.expect:
        assert phrase in flat, (phrase, result.stderr)
    assert "s3cret" not in result.stderr + result.stdout
    written = [p.name for p in (tmp / "nw.db", tmp / "retail.db", migrations) if p.exists()]
    assert not written, f"written despite the error: {written}"
    assert report_file.read_text(encoding="utf-8") == "an existing file"


def test_the_matrix_is_large_enough() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def _copied(tmp: Path, source: str, mapping: Path = MAPPING, key: str = TEST_KEY) -> tuple[str, str]:
    nw, retail = f"sqlite:///{tmp / 'nw.db'}", f"sqlite:///{tmp / 'retail.db'}"
    result = run_cli("copy", *stores(mapping, source, nw, retail, tmp), env={"BUNKATSU_ENCODE_KEY": key})
    assert result.returncode == 0, result.stderr
    return nw, retail


def test_a_retailer_code_is_data_never_a_bind_parameter(tmp_path: Path, session_dbs) -> None:
    """`:y` inside a quoted code is not a parameter: the SQL keeps the code, and the copy runs."""
    source = sample_source(session_dbs, "sqlite")
    mapping = tmp_path / "m.yaml"
    text = MAPPING.read_text(encoding="utf-8").replace(
        'retailer_codes: ["00016"]', 'retailer_codes: ["00016", "o\'k :y"]'
    )
    mapping.write_text(text, encoding="utf-8")
    sql = run_cli("plan", "--sql", "--mapping", str(mapping), "--source", source)
    assert sql.returncode == 0, sql.stderr
    assert "IN ('00016', 'o''k :y')" in sql.stdout and "NULL)" not in sql.stdout
    _copied(tmp_path, source, mapping)


def test_a_wrong_encode_key_at_verify_is_never_a_pass(tmp_path: Path, session_dbs) -> None:
    source = sample_source(session_dbs, "sqlite")
    nw, retail = _copied(tmp_path, source)
    other = "f" * 8 + "0123456789abcdef0123456789abcdef"
    result = run_cli(
        "verify", *stores(MAPPING, source, nw, retail, tmp_path), "--json", env={"BUNKATSU_ENCODE_KEY": other}
    )
    assert result.returncode in (1, 3), result.stderr
    assert other not in result.stdout + result.stderr


def test_several_alembic_heads_are_a_usage_error(tmp_path: Path, session_dbs, migrations: Path) -> None:
    source = sample_source(session_dbs, "sqlite")
    nw, retail = _copied(tmp_path, source)
    versions = migrations / "nw" / "versions"
    first = next(versions.glob("*.py"))
    text = first.read_text(encoding="utf-8")
    revision = text.split("revision: str = ", 1)[1].split("\n", 1)[0].strip().strip("'\"")
    (versions / "second_head.py").write_text(
        '"""a colleague\'s branch"""\nrevision = "b0b0b0b0b0b0"\ndown_revision = None\nbranch_labels = None\n'
        "depends_on = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
        encoding="utf-8",
    )
    result = run_cli("schema", "upgrade", "--store", "nw", "--nw", nw)
    assert result.returncode == 2, result.stderr
    flat = " ".join(result.stderr.split())
    assert "have several heads" in flat and revision in flat and "merge heads" in flat


def test_cutover_status_takes_the_same_connection_options(tmp_path: Path, session_dbs) -> None:
    source = sample_source(session_dbs, "sqlite")
    nw, retail = _copied(tmp_path, source)
    result = run_cli("cutover", "status", *stores(MAPPING, source, nw, retail, tmp_path), "--json")
    assert result.returncode == 0, result.stderr
