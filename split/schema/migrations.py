"""A store's Alembic environment, configured in code, and the comparison of a store with its schema.

Each store has its own environment, `<migrations>/<store>/` (env.py, script.py.mako, versions/), and
`<migrations>/alembic.ini` has one section per store, so plain `alembic -n nw …` works as well. The
ini file is optional: without it everything is set here.
"""

from __future__ import annotations

import argparse
import io
from configparser import ConfigParser
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from split.errors import ConfigError
from split.i18n import N_, _
from split.schema.environment import VERSION_TABLE, include_name

TEMPLATES = Path(__file__).parent / "templates"
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"


@dataclass(frozen=True)
class StoreEnv:
    """The Alembic environment of one store: where its revisions live and which database it manages."""

    store: str
    directory: Path  # <migrations>/<store>
    url: str
    masked: str

    @property
    def ini(self) -> Path:
        return self.directory.parent / "alembic.ini"

    def init(self) -> list[Path]:
        """Write the environment's files that are missing (never overwrite the user's). Returns those written."""
        written = []
        files = {
            self.directory / "env.py": (TEMPLATES / "env.py.tmpl")
            .read_text(encoding="utf-8")
            .format(store=self.store, upper=self.store.upper()),
            self.directory / "script.py.mako": (TEMPLATES / "script.py.mako").read_text(encoding="utf-8"),
            self.ini: (TEMPLATES / "alembic.ini.tmpl").read_text(encoding="utf-8"),
        }
        (self.directory / "versions").mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            if not path.exists():
                path.write_text(text, encoding="utf-8")
                written.append(path)
        return written

    def config(self, **attributes: Any) -> Any:
        """An Alembic Config: the store's section of alembic.ini when there is one, completed in code."""
        from alembic.config import Config

        quiet = argparse.Namespace(quiet=True)  # results are printed by bunkatsu, in text or JSON
        buffer = io.StringIO()
        if self.ini.is_file():
            config = Config(str(self.ini), ini_section=self.store, output_buffer=buffer, cmd_opts=quiet)
            config.file_config = _read_ini(self.ini, config.config_args)
        else:
            config = Config(output_buffer=buffer, cmd_opts=quiet)
        defaults = {"script_location": str(self.directory), "path_separator": "os", "file_template": FILE_TEMPLATE}
        for option, value in defaults.items():
            if not config.get_main_option(option):
                config.set_main_option(option, value)
        config.attributes.update(url=self.url, **attributes)
        return config

    def has_revisions(self) -> bool:
        return (self.directory / "env.py").is_file() and self.head() is not None

    def script(self) -> Any:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config())

    def head(self) -> str | None:
        if not (self.directory / "env.py").is_file():
            return None
        heads = self.script().get_heads()
        if len(heads) > 1:
            raise ConfigError(
                _("the %(store)s migrations in %(directory)s have several heads: %(heads)s")
                % {"store": self.store, "directory": self.directory, "heads": ", ".join(heads)},
                hint=_("merge them: alembic -c %(ini)s -n %(store)s merge heads -m merge")
                % {"ini": self.ini, "store": self.store},
            )
        return heads[0] if heads else None

    def head_digest(self) -> str | None:
        """The schema digest the head revision was generated for; None for a revision written by hand."""
        head = self.head()
        if head is None:
            return None
        return getattr(self.script().get_revision(head).module, "bunkatsu_schema_digest", None)


