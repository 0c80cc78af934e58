"""The cutover state machine without a subprocess: the journal's entries in, each wave's state out."""

from __future__ import annotations

import pytest

from split.cutover import STEPS, blocked_by, gate_waves, wave_dependencies, wave_states
from split.db import engine_for
from split.introspect import SourceSchema, reflect_source
from split.journal import Entry
from split.mapping import Mapping, load_mapping
from tests.helpers import MAPPING


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Mapping, SourceSchema]:
    from split.sample.generate import generate

    url = f"sqlite:///{tmp_path_factory.mktemp('states') / 'src.db'}"
    generate(url, 10, 1)
    return load_mapping(MAPPING), reflect_source(engine_for(url))


def entry(wave: str, step: str, outcome: str = "passed", message: str | None = None) -> Entry:
    return Entry(wave=wave, step=step, outcome=outcome, operator="t", mapping_sha256="m", message=message)


def passed_through(wave: str, last: str) -> list[Entry]:
    return [entry(wave, s) for s in STEPS[: STEPS.index(last) + 1]]


def test_nothing_journaled_means_every_wave_starts_at_copy(model: tuple[Mapping, SourceSchema]) -> None:
    states = wave_states(*model, [])
    assert {s.state for s in states.values()} == {"not started"}
    assert {s.next_step for s in states.values()} == {"copy"}


def test_waves_wait_for_the_waves_holding_their_parents(model: tuple[Mapping, SourceSchema]) -> None:
    deps = wave_dependencies(*model)
    assert deps["masters"] == []
    assert "masters" in deps["contracts"] and "contracts" in deps["usage"]
    states = wave_states(*model, passed_through("masters", "switched"))
    assert blocked_by(states, "contracts") == []
    assert blocked_by(states, "usage") == ["contracts"]


def test_a_failed_gate_stops_the_wave_and_the_rerun_continues_there(model: tuple[Mapping, SourceSchema]) -> None:
    entries = [*passed_through("masters", "sync"), entry("masters", "verify", "failed", "retail.fingerprint")]
    st = wave_states(*model, entries)["masters"]
    assert st.state == "stopped at verify" and st.next_step == "verify"
    assert st.to_dict()["reason"] == "retail.fingerprint"
    st = wave_states(*model, [*entries, entry("masters", "verify")])["masters"]
    assert st.state == "verify passed" and st.next_step == "freeze" and st.failed is None


def test_a_rollback_starts_the_wave_over_and_keeps_its_history(model: tuple[Mapping, SourceSchema]) -> None:
    entries = [*passed_through("masters", "switched"), entry("masters", "rollback")]
    st = wave_states(*model, entries)["masters"]
    assert st.state == "not started" and st.next_step == "copy" and st.last is entries[-1]


def test_gates_check_the_wave_and_every_switched_wave(model: tuple[Mapping, SourceSchema]) -> None:
    states = wave_states(*model, [*passed_through("masters", "switched"), *passed_through("contracts", "verify")])
    assert gate_waves(states, "contracts") == ["masters", "contracts"]
    assert gate_waves(states, "usage") == ["masters", "usage"]


def test_steps_passed_out_of_order_are_kept_in_step_order(model: tuple[Mapping, SourceSchema]) -> None:
    entries = [entry("masters", "sync"), entry("masters", "copy"), entry("masters", "sync")]
    st = wave_states(*model, entries)["masters"]
    assert st.passed == ["copy", "sync"] and st.next_step == "verify"
