"""The only module that talks to Dask: runs independent tasks (copy partitions, check partitions).

- Local (default): `workers=1` uses Dask's synchronous scheduler (same code path, one at a time, easy to
  debug); more workers use the threaded scheduler. The COPY fast path spends its time in the servers
  and in psycopg's C code, which release the GIL (threads vs processes measured in BENCHMARKS.md).
- `scheduler="tcp://host:8786"`: the same tasks on an existing dask.distributed cluster. Tasks carry
  URLs and plans, never connections; each worker process opens and caches its own engines.

Completion is reported in this process, in the order tasks finish; results come back in item order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from split.errors import ConfigError, TransientError
from split.i18n import _

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT = "10s"


class Runner:
    """Where tasks run. Connect early (`with Runner(...)`), so that a wrong scheduler address is a usage
    error before anything is written."""

    def __init__(self, workers: int = 2, scheduler: str | None = None) -> None:
        if workers < 1:
            raise ConfigError(_("--workers must be at least 1 (got %(workers)s)") % {"workers": workers})
        self.workers = workers
        self.scheduler = scheduler
        self.client: Any = None

    def __enter__(self) -> Runner:
        if self.scheduler:
            from distributed import Client

            try:
                self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ConfigError(
                    _("cannot reach the Dask scheduler at %(scheduler)s: %(name)s")
                    % {"scheduler": self.scheduler, "name": type(exc).__name__},
                    hint=_("start the cluster (`dask scheduler` and `dask worker ADDR`) or check the address"),
                ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    @property
    def dashboard_link(self) -> str | None:
        return self.client.dashboard_link if self.client is not None else None

    def map(
        self,
        fn: Callable[..., R],
        items: Sequence[T],
        on_done: Callable[[R], None] | None = None,
        name: str = "task",
        shared: Any = None,
    ) -> list[R]:
        """fn(item) for every item, in parallel; results in the order of `items`. The first failure is raised.
        With `shared`, fn(item, shared): one big read-only value every task needs (a protected set), sent to each
        cluster worker once instead of with every task."""
        if not items:
            return []
        if self.client is not None:
            return self._map_distributed(fn, items, on_done, name, shared)
        return self._map_local(fn if shared is None else functools.partial(_with, fn, shared), items, on_done, name)

    def _map_local(self, fn: Callable, items: Sequence, on_done: Callable | None, name: str) -> list:
        import dask
        from dask.callbacks import Callback

        keys = {f"{name}-{i}" for i in range(len(items))}

        class _Progress(Callback):
            def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
                if on_done is not None and key in keys:
                    on_done(result)

        # Each item is a leaf of the graph (traverse=False, named: not tokenized): left to itself, Dask walks every
        # dataclass of a task's plan looking for collections, 2.8 s of a 20 s copy of 16 tables (BENCHMARKS.md).
        graph = [
            dask.delayed(fn, pure=False)(
                dask.delayed(item, name=f"{name}-{i}-in", traverse=False), dask_key_name=f"{name}-{i}"
            )
            for i, item in enumerate(items)
        ]
        scheduler = "synchronous" if self.workers <= 1 else "threads"
        with _Progress():
            return list(dask.compute(*graph, scheduler=scheduler, num_workers=self.workers))

    def _map_distributed(
        self, fn: Callable, items: Sequence, on_done: Callable | None, name: str, shared: Any = None
    ) -> list:
        import uuid

        from distributed import as_completed

        run = uuid.uuid4().hex[:8]  # keys are unique per call: a cluster outlives runs
        extra = [] if shared is None else self.client.scatter([shared], broadcast=True, hash=False)
        futures = [
            self.client.submit(fn, item, *extra, key=f"{name}-{run}-{i}", pure=False) for i, item in enumerate(items)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list = [None] * len(items)
        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        try:
            for future in as_completed(futures, loop=self.client.loop):
                result = future.result()  # re-raises the task's exception here
                results[index[future.key]] = result
                if on_done is not None:
                    on_done(result)
        except (KilledWorker, CommClosedError) as exc:
            self.client.cancel(futures)
            raise TransientError(
                _("the Dask cluster at %(scheduler)s lost a worker or the scheduler (%(name)s)")
                % {"scheduler": self.scheduler, "name": type(exc).__name__},
                hint=_("check the workers' logs and memory, then run the same command again: finished work is kept"),
            ) from None
        except BaseException:
            self.client.cancel(futures)
            raise
        return results


def load_dask() -> None:
    """Import now what the first local `map` would import (Dask's scheduler, and dask.distributed, which Dask
    looks for on every compute). For a caller about to import a large package in another thread: two threads
    importing the same modules at once can get a module half made (Python's way out of an import deadlock),
    and the error that follows is a bug's, not the user's."""
    import dask
    from dask.callbacks import Callback  # noqa: F401 - imported for `_map_local`

    dask.compute(dask.delayed(len)(()), scheduler="synchronous")


def _with(fn: Callable[..., R], shared: Any, item: Any) -> R:
    return fn(item, shared)


def by_level(
    runner: Runner,
    fn: Callable[[Any], R],
    tasks: Sequence[Any],
    levels: dict[str, int],
    on_done: Callable[[R], None] | None,
    name: str,
    children_first: bool = False,
) -> list[R]:
    """fn over the tasks, one foreign-key load level at a time: a level commits before the next starts
    (`task.table.name` gives a task's level; children first for deletions)."""
    results: list[R] = []
    for level in sorted({levels[t.table.name] for t in tasks}, reverse=children_first):
        batch = [t for t in tasks if levels[t.table.name] == level]
        results += runner.map(fn, batch, on_done, name=f"{name}-{level}")
    return results
