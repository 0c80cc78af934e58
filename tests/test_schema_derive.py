"""The derived store schemas: types that lose nothing per engine, and foreign keys kept only where scopes prove them."""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql, sqlite

from split.db import engine_for
from split.errors import ConfigError
from split.introspect import ForeignKeyInfo, reflect_source
from split.mapping import parse_mapping
from split.plan import compile_plan
from split.schema.derive import _check_compiles, fk_guaranteed, store_metadata, target_type
from tests.helpers import period_table


def test_mariadb_types_keep_every_value():
    assert isinstance(target_type(sa.Text(), "mariadb", indexed=False), mysql.LONGTEXT)  # TEXT stops at 64 KiB
    assert target_type(sa.String(), "mariadb", indexed=True).length == 255  # an index needs a length
    assert isinstance(target_type(sa.Float(), "mariadb", indexed=False), sa.Double)  # FLOAT is single precision
    assert target_type(sa.DateTime(), "mariadb", indexed=False).fsp == 6  # DATETIME drops microseconds
    numeric = target_type(sa.Numeric(), "mariadb", indexed=False)
    assert (numeric.precision, numeric.scale) == (65, 30)  # DECIMAL alone is DECIMAL(10, 0)
    assert target_type(sa.Numeric(12, 3), "mariadb", indexed=False).scale == 3
    assert target_type(sa.String(22), "mariadb", indexed=True).collation == "utf8mb4_bin"
    enum = target_type(sa.Enum("低圧", "特別高圧", name="voltage"), "postgresql", indexed=False)
    assert isinstance(enum, sa.String) and enum.length == 4
    assert target_type(sa.Text(), "postgresql", indexed=False).__class__ is sa.Text


def test_a_type_the_store_cannot_hold_is_a_usage_error():
    with pytest.raises(ConfigError, match="time zone.*MariaDB"):
        _check_compiles(mysql.DATETIME(fsp=6), mysql.dialect(), "retail store, t.c", sa.DateTime(timezone=True))
    _check_compiles(sa.DateTime(timezone=True), postgresql.dialect(), "nw store, t.c")
    with pytest.raises(ConfigError, match=r"t\.c: the source type .*no equivalent in sqlite"):
        _check_compiles(postgresql.TSVECTOR(), sqlite.dialect(), "nw store, t.c")


# ── foreign keys inside the retail store ──────────────────────────────────────────────────────

POINT_SCOPES = ["all", "{follow: period, on: spid}", "{own: retailer}"]
CHILD_SCOPES = [
    "{follow: period, on: spid}",
    "{follow: period, on: spid, at: day}",
    "{follow: point, on: spid}",
    "{own: retailer}",
]
MAPPING = """\
version: 1
system: fk
affiliate: {{name: x, retailer_codes: [A]}}
tables:
  period:
    retail: {{own: retailer}}
    period: [start_day, end_day]
    columns: {{pid: shared, spid: shared, retailer: shared, start_day: shared, end_day: shared}}
  point:
    retail: {point}
    columns: {{spid: shared, retailer: shared}}
  child:
    retail: {child}
    columns: {{cid: shared, spid: shared, retailer: shared, day: shared}}
"""
TO_POINT = ForeignKeyInfo(("spid",), "point", ("spid",))


def _mapping(point: str, child: str):  # type: ignore[no-untyped-def]
    return parse_mapping(MAPPING.format(point=point, child=child).encode(), "fk.yaml")


@pytest.mark.parametrize("point", POINT_SCOPES)
@pytest.mark.parametrize("child", CHILD_SCOPES)
def test_which_foreign_keys_the_scopes_guarantee(point, child):
    mapping = _mapping(point, child)
    child_kept = point == "all" or "point" in child or (point.startswith("{follow") and "period" in child)
    assert fk_guaranteed(mapping, "retail", "child", TO_POINT) is child_kept
    # period's own rows are the very rows a point follows: its key to point holds when point follows period
    assert fk_guaranteed(mapping, "retail", "period", TO_POINT) is (point != "{own: retailer}")
    assert fk_guaranteed(mapping, "nw", "child", TO_POINT) is True  # NW receives every row


RETAILERS = ["A", "B"]
days = st.integers(0, 30).map(lambda d: date(2024, 1, 1) + timedelta(days=d))
_db = Path(tempfile.mkdtemp()) / "fk.db"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(POINT_SCOPES),
    st.sampled_from(CHILD_SCOPES),
    st.lists(st.tuples(st.integers(1, 4), st.sampled_from(RETAILERS), days, st.one_of(st.none(), days)), max_size=6),
    st.lists(st.sampled_from(RETAILERS), min_size=4, max_size=4),
    st.lists(st.tuples(st.integers(1, 4), st.sampled_from(RETAILERS), days), max_size=8),
)
def test_a_kept_foreign_key_never_has_an_orphan_in_the_retail_store(point, child, periods, point_owners, children):
    """Against the real scope SQL: when a key is kept, every retail child row finds its parent in retail."""
    engine = engine_for(f"sqlite:///{_db}")
    md = sa.MetaData()
    tables = {
        "period": period_table(md),
        "point": sa.Table(
            "point", md, sa.Column("spid", sa.Integer, primary_key=True), sa.Column("retailer", sa.String(1))
        ),
        "child": sa.Table(
            "child",
            md,
            sa.Column("cid", sa.Integer, primary_key=True),
            sa.Column("spid", sa.Integer, sa.ForeignKey("point.spid")),
            sa.Column("retailer", sa.String(1)),
            sa.Column("day", sa.Date),
        ),
    }
    md.drop_all(engine)
    md.create_all(engine)
    rows = {
        "period": [
            {"pid": i, "spid": s, "retailer": r, "start_day": min(a, b or a), "end_day": b and max(a, b)}
            for i, (s, r, a, b) in enumerate(periods)
        ],
        "point": [{"spid": i + 1, "retailer": r} for i, r in enumerate(point_owners)],
        "child": [{"cid": i, "spid": s, "retailer": r, "day": d} for i, (s, r, d) in enumerate(children)],
    }
    with engine.begin() as conn:
        for name, values in rows.items():
            if values:
                conn.execute(tables[name].insert(), values)
    mapping = _mapping(point, child)
    schema = reflect_source(engine)
    plan = compile_plan(mapping, schema, engine)

    def retail_keys(name: str, column: str) -> set:
        predicate = plan.table(name).store("retail").predicate_sql or "1=1"
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.text(f"SELECT {column} FROM {name} WHERE {predicate}"))}

    derived = store_metadata(plan, mapping, schema, "retail", sqlite.dialect())
    kept = bool(derived.tables["child"].foreign_keys)
    assert kept == fk_guaranteed(mapping, "retail", "child", TO_POINT)
    if kept:
        assert retail_keys("child", "spid") <= retail_keys("point", "spid")
