"""The inventory of a source beyond its tables: views, materialized views, routines and triggers, and
what the mapping does not cover.

Views and routines are not copied by the split, but they are where non-public columns reach people
(Kansai's screens and reports read the shared tables through them), so the inventory says which of
them read mapped tables and which columns they touch that the mapping keeps from retail. What a view
reads is found in its definition text by name: an over-approximation on purpose (a name in a comment
counts too), because a miss here is the failure this inventory exists to prevent. Definitions are
never printed: they may hold literal values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from split.introspect import CANARY_TABLE, TOOLKIT_TABLES, SourceSchema
from split.mapping.model import Destination, Mapping, NoRows


@dataclass(frozen=True)
class Reader:
    """A view or routine and what its text mentions of the source's tables."""

    name: str
    type: str  # view | materialized view | function | procedure | trigger
    reads: tuple[str, ...]  # source tables it names
    mentions: tuple[str, ...]  # table.column names it touches, over-approximated
    on_table: str | None = None  # a trigger's table
    columns: tuple[str, ...] = ()  # a view's output columns

    def kept_from_retail(self, mapping: Mapping | None) -> list[str]:
        """What it touches that the retail store must never hold in plaintext: `table.column`, or `table.*`
        for a table retail never receives that it reads without naming a column (`count(*)`). Unmapped counts."""
        kept = []
        for table in self.reads:
            rule = mapping.table(table) if mapping else None
            nw_only = rule is None or isinstance(rule.retail, NoRows)
            named = [ref for ref in self.mentions if ref.split(".", 1)[0] == table]
            if nw_only:
                kept += named or [f"{table}.*"]
                continue
            assert rule is not None
            for ref in named:
                column = ref.split(".", 1)[1]
                known = rule.column(column) is not None or not rule.columns_listed
                if not known or not _plain_to_retail(rule.destination(column)):
                    kept.append(ref)
        return kept

    def to_dict(self, mapping: Mapping | None) -> dict:
        return {
            "name": self.name,
            "type": self.type,
            "on_table": self.on_table,
            "columns": list(self.columns),
            "reads": list(self.reads),
            "kept_from_retail": self.kept_from_retail(mapping),
        }


def _plain_to_retail(dest: Destination) -> bool:
    return dest in (Destination.SHARED, Destination.RETAIL)  # encode: retail holds a token, not the value


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9_$]){re.escape(name)}(?![A-Za-z0-9_$])", re.IGNORECASE)


def _references(text: str, schema: SourceSchema, also: tuple[str, ...] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The source tables a text names, and the columns of those tables it names (or exposes as `also`)."""
    reads = tuple(t for t in schema.tables if _word(t).search(text))
    mentions = []
    for t in reads:
        for c in schema.tables[t].column_names:
            if c in also or _word(c).search(text):
                mentions.append(f"{t}.{c}")
    return reads, tuple(mentions)


def readers(engine: sa.Engine, schema: SourceSchema) -> list[Reader]:
    """Views, materialized views, routines and triggers of the source's default schema."""
    inspector = sa.inspect(engine)
    found = []
    views = [(v, "view") for v in inspector.get_view_names()]
    if engine.dialect.name == "postgresql":
        views += [(v, "materialized view") for v in inspector.get_materialized_view_names()]
    for name, kind in sorted(views):
        if name in TOOLKIT_TABLES or name == CANARY_TABLE:
            continue
        columns = tuple(c["name"] for c in inspector.get_columns(name))
        reads, mentions = _references(str(inspector.get_view_definition(name) or ""), schema, columns)
        found.append(Reader(name, kind, reads, mentions, columns=columns))
    with engine.connect() as conn:
        rows = conn.execute(sa.text(ROUTINES_SQL[engine.dialect.name])).all()
    for name, kind, table, text in sorted(rows, key=lambda r: (r[1], r[0])):
        reads, mentions = _references(f"{table or ''} {text or ''}", schema)
        found.append(Reader(str(name), str(kind), reads, mentions, on_table=table))
    return found


ROUTINES_SQL = {  # name, type, table (triggers), body — in the connection's default schema only
    "postgresql": """
        SELECT p.proname, CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, NULL, p.prosrc
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.prokind IN ('f', 'p')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT t.tgname, 'trigger', c.relname, pg_get_triggerdef(t.oid) || ' ' || p.prosrc
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE NOT t.tgisinternal AND n.nspname = current_schema()""",
    "mysql": """
        SELECT ROUTINE_NAME, LOWER(ROUTINE_TYPE), NULL, ROUTINE_DEFINITION
        FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()
        UNION ALL
        SELECT TRIGGER_NAME, 'trigger', EVENT_OBJECT_TABLE, ACTION_STATEMENT
        FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()""",
    "sqlite": "SELECT name, 'trigger', tbl_name, sql FROM sqlite_master WHERE type = 'trigger'",
}


@dataclass
class Coverage:
    """What the mapping does not cover: fail closed needs all four lists empty."""

    unmapped_tables: list[str] = field(default_factory=list)
    unmapped_columns: list[tuple[str, str]] = field(default_factory=list)
    stale_tables: list[str] = field(default_factory=list)  # in the mapping, not in the source
    stale_columns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return not (self.unmapped_tables or self.unmapped_columns or self.stale_tables or self.stale_columns)

    def to_dict(self) -> dict:
        return {
            "covered": self.covered,
            "unmapped_tables": self.unmapped_tables,
            "unmapped_columns": [f"{t}.{c}" for t, c in self.unmapped_columns],
            "stale_tables": self.stale_tables,
            "stale_columns": [f"{t}.{c}" for t, c in self.stale_columns],
        }


def coverage(mapping: Mapping | None, schema: SourceSchema) -> Coverage:
    if mapping is None:
        return Coverage(unmapped_tables=list(schema.tables))
    cov = Coverage()
    for name, info in schema.tables.items():
        rule = mapping.table(name)
        if rule is None:
            cov.unmapped_tables.append(name)
        elif rule.columns_listed:
            cov.unmapped_columns += [(name, c) for c in info.column_names if rule.column(c) is None]
    for rule in mapping.tables:
        found = schema.table(rule.name)
        if found is None:
            cov.stale_tables.append(rule.name)
        else:
            cov.stale_columns += [(rule.name, c.name) for c in rule.columns if found.column(c.name) is None]
    return cov
