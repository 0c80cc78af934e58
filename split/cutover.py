"""The staged cutover as a state machine (README "Staged cutover"): one wave at a time, with gates, journaled.

    copy → sync → verify (gate) → freeze (the operator confirms writes stopped) → final-sync
         → final-verify (gate) → switched

A wave's state is read from the journal in the NW store: the steps that passed, in order. `cutover run`
continues with the first step that has not passed, so a failed gate is run again (after the cause was
fixed) and nothing that passed is redone. A wave starts only when the waves holding the tables it needs
(foreign-key parents, follow targets) are switched.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checks.grants import roles_from
from checks.verify import verify_split
from split import journal
from split.capture.command import capture_drop, capture_running, capture_slot
from split.capture.follow import follow_changes
from split.capture.slot import SlotStatus
from split.db import engine_for, sqlite_path
from split.engine.copy import copy_tables
from split.errors import BunkatsuError, ConfigError
from split.i18n import N_, _
from split.introspect import SourceSchema
from split.journal import Entry
from split.mapping.model import Mapping
from split.plan import with_parents
from split.prepare import Prepared
from split.progress import Progress
from split.sync import sync_tables

STEPS = ("copy", "sync", "verify", "freeze", "final-sync", "final-verify", "switched")
GATES = ("verify", "final-verify")


@dataclass
class WaveState:
    wave: str
    tables: list[str]
    depends_on: list[str]
    passed: list[str] = field(default_factory=list)  # steps that passed, in step order
    failed: Entry | None = None  # the last failure after the last step that passed
    last: Entry | None = None

    @property
    def next_step(self) -> str | None:
        return next((s for s in STEPS if s not in self.passed), None)

    @property
    def state(self) -> str:
        if "switched" in self.passed:
            return "switched"
        if self.failed is not None:
            return f"stopped at {self.failed.step}"
        if not self.passed:
            return "not started"
        return f"{self.passed[-1]} passed"

    def said(self) -> str:
        """`state` in the operator's language (`state` itself stays as it is in --json)."""
        if "switched" in self.passed:
            return _("switched")
        if self.failed is not None:
            return _("stopped at %(step)s") % {"step": self.failed.step}
        if not self.passed:
            return _("not started")
        return _("%(step)s passed") % {"step": self.passed[-1]}

    def to_dict(self) -> dict:
        return {
            "wave": self.wave,
            "state": self.state,
            "next_step": self.next_step,
            "tables": self.tables,
            "depends_on": self.depends_on,
            "passed": self.passed,
            "reason": self.failed.message if self.failed else None,
            "last": self.last.to_dict() if self.last else None,
        }


def wave_dependencies(mapping: Mapping, schema: SourceSchema) -> dict[str, list[str]]:
    """For each wave, the other waves holding tables its tables need in the stores first."""
    wave_of = {t: w.name for w in mapping.waves for t in w.tables}
    deps = {}
    for wave in mapping.waves:
        needed = with_parents(mapping, schema, list(wave.tables))
        names = {wave_of[t] for t in needed if t in wave_of} - {wave.name}
        deps[wave.name] = [w.name for w in mapping.waves if w.name in names]  # in the mapping's order
    return deps


def wave_states(mapping: Mapping, schema: SourceSchema, entries: list[Entry]) -> dict[str, WaveState]:
    deps = wave_dependencies(mapping, schema)
    states = {}
    for wave in mapping.waves:
        st = WaveState(wave.name, list(wave.tables), deps[wave.name])
        for entry in (e for e in entries if e.wave == wave.name):
            st.last = entry
            if entry.step == "rollback":  # the wave starts over; its earlier entries stay as history
                st.passed, st.failed = [], None
            elif entry.outcome == "passed":
                if entry.step not in st.passed:
                    st.passed.append(entry.step)
                st.failed = None
            elif entry.outcome == "failed":
                st.failed = entry
        st.passed.sort(key=STEPS.index)
        states[wave.name] = st
    return states


def blocked_by(states: dict[str, WaveState], wave: str) -> list[str]:
    return [d for d in states[wave].depends_on if states[d].state != "switched"]


def gate_waves(states: dict[str, WaveState], wave: str) -> list[str]:
    """What a gate checks row by row: the wave and every wave switched before it (the split as a whole)."""
    return [w for w, st in states.items() if w == wave or st.state == "switched"]


