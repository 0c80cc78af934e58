"""A bug's traceback, written where only the operator can read it, with every value redacted.

An unexpected exception can carry a protected value in its message (`Invalid isoformat string: '坂本 和也
070-…'`). So stderr gets one line (the exception's type and this file's path), and the file gets the frames
(file, line, function, source line: code, never locals) and each message redacted like database errors:
quoted strings, long digit runs and any non-ASCII text replaced. The folder is 0700, the file 0600.
"""

from __future__ import annotations

import os
import re
import tempfile
import traceback
from pathlib import Path

from split.db import redact

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
_DIGITS = re.compile(r"\d{2,}")  # phone and id fragments (070-1234-5678): a message needs no numbers to be read


def redacted(text: str) -> str:
    return _DIGITS.sub("«#»", _NON_ASCII.sub("«…»", redact(text)))


def crash_report(exc: BaseException) -> str:
    lines = []
    for part in traceback.TracebackException.from_exception(exc).format():
        if part.startswith("  File ") or part.startswith("    "):
            lines.append(part)  # frames: where in the code, and the code itself
        else:
            lines.append(redacted(part))  # "ValueError: …", "During handling …": messages may hold values
    return "".join(lines)


def write_crash_file(exc: BaseException) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="bunkatsu-crash-"))  # 0700
    path = folder / "traceback.txt"
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("bunkatsu internal error; values are redacted. Please attach this file to a bug report.\n\n")
        file.write(crash_report(exc))
    return path
