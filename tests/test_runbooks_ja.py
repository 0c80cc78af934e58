"""The Japanese runbooks (runbooks/ja/) stay in step with the English ones: one for each, with the same
sections and, verbatim, the same commands and outputs (every fenced block), in Japanese prose, and every
relative link resolving."""

from __future__ import annotations

import re

import pytest

from tests.helpers import ROOT

RUNBOOKS = ROOT / "runbooks"
ENGLISH = sorted(p.name for p in RUNBOOKS.glob("*.md"))
FENCED = re.compile(r"^```.*?^```\n", re.S | re.M)
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_every_runbook_has_a_japanese_edition_and_no_other():
    assert ENGLISH and sorted(p.name for p in (RUNBOOKS / "ja").glob("*.md")) == ENGLISH


@pytest.mark.parametrize("name", ENGLISH)
def test_the_japanese_edition_has_the_same_sections_and_commands(name):
    english = (RUNBOOKS / name).read_text(encoding="utf-8")
    japanese = (RUNBOOKS / "ja" / name).read_text(encoding="utf-8")
    assert FENCED.findall(japanese) == FENCED.findall(english), "a command or output differs: edit both"
    heads = [len(re.findall(r"^#+ ", text, re.M)) for text in (english, japanese)]
    assert heads[0] == heads[1], "the same sections in both"
    prose = FENCED.sub("", japanese)
    paragraphs = [p for p in re.split(r"\n\s*\n", prose) if re.search(r"[A-Za-z]{4}", p) and not p.startswith("|")]
    english_only = [p[:80] for p in paragraphs if not JAPANESE.search(p)]
    assert english_only == [], "a paragraph left in English"
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", japanese):
        assert (RUNBOOKS / "ja" / target).resolve().exists(), f"{name}: link to {target} does not resolve"
