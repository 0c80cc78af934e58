"""The mapping draft of `discover --draft`: what is missing, added as NW-only and marked for review.

With a mapping, the draft is that file with insertions only (new columns into their tables, new tables
after the last one, a wave for them) so that the pull request shows the reviewers exactly what is new,
and every comment they wrote stays. Without one, it is a whole mapping that sends everything to NW.
Either way it loads as a mapping, and nothing reaches retail until a reviewer decides it should.
Stale entries (names the source no longer has) are marked, not removed: removing is a decision.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from split.discover.inventory import Coverage
from split.discover.recognize import Suggestion
from split.i18n import _
from split.introspect import SourceSchema

REVIEW = "REVIEW"
DRAFT_WAVE = "discovered"


@dataclass(frozen=True)
class NewColumn:
    table: str
    column: str
    suggestion: Suggestion | None
    sampled: int


def _name(text: str) -> str:
    """A YAML key or scalar for a name: plain when safe, else double-quoted (JSON is valid YAML)."""
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) else json.dumps(text, ensure_ascii=False)


def column_entry(col: NewColumn) -> tuple[str, str]:
    """`phone: {to: nw, kind: phone}` and its `REVIEW: …` comment: the destination NW until a reviewer decides."""
    if col.suggestion is None:
        why = (
            _("no identifier recognised in %(n)s sampled values") % {"n": col.sampled}
            if col.sampled
            else _("no value sampled (empty, all NULL, or a type that holds no identifier)")
        )
        return f"{_name(col.column)}: nw", f"{REVIEW}: " + _("new column, %(why)s") % {"why": why}
    return f"{_name(col.column)}: {{to: nw, kind: {col.suggestion.kind}}}", f"{REVIEW}: {col.suggestion.evidence}"


def _line(indent: int, entry: tuple[str, str], separator: str = "") -> str:
    text, comment = entry
    return f"{' ' * indent}{text}{separator}  # {comment}"


def table_block(table: str, columns: list[NewColumn], indent: int) -> list[str]:
    pad = " " * indent
    said = _("new table, NW only until reviewed")
    lines = [f"{pad}{_name(table)}:  # {REVIEW}: {said}", f"{pad}  retail: none"]
    lines.append(f"{pad}  columns:")
    lines += [_line(indent + 4, column_entry(c)) for c in columns]
    return lines


def new_mapping(system: str, schema: SourceSchema, columns: dict[str, list[NewColumn]], header: str) -> str:
    """A whole mapping for a source that has none yet: every table NW only."""
    lines = [
        *(f"# {line}" for line in header.splitlines()),
        "version: 1",
        f"system: {_name(system)}",
        "affiliate:",
        f"  name: {REVIEW}  # {REVIEW}: " + _("the affiliated retailer (特定関係事業者)"),
        f'  retailer_codes: ["{REVIEW}"]  # {REVIEW}: ' + _("its 小売電気事業者コード(s)"),
        "tables:",
    ]
    for table in schema.tables:
        lines += table_block(table, columns.get(table, []), 2)
    return "\n".join(lines) + "\n"


# ── insertions into an existing mapping ─────────────────────────────────────────────────────


def _value(node: MappingNode, key: str) -> Node | None:
    return next((v for k, v in node.value if isinstance(k, ScalarNode) and k.value == key), None)


def _last_line(node: Node) -> int:
    """The 0-based last line holding any of the node's content (a block's end mark lies beyond it)."""
    if isinstance(node, ScalarNode) or node.flow_style:
        return node.end_mark.line if node.end_mark.column else node.end_mark.line - 1
    children = [c for pair in node.value for c in pair] if isinstance(node, MappingNode) else list(node.value)
    return max((_last_line(c) for c in children), default=node.start_mark.line)


class _Edits:
    """Insertions by line (after a line) and by character offset, applied bottom-up so offsets stay valid."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.after_line: dict[int, list[str]] = {}
        self.line_comments: dict[int, list[str]] = {}

    def insert_after(self, line: int, block: list[str]) -> None:
        self.after_line.setdefault(line, []).extend(block)

    def comment(self, line: int, text: str) -> None:
        self.line_comments.setdefault(line, []).append(text)

    def apply(self) -> str:
        out = []
        for i, line in enumerate(self.lines):
            notes = self.line_comments.get(i)
            if notes:
                line += ("  " if "#" in line else "  # ") + "; ".join(notes)
            out.append(line)
            out += self.after_line.get(i, [])
        return "\n".join(out) + "\n"


