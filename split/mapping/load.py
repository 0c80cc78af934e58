"""Load a mapping file into `Mapping`, collecting every problem with its file:line:column and a fix.

We compose the YAML into nodes ourselves instead of loading it into dicts: nodes keep their
positions, raw scalars stay strings (`on:` is not turned into True, `00123` keeps its zeros), and
duplicate keys are ours to report.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from split.errors import MappingError, MappingProblem
from split.i18n import _
from split.mapping.model import (
    DESTINATIONS,
    KINDS,
    Affiliate,
    AllRows,
    ColumnRule,
    Destination,
    Follow,
    Mapping,
    NoRows,
    Own,
    Partitioning,
    Position,
    Scope,
    TableRule,
    Wave,
)
from split.mapping.rules import check_rules

TOP_KEYS = {"version": True, "system": True, "affiliate": True, "tables": True, "waves": False}
AFFILIATE_KEYS = {"name": True, "retailer_codes": True}
TABLE_KEYS = {"retail": True, "nw": False, "columns": False, "period": False, "partition": False}
COLUMN_KEYS = {"to": True, "kind": False}
FOLLOW_KEYS = {"follow": True, "on": True, "at": False}
PARTITION_KEYS = {"by": False, "rows": False}
WAVE_KEYS = {"name": True, "tables": True}
DEFAULT_PARTITION_ROWS = 100_000


class _Reader:
    """Walks composed YAML nodes; every accessor records a problem and returns None instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[MappingProblem] = []

    def pos(self, node: Node) -> Position:
        return Position(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def problem(self, node: Node | None, text: str, fix: str = "") -> None:
        p = self.pos(node) if node is not None else Position(self.file)
        self.problems.append(MappingProblem(text, p.file, p.line, p.column, fix))

    def mapping(self, node: Node, what: str, keys: dict[str, bool]) -> dict[str, tuple[Node, Node]] | None:
        """A YAML mapping with known keys: reports unknown (with a suggestion), duplicate and missing keys."""
        if not isinstance(node, MappingNode):
            self.problem(
                node,
                _("%(what)s must be a mapping") % {"what": what},
                _("expected keys: %(keys)s") % {"keys": ", ".join(keys)},
            )
            return None
        found: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in found:
                self.problem(
                    key_node,
                    _("duplicate key `%(key)s` in %(what)s") % {"key": key, "what": what},
                    _("keep one of them"),
                )
            elif key not in keys:
                self.problem(
                    key_node, _("unknown key `%(key)s` in %(what)s") % {"key": key, "what": what}, suggest(key, keys)
                )
            found[key] = (key_node, value_node)
        for key, required in keys.items():
            if required and key not in found:
                self.problem(
                    node,
                    _("missing key `%(key)s` in %(what)s") % {"key": key, "what": what},
                    _("add `%(key)s:`") % {"key": key},
                )
        return {k: v for k, v in found.items() if k in keys}

    def pairs(self, node: Node, what: str) -> list[tuple[Node, Node]]:
        """A mapping of free names (tables, columns): reports duplicates, keeps order."""
        if not isinstance(node, MappingNode):
            self.problem(node, _("%(what)s must be a mapping of names") % {"what": what})
            return []
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            name = str(key_node.value)
            if name in seen:
                self.problem(
                    key_node,
                    _("duplicate entry `%(name)s` in %(what)s") % {"name": name, "what": what},
                    _("list it once"),
                )
                continue
            seen.add(name)
            out.append((key_node, value_node))
        return out

    def text(self, node: Node, what: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag != "tag:yaml.org,2002:null" and node.value != "":
            return str(node.value)
        self.problem(node, _("%(what)s must be a non-empty text value") % {"what": what})
        return None

    def integer(self, node: Node, what: str, minimum: int = 1) -> int | None:
        if isinstance(node, ScalarNode) and node.value.isdigit() and int(node.value) >= minimum:
            return int(node.value)
        self.problem(node, _("%(what)s must be a whole number ≥ %(minimum)s") % {"what": what, "minimum": minimum})
        return None

    def texts(self, node: Node, what: str) -> list[str] | None:
        if not isinstance(node, SequenceNode):
            self.problem(node, _("%(what)s must be a list") % {"what": what}, _("write it as [a, b]"))
            return None
        values = [self.text(item, _("each entry of %(what)s") % {"what": what}) for item in node.value]
        return None if None in values else [v for v in values if v is not None]


def suggest(word: str, choices: Any) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    listed = _("expected one of %(choices)s") % {"choices": ", ".join(choices)}
    return _("did you mean `%(word)s`? (%(listed)s)") % {"word": close[0], "listed": listed} if close else listed


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file on its own (the source schema is checked by `validate`)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(
            [MappingProblem(_("cannot read the mapping (%(strerror)s)") % {"strerror": exc.strerror}, str(path))]
        ) from None
    return parse_mapping(data, str(path))


def parse_mapping(data: bytes, file: str = "mapping.yaml") -> Mapping:
    reader = _Reader(file)
    try:
        text = data.decode("utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except UnicodeDecodeError as exc:
        raise MappingError(
            [MappingProblem(_("the mapping is not UTF-8 text"), file, 0, 0, _("byte %(start)s") % {"start": exc.start})]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise MappingError(
            [
                MappingProblem(
                    _("malformed YAML: %(problem)s") % {"problem": exc.problem or exc.context},
                    file,
                    line,
                    col,
                    _("fix the YAML syntax"),
                )
            ]
        ) from None
    except yaml.YAMLError as exc:  # e.g. a control character: no mark, but a position
        raise MappingError(
            [
                MappingProblem(
                    _("malformed YAML: %(problem)s") % {"problem": str(exc).splitlines()[0]},
                    file,
                    0,
                    0,
                    _("remove control characters; save the file as UTF-8 text"),
                )
            ]
        ) from None
    if root is None:
        raise MappingError(
            [MappingProblem(_("the mapping is empty"), file, 0, 0, _("start from mappings/takuso.yaml"))]
        )
    mapping = _build(reader, root, hashlib.sha256(data).hexdigest(), file)
    if reader.problems:
        raise MappingError(reader.problems)
    assert mapping is not None  # _build returns None only together with problems
    problems = check_rules(mapping)
    if problems:
        raise MappingError(problems)
    return mapping


def _build(r: _Reader, root: Node, sha: str, file: str) -> Mapping | None:
    top = r.mapping(root, _("the mapping"), TOP_KEYS)
    if top is None:
        return None
    version = r.integer(top["version"][1], "version") if "version" in top else None
    if version is not None and version != 1:
        r.problem(
            top["version"][1],
            _("unsupported mapping version %(version)s") % {"version": version},
            _("this bunkatsu reads version: 1"),
        )
    system = r.text(top["system"][1], _("system")) if "system" in top else None
    affiliate = _affiliate(r, top["affiliate"][1]) if "affiliate" in top else None
    tables = _tables(r, top["tables"][1]) if "tables" in top else []
    waves = _waves(r, top["waves"][1]) if "waves" in top else [Wave("all", tuple(t.name for t in tables))]
    if r.problems or affiliate is None or system is None or version is None:
        return None
    return Mapping(version, system, affiliate, tuple(tables), tuple(waves), file, sha)


def _affiliate(r: _Reader, node: Node) -> Affiliate | None:
    keys = r.mapping(node, "affiliate", AFFILIATE_KEYS)
    if keys is None or len(keys) < 2:
        return None
    name = r.text(keys["name"][1], "affiliate.name")
    codes = r.texts(keys["retailer_codes"][1], "affiliate.retailer_codes")
    if codes == []:
        r.problem(
            keys["retailer_codes"][1],
            _("affiliate.retailer_codes is empty"),
            _("list the affiliate's 小売電気事業者コード"),
        )
    if name is None or not codes:
        return None
    return Affiliate(name, tuple(codes))


def _tables(r: _Reader, node: Node) -> list[TableRule]:
    tables = []
    for key_node, value_node in r.pairs(node, "tables"):
        table = _table(r, str(key_node.value), key_node, value_node)
        if table is not None:
            tables.append(table)
    if isinstance(node, MappingNode) and not node.value:
        r.problem(node, _("`tables` is empty"), _("list every table of the source"))
    return tables


def _table(r: _Reader, name: str, key_node: Node, node: Node) -> TableRule | None:
    keys = r.mapping(node, _("table %(name)s") % {"name": name}, TABLE_KEYS)
    if keys is None or "retail" not in keys:
        return None
    retail = _scope(r, keys["retail"][1], _("retail scope of table %(name)s") % {"name": name})
    nw = _scope(r, keys["nw"][1], _("nw scope of table %(name)s") % {"name": name}) if "nw" in keys else AllRows()
    period = None
    if "period" in keys:
        cols = r.texts(keys["period"][1], _("period of table %(name)s") % {"name": name})
        if cols is not None and len(cols) != 2:
            r.problem(
                keys["period"][1],
                _("period of table %(name)s must name two columns") % {"name": name},
                _("write [start_col, end_col]"),
            )
        elif cols is not None:
            period = (cols[0], cols[1])
    partition = _partition(r, keys["partition"][1], name) if "partition" in keys else None
    columns: list[ColumnRule] = []
    if "columns" in keys:
        for col_key, col_value in r.pairs(keys["columns"][1], _("columns of table %(name)s") % {"name": name}):
            rule = _column(r, str(col_key.value), col_key, col_value, name)
            if rule is not None:
                columns.append(rule)
    elif retail is not None and not isinstance(retail, NoRows):
        r.problem(
            key_node,
            _("table %(name)s reaches the retail store but lists no columns") % {"name": name},
            _("list every column under `columns:` (only `retail: none` tables may omit them)"),
        )
    if retail is None or nw is None:
        return None
    return TableRule(name, nw, retail, tuple(columns), "columns" in keys, period, partition, r.pos(key_node))


def _column(r: _Reader, name: str, key_node: Node, node: Node, table: str) -> ColumnRule | None:
    kind = None
    if isinstance(node, MappingNode):
        keys = r.mapping(node, _("column %(table)s.%(name)s") % {"table": table, "name": name}, COLUMN_KEYS)
        if keys is None or "to" not in keys:
            return None
        dest_node = keys["to"][1]
        if "kind" in keys:
            kind = r.text(keys["kind"][1], _("kind of column %(table)s.%(name)s") % {"table": table, "name": name})
            if kind is not None and kind not in KINDS:
                r.problem(
                    keys["kind"][1],
                    _("unknown kind `%(kind)s` for column %(name)s") % {"kind": kind, "name": name},
                    suggest(kind, KINDS),
                )
    else:
        dest_node = node
    value = dest_node.value if isinstance(dest_node, ScalarNode) else None
    if value not in DESTINATIONS:
        shown = value if isinstance(value, str) else "(not a word)"
        r.problem(
            dest_node,
            _("unknown destination `%(shown)s` for column %(name)s") % {"shown": shown, "name": name},
            suggest(str(shown), DESTINATIONS),
        )
        return None
    return ColumnRule(name, Destination(value), kind, r.pos(key_node))


def _scope(r: _Reader, node: Node, what: str) -> Scope | None:
    if isinstance(node, ScalarNode):
        if node.value == "all":
            return AllRows()
        if node.value == "none":
            return NoRows()
        r.problem(
            node,
            _("unknown %(what)s `%(value)s`") % {"what": what, "value": node.value},
            _("expected all, none, {own: COL} or {follow: TABLE, on: COL}"),
        )
        return None
    if isinstance(node, MappingNode) and any(k.value == "own" for k, _ in node.value):
        keys = r.mapping(node, what, {"own": True})
        column = (
            r.text(keys["own"][1], _("own column of %(what)s") % {"what": what}) if keys and "own" in keys else None
        )
        return Own(column, r.pos(node)) if column else None
    if isinstance(node, MappingNode):
        keys = r.mapping(node, what, FOLLOW_KEYS)
        if keys is None or "follow" not in keys or "on" not in keys:
            return None
        table = r.text(keys["follow"][1], _("follow table of %(what)s") % {"what": what})
        on = _follow_on(r, keys["on"][1], what)
        at = r.text(keys["at"][1], _("at column of %(what)s") % {"what": what}) if "at" in keys else None
        if table is None or on is None or ("at" in keys and at is None):
            return None
        return Follow(table, on, at, r.pos(node))
    r.problem(node, _("%(what)s must be all, none, {own: COL} or {follow: TABLE, on: COL}") % {"what": what})
    return None


_OnPairs = tuple[tuple[str, str], ...]


def _follow_on(r: _Reader, node: Node, what: str) -> _OnPairs | None:
    if isinstance(node, ScalarNode):
        col = r.text(node, _("`on` of %(what)s") % {"what": what})
        return ((col, col),) if col else None
    if isinstance(node, MappingNode) and node.value:
        pairs = []
        for child, parent in r.pairs(node, _("`on` of %(what)s") % {"what": what}):
            parent_col = r.text(
                parent, _("parent column for %(value)s in %(what)s") % {"value": child.value, "what": what}
            )
            if parent_col is None:
                return None
            pairs.append((str(child.value), parent_col))
        return tuple(pairs)
    r.problem(node, _("`on` of %(what)s must be a column or {child_col: parent_col}") % {"what": what})
    return None


def _partition(r: _Reader, node: Node, table: str) -> Partitioning | None:
    """`partition: {by: COL | [COL, …], rows: N}`; without `by`, the table's primary key."""
    keys = r.mapping(node, _("partition of table %(table)s") % {"table": table}, PARTITION_KEYS)
    if keys is None:
        return None
    by: list[str] | None = []
    if "by" in keys:
        by_node = keys["by"][1]
        what = _("partition key of table %(table)s") % {"table": table}
        by = (
            r.texts(by_node, what)
            if isinstance(by_node, SequenceNode)
            else [t]
            if (t := r.text(by_node, what))
            else None
        )
        if by == []:
            r.problem(
                by_node,
                _("%(what)s is an empty list") % {"what": what},
                _("name the key columns, or leave `by` out for the primary key"),
            )
            by = None
        elif by is not None and len(set(by)) < len(by):
            r.problem(by_node, _("%(what)s lists a column twice") % {"what": what}, _("list each column once"))
            by = None
    rows = (
        r.integer(keys["rows"][1], _("partition rows of table %(table)s") % {"table": table})
        if "rows" in keys
        else DEFAULT_PARTITION_ROWS
    )
    return Partitioning(tuple(by), rows, r.pos(node)) if by is not None and rows else None


def _waves(r: _Reader, node: Node) -> list[Wave]:
    if not isinstance(node, SequenceNode):
        r.problem(node, _("waves must be a list"), _("write - {name: W, tables: [a, b]}"))
        return []
    waves = []
    for item in node.value:
        keys = r.mapping(item, _("a wave"), WAVE_KEYS)
        if keys is None or len(keys) < 2:
            continue
        name = r.text(keys["name"][1], _("wave name"))
        tables = r.texts(keys["tables"][1], _("tables of wave %(name)s") % {"name": name})
        if name is not None and tables is not None:
            waves.append(Wave(name, tuple(tables), r.pos(item)))
    return waves
