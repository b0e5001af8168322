"""Living supplies' numbers as data (policy.toml): consumption per person, days-of-supply alert
thresholds, the price rule, the weight tolerance, the standard package and its cycle, delivery
deadlines. Pure: no ORM."""

from __future__ import annotations

import functools
import math
import os
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeGuard

DEFAULT_FILE = Path(__file__).with_name("policy.toml")
CATEGORIES = ("grain_oil", "vegetables", "meat", "eggs", "milk", "fruit", "infant", "medicine")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True)
class Policy:
    consumption_kg: dict[str, Decimal]
    alert_days: dict[str, Decimal]
    baseline_days: int
    baseline_date: date | None
    cap: Decimal
    weight_tolerance: Decimal
    standard_item: str
    standard_every_days: int
    normal_hours: int
    vulnerable_hours: int


def _number(value: object) -> TypeGuard[int | float]:
    """A finite number (TOML's booleans, nan and inf are not amounts)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _decimals(table: object, name: str) -> dict[str, Decimal]:
    if not isinstance(table, dict):
        raise PolicyFileError(f"[{name}] is missing")
    out = {}
    for category, value in table.items():
        if category not in CATEGORIES:
            raise PolicyFileError(f"{name}.{category}: not a category ({', '.join(CATEGORIES)})")
        if not _number(value) or value < 0:
            raise PolicyFileError(f"{name}.{category} must be a number, 0 or more")
        out[category] = Decimal(str(value))
    return out


def _positive_int(section: dict[str, object], key: str, where: str) -> int:
    value = section.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PolicyFileError(f"{where}.{key} must be a whole number, 1 or more")
    return value


def _baseline_date(value: object) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise PolicyFileError("prices.baseline_date must be a date such as 2022-09-01")


def parse(text: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(exc)) from None
    prices = doc.get("prices", {})
    weight = doc.get("weight", {})
    standard = doc.get("standard", {})
    deadlines = doc.get("deadlines", {})
    cap = prices.get("cap")
    tolerance = weight.get("tolerance")
    if not _number(cap) or not 0 <= cap <= 10:
        raise PolicyFileError("prices.cap must be a share such as 0.35")
    if not _number(tolerance) or not 0 <= tolerance < 1:
        raise PolicyFileError("weight.tolerance must be a share such as 0.02")
    if not isinstance(standard.get("item"), str) or not standard["item"].strip():
        raise PolicyFileError("standard.item must name a catalogue item's code")
    return Policy(
        consumption_kg=_decimals(doc.get("consumption_kg"), "consumption_kg"),
        alert_days=_decimals(doc.get("alert_days"), "alert_days"),
        baseline_days=_positive_int(prices, "baseline_days", "prices"),
        baseline_date=_baseline_date(prices.get("baseline_date")),
        cap=Decimal(str(cap)),
        weight_tolerance=Decimal(str(tolerance)),
        standard_item=standard["item"].strip(),
        standard_every_days=_positive_int(standard, "every_days", "standard"),
        normal_hours=_positive_int(deadlines, "normal_hours", "deadlines"),
        vulnerable_hours=_positive_int(deadlines, "vulnerable_hours", "deadlines"),
    )


@functools.cache
def _load(path: str) -> Policy:
    return parse(Path(path).read_text(encoding="utf-8"))


def policy() -> Policy:
    return _load(os.environ.get("BASTION_SUPPLY_POLICY_FILE") or str(DEFAULT_FILE))
