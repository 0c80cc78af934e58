"""`bunkatsu demo`: the whole flow on SQLite in one folder — build the reference database, split, verify, report.

`demo_staged` walks every wave through `cutover run` instead, with the shared system changing while the
contracts wave is open. The demo's encode key, when none is set, is a throwaway generated for the run and
handed to the verbs (the process environment is left alone).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from checks.verify import VerifyResult, verify_split
from split import cutover
from split.audit import AuditResult, LogSpec, audit, require_log_table
from split.engine.copy import CopyResult, copy_tables
from split.keys import generate as generate_key
from split.mapping import load_mapping
from split.plan import Plan
from split.prepare import Prepared, prepare
from split.progress import Progress
from split.report import write_audit
from split.sample.generate import SampleSummary, build
from split.sample.live import a_day_of_changes
from split.settings import ENV_ENCODE_KEY, StoreUrl, encode_key


def bundled_mapping() -> Path:
    """The reference mapping: inside the installed package, or in the source tree for editable installs."""
    packaged = Path(__file__).parent / "data" / "takuso.yaml"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "mappings" / "takuso.yaml"


@dataclass(frozen=True)
class DemoFolder:
    folder: Path
    files: dict[str, Path]  # shared / nw / retail SQLite files
    mapping: Path
    migrations: Path
    key: bytes
    generated_key: bool

    @property
    def urls(self) -> dict[str, str]:
        return {role: f"sqlite:///{path}" for role, path in self.files.items()}

    def shown(self) -> dict[str, str]:
        return {k: str(v) for k, v in {**self.files, "mapping": self.mapping, "migrations": self.migrations}.items()}

    def prepare(self) -> Prepared:
        urls = self.urls
        return prepare(
            self.mapping, urls["shared"], urls["nw"], urls["retail"], migrations=self.migrations, key=self.key
        )


def demo_folder(folder: str | Path) -> DemoFolder:
    """The demo's folder, emptied of an earlier run: three SQLite files, the mapping, the revisions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = {role: folder / f"{role}.db" for role in ("shared", "nw", "retail")}
    for path in files.values():
        path.unlink(missing_ok=True)
    migrations = folder / "migrations"  # the stores' Alembic revisions: recreated with the stores
    shutil.rmtree(migrations, ignore_errors=True)
    shutil.rmtree(folder / "cutover-reports", ignore_errors=True)
    mapping = folder / "takuso.yaml"
    shutil.copyfile(bundled_mapping(), mapping)
    generated = not os.environ.get(ENV_ENCODE_KEY)
    # a throwaway key for the demo only; real runs take it from the NW's secret store
    key = generate_key().encode() if generated else encode_key(required=True)
    assert key is not None
    return DemoFolder(folder, files, mapping, migrations, key, generated)


@dataclass
class DemoResult:
    folder: str
    files: dict[str, str]
    sample: SampleSummary
    plan: Plan
    copy: CopyResult
    verify: VerifyResult
    generated_key: bool
    audit: AuditResult

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "files": self.files,
            "plan_hash": self.copy.plan_hash,
            "generated_encode_key": self.generated_key,
            "copy": self.copy.to_dict(),
            "audit_log": self.audit.to_dict(),
            "verify": {"verdict": self.verify.verdict, "report": self.verify.report},
        }


def demo(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
) -> DemoResult:
    d = demo_folder(folder)
    sample = build(d.urls["shared"], supply_points, seed)
    prep = d.prepare()
    copied = copy_tables(prep, prep.plan.tables, workers=workers, progress=progress)
    # the shared system's access log, investigated as the seed documents did; its section joins the report
    found = shared_access_log(prep, d.folder / "report")
    proof = verify_split(prep, report_dir=d.folder / "report", workers=workers)
    return DemoResult(str(d.folder), d.shown(), sample, prep.plan, copied, proof, d.generated_key, found)


def shared_access_log(prep: Prepared, report_dir: Path) -> AuditResult:
    """The reference database's access log, investigated against its own ownership timeline."""
    log = StoreUrl("log", prep.source.url, prep.source.masked)  # the shared database holds its own log
    spec = LogSpec()
    require_log_table(log, spec)
    found = audit(prep.mapping, prep.source, log, spec)
    write_audit(found.to_dict(), report_dir)
    return found


@dataclass
class StagedDemoResult:
    folder: str
    files: dict[str, str]
    runs: list[cutover.CutoverRun]  # in the order they ran (two per wave: day and night)
    changes: dict[str, int]  # what changed in the source while the contracts wave was under way
    verify: VerifyResult
    generated_key: bool

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "files": self.files,
            "generated_encode_key": self.generated_key,
            "source_changes": self.changes,
            "runs": [r.to_dict() for r in self.runs],
            "verify": {"verdict": self.verify.verdict, "report": self.verify.report},
        }


def demo_staged(
    folder: str | Path = "bunkatsu-demo",
    supply_points: int = 1000,
    seed: int = 1,
    *,
    workers: int = 2,
    progress: Progress | None = None,
    on_run: Callable[[cutover.CutoverRun], None] | None = None,
) -> StagedDemoResult:
    """Every wave walked through `cutover run` (day: up to the first gate; night: freeze, final sync, final
    gate, switched), with the shared system changing while the contracts wave is open."""
    d = demo_folder(folder)
    build(d.urls["shared"], supply_points, seed)
    reports = d.folder / "cutover-reports"
    runs: list[cutover.CutoverRun] = []
    changes: dict[str, int] = {}

    def walk(wave: str, until: str | None, confirm: Callable[[str], bool] | None) -> bool:
        # each run prepares anew, as an operator's next command would: the source may have changed
        prep = d.prepare()
        run = cutover.run(
            prep,
            wave=wave,
            operator="demo",
            confirm=confirm,
            until=until,
            reports=reports,
            workers=workers,
            progress=progress,
        )
        runs.append(run)
        if on_run is not None:
            on_run(run)
        return run.exit_code == 0

    for wave in load_mapping(d.mapping).waves:
        if not walk(wave.name, "verify", None):
            break
        if wave.name == "contracts":  # the shared system moved on between the first gate and the freeze
            changes = a_day_of_changes(d.urls["shared"])
        if not walk(wave.name, None, lambda question: True):  # the demo confirms the freeze itself
            break
    proof = verify_split(d.prepare(), report_dir=d.folder / "report", workers=workers)
    return StagedDemoResult(str(d.folder), d.shown(), runs, changes, proof, d.generated_key)
