"""Rules a mapping must satisfy on its own, before any source is read."""

from __future__ import annotations

from split.errors import MappingProblem
from split.i18n import _
from split.mapping.model import STORES, Follow, Mapping, NoRows, Position


def _problem(pos: Position, text: str, fix: str = "") -> MappingProblem:
    return MappingProblem(text, pos.file, pos.line, pos.column, fix)


def check_rules(mapping: Mapping) -> list[MappingProblem]:
    problems: list[MappingProblem] = []
    problems += _follows(mapping)
    problems += _cycles(mapping)
    problems += _waves(mapping)
    return problems


def _follows(mapping: Mapping) -> list[MappingProblem]:
    problems = []
    for table in mapping.tables:
        for store in STORES:
            scope = table.scope(store)
            if not isinstance(scope, Follow):
                continue
            parent = mapping.table(scope.table)
            if parent is None:
                problems.append(
                    _problem(
                        scope.pos,
                        _("table %(name)s follows unknown table `%(table)s`")
                        % {"name": table.name, "table": scope.table},
                        _("follow a table listed under tables:"),
                    )
                )
                continue
            if isinstance(parent.scope(store), NoRows):
                problems.append(
                    _problem(
                        scope.pos,
                        _("table %(name)s follows %(parent)s, which has no %(store)s scope (%(store)s: none)")
                        % {"name": table.name, "parent": parent.name, "store": store},
                        _("no row could ever be in scope: give %(name)s a %(store)s scope or set %(store)s: none here")
                        % {"name": parent.name, "store": store},
                    )
                )
            if scope.at and parent.period is None:
                problems.append(
                    _problem(
                        scope.pos,
                        _("table %(name)s uses `at: %(at)s` but %(parent)s has no `period`")
                        % {"name": table.name, "at": scope.at, "parent": parent.name},
                        _("add period: [start_col, end_col] to %(name)s, or drop `at:`") % {"name": parent.name},
                    )
                )
    return problems


def _cycles(mapping: Mapping) -> list[MappingProblem]:
    problems = []
    for table in mapping.tables:
        for store in STORES:
            chain = [table.name]
            scope = table.scope(store)
            while isinstance(scope, Follow) and mapping.table(scope.table) is not None:
                if scope.table in chain:
                    if scope.table == table.name:  # report each cycle once, at its first member
                        problems.append(
                            _problem(
                                table.pos,
                                _("%(store)s follow cycle: %(chain)s")
                                % {"store": store, "chain": " → ".join(chain + [scope.table])},
                                _("a chain of follows must end at a table with own/all scope"),
                            )
                        )
                    break
                chain.append(scope.table)
                scope = mapping.table(scope.table).scope(store)  # type: ignore[union-attr]
    return problems


def _waves(mapping: Mapping) -> list[MappingProblem]:
    problems = []
    seen: dict[str, str] = {}
    names: set[str] = set()
    for wave in mapping.waves:
        if wave.name in names:
            problems.append(
                _problem(
                    wave.pos,
                    _("duplicate wave name `%(name)s`") % {"name": wave.name},
                    _("give each wave its own name"),
                )
            )
        names.add(wave.name)
        for name in wave.tables:
            if mapping.table(name) is None:
                problems.append(
                    _problem(
                        wave.pos,
                        _("wave %(name)s names unknown table `%(table)s`") % {"name": wave.name, "table": name},
                        _("list tables from tables:"),
                    )
                )
            elif name in seen:
                problems.append(
                    _problem(
                        wave.pos,
                        _("table %(name)s is in wave %(seen)s and again in wave %(wave)s")
                        % {"name": name, "seen": seen[name], "wave": wave.name},
                        _("put each table in exactly one wave"),
                    )
                )
            seen.setdefault(name, wave.name)
    missing = [t.name for t in mapping.tables if t.name not in seen]
    if missing:
        pos = mapping.waves[0].pos if mapping.waves else Position(mapping.path)
        problems.append(
            _problem(
                pos,
                _("tables in no wave: %(missing)s") % {"missing": ", ".join(missing)},
                _("add each table to one wave"),
            )
        )
    return problems
