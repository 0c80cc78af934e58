"""`bunkatsu audit-log` on the reference database's access log (planted improper views): the figures equal
figures computed here independently, on PostgreSQL and MariaDB; after the split the NW store's log shows none;
the report section is written; no user id or key appears in any output."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime

import pytest

from split.sample.generate import AFFILIATE_CODE
from tests.conftest import sample_source
from tests.helpers import MAPPING, TEST_KEY, rows, run_cli

SERVERS = [
    pytest.param("postgresql", marks=pytest.mark.postgresql),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]
LOG = ["--log-table", "access_log", "--user-col", "user_id", "--org-col", "organisation"]
LOG += ["--key-col", "supply_point_id", "--time-col", "viewed_at", "--retail-org", "RETAIL"]


def expected_figures(url: str) -> dict:
    """The seed documents' figures, straight from the rows: a RETAIL view is improper when no period of the
    affiliate covers the supply point on the day of the view (ends inclusive, open end = still supplying)."""
    periods = defaultdict(list)
    for p in rows(url, "supply_period"):
        periods[p["supply_point_id"]].append((p["start_date"], p["end_date"], p["retailer_code"]))

    def owner(spid: str, day: date) -> str | None:
        return next((c for s, e, c in periods[spid] if s <= day and (e is None or day <= e)), None)

    views = []
    for v in rows(url, "access_log"):
        if v["organisation"] != "RETAIL":
            continue
        day = v["viewed_at"].date()
        code = owner(v["supply_point_id"], day)
        if code != AFFILIATE_CODE:
            views.append((v["user_id"], v["supply_point_id"], code, v["viewed_at"]))
    per_day = defaultdict(list)
    for view in views:
        per_day[view[3].date()].append(view)

    def counts(vs: list) -> dict:
        return {
            "views": len(vs),
            "viewers": len({v[0] for v in vs}),
            "customers": len({v[1] for v in vs}),
            "retailers": len({v[2] for v in vs if v[2] is not None}),
        }

    return {
        **counts(views),
        "first_view": min(v[3] for v in views),
        "last_view": max(v[3] for v in views),
        "per_day": [{"day": d.isoformat(), **counts(vs)} for d, vs in sorted(per_day.items())],
        "users": {v[0] for v in views},
    }


@pytest.mark.parametrize("backend", SERVERS)
def test_figures_equal_an_independent_count(session_dbs, backend, tmp_path):
    source = sample_source(session_dbs, backend)
    expected = expected_figures(source)
    assert expected["views"] > 0  # the reference log has planted improper views
    r = run_cli("audit-log", "-m", str(MAPPING), "--source", source, "--log-url", source, *LOG, "--json")
    assert r.returncode == 1, r.stderr
    got = json.loads(r.stdout)
    assert {k: got[k] for k in ("views", "viewers", "customers", "retailers")} == {
        k: expected[k] for k in ("views", "viewers", "customers", "retailers")
    }
    assert datetime.fromisoformat(got["first_view"]) == expected["first_view"]
    assert datetime.fromisoformat(got["last_view"]) == expected["last_view"]
    assert got["per_day"] == expected["per_day"]
    human = run_cli("audit-log", "-m", str(MAPPING), "--source", source, "--log-url", source, *LOG)
    assert f"{expected['views']:,} improper view(s) by {expected['viewers']:,} people" in human.stdout
    for user in expected["users"]:
        assert user not in r.stdout and user not in human.stdout


def test_after_the_split_the_nw_log_shows_none_and_the_report_has_the_section(dbs, tmp_path):
    source, nw, retail = (dbs.url("sqlite", label) for label in ("asrc", "anw", "aret"))
    from split.sample.generate import generate

    generate(source, 120, 9)
    env = {"BUNKATSU_ENCODE_KEY": TEST_KEY}
    assert (
        run_cli("copy", "-m", str(MAPPING), "--source", source, "--nw", nw, "--retail", retail, env=env).returncode == 0
    )
    expected = expected_figures(source)
    history = run_cli("audit-log", "-m", str(MAPPING), "--nw", nw, "--log-url", nw, *LOG, "--json")
    assert json.loads(history.stdout)["views"] == expected["views"]  # the NW store keeps the history
    report = tmp_path / "evidence"
    after = run_cli(
        "audit-log", "-m", str(MAPPING), "--nw", nw, "--log-url", nw, *LOG, "--since", "2024-12-01", "--json",
        "--report", str(report),
    )  # fmt: skip
    assert after.returncode == 0 and json.loads(after.stdout)["views"] == 0
    assert "No improper view" in (report / "audit-log.html").read_text(encoding="utf-8")
    # a scheduled run writes the audit first, then the verify report into the same folder: one report
    run_cli("audit-log", "-m", str(MAPPING), "--nw", nw, "--log-url", nw, *LOG, "--report", str(report))
    v = run_cli(
        "verify", "-m", str(MAPPING), "--nw", nw, "--retail", retail, "--post-split", "--report", str(report), env=env
    )
    assert v.returncode == 0, v.stdout[-3000:]
    html = (report / "index.html").read_text(encoding="utf-8")
    assert "Access-log investigation" in html and f">{expected['views']:,}<" in html
    for user in expected["users"]:
        for artefact in ("index.html", "audit-log.html", "audit-log.json"):
            assert user.encode() not in (report / artefact).read_bytes()


def test_verify_post_split_runs_the_audit_log_check_on_the_nw_log(dbs, tmp_path):
    source, nw, retail = (dbs.url("sqlite", label) for label in ("vsrc", "vnw", "vret"))
    from split.sample.generate import generate

    generate(source, 120, 9)
    env = {"BUNKATSU_ENCODE_KEY": TEST_KEY, "BUNKATSU_LOG_URL": nw}  # the nightly script's environment
    stores = ["-m", str(MAPPING), "--nw", nw, "--retail", retail]
    assert run_cli("copy", *stores, "--source", source, env=env).returncode == 0
    expected = expected_figures(source)

    def audit_checks(result) -> list[dict]:  # type: ignore[no-untyped-def]
        return [c for c in json.loads(result.stdout)["checks"] if c["id"] == "audit-log"]

    clean = run_cli("verify", *stores, "--post-split", "--since", "2024-12-01", "--json", env=env)
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert [c["status"] for c in audit_checks(clean)] == ["pass"]
    assert json.loads(clean.stdout)["audit_log"]["views"] == 0

    # the whole log: the history's improper views fail the run, with the figures in every artefact
    report = tmp_path / "nightly"
    whole = run_cli("verify", *stores, "--post-split", "--report", str(report), "--json", env=env)
    assert whole.returncode == 1
    [check] = audit_checks(whole)
    assert check["status"] == "fail" and check["observed"] == expected["views"]
    assert f"by {expected['viewers']:,} people of {expected['customers']:,} customers" in check["message"]
    assert json.loads(whole.stdout)["audit_log"]["per_day"] == expected["per_day"]
    junit = (report / "junit.xml").read_text(encoding="utf-8")
    assert junit.count('classname="audit-log"') == 1 and "improper view(s)" in junit
    assert "Access-log investigation" in (report / "index.html").read_text(encoding="utf-8")
    for user in expected["users"]:
        for artefact in ("index.html", "report.json", "junit.xml"):
            assert user.encode() not in (report / artefact).read_bytes()
        assert user not in whole.stdout

    # before the split the environment's log is not read: the shared system's log holds the views the split ends
    before = run_cli("verify", *stores, "--source", source, "--json", env=env)
    assert before.returncode == 0 and audit_checks(before) == []
    r = run_cli("verify", *stores, "--post-split", "--log-url", nw, "--time-col", "seen_at", env=env)
    assert r.returncode == 2 and "has no column(s) seen_at" in r.stderr and "Traceback" not in r.stderr


def test_log_options_are_checked_before_anything_runs(dbs):
    source = dbs.url("sqlite", "alog")
    from split.sample.generate import generate

    generate(source, 5, 1)
    base = ["audit-log", "-m", str(MAPPING), "--source", source, "--log-url", source]
    for extra, words in [
        (["--log-table", "access_logs"], "did you mean `access_log`"),
        (["--time-col", "seen_at"], "has no column(s) seen_at"),
        (["--since", "yesterday"], "is not a date"),
    ]:
        r = run_cli(*base, *extra)
        assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = run_cli("audit-log", "-m", str(MAPPING), "--source", source)
    assert r.returncode == 2 and "no log URL given" in r.stderr


def test_views_that_cannot_be_judged_are_counted_not_dropped(dbs):
    """A log is another system's table: a view without a key or with a time that is not one cannot be looked
    up on the timeline. It is counted and shown, never silently left out."""
    import sqlite3

    source, log = dbs.url("sqlite", "usrc"), dbs.url("sqlite", "ulog")
    from split.sample.generate import generate

    generate(source, 40, 3)
    other = next(p for p in rows(source, "supply_period") if p["retailer_code"] != AFFILIATE_CODE)
    with sqlite3.connect(log.removeprefix("sqlite:///")) as conn:
        conn.execute("CREATE TABLE portal_log (who TEXT, org TEXT, spid TEXT, at TEXT)")
        conn.executemany(
            "INSERT INTO portal_log VALUES (?, ?, ?, ?)",
            [
                ("u1", "RETAIL", other["supply_point_id"], f"{other['start_date']}T10:00:00"),  # improper
                ("u2", "RETAIL", None, "2024-01-05T09:00:00"),  # no record
                ("u3", "RETAIL", other["supply_point_id"], "yesterday"),  # no time
                ("n1", "NW", None, "not a time"),  # the NW side is not looked at
            ],
        )
    cols = ["--log-table", "portal_log", "--user-col", "who", "--org-col", "org", "--key-col", "spid"]
    cols += ["--time-col", "at"]
    r = run_cli("audit-log", "-m", str(MAPPING), "--source", source, "--log-url", log, *cols, "--json")
    assert r.returncode == 1, r.stderr
    got = json.loads(r.stdout)
    assert (got["views"], got["unjudged"], got["retail_views_scanned"]) == (1, 2, 3)
    human = run_cli("audit-log", "-m", str(MAPPING), "--source", source, "--log-url", log, *cols)
    assert "2 view(s) without a key or a readable time could not be judged" in human.stdout
    assert "Traceback" not in human.stderr
