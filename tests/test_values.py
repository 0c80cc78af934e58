"""Normalisation, encoding tokens and checksums: the value-level building blocks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from split.checksum import RowHasher, canonical
from split.db import describe_db_error
from split.encode import is_token, token
from split.normalize import normalize, searchable
from tests.conftest import BACKEND_PARAMS

KEY = b"k" * 32


def test_phone_spellings_normalise_to_one_form():
    spellings = [
        "090-1234-5678",
        "09012345678",
        "０９０－１２３４－５６７８",
        "090 1234 5678",
        "０９０ー１２３４ー５６７８",
    ]
    assert {normalize(s) for s in spellings} == {"09012345678"}
    assert normalize("ＡＢＣ１２３") == normalize("abc-123")


def test_tokens_are_fixed_format_keyed_and_spelling_independent():
    t = token(KEY, "C0000123")
    assert is_token(t) and len(t) == 68
    assert token(KEY, "ｃ００００１２３") == t
    assert token(b"other-key-000000", "C0000123") != t
    assert token(KEY, None) is None
    assert not is_token("C0000123")


@given(st.text(max_size=40))
def test_every_value_encodes_to_a_token(value):
    assert is_token(token(KEY, value))


def test_canonical_values_agree_across_driver_types():
    assert canonical(True) == canonical(1) == "1"
    assert canonical(Decimal("10.0")) == canonical(Decimal("10")) == canonical(10.0) == "10"
    assert canonical(Decimal("0.120")) == "0.12"
    assert canonical(date(2024, 12, 1)) == "2024-12-01"
    assert canonical(datetime(2024, 12, 1, 9, 30)) == "2024-12-01 09:30:00"
    assert canonical(None) != canonical("None")


def test_row_hasher_depends_on_order_and_content():
    a, b = RowHasher(), RowHasher()
    a.update([(1, "x"), (2, "y")])
    b.update([(2, "y"), (1, "x")])
    assert a.rows == 2 and a.hexdigest() != b.hexdigest()
    c = RowHasher()
    c.update([(1, "x"), (2, "y")])
    assert c.hexdigest() == a.hexdigest()


def test_database_errors_are_described_without_values():
    class Orig(Exception):
        pass

    class Wrapped(Exception):
        orig = Orig("Duplicate entry '0610000000000000104729' for key 'PRIMARY' phone 09012345678")

    text = describe_db_error(Wrapped())
    assert "0610000000000000104729" not in text and "09012345678" not in text and "Duplicate entry" in text


def test_deadlocks_lock_timeouts_and_lost_connections_are_transient():
    import pymysql
    import sqlalchemy as sa

    from split.db import is_transient

    def wrapped(orig):
        return sa.exc.OperationalError("stmt", {}, orig)

    assert is_transient(wrapped(pymysql.err.OperationalError(1213, "Deadlock found")))
    assert is_transient(wrapped(pymysql.err.OperationalError(1205, "Lock wait timeout")))
    assert not is_transient(wrapped(pymysql.err.OperationalError(1142, "command denied")))
    lost = sa.exc.OperationalError("stmt", {}, Exception("server closed the connection"), connection_invalidated=True)
    assert is_transient(lost)
    assert not is_transient(ValueError("not a database error"))


def test_redact_masks_passwords_in_urls_and_quoted_values():
    from split.db import redact

    text = redact(
        "cannot connect to postgresql://loader:s3cr3t@db.example/nw: value '090-1234-5678' id 0610000000000000104729"
    )
    assert "s3cr3t" not in text and "postgresql://loader:***@db.example/nw" in text
    assert "090-1234-5678" not in text and "0610000000000000104729" not in text


def _protected(out_of_scope: list[str], allowed: list[str]):
    from checks.fingerprint import Protected

    protected = Protected(key=b"k" * 32)
    for text in map(searchable, out_of_scope):
        protected.digests[protected.digest(text)] = "test"
        protected.lengths.add(len(text))
    protected.allowed = {protected.digest(searchable(t)) for t in allowed}
    protected.allowed_lengths = {len(searchable(t)) for t in allowed}
    return protected


def _hit(protected, value: str, mode: str = "free_text") -> bool:
    from checks.fingerprint import _looked_up

    [found], _pattern = _looked_up((protected,), mode, value, [sorted(protected.lengths)])
    return bool(found)


def test_windows_do_not_cut_through_digit_or_letter_runs():
    """At 26k supply points, postal codes turned up inside pole numbers and lot 2-1 inside lot 2-15."""
    protected = _protected(["542-1537", "中之島5丁目2-1", "abc@example.jp"], [])
    assert not _hit(protected, "K854215370")
    assert not _hit(protected, "大阪市北区中之島5丁目2-15")
    assert not _hit(protected, "zabc@example.jp")
    # …but a protected value next to other kinds of characters is still found, in any spelling.
    assert _hit(protected, "転居先〒５４２－１５３７です")
    assert _hit(protected, "TEL5421537")
    assert _hit(protected, "大阪市北区中之島5丁目2-1 ハイツ梅")
    assert _hit(protected, "連絡はabc@example.jpへ")


def test_a_value_retail_legitimately_holds_is_not_looked_into():
    protected = _protected(["中之島5丁目2-15"], ["中之島5丁目2-15 グランドパレス704号室"])
    assert not _hit(protected, "中之島5丁目2-15 グランドパレス704号室", "window")
    assert _hit(protected, "中之島5丁目2-15 グランドパレス705号室", "window")  # not the allowed value
    # Inside the allowed value, in longer text, the protected street is still the allowed address…
    assert not _hit(protected, "中之島5丁目2-15 グランドパレス704号室 様方", "window")
    # …but a second occurrence of its own is a hit.
    assert _hit(protected, "中之島5丁目2-15 グランドパレス704号室、旧住所 中之島5丁目2-15", "window")


def test_full_names_are_found_in_free_text_in_any_script_and_spacing():
    """Family and given name together, in kanji or kana (hiragana, katakana, half-width), with or without
    spaces and honorifics; a name inside a longer name retail legitimately holds is that name."""
    protected = _protected(["坂本 和也", "サカモト カズヤ", "林 一郎"], ["小林 一郎"])
    for memo in (
        "坂本和也様より電話あり",
        "坂本　和也 さんから苦情",
        "さかもと かずや さま来店",
        "ｻｶﾓﾄ ｶｽﾞﾔ様",
        "折返し先 林一郎様",
    ):
        assert _hit(protected, memo), memo
    assert not _hit(protected, "小林一郎様より入金の連絡")  # the in-scope customer 小林 一郎
    assert not _hit(protected, "坂本様より電話あり")  # a surname alone is not evidence
    assert not _hit(protected, "和也さんの件")  # nor a given name alone


def test_a_two_character_full_name_is_protected_but_no_other_two_character_value():
    from checks.fingerprint import _protectable

    assert _protectable("林誠", "name", "林 誠")
    assert not _protectable("林誠", "name", "林誠")  # one part: could be anything
    assert not _protectable("06", "phone", "06")


def test_each_protected_set_is_looked_up_on_its_own_in_one_read():
    """verify reads the retail store once for the fingerprint and the canaries: a value the fingerprint
    allows (in scope for retail) is still a canary hit, and only the fingerprint's set counts patterns."""
    from checks.fingerprint import _looked_up

    fingerprint = _protected(["090-1234-5678"], ["0990-11-2233"])
    canaries = _protected(["0990-11-2233"], [])
    sets = (fingerprint, canaries)
    lengths = [sorted(p.lengths) for p in sets]
    (fp, canary), pattern = _looked_up(sets, "free_text", "0990-11-2233", lengths)
    assert not fp and canary and not pattern
    (fp, canary), pattern = _looked_up(sets, "free_text", "折返し 090-1234-5678 まで", lengths)
    assert fp and not canary and pattern
    (fp, canary), pattern = _looked_up(sets, "free_text", "メモ 0990-11-2233 / 09012345678", lengths)
    assert fp and canary and pattern


