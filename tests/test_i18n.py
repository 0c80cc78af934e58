"""Japanese and English (split/i18n.py): the catalogue holds every marked message and template string, each
with a Japanese translation that keeps its placeholders; the compiled catalogue is the one the package reads;
the language follows --lang, BUNKATSU_LANG and the locale, in that order."""

from __future__ import annotations

import gettext
import re
import subprocess

import pytest
from babel.messages.pofile import read_po

from tests.helpers import ROOT, run_cli

LOCALES = ROOT / "split" / "locale"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s")


def catalogue(path):  # noqa: ANN001, ANN201
    with path.open("rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


def test_every_message_has_a_japanese_translation_with_its_placeholders():
    template, ja = catalogue(LOCALES / "bunkatsu.pot"), catalogue(LOCALES / "ja" / "LC_MESSAGES" / "bunkatsu.po")
    assert len(template) > 50
    missing = [m for m in template if m not in ja or not ja[m].string or ja[m].fuzzy]
    assert missing == [], "run `make messages` and translate these in split/locale/ja/LC_MESSAGES/bunkatsu.po"
    broken = [m for m in template if sorted(PLACEHOLDER.findall(m)) != sorted(PLACEHOLDER.findall(ja[m].string))]
    assert broken == [], "a translation lost or renamed a placeholder"
    assert [m for m in template if ja[m].string == m and re.search("[a-z]{3}", m)] == [], "left in English"


def test_the_catalogue_holds_every_message_the_sources_mark(tmp_path):
    """Extracted again from the sources as `make messages` does: nothing marked is missing from the .pot."""
    pot = tmp_path / "now.pot"
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pybabel") if (ROOT / ".venv").is_dir() else "pybabel", "extract", "-F",
         "babel.cfg", "-k", "N_", "--no-location", "--sort-output", "--omit-header", "-o", str(pot), "."],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(catalogue(pot)) == set(catalogue(LOCALES / "bunkatsu.pot")), "run `make messages`"


def test_the_compiled_catalogue_is_the_translated_one():
    with (LOCALES / "ja" / "LC_MESSAGES" / "bunkatsu.mo").open("rb") as f:
        compiled = gettext.GNUTranslations(f)
    ja = catalogue(LOCALES / "ja" / "LC_MESSAGES" / "bunkatsu.po")
    stale = [m for m, entry in ja.items() if compiled.gettext(m) != entry.string]
    assert stale == [], "run `make messages` (pybabel compile)"


