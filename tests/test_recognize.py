"""Recognizers on generated positives and negatives, in the spellings Japanese systems store.

Check digits are computed here independently of the code under test, from the published rules written
the other way round (weights from the top digit down).
"""

from __future__ import annotations

import unicodedata

from hypothesis import assume, given
from hypothesis import strategies as st

from split.discover.recognize import (
    AREAS,
    ColumnEvidence,
    address,
    corporate_number,
    email,
    embedded_kinds,
    my_number,
    name_kana,
    name_kanji,
    phone_type,
    postal_code,
    supply_point_area,
)

FULL_WIDTH = str.maketrans("0123456789-+", "０１２３４５６７８９－＋")
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def n_digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


def spell(groups: list[str], how: str) -> str:
    """One number as people type it: hyphens, spaces, none, full width, full-width space."""
    sep = {"hyphen": "-", "space": " ", "none": "", "full": "－", "ideographic": "\u3000", "dash": "−"}[how]
    text = sep.join(groups)
    return text.translate(FULL_WIDTH) if how == "full" else text


SPELLINGS = st.sampled_from(["hyphen", "space", "none", "full", "ideographic", "dash"])


# ── phones ──────────────────────────────────────────────────────────────────────────────────


@given(st.sampled_from(["090", "080", "070"]), n_digits(4), n_digits(4), SPELLINGS)
def test_mobile_numbers_in_every_spelling(prefix, a, b, how):
    assert phone_type(spell([prefix, a, b], how)) == "mobile"


@given(n_digits(4), n_digits(4), SPELLINGS)
def test_ip_phone_numbers(a, b, how):
    assert phone_type(spell(["050", a, b], how)) == "ip"


@given(st.integers(1, 9), st.from_regex(r"[1-9][0-9]{3}", fullmatch=True), n_digits(4), SPELLINGS, st.booleans())
def test_fixed_numbers_with_area_code_and_parentheses(second, local, line, how, parens):
    area = f"0{second}"
    assume(not (area + local).startswith("0120"))  # 01-20xx-… is 0120, free dial, not an area code
    number = f"({area}){local}-{line}" if parens else spell([area, local, line], how)
    assert phone_type(number) == "fixed"


@given(n_digits(4), n_digits(4))
def test_international_form_is_the_domestic_number(a, b):
    assert phone_type(f"+81-90-{a}-{b}") == "mobile"
    assert phone_type(f"＋８１ ９０ {a} {b}".translate(FULL_WIDTH)) == "mobile"


@given(st.text(alphabet="0123456789", min_size=1, max_size=24))
def test_digit_strings_that_are_no_phone(d):
    expected_len = len(d) in (10, 11) and d[0] == "0" and d[1] != "0"
    if not expected_len:
        assert phone_type(d) is None


def test_phone_negatives():
    for text in ("1234-5678", "00-1234-5678", "090-1234-567", "090-1234-56789", "TEL 090-1234-5678", "abc", ""):
        assert phone_type(text) is None, text


# ── supply point ids, My Number, corporate number ───────────────────────────────────────────


@given(st.sampled_from(sorted(AREAS)), n_digits(20), st.sampled_from(["none", "space", "full", "hyphen"]))
def test_supply_point_ids_name_their_area(area, rest, how):
    d = area + rest
    groups = [d[i : i + 4] for i in range(0, 22, 4)]
    assert supply_point_area(spell(groups, how)) == AREAS[area]


@given(st.integers(11, 99), n_digits(20))
def test_supply_point_ids_with_an_unknown_area_are_not_recognised(area, rest):
    assert supply_point_area(f"{area}{rest}") is None
    assert supply_point_area(f"00{rest}") is None


@given(st.sampled_from(sorted(AREAS)), st.sampled_from([19, 20, 21]))
def test_supply_point_ids_have_22_digits(area, rest_len):
    assert supply_point_area(area + "1" * rest_len) is None or rest_len == 20


