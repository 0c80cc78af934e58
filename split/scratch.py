"""Scratch stores for rehearsals (`dry-run`): made for one run and removed after it, whatever happens.

By default two SQLite files in a fresh temporary folder; with a server URL (PostgreSQL or MariaDB) two
databases of its own, named `bk_dryrun_<id>_nw` / `_retail`, created and dropped here. The stores'
Alembic revisions are written into the scratch folder too, never into the project's `migrations/`.
SIGTERM is turned into an interrupt while scratch exists, so that `kill` cleans up like Ctrl-C.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from split.db import create_database, dispose_all, drop_database, normalise_url
from split.errors import ConfigError
from split.i18n import _
from split.settings import mask_url, parse_url

PREFIX = "bunkatsu-dry-run-"


@dataclass(frozen=True)
class Scratch:
    folder: Path  # temporary: revisions, SQLite stores
    stores: dict[str, str]  # nw / retail → URL
    where: str  # for people: the folder or the server (masked)

    def describe(self) -> str:

        return ", ".join(mask_url(url) for url in self.stores.values())


def scratch_urls(folder: Path, server: str | None) -> tuple[dict[str, str], str]:
    if server is None:
        return {role: f"sqlite:///{folder / (role + '.db')}" for role in ("nw", "retail")}, str(folder)

    parse_url(server, "scratch", database=False)
    url = normalise_url(server)
    if url.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
        raise ConfigError(
            _("--scratch-url must name a PostgreSQL or MariaDB server, not %(backend)s")
            % {"backend": url.get_backend_name()},
            hint=_("leave it out to rehearse into temporary SQLite files"),
        )
    run = uuid.uuid4().hex[:10]
    urls = {
        role: url.set(database=f"bk_dryrun_{run}_{role}").render_as_string(hide_password=False)
        for role in ("nw", "retail")
    }
    return urls, url.set(database=None).render_as_string(hide_password=True)


@contextmanager
def scratch_stores(server: str | None = None) -> Iterator[Scratch]:
    """Scratch stores for the block; removed on the way out, also on an error, Ctrl-C or SIGTERM."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX))
    created: list[str] = []
    with _interrupts() as signalled:
        try:
            urls, where = scratch_urls(folder, server)
            for url in urls.values():
                created.append(url)
                create_database(url)
            yield Scratch(folder, urls, where)
        finally:
            dispose_all()
            for url in created:
                try:
                    drop_database(url)
                except Exception:  # noqa: BLE001 - keep removing the rest; say what is left
                    said = _("could not drop the scratch database %(url)s: drop it by hand")
                    print(said % {"url": mask_url(url)}, file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)
        if signalled:  # the interrupt was raised where Python ignores exceptions (a GC callback): honour it now
            raise KeyboardInterrupt


@contextmanager
def _interrupts() -> Iterator[list[int]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the block and are remembered (the list gets the signal)."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    signalled: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        signalled.append(signum)
        raise KeyboardInterrupt

    def unraisable(info: Any) -> None:  # an interrupt Python had to drop is honoured later: no traceback
        if not isinstance(info.exc_value, KeyboardInterrupt):
            previous_hook(info)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield signalled
    finally:
        sys.unraisablehook = previous_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)