@pytest.mark.parametrize(
    ("env", "args", "word"),
    [
        ({"LANG": "ja_JP.UTF-8"}, (), "エラー:"),
        ({"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}, (), "error:"),  # LC_ALL wins, as in POSIX
        ({"LANG": "en_US.UTF-8", "BUNKATSU_LANG": "ja"}, (), "エラー:"),
        ({"LANG": "ja_JP.UTF-8"}, ("--lang", "en"), "error:"),
        ({"LANG": "en_US.UTF-8"}, ("--lang=ja",), "エラー:"),
    ],
)
@pytest.mark.parametrize("where", ["before the command", "after it"])
def test_the_language_follows_the_option_the_variable_and_the_locale(env, args, word, where):
    command = ["plan", "--mapping", "no-such-mapping.yaml", "--source", "sqlite://"]
    done = run_cli(*(args + tuple(command) if where == "before the command" else command + list(args)), env=env)
    assert done.returncode == 2 and done.stderr.startswith(word), done.stderr


def test_a_language_bunkatsu_does_not_speak_is_a_usage_error():
    for args, env in ((("--lang", "de"), {}), ((), {"BUNKATSU_LANG": "de"})):
        done = run_cli(*args, "plan", "--source", "sqlite://", env=env)
        assert done.returncode == 2, done.stderr
        assert (
            done.stderr.startswith("error: --lang de (or BUNKATSU_LANG) is not a language")
            and "Traceback" not in done.stderr
        )


ENGLISH_RUN = re.compile(r"\b[a-z]+(?: [a-z]+){2,}\b")  # three English words in a row


def catalogue_english(text: str) -> set[str]:
    """Runs of three or more English words in `text` that are also in a catalogue message: its words left in
    English. Quoted code (`…`), commands, placeholders and URLs are not the catalogue's words."""
    with (LOCALES / "bunkatsu.pot").open("rb") as pot:
        ids = [m.id for m in read_po(pot) if m.id]
    code = r"`[^`]*`|bunkatsu(?: [a-z][a-z-]*){1,2}"  # commands are the same in every language
    known = {run for m in ids for run in ENGLISH_RUN.findall(re.sub(rf"{code}|%\([a-z_]+\)s", "|", m))}
    said = re.sub(rf"{code}|\S+://\S+", "|", text)
    return {run for run in ENGLISH_RUN.findall(said) if any(run in k for k in known)}


def test_user_errors_and_hints_speak_japanese(tmp_path):
    """Each usage error of a different layer (settings, mapping loader, mapping rules, evidence) with its hint:
    Japanese from the label to the hint, exit 2, one message."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2\naffiliate: {name: x}\ntables: {a: {retail: own}}\nwaves: 3\n", encoding="utf-8")
    not_zip = tmp_path / "pack.zip"
    not_zip.write_bytes(b"not a zip")
    cases = [
        ("plan", "--mapping", str(tmp_path / "missing.yaml"), "--source", "sqlite://"),
        ("plan", "--mapping", str(bad), "--source", "sqlite://"),
        ("verify", "--mapping", str(ROOT / "mappings" / "takuso.yaml"), "--source", "postgresql://u:pw@h:abc/db"),
        ("evidence", "check", str(not_zip)),
        ("copy", "--mapping", str(ROOT / "mappings" / "takuso.yaml"), "--workers", "0", "--source", "sqlite://"),
    ]
    for args in cases:
        done = run_cli("--lang", "ja", *args, cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.startswith("エラー:") and "→" in done.stderr, done.stderr
        assert catalogue_english(done.stderr) == set(), done.stderr
        assert "pw" not in done.stderr  # masked in every language


def test_a_command_s_tables_and_notes_speak_japanese(tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    made = run_cli("--lang", "ja", "sample-db", db, "--supply-points", "5")
    planned = run_cli("--lang", "ja", "plan", "-m", str(ROOT / "mappings" / "takuso.yaml"), "--source", db)
    for done in (made, planned):
        assert done.returncode == 0, done.stderr
        assert catalogue_english(done.stdout + done.stderr) == set(), done.stdout
    assert "供給地点" in made.stdout and "パーティション" in planned.stdout


def test_the_english_word_finder_finds_english():
    """The finder above must be able to fail: an English message from the catalogue is found."""
    assert catalogue_english("error: the mapping is not UTF-8 text") == {"the mapping is not"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("plna",), "そのコマンドはない: 'plna' 'plan' のことか?"),  # before any callback: the language is chosen first
        (("plan", "--bogus"), "そのオプションはない: --bogus"),
        (("cutover", "run"), "オプション '--wave' が指定されていない"),
        (("plan", "a", "b"), "余分な引数がある（a b）"),
    ],
)
def test_click_s_usage_errors_speak_japanese(args, said):
    """Click (as Typer vendors it) words its errors in English only: bunkatsu says them again from its catalogue."""
    done = run_cli(*args, env={"LANG": "ja_JP.UTF-8"})
    assert done.returncode == 2 and done.stderr.startswith(f"エラー: {said}"), done.stderr
    assert done.stderr.rstrip().endswith("--help` を参照）"), done.stderr


@pytest.mark.parametrize("command", [(), ("verify",), ("cutover", "run"), ("evidence", "pack")])
def test_help_speaks_japanese(command):
    """`--help` in Japanese: the command's text, every option's, Typer's panels and the --help option itself.
    The help texts are in the catalogue (split/help_text.py extracts them from the command tree)."""
    done = run_cli("--lang", "ja", *command, "--help")
    assert done.returncode == 0, done.stderr
    assert "オプション" in done.stdout and "このヘルプを表示して終了する" in done.stdout, done.stdout
    assert catalogue_english(done.stdout) == set(), done.stdout
    english = run_cli(*command, "--help")
    assert "Options" in english.stdout and "Show this message and exit." in english.stdout


def test_a_group_alone_shows_its_help_in_japanese():
    """`bunkatsu schema` alone prints the group's help: translated although no --help was given (the help
    texts are translated only when help is shown)."""
    done = run_cli("--lang", "ja", "schema")
    assert "移行元とマッピングから導いた" in done.stdout + done.stderr, done.stdout
    bare = run_cli("--lang", "ja")
    assert bare.returncode == 2 and bare.stderr.startswith("エラー: コマンドが指定されていない"), bare.stderr
