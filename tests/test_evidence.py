"""The evidence chain (split/chain.py, `evidence.chain`): every journal and ledger row bunkatsu writes is in its
store's hash chain, and any change made behind bunkatsu's back — a row edited, deleted, inserted or moved, a
chain record edited, removed or rebuilt — is found and named."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa

from split import chain, journal, ledger
from split.db import engine_for
from tests.conftest import BACKEND_PARAMS, sample_source
from tests.helpers import ENV, copy, run_cli


def entry(step: str, outcome: str = "passed") -> journal.Entry:
    return journal.Entry("w1", step, outcome, "tester", "a" * 64, "b" * 64, "r1", {"rows": 3}, None, "日本語も")


def examine(conn: sa.Connection) -> chain.Examination:
    return chain.examine(conn)


@pytest.fixture(params=BACKEND_PARAMS)
def copied(request, session_dbs, dbs, small_partitions):  # noqa: ANN001, ANN201
    """A reference source copied in small partitions by two workers (ledger rows written concurrently), and two
    journal entries; the stores' URLs."""
    source = sample_source(session_dbs, request.param)
    nw, retail = dbs.url(request.param, "nw"), dbs.url(request.param, "rt")
    done = copy(small_partitions, source, nw, retail, workers=2)
    assert done.returncode == 0, done.stderr
    for url in (nw, retail):
        journal.append(engine_for(url, writer=True), entry("copy"))
        journal.append(engine_for(url, writer=True), entry("gate-1", "failed"))
    return small_partitions, source, nw, retail


TAMPERING = {
    "a ledger row edited": (
        "UPDATE bunkatsu_ledger SET row_count = row_count + 1 WHERE partition_no = 0 AND table_name = 'meter'",
        r'bunkatsu_ledger row \[".*", "meter", 0\] was changed after bunkatsu wrote it',
    ),
    "a range bound edited (chained as a keyed hash)": (
        'UPDATE bunkatsu_ledger SET key_range = \'{"lo": null, "hi": null}\' WHERE key_range IS NOT NULL AND partition_no = 1',
        r'bunkatsu_ledger row \[".*", "\w+", \d+\] was changed after bunkatsu wrote it',
    ),
    "the salt edited (the range bounds' keyed hashes no longer match)": (
        "UPDATE bunkatsu_evidence SET salt = 'not hex at all' WHERE seq = 0",
        r'bunkatsu_ledger row \[".*", "\w+", \d+\] was changed after bunkatsu wrote it',
    ),
    "a journal row deleted": (
        "DELETE FROM bunkatsu_journal WHERE step = 'gate-1'",
        r"bunkatsu_journal row \[\d+\] was deleted after bunkatsu wrote it",
    ),
    "a journal row added": (
        "INSERT INTO bunkatsu_journal (entry_id, at, operator, wave, step, outcome, mapping_sha256)"
        " VALUES (999, '2026-01-01 00:00:00', 'someone', 'w1', 'gate-2', 'passed', 'x')",
        r"bunkatsu_journal row \[999\] is not in the chain",
    ),
    "two journal rows swapped": (
        "UPDATE bunkatsu_journal SET step = CASE step WHEN 'copy' THEN 'gate-1' ELSE 'copy' END,"
        " outcome = CASE outcome WHEN 'passed' THEN 'failed' ELSE 'passed' END",
        r"bunkatsu_journal row \[\d+\] was changed after bunkatsu wrote it",
    ),
    "a chain record edited": (
        "UPDATE bunkatsu_evidence SET row_key = '[0]' WHERE seq = 5",
        r"record 5 was changed after it was written",
    ),
    "a chain record removed": (
        "DELETE FROM bunkatsu_evidence WHERE seq = 3",
        r"record 3 of the chain is missing \(the next one is 4\)",
    ),
}


