"""Medical care's numbers as data (policy.toml): how far ahead trips are planned, the pick-up
lead, the grace before a session is missed, the default destinations. Pure: no ORM."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("policy.toml")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    days_ahead: int
    pickup_lead: timedelta
    grace: timedelta
    yellow_code_hospital: str
    emergency_destination: str


def _whole(doc: dict[str, object], key: str, default: int, low: int, high: int) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise PolicyFileError(f"{key} must be a whole number from {low} to {high}")
    return value


def parse(text: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(exc)) from None
    planning = doc.get("planning", {})
    missed = doc.get("missed", {})
    places = doc.get("destinations", {})
    return Policy(
        days_ahead=_whole(planning, "days_ahead", 7, 1, 31),
        pickup_lead=timedelta(minutes=_whole(planning, "pickup_lead_minutes", 60, 0, 240)),
        grace=timedelta(minutes=_whole(missed, "grace_minutes", 0, 0, 120)),
        yellow_code_hospital=str(places.get("yellow_code_hospital", "")) or "yellow-code hospital",
        emergency_destination=str(places.get("emergency", "")) or "emergency department",
    )


@functools.cache
def _load(path: str) -> Policy:
    return parse(Path(path).read_text(encoding="utf-8"))


def policy() -> Policy:
    return _load(os.environ.get("BASTION_CARE_POLICY_FILE") or str(DEFAULT_FILE))
