"""Appeals' numbers as data (policy.toml): deadlines by urgency and under lockdown, the lights,
escalation, the silence that closes a replied ticket, and the triage table. Pure: no ORM."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bastion.appeals import rules

DEFAULT_FILE = Path(__file__).with_name("policy.toml")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    version: str
    deadlines: rules.Deadlines
    yellow_share: float
    escalation_step: timedelta
    top_level: int
    silent: timedelta
    triage: tuple[rules.TriageRule, ...]
    default_owner: str


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PolicyFileError(f"[{key}] must be a table")
    return value


def _whole(doc: dict[str, Any], key: str, low: int, high: int) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PolicyFileError(f"{key} must be a whole number from {low} to {high}")
    return value


def _minutes(doc: dict[str, Any], key: str) -> timedelta:
    return timedelta(minutes=_whole(doc, key, 1, 60 * 24 * 60))


def _owner(value: object) -> str:
    if value not in rules.OWNER_KINDS:
        raise PolicyFileError(f"owner {value!r} is not one of {', '.join(rules.OWNER_KINDS)}")
    return str(value)


def _rule(line: object) -> rules.TriageRule:
    if not isinstance(line, dict):
        raise PolicyFileError("each [[triage.rules]] is a table")
    unknown = set(line) - {"owner", "category", "urgency", "about"}
    if unknown:
        raise PolicyFileError(f"unknown triage fields: {', '.join(sorted(unknown))}")
    category, urgency, about = (str(line.get(k, "")) for k in ("category", "urgency", "about"))
    if category and category not in rules.CATEGORIES:
        raise PolicyFileError(f"triage category {category!r} is unknown")
    if urgency and urgency not in rules.URGENCIES:
        raise PolicyFileError(f"triage urgency {urgency!r} is unknown")
    if about and about not in rules.ABOUT_KINDS:
        raise PolicyFileError(f"triage about {about!r} is unknown")
    return rules.TriageRule(owner=_owner(line.get("owner")), category=category, urgency=urgency, about=about)


def parse(text: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(exc)) from None
    version = doc.get("version")
    if not isinstance(version, str) or not version:
        raise PolicyFileError("version must be given")
    deadlines = _table(doc, "deadlines")
    by_urgency = {}
    for urgency in rules.URGENCIES:
        row = _table(deadlines, urgency)
        by_urgency[urgency] = rules.Window(
            sign=_minutes(row, "sign_minutes"), reply=_minutes(row, "reply_minutes")
        )
    lockdown = _table(doc, "lockdown")
    caps = _table(lockdown, "reply_minutes")
    for category in caps:
        if category not in rules.CATEGORIES:
            raise PolicyFileError(f"lockdown category {category!r} is unknown")
    lights = _table(doc, "lights")
    share = lights.get("yellow_share")
    if not isinstance(share, int | float) or isinstance(share, bool) or not 0 <= share <= 1:
        raise PolicyFileError("yellow_share must be a number from 0 to 1")
    escalation = _table(doc, "escalation")
    triage = _table(doc, "triage")
    lines = triage.get("rules", [])
    if not isinstance(lines, list):
        raise PolicyFileError("[[triage.rules]] must be a list of tables")
    return Policy(
        version=version,
        deadlines=rules.Deadlines(
            by_urgency=by_urgency,
            lockdown_reply={category: _minutes(caps, category) for category in caps},
            lockdown_vulnerable_reply=_minutes(lockdown, "vulnerable_reply_minutes"),
            lockdown_medical_emergency_reply=_minutes(lockdown, "medical_emergency_reply_minutes"),
            lockdown_sign=_minutes(lockdown, "sign_minutes"),
        ),
        yellow_share=float(share),
        escalation_step=_minutes(escalation, "step_minutes"),
        top_level=_whole(escalation, "top_level", 1, len(rules.LEVELS) - 1),
        silent=timedelta(hours=_whole(_table(doc, "closing"), "silent_hours", 1, 24 * 60)),
        triage=tuple(_rule(line) for line in lines),
        default_owner=_owner(triage.get("default_owner", rules.OWNER_COMMUNITY)),
    )


@functools.cache
def _load(path: str) -> Policy:
    return parse(Path(path).read_text(encoding="utf-8"))


def policy() -> Policy:
    return _load(os.environ.get("BASTION_APPEALS_POLICY_FILE") or str(DEFAULT_FILE))