def test_the_chain_holds_what_bunkatsu_wrote_and_names_each_change_behind_its_back(copied):
    mapping, source, nw, retail = copied
    for url in (nw, retail):
        with engine_for(url).connect() as conn:
            found = examine(conn)
            held = conn.execute(sa.text("SELECT count(*) FROM bunkatsu_ledger")).scalar()
        assert found.defect is None, found.defect
        assert found.rows == {"bunkatsu_journal": 2, "bunkatsu_ledger": held} and held > 10
        assert found.records == 1 + held + 2, "genesis, then one record per row written: nothing adopted"
    with engine_for(nw).connect() as conn:
        bounds = conn.execute(sa.text("SELECT key_range FROM bunkatsu_ledger WHERE key_range IS NOT NULL")).scalars()
        ids = {
            v for r in bounds for v in (json.loads(r)["lo"] or []) + (json.loads(r)["hi"] or []) if isinstance(v, str)
        }
        chained = " ".join(conn.execute(sa.text("SELECT row_json FROM bunkatsu_evidence")).scalars().all()[1:])
    assert len(ids) > 5 and not [i for i in ids if i in chained], "range bounds (supply point ids) are never chained"
    for what, (statement, named) in TAMPERING.items():
        with engine_for(nw, writer=True).connect() as conn:
            conn.exec_driver_sql(statement)
            found = examine(conn)
            conn.rollback()
        assert found.defect, what
        assert __import__("re").fullmatch(named + ".*", found.defect), (what, found.defect)
    if nw.startswith("sqlite"):  # a store that lets any type into any column: a record as bytes
        with engine_for(nw, writer=True).connect() as conn:
            conn.exec_driver_sql("UPDATE bunkatsu_evidence SET row_key = X'01' WHERE seq = 2")
            found = examine(conn)
            conn.rollback()
        assert found.defect == "the chain does not read as bunkatsu writes it (TypeError): it was altered"


def test_a_rebuilt_record_breaks_the_next_link_and_verify_names_a_changed_row(copied):
    """A record rewritten with a correct hash of its own no longer matches the next record's link. Through the
    CLI, a journal row changed in the NW store makes `verify` fail (exit 1) with `evidence.chain` naming it."""
    mapping, source, nw, retail = copied
    with engine_for(nw, writer=True).begin() as conn:
        record = conn.execute(sa.select(chain.chain).where(chain.chain.c.seq == 2)).mappings().one()
        row = record["row_json"].replace('"row_count":', '"row_count":1')
        rehashed = chain._hash(2, record["prev_hash"], record["table_name"], record["action"], record["row_key"], row)
        conn.execute(chain.chain.update().where(chain.chain.c.seq == 2).values(row_json=row, hash=rehashed))
        assert examine(conn).defect == "record 3 does not follow record 2 (a record was replaced or moved)"
        conn.rollback()
    with engine_for(nw, writer=True).begin() as conn:
        conn.exec_driver_sql("UPDATE bunkatsu_journal SET outcome = 'passed' WHERE step = 'gate-1'")
    args = ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail, "--json"]
    verified = run_cli("verify", *args, "--report", str(mapping.parent / "report"), env=ENV)
    assert verified.returncode == 1, verified.stderr
    chains = {c["store"]: c for c in json.loads(verified.stdout)["checks"] if c["id"] == "evidence.chain"}
    assert chains["retail"]["status"] == "pass" and chains["nw"]["status"] == "fail"
    assert "bunkatsu_journal row [2] was changed after bunkatsu wrote it" in chains["nw"]["message"]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_concurrent_writers_extend_one_chain_from_an_empty_store(dbs, backend):
    """Writers in several threads append at once, the first of them to a store with no chain yet (each may try
    to begin it): every append lands once, in one unbroken chain."""
    url = dbs.url(backend, "nw")
    engine = engine_for(url, writer=True)
    with engine.begin() as conn:
        for table in (journal.journal, ledger.ledger, chain.chain):
            table.create(conn)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(12):
                if n % 2:
                    journal.append(engine, entry(f"step-{worker}-{n}"))
                else:
                    with engine.begin() as conn:
                        ledger.record(conn, ledger_entry(f"t{worker}", n))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        found = examine(conn)
    assert found.defect is None and found.records == 1 + 6 * 12
    assert found.rows == {"bunkatsu_journal": 36, "bunkatsu_ledger": 36}


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_rows_from_before_the_chain_are_adopted_by_its_first_append(dbs, backend):
    """A store written by a bunkatsu that kept no chain: its rows begin the chain (in key order) when the chain
    table arrives and the next row is written; until then `evidence.chain` cannot prove (never passes)."""
    from checks.evidence import _store_chain

    url = dbs.url(backend, "nw")
    engine = engine_for(url, writer=True)
    with engine.begin() as conn:
        journal.journal.create(conn)
        ledger.ledger.create(conn)
        for n in range(3):
            conn.execute(ledger.ledger.insert().values(**ledger_entry("old", n).__dict__, finished_at=datetime.now()))
    before = _store_chain("nw", url)
    assert before.status.value == "error" and "no evidence chain" in before.message
    with engine.begin() as conn:
        chain.chain.create(conn)
    journal.append(engine, entry("copy"))
    with engine.connect() as conn:
        found = examine(conn)
        actions = conn.execute(sa.select(chain.chain.c.action).order_by(chain.chain.c.seq)).scalars().all()
    assert found.defect is None and actions == ["genesis", "adopt", "adopt", "adopt", "write"]
    assert _store_chain("nw", url).status.value == "pass"


