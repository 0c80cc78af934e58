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
