"""The layers of README "Architecture" hold: import-linter's contract in pyproject.toml passes on this tree
and fails when a lower layer imports a higher one (so a new cycle cannot land)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
    )


def test_the_layers_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for name in ("split", "checks"):
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    db = tree / "split" / "db.py"
    db.write_text(db.read_text(encoding="utf-8") + "\n\ndef _planted() -> None:\n    from split import api  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "split.db is not allowed to import split.api" in " ".join(result.stdout.split())


def test_ci_cannot_deselect_an_engine() -> None:
    """With servers required, `-m "not mariadb"` (or a -k that drops PostgreSQL tests) is a usage error."""
    env = {**os.environ, "BUNKATSU_REQUIRE_SERVERS": "1"}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", "-n", "0"]
    dropped = subprocess.run(
        [*args, "tests/test_verify.py", "-m", "not mariadb"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert dropped.returncode == pytest.ExitCode.USAGE_ERROR, dropped.stdout + dropped.stderr
    assert "PostgreSQL/MariaDB test(s) were deselected" in dropped.stdout + dropped.stderr
    whole = subprocess.run([*args, "tests/test_verify.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert whole.returncode == 0, whole.stdout + whole.stderr


def test_api_is_verbs_only() -> None:
    """split/api.py holds one documented function per verb and nothing else of size."""
    import ast

    source = (ROOT / "split" / "api.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) < 460  # 28 verbs, each a signature, a docstring and a call or two
    functions = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    assert not [f.name for f in functions if not ast.get_docstring(f)]
    assert not [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)], "results live beside their producer"
