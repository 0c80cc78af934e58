"""The exception tree. Every leaf knows its exit code and whether retrying can help.

The CLI turns these into one message and an exit code in one place (`split.cli.main`); any other
exception is a bug and keeps its traceback. Messages must never carry a protected value.
"""

from __future__ import annotations

from split.i18n import _


class BunkatsuError(Exception):
    """Base of every error the toolkit reports to a user."""

    exit_code = 3
    retryable = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return f"{self.message}\n  → {self.hint}" if self.hint else self.message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Errors travel back from Dask worker processes: keep the hint and every attribute.
        return (_restore, (type(self), self.args, self.__dict__.copy()))


def _restore(cls: type[BunkatsuError], args: tuple, state: dict) -> BunkatsuError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class UsageError(BunkatsuError):
    """Bad input: options, environment, mapping, configuration. Nothing was written. Exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A missing or wrong setting (URL, key, path)."""


class MappingError(UsageError):
    """The mapping is malformed or does not fit the source. Carries every problem found, not the first."""

    def __init__(self, problems: list[MappingProblem], *, source: str | None = None) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.text))
        lines = [_("%(n)s problem(s) in the %(source)s:") % {"n": len(self.problems), "source": source or _("mapping")}]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines), hint=_("fix the mapping and run `bunkatsu plan` again; nothing was written"))


class MappingProblem:
    """One problem with its position: file, line and column are 1-based (0 = not known)."""

    __slots__ = ("text", "file", "line", "column", "fix")

    def __init__(self, text: str, file: str = "", line: int = 0, column: int = 0, fix: str = "") -> None:
        self.text, self.file, self.line, self.column, self.fix = text, file, line, column, fix

    def where(self) -> str:
        if not self.file:
            return ""
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file

    def __str__(self) -> str:
        where = self.where()
        text = _("%(problem)s at %(where)s") % {"problem": self.text, "where": where} if where else self.text
        return f"{text} — {self.fix}" if self.fix else text

    def __repr__(self) -> str:
        return f"MappingProblem({str(self)!r})"


class RuntimeFailure(BunkatsuError):
    """The run could not finish: a database went away, the run was interrupted. Exit 3."""

    exit_code = 3


class TransientError(RuntimeFailure):
    """A failure that may pass (dropped connection, lock timeout): retrying can help."""

    retryable = True


class TerminalError(RuntimeFailure):
    """A failure retrying will not fix (disk full, permission denied on the target)."""
