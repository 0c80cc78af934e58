"""Normalisation of values before encoding or comparing: the same value in any spelling maps to one form.

NFKC folds full-width digits and letters to half-width; then case, spaces and hyphen-like characters
are removed, so `０９０－１２３４－５６７８`, `090 1234 5678` and `09012345678` are the same phone.
"""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―−ー－・.()（）]+")


def normalize(value: object) -> str:
    text = unicodedata.normalize("NFKC", str(value)).casefold()
    return _SEPARATORS.sub("", text)


_HIRAGANA_TO_KATAKANA = {c: c + 0x60 for c in range(ord("ぁ"), ord("ゖ") + 1)}


def searchable(value: object) -> str:
    """The form values are compared in when looking for them: `normalize`, and hiragana folded to katakana
    (さかもと and サカモト are one name; NFKC already folds half-width ｻｶﾓﾄ). Not used for encode tokens,
    which must not change for values already tokenised."""
    return normalize(value).translate(_HIRAGANA_TO_KATAKANA)
