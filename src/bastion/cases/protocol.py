"""The national protocols (v9, nov2022, dec2022) as data: read from protocols.toml, checked once.

Pure: no ORM. Cases use the contact plans; zones use the areas and the clock's steps.
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AREAS = ("household", "unit", "building", "compound")
LEVELS = ("high", "medium", "low")
DEFAULT_FILE = Path(__file__).with_name("protocols.toml")


class ProtocolFileError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    name: str
    to: str
    days: int
    screening_day: int | None
    next: str | None


@dataclass(frozen=True)
class ContactPlanRule:
    centralised_days: int
    home_days: int
    test_days: tuple[int, ...]
    home_test_days: tuple[int, ...]


@dataclass(frozen=True)
class Protocol:
    code: str
    title: str
    title_zh: str
    levels: tuple[str, ...]
    high_minimum: str
    compound_when_shared: bool
    medium_for_places_stayed: bool
    secondary_contacts: bool
    new_case_in_isolating_household_resets_clock: bool
    designation_deadline_hours: int
    steps: dict[str, Step]
    contacts: dict[str, ContactPlanRule]

    def first_step(self, level: str) -> Step:
        """The step a zone starts at when it is designated (or its clock restarts) at `level`."""
        try:
            return self.steps[level]
        except KeyError:
            raise ProtocolFileError(f"{self.code} has no step for a {level} zone") from None


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in table:
        raise ProtocolFileError(f"{where}.{key} is missing")
    value = table[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ProtocolFileError(f"{where}.{key} must be a {kind.__name__}")
    return value


def _days(values: Any, where: str) -> tuple[int, ...]:
    if not isinstance(values, list) or not all(isinstance(v, int) and v >= 0 for v in values):
        raise ProtocolFileError(f"{where} must be a list of day numbers")
    return tuple(values)


def _protocol(code: str, table: dict[str, Any]) -> Protocol:
    levels = tuple(_need(table, "levels", list, code))
    if not levels or any(level not in ("high", "medium") for level in levels):
        raise ProtocolFileError(f"{code}.levels may hold only high and medium")
    high_minimum = _need(table, "high_minimum", str, code)
    if high_minimum not in AREAS:
        raise ProtocolFileError(f"{code}.high_minimum must be one of {', '.join(AREAS)}")
    steps: dict[str, Step] = {}
    for name, raw in _need(table, "steps", dict, code).items():
        where = f"{code}.steps.{name}"
        to = _need(raw, "to", str, where)
        if to not in LEVELS:
            raise ProtocolFileError(f"{where}.to must be one of {', '.join(LEVELS)}")
        days = _need(raw, "days", int, where)
        screening = raw.get("screening_day")
        if screening is not None and (not isinstance(screening, int) or not 0 < screening <= days):
            raise ProtocolFileError(f"{where}.screening_day must be a day from 1 to {days}")
        steps[name] = Step(name=name, to=to, days=days, screening_day=screening, next=raw.get("next"))
    for level in levels:
        if level not in steps:
            raise ProtocolFileError(f"{code}.steps.{level} is missing: a {level} zone must be able to end")
    for step in steps.values():
        if step.to != "low" and (step.next is None or step.next not in steps):
            raise ProtocolFileError(f"{code}.steps.{step.name}.next must name a step of {code}")
    contacts: dict[str, ContactPlanRule] = {}
    for kind, raw in _need(table, "contacts", dict, code).items():
        where = f"{code}.contacts.{kind}"
        contacts[kind] = ContactPlanRule(
            centralised_days=_need(raw, "centralised_days", int, where),
            home_days=_need(raw, "home_days", int, where),
            test_days=_days(raw.get("test_days", []), f"{where}.test_days"),
            home_test_days=_days(raw.get("home_test_days", []), f"{where}.home_test_days"),
        )
    secondary = bool(table.get("secondary_contacts", False))
    if "close" not in contacts or (secondary and "secondary" not in contacts):
        raise ProtocolFileError(f"{code}.contacts needs a plan for every kind of contact it identifies")
    return Protocol(
        code=code,
        title=str(table.get("title", code)),
        title_zh=str(table.get("title_zh", table.get("title", code))),
        levels=levels,
        high_minimum=high_minimum,
        compound_when_shared=bool(table.get("compound_when_shared", True)),
        medium_for_places_stayed=bool(table.get("medium_for_places_stayed", False)),
        secondary_contacts=secondary,
        new_case_in_isolating_household_resets_clock=bool(
            table.get("new_case_in_isolating_household_resets_clock", True)
        ),
        designation_deadline_hours=int(table.get("designation_deadline_hours", 5)),
        steps=steps,
        contacts=contacts,
    )


def parse(text: str) -> dict[str, Protocol]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolFileError(str(exc)) from None
    return {code: _protocol(code, table) for code, table in doc.items()}


@functools.cache
def _load(path: str) -> dict[str, Protocol]:
    return parse(Path(path).read_text(encoding="utf-8"))


def protocols() -> dict[str, Protocol]:
    return _load(os.environ.get("BASTION_PROTOCOLS_FILE") or str(DEFAULT_FILE))


def get(code: str) -> Protocol:
    try:
        return protocols()[code]
    except KeyError:
        raise ProtocolFileError(f"unknown protocol {code!r}") from None