def test_a_number_is_looked_up_with_its_lost_leading_zero():
    """An extract that stored phones or supply point ids as numbers: 090-1234-5678 became 9012345678."""
    from decimal import Decimal

    from checks.fingerprint import _digits

    protected = _protected(["090-1234-5678", "0610000000000000104729"], [])
    assert _hit(protected, _digits(9012345678), "number")
    assert _hit(protected, _digits(Decimal("610000000000000104729")), "number")
    assert not _hit(protected, _digits(9012345679), "number")
    assert _hit(protected, _digits(9012345678.0), "number")  # a DOUBLE column in an extract
    assert _digits(float("nan")) is None and _digits(2.5) is None
    assert _digits(Decimal("12.5")) is None and _digits(True) is None and _digits(42) is None


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_the_scan_misses_no_row_however_values_fall_into_batches(backend, dbs, monkeypatch):
    """The fingerprint reads a column's values batch by batch and looks each distinct value up once: a
    protected value in the last row of the last key range, one in a column NULL in every other row, and one
    repeated across batches are each counted in exactly the rows that hold it."""
    import sqlalchemy as sa

    from checks import fingerprint
    from split.db import engine_for
    from split.ranges import Partition

    monkeypatch.setattr(fingerprint, "SCAN_BATCH", 7)  # many batches, the last one partial
    url = dbs.url(backend, "scan")
    phone, name, street = "090-1234-5678", "山田 花子", "中之島5丁目2-1"
    memo = sa.Table(
        "memo", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("body", sa.String(80)), sa.Column("rare", sa.String(40)), sa.Column("status", sa.String(10)),
    )  # fmt: skip
    rows = [{"id": i, "body": f"連絡 {i}", "rare": None, "status": "ok"} for i in range(1, 101)]
    rows[40]["rare"] = "０９０－１２３４－５６７８"  # the only non-NULL value of its column
    rows[99]["body"] = f"折返し {name} さま"  # the last row of the last range
    for i in (3, 20, 61, 62, 98):  # a value repeated across batches, among a status that never changes
        rows[i]["status"] = "yamada"
    memo.create(engine_for(url, writer=True))
    with engine_for(url, writer=True).begin() as conn:
        conn.execute(memo.insert(), rows)
    protected = _protected([phone, name, street, "yamada"], [])
    kinds = {"body": "free_text", "rare": None, "status": None}
    tasks = [
        fingerprint.ScanTask(url, "memo", ("id",), part, kinds)
        for part in (Partition(0, None, (50,)), Partition(1, (50,), (90,)), Partition(2, (90,), None))
    ]
    hits = [fingerprint.scan(task, (protected,))[0] for task in tasks]
    assert sum(h.scanned for h in hits) == 100
    assert [dict(h.rows) for h in hits] == [{"rare": 1, "status": 2}, {"status": 2}, {"body": 1, "status": 1}]


