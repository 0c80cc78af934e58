"""The only module that talks to Dask: runs partition tasks on the local scheduler.

`--workers 1` uses Dask's synchronous scheduler (same code path, one at a time, easy to debug);
more workers use the threaded scheduler. Progress is reported from Dask's callbacks, in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from split.engine.partition import PartitionResult, PartitionTask, copy_partition


def run_partitions(
    tasks: Sequence[PartitionTask], workers: int, on_done: Callable[[PartitionResult], None] | None = None
) -> list[PartitionResult]:
    if not tasks:
        return []
    import dask
    from dask.callbacks import Callback

    class _Progress(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):  # type: ignore[no-untyped-def]
            if on_done is not None and isinstance(result, PartitionResult):
                on_done(result)

    graph = [
        dask.delayed(copy_partition, pure=False)(task, dask_key_name=f"copy-{task.label}-{i}")
        for i, task in enumerate(tasks)
    ]
    scheduler = "synchronous" if workers <= 1 else "threads"
    with _Progress():
        return list(dask.compute(*graph, scheduler=scheduler, num_workers=max(workers, 1)))
