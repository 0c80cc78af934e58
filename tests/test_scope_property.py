"""The scope algebra: the SQL predicate pushed to the source selects exactly the rows that an independent
Python evaluation of the mapping's rules selects (own codes, follow chains, ownership by date)."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from split.db import engine_for
from split.introspect import reflect_source
from split.mapping import parse_mapping
from split.plan import compile_plan
from tests.helpers import period_table

RETAILERS = ["A", "B", "C"]
BASE_DAY = date(2024, 1, 1)

MAPPING = """\
version: 1
system: prop
affiliate: {{name: x, retailer_codes: {codes}}}
tables:
  period:
    retail: {{own: retailer}}
    period: [start_day, end_day]
    columns: {{pid: shared, spid: shared, retailer: shared, start_day: shared, end_day: shared}}
  reading:
    retail: {{follow: period, on: spid{at}}}
    columns: {{rid: shared, spid: shared, day: shared}}
  note:
    retail: {{follow: reading, on: {{spid: spid}}}}
    columns: {{nid: shared, spid: shared}}
"""

days = st.integers(0, 60).map(lambda d: BASE_DAY + timedelta(days=d))
periods = st.lists(
    st.tuples(st.integers(1, 4), st.sampled_from(RETAILERS), days, st.one_of(st.none(), days)), max_size=8
)
readings = st.lists(st.tuples(st.integers(1, 5), days), max_size=12)
notes = st.lists(st.integers(1, 6), max_size=6)

_db = Path(tempfile.mkdtemp()) / "prop.db"
URL = f"sqlite:///{_db}"


def _load(engine, period_rows, reading_rows, note_rows):
    md = sa.MetaData()
    p = period_table(md)
    r = sa.Table(
        "reading",
        md,
        sa.Column("rid", sa.Integer, primary_key=True),
        sa.Column("spid", sa.Integer),
        sa.Column("day", sa.Date),
    )
    n = sa.Table("note", md, sa.Column("nid", sa.Integer, primary_key=True), sa.Column("spid", sa.Integer))
    md.drop_all(engine)
    md.create_all(engine)
    with engine.begin() as conn:
        for table, rows in ((p, period_rows), (r, reading_rows), (n, note_rows)):
            if rows:
                conn.execute(table.insert(), rows)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(periods, readings, notes, st.sets(st.sampled_from(RETAILERS), min_size=1), st.booleans())
def test_sql_scope_equals_python_scope(period_data, reading_data, note_data, codes, with_at):
    period_rows = [
        {"pid": i, "spid": s, "retailer": r, "start_day": min(a, b or a), "end_day": b and max(a, b)}
        for i, (s, r, a, b) in enumerate(period_data)
    ]
    reading_rows = [{"rid": i, "spid": s, "day": d} for i, (s, d) in enumerate(reading_data)]
    note_rows = [{"nid": i, "spid": s} for i, s in enumerate(note_data)]
    engine = engine_for(URL)
    _load(engine, period_rows, reading_rows, note_rows)
    text = MAPPING.format(codes=sorted(codes), at=", at: day" if with_at else "")
    mapping = parse_mapping(text.encode(), "prop.yaml")
    plan = compile_plan(mapping, reflect_source(engine), engine)

    # Independent evaluation of the rules, row by row, in Python.
    own = [p for p in period_rows if p["retailer"] in codes]

    def reading_in_scope(r):
        return any(
            p["spid"] == r["spid"]
            and (not with_at or (p["start_day"] <= r["day"] and (p["end_day"] is None or r["day"] <= p["end_day"])))
            for p in own
        )

    scoped_readings = [r for r in reading_rows if reading_in_scope(r)]
    expected = {
        "period": {p["pid"] for p in own},
        "reading": {r["rid"] for r in scoped_readings},
        "note": {n["nid"] for n in note_rows if any(r["spid"] == n["spid"] for r in scoped_readings)},
    }
    with engine.connect() as conn:
        for table, key in (("period", "pid"), ("reading", "rid"), ("note", "nid")):
            predicate = plan.table(table).store("retail").predicate_sql
            got = {row[0] for row in conn.execute(sa.text(f"SELECT {key} FROM {table} WHERE {predicate}"))}
            assert got == expected[table], (table, predicate)
            nw_predicate = plan.table(table).store("nw").predicate_sql
            assert nw_predicate == ""  # NW gets every row