def my_number_check(base11: str) -> int:
    """Weights 6,5,4,3,2,7,6,5,4,3,2 from the top digit; remainder ≤ 1 gives 0."""
    total = sum(int(d) * w for d, w in zip(base11, (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=True))
    r = total % 11
    return 0 if r <= 1 else 11 - r


@given(n_digits(11), SPELLINGS)
def test_my_numbers_with_their_check_digit(base, how):
    number = base + str(my_number_check(base))
    assert my_number(spell([number[:4], number[4:8], number[8:]], how)) is not None


@given(n_digits(11), st.integers(1, 9))
def test_my_numbers_with_a_wrong_check_digit(base, off):
    wrong = (my_number_check(base) + off) % 10
    assert my_number(base + str(wrong)) is None


def corporate_check(base12: str) -> int:
    """9 − (Σ digit × weight mod 9), weights 2,1,2,1,… from the top digit of the 12-digit base."""
    total = sum(int(d) * (2 if i % 2 == 0 else 1) for i, d in enumerate(base12))
    return 9 - total % 9


@given(n_digits(12))
def test_corporate_numbers_with_their_check_digit(base):
    assert corporate_number(str(corporate_check(base)) + base) is not None
    wrong = (corporate_check(base) + 1) % 10
    assert corporate_number(str(wrong) + base) is None or wrong == corporate_check(base)


def test_published_corporate_number():
    assert corporate_number("7000012050002") is not None  # 国税庁
    assert corporate_number("7000012050003") is None


# ── postal codes, emails, names, addresses ──────────────────────────────────────────────────


@given(n_digits(3), n_digits(4), st.sampled_from(["{a}-{b}", "〒{a}-{b}", "〒 {a}{b}", "{a}{b}", "{a}－{b}"]))
def test_postal_codes(a, b, form):
    text = form.format(a=a, b=b)
    assert postal_code(text) is not None
    assert postal_code(text.translate(FULL_WIDTH)) is not None


def test_postal_negatives():
    for text in ("53-00001", "5300-001", "12345678", "530-001", "〒530", "TEL 530-0001"):
        assert postal_code(text) is None, text


@given(st.from_regex(r"[a-z][a-z0-9._]{0,10}", fullmatch=True), st.sampled_from(["example.jp", "example.co.jp"]))
def test_emails_half_and_full_width(local, domain):
    text = f"{local}@{domain}"
    assert email(text) == "email"
    assert email(unicodedata.normalize("NFKC", text).translate(str.maketrans("@.", "＠．"))) == "email"


SURNAMES = ["山田", "佐藤", "鈴木", "髙橋", "渡邉", "伊藤"]
GIVEN = ["太郎", "花子", "はな", "ゆうき", "健一", "さくら"]
HALF_WIDTH = {"ヤマダ": "ﾔﾏﾀﾞ", "サトウ": "ｻﾄｳ", "スズキ": "ｽｽﾞｷ", "タロウ": "ﾀﾛｳ", "ハナコ": "ﾊﾅｺ"}
KANA = list(HALF_WIDTH)


@given(st.sampled_from(SURNAMES), st.sampled_from(GIVEN), st.sampled_from([" ", "\u3000", "  "]))
def test_kanji_names_with_a_space(surname, given_name, space):
    assert name_kanji(f"{surname}{space}{given_name}") == "kanji"


@given(st.sampled_from(KANA), st.sampled_from(KANA), st.booleans())
def test_kana_names_full_and_half_width(a, b, half):
    text = f"{a} {b}"
    if half:  # half-width katakana, as old terminals stored it
        text = " ".join(HALF_WIDTH[part] for part in (a, b))
    assert name_kana(text) == "kana"


def test_name_negatives():
    for text in ("090-1234-5678", "大阪府大阪市北区中之島5丁目2-15", "WEB会員登録済み", "yamada taro", "12 34", ""):
        assert name_kanji(text) is None, text
        assert name_kana(text) is None, text


def test_addresses():
    for text in (
        "大阪府大阪市北区中之島5丁目2-15",
        "東京都千代田区丸の内１－１－１",
        "札幌市中央区北1条西2丁目",
        "京都府京都市左京区吉田本町",
    ):
        assert address(text) is not None, text
    for text in ("高齢者世帯", "山田 太郎", "090-1234-5678", "連絡は平日夜間希望"):
        assert address(text) is None, text


# ── free text and a column's evidence ───────────────────────────────────────────────────────


@given(
    st.sampled_from(["090", "080"]),
    n_digits(4),
    n_digits(4),
    SPELLINGS,
    st.sampled_from(["連絡は平日夜間希望 ", "督促連絡先", "TEL:"]),
)
def test_phones_inside_free_text(prefix, a, b, how, lead):
    assert "phone" in embedded_kinds(f"{lead}{spell([prefix, a, b], how)} まで")


def test_identifiers_touching_each_other_in_free_text():
    found = embedded_kinds("〒530-0001 大阪市北区 06-1234-5678 yamada@example.jp 供給地点 0612 3456 7890 1234 5678 90")
    assert found == {"postal_code", "phone", "email", "supply_point_id"}
    assert embedded_kinds("WEB会員登録済み 2024年11月 契約容量 30A") == set()


def test_evidence_is_counts_only_and_weak_recognizers_need_the_column_name():
    phones = [f"090-{i:04d}-5678" for i in range(40)] + ["不明"] * 10
    ev = ColumnEvidence("contact")
    for p in phones:
        ev.add(p)
    s = ev.suggestion()
    assert s is not None and s.kind == "phone" and s.share == 0.8
    assert "40 of 50" in s.evidence and not any(p in s.evidence for p in phones)

    codes = ["00016", "00021", "00033"] * 5
    anonymous, named = ColumnEvidence("col7"), ColumnEvidence("retailer_code")
    for c in codes:
        anonymous.add(c)
        named.add(c)
    assert anonymous.suggestion() is None  # five digits alone could be anything
    assert named.suggestion() is not None and named.suggestion().kind == "retailer_code"  # type: ignore[union-attr]


def test_free_text_is_suggested_when_values_hold_identifiers():
    ev = ColumnEvidence("note")
    for i in range(10):
        ev.add(f"督促連絡先 ０９０－１２３４－{i:04d}" if i % 2 else "WEB会員登録済み、次回訪問は来月の予定です")
    s = ev.suggestion()
    assert s is not None and s.kind == "free_text" and "5 contain a phone number" in s.evidence
