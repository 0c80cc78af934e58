"""Per-store suites run with Great Expectations 1.x: ephemeral context, no GX project on disk.

GX is imported only here (4–8 s on 2 cores), so `bunkatsu --help` never pays for it. Results are
requested as SUMMARY with no unexpected-value list, and only counts are carried into our results: GX's
default output would print the very values the proof protects. The suites sit beside the toolkit's own
checks, not instead of them: GX's column-set check is case-insensitive (a `MEMO` next to `memo` passes)
and its value expectations skip NULLs, so the catalogue and SQL checks stay.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
from typing import Any

from checks.context import VerifyContext
from checks.results import CheckResult, could_not_prove, failed, passed
from split.db import engine_for, redact
from split.encode import TOKEN_RE
from split.engine.run import load_dask
from split.i18n import _
from split.mapping.model import Own

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}


def _expectations(ctx: VerifyContext, gx: Any, table: str, columns: list[str], encoded: list[str]) -> list[tuple]:
    """(check id, column, expectation) for one retail table."""
    ex = gx.expectations
    out: list[tuple] = [
        ("retail.columns", None, ex.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True)),
        ("retail.columns", None, ex.ExpectTableColumnCountToEqual(value=len(columns))),
    ]
    out += [("retail.encoded", c, ex.ExpectColumnValuesToMatchRegex(column=c, regex=TOKEN_RE.pattern)) for c in encoded]
    rule = ctx.mapping.table(table)
    if rule is not None and isinstance(rule.retail, Own) and rule.retail.column in columns:
        col = rule.retail.column
        codes = list(ctx.mapping.affiliate.retailer_codes)
        out += [
            ("retail.row_scope", col, ex.ExpectColumnValuesToBeInSet(column=col, value_set=codes)),
            ("retail.row_scope", col, ex.ExpectColumnValuesToNotBeNull(column=col)),  # in-set skips NULLs
        ]
    return out


def gx_suites(ctx: VerifyContext) -> list[CheckResult]:
    """One suite per retail table, run by one Checkpoint; with a report folder its action writes Data Docs."""
    import sqlalchemy as sa

    url = ctx.stores["retail"]
    present = set(sa.inspect(engine_for(url)).get_table_names())
    tables = [(t, sp) for t, sp in ctx.retail_tables() if t.name in present]
    if not tables:
        return []
    planned: dict[str, list[tuple]] = {}
    try:
        gx, context, source = _context(url, ctx.gx_docs_dir)
        definitions = []
        for table_plan, sp in tables:
            columns = ctx.allowed_retail.get(table_plan.name, [c.name for c in sp.columns])
            encoded = [c.name for c in sp.columns if c.transform == "encode"]
            planned[table_plan.name] = _expectations(ctx, gx, table_plan.name, columns, encoded)
            # GX wraps a plain string as quoted_name(quote=False), which never quotes: a table named like a
            # reserved word (`order`) would break its SQL. quote=None lets SQLAlchemy quote when needed.
            table_name = sa.quoted_name(table_plan.name, None)
            asset = source.add_table_asset(name=table_plan.name, table_name=table_name)
            suite = context.suites.add(gx.ExpectationSuite(name=f"retail.{table_plan.name}"))
            for _, _, expectation in planned[table_plan.name]:
                suite.add_expectation(expectation)
            batch = asset.add_batch_definition_whole_table("whole")
            definition = gx.ValidationDefinition(data=batch, suite=suite, name=f"retail.{table_plan.name}")
            definitions.append(context.validation_definitions.add(definition))
        docs = [gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])]
        checkpoint = gx.Checkpoint(
            name="bunkatsu-retail",
            validation_definitions=definitions,
            actions=docs if ctx.gx_docs_dir else [],
            result_format=RESULT_FORMAT,
        )
        run = context.checkpoints.add(checkpoint).run()
    except Exception as exc:  # GX failing to start or run proves nothing: say so, never pass
        reason = _("Great Expectations could not run: %(error)s") % {"error": redact(str(exc))[:200]}
        return [could_not_prove("retail.columns", "retail", None, reason)]
    results = []
    for validation in run.run_results.values():
        table = validation.suite_name.removeprefix("retail.")
        pairs = _pair(planned[table], validation.results)
        results += [_result(cid, table, column, r) for (cid, column, _), r in pairs]
    return results


DOCS_SITE = "bunkatsu"


# What Great Expectations' import loads from packages this process already uses (measured with an import audit
# hook; tests/test_preload.py fails when an upgrade adds one). A module being made in one thread is visible, half
# made, to the others: SQLAlchemy's ORM registers its inspector for every object before its `orm.exc` is done, and
# a check's next query in the main thread then ended as a bug (CI, 2026-12-06). So these load here, first.
SHARED_WITH_GX = (
    "sqlalchemy.orm",
    "sqlalchemy.future",
    "sqlalchemy.dialects.sqlite",
    "email.policy",
    "email.generator",
    "email.mime.multipart",
    "email.mime.text",
    "importlib.readers",
    "importlib.resources.readers",
    "zoneinfo._zoneinfo",
    "encodings.unicode_escape",
)

_gx_import: threading.Thread | None = None


def preload() -> None:
    """Import Great Expectations in a thread of its own while the other checks run: the import alone takes
    3–5 s of Python, and the checks before it mostly wait for the databases (BENCHMARKS.md, issue 20).
    Everything that thread would share with this one is imported here first (Dask's scheduler for the checks'
    first `map`, and `SHARED_WITH_GX`), so the thread only makes modules no other thread uses. Once per process."""
    global _gx_import
    if _gx_import is not None or "great_expectations" in sys.modules:
        return
    load_dask()
    for name in SHARED_WITH_GX:
        with contextlib.suppress(ModuleNotFoundError):  # gone from a newer Python: then GX cannot make it either
            importlib.import_module(name)
    _gx_import = threading.Thread(target=_import_gx, name="bunkatsu-gx-import", daemon=True)
    _gx_import.start()


def _import_gx() -> None:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with contextlib.suppress(Exception):  # the check imports it again, and says why it could not run
        import great_expectations  # noqa: F401 - loaded for the check


def _context(url: str, docs_dir: str | None) -> tuple[Any, Any, Any]:
    if _gx_import is not None:
        _gx_import.join()  # its import done, or failed (then the import below raises and says why)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # GX's bars would clutter stderr
    if docs_dir is not None:
        site: Any = {
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
        }
        context.add_data_docs_site(site_name=DOCS_SITE, site_config=site)
    connection = engine_for(url).url.render_as_string(hide_password=False)
    return gx, context, context.data_sources.add_sql(name="retail", connection_string=connection)


def _pair(planned: list[tuple], results: list[Any]) -> list[tuple[tuple, Any]]:
    """GX may reorder results: match them back to our expectations by type and column."""
    pairs = []
    remaining = list(results)
    for item in planned:
        expectation = item[2]
        match = next(
            r
            for r in remaining
            if r.expectation_config.type == expectation.expectation_type
            and r.expectation_config.kwargs.get("column") == getattr(expectation, "column", None)
        )
        remaining.remove(match)
        pairs.append((item, match))
    return pairs


def _raised(info: dict | None) -> str | None:
    """GX reports a failed run in two shapes: flat, or nested per metric. Either way it is not a finding."""
    if not info:
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "exception") if info["raised_exception"] else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return value.get("exception_message") or "exception"
    return None


def _result(check_id: str, table: str, column: str | None, r: Any) -> CheckResult:
    name = r.expectation_config.type
    error = _raised(r.exception_info)
    if error:
        return could_not_prove(check_id, "retail", table, f"{name}: {redact(error)[:200]}")
    summary = r.result or {}
    unexpected = summary.get("unexpected_count")
    observed = int(unexpected) if unexpected is not None else None  # MariaDB returns counts as floats
    message = f"Great Expectations {name}"
    if r.success:
        return passed(check_id, "retail", table, column=column, observed=observed, message=message)
    if name == "expect_table_columns_to_match_set":
        details = summary.get("details", {}).get("mismatched", {})
        extra, missing = details.get("unexpected", []), details.get("missing", [])
        said = _("not allowed %(extra)s; missing %(missing)s")
        message += ": " + said % {"extra": ", ".join(extra) or "–", "missing": ", ".join(missing) or "–"}
    elif name == "expect_table_column_count_to_equal":
        observed = summary.get("observed_value")
    return failed(
        check_id,
        "retail",
        table,
        column=column,
        observed=observed,
        expected=0 if unexpected is not None else None,
        message=message,
    )
