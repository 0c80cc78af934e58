"""`bunkatsu discover`: a fail-closed inventory of the shared database, compared with the mapping.

inventory (tables, views, routines, coverage) → sample (bounded, counts only) → recognize (kinds) → draft.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from split.db import sqlite_path
from split.discover.draft import NewColumn, extend_mapping, new_mapping
from split.discover.inventory import Coverage, Reader, coverage, readers
from split.discover.recognize import Suggestion
from split.discover.sample import sample_table
from split.i18n import _
from split.introspect import SourceSchema, TableInfo
from split.mapping.model import Destination, Mapping
from split.settings import StoreUrl


@dataclass
class ColumnFinding:
    table: str
    column: str
    type: str
    nullable: bool
    mapped_to: str | None  # None: not in the mapping
    mapped_kind: str | None
    sampled: int
    suggestion: Suggestion | None

    @property
    def kind_to_review(self) -> bool:
        """A mapped column whose values look like another kind than the mapping says: the leak checks collect
        protected values and normalise them by kind, so a missing or wrong kind weakens them."""
        if self.mapped_to is None or self.suggestion is None or Destination(self.mapped_to) is Destination.DROP:
            return False
        return self.suggestion.kind != self.mapped_kind and not (
            self.mapped_kind == "free_text" and self.suggestion.kind in ("address", "free_text")
        )

    def to_dict(self) -> dict:
        return {
            "name": self.column,
            "type": self.type,
            "nullable": self.nullable,
            "mapped_to": self.mapped_to,
            "mapped_kind": self.mapped_kind,
            "sampled": self.sampled,
            "suggestion": self.suggestion.to_dict() if self.suggestion else None,
            "kind_to_review": self.kind_to_review,
        }


@dataclass
class Discovery:
    source: str  # masked URL
    dialect: str
    mapping: str | None
    mapping_sha256: str | None
    sample_rows: int
    schema: SourceSchema
    coverage: Coverage
    columns: list[ColumnFinding]
    readers: list[Reader]
    mapping_model: Mapping | None = field(default=None, repr=False)
    draft: str | None = None  # where the draft was written

    @property
    def exit_code(self) -> int:
        return 0 if self.coverage.covered else 1

    def columns_of(self, table: str) -> list[ColumnFinding]:
        return [c for c in self.columns if c.table == table]

    @property
    def kinds_to_review(self) -> list[ColumnFinding]:
        return [c for c in self.columns if c.kind_to_review]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "dialect": self.dialect,
            "mapping": self.mapping,
            "mapping_sha256": self.mapping_sha256,
            "sample_rows": self.sample_rows,
            "coverage": self.coverage.to_dict(),
            "tables": [_table_dict(t, self.columns_of(t.name)) for t in self.schema.tables.values()],
            "views": [r.to_dict(self.mapping_model) for r in self.readers if "view" in r.type],
            "routines": [r.to_dict(self.mapping_model) for r in self.readers if "view" not in r.type],
            "kinds_to_review": [f"{c.table}.{c.column}" for c in self.kinds_to_review],
            "draft": self.draft,
        }


def _table_dict(info: TableInfo, columns: list[ColumnFinding]) -> dict:
    return {
        "name": info.name,
        "primary_key": list(info.primary_key),
        "foreign_keys": [
            {"columns": list(fk.columns), "ref_table": fk.ref_table, "ref_columns": list(fk.ref_columns)}
            for fk in info.foreign_keys
        ],
        "columns": [c.to_dict() for c in columns],
    }


def discover(
    engine: sa.Engine, schema: SourceSchema, mapping: Mapping | None, sample_rows: int, source: str
) -> Discovery:
    columns = []
    with engine.connect() as conn:
        for info in schema.tables.values():
            evidence = sample_table(conn, info, sample_rows)
            rule = mapping.table(info.name) if mapping else None
            for col in info.columns:
                ev = evidence.get(col.name)
                mapped = rule.column(col.name) if rule else None
                to = mapped.to.value if mapped else ("nw" if rule is not None and not rule.columns_listed else None)
                columns.append(
                    ColumnFinding(
                        info.name,
                        col.name,
                        col.type_text,
                        col.nullable,
                        to,
                        mapped.kind if mapped else None,
                        ev.sampled if ev else 0,
                        ev.suggestion() if ev else None,
                    )
                )
    return Discovery(
        source,
        schema.dialect,
        mapping.path if mapping else None,
        mapping.sha256 if mapping else None,
        sample_rows,
        schema,
        coverage(mapping, schema),
        columns,
        readers(engine, schema),
        mapping,
    )


def draft_text(found: Discovery, mapping_text: str | None, system: str, today: str) -> str:
    """The mapping draft: the given mapping with the missing parts inserted, or a whole new one."""
    missing = set(found.coverage.unmapped_columns) | {
        (t, c.column) for t in found.coverage.unmapped_tables for c in found.columns_of(t)
    }
    new: dict[str, list[NewColumn]] = {}
    for c in found.columns:
        if (c.table, c.column) in missing:
            new.setdefault(c.table, []).append(NewColumn(c.table, c.column, c.suggestion, c.sampled))
    header = _(
        "DRAFT written by `bunkatsu discover` on %(today)s from %(source)s.\n"
        "Everything it adds goes to NW only until reviewed (fail closed); lines marked REVIEW need a decision.\n"
        "Evidence: counts from up to %(rows)s sampled rows per table; no value is quoted."
    ) % {"today": today, "source": found.source, "rows": found.sample_rows or _("all")}
    if mapping_text is None:
        return new_mapping(system, found.schema, new, header)
    return extend_mapping(mapping_text, found.coverage, new, header)


def write_draft(found: Discovery, mapping: Mapping | None, source: StoreUrl, target: Path) -> None:
    """Write the mapping draft to `target` and remember where (`found.draft`)."""
    path = sqlite_path(source.url)
    system = mapping.system if mapping else (path.stem if path else make_url(source.url).database or "shared")
    text = Path(mapping.path).read_text(encoding="utf-8") if mapping else None
    target.write_text(draft_text(found, text, system, time.strftime("%Y-%m-%d")), encoding="utf-8")
    found.draft = str(target)
