"""Whatever the locale, the tool reads and writes UTF-8 (issue 22, part 0).

Containers and fresh servers rarely generate `ja_JP.UTF-8`: a Japanese operator's `LANG` then names a locale
that does not exist, Python falls back to ASCII for "the locale's encoding", and a file read that way (Alembic
reads alembic.ini so) fails on the first non-ASCII byte. `PYTHONUTF8=0` keeps Python's own UTF-8 mode from
hiding that, as on a machine whose Python was started without it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

LOCALES = [{"LANG": "ja_JP.UTF-8"}, {"LC_ALL": "ja_JP.UTF-8"}, {"LC_ALL": "C"}, {"LC_ALL": "C.UTF-8"}]


def _run(env: dict[str, str], *args: str, cwd: Path) -> tuple[int, str, str]:
    """The CLI under the given locale; output decoded as UTF-8 (what the tool promises to write)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("BUNKATSU_", "LC_", "LANG", "PYTHONUTF8"))}
    full.update(env, PYTHONUTF8="0")
    done = subprocess.run([sys.executable, "-m", "split", *args], capture_output=True, env=full, cwd=cwd, timeout=600)
    return done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")


@pytest.mark.parametrize("locale_env", LOCALES, ids=lambda e: "-".join(f"{k}={v}" for k, v in e.items()))
def test_demo_and_a_japanese_alembic_ini_under_any_locale(tmp_path: Path, locale_env: dict[str, str]) -> None:
    rc, out, err = _run(locale_env, "demo", "--dir", "demo", "--supply-points", "30", cwd=tmp_path)
    assert rc == 0, err
    assert "Traceback" not in err and "internal error" not in err
    html = (tmp_path / "demo" / "report" / "index.html").read_text(encoding="utf-8")
    if any(value.startswith("ja") for value in locale_env.values()):  # the locale need not exist: Japanese
        assert '<html lang="ja">' in html and "<h1>合格 — 物理分割は健全です</h1>" in html
        assert "判定: 合格" in out
        assert untranslated(html) == [], "English left in the Japanese report"
    else:
        assert '<html lang="en">' in html and "<h1>PASS — the split is clean</h1>" in html
        assert "verdict: PASS" in out

    # an operator's Japanese comment in the generated alembic.ini, then the schema read again under this locale
    ini = tmp_path / "demo" / "migrations" / "alembic.ini"
    assert ini.read_bytes().isascii(), "the generated alembic.ini must read in any encoding, plain alembic included"
    ini.write_text(
        "# 物理分割 第1波 (需要場所・供給地点特定番号)\n" + ini.read_text(encoding="utf-8"), encoding="utf-8"
    )
    demo = tmp_path / "demo"
    rc, out, err = _run(
        {**locale_env, "BUNKATSU_NW_URL": f"sqlite:///{demo / 'nw.db'}", "BUNKATSU_RETAIL_URL": f"sqlite:///{demo / 'retail.db'}"},
        "schema", "check", "--mapping", str(demo / "takuso.yaml"), "--source", f"sqlite:///{demo / 'shared.db'}", "--migrations", str(demo / "migrations"),
        cwd=tmp_path,
    )  # fmt: skip
    assert rc == 0, err
    assert "Traceback" not in err and "internal error" not in err


def untranslated(html: str) -> list[str]:
    """The catalogue's English phrases (two words or more) found in a report's own text: its headings, labels
    and notes. Check messages (cells of class `message`) and ids, names and values (`code`, table cells of
    data) are not the template's words."""
    import re

    from babel.messages.pofile import read_po

    with (ROOT / "split" / "locale" / "bunkatsu.pot").open("rb") as pot:
        phrases = [m.id for m in read_po(pot) if m.id and " " in m.id and "%(" not in m.id]
    text = re.sub(r'<td class="[^"]*message[^"]*">.*?</td>|<code[^>]*>.*?</code>', " ", html, flags=re.S)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return [p for p in phrases if p in text]


def test_a_japanese_message_prints_under_an_ascii_locale(tmp_path: Path) -> None:
    """A usage error naming a Japanese path reaches stderr whole, not as a UnicodeEncodeError."""
    missing = tmp_path / "託送マッピング.yaml"
    rc, out, err = _run({"LC_ALL": "C"}, "plan", "--mapping", str(missing), "--source", "sqlite://", cwd=tmp_path)
    assert rc == 2, err
    assert "託送マッピング.yaml" in err
    assert "Traceback" not in err


def _text_file_calls_without_encoding(path: Path) -> list[str]:
    """Calls of open / Path.open / read_text / write_text in text mode that do not name an encoding."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in ("open", "read_text", "write_text") or (isinstance(node.func, ast.Attribute) and name == "open" and isinstance(node.func.value, ast.Name) and node.func.value.id == "os"):  # fmt: skip
            continue
        modes = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)] if name == "open" else []
        modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
        if name == "open" and isinstance(node.func, ast.Attribute):  # Path.open(mode): the mode is the first argument
            modes += [a.value for a in node.args[:1] if isinstance(a, ast.Constant)]
        if any("b" in str(m) for m in modes):
            continue
        if not any(k.arg == "encoding" for k in node.keywords):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_text_file_the_tool_reads_or_writes_names_its_encoding() -> None:
    sources = [p for d in ("split", "checks") for p in sorted((ROOT / d).rglob("*.py"))]
    offenders = [hit for p in sources for hit in _text_file_calls_without_encoding(p)]
    assert not offenders, f"name encoding='utf-8' at {offenders}"
