"""The only module that talks to Dask: runs independent tasks (copy partitions, check partitions) locally.

`workers=1` uses Dask's synchronous scheduler (same code path, one at a time, easy to debug); more
workers use the threaded scheduler. Completion is reported from Dask's callbacks, in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    on_done: Callable[[R], None] | None = None,
    name: str = "task",
) -> list[R]:
    """fn(item) for every item, in parallel; results in the order of `items`. The first failure is raised."""
    if not items:
        return []
    import dask
    from dask.callbacks import Callback

    keys = {f"{name}-{i}" for i in range(len(items))}

    class _Progress(Callback):
        def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
            if on_done is not None and key in keys:
                on_done(result)

    graph = [dask.delayed(fn, pure=False)(item, dask_key_name=f"{name}-{i}") for i, item in enumerate(items)]
    scheduler = "synchronous" if workers <= 1 else "threads"
    with _Progress():
        return list(dask.compute(*graph, scheduler=scheduler, num_workers=max(workers, 1)))
