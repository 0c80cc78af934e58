"""The CLI and its docs stay in step: every command documented with an example; help is fast and light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from split.cli import app
from tests.helpers import ROOT, run_cli


def _commands(group, prefix=()):  # type: ignore[no-untyped-def]
    """Every command path, sub-commands of groups included: ("copy",), ("schema",), ("schema", "check"), …"""
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


ROOT_GROUP = typer.main.get_command(app)
COMMANDS = sorted(" ".join(path) for path in _commands(ROOT_GROUP))


def _click_command(path: str):  # type: ignore[no-untyped-def]
    command = ROOT_GROUP
    for name in path.split():
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def test_the_expected_commands_exist():
    assert {"sample-db", "plan", "copy", "demo", "schema revision", "schema upgrade", "schema check"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(command):
    result = run_cli(*command.split(), "--help")
    assert result.returncode == 0
    assert "Example" in result.stdout
    assert f"bunkatsu {command}" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_help_text(command):
    for param in _click_command(command).params:
        if param.param_type_name == "option":
            assert param.help, f"{command} {param.opts} has no help text"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_usage_error_is_one_line_and_exit_2_on_every_command(command):
    """Whatever Typer/click version is installed (Typer vendors its own click since 0.29)."""
    result = run_cli(*command.split(), "--no-such-option")
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: No such option: --no-such-option"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert f"(see `bunkatsu {command} --help`)" in result.stderr


def test_help_is_fast_because_heavy_libraries_are_not_imported():
    code = (
        "import sys\nfrom split.cli import app\n"
        "try:\n    app(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'great_expectations', 'pandas', 'sqlalchemy', 'psycopg'})\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert "HEAVY []" in out


def test_readme_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in ("mappings/README.md", "runbooks/README.md", "CHANGELOG.md"):
        assert f"({target})" in readme and (ROOT / target).is_file()


def test_demo_through_the_cli(tmp_path: Path):
    result = run_cli("demo", "--dir", str(tmp_path / "demo"), "--supply-points", "60", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["generated_encode_key"] is True
    for role in ("shared", "nw", "retail", "mapping"):
        assert Path(report["files"][role]).is_file()
    tables = {t["table"]: t for t in report["copy"]["tables"]}
    assert tables["interval_reading_30min"]["rows"]["nw"] == tables["interval_reading_30min"]["source_rows"]
    assert 0 < tables["interval_reading_30min"]["rows"]["retail"] < tables["interval_reading_30min"]["source_rows"]
    assert "retail" not in tables["access_log"]["rows"] and "nw" not in tables["retail_account"]["rows"]
    # as `make demo` runs it: a relative folder, from another working directory
    human = run_cli("demo", "--dir", "demo2", "--supply-points", "30", cwd=tmp_path)
    assert human.returncode == 0, human.stderr
    assert "columns by destination" in human.stdout and "verdict: PASS" in human.stdout
    assert "improper views by" in human.stdout and set(report["audit_log"]) >= {"views", "viewers", "per_day"}
    assert "Access-log investigation" in (tmp_path / "demo2" / "report" / "index.html").read_text(encoding="utf-8")
    assert (tmp_path / "demo2" / "report" / "gx" / "index.html").is_file()
