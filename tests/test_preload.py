"""Great Expectations is imported in a thread while `verify`'s first checks run (issue 20). Two threads that
import the same modules at once can get a module half made — Python's way out of an import deadlock — and
the AttributeError that follows ends the run as a bug. So that thread imports alone: the main thread's own
lazy imports (Dask's first `map`) are done before it starts."""

from __future__ import annotations

import subprocess
import sys

# In a fresh interpreter: an audit hook records every module loaded and by which thread, the checks' runner
# maps a task as the first check does, and the GX thread is waited for.
_SCRIPT = """
import sys, threading
loads = []
sys.addaudithook(lambda event, args: event == "import" and loads.append((threading.current_thread().name, args[0])))
from checks.suites import preload
from split.engine.run import Runner
preload()
with Runner(2) as runner:
    runner.map(len, [(), ()])
for thread in threading.enumerate():
    if thread.name == "bunkatsu-gx-import":
        thread.join()
gx = [i for i, (name, _m) in enumerate(loads) if name == "bunkatsu-gx-import"]
assert gx, "the thread imported Great Expectations"
others = sorted({m for name, m in loads[gx[0] : gx[-1]] if name != "bunkatsu-gx-import"})
print(len(gx), others)
"""


def test_great_expectations_is_imported_while_no_other_thread_imports():
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    count, others = done.stdout.split(" ", 1)
    assert int(count) > 500, "Great Expectations and its dependencies loaded in the thread"
    assert others.strip() == "[]", f"imported by another thread at the same time: {others[:500]}"
