"""What a long verb reports while it works; `split.render.BarProgress` draws bars from it. Defaults to silence."""

from __future__ import annotations


class Progress:
    def note(self, message: str) -> None:
        """A line for the operator (the Dask dashboard, schema steps, scratch stores)."""

    def start(self, total: int, tables: dict[str, int]) -> None:
        """Work begins: `total` units, per table."""

    def done(self, result: object) -> None:
        """One unit finished (a partition or key range; `result.table` names its table)."""

    def stop(self) -> None:
        """Work ended, finished or not."""
