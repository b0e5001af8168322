"""Pure rules of risk zones: which areas a case puts at risk, and when a zone's clock runs out.

Places are paths of registry ids (compound, building, unit, household); no ORM here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from bastion.cases.protocol import AREAS, Protocol, Step

HIGH = "high"
MEDIUM = "medium"
LOW = "low"
LEVEL_RANK = {LOW: 0, MEDIUM: 1, HIGH: 2}


@dataclass(frozen=True)
class Place:
    compound: int
    building: int | None = None
    unit: int | None = None
    household: int | None = None
    shared: bool = False  # the compound's households share facilities

    @property
    def area(self) -> str:
        if self.household is not None:
            return "household"
        if self.unit is not None:
            return "unit"
        if self.building is not None:
            return "building"
        return "compound"

    def widen(self, area: str) -> Place:
        """This place, or the larger area around it, whichever is at least `area`."""
        rank = AREAS.index(area)
        if AREAS.index(self.area) >= rank:
            return self
        return replace(
            self,
            household=self.household if rank <= 0 else None,
            unit=self.unit if rank <= 1 else None,
            building=self.building if rank <= 2 else None,
        )

    def contains(self, other: Place) -> bool:
        return (
            self.compound == other.compound
            and (self.building is None or self.building == other.building)
            and (self.unit is None or self.unit == other.unit)
            and (self.household is None or self.household == other.household)
        )


def covering(places: Iterable[Place], *, minimum: str, compound_when_shared: bool) -> list[Place]:
    """The smallest areas, no smaller than `minimum`, that cover `places`: one per building.

    Places in one unit give that unit (or that household, where households are allowed and all
    places are one household); places in two units of a building give the building. Places in
    different buildings give one area per building rather than the whole compound: Korla's
    lesson was zones drawn too large. A courtyard with shared facilities is one area.
    """
    by_compound: dict[int, list[Place]] = {}
    for place in places:
        widened = place.widen(minimum)
        if compound_when_shared and place.shared:
            widened = widened.widen("compound")
        by_compound.setdefault(place.compound, []).append(widened)
    result: list[Place] = []
    for compound, group in sorted(by_compound.items()):
        if any(p.building is None for p in group):
            result.append(Place(compound=compound, shared=group[0].shared))
            continue
        by_building: dict[int, list[Place]] = {}
        for p in group:
            by_building.setdefault(p.building or 0, []).append(p)
        for building, inside in sorted(by_building.items()):
            units = {p.unit for p in inside}
            households = {p.household for p in inside}
            base = Place(compound=compound, building=building, shared=inside[0].shared)
            if None in units or len(units) > 1:
                result.append(base)
            elif None in households or len(households) > 1:
                result.append(replace(base, unit=inside[0].unit))
            else:
                result.append(inside[0])
    return result


@dataclass(frozen=True)
class Proposal:
    level: str
    place: Place


def designate(
    protocol: Protocol, *, residence: Place, frequent: Iterable[Place] = (), stayed: Iterable[Place] = ()
) -> list[Proposal]:
    """The zones a new case calls for under `protocol`.

    High risk: the residence and the places of frequent activity, at the smallest area the
    protocol allows. Medium risk (where the protocol has it): the other places the case
    stayed, unless a high-risk area already covers them.
    """
    highs = covering(
        [residence, *frequent],
        minimum=protocol.high_minimum,
        compound_when_shared=protocol.compound_when_shared,
    )
    proposals = [Proposal(HIGH, place) for place in highs]
    if protocol.medium_for_places_stayed and MEDIUM in protocol.levels:
        for place in covering(
            stayed, minimum=protocol.high_minimum, compound_when_shared=protocol.compound_when_shared
        ):
            if not any(high.contains(place) for high in highs):
                proposals.append(Proposal(MEDIUM, place))
    return proposals


def due_on(step: Step, clock_start: date) -> date:
    """The first day the zone may step down, if nothing resets its clock."""
    return clock_start + timedelta(days=step.days)


def screening_due_on(step: Step, clock_start: date) -> date | None:
    return None if step.screening_day is None else clock_start + timedelta(days=step.screening_day)


def step_ready(
    step: Step, *, clock_start: date, today: date, screenings: Iterable[tuple[date, bool]]
) -> bool:
    """Has the zone's clock run out? `screenings` are (day, all negative) of the zone's full rounds.

    The required screening must fall on or after its day and its latest such round must be all
    negative; a round before the clock last restarted does not count.
    """
    if today < due_on(step, clock_start):
        return False
    required = screening_due_on(step, clock_start)
    if required is None:
        return True
    counted = sorted((day, negative) for day, negative in screenings if required <= day <= today)
    return bool(counted) and counted[-1][1]


def highest_level(levels: Iterable[str]) -> str:
    """The level a household lives at: the highest of the in-force zones over it, low when none.

    The one definition of "the highest zone in force over a household"; `zones.sql.HOUSEHOLD_LEVEL`
    and `zones.selectors.household_levels` are its set-based forms (tests/zones/test_levels.py).
    """
    return max(levels, key=LEVEL_RANK.__getitem__, default=LOW)


# "The highest zone in force over a household": (name, the levels of the zones over it, level).
HIGHEST_LEVEL_CASES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("no zone", (), LOW),
    ("a low zone", (LOW,), LOW),
    ("a medium zone", (MEDIUM,), MEDIUM),
    ("a high zone", (HIGH,), HIGH),
    ("medium inside high", (MEDIUM, HIGH), HIGH),
    ("high inside medium", (HIGH, MEDIUM), HIGH),
    ("low and medium", (LOW, MEDIUM), MEDIUM),
    ("all three", (LOW, HIGH, MEDIUM), HIGH),
    ("two mediums", (MEDIUM, MEDIUM), MEDIUM),
)
