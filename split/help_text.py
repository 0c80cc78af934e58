"""`--help` in the chosen language: the texts Click shows, translated on the command tree before it runs.

Typer reads every help text (a command's docstring, an option's `help=`, an epilog, a panel's name) when it
builds the Click commands, so they are translated there, on the built tree (`translate`), not where they are
written. Babel cannot see a docstring or an `Annotated` option's help as a message: `extract` is a Babel
extraction method (babel.cfg) that reads split/cli.py as Python does and adds the help texts of the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from split.i18n import N_, _

# Typer's own words around the help texts (its module constants, read when help is shown)
TYPER_WORDS = {
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
}


def texts(command: Any) -> Iterator[tuple[Any, str]]:
    """(object, attribute) of every help text in the tree: commands' help, short help and epilog, parameters'
    help and panel."""
    for attr in ("help", "short_help", "epilog", "rich_help_panel"):
        if getattr(command, attr, None):
            yield command, attr
    for param in command.params:
        for attr in ("help", "rich_help_panel"):
            if getattr(param, attr, None):
                yield param, attr
    for sub in getattr(command, "commands", {}).values():
        yield from texts(sub)


HELP_OPTION = N_("Show this message and exit.")  # the --help option, made by Click when help is asked for


def commands(command: Any) -> Iterator[Any]:
    yield command
    for sub in getattr(command, "commands", {}).values():
        yield from commands(sub)


def translate(command: Any) -> None:
    """Every help text of the tree, and Typer's words around them, in the chosen language."""
    from typer import rich_utils

    for obj, attr in texts(command):
        setattr(obj, attr, _(getattr(obj, attr)))
    for name, word in TYPER_WORDS.items():
        setattr(rich_utils, name, _(word))
    for each in commands(command):
        each.get_help_option = _said_help_option(each.get_help_option)


def _said_help_option(made: Any) -> Any:
    def get_help_option(ctx: Any) -> Any:
        option = made(ctx)
        if option is not None:
            option.help = _(HELP_OPTION)
        return option

    return get_help_option


def extract(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple]:
    """Babel extraction method for split/cli.py: its marked messages, as for any module, then its help texts."""
    import typer.main
    from babel.messages.extract import extract_python

    yield from extract_python(fileobj, keywords, comment_tags, options)
    from split.cli import app

    seen = set()
    for obj, attr in texts(typer.main.get_command(app)):
        text = getattr(obj, attr)
        if text not in seen:
            seen.add(text)
            yield 0, None, text, []
