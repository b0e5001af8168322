"""Transfer's numbers as data (policy.toml): where each kind of person is admitted, who is at
high risk, who needs a carer, deadlines, the discharge rule by protocol, the assignment's
weights. Pure: no ORM."""

from __future__ import annotations

import contextlib
import functools
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).with_name("policy.toml")
FACILITY_KINDS = ("designated_hospital", "shelter_hospital", "isolation_point", "yellow_code_hospital")
BED_KINDS = ("ordinary", "intensive", "room")
SEVERITIES = ("asymptomatic", "mild", "ordinary", "severe", "critical")
ADMISSIONS = (*SEVERITIES, "high_risk", "contact")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True)
class Admission:
    places: tuple[str, ...]  # facility kinds, preferred first
    bed: str


@dataclass(frozen=True)
class Discharge:
    tests: int
    hours_apart: int
    ct_at_least: float
    home_monitoring_days: int


@dataclass(frozen=True)
class Policy:
    admission: dict[str, Admission]
    severity_of_kind: dict[str, str]
    elderly_from_age: int
    high_risk_pregnant: bool
    high_risk_dialysis: bool
    chronic_needs: frozenset[str]
    child_under_age: int
    dependent_from_age: int
    disabled_needs_carer: bool
    adult_from_age: int
    together_within_days: int
    case_pickup_hours: int
    case_admit_hours: int
    contact_pickup_hours: int
    discharge: dict[str, Discharge]
    severity_weight: dict[str, float]
    contact_weight: float
    high_risk_weight: float
    per_hour_waited: float
    emergency_weight: float
    crews_confirm_by_themselves: bool

    def discharge_rule(self, protocol: str) -> Discharge:
        return self.discharge.get(protocol) or self.discharge["v9"]


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise PolicyFileError(f"[{name}] must be a table")
    return value


def _int(table: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyFileError(f"{where}.{key} must be a whole number of 0 or more")
    return value


def parse(text: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(exc)) from None
    admission = {}
    raw = _section(doc, "admission")
    for who in ADMISSIONS:
        entry = raw.get(who)
        if not isinstance(entry, dict):
            raise PolicyFileError(f"admission.{who} is missing")
        places = tuple(entry.get("places", ()))
        if not places or any(p not in FACILITY_KINDS for p in places):
            raise PolicyFileError(f"admission.{who}.places must name facility kinds of {FACILITY_KINDS}")
        if entry.get("bed") not in BED_KINDS:
            raise PolicyFileError(f"admission.{who}.bed must be one of {BED_KINDS}")
        admission[who] = Admission(places, entry["bed"])
    severity = _section(doc, "severity")
    for kind in ("confirmed", "asymptomatic"):
        if severity.get(kind) not in SEVERITIES:
            raise PolicyFileError(f"severity.{kind} must be one of {SEVERITIES}")
    risk, carer = _section(doc, "high_risk"), _section(doc, "carer")
    chronic_needs = risk.get("chronic_needs", [])
    if not isinstance(chronic_needs, list) or not all(isinstance(n, str) and n for n in chronic_needs):
        raise PolicyFileError("high_risk.chronic_needs must be a list of kinds of standing medical need")
    deadlines = _section(doc, "deadlines")
    discharge = {}
    for protocol, entry in _section(doc, "discharge").items():
        where = f"discharge.{protocol}"
        ct = entry.get("ct_at_least")
        if not isinstance(ct, int | float):
            raise PolicyFileError(f"{where}.ct_at_least must be a number")
        discharge[protocol] = Discharge(
            tests=max(_int(entry, "tests", where), 1),
            hours_apart=_int(entry, "hours_apart", where),
            ct_at_least=float(ct),
            home_monitoring_days=_int(entry, "home_monitoring_days", where),
        )
    if "v9" not in discharge:
        raise PolicyFileError("discharge.v9 is missing")
    priority = _section(doc, "priority")
    weights = priority.get("severity", {})
    if set(weights) != set(SEVERITIES):
        raise PolicyFileError(f"priority.severity must weigh each of {SEVERITIES}")
    return Policy(
        admission=admission,
        severity_of_kind={kind: severity[kind] for kind in ("confirmed", "asymptomatic")},
        elderly_from_age=_int(risk, "elderly_from_age", "high_risk", 65),
        high_risk_pregnant=bool(risk.get("pregnant", True)),
        high_risk_dialysis=bool(risk.get("dialysis", True)),
        chronic_needs=frozenset(chronic_needs),
        child_under_age=_int(carer, "child_under_age", "carer", 14),
        dependent_from_age=_int(carer, "dependent_from_age", "carer", 80),
        disabled_needs_carer=bool(carer.get("disabled", True)),
        adult_from_age=_int(carer, "adult_from_age", "carer", 18),
        together_within_days=_int(_section(doc, "household"), "together_within_days", "household", 3),
        case_pickup_hours=_int(deadlines, "case_pickup_hours", "deadlines", 12),
        case_admit_hours=_int(deadlines, "case_admit_hours", "deadlines", 24),
        contact_pickup_hours=_int(deadlines, "contact_pickup_hours", "deadlines", 12),
        discharge=discharge,
        severity_weight={k: float(v) for k, v in weights.items()},
        contact_weight=float(priority.get("contact", 0)),
        high_risk_weight=float(priority.get("high_risk", 3)),
        per_hour_waited=float(priority.get("per_hour_waited", 0.5)),
        emergency_weight=float(priority.get("emergency", 100)),
        crews_confirm_by_themselves=bool(_section(doc, "crews").get("confirm_by_themselves", False)),
    )


@functools.cache
def _load(path: str) -> Policy:
    return parse(Path(path).read_text(encoding="utf-8"))


_override: list[Policy] = []


def policy() -> Policy:
    if _override:
        return _override[-1]
    return _load(os.environ.get("BASTION_TRANSFER_POLICY_FILE") or str(DEFAULT_FILE))


@contextlib.contextmanager
def changed(**changes: Any) -> Iterator[Policy]:
    """The policy with `changes` while the block runs (a scenario's crews that confirm by
    themselves: `changed(crews_confirm_by_themselves=True)`)."""
    changed_policy = replace(policy(), **changes)
    _override.append(changed_policy)
    try:
        yield changed_policy
    finally:
        _override.remove(changed_policy)