# ── the verbs ──────────────────────────────────────────────────────────────────────────────

ENV_OPERATOR = "BUNKATSU_OPERATOR"


@dataclass
class CutoverStatus:
    system: str
    mapping_sha256: str
    waves: list[WaveState]
    capture: SlotStatus | None = None  # this mapping's capture slot on the source, when there is one

    def to_dict(self) -> dict:
        return {
            "system": self.system,
            "mapping_sha256": self.mapping_sha256,
            "waves": [w.to_dict() for w in self.waves],
            "capture": self.capture.to_dict() if self.capture else None,
        }


def _states(prep: Prepared) -> dict[str, WaveState]:
    """Every wave's state from the journal in the NW store (none yet: nothing was run)."""
    url = prep.stores["nw"].url
    entries = journal.entries(engine_for(url)) if _exists(url) else []
    return wave_states(prep.mapping, prep.schema, entries)


def _exists(url: str) -> bool:
    path = sqlite_path(url)
    return path is None or path.is_file()  # reading a missing SQLite store would create it


def status(prep: Prepared) -> CutoverStatus:
    """Each wave's state, read from the journal in the NW store; the capture slot's lag and retained WAL."""
    return CutoverStatus(prep.mapping.system, prep.mapping.sha256, list(_states(prep).values()), capture_slot(prep))


@dataclass
class StepResult:
    step: str
    outcome: str  # passed | failed | declined
    seconds: float
    message: str = ""
    report: str | None = None

    def to_dict(self) -> dict:
        return {**self.__dict__, "seconds": round(self.seconds, 2)}


@dataclass
class CutoverRun:
    wave: str
    operator: str
    steps: list[StepResult]
    state: WaveState
    exit_code: int = 0

    def to_dict(self) -> dict:
        return {
            "wave": self.wave,
            "operator": self.operator,
            "state": self.state.state,
            "next_step": self.state.next_step,
            "steps": [s.to_dict() for s in self.steps],
            "exit_code": self.exit_code,
        }


def operator_name(value: str | None) -> str:
    return value or os.environ.get(ENV_OPERATOR) or getpass.getuser()


