"""Bad input: exit 2, one clear message that says where and what to do, no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for
from tests.conftest import sample_source
from tests.helpers import MAPPING, TEST_KEY, run_cli
from tests.helpers import copy as copy_cli


@pytest.fixture
def setup(tmp_path, session_dbs):
    source = sample_source(session_dbs, "sqlite")
    nw, retail = tmp_path / "nw.db", tmp_path / "retail.db"
    return source, nw, retail, tmp_path


def copy(mapping: Path, source: str, nw: Path, retail: Path, key: str | None = TEST_KEY):
    """The one copy helper, on SQLite store files that must not appear."""
    return copy_cli(mapping, source, f"sqlite:///{nw}", f"sqlite:///{retail}", key=key)


def assert_usage_error(result, *phrases: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:")
    flat = " ".join(result.stderr.split())
    for phrase in phrases:
        assert phrase in flat, (phrase, result.stderr)


def edited_mapping(tmp: Path, old: str, new: str) -> Path:
    text = MAPPING.read_text(encoding="utf-8")
    assert old in text
    path = tmp / "takuso.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def nothing_written(*paths: Path) -> bool:
    return not any(p.exists() for p in paths)


def test_malformed_yaml(setup):
    source, nw, retail, tmp = setup
    bad = edited_mapping(tmp, "  area:\n    retail: all", "  area:\n    retail: [all")
    result = copy(bad, source, nw, retail)
    assert_usage_error(result, "malformed YAML", "takuso.yaml:")
    assert nothing_written(nw, retail)


def test_unknown_key(setup):
    source, nw, retail, tmp = setup
    result = copy(
        edited_mapping(tmp, "    period: [start_date, end_date]", "    periode: [start_date, end_date]"),
        source,
        nw,
        retail,
    )
    assert_usage_error(result, "unknown key `periode` in table supply_period", "did you mean `period`?")
    assert nothing_written(nw, retail)


def test_unknown_destination(setup):
    source, nw, retail, tmp = setup
    result = copy(
        edited_mapping(tmp, "phone: {to: shared, kind: phone}", "phone: {to: nww, kind: phone}"), source, nw, retail
    )
    assert_usage_error(
        result, "unknown destination `nww` for column phone at", "expected one of shared, nw, retail, encode, drop"
    )
    assert nothing_written(nw, retail)


def test_unmapped_source_columns_are_all_listed(setup, tmp_path):
    _, nw, retail, tmp = setup
    source_file = tmp_path / "shared.db"
    from split.sample.generate import generate

    generate(f"sqlite:///{source_file}", 20, 1)
    with engine_for(f"sqlite:///{source_file}").begin() as conn:
        conn.execute(sa.text("ALTER TABLE customer_party ADD COLUMN mobile_phone VARCHAR(16)"))
        conn.execute(sa.text("ALTER TABLE meter ADD COLUMN note TEXT"))
        conn.execute(sa.text("CREATE TABLE sales_extract (id INTEGER PRIMARY KEY, phone TEXT)"))
    result = copy(MAPPING, f"sqlite:///{source_file}", nw, retail)
    assert_usage_error(
        result,
        "table customer_party does not map source column(s) mobile_phone",
        "table meter does not map source column(s) note",
        "source table `sales_extract` is not in the mapping",
    )
    assert nothing_written(nw, retail)
    plan = run_cli("plan", "--mapping", str(MAPPING), "--source", f"sqlite:///{source_file}")
    assert_usage_error(plan, "mobile_phone", "sales_extract")


def test_unknown_table(setup):
    source, nw, retail, tmp = setup
    text = MAPPING.read_text(encoding="utf-8").replace(
        "  access_log:", "  acess_log:\n    retail: none\n  access_log:", 1
    )
    text = text.replace("tables: [work_order,", "tables: [acess_log, work_order,")
    (tmp / "takuso.yaml").write_text(text, encoding="utf-8")
    result = copy(tmp / "takuso.yaml", source, nw, retail)
    assert_usage_error(result, "unknown table `acess_log`: the source has no such table", "did you mean `access_log`?")
    assert nothing_written(nw, retail)


def test_missing_encode_key(setup):
    source, nw, retail, _ = setup
    result = copy(MAPPING, source, nw, retail, key=None)
    assert_usage_error(result, "BUNKATSU_ENCODE_KEY is not set")
    assert nothing_written(nw, retail)


@pytest.mark.postgresql
def test_unreachable_database(setup):
    source, nw, retail, _ = setup
    result = run_cli(
        "copy",
        "--mapping",
        str(MAPPING),
        "--source",
        source,
        "--nw",
        "postgresql://postgres:s3cret@127.0.0.1:1/nw",
        "--retail",
        f"sqlite:///{retail}",
        env={"BUNKATSU_ENCODE_KEY": TEST_KEY},
    )
    assert_usage_error(result, "cannot connect to the nw database postgresql://postgres:***@127.0.0.1:1/nw")
    assert "s3cret" not in result.stderr + result.stdout
    assert nothing_written(retail)


def test_missing_source_file_and_wrong_urls(setup):
    _, nw, retail, tmp = setup
    result = copy(MAPPING, f"sqlite:///{tmp / 'nope.db'}", nw, retail)
    assert_usage_error(result, "the source database file does not exist")
    assert nothing_written(nw, retail, tmp / "nope.db")
    result = copy(MAPPING, "not a url", nw, retail)
    assert_usage_error(result, "the source URL is not a SQLAlchemy URL")
    result = copy(MAPPING, "oracle://u:pw@h/db", nw, retail)
    assert_usage_error(result, "unsupported database `oracle`", "oracle://u:***@h/db")
    assert "pw@" not in result.stderr


def test_missing_options_name_the_environment_variable(setup):
    source, *_ = setup
    result = run_cli("plan", "--source", source)
    assert_usage_error(result, "no mapping given", "BUNKATSU_MAPPING")
    result = run_cli("plan", "--mapping", str(MAPPING))
    assert_usage_error(result, "no source URL given", "BUNKATSU_SOURCE_URL")


def test_same_database_for_two_roles_is_refused(setup):
    source, _, retail, _ = setup
    result = run_cli(
        "copy",
        "--mapping",
        str(MAPPING),
        "--source",
        source,
        "--nw",
        source,
        "--retail",
        f"sqlite:///{retail}",
        env={"BUNKATSU_ENCODE_KEY": TEST_KEY},
    )
    assert_usage_error(result, "the nw and source URLs point to the same database")


def test_unknown_wave(setup):
    source, nw, retail, _ = setup
    result = run_cli(
        "copy",
        "--mapping",
        str(MAPPING),
        "--source",
        source,
        "--nw",
        f"sqlite:///{nw}",
        "--retail",
        f"sqlite:///{retail}",
        "--wave",
        "nope",
        env={"BUNKATSU_ENCODE_KEY": TEST_KEY},
    )
    assert_usage_error(result, "unknown wave or table: nope")


@pytest.mark.postgresql
def test_a_database_refusing_work_is_one_message_and_exit_3(setup, dbs):
    """A loader without CREATE privilege: no traceback, the reason named, no value or password shown."""
    source, _, retail, _ = setup
    nw = dbs.url("postgresql", "nw")
    with engine_for(nw).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("DROP ROLE IF EXISTS bk_no_create"))
        conn.execute(sa.text("CREATE ROLE bk_no_create LOGIN PASSWORD 'pw-not-shown'"))
        conn.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    try:
        url = nw.replace("postgres@", "bk_no_create:pw-not-shown@")
        result = run_cli(
            "copy",
            "--mapping",
            str(MAPPING),
            "--source",
            source,
            "--nw",
            url,
            "--retail",
            f"sqlite:///{retail}",
            env={"BUNKATSU_ENCODE_KEY": TEST_KEY},
        )
        assert result.returncode == 3, result.stderr
        assert "Traceback" not in result.stderr and "pw-not-shown" not in result.stderr
        flat = " ".join(result.stderr.split())
        assert "the nw store" in flat and "refused a schema change" in flat and "permission denied" in flat
    finally:
        from split.db import dispose_all

        dispose_all()
        with engine_for(nw).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("DROP OWNED BY bk_no_create"))
            conn.execute(sa.text("DROP ROLE bk_no_create"))
