"""The `schema` verbs, one function each, like Alembic's command module: revision, upgrade, downgrade, check.

Plus `prepare_for_copy`, which `copy` calls before it writes: an empty store is brought to head (writing
the first revision when there is none), a store that is behind, drifted or generated from another
mapping stops the copy with the `schema` command that fixes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from split.db import check_reachable, describe_db_error, engine_for, sqlite_path
from split.errors import ConfigError, TerminalError
from split.i18n import _
from split.identity import require_separate
from split.prepare import Prepared, source_store
from split.schema.derive import engine_digest, schema_digest, store_metadata
from split.schema.keys import execute_builds
from split.schema.migrations import StoreEnv, StoreStatus, compare, current_revision, store_tables
from split.settings import ENV_NW, ENV_RETAIL, ENV_SOURCE, StoreUrl, migrations_dir, store_url

STORES = ("nw", "retail")


def stores_of(choice: str) -> tuple[str, ...]:
    if choice == "both":
        return STORES
    if choice not in STORES:
        raise ConfigError(
            _("unknown store %(choice)s") % {"choice": repr(choice)}, hint=_("use --store nw, retail or both")
        )
    return (choice,)


def store_env(store: StoreUrl, migrations: Path) -> StoreEnv:
    return StoreEnv(store.role, migrations / store.role, store.url, store.masked)


def store_envs(
    nw: str | None, retail: str | None, source: str | None, store: str, migrations: str | Path | None, sql: bool
) -> list[StoreEnv]:
    """The chosen stores, each reachable; none of them the source (when it is known: `--source` or
    BUNKATSU_SOURCE_URL) and not each other. `--sql` only renders DDL and needs no store to be there."""
    given = {"nw": (nw, ENV_NW), "retail": (retail, ENV_RETAIL)}
    targets = [store_url(role, *given[role]) for role in stores_of(store)]
    if not sql:
        for target in targets:
            check_reachable(target.url, target.role, must_exist=False)
        known = [source_store(source)] if source or os.environ.get(ENV_SOURCE) else []
        require_separate([*known, *targets])
    return [store_env(t, migrations_dir(migrations)) for t in targets]


def envs_of(prep: Prepared) -> list[StoreEnv]:
    """The Alembic environments of the prepared stores."""
    return [store_env(store, prep.migrations) for store in prep.stores.values()]


ENGINES = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True)
class Derived:
    """What the mapping asks of one store: its metadata (the same for every engine) and its digest.

    `engine_digests` are the digests earlier bunkatsu versions recorded, one per engine: a head carrying the
    store engine's is today's mapping; another engine's is the same mapping rendered for that engine."""

    metadata: sa.MetaData
    digest: str
    mapping_path: str
    mapping_sha256: str
    engine: str  # the store's
    engine_digests: dict[str, str] = field(default_factory=dict)

    def head_matches(self, head_digest: str) -> bool:
        return head_digest in (self.digest, self.engine_digests.get(self.engine))

    def rendered_for(self, head_digest: str) -> str | None:
        """The other engine a head's legacy digest was rendered for (same mapping), if any."""
        return next((e for e, d in self.engine_digests.items() if d == head_digest and e != self.engine), None)

    def template_args(self, store: str) -> dict:
        return {
            "bunkatsu_store": store,
            "bunkatsu_mapping": self.mapping_path,
            "bunkatsu_mapping_sha256": self.mapping_sha256,
            "bunkatsu_schema_digest": self.digest,
        }


def derive(prep: Prepared, env: StoreEnv) -> Derived:
    from sqlalchemy.dialects import registry

    dialect = engine_for(env.url).dialect
    metadata = store_metadata(prep.plan, prep.mapping, prep.schema, env.store, dialect)
    legacy = {name: engine_digest(metadata, registry.load(name)()) for name in ENGINES}
    engine = "mysql" if dialect.name in ("mysql", "mariadb") else dialect.name
    return Derived(metadata, schema_digest(metadata), prep.plan.mapping_path, prep.plan.mapping_sha256, engine, legacy)


@contextmanager
def connection(env: StoreEnv) -> Iterator[sa.Connection]:
    """One transaction on the store for a whole Alembic command (DDL is transactional where the engine allows)."""
    try:
        with engine_for(env.url, writer=True).begin() as conn:  # on SQLite, a writer makes DDL transactional too
            yield conn
    except sa.exc.DBAPIError as exc:
        raise TerminalError(
            _("the %(store)s store %(masked)s refused a schema change: %(exc)s")
            % {"store": env.store, "masked": env.masked, "exc": describe_db_error(exc)},
            hint=_("give the migrating account DDL rights on the store (CREATE/ALTER/DROP), then run again"),
        ) from None


def _file_missing(env: StoreEnv) -> bool:
    """A SQLite store not created yet: reading it would create the file, and checks write nothing."""
    path = sqlite_path(env.url)
    return path is not None and not path.is_file()


def read_status(env: StoreEnv, derived: Derived) -> StoreStatus:
    if _file_missing(env):
        return _status(env, derived, None)
    with connection(env) as conn:
        return _status(env, derived, conn)