def _add_to_collection(edits: _Edits, node: Node, indent: int, entries: list[tuple[str, str]]) -> None:
    """Append (entry, comment) pairs to a block collection, or to a flow one (`columns: {a: shared}`).

    A flow collection is continued on new lines before its closing bracket, comma-separated (comments
    are allowed there too); the bracket moves to a line of its own.
    """
    if not node.flow_style:
        edits.insert_after(_last_line(node), [_line(indent, e) for e in entries])
        return
    if node.value:  # a comma after the last entry
        last = node.value[-1][1] if isinstance(node, MappingNode) else node.value[-1]
        row, at = last.end_mark.line, last.end_mark.column
        if not edits.lines[row][at:].lstrip().startswith(","):  # `{a: x,}`: a trailing comma is there already
            edits.lines[row] = edits.lines[row][:at] + "," + edits.lines[row][at:]
    row = node.end_mark.line
    line = edits.lines[row]
    at = line.rindex("]" if isinstance(node, SequenceNode) else "}", 0, node.end_mark.column + 1)
    edits.lines[row] = line[:at].rstrip()
    closing = " " * (len(line) - len(line.lstrip())) + line[at:]
    lines = [_line(indent, e, "," if i < len(entries) - 1 else "") for i, e in enumerate(entries)]
    edits.insert_after(row, [*lines, closing])


def extend_mapping(
    text: str,
    coverage: Coverage,
    columns: dict[str, list[NewColumn]],
    header: str,
) -> str:
    """The mapping text with the missing parts inserted and stale entries marked."""
    root = yaml.compose(text)
    assert isinstance(root, MappingNode)
    tables = _value(root, "tables")
    assert isinstance(tables, MappingNode)
    edits = _Edits(text)
    table_indent = tables.value[0][0].start_mark.column if tables.value else 2
    for key, value in tables.value:
        new = [c for c in columns.get(key.value, []) if (key.value, c.column) in coverage.unmapped_columns]
        cols = _value(value, "columns") if isinstance(value, MappingNode) else None
        if new and cols is not None:
            indent = cols.value[0][0].start_mark.column if cols.value and not cols.flow_style else table_indent + 4
            _add_to_collection(edits, cols, indent, [column_entry(c) for c in new])
        if key.value in coverage.stale_tables:
            said = _("the source has no table %(table)s any more") % {"table": key.value}
            edits.comment(key.start_mark.line, f"{REVIEW}: {said}")
        if isinstance(cols, MappingNode):
            for ck, _value_node in cols.value:
                if (key.value, ck.value) in coverage.stale_columns:
                    said = _("the source has no column %(column)s") % {"column": f"{key.value}.{ck.value}"}
                    edits.comment(ck.start_mark.line, f"{REVIEW}: {said}")
    added = []
    for table in coverage.unmapped_tables:
        added += table_block(table, columns.get(table, []), table_indent)
    if added:
        edits.insert_after(_last_line(tables), added)
    waves = _value(root, "waves")
    if coverage.unmapped_tables and isinstance(waves, SequenceNode) and waves.value:
        names = ", ".join(_name(t) for t in coverage.unmapped_tables)
        item = f"{{name: {DRAFT_WAVE}, tables: [{names}]}}"
        first = waves.value[0]
        dash = edits.lines[first.start_mark.line].rfind("-", 0, first.start_mark.column)
        why = f"{REVIEW}: " + _("tables found by discover; place them in the cutover order")
        if waves.flow_style:
            _add_to_collection(edits, waves, table_indent, [(item, why)])
        else:
            _add_to_collection(edits, waves, max(dash, 0), [(f"- {item}", why)])
    edits.lines[0:0] = [f"# {line}" for line in header.splitlines()]
    shift = len(header.splitlines())
    edits.after_line = {k + shift: v for k, v in edits.after_line.items()}
    edits.line_comments = {k + shift: v for k, v in edits.line_comments.items()}
    return edits.apply()
