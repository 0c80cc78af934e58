"""The verify report in a real browser (issue 22, part 4): Debian's Chromium, headless.

A passing and a failing report, each in English and Japanese, are opened from disk as a reviewer would: the page must render with no
console error and no network request (it is self-contained and read offline), the verdict must be the
first thing on it, and a print to PDF (Chromium's own `--print-to-pdf`, through the report's print
stylesheet) must give a document whose text starts with the verdict and holds every check. `.ci/run`
installs chromium, poppler-utils (pdftotext) and a Japanese font; without them this test fails in CI and
skips elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from split.db import engine_for
from split.sample.generate import generate
from tests.conftest import REQUIRE_SERVERS
from tests.helpers import ENV, MAPPING, ROOT, run_cli

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
# What the probe of this machine kind starts Chromium with: no sandbox as root, and no background traffic
# of Chromium's own (updates, sync), so that any request the net log shows is the page's.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> str:
    missing = [name for name, found in (("chromium", BROWSER), ("pdftotext", shutil.which("pdftotext"))) if not found]
    if missing:
        message = f"{' and '.join(missing)} not installed (.ci/run installs Debian's chromium and poppler-utils)"
        if REQUIRE_SERVERS:
            pytest.fail(message)
        pytest.skip(message)
    assert BROWSER
    return BROWSER


def chromium(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    profile.mkdir(parents=True, exist_ok=True)
    command = [browser, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:  # noqa: ANN001
    """A passing report, then a failing one: rows deleted from the NW store (completeness fails)."""
    folder = tmp_path_factory.mktemp("reports")
    source, nw, retail = (f"sqlite:///{folder / name}.db" for name in ("src", "nw", "rt"))
    generate(source, 30, 7)
    stores = ["--mapping", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail]
    # a module's fixture runs before the autouse `migrations` one: without this, the repository's own folder
    stores += ["--migrations", str(folder / "migrations")]
    assert run_cli("copy", *stores, env=ENV).returncode == 0
    found = {}
    for verdict in ("pass", "fail"):
        if verdict == "fail":
            with engine_for(nw, writer=True).begin() as conn:
                conn.execute(sa.text("DELETE FROM monthly_usage WHERE usage_id % 7 = 0"))
        for lang in ("en", "ja"):
            report = folder / f"{verdict}-{lang}"
            result = run_cli("verify", *stores, "--report", str(report), "--json", env={**ENV, "BUNKATSU_LANG": lang})
            assert json.loads(result.stdout)["verdict"] == verdict, result.stderr
            found[f"{verdict}-{lang}"] = report / "index.html"
    return found


def opened(browser: str, page: Path, scratch: Path) -> tuple[str, list[str], set[str]]:
    """The page's DOM after it ran, its console lines, and the URLs it (not Chromium itself) requested."""
    net_log = scratch / "net.json"
    shown = chromium(browser, scratch / "profile", f"--log-net-log={net_log}", "--dump-dom", page.as_uri())
    assert shown.returncode == 0, shown.stderr[-2000:]
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    return shown.stdout, console, _page_requests(net_log.read_text(encoding="utf-8"))


def test_the_browser_checks_can_fail(browser, reports, tmp_path):
    """The two checks below are not blind: a report with a script that logs and an image from the network
    is caught by both."""
    page = tmp_path / "tampered.html"
    html = reports["pass-en"].read_text(encoding="utf-8")
    extra = '<img src="http://example.invalid/pixel.png"><script>console.error("x")</script></body>'
    page.write_text(html.replace("</body>", extra), encoding="utf-8")
    _dom, console, requested = opened(browser, page, tmp_path)
    assert len(console) == 1 and requested == {"http://example.invalid/pixel.png"}


HEADLINES = {
    ("pass", "en"): "PASS — the split is clean",
    ("fail", "en"): "FAIL — violations found",
    ("pass", "ja"): "合格 — 物理分割は健全です",
    ("fail", "ja"): "不合格 — 違反が見つかりました",
}
ATTENTION = {"en": "What needs attention", "ja": "要対応の事項"}


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("verdict", ["pass", "fail"])
def test_the_report_renders_offline_with_its_verdict_first(browser, reports, verdict, lang, tmp_path):
    page = reports[f"{verdict}-{lang}"]
    dom, console, requested = opened(browser, page, tmp_path)
    assert console == [], "the page logged to the console"
    assert requested == set(), "the report asked the network for something"

    headline = HEADLINES[(verdict, lang)]
    assert f'<html lang="{lang}">' in dom
    body = dom[dom.index("<body") :]
    assert body.index("<h1>") < body.index("<section"), "the verdict comes before any section"
    assert headline in body[: body.index("</header>")]

    pdf = tmp_path / "report.pdf"
    printed = chromium(browser, tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    assert printed.returncode == 0 and pdf.stat().st_size > 10_000, printed.stderr[-2000:]
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert text.strip().startswith(headline.split(" — ")[0]), text[:200]
    assert headline in " ".join(text.split()), "the verdict is printed whole"
    checks = json.loads((page.parent / "report.json").read_text(encoding="utf-8"))["checks"]
    for check_id in {c["id"] for c in checks}:
        assert check_id in text, f"{check_id} is missing from the printed report"
    if verdict == "fail":
        assert "nw.completeness" in text.split(ATTENTION[lang])[1][:3000]
        finding = {"en": "missing row(s) in 1 of 1 key range(s)", "ja": "欠落"}[lang]  # the check's own, translated
        assert finding in dom.split(ATTENTION[lang])[1].split("</section>")[0]


def test_the_screenshot_in_the_readme_is_the_failing_report_as_chromium_draws_it(browser, reports, tmp_path):
    """docs/report-example.png is made here: `UPDATE_GOLDEN=1` writes it, otherwise the shot is only checked
    (a page drawn, not a blank one: thousands of colours where a blank or error page has a few)."""
    from PIL import Image

    shot = tmp_path / "report.png"
    drawn = chromium(browser, tmp_path / "profile", "--hide-scrollbars", "--window-size=1200,1500",
                     f"--screenshot={shot}", reports["fail-en"].as_uri())  # fmt: skip
    assert drawn.returncode == 0 and shot.is_file(), drawn.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1200, 1500)
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 500, f"{len(colours)} colours: a blank page?"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.copy(shot, ROOT / "docs" / "report-example.png")


def _page_requests(net_log: str) -> set[str]:
    """The URLs a page opened from disk requested, from Chromium's net log: the jobs started for the file://
    site (Chromium's own traffic — updates, time, accounts — has no site, and is not the page's)."""
    text = net_log.rstrip()
    log = json.loads(text if text.endswith("}") else text.rstrip(",") + "]}")  # a log cut at exit: closed here
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start_job
        and str(e["params"].get("network_isolation_key", "")).startswith("file://")
        and not e["params"]["url"].startswith(("file:", "data:"))
    }