def _status(env: StoreEnv, derived: Derived, conn: sa.Connection | None) -> StoreStatus:
    head = env.head()
    digest = env.head_digest()
    tables = store_tables(conn) if conn is not None else []
    current = current_revision(conn) if conn is not None else None
    differences = compare(conn, derived.metadata) if conn is not None and tables else []
    return StoreStatus(
        env.store,
        env.masked,
        str(env.directory.parent),
        current,
        head,
        None if digest is None else derived.head_matches(digest),
        len(tables),
        differences,
        None if digest is None else derived.rendered_for(digest),
    )


# ── check ──────────────────────────────────────────────────────────────────────────────────


def check(prep: Prepared) -> list[StoreStatus]:
    """Each prepared store against its head and the mapping (the CLI exits 1 unless every state is `ok`)."""
    return [read_status(env, derive(prep, env)) for env in envs_of(prep)]


# ── revision ───────────────────────────────────────────────────────────────────────────────


@dataclass
class RevisionResult:
    store: str
    revision: str | None  # None: the store already matches the mapping, no file written
    down_revision: str | None
    path: str | None
    changes: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)  # environment files written for the first time

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def revision(prep: Prepared, message: str | None = None) -> list[RevisionResult]:
    """Autogenerate one revision per store from the difference between the store (at head) and the mapping."""
    envs = envs_of(prep)
    derived = {env.store: derive(prep, env) for env in envs}
    for env in envs:  # every store at head before any file is written
        st = read_status(env, derived[env.store])
        if st.head is not None and st.current != st.head:
            raise ConfigError(
                _(
                    "the %(store)s store is at %(current)s, head is %(head)s: a revision is generated against a store at head"
                )
                % {"store": env.store, "current": st.current or "base", "head": st.head},
                hint=_("run `bunkatsu schema upgrade --store %(store)s` first") % {"store": env.store},
            )
    return [write_revision(env, derived[env.store], message) for env in envs]


def write_revision(env: StoreEnv, derived: Derived, message: str | None) -> RevisionResult:
    from alembic import command

    initialised = [str(p) for p in env.init()]
    head = env.head()
    with connection(env) as conn:
        changes = [d.text for d in compare(conn, derived.metadata)]
        config = env.config(
            connection=conn, target_metadata=derived.metadata, template_args=derived.template_args(env.store)
        )
        script = command.revision(config, message or f"schema from mapping {derived.mapping_sha256[:12]}", True)
    if isinstance(script, list):  # one environment, one script; a list only when Alembic made none
        script = script[0] if script else None
    if script is None:  # no change: Alembic wrote nothing (see environment.revision_directives)
        return RevisionResult(env.store, None, head, None, [], initialised)
    return RevisionResult(env.store, script.revision, head, script.path, changes, initialised)


# ── upgrade / downgrade ────────────────────────────────────────────────────────────────────


@dataclass
class MoveResult:
    store: str
    before: str | None
    after: str | None
    sql: str | None = None  # with --sql: the DDL, nothing run

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def move(envs: list[StoreEnv], direction: str, to: str, sql: bool) -> list[MoveResult]:
    """`upgrade` or `downgrade` every store to `to`; every store is checked before any is moved."""
    for env in envs:
        _require_revisions(env)
        if not sql:
            _require_managed(env)
    return [_move(env, direction, to, sql) for env in envs]


def _require_managed(env: StoreEnv) -> None:
    """A database with tables but no schema version was not made by bunkatsu (it may be the shared source under
    another name): revisions are never applied to it."""
    if _file_missing(env):
        return
    with connection(env) as conn:
        tables, current = store_tables(conn), current_revision(conn)
    if tables and current is None:
        raise ConfigError(
            _(
                "the %(store)s store %(masked)s holds %(tables)s table(s) but no bunkatsu schema version: it is not a store bunkatsu manages (is it the source?)"
            )
            % {"store": env.store, "masked": env.masked, "tables": len(tables)},
            hint=_(
                "point --%(store)s at the store's own database; to adopt a store that holds exactly the schema of "
                "head: alembic -c %(ini)s -n %(store)s stamp head"
            )
            % {"store": env.store, "ini": env.ini},
        )


def _require_revisions(env: StoreEnv) -> None:
    if not env.has_revisions():
        raise ConfigError(
            _("no revisions for the %(store)s store in %(directory)s")
            % {"store": env.store, "directory": env.directory},
            hint=_("write the first with `bunkatsu schema revision --store %(store)s` (or pass --migrations DIR)")
            % {"store": env.store},
        )


def _move(env: StoreEnv, direction: str, to: str, sql: bool) -> MoveResult:
    from alembic import command
    from alembic.util import CommandError

    try:
        if sql:  # offline: Alembic renders the DDL from the revisions, the store is only asked where it is
            before = None
            if not _file_missing(env):
                with connection(env) as conn:
                    before = current_revision(conn)
            config = env.config()
            getattr(command, direction)(config, f"{before}:{to}" if before else to, sql=True)
            return MoveResult(env.store, before, before, config.output_buffer.getvalue())
        with connection(env) as conn:
            before = current_revision(conn)
            getattr(command, direction)(env.config(connection=conn), to)
            after = current_revision(conn)
    except CommandError as exc:
        raise ConfigError(
            _("%(store)s store: %(exc)s") % {"store": env.store, "exc": exc},
            hint=_("see `alembic history` for the revision ids"),
        ) from None
    return MoveResult(env.store, before, after)


