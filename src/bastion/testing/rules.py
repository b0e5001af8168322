"""Pure rules of mass testing: pooling people into tubes, percentiles of turnaround."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    resident_id: int
    household_id: int
    ratio: int  # the ratio of where they live
    per_household: bool


def pool(people: Sequence[Person]) -> list[list[int]]:
    """Tubes of resident ids: each tube no fuller than its people's ratio, a household's members
    together where they fit, and a household of a per-household area in tubes of its own.

    People are taken in the order given; a household larger than its ratio fills several tubes.
    """
    tubes: list[list[int]] = []
    open_tube: dict[int, list[int]] = {}  # ratio -> the tube being filled (shared areas)
    by_household: dict[tuple[int, int, bool], list[int]] = {}
    order: list[tuple[int, int, bool]] = []
    for person in people:
        key = (person.household_id, person.ratio, person.per_household)
        if key not in by_household:
            by_household[key] = []
            order.append(key)
        by_household[key].append(person.resident_id)
    for key in order:
        _household, ratio, per_household = key
        members = by_household[key]
        if ratio <= 1:
            tubes.extend([[m] for m in members])
            continue
        chunks = [members[i : i + ratio] for i in range(0, len(members), ratio)]
        for chunk in chunks:
            if per_household:
                tubes.append(list(chunk))
                continue
            current = open_tube.get(ratio)
            if current is None or len(current) + len(chunk) > ratio:
                current = []
                tubes.append(current)
                open_tube[ratio] = current
            current.extend(chunk)
    return tubes


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by nearest rank; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