def ledger_entry(table: str, n: int) -> ledger.LedgerEntry:
    return ledger.LedgerEntry("p" * 64, table, n, "nw", "run", n, n + 1, None, 10, "c" * 64, "m" * 64)


def pack_args(mapping, source, nw, retail):  # noqa: ANN001, ANN201
    return ["--mapping", str(mapping), "--source", source, "--nw", nw, "--retail", retail]


@pytest.mark.parametrize("backend", [pytest.param("sqlite")])
def test_a_pack_round_trips_and_a_changed_byte_or_row_is_named(dbs, session_dbs, small_partitions, tmp_path, backend):
    """`evidence pack` then `evidence check`: intact (exit 0). One byte changed in any file of the archive —
    the mapping, the plan, a revision, a gate report, a store's journal, ledger or chain, the manifest — is
    exit 1 naming that file (or the chain's row); a journal row changed in a store afterwards is exit 1 with
    the stores given; a signature made with `ssh-keygen -Y sign` verifies, and not with another key."""
    import shutil
    import subprocess
    import zipfile

    source = sample_source(session_dbs, backend)
    nw, retail = dbs.url(backend, "nw"), dbs.url(backend, "rt")
    assert copy(small_partitions, source, nw, retail).returncode == 0
    args = pack_args(small_partitions, source, nw, retail)
    reports = tmp_path / "gates"
    gate = run_cli(
        "cutover", "run", *args, "--wave", "masters", "--until", "verify", "--reports", str(reports), env=ENV
    )
    assert gate.returncode == 0, gate.stderr
    keys = tmp_path / "keys"
    keys.mkdir()
    for who in ("nw-signer", "someone"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / who)], check=True)
    out = tmp_path / "masters.zip"
    audit = tmp_path / "audit-log"  # results no gate journals, added by --include: a report folder and a file
    audit.mkdir()
    (audit / "audit-log.json").write_text('{"views": 10}', encoding="utf-8")
    (tmp_path / "grants.json").write_text('{"verdict": "pass"}', encoding="utf-8")
    includes = ["--include", str(audit), "--include", str(tmp_path / "grants.json")]
    missing = run_cli("evidence", "pack", *args, "--out", str(out), "--include", str(tmp_path / "no-such"), env=ENV)
    assert missing.returncode == 2 and "no-such" in missing.stderr and not out.exists(), missing.stderr
    packed = run_cli("evidence", "pack", *args, "--wave", "masters", "--out", str(out), "--sign-key",
                     str(keys / "nw-signer"), *includes, "--json", env=ENV)  # fmt: skip
    assert packed.returncode == 0, packed.stderr
    assert json.loads(packed.stdout)["reports"], "the gate's report folder is in the pack"
    again = run_cli("evidence", "pack", *args, "--out", str(out), env=ENV)
    assert again.returncode == 2 and "never overwritten" in again.stderr

    def check(path, *extra):  # noqa: ANN001, ANN202
        return run_cli("evidence", "check", str(path), *extra)

    intact = check(out, "--public-key", str(keys / "nw-signer.pub"), "--nw", nw, "--retail", retail)
    assert intact.returncode == 0 and "intact" in intact.stdout and "signature verified" in intact.stdout, intact
    stranger = check(out, "--public-key", str(keys / "someone.pub"))
    assert stranger.returncode == 1 and "does not verify" in stranger.stdout
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        contents = {n: archive.read(n) for n in names}
    with engine_for(nw).connect() as conn:  # range bounds of natural keys: customers' supply point ids
        ranges = conn.execute(sa.text("SELECT key_range FROM bunkatsu_ledger WHERE key_range IS NOT NULL")).scalars()
        ids = {
            v for r in ranges for v in (json.loads(r)["lo"] or []) + (json.loads(r)["hi"] or []) if isinstance(v, str)
        }
    assert len(ids) > 5
    assert not [(n, i) for n in names for i in ids if i.encode() in contents[n]], "a range bound in the pack"
    assert {"included/audit-log/audit-log.json", "included/grants.json"} <= set(names)
    kinds = ["manifest.json", "mapping/", "plan/plan.json", "plan/plan.sql", "migrations/nw/versions/",
             "reports/masters/", "stores/nw/chain.json", "stores/retail/bunkatsu_journal.json",
             "stores/nw/bunkatsu_ledger.json", "included/grants.json"]  # fmt: skip
    for kind in kinds:
        victim = next(n for n in names if n.startswith(kind) and contents[n])
        tampered = tmp_path / "tampered.zip"
        with zipfile.ZipFile(tampered, "w") as archive:
            for name in names:
                data = contents[name]
                if name == victim:  # one byte: a digit or letter turned into another
                    at = next(i for i in range(len(data) // 2, len(data)) if chr(data[i]).isalnum())
                    data = data[:at] + (b"1" if data[at : at + 1] != b"1" else b"2") + data[at + 1 :]
                archive.writestr(name, data)
        found = check(tampered)
        assert found.returncode == 1, (victim, found.stdout, found.stderr)
        named = victim if victim != "manifest.json" else "manifest.json"
        assert "DIFFERS" in found.stdout and (named in found.stdout or "manifest" in found.stdout), (
            victim,
            found.stdout,
        )
        signed = shutil.copy(str(out) + ".sig", str(tampered) + ".sig")
        assert check(tampered, "--public-key", str(keys / "nw-signer.pub")).returncode == 1, signed
    # the archive re-made consistently (file and manifest both changed) is caught by the signature, and a row
    # changed in a store since by the stores' chains
    with engine_for(nw, writer=True).begin() as conn:
        conn.exec_driver_sql("UPDATE bunkatsu_journal SET operator = 'someone else' WHERE entry_id = 1")
    changed = check(out, "--nw", nw)
    assert changed.returncode == 1 and "bunkatsu_journal row [1] was changed" in changed.stdout, changed.stdout
    reshaped = tmp_path / "reshaped.zip"
    with zipfile.ZipFile(reshaped, "w") as archive:
        for name in names:
            data = contents[name]
            if name == "manifest.json":
                manifest = json.loads(data)
                data = json.dumps({**manifest, "stores": ["nw", "retail"]}).encode()
            archive.writestr(name, data)
    found = check(reshaped)
    assert found.returncode == 1 and "manifest.json is not shaped as a pack writes it" in found.stdout, found.stderr
    bad = check(tmp_path / "nothing.zip")
    assert bad.returncode == 2 and "is not a file" in bad.stderr
