"""`dry-run --sample N`: a bounded sample that keeps every follow chain and foreign key whole."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import sqlalchemy as sa

from split.checksum import canonical
from split.db import engine_for
from split.prepare import prepare
from split.subset import draw_sample
from tests.conftest import BACKEND_PARAMS, sample_source
from tests.helpers import MAPPING, TEST_KEY, column_names, rows, run_cli, table_names

N = 5  # fewer than the areas and retailers: their rows come only through the foreign-key closure


def _rows_for(url: str, table: str, anchor: str, values: set) -> Counter:
    columns = column_names(url, table)
    return Counter(tuple(canonical(r[c]) for c in columns) for r in rows(url, table) if r[anchor] in values)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_a_sample_holds_whole_customers_and_no_orphans(backend, session_dbs, tmp_path):
    source = sample_source(session_dbs, backend)
    checked = prepare(MAPPING, source, stores=(), need_key=False)
    target = f"sqlite:///{tmp_path / 'sample.db'}"
    sample = draw_sample(source, checked.mapping, checked.schema, target, N)

    assert sample.anchor == "supply_point_id" and sample.values == N
    points = {r["supply_point_id"] for r in rows(target, "supply_point")}
    assert len(points) == N
    for table in sorted(table_names(source)):
        if "supply_point_id" in column_names(source, table):
            # every row of a sampled supply point, and no other supply point
            assert _rows_for(target, table, "supply_point_id", points) == _rows_for(
                source, table, "supply_point_id", points
            ), table
            assert {r["supply_point_id"] for r in rows(target, table)} <= points, table
    assert sample.rows["interval_reading_30min"] < len(rows(source, "interval_reading_30min"))

    with engine_for(target).connect() as conn:
        for info in checked.schema.tables.values():
            for fk in info.foreign_keys:
                child, parent = (
                    sa.table(info.name, *map(sa.column, fk.columns)),
                    sa.table(fk.ref_table, *map(sa.column, fk.ref_columns)),
                )
                match = sa.and_(*(parent.c[p] == child.c[c] for c, p in zip(fk.columns, fk.ref_columns, strict=True)))
                orphans = sa.select(sa.func.count()).select_from(child).where(~sa.exists().where(match))
                assert conn.execute(orphans).scalar_one() == 0, f"{info.name} → {fk.ref_table}"


def test_dry_run_on_a_sample(session_dbs, tmp_path):
    source = sample_source(session_dbs, "sqlite")
    env = {"BUNKATSU_ENCODE_KEY": TEST_KEY, "TMPDIR": str(tmp_path)}
    result = run_cli("dry-run", "-m", str(MAPPING), "--source", source, "--sample", str(N), "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["verdict"] == "pass"
    assert summary["sample"]["values"] == N and summary["sample"]["rows"]["supply_point"] == N
    copied = {t["table"]: t for t in summary["copy"]["tables"]}
    assert copied["supply_point"]["source_rows"] == N and copied["supply_point"]["rows"]["nw"] == N

    bad = run_cli("dry-run", "-m", str(MAPPING), "--source", source, "--sample", "5", "--sample-by", "nope", env=env)
    assert bad.returncode == 2 and "nope" in bad.stderr and "Traceback" not in bad.stderr
