"""The environment is the one the lock describes: `make test` and `make demo` install requirements.lock with
its hashes, so a fresh machine runs exactly the versions CI ran. (`make test-latest` is unlocked on purpose.)"""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from tests.helpers import ROOT

LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$", re.M)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, tuple[str, str | None]]:
    return {canonical(n): (v, m) for n, v, m in PIN.findall(LOCK.read_text(encoding="utf-8"))}


def test_every_declared_dependency_is_locked_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = pins()
    for spec in declared:
        req = Requirement(spec)
        assert canonical(req.name) in locked, f"{req.name} is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(locked[canonical(req.name)][0]), f"the lock's {req.name} is outside {spec}"
    text = LOCK.read_text(encoding="utf-8")
    requirement_lines = [line for line in text.splitlines() if line and not line[0].isspace() and line[0] != "#"]
    assert len(requirement_lines) == len(locked), "every requirement line is an exact pin"
    assert text.count("--hash=sha256:") >= len(locked)


@pytest.mark.skipif(os.environ.get("BUNKATSU_UNLOCKED") == "1", reason="make test-latest: newest versions on purpose")
def test_the_installed_versions_are_the_locked_ones() -> None:
    wrong = {}
    for name, (version, marker) in pins().items():
        if marker and not Marker(marker).evaluate():
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            wrong[name] = (installed, version)
    assert not wrong, f"installed ≠ locked (installed, locked): {wrong}; run `make test` to reinstall from the lock"
