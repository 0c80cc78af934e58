"""Typed settings: store URLs, the encode key, masking of secrets in everything we print."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from split.errors import ConfigError

ENV_SOURCE = "BUNKATSU_SOURCE_URL"
ENV_NW = "BUNKATSU_NW_URL"
ENV_RETAIL = "BUNKATSU_RETAIL_URL"
ENV_MAPPING = "BUNKATSU_MAPPING"
ENV_ENCODE_KEY = "BUNKATSU_ENCODE_KEY"
ENV_MIGRATIONS = "BUNKATSU_MIGRATIONS"
ENV_LOG = "BUNKATSU_LOG_URL"
DEFAULT_MIGRATIONS = "migrations"

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")


@dataclass(frozen=True)
class StoreUrl:
    """A SQLAlchemy URL for one store, validated; `masked` is the only form we ever print."""

    role: str  # source | nw | retail
    url: str

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def backend(self) -> str:
        return parse_url(self.url, self.role).get_backend_name()


def parse_url(url: str, role: str):
    """Parse a SQLAlchemy URL or fail with a usage error naming the role (never the password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"the {role} URL is not a SQLAlchemy URL: {mask_url(url)}",
            hint="use e.g. sqlite:///shared.db, postgresql://user@host/db or mysql+pymysql://user@host/db",
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"unsupported database `{parsed.get_backend_name()}` in the {role} URL {mask_url(url)}",
            hint=f"bunkatsu supports {', '.join(SUPPORTED_BACKENDS)}",
        )
    return parsed


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***; falls back to a blunt mask if it cannot be parsed."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL may still hold a secret after the scheme
        head, sep, tail = url.partition("://")
        if sep and "@" in tail:
            return f"{head}://***@{tail.rsplit('@', 1)[1]}"
        return url


def store_url(role: str, value: str | None, env: str, option: str | None = None) -> StoreUrl:
    url = value or os.environ.get(env)
    if not url:
        raise ConfigError(f"no {role} URL given", hint=f"pass {option or '--' + role} URL or set {env}")
    parse_url(url, role)
    return StoreUrl(role, url)


def mapping_path(value: str | Path | None) -> Path:
    raw = value or os.environ.get(ENV_MAPPING)
    if not raw:
        raise ConfigError("no mapping given", hint=f"pass --mapping FILE or set {ENV_MAPPING}")
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"mapping file not found: {path}", hint="check the path (relative to the current folder)")
    return path


def migrations_dir(value: str | Path | None) -> Path:
    """The folder holding one Alembic environment per store (`<dir>/nw`, `<dir>/retail`)."""
    return Path(value or os.environ.get(ENV_MIGRATIONS) or DEFAULT_MIGRATIONS)


def encode_key(required: bool) -> bytes | None:
    """The HMAC key for `encode` columns, from the environment only (never from a file or an option)."""
    key = os.environ.get(ENV_ENCODE_KEY)
    if not required:
        return key.encode() if key else None
    if not key:
        raise ConfigError(
            f"the mapping encodes columns but {ENV_ENCODE_KEY} is not set",
            hint=f"export {ENV_ENCODE_KEY}=<secret of at least 16 characters, held by the NW company>",
        )
    if len(key) < 16:
        raise ConfigError(f"{ENV_ENCODE_KEY} is too short ({len(key)} characters)", hint="use at least 16 characters")
    return key.encode()


class Secret:
    """A secret value that never shows in a repr, a log line or a Dask dashboard."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Secret, (self.value,))
