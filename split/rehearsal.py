"""`dry-run`: the whole split rehearsed into scratch stores (copy, verify, report), the scratch removed in every case."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from checks.verify import VerifyResult, verify_split
from split.engine.copy import CopyResult, copy_tables
from split.errors import ConfigError, RuntimeFailure
from split.i18n import _
from split.plan import with_parents
from split.prepare import Prepared, prepare
from split.progress import Progress
from split.scratch import scratch_stores
from split.subset import Sample, draw_sample


@dataclass
class DryRunResult:
    scratch: str  # where the scratch stores were (folder or masked server)
    tables: list[str]  # what was rehearsed: the chosen tables and the parents they need
    copy: CopyResult
    verify: VerifyResult
    removed: bool = True
    sample: Sample | None = None  # when the rehearsal ran on a sample of the source

    @property
    def exit_code(self) -> int:
        return self.verify.exit_code

    def to_dict(self) -> dict:
        return {
            "verdict": self.verify.verdict,
            "scratch": self.scratch,
            "scratch_removed": self.removed,
            "tables": self.tables,
            "sample": self.sample.to_dict() if self.sample else None,
            "report": self.verify.report,
            "copy": self.copy.to_dict(),
            "verify": self.verify.to_dict(),
        }


def rehearse(
    prep: Prepared,
    chosen: Sequence[str],
    *,
    scratch_url: str | None = None,
    report_dir: str | Path | None = None,
    workers: int = 2,
    sample: int | None = None,
    sample_by: str | None = None,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DryRunResult:
    """Rehearse the chosen tables (and the parents they need) into scratch stores; see the module docstring."""
    if sample is not None and sample < 1:
        raise ConfigError(
            _("--sample %(sample)s: rehearse on at least 1 value") % {"sample": sample}, hint=_("e.g. --sample 100")
        )
    progress = progress or Progress()
    needed = with_parents(prep.mapping, prep.schema, list(chosen))
    rehearsed = [t.name for t in prep.plan.tables if t.name in needed]
    try:
        with scratch_stores(scratch_url) as scratch:
            progress.note(
                _("scratch stores: %(stores)s") % {"stores": scratch.describe()}
            )  # first: what to drop after a `kill -9`
            source = prep
            drawn = None
            if sample is not None:  # the rehearsal's source is then a consistent sample, in the scratch folder
                sampled = f"sqlite:///{scratch.folder / 'sample.db'}"
                drawn = draw_sample(prep.source.url, prep.mapping, prep.schema, sampled, sample, sample_by)
                said = _("sample: %(n)s values of %(anchor)s, %(rows)s rows")
                progress.note(
                    said % {"n": f"{drawn.values:,}", "anchor": drawn.anchor, "rows": f"{sum(drawn.rows.values()):,}"}
                )
                source = prepare(prep.plan.mapping_path, sampled, stores=(), key=prep.key, need_key=False)
            target = source.with_stores(scratch.stores, scratch.folder / "migrations")
            tables = [t for t in target.plan.tables if t.name in rehearsed]
            copied = copy_tables(target, tables, workers=workers, progress=progress)
            proof = verify_split(target, only=rehearsed, report_dir=report_dir, workers=workers, on_step=on_step)
    except KeyboardInterrupt:  # the block above removed the scratch on its way out
        raise RuntimeFailure(_("interrupted: the rehearsal stopped and its scratch stores were removed")) from None
    return DryRunResult(scratch.where, rehearsed, copied, proof, sample=drawn)
