"""Recognizers for Japanese personal and electricity data, and the evidence they give about a column.

Every recognizer looks at one value in any spelling a Japanese system stores: full-width digits and
letters (NFKC folds them), hyphens of every width, spaces, parentheses, `〒`, `+81`. It answers with a
sub-type ("mobile", "関西", …) or None. A column's evidence is counts only, never a value: discovery runs
on the shared database, and what it prints goes into pull requests and tickets.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from split.i18n import N_, _
from split.normalize import normalize

# ── one value ───────────────────────────────────────────────────────────────────────────────

AREAS = {  # 供給地点特定番号: the first two digits name the NW area
    "01": "北海道", "02": "東北", "03": "東京", "04": "中部", "05": "北陸",
    "06": "関西", "07": "中国", "08": "四国", "09": "九州", "10": "沖縄",
}  # fmt: skip
PREFECTURES = (
    "北海道|青森県|岩手県|宮城県|秋田県|山形県|福島県|茨城県|栃木県|群馬県|埼玉県|千葉県|東京都|神奈川県|新潟県|富山県|"
    "石川県|福井県|山梨県|長野県|岐阜県|静岡県|愛知県|三重県|滋賀県|京都府|大阪府|兵庫県|奈良県|和歌山県|鳥取県|島根県|"
    "岡山県|広島県|山口県|徳島県|香川県|愛媛県|高知県|福岡県|佐賀県|長崎県|熊本県|大分県|宮崎県|鹿児島県|沖縄県"
)
KANJI = "一-鿿々〆ヶ"
KATAKANA = "ァ-ヺー"
HIRAGANA = "ぁ-ゖー"
_SPACE = r"[ \u3000]"


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _digits(value: str) -> str | None:
    """The digits of a value made only of digits and separators (`０９０－１２３４ ５６７８`), else None."""
    text = normalize(value)
    if text.startswith("+81"):
        text = "0" + text[3:]
    return text if text.isascii() and text.isdigit() else None


def phone_type(value: str) -> str | None:
    d = _digits(value)
    if d is None:
        return None
    if len(d) == 11 and d[:3] in ("070", "080", "090"):
        return "mobile"
    if len(d) == 11 and d.startswith("050"):
        return "ip"
    if (len(d) == 10 and d.startswith("0120")) or (len(d) == 11 and d.startswith("0800")):
        return "toll-free"
    if len(d) == 10 and d[0] == "0" and d[1] != "0" and d[1:3] not in ("50", "70", "80", "90"):
        return "fixed"  # 0X0 prefixes are mobile/IP/toll-free ranges: ten digits there are a typo, not a line
    return None


_POSTAL = re.compile(r"(?:〒\s*)?\d{3}\s*[-‐‑–—−ー]?\s*\d{4}")


def postal_code(value: str) -> str | None:
    text = _nfkc(value)
    if not _POSTAL.fullmatch(text):
        return None
    return "with mark" if "〒" in text else "with hyphen" if not text.isdigit() else "digits only"


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")


def email(value: str) -> str | None:
    return "email" if _EMAIL.fullmatch(_nfkc(value).replace(" ", "")) else None


def supply_point_area(value: str) -> str | None:
    """The NW area of a 22-digit 供給地点特定番号 (no check digit exists, so the area prefix is the test)."""
    d = _digits(value)
    return AREAS.get(d[:2]) if d is not None and len(d) == 22 else None


def my_number(value: str) -> str | None:
    """個人番号: 12 digits, the last a check digit (総務省令第85号 第5条)."""
    d = _digits(value)
    if d is None or len(d) != 12:
        return None
    base = [int(c) for c in reversed(d[:11])]  # P1 is the lowest digit of the first eleven
    total = sum(p * (n + 1 if n <= 6 else n - 5) for n, p in enumerate(base, start=1))
    remainder = total % 11
    return "valid check digit" if int(d[11]) == (0 if remainder <= 1 else 11 - remainder) else None


def corporate_number(value: str) -> str | None:
    """法人番号: 13 digits, the first a check digit: 9 − (Σ Pn×Qn mod 9), Qn 1 for odd n, 2 for even n."""
    d = _digits(value)
    if d is None or len(d) != 13:
        return None
    base = [int(c) for c in reversed(d[1:])]
    total = sum(p * (1 if n % 2 else 2) for n, p in enumerate(base, start=1))
    return "valid check digit" if int(d[0]) == 9 - total % 9 else None


def retailer_code(value: str) -> str | None:
    """小売電気事業者コード: 5 digits, the last one the area. Weak alone: needs the column name."""
    text = _nfkc(value)
    return "5 digits" if len(text) == 5 and text.isascii() and text.isdigit() else None


_METER = re.compile(r"[A-Z]{0,3}-?\d{6,14}")


def meter_no(value: str) -> str | None:
    return "code" if _METER.fullmatch(_nfkc(value).upper()) else None


def contract_no(value: str) -> str | None:
    """契約識別番号: 20 characters issued by the NW."""
    text = _nfkc(value)
    return "20 characters" if len(text) == 20 and text.isascii() and text.isalnum() else None


_NAME_SPACED = re.compile(rf"[{KANJI}]{{1,5}}{_SPACE}+[{KANJI}{HIRAGANA}{KATAKANA}]{{1,6}}")
_NAME_UNSPACED = re.compile(rf"[{KANJI}]{{2,6}}")
_KANA_SPACED = re.compile(
    rf"[{KATAKANA}]{{1,10}}{_SPACE}+[{KATAKANA}]{{1,10}}|[{HIRAGANA}]{{1,10}}{_SPACE}+[{HIRAGANA}]{{1,10}}"
)
_KANA_UNSPACED = re.compile(rf"[{KATAKANA}]{{2,16}}|[{HIRAGANA}]{{2,16}}")


def name_kanji(value: str) -> str | None:
    """A family and given name (`山田 太郎`, `山田　はな`): kanji, a space, then kanji or kana."""
    return "kanji" if _NAME_SPACED.fullmatch(_nfkc(value)) else None


def name_unspaced(value: str) -> str | None:
    """`山田太郎`: also a place or a company, so weak alone."""
    return "kanji" if _NAME_UNSPACED.fullmatch(_nfkc(value)) else None


def name_kana(value: str) -> str | None:
    """`ヤマダ タロウ` (half-width ｶﾅ too: NFKC makes it full-width) or `やまだ たろう`."""
    return "kana" if _KANA_SPACED.fullmatch(_nfkc(value)) else None


def kana_unspaced(value: str) -> str | None:
    return "kana" if _KANA_UNSPACED.fullmatch(_nfkc(value)) else None


_PLACE = rf"[{KANJI}{KATAKANA}{HIRAGANA}]+?[市区町村郡]"
_ADDRESS_WITH_PREFECTURE = re.compile(rf"(?:{PREFECTURES}){_PLACE}")
_ADDRESS_WITH_NUMBER = re.compile(rf"{_PLACE}.*?(?:\d|丁目|番地|番|号)")


def address(value: str) -> str | None:
    """A prefecture and a municipality (`京都府京都市左京区…`), or a municipality and a block number."""
    text = _nfkc(value)
    if _ADDRESS_WITH_PREFECTURE.match(text):
        return "with prefecture"
    return "without prefecture" if _ADDRESS_WITH_NUMBER.match(text) else None


# ── identifiers inside free text ────────────────────────────────────────────────────────────

_DASHES = "\\-‐‑‒–—―−ー"  # hyphen-minus and the dashes Japanese input methods produce
_NUMBER_RUN = re.compile(rf"\+?\d[\d\s{_DASHES}()]*\d")
_POSTAL_IN_TEXT = re.compile(
    rf"〒\s*\d{{3}}[{_DASHES}]?\d{{4}}|(?<![\d{_DASHES}])\d{{3}}[{_DASHES}]\d{{4}}(?![\d{_DASHES}])"
)
_IN_NUMBERS: dict[str, Callable[[str], str | None]] = {"phone": phone_type, "supply_point_id": supply_point_area}


def _number_candidates(text: str) -> set[str]:
    """Runs of digits and separators, and every window of up to six space-separated parts of each run:
    `〒530-0001 06-1234-5678` must yield the phone although the postal code touches it."""
    found = set()
    for run in _NUMBER_RUN.findall(text):
        parts = run.split()
        for i in range(len(parts)):
            for j in range(i + 1, min(i + 6, len(parts)) + 1):
                found.add(" ".join(parts[i:j]))
    return found


def embedded_kinds(value: str) -> set[str]:
    """Which identifiers a text holds somewhere inside (`連絡は夜間 ０９０-１２３４-５６７８` holds a phone)."""
    text = _nfkc(value)
    kinds = {kind for c in _number_candidates(text) for kind, test in _IN_NUMBERS.items() if test(c)}
    if _EMAIL.search(text):
        kinds.add("email")
    if _POSTAL_IN_TEXT.search(text):
        kinds.add("postal_code")
    return kinds


# ── recognizers and a column's evidence ─────────────────────────────────────────────────────


@dataclass(frozen=True)
class Recognizer:
    name: str
    kind: str  # the mapping `kind` it suggests
    label: str  # for the evidence: "… values are {label}"
    test: Callable[[str], str | None]
    hints: tuple[str, ...] = ()  # column-name fragments that support it
    weak: bool = False  # the values alone are not enough: the column name must support it


_NAME_HINTS = ("name", "meigi", "shimei", "氏名", "名義")
_KANA_HINTS = ("kana", "furigana", "カナ")
# fmt: off
RECOGNIZERS = (  # name, kind, label, test, column-name hints, weak
    Recognizer("supply_point_id", "supply_point_id", N_("22-digit supply point ids"), supply_point_area,
               ("supply_point", "spid", "kyokyu", "供給地点")),
    Recognizer("corporate_number", "corporate_number", N_("corporate numbers (法人番号)"), corporate_number,
               ("corporate", "houjin", "法人")),
    Recognizer("my_number", "my_number", N_("My Numbers (個人番号)"), my_number, ("my_number", "mynumber", "個人番号")),
    Recognizer("phone", "phone", N_("phone numbers"), phone_type, ("phone", "tel", "denwa", "mobile", "keitai", "電話")),
    Recognizer("email", "email", N_("email addresses"), email, ("mail",)),
    Recognizer("postal_code", "postal_code", N_("postal codes"), postal_code, ("postal", "zip", "yubin", "郵便")),
    Recognizer("address", "address", N_("addresses"), address, ("address", "addr", "jusho", "住所")),
    Recognizer("name", "name", N_("personal names in kanji"), name_kanji, _NAME_HINTS),
    Recognizer("name_kana", "name_kana", N_("names in kana"), name_kana, _KANA_HINTS),
    Recognizer("name_unspaced", "name", N_("kanji names without a space"), name_unspaced,
               ("contract_name", "customer_name", "owner", "meigi", "shimei", "氏名", "名義"), weak=True),
    Recognizer("kana_unspaced", "name_kana", N_("kana names without a space"), kana_unspaced, _KANA_HINTS, weak=True),
    Recognizer("retailer_code", "retailer_code", N_("5-digit retailer codes (小売電気事業者コード)"), retailer_code,
               ("retailer", "kouri", "小売"), weak=True),
    Recognizer("meter_no", "meter_no", N_("meter numbers"), meter_no, ("meter", "keiki", "計器", "計量器"), weak=True),
    Recognizer("contract_no", "contract_no", N_("20-character contract ids (契約識別番号)"), contract_no,
               ("contract", "keiyaku", "契約"), weak=True),
)
# fmt: on
EMBEDDED_LABELS = {
    "phone": N_("a phone number"),
    "email": N_("an email address"),
    "postal_code": N_("a postal code"),
    "supply_point_id": N_("a supply point id"),
}  # fmt: skip
SUGGEST_SHARE = 0.5  # a kind is suggested when at least this share of sampled values is recognised


@dataclass(frozen=True)
class Suggestion:
    kind: str
    evidence: str  # counts only
    share: float

    def to_dict(self) -> dict:
        return {"kind": self.kind, "share": round(self.share, 4), "evidence": self.evidence}


@dataclass
class ColumnEvidence:
    """What the sampled values of one column look like: counts per recognizer, never a value."""

    column: str
    sampled: int = 0
    matches: Counter[str] = field(default_factory=Counter)
    subtypes: dict[str, Counter[str]] = field(default_factory=dict)
    embedded: Counter[str] = field(default_factory=Counter)

    def add(self, value: object) -> None:
        text = str(value)
        if not text.strip():
            return
        self.sampled += 1
        whole = False
        for r in RECOGNIZERS:
            sub = r.test(text)
            if sub is not None:
                whole = True
                self.matches[r.name] += 1
                self.subtypes.setdefault(r.name, Counter())[sub] += 1
        if not whole:  # an identifier inside other text: free text
            self.embedded.update(embedded_kinds(text))

    def suggestion(self) -> Suggestion | None:
        if not self.sampled:
            return None
        name = self.column.casefold()
        best = None
        for r in RECOGNIZERS:
            share = self.matches[r.name] / self.sampled
            hinted = any(h in name for h in r.hints)
            if share >= SUGGEST_SHARE and (hinted or not r.weak) and (best is None or share > best[1]):
                best = (r, share, hinted)
        if best is not None:
            r, share, hinted = best
            kinds = ", ".join(f"{k} {n}" for k, n in self.subtypes[r.name].most_common())
            said = _("%(n)s of %(sampled)s sampled values (%(share)s) are %(label)s (%(kinds)s)")
            text = said % {
                "n": self.matches[r.name],
                "sampled": self.sampled,
                "share": f"{share:.0%}",
                "label": _(r.label),
                "kinds": kinds,
            }
            return Suggestion(r.kind, text + ("; " + _("the column name agrees") if hinted else ""), share)
        if self.embedded:
            found = "; ".join(
                _("%(n)s contain %(label)s") % {"n": n, "label": _(EMBEDDED_LABELS[k])}
                for k, n in self.embedded.most_common()
            )
            return Suggestion(
                "free_text",
                _("free text: of %(sampled)s sampled values, %(found)s") % {"sampled": self.sampled, "found": found},
                sum(self.embedded.values()) / self.sampled,
            )
        return None
