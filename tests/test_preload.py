"""Great Expectations is imported in a thread while `verify`'s first checks run (issue 20). A module being made
in one thread is visible, half made, to the others — and two threads importing the same modules at once can be
handed one half made (Python's way out of an import deadlock). Either way the AttributeError that follows ends
the run as a bug (CI, 2026-12-06: SQLAlchemy's ORM half made by that thread, met by a check's query). So that
thread makes only modules no other thread uses, and imports while no other thread does."""

from __future__ import annotations

import json
import subprocess
import sys

# Each script runs in a fresh interpreter; an audit hook records every module loaded and by which thread.
_HOOK = """
import json, sys, threading
loads = []
sys.addaudithook(lambda event, args: event == "import" and loads.append((threading.current_thread().name, args[0])))
"""

# What a `verify` has loaded by the time it starts the preload: the CLI, the checks, the drivers, Alembic.
_VERIFY_LOADED = """
import split.cli, checks.verify, checks.runner, alembic.runtime.migration, psycopg, pymysql
import sqlalchemy.dialects.postgresql.psycopg, sqlalchemy.dialects.mysql.pymysql
"""


def _run(script: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def _gx_thread() -> str:
    return 'next(t for t in threading.enumerate() if t.name == "bunkatsu-gx-import")'


def _after_gx_loaded(setup: str, found: str) -> list[str]:
    """Run `setup` (it starts the preload) under the audit hook, wait for the GX thread, and return the module
    names `found` gives (an expression over `loads`; `gx` is the indexes of the thread's loads)."""
    out = _run(
        _HOOK
        + setup
        + f"""
{_gx_thread()}.join()
gx = [i for i, (name, _m) in enumerate(loads) if name == "bunkatsu-gx-import"]
print(len(gx), json.dumps(sorted({found})))
"""
    )
    count, names = out.split(" ", 1)
    assert int(count) > 500, "Great Expectations and its dependencies loaded in the thread"
    return json.loads(names)


def test_great_expectations_is_imported_while_no_other_thread_imports():
    # The checks' runner maps a task as the first check does while the GX thread imports.
    setup = """
from checks.suites import preload
from split.engine.run import Runner
preload()
with Runner(2) as runner:
    runner.map(len, [(), ()])
"""
    others = _after_gx_loaded(setup, '{m for name, m in loads[gx[0] : gx[-1]] if name != "bunkatsu-gx-import"}')
    assert others == [], f"imported by another thread at the same time: {others}"


def test_the_great_expectations_thread_makes_no_module_of_a_package_already_in_use():
    # A new module of a package in use (sqlalchemy.orm, say) could be met half made by the main thread's next
    # call into that package. Imports that found nothing (GX probes for optional names) made no module.
    setup = (
        _VERIFY_LOADED
        + """
from checks.suites import preload
in_use = {name.split(".")[0] for name in sys.modules}
preload()
"""
    )
    made = '{m for name, m in loads if name == "bunkatsu-gx-import" and m in sys.modules}'
    shared = _after_gx_loaded(setup, f'{{m for m in {made} if m.split(".")[0] in in_use}}')
    assert shared == [], f"add these to checks.suites.SHARED_WITH_GX: {shared}"


def test_a_query_built_while_great_expectations_loads_meets_no_half_made_module():
    # What CI's failing check did: Alembic's has_table builds an expanding bind parameter, and SQLAlchemy asks
    # its inspection registry about the value — the registry the ORM fills as it loads. Before the fix this loop
    # met the half-made ORM thousands of times per run.
    out = _run(
        _VERIFY_LOADED
        + f"""
import threading
import sqlalchemy as sa
from checks.suites import preload
preload()
thread = {_gx_thread()}
built = errors = 0
while thread.is_alive():
    try:
        sa.bindparam("table_names", expanding=True)
    except AttributeError:
        errors += 1
    built += 1
print(built, errors)
"""
    )
    built, errors = map(int, out.split())
    assert built > 1000, "the loop ran while Great Expectations loaded"
    assert errors == 0, f"{errors} of {built} bind parameters met a half-made module"