@pytest.mark.postgresql
def test_a_tailored_collation_cannot_fold_a_protected_value_into_a_clean_one(dbs):
    """The retail side declares a nondeterministic collation (ICU, primary strength: à equals a). Grouped under
    it, the protected e-mail would come back as the clean spelling written before it and never be looked up;
    the scan groups in the "C" collation, so both are looked up."""
    import sqlalchemy as sa

    from checks import fingerprint
    from split.db import engine_for
    from split.ranges import WHOLE

    url = dbs.url("postgresql", "collation")
    with engine_for(url, writer=True).begin() as conn:
        conn.exec_driver_sql(
            "CREATE COLLATION loose (provider = icu, locale = 'und-u-ks-level1', deterministic = false)"
        )
        conn.exec_driver_sql("CREATE TABLE note (id int PRIMARY KEY, mail text COLLATE loose)")
        conn.execute(
            sa.text("INSERT INTO note VALUES (1, :clean), (2, :protected)"),
            {"clean": "tanakà@example.jp", "protected": "tanaka@example.jp"},
        )
    with engine_for(url).connect() as conn:  # the attack works: grouped in the column's collation, one value
        assert conn.exec_driver_sql("SELECT count(DISTINCT mail) FROM note").scalar_one() == 1
    protected = _protected(["tanaka@example.jp"], [])
    [hits] = fingerprint.scan(fingerprint.ScanTask(url, "note", (), WHOLE, {"mail": "email"}), (protected,))
    assert dict(hits.rows) == {"mail": 1} and hits.scanned == 2
