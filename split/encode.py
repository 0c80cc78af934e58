"""`encode`: the retail store gets HMAC-SHA256(key, normalised value) as a fixed-format token.

The key comes from BUNKATSU_ENCODE_KEY (held by the NW company) and never reaches the retail side.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from split.normalize import normalize

TOKEN_PREFIX = "hm1:"
TOKEN_RE = re.compile(r"^hm1:[0-9a-f]{64}$")


def token(key: bytes, value: object) -> str | None:
    if value is None:
        return None  # NULL stays NULL: a token of "nothing" would be a guessable constant
    return TOKEN_PREFIX + hmac.new(key, normalize(value).encode(), hashlib.sha256).hexdigest()


def is_token(value: object) -> bool:
    return isinstance(value, str) and TOKEN_RE.match(value) is not None