def current_revision(conn: sa.Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def store_tables(conn: sa.Connection) -> list[str]:
    """The store's tables but Alembic's version table (`schema revision` creates it in an empty store)."""
    return sorted(t for t in sa.inspect(conn).get_table_names() if t != VERSION_TABLE)


@dataclass(frozen=True)
class Difference:
    """One way the store differs from the schema the mapping derives. `loosened`: a column that is still
    nullable where the mapping wants NOT NULL (added to a table with rows; tightened after the copy).
    `build`: for a primary key or an index the store lacks, the DDL element that creates it as head has it
    (an interrupted copy leaves a big table's key to build, `split.schema.keys`)."""

    text: str
    loosened: bool = False
    build: Any = field(default=None, compare=False, repr=False)


def compare(conn: sa.Connection, metadata: sa.MetaData) -> list[Difference]:
    """The store against the derived schema, as Alembic's autogenerate sees it."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_name": include_name, "version_table": VERSION_TABLE}
    )
    out = []
    for diff in compare_metadata(context, metadata):
        for item in diff if isinstance(diff, list) else [diff]:
            out.append(describe(item))
    out += primary_key_differences(conn, metadata)
    if conn.dialect.name != "postgresql":  # `copy` builds missing keys on PostgreSQL stores only
        out = [replace(d, build=None) for d in out]
    return out


def primary_key_differences(conn: sa.Connection, metadata: sa.MetaData) -> list[Difference]:
    """Alembic's autogenerate does not compare primary keys: a store table without its key (an interrupted
    copy that builds it after loading, or one dropped by hand) would pass as at head, and accept duplicates."""
    inspector = sa.inspect(conn)
    present = set(inspector.get_table_names())
    tables = [t for t in metadata.tables.values() if t.name in present]
    if not tables:
        return []
    reflected = inspector.get_multi_pk_constraint(filter_names=[t.name for t in tables])
    out = []
    for table in tables:
        wanted = [c.name for c in table.primary_key.columns]
        found = reflected.get((None, table.name))
        held = list(found["constrained_columns"]) if found else []
        if held == wanted:
            continue
        named = f"{table.name}({', '.join(wanted)})"
        if not held:
            said = _("primary key on %(table)s: %(where)s") % {"table": named, "where": _("missing from the store")}
            out.append(Difference(said, build=sa.schema.AddConstraint(table.primary_key)))
        else:
            said = _("primary key on %(table)s: (%(held)s) in the store") % {"table": named, "held": ", ".join(held)}
            out.append(Difference(said))
    return out


def describe(diff: tuple) -> Difference:
    """Alembic's diff tuple in words, from the store's point of view ("missing" = head/mapping has it)."""
    kind = diff[0]
    missing = _("missing from the store")
    extra = _("in the store but not in the schema")
    if kind in ("add_table", "remove_table"):
        where = missing if kind == "add_table" else extra
        return Difference(_("table %(table)s: %(where)s") % {"table": diff[1].name, "where": where})
    if kind in ("add_column", "remove_column"):
        where = missing if kind == "add_column" else extra
        return Difference(_("column %(column)s: %(where)s") % {"column": f"{diff[2]}.{diff[3].name}", "where": where})
    if kind in ("add_index", "remove_index", "add_fk", "remove_fk", "add_constraint", "remove_constraint"):
        obj = diff[1]
        what = {"index": N_("index"), "fk": N_("foreign key"), "constraint": N_("constraint")}[kind.split("_", 1)[1]]
        where = missing if kind.startswith("add") else extra
        table = getattr(obj, "table", None) if what != "foreign key" else obj.parent
        cols = ", ".join(c.name for c in getattr(obj, "columns", ()))
        named = f"{obj.name or ''} on {getattr(table, 'name', '?')}({cols})"
        build = sa.schema.CreateIndex(obj) if kind == "add_index" else None
        return Difference(f"{_(what)} {named}: {where}", build=build)
    if kind == "modify_nullable":
        _op, _at, table, column, _info, store_nullable, wanted_nullable = diff
        said = _("column %(column)s: %(state)s in the store, %(wanted)s in the schema")
        state = _("nullable") if store_nullable else "NOT NULL"
        wanted = _("nullable") if wanted_nullable else "NOT NULL"
        return Difference(
            said % {"column": f"{table}.{column}", "state": state, "wanted": wanted},
            loosened=bool(store_nullable) and not wanted_nullable,
        )
    if kind == "modify_type":
        _op, _at, table, column, _info, store_type, wanted_type = diff
        said = _("column %(column)s: type %(store_type)s in the store, %(wanted_type)s in the schema")
        return Difference(said % {"column": f"{table}.{column}", "store_type": store_type, "wanted_type": wanted_type})
    return Difference(f"{kind}: {' '.join(str(x) for x in diff[1:] if x is not None)}")


@dataclass
class StoreStatus:
    """Where a store stands against its migrations and the mapping; `state` says what to do next."""

    store: str
    url: str  # masked
    migrations: str
    current: str | None
    head: str | None
    head_matches_mapping: bool | None  # None: the head revision was written by hand
    tables: int  # tables in the store, any
    differences: list[Difference] = field(default_factory=list)
    head_engine: str | None = None  # the head is this mapping's, rendered for that engine by an earlier bunkatsu

    @property
    def state(self) -> str:
        if self.head is None:
            return "empty" if not self.tables else "no-revisions"
        if self.current is None:
            return "empty" if not self.tables else "unversioned"
        if self.current != self.head:
            return "behind"
        if self.head_matches_mapping is False:
            return "other-engine" if self.head_engine else "mapping-changed"
        if any(not d.loosened for d in self.differences):
            return "drifted"
        return "loosened" if self.differences else "ok"

    @property
    def keys_to_build(self) -> list[Difference]:
        """The primary keys and indexes a PostgreSQL store lacks, when nothing else differs from head: what a
        copy interrupted before building a big table's key leaves, and what the next `copy` builds."""
        drifts = [d for d in self.differences if not d.loosened]
        return drifts if self.state == "drifted" and all(d.build is not None for d in drifts) else []

    def fix(self, mapping_hint: str = "") -> str:
        values = {"store": self.store, "migrations": self.migrations}
        if self.keys_to_build:
            return _(
                "`bunkatsu copy` (or `sync`) again: it builds the primary keys and indexes the store lacks, as head "
                "has them, before it writes"
            )
        upgrade = "`bunkatsu schema upgrade --store %(store)s`"  # the same in every language
        return (
            _(
                {
                    "empty": N_("`bunkatsu schema upgrade --store %(store)s` (or let `copy` do it)")
                    if self.head
                    else N_("`bunkatsu schema revision --store %(store)s` then `schema upgrade`"),
                    "no-revisions": N_("`bunkatsu schema revision --store %(store)s` then `schema upgrade`"),
                    "unversioned": N_(
                        "empty the store and run `bunkatsu schema upgrade --store %(store)s`, or, if it holds exactly the "
                        "schema of head, adopt it: alembic -c %(migrations)s/alembic.ini -n %(store)s stamp head"
                    ),
                    "behind": upgrade,
                    "mapping-changed": N_(
                        '`bunkatsu schema revision --store %(store)s -m "…"`, review it, then '
                        "`bunkatsu schema upgrade --store %(store)s`"
                    ),
                    "other-engine": N_(
                        '`bunkatsu schema revision --store %(store)s -m "engine-neutral"` once (it records a head that '
                        "serves every engine), review it, then `bunkatsu schema upgrade --store %(store)s`"
                    ),
                    "drifted": N_(
                        "undo the change in the store, or write it into a revision: "
                        '`bunkatsu schema revision --store %(store)s -m "…"`, review, `schema upgrade`'
                    ),
                    "loosened": N_(
                        "after the next `copy`, `bunkatsu schema revision --store %(store)s` and `schema upgrade` "
                        "make the new columns NOT NULL"
                    ),
                }[self.state]
            )
            % values
            if self.state != "ok"
            else ""
        )

    def summary(self) -> str:
        values = {
            "tables": self.tables,
            "folder": f"{self.migrations}/{self.store}",
            "current": self.current or "base",
            "head": self.head,
            "engine": self.head_engine,
        }
        return (
            _(
                {
                    "empty": N_("empty"),
                    "no-revisions": N_("holds %(tables)s table(s) but %(folder)s has no revisions"),
                    "unversioned": N_("holds %(tables)s table(s) but no schema version"),
                    "behind": N_("at %(current)s, head is %(head)s"),
                    "mapping-changed": N_("head %(head)s was generated from another mapping than today's"),
                    "other-engine": N_(
                        "head %(head)s is today's mapping, rendered for %(engine)s by an earlier bunkatsu "
                        "(engine-specific); this store is another engine"
                    ),
                    "drifted": N_("differs from head"),
                    "loosened": N_("at head; new columns still nullable until the next copy"),
                    "ok": N_("at head %(head)s, matches the mapping"),
                }[self.state]
            )
            % values
        )

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "url": self.url,
            "migrations": self.migrations,
            "state": self.state,
            "current": self.current,
            "head": self.head,
            "head_matches_mapping": self.head_matches_mapping,
            "head_engine": self.head_engine,
            "differences": [d.text for d in self.differences],
            "fix": self.fix(),
        }


def _read_ini(path: Path, defaults: dict[str, Any]) -> ConfigParser:
    """alembic.ini read as UTF-8, as Alembic would read it but for the encoding: Alembic reads it in the
    locale's, and under `LC_ALL=C` (or a Japanese locale a container never generated) one non-ASCII
    character — a comment in Japanese — stops every command."""
    parser = ConfigParser({**defaults, "here": path.absolute().parent.as_posix()})
    with path.open(encoding="utf-8") as handle:
        parser.read_file(handle, source=str(path))
    return parser
