"""Property tests for the loader: any valid mapping round-trips; any bad destination is found where it is."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from split.errors import MappingError
from split.mapping import Destination, parse_mapping
from split.mapping.model import DESTINATIONS

names = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda n: n not in ("y", "n", "on", "off", "yes", "no")
)


@st.composite
def mappings(draw):
    """A valid mapping as plain data: tables in order, each following only earlier tables (no cycles)."""
    table_names = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    tables: dict = {}
    for i, name in enumerate(table_names):
        cols = draw(st.lists(names, min_size=2, max_size=6, unique=True))
        columns = {c: draw(st.sampled_from(DESTINATIONS)) for c in cols}
        period = None
        kind = draw(st.sampled_from(["all", "none", "own"] + (["follow"] if i else [])))
        if kind == "own":
            retail: object = {"own": cols[0]}
            period = [cols[0], cols[1]] if draw(st.booleans()) else None
        elif kind == "follow":
            parents = [t for t in table_names[:i] if tables[t]["retail"] != "none"]
            if not parents:
                retail = "all"
            else:
                parent = draw(st.sampled_from(parents))
                retail = {"follow": parent, "on": cols[0]}
                if tables[parent].get("period") and draw(st.booleans()):
                    retail["at"] = cols[1]
        else:
            retail = kind
        table = {"retail": retail, "columns": columns}
        if period:
            table["period"] = period
        tables[name] = table
    return {
        "version": 1,
        "system": draw(names),
        "affiliate": {"name": "関西電力", "retailer_codes": ["00016"]},
        "tables": tables,
    }


def dump(data: dict) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


@settings(max_examples=150, deadline=None)
@given(mappings())
def test_valid_mappings_round_trip(data):
    m = parse_mapping(dump(data), "p.yaml")
    assert m.table_names == tuple(data["tables"])
    for name, table in data["tables"].items():
        rule = m.table(name)
        assert {c.name: c.to.value for c in rule.columns} == table["columns"]
        retail = table["retail"]
        if isinstance(retail, dict) and "follow" in retail:
            assert rule.retail.table == retail["follow"] and rule.retail.at == retail.get("at")
        elif isinstance(retail, dict):
            assert rule.retail.column == retail["own"]
        else:
            assert rule.retail.describe() == retail
    assert m.waves[0].tables == m.table_names


@settings(max_examples=150, deadline=None)
@given(mappings(), st.data())
def test_a_bad_destination_is_reported_at_its_line(data, draw):
    table = draw.draw(st.sampled_from(sorted(data["tables"])))
    column = draw.draw(st.sampled_from(sorted(data["tables"][table]["columns"])))
    bad = draw.draw(names.filter(lambda w: w not in DESTINATIONS))
    data["tables"][table]["columns"][column] = bad
    text = dump(data)
    try:
        parse_mapping(text, "p.yaml")
    except MappingError as exc:
        [problem] = exc.problems
        lines = text.decode().splitlines()
        assert problem.text == f"unknown destination `{bad}` for column {column}"
        assert lines[problem.line - 1].strip() == f"{column}: {bad}"
        assert problem.file == "p.yaml" and problem.column == lines[problem.line - 1].rindex(bad) + 1
    else:
        raise AssertionError("a bad destination loaded")


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_loader(blob):
    try:
        parse_mapping(blob, "junk.yaml")
    except MappingError as exc:
        assert exc.problems and all(p.file == "junk.yaml" for p in exc.problems)


def test_destination_reach_table():
    assert [d.value for d in Destination if d.reaches_retail] == ["shared", "retail", "encode"]
    assert [d.value for d in Destination if d.reaches_nw] == ["shared", "nw", "encode"]
