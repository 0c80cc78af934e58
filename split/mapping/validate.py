"""Validate a mapping against the reflected source: fail closed, every problem at once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from split.errors import MappingError, MappingProblem
from split.i18n import _
from split.introspect import ColumnInfo, SourceSchema, TableInfo
from split.mapping.load import suggest
from split.mapping.model import STORES, Destination, Follow, Mapping, NoRows, Own, Position, TableRule


def validate_against_source(mapping: Mapping, source: SourceSchema) -> None:
    problems: list[MappingProblem] = []
    for rule in mapping.tables:
        info = source.table(rule.name)
        if info is None:
            problems.append(
                _p(
                    rule.pos,
                    _("unknown table `%(name)s`: the source has no such table") % {"name": rule.name},
                    suggest(rule.name, source.tables) if source.tables else _("check the source URL"),
                )
            )
            continue
        problems += _table_problems(mapping, rule, info, source)
    unmapped = [name for name in source.tables if mapping.table(name) is None]
    for name in unmapped:
        problems.append(
            MappingProblem(
                _("source table `%(name)s` is not in the mapping (fail closed: every table must be classified)")
                % {"name": name},
                mapping.path,
                fix=_(
                    "add `%(name)s:` under tables: (`retail: none` sends it to NW only); `bunkatsu discover --draft FILE` drafts every missing part"
                )
                % {"name": name},
            )
        )
    if problems:
        raise MappingError(
            problems, source=_("mapping (checked against the %(dialect)s source)") % {"dialect": source.dialect}
        )


def _p(pos: Position, text: str, fix: str = "") -> MappingProblem:
    return MappingProblem(text, pos.file, pos.line, pos.column, fix)


def _table_problems(mapping: Mapping, rule: TableRule, info: TableInfo, source: SourceSchema) -> list[MappingProblem]:
    problems = []
    names = info.column_names
    for col in rule.columns:
        if col.name not in names:
            problems.append(
                _p(
                    col.pos,
                    _("unknown column `%(name)s` in table %(table)s") % {"name": col.name, "table": rule.name},
                    suggest(col.name, names),
                )
            )
    if rule.columns_listed:
        missing = [n for n in names if rule.column(n) is None]
        if missing:
            problems.append(
                _p(
                    rule.pos,
                    _("table %(name)s does not map source column(s) %(missing)s")
                    % {"name": rule.name, "missing": ", ".join(missing)},
                    _(
                        "give each a destination (shared, nw, retail, encode, drop); fail closed; `bunkatsu discover --draft FILE` drafts them with suggested kinds"
                    ),
                )
            )

    def need(column: str | None, pos: Position, what: str, table: TableInfo = info) -> None:
        if column is not None and table.column(column) is None:
            problems.append(
                _p(
                    pos,
                    _("%(what)s `%(column)s` is not a column of %(name)s")
                    % {"what": what, "column": column, "name": table.name},
                    suggest(column, table.column_names),
                )
            )

    if rule.period:
        for period_col in rule.period:
            need(period_col, rule.pos, _("period column of %(table)s") % {"table": rule.name})
    for store in STORES:
        scope = rule.scope(store)
        if isinstance(scope, Own):
            need(scope.column, scope.pos, _("own column of %(table)s") % {"table": rule.name})
        if isinstance(scope, Follow):
            parent = source.table(scope.table)
            for child_col, parent_col in scope.on:
                need(child_col, scope.pos, _("follow column of %(table)s") % {"table": rule.name})
                if parent is not None:
                    need(parent_col, scope.pos, _("follow column of parent %(table)s") % {"table": scope.table}, parent)
            need(scope.at, scope.pos, _("`at` column of %(table)s") % {"table": rule.name})
    if rule.partition:
        problems += _partition_problems(rule, info)
    return problems


def _partition_problems(rule: TableRule, info: TableInfo) -> list[MappingProblem]:
    part = rule.partition
    assert part is not None
    problems = []
    for name in part.by or info.primary_key:
        col = info.column(name)
        if col is None:
            problems.append(
                _p(
                    part.pos,
                    _("partition key `%(name)s` is not a column of %(table)s") % {"name": name, "table": rule.name},
                    suggest(name, info.column_names),
                )
            )
            continue
        problems += _partition_column_problems(rule, info, col, part.pos)
    return problems


def _partition_column_problems(
    rule: TableRule, info: TableInfo, col: ColumnInfo, pos: Position
) -> list[MappingProblem]:
    what = _("partition key %(table)s.%(column)s") % {"table": rule.name, "column": col.name}
    problems = []
    if not is_orderable(col.type):
        problems.append(
            _p(
                pos,
                _("%(what)s is %(type_text)s: its order is not the same in every engine")
                % {"what": what, "type_text": col.type_text},
                _("partition by integer, decimal, text, date or timestamp columns"),
            )
        )
    if col.nullable and col.name not in info.primary_key:
        problems.append(
            _p(
                pos,
                _("%(what)s may be NULL: such rows would be in no range") % {"what": what},
                _("partition by NOT NULL or primary-key columns"),
            )
        )
    mapped = [c.name for c in info.columns if rule.column(c.name) is not None or not rule.columns_listed]
    if col.name not in mapped:
        return problems  # reported as an unmapped column
    for store in STORES:
        receives = not isinstance(rule.scope(store), NoRows) and any(
            rule.destination(name).reaches(store) for name in mapped
        )
        dest = rule.destination(col.name)
        if receives and dest not in (Destination.SHARED, Destination(store)):
            problems.append(
                _p(
                    pos,
                    _("%(what)s goes `%(value)s`, but the %(store)s store receives the table")
                    % {"what": what, "value": dest.value, "store": store},
                    _("a partition key must be stored as is in every store that gets the table (shared)"),
                )
            )
    return problems


def is_orderable(ctype: Any) -> bool:
    """Types every engine orders alike (text in binary order, see split.ranges). Floats (NaN, -0.0, rounding
    across engines), enums (declaration order on PostgreSQL), booleans and binary are not partition keys."""
    if isinstance(ctype, sa.Float | sa.Enum):
        return False
    return isinstance(ctype, sa.Integer | sa.Numeric | sa.String | sa.Date | sa.DateTime)
