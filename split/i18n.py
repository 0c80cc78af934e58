"""Japanese and English: the language of every human line and report (README "Languages").

Chosen by `bunkatsu --lang ja|en`, else `BUNKATSU_LANG`, else the locale's variables as POSIX orders them
(`LC_ALL`, `LC_MESSAGES`, `LANG`: `ja_JP.*` or `ja` is Japanese), else English. The locale need not be
installed: the catalogues are bunkatsu's own (gettext `.mo` files in `split/locale`, made from the `.po`
files by `make messages` with Babel), and output streams are UTF-8 whatever the locale. Check ids, JSON keys
and exit codes are never translated.
"""

from __future__ import annotations

import gettext
import os
from functools import cache
from pathlib import Path

LANGUAGES = ("ja", "en")
ENV_LANG = "BUNKATSU_LANG"
DOMAIN = "bunkatsu"
LOCALE_DIR = Path(__file__).parent / "locale"

_chosen: str | None = None  # set once by the CLI's --lang


def choose(value: str | None) -> None:
    """The language for this process (`--lang`, checked by `split.settings.language_option`)."""
    global _chosen
    _chosen = value
    if value is not None:
        os.environ[ENV_LANG] = value  # worker processes (Dask) speak the same language


def language() -> str:
    """ja or en, as chosen, set in the environment, or from the locale."""
    if _chosen:
        return _chosen
    wanted = os.environ.get(ENV_LANG)
    if wanted in LANGUAGES:  # another value is refused by the CLI's --lang, which reads the same variable
        return wanted
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(variable)
        if value:  # the first one set decides, as in POSIX
            return "ja" if value.split(".")[0].split("_")[0] == "ja" else "en"
    return "en"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of a language; English is the messages as written."""
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang])


def _(message: str) -> str:
    """A message in the chosen language (the English text is its id)."""
    return translations(language()).gettext(message)


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "extract this, translate it later"
    """Marks a message for the catalogue where it is translated later, from data (a status, a role)."""
    return message
