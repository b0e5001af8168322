"""The Chinese catalogue is complete and compiled: no English left on a Chinese page."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bastion

LOCALE = Path(bastion.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"
STRING = r'(?:"(?:[^"\\\n]|\\.)*"\n)+'
ENTRY = re.compile(
    rf"(?P<flags>(?:#,[^\n]*\n)?)(?:#\|[^\n]*\n)*(?:msgctxt (?P<ctx>{STRING}))?"
    rf"msgid (?P<id>{STRING})msgstr (?P<str>{STRING})"
)


def _text(block: str | None) -> str:
    raw = "".join(re.findall(r'"((?:[^"\\\n]|\\.)*)"', block or ""))
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), raw)


def entries() -> list[tuple[str, str, str, str]]:
    po = (LOCALE / "django.po").read_text(encoding="utf-8")
    return [
        (m["flags"], _text(m["ctx"]), _text(m["id"]), _text(m["str"]))
        for m in ENTRY.finditer(po)
        if m["id"].strip() != '""'
    ]


def test_every_message_is_translated_and_none_is_fuzzy() -> None:
    found = entries()
    assert len(found) > 400
    assert [msgid for flags, _ctx, msgid, _msgstr in found if "fuzzy" in flags] == []
    assert [msgid for _flags, _ctx, msgid, msgstr in found if not msgstr] == []


def test_the_compiled_catalogue_holds_every_translation() -> None:
    with (LOCALE / "django.mo").open("rb") as mo:
        catalogue = gettext.GNUTranslations(mo)
    missing = [
        msgid
        for _flags, ctx, msgid, msgstr in entries()
        if (catalogue.pgettext(ctx, msgid) if ctx else catalogue.gettext(msgid)) != msgstr
    ]
    assert missing == []


def test_the_catalogue_holds_every_message_of_the_code(tmp_path: Path) -> None:
    """makemessages run on a copy of the code finds no message the catalogue lacks: a string
    added without `make messages` would show in English on a Chinese page."""
    source = Path(bastion.__file__).parent
    copy = tmp_path / "bastion"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run(
        [str(Path(sys.executable).with_name("bastion")), "makemessages", "-l", "zh_Hans", "--no-obsolete"],
        cwd=copy,
        env={**os.environ, "BASTION_DEV": "1"},
        check=True,
        capture_output=True,
    )
    fresh = (copy / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po").read_text(encoding="utf-8")
    known = {(ctx, msgid) for _flags, ctx, msgid, _msgstr in entries()}
    found = {(_text(m["ctx"]), _text(m["id"])) for m in ENTRY.finditer(fresh) if m["id"].strip() != '""'}
    assert sorted(found - known) == []
