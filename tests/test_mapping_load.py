"""The mapping loader: typed objects from YAML, every error with file:line:column and a fix, all at once."""

from __future__ import annotations

import textwrap

import pytest

from split.errors import MappingError
from split.mapping import AllRows, Destination, Follow, NoRows, Own, load_mapping, parse_mapping
from tests.helpers import MAPPING

BASE = """\
version: 1
system: t
affiliate: {name: 関西電力, retailer_codes: ["00016"]}
tables:
  supply_period:
    retail: {own: retailer_code}
    period: [start_date, end_date]
    columns: {supply_point_id: shared, retailer_code: shared, start_date: shared, end_date: shared}
  customer_party:
    retail: {follow: supply_period, on: supply_point_id, at: registered_on}
    columns:
      supply_point_id: shared
      registered_on: shared
      phone: {to: shared, kind: phone}
      ledger_ref: encode
  fit_contract:
    retail: none
"""


def load(text: str):
    return parse_mapping(textwrap.dedent(text).encode(), "m.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(MappingError) as info:
        load(text)
    return [str(p) for p in info.value.problems]


def test_reference_mapping_loads_into_typed_objects():
    m = load_mapping(MAPPING)
    assert m.affiliate.retailer_codes == ("00016",)
    usage = m.table("monthly_usage")
    assert usage.retail == Follow("supply_period", (("supply_point_id", "supply_point_id"),), "usage_month")
    assert usage.partition.by == ("usage_id",) and usage.partition.rows == 5000
    natural = m.table("generation_reading_30min").partition
    assert natural.by == ("supply_point_id", "reading_date", "slot")  # a natural key, in order
    assert m.table("supply_period").retail == Own("retailer_code")
    # an NW-only table lists its columns only to declare kinds (every one goes to NW)
    fit = m.table("fit_contract")
    assert fit.retail == NoRows() and fit.columns_listed and fit.column("generator_owner").kind == "name"
    assert not load(BASE).table("fit_contract").columns_listed  # columns may be omitted
    assert m.table("retail_account").nw == NoRows() and m.table("area").nw == AllRows()
    assert m.table("customer_party").column("ledger_ref").to is Destination.ENCODE
    assert m.encodes and len(m.sha256) == 64
    assert [w.name for w in m.waves][0] == "masters"


def test_objects_are_immutable():
    m = load(BASE)
    with pytest.raises(AttributeError):
        m.system = "x"  # type: ignore[misc]


def test_unknown_destination_names_file_line_column_and_choices():
    text = BASE.replace("phone: {to: shared, kind: phone}", "phone: {to: nww, kind: phone}")
    assert problems(text) == [
        "unknown destination `nww` for column phone at m.yaml:14:19 — did you mean `nw`? "
        "(expected one of shared, nw, retail, encode, drop)"
    ]


def test_all_problems_are_reported_together():
    text = BASE.replace("ledger_ref: encode", "ledger_ref: encrypt").replace("retail: none", "retail: nobody")
    text = text.replace("system: t", "system: t\ncolour: blue")
    found = problems(text)
    assert len(found) == 3
    assert any("unknown key `colour` in the mapping at m.yaml:3:1" in p for p in found)
    assert any("unknown destination `encrypt` for column ledger_ref" in p for p in found)
    assert any("unknown retail scope of table fit_contract `nobody`" in p for p in found)


def test_malformed_yaml_points_at_the_spot():
    found = problems("version: 1\ntables: {a: [1, 2}\n")
    assert len(found) == 1 and found[0].startswith("malformed YAML") and "m.yaml:2:" in found[0]


def test_duplicate_and_missing_keys():
    found = problems(BASE.replace("system: t\n", "system: t\nsystem: u\n").replace("version: 1\n", ""))
    assert any("duplicate key `system`" in p and "m.yaml:2:1" in p for p in found)
    assert any("missing key `version` in the mapping" in p for p in found)


def test_unknown_kind_suggests():
    found = problems(BASE.replace("kind: phone", "kind: phon"))
    assert found == [f for f in found if "unknown kind `phon`" in f and "did you mean `phone`" in f] and found


def test_follow_to_unknown_table_and_to_a_table_without_scope():
    found = problems(BASE.replace("follow: supply_period", "follow: supply_periods"))
    assert any("follows unknown table `supply_periods`" in p for p in found)
    found = problems(
        BASE.replace(
            "follow: supply_period, on: supply_point_id, at: registered_on", "follow: fit_contract, on: supply_point_id"
        )
    )
    assert any("follows fit_contract, which has no retail scope" in p for p in found)


def test_at_needs_a_period_on_the_parent():
    found = problems(BASE.replace("    period: [start_date, end_date]\n", ""))
    assert any("uses `at: registered_on` but supply_period has no `period`" in p for p in found)


def test_follow_cycles_are_refused():
    text = BASE.replace("retail: {own: retailer_code}", "retail: {follow: customer_party, on: supply_point_id}")
    text = text.replace(", at: registered_on", "")
    found = problems(text)
    assert any("retail follow cycle: supply_period → customer_party → supply_period" in p for p in found)


def test_waves_must_hold_each_table_exactly_once():
    waves = "waves:\n  - {name: a, tables: [supply_period, customer_party]}\n  - {name: b, tables: [customer_party, nope]}\n"
    found = problems(BASE + waves)
    assert any("table customer_party is in wave a and again in wave b" in p for p in found)
    assert any("wave b names unknown table `nope`" in p for p in found)
    assert any("tables in no wave: fit_contract" in p for p in found)


def test_tables_reaching_retail_must_list_columns():
    found = problems(BASE + "  extra:\n    retail: all\n")
    assert any("table extra reaches the retail store but lists no columns" in p for p in found)


def test_on_keeps_its_name_and_codes_keep_leading_zeros():
    m = load(BASE.replace("on: supply_point_id", "on: {supply_point_id: supply_point_id}"))
    assert m.table("customer_party").retail.on == (("supply_point_id", "supply_point_id"),)
    assert m.affiliate.retailer_codes == ("00016",)
    assert load(BASE.replace('["00016"]', "[00016]")).affiliate.retailer_codes == ("00016",)