def run(
    prep: Prepared,
    *,
    wave: str,
    operator: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    until: str | None = None,
    reports: str | Path = "cutover-reports",
    workers: int = 2,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CutoverRun:
    """Walk one wave from its next step to `switched` (or to `until`), journaling every step in both stores.

    The prepared context serves every step of the run (the source is reflected and planned once).
    `confirm(question)` asks the operator at the freeze; None means no one can answer (refused up front).
    """
    states = _states(prep)
    if wave not in states:
        raise ConfigError(
            _("unknown wave %(wave)s") % {"wave": repr(wave)},
            hint=_("waves: %(states)s") % {"states": ", ".join(states)},
        )
    if until is not None and until not in STEPS:
        raise ConfigError(
            _("unknown step %(until)s") % {"until": repr(until)},
            hint=_("steps: %(steps)s") % {"steps": ", ".join(STEPS)},
        )
    st, who = states[wave], operator_name(operator)
    blockers = blocked_by(states, wave)
    if blockers and "copy" not in st.passed:
        raise ConfigError(
            _("wave %(wave)s needs the tables of wave(s) %(blockers)s, which are not switched yet")
            % {"wave": wave, "blockers": ", ".join(blockers)},
            hint=_("run `bunkatsu cutover run --wave %(blockers)s` first; `bunkatsu cutover status` shows every wave")
            % {"blockers": blockers[0]},
        )
    todo = list(STEPS[STEPS.index(st.next_step) :]) if st.next_step else []
    if until is not None:
        todo = [s for s in todo if STEPS.index(s) <= STEPS.index(until)]
    if "freeze" in todo and confirm is None:
        raise ConfigError(
            _("wave %(wave)s reaches the freeze, and no one can confirm it here (no terminal)") % {"wave": wave},
            hint=_("pass --yes once writes to the wave's tables have stopped, or --until verify to stop before"),
        )
    ctx = _WaveRun(prep, wave, st, states, workers, Path(reports), progress or Progress(), on_step, confirm)
    done: list[StepResult] = []
    code = 0
    for step in todo:
        started = time.monotonic()
        entry: dict[str, Any] = dict(wave=wave, step=step, operator=who, mapping_sha256=prep.mapping.sha256)
        try:
            outcome = ctx.do(step)
        except BunkatsuError as exc:
            _journal(prep, Entry(**entry, outcome="failed", message=exc.message))
            raise
        done.append(StepResult(step, outcome.outcome, time.monotonic() - started, outcome.said, outcome.report))
        if outcome.outcome == "declined":  # nothing happened: nothing to journal
            code = 2
            break
        _journal(prep, Entry(**entry, **outcome.journal))
        if outcome.outcome != "passed":
            code = outcome.exit_code
            break
    return CutoverRun(wave, who, done, _states(prep)[wave], code)


@dataclass
class _Outcome:
    outcome: str  # passed | failed | declined
    message: str = ""  # in English, as the journal keeps it: one language for every operator's entries
    said: str = ""  # the same in the operator's language, for the screen
    report: str | None = None
    exit_code: int = 0
    journal: dict = field(default_factory=dict)  # the journal entry's fields

    @classmethod
    def passed(
        cls,
        said: tuple[str, str],
        plan_hash: str | None = None,
        run_id: str | None = None,
        counts: dict | None = None,
    ) -> _Outcome:
        message = said[0]
        journal = dict(outcome="passed", plan_hash=plan_hash, run_id=run_id, counts=counts or {}, message=message)
        return cls("passed", message, said[1], journal=journal)


def _both(template: str, values: dict | None = None) -> tuple[str, str]:
    """A step's message in English (for the journal) and in the operator's language (for the screen)."""
    return template % (values or {}), _(template) % (values or {})


def _counted(counts: dict[str, int]) -> tuple[str, str]:
    return _both(
        N_("%(inserted)s inserted, %(updated)s updated, %(deleted)s deleted"), {k: f"{v:,}" for k, v in counts.items()}
    )


@dataclass
class _WaveRun:
    """What every step of one `cutover run` needs; `do(step)` runs one step and says how it went."""

    prep: Prepared
    wave: str
    state: WaveState
    states: dict[str, WaveState]
    workers: int
    reports: Path
    progress: Progress
    on_step: Callable[[str], None] | None
    confirm: Callable[[str], bool] | None

    def do(self, step: str) -> _Outcome:
        if step == "copy":
            return self.copy()
        if step == "final-sync" and capture_running(self.prep):
            return self.follow()
        if step in ("sync", "final-sync"):
            return self.sync()
        if step in GATES:
            return self.gate(step)
        if step == "freeze":
            return self.freeze()
        return self.switch()

    def copy(self) -> _Outcome:
        r = copy_tables(self.prep, self.prep.select([self.wave]), workers=self.workers, progress=self.progress)
        rows = {t.name: t.rows for t in r.tables}
        total = sum(sum(v.values()) for v in rows.values())
        return _Outcome.passed(_both(N_("%(n)s rows copied"), {"n": f"{total:,}"}), r.plan_hash, r.run_id, rows)

    def sync(self) -> _Outcome:
        r = sync_tables(self.prep, self.prep.select([self.wave]), workers=self.workers, progress=self.progress)
        counts = {k: r.total(k) for k in ("inserted", "updated", "deleted")}
        return _Outcome.passed(_counted(counts), r.plan_hash, r.run_id, counts)

    def follow(self) -> _Outcome:
        """The final sync from the capture: the changes since the last batch, in seconds; the gate after it
        still compares every range's checksums. Applied to every wave copied and not switched, so that a
        wave in progress beside this one loses none of its changes when the slot moves on."""
        moving = [w for w, st in self.states.items() if "copy" in st.passed and "switched" not in st.passed]
        tables = self.prep.select(sorted({self.wave, *moving}))
        r = follow_changes(self.prep, tables, until_idle=True, workers=self.workers, progress=self.progress)
        counts = {k: sum(c[k] for c in r.rows.values()) for k in ("inserted", "updated", "deleted")}
        head = _both(
            N_("%(n)s captured change(s) applied up to %(position)s"), {"n": f"{r.changes:,}", "position": r.position}
        )
        tail = _counted(counts)
        said = (f"{head[0]}: {tail[0]}", f"{head[1]}: {tail[1]}")
        return _Outcome.passed(said, self.prep.plan.hash, None, counts)

    def switch(self) -> _Outcome:
        """The last wave's switch drops the capture: nothing reads its slot any more, and it would keep WAL."""
        said = _both(N_("the wave's tables are now served from the NW and retail stores"))
        others = [st for w, st in self.states.items() if w != self.wave and "switched" not in st.passed]
        if not others and capture_running(self.prep):
            name, dropped = capture_drop(self.prep)  # a binlog capture has nothing on the source to drop
            if dropped:
                more = _both(N_("capture slot %(name)s dropped (the last wave is switched)"), {"name": name})
                said = (f"{said[0]}; {more[0]}", f"{said[1]}; {more[1]}")
        return _Outcome.passed(said)

    def gate(self, step: str) -> _Outcome:
        folder = self.reports / self.wave / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        tables = [t.name for t in self.prep.select(gate_waves(self.states, self.wave))]
        v = verify_split(
            self.prep,
            only=tables,
            report_dir=folder,
            workers=self.workers,
            roles=roles_from(),  # the roles file of BUNKATSU_ROLES, as every verify
            on_step=self.on_step,
        )
        summary = v.summary()
        said = _both(N_("%(pass)s passed, %(fail)s failed, %(error)s could not prove"), summary)
        failing = sorted({c.id for c in v.checks if c.status.value in ("fail", "error")})
        if failing:  # check ids only: a message never carries a value
            said = tuple(f"{s}: {', '.join(failing)}" for s in said)  # type: ignore[assignment]
        if summary["warn"]:  # the gate passes; the warnings are in the report
            more = _both(N_("%(warn)s warning(s)"), summary)
            said = (f"{said[0]}; {more[0]}", f"{said[1]}; {more[1]}")
        outcome = "passed" if v.verdict == "pass" else "failed"
        record = dict(outcome=outcome, plan_hash=v.plan_hash, counts=summary, report=v.report, message=said[0])
        return _Outcome(outcome, said[0], said[1], v.report, v.exit_code, record)

    def freeze(self) -> _Outcome:
        question = _(
            "Have writes to the tables of wave %(wave)s (%(tables)s) stopped in the shared system? "
            "The final sync and gate run next."
        ) % {"wave": self.wave, "tables": ", ".join(self.state.tables)}
        if self.confirm is None or not self.confirm(question):
            return _Outcome("declined", *_both(N_("the freeze was not confirmed: nothing after it ran")))
        return _Outcome.passed(_both(N_("writes stopped, confirmed by the operator")))


def rollback(prep: Prepared, *, wave: str, reason: str, operator: str | None = None) -> WaveState:
    """Record that a wave goes back to the shared system: its steps start over at `copy` on the next run.

    Rows stay in the stores (the next copy or sync brings them up to date). Refused while a wave that
    needs this one has started: roll that one back first.
    """
    states = _states(prep)
    if wave not in states:
        raise ConfigError(
            _("unknown wave %(wave)s") % {"wave": repr(wave)},
            hint=_("waves: %(states)s") % {"states": ", ".join(states)},
        )
    if not reason.strip():
        raise ConfigError(_("a rollback needs a reason"), hint=_('pass --reason "…" (it goes into the journal)'))
    started = [w for w, st in states.items() if wave in st.depends_on and st.passed]
    if started:
        raise ConfigError(
            _("wave(s) %(started)s need wave %(wave)s and have started")
            % {"started": ", ".join(started), "wave": wave},
            hint=_("roll back %(started)s first: bunkatsu cutover rollback --wave %(started)s --reason …")
            % {"started": started[-1]},
        )
    _journal(prep, Entry(wave, "rollback", "passed", operator_name(operator), prep.mapping.sha256, message=reason))
    return _states(prep)[wave]


def _journal(prep: Prepared, entry: Entry) -> None:
    """Both stores get the entry; a store without the journal yet (its copy failed before the schema) is skipped."""
    for store in prep.stores.values():
        engine = engine_for(store.url, writer=True)
        if _exists(store.url) and sa.inspect(engine).has_table(journal.JOURNAL_TABLE):
            journal.append(engine, entry)
