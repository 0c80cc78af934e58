"""The encode key: generated here, judged before use.

A token is HMAC-SHA256(key, value). Whoever can guess the key can recompute the token of any supply point
id or name and so undo the encoding on the retail side, where tokens are visible. The key must be a secret
of at least 128 bits; a person's choice ("password1234567890", 16 spaces) is not.

The estimate is deliberately simple and conservative: length times the bits per character of the
smallest usual alphabet the key is written in (hex, base64/URL-safe, printable ASCII), but only for
characters that look drawn at random; a key that repeats a shorter pattern counts that pattern once,
and a key with few distinct characters counts by how often each occurs (Shannon).
"""

from __future__ import annotations

import math
import secrets
import string
from collections import Counter

MIN_BITS = 128
GENERATED_BYTES = 32  # 256 bits

_HEX = frozenset(string.hexdigits.lower())
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=-_")
_PRINTABLE = frozenset(string.printable) - frozenset("\t\n\r\x0b\x0c")


def generate() -> str:
    """A fresh key: 256 random bits as 64 hexadecimal digits."""
    return secrets.token_hex(GENERATED_BYTES)


def estimated_bits(key: str) -> float:
    """Estimated entropy of a key in bits (see the module docstring)."""
    key = _shortest_period(key)
    if not key:
        return 0.0
    alphabet = _alphabet(key)
    by_alphabet = len(key) * math.log2(alphabet)
    counts = Counter(key)
    shannon = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    # A random draw of len(key) characters from the alphabet shows about this much Shannon entropy per
    # character; far less means the characters were not drawn at random (aaaa…, 1111…, 0101…).
    expected = math.log2(min(alphabet, len(key)))
    if shannon >= 0.75 * expected:
        return by_alphabet
    return len(key) * shannon


def _alphabet(key: str) -> int:
    chars = set(key.lower()) if set(key) <= set(string.hexdigits) else set(key)
    if chars <= _HEX:
        return 16
    if chars <= _BASE64:
        return 64
    if chars <= _PRINTABLE:
        return 95
    return 95 + len(chars - _PRINTABLE)  # non-ASCII: no usual alphabet, count what is there beyond ASCII


def _shortest_period(key: str) -> str:
    """`abcabcabc` → `abc`: a repeated pattern adds nothing an attacker has to guess."""
    for size in range(1, len(key) // 2 + 1):
        if len(key) % size == 0 and key[:size] * (len(key) // size) == key:
            return key[:size]
    return key
