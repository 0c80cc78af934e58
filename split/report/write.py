"""Write the report folder. Everything written here comes from check results, which hold names, counts
and keyed hashes only — never a protected value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from jinja2 import Environment, PackageLoader

from split.i18n import N_, _, language, translations

AUDIT_JSON = "audit-log.json"
# Words the templates translate from data (a check's status, a store's role): in the catalogue too.
SHOWN_WORDS = (N_("pass"), N_("fail"), N_("error"), N_("warn"), N_("source"), N_("nw"), N_("retail"), N_("log"))


def _templates() -> Environment:
    # Every template is HTML (`*.html.j2`: select_autoescape(["html"]) would match none of them). The retail
    # company names its tables and columns: names are text, never markup that could rewrite the verdict.
    env = Environment(
        loader=PackageLoader("split.report", "templates"), autoescape=True, extensions=["jinja2.ext.i18n"]
    )
    env.install_gettext_translations(translations(language()), newstyle=False)  # type: ignore[attr-defined]
    env.globals["lang"] = language()
    return env


def write_audit(data: dict, folder: str | Path) -> Path:
    """audit-log.json and a self-contained audit-log.html; a verify report written later into the same folder
    shows the same section."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / AUDIT_JSON).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "audit-log.html").write_text(
        _templates().get_template("audit.html.j2").render(audit=data), encoding="utf-8"
    )
    return folder / "audit-log.html"


def write_report(result: Any, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    (folder / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    # The access-log section: verify's own audit-log check, or else an `audit-log --report` into this folder
    # (whose testcase then joins junit.xml; verify's own check is already one of its results).
    audit_file = folder / AUDIT_JSON
    beside = None
    if not data.get("audit_log") and audit_file.is_file():
        beside = json.loads(audit_file.read_text(encoding="utf-8"))
    (folder / "junit.xml").write_bytes(junit_xml(data, beside))
    env = _templates()
    gx_docs = (folder / "gx" / "index.html").is_file()
    html = env.get_template("index.html.j2").render(
        r=data, max_rows=max_rows(data), gx_docs=gx_docs, audit=data.get("audit_log") or beside
    )
    (folder / "index.html").write_text(html, encoding="utf-8")
    return folder / "index.html"


def max_rows(data: dict) -> int:
    return max([1] + [t.get(k) or 0 for t in data["tables"] for k in ("source_rows", "nw_rows", "retail_rows")])


def junit_xml(data: dict, audit: dict | None = None) -> bytes:
    """One testcase per check result; failures and "could not prove" errors as CI systems expect them. An
    access-log investigation in the same folder is one more testcase, failing when it found improper views."""
    checks = list(data["checks"])
    if audit is not None:
        said = _("%(views)s improper view(s) by %(people)s people of %(customers)s customers")
        message = said % {"views": audit["views"], "people": audit["viewers"], "customers": audit["customers"]}
        status = "fail" if audit["views"] else "pass"
        checks.append(
            {"id": "audit-log", "store": "log", "table": None, "column": None, "status": status, "message": message}
        )
    suite = ET.Element(
        "testsuite",
        name="bunkatsu.verify",
        tests=str(len(checks)),
        failures=str(sum(c["status"] == "fail" for c in checks)),
        errors=str(sum(c["status"] == "error" for c in checks)),
        time=str(data["seconds"]),
    )
    for c in checks:
        where = ".".join(p for p in (c["store"], c["table"], c["column"]) if p)
        case = ET.SubElement(suite, "testcase", classname=c["id"], name=where or c["id"])
        if c["status"] == "fail":
            ET.SubElement(case, "failure", message=c["message"]).text = json.dumps(c, ensure_ascii=False)
        elif c["status"] == "error":
            ET.SubElement(case, "error", message=c["message"])
        elif c["status"] == "warn":  # passes; CI systems show the output of a test case
            ET.SubElement(case, "system-out").text = _("warning:") + " " + c["message"]
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
