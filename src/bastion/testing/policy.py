"""Mass testing's numbers as data (policy.toml): pooling ratios per zone level, turnaround
targets, the classification a positive single tube opens. Pure: no ORM."""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("policy.toml")
LEVELS = ("high", "medium", "low")


class PolicyFileError(ValueError):
    pass


@dataclass(frozen=True)
class Pooling:
    ratio: int
    per_household: bool


@dataclass(frozen=True)
class Policy:
    pooling: dict[str, Pooling]
    validated_ratios: tuple[int, ...]
    pooled_hours: int
    single_hours: int
    positive_case_kind: str

    def pooling_json(self) -> dict[str, dict[str, object]]:
        return {
            level: {"ratio": p.ratio, "per_household": p.per_household} for level, p in self.pooling.items()
        }


def parse(text: str) -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(exc)) from None
    raw = doc.get("pooling", {})
    validated = tuple(raw.get("validated", [1, 5, 10, 20]))
    pooling = {}
    for level in LEVELS:
        entry = raw.get(level)
        if not isinstance(entry, dict) or not isinstance(entry.get("ratio"), int):
            raise PolicyFileError(f"pooling.{level}.ratio is missing")
        if entry["ratio"] not in validated:
            raise PolicyFileError(f"pooling.{level}.ratio must be one of the validated ratios {validated}")
        pooling[level] = Pooling(entry["ratio"], bool(entry.get("per_household", False)))
    turnaround = doc.get("turnaround", {})
    kind = doc.get("positive", {}).get("case_kind", "asymptomatic")
    if kind not in ("confirmed", "asymptomatic"):
        raise PolicyFileError("positive.case_kind must be confirmed or asymptomatic")
    return Policy(
        pooling=pooling,
        validated_ratios=validated,
        pooled_hours=int(turnaround.get("pooled_hours", 24)),
        single_hours=int(turnaround.get("single_hours", 6)),
        positive_case_kind=kind,
    )


@functools.cache
def _load(path: str) -> Policy:
    return parse(Path(path).read_text(encoding="utf-8"))


def policy() -> Policy:
    return _load(os.environ.get("BASTION_TESTING_POLICY_FILE") or str(DEFAULT_FILE))
