"""Rules a mapping must satisfy on its own, before any source is read."""

from __future__ import annotations

from split.errors import MappingProblem
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
                        f"table {table.name} follows unknown table `{scope.table}`",
                        "follow a table listed under tables:",
                    )
                )
                continue
            if isinstance(parent.scope(store), NoRows):
                problems.append(
                    _problem(
                        scope.pos,
                        f"table {table.name} follows {parent.name}, which has no {store} scope ({store}: none)",
                        f"no row could ever be in scope: give {parent.name} a {store} scope or set {store}: none here",
                    )
                )
            if scope.at and parent.period is None:
                problems.append(
                    _problem(
                        scope.pos,
                        f"table {table.name} uses `at: {scope.at}` but {parent.name} has no `period`",
                        f"add period: [start_col, end_col] to {parent.name}, or drop `at:`",
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
                                f"{store} follow cycle: {' → '.join(chain + [scope.table])}",
                                "a chain of follows must end at a table with own/all scope",
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
            problems.append(_problem(wave.pos, f"duplicate wave name `{wave.name}`", "give each wave its own name"))
        names.add(wave.name)
        for name in wave.tables:
            if mapping.table(name) is None:
                problems.append(
                    _problem(wave.pos, f"wave {wave.name} names unknown table `{name}`", "list tables from tables:")
                )
            elif name in seen:
                problems.append(
                    _problem(
                        wave.pos,
                        f"table {name} is in wave {seen[name]} and again in wave {wave.name}",
                        "put each table in exactly one wave",
                    )
                )
            seen.setdefault(name, wave.name)
    missing = [t.name for t in mapping.tables if t.name not in seen]
    if missing:
        pos = mapping.waves[0].pos if mapping.waves else Position(mapping.path)
        problems.append(_problem(pos, f"tables in no wave: {', '.join(missing)}", "add each table to one wave"))
    return problems
