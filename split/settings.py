"""Typed settings: store URLs, the encode key, masking of secrets in everything we print."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from split import i18n
from split.errors import ConfigError
from split.i18n import N_, _
from split.keys import MIN_BITS, estimated_bits

ENV_SOURCE = "BUNKATSU_SOURCE_URL"
ENV_NW = "BUNKATSU_NW_URL"
ENV_RETAIL = "BUNKATSU_RETAIL_URL"
ENV_MAPPING = "BUNKATSU_MAPPING"
ENV_ENCODE_KEY = "BUNKATSU_ENCODE_KEY"
ENV_MIGRATIONS = "BUNKATSU_MIGRATIONS"
ENV_LOG = "BUNKATSU_LOG_URL"
ENV_CAPTURE_WARN = "BUNKATSU_CAPTURE_WARN_WAL"
DEFAULT_MIGRATIONS = "migrations"
CAPTURE_PREFIX = "bunkatsu_"  # every capture slot's and publication's name starts so (split.capture.slot)
DEFAULT_CAPTURE_WARN = "4GB"  # `verify` warns when a capture slot keeps more WAL than this (capture.retained)

# the databases' roles as messages name them, `_(role)`: "the 移行元 URL …"
ROLE_WORDS = (N_("source"), N_("nw"), N_("retail"), N_("log"), N_("sample"), N_("scratch"))

SUPPORTED_BACKENDS = ("sqlite", "postgresql", "mysql", "mariadb")
URL_EXAMPLES = "sqlite:///shared.db, postgresql://user@host/db, mysql+pymysql://user@host/db"

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


@dataclass(frozen=True)
class StoreUrl:
    """A SQLAlchemy URL for one store, validated; `masked` is the only form we ever print.

    `url` is what connections use (for the source a read-only form, `split.db.read_only`); `shown` is the
    masked URL as the user gave it."""

    role: str  # source | nw | retail | log
    url: str = field(repr=False)  # may hold a password
    shown: str = ""

    @property
    def masked(self) -> str:
        return self.shown or mask_url(self.url)

    @property
    def backend(self) -> str:
        return parse_url(self.url, self.role).get_backend_name()


def parse_url(url: str, role: str, *, database: bool = True) -> URL:
    """Parse a SQLAlchemy URL or fail with a usage error naming the role (never the password). `database`: the URL
    must name one (a server URL, as `dry-run --scratch-url` takes, need not)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 - parsed lazily: `host:abc` fails here
    except (ArgumentError, ValueError):
        raise ConfigError(
            _("the %(role)s URL is not a SQLAlchemy URL: %(url)s") % {"role": _(role), "url": mask_url(url)},
            hint=_("write it like one of %(examples)s (a port is a number)") % {"examples": URL_EXAMPLES},
        ) from None
    if parsed.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            _("unsupported database `%(backend)s` in the %(role)s URL %(url)s")
            % {"backend": parsed.get_backend_name(), "role": role, "url": mask_url(url)},
            hint=_("bunkatsu supports %(supported_backends)s") % {"supported_backends": ", ".join(SUPPORTED_BACKENDS)},
        )
    if database and parsed.get_backend_name() != "sqlite" and not parsed.database:
        raise ConfigError(
            _("the %(role)s URL %(url)s names no database") % {"role": _(role), "url": mask_url(url)},
            hint=_("add the database name at the end: …/dbname"),
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
        raise ConfigError(
            _("no %(role)s URL given") % {"role": _(role)},
            hint=_("pass %(option)s URL or set %(env)s") % {"option": option or "--" + role, "env": env},
        )
    parse_url(url, role)
    return StoreUrl(role, url)


def mapping_path(value: str | Path | None) -> Path:
    raw = value or os.environ.get(ENV_MAPPING)
    if not raw:
        raise ConfigError(
            _("no mapping given"), hint=_("pass --mapping FILE or set %(env_mapping)s") % {"env_mapping": ENV_MAPPING}
        )
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(
            _("mapping file not found: %(path)s") % {"path": path},
            hint=_("check the path (relative to the current folder)"),
        )
    return path


def report_folder(value: str | Path | None) -> Path | None:
    """A report folder (created with its parents when the report is written). A file in its place, or on its
    path, is a usage error found before any check runs, not after them all."""
    if value is None:
        return None
    folder = Path(value)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        where = _("is a file") if existing == folder else _("is inside %(file)s, which is a file") % {"file": existing}
        raise ConfigError(
            _("--report %(folder)s %(where)s, not a folder") % {"folder": folder, "where": where},
            hint=_("give a folder (created if missing)"),
        )
    return folder


def language_option(value: str | None) -> None:
    """`--lang` (or BUNKATSU_LANG): ja or en, else exit 2; the choice holds for the whole process."""
    if value is not None and value not in i18n.LANGUAGES:
        raise ConfigError(
            _("--lang %(value)s (or %(env)s) is not a language bunkatsu speaks")
            % {"value": value, "env": i18n.ENV_LANG},
            hint=_("use --lang ja or --lang en"),
        )
    i18n.choose(value)


def workers_option(workers: int) -> int:
    if workers < 1:
        raise ConfigError(
            _("--workers must be at least 1 (got %(workers)s)") % {"workers": workers},
            hint=_("1 runs serially, same code path"),
        )
    return workers


def verify_log_url(explicit: str | None, post_split: bool) -> str | None:
    """The access log verify investigates. Before the split the shared system's log holds the very views the
    split ends, so only an explicit --log-url runs the check; after it, BUNKATSU_LOG_URL (the NW system's log)
    does too."""
    return explicit or (os.environ.get(ENV_LOG) if post_split else None)


def migrations_dir(value: str | Path | None) -> Path:
    """The folder holding one Alembic environment per store (`<dir>/nw`, `<dir>/retail`)."""
    return Path(value or os.environ.get(ENV_MIGRATIONS) or DEFAULT_MIGRATIONS)


def encode_key(required: bool) -> bytes | None:
    """The HMAC key for `encode` columns, from the environment only (never from a file or an option).

    A key whose estimated entropy is under 128 bits is refused wherever it is read (`split.keys`)."""
    key = os.environ.get(ENV_ENCODE_KEY)
    if not key:
        if required:
            raise ConfigError(
                _("the mapping encodes columns but %(env_encode_key)s is not set") % {"env_encode_key": ENV_ENCODE_KEY},
                hint=_("export %(env_encode_key)s=<the NW company's secret>; make one with `bunkatsu key generate`")
                % {"env_encode_key": ENV_ENCODE_KEY},
            )
        return None
    bits = estimated_bits(key)
    if bits < MIN_BITS:
        raise ConfigError(
            _("%(env_encode_key)s is too weak: about %(bits)s bits of entropy estimated, %(min_bits)s needed")
            % {"env_encode_key": ENV_ENCODE_KEY, "bits": format(bits, ".0f"), "min_bits": MIN_BITS},
            hint=_(
                "anyone who guesses the key can undo the encoding on the retail side: make one with `bunkatsu key generate` and keep it in the NW company's secret store"
            ),
        )
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


_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}
_UNITS |= {"T": 1024**4, "TB": 1024**4}


def capture_warn_bytes() -> int:
    """The retained WAL above which `verify` warns (`BUNKATSU_CAPTURE_WARN_WAL`: bytes, or with kB/MB/GB/TB)."""
    raw = os.environ.get(ENV_CAPTURE_WARN) or DEFAULT_CAPTURE_WARN
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?)\s*", raw, re.IGNORECASE)
    if found:
        return int(float(found[1]) * _UNITS[found[2].upper()])
    raise ConfigError(
        _("%(env_capture_warn)s=%(raw)s is not a size") % {"env_capture_warn": ENV_CAPTURE_WARN, "raw": repr(raw)},
        hint=_("give bytes or a number with kB, MB, GB or TB, e.g. 4GB"),
    )