# ── copy ───────────────────────────────────────────────────────────────────────────────────


def prepare_for_copy(prep: Prepared) -> tuple[list[str], dict[str, sa.MetaData]]:
    """Bring empty stores to head, refuse the others unless they are at head and match the mapping.

    Every store is checked before anything is written (exit 2, naming the `schema` command that fixes it).
    Returns notes for the operator (what was written and applied) and each store's derived schema.
    """
    envs = envs_of(prep)
    derived = {env.store: derive(prep, env) for env in envs}
    notes: list[str] = []
    statuses = {env.store: _status_with_keys_built(env, derived[env.store], notes.append) for env in envs}
    for env in envs:
        _refuse_unless_copyable(statuses[env.store])
    for env in envs:
        st = statuses[env.store]
        if st.state == "empty":
            if st.head is None:
                written = write_revision(env, derived[env.store], None)
                said = _("%(store)s store: wrote the first revision %(revision)s (%(path)s)")
                notes.append(said % {"store": env.store, "revision": written.revision, "path": written.path})
            moved = _move(env, "upgrade", "head", False)
            notes.append(
                _("%(store)s store was empty: upgraded to head %(head)s") % {"store": env.store, "head": moved.after}
            )
            after = read_status(env, derived[env.store])
            if after.state not in ("ok", "loosened"):
                said = _("the %(store)s store at head %(head)s does not match the mapping: %(differences)s")
                shown = "; ".join(d.text for d in after.differences[:5])
                raise ConfigError(
                    said % {"store": env.store, "head": after.head, "differences": shown},
                    hint=_("the revisions do not build the mapping's schema: %(fix)s") % {"fix": after.fix()},
                )
        elif st.state == "loosened":
            said = _("%(store)s store: %(summary)s; %(fix)s")
            notes.append(said % {"store": env.store, "summary": st.summary(), "fix": st.fix()})
    return notes, {store: d.metadata for store, d in derived.items()}


def _status_with_keys_built(env: StoreEnv, derived: Derived, note: Callable[[str], object]) -> StoreStatus:
    """The store's status, after building its `keys_to_build` as head has them (one transaction), for the verbs
    that write rows. A key the rows break (a duplicate) fails here, before anything else is written: the
    store's rows must be mended first, not hidden behind a missing key."""
    st = read_status(env, derived)
    if not st.keys_to_build:
        return st
    with engine_for(env.url, writer=True).begin() as conn:
        for d in st.keys_to_build:
            execute_builds(conn, env.store, d.build.element.table.name, [d.build])
    said = _("%(store)s store: built %(n)s primary key(s) and index(es) it lacked, as head has them")
    note(said % {"store": env.store, "n": len(st.keys_to_build)})
    return read_status(env, derived)


def require_at_head(prep: Prepared, note: Callable[[str], object]) -> dict[str, sa.MetaData]:
    """For verbs that change rows in stores already copied (sync): each store at head and matching (keys an
    interrupted copy left to build are built first, `note` says so)."""
    envs = envs_of(prep)
    derived = {env.store: derive(prep, env) for env in envs}
    for env in envs:
        st = _status_with_keys_built(env, derived[env.store], note)
        if st.state == "empty":
            raise ConfigError(
                _("the %(store)s store %(masked)s is empty: there is nothing to bring up to date")
                % {"store": env.store, "masked": env.masked},
                hint=_("run `bunkatsu copy` first"),
            )
        _refuse_unless_copyable(st)
    return {store: d.metadata for store, d in derived.items()}


def _refuse_unless_copyable(st: StoreStatus) -> None:
    if st.state in ("ok", "loosened") or (st.state == "empty" and st.head_matches_mapping is not False):
        return
    shown = [d.text for d in st.differences if not d.loosened]
    more = " " + _("(and %(n)s more)") % {"n": len(shown) - 5} if len(shown) > 5 else ""
    detail = f": {'; '.join(shown[:5])}{more}" if shown else ""
    if st.state == "empty":  # empty, but head was written for another mapping (or rendered for another engine)
        said = (
            _("the %(store)s store is empty, but head %(head)s was rendered for %(engine)s by an earlier bunkatsu")
            if st.head_engine
            else _("the %(store)s store is empty, but head %(head)s was generated from another mapping")
        )
        raise ConfigError(
            said % {"store": st.store, "head": st.head, "engine": st.head_engine},
            hint=_(
                "run `bunkatsu schema upgrade --store %(store)s`, then `bunkatsu schema revision --store %(store)s`, review it and `schema upgrade` again"
            )
            % {"store": st.store},
        )
    raise ConfigError(
        _("the %(store)s store %(url)s %(summary)s%(detail)s")
        % {"store": st.store, "url": st.url, "summary": st.summary(), "detail": detail},
        hint=_("run %(fix)s") % {"fix": st.fix()},
    )
