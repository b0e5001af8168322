"""The province's health-code rules as data (policy.toml), read and checked. Pure: no ORM."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("policy.toml")

RED, YELLOW, GREEN = "red", "yellow", "green"
COLOURS = (RED, YELLOW, GREEN)  # most severe first
# What the platform knows of a resident, each a yes or no (policy.toml's header says which).
FACTS = (
    "case",
    "close_contact",
    "high_risk_zone",
    "secondary_contact",
    "pool_retest",
    "medium_risk_zone",
    "missed_screening",
    "home_monitoring",
)
LANGUAGES = ("zh-hans", "en")


class RulesFileError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    id: str
    fact: str
    colour: str
    words: dict[str, str]  # by language

    def said(self, language: str) -> str:
        return self.words.get(language) or self.words[LANGUAGES[0]]


@dataclass(frozen=True)
class Windows:
    """How long the facts that end by time alone hold, in days."""

    missed_screening_days: int = 7  # a missed round counts this long after its deadline


@dataclass(frozen=True)
class CodeRules:
    version: str
    rules: tuple[Rule, ...]
    windows: Windows = Windows()

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def parse(text: str) -> CodeRules:
    """The rules of a file, or `RulesFileError` saying what is wrong with it."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesFileError(str(exc)) from None
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip():
        raise RulesFileError("version is missing: every colour records the rules' version")
    rules: list[Rule] = []
    for n, raw in enumerate(doc.get("rule", []), start=1):
        where = f"rule {n}"
        if not isinstance(raw, dict):
            raise RulesFileError(f"{where} is not a table")
        rule_id, fact, colour, words = raw.get("id"), raw.get("fact"), raw.get("colour"), raw.get("words")
        if not isinstance(rule_id, str) or not rule_id:
            raise RulesFileError(f"{where}: id is missing")
        if rule_id in {r.id for r in rules}:
            raise RulesFileError(f"{where}: the id {rule_id} is used twice")
        if fact not in FACTS:
            raise RulesFileError(f"{where} ({rule_id}): fact must be one of {', '.join(FACTS)}")
        if colour not in (RED, YELLOW):
            raise RulesFileError(f"{where} ({rule_id}): colour must be red or yellow (green is the rest)")
        if not isinstance(words, dict) or not all(isinstance(words.get(lang), str) for lang in LANGUAGES):
            raise RulesFileError(f"{where} ({rule_id}): words are needed in {' and '.join(LANGUAGES)}")
        rules.append(Rule(rule_id, fact, colour, {lang: words[lang] for lang in LANGUAGES}))
    if not rules:
        raise RulesFileError("the file holds no rule")
    return CodeRules(version=version.strip(), rules=tuple(rules), windows=_windows(doc.get("windows", {})))


def _windows(raw: object) -> Windows:
    if not isinstance(raw, dict):
        raise RulesFileError("windows must be a table of days")
    values = {}
    for name in Windows.__dataclass_fields__:
        value = raw.get(name, getattr(Windows, name))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60:
            raise RulesFileError(f"windows.{name} must be a whole number of days from 0 to 60")
        values[name] = value
    if "discharge_monitoring_days" in raw:
        # It was here once, beside transfer's own figure, and the two disagreed under dec2022.
        raise RulesFileError(
            "windows.discharge_monitoring_days is gone: the days of home monitoring after a discharge"
            " are the discharge rule's of each protocol (transfer/policy.toml, home_monitoring_days)"
        )
    unknown = set(raw) - set(values)
    if unknown:
        raise RulesFileError(f"windows.{sorted(unknown)[0]} is not a window the platform knows")
    return Windows(**values)


@functools.cache
def _load(path: str) -> CodeRules:
    return parse(Path(path).read_text(encoding="utf-8"))


def code_rules() -> CodeRules:
    return _load(os.environ.get("BASTION_CODES_POLICY_FILE") or str(DEFAULT_FILE))
