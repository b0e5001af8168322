"""Pure rules of risk zones: which areas a case puts at risk, and when a zone's clock runs out.

Places are paths of registry ids (compound, building, unit, household); no ORM here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


# Which states a zone may move to. An in-force zone also changes level (raised, adjusted, lowered
# by its clock) without changing state; those moves are the clock rules below.
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "zone": {
        "proposed": frozenset({"in_force", "rejected"}),
        "in_force": frozenset({"lifted"}),
        "lifted": frozenset(),
        "rejected": frozenset(),
    },
}


def may_move(entity: str, state: str, to: str) -> bool:
    """May `entity` ("zone") in `state` move to `to`?"""
    return to in ALLOWED_TRANSITIONS[entity].get(state, frozenset())


def covers(*, zone: Place, zone_level: str, proposal: Proposal) -> bool:
    """Does a zone at `zone_level` over `zone` already cover `proposal`? It does when its area
    holds the proposed one and its level is the same or higher: no second zone is designated."""
    return zone.contains(proposal.place) and LEVEL_RANK[zone_level] >= LEVEL_RANK[proposal.level]


def outermost(zones: Sequence[tuple[int, Place]]) -> list[int]:
    """The ids of `zones` (id, area) that lie inside no other of them, in their given order.

    Of two zones over the same area the one with the smaller id is kept. Their people added up
    count each person once, although a unit's zone may lie inside its building's.
    """
    by_compound: dict[int, list[tuple[int, Place]]] = {}
    for zone in zones:
        by_compound.setdefault(zone[1].compound, []).append(zone)
    return [
        zone_id
        for zone_id, place in zones
        if not any(
            other_id != zone_id and other.contains(place) and (other != place or other_id < zone_id)
            for other_id, other in by_compound[place.compound]
        )
    ]


def person_days(*, residents: int, since: date | None, lifted_on: date | None, today: date) -> int:
    """Locked person-days so far: residents × the days the zone has been in force, the day it
    was lifted not counted and today counted as a day started. None before it is in force."""
    if since is None:
        return 0
    end = lifted_on if lifted_on is not None else today + timedelta(days=1)
    return residents * max((end - since).days, 0)


@dataclass(frozen=True)
class ClockSetting:
    """Where a zone's clock stands: the step it runs for and the day it counts from."""

    step: str
    clock_start: date


def clock_after_case(
    protocol: Protocol, *, level: str, step: str, clock_start: date, reported_on: date
) -> ClockSetting | None:
    """A new case inside an in-force zone restarts its clock: the zone goes back to its level's
    first step, and the clock counts from the day of the infection (a case entered late was still
    infected on its report day) and never moves backwards. None when that changes nothing."""
    first = protocol.first_step(level).name
    if clock_start >= reported_on and step == first:
        return None
    return ClockSetting(first, max(clock_start, reported_on))


def clock_after_raise(
    protocol: Protocol, *, level: str, clock_start: date, reported_on: date
) -> ClockSetting:
    """A zone raised to `level` by a new case starts that level's first step; its clock never
    moves backwards."""
    return ClockSetting(protocol.first_step(level).name, max(clock_start, reported_on))


def isolation_may_keep_clock(protocol: Protocol, *, zone: Place, home: Place) -> bool:
    """May a new case leave this zone's clock running? Only where the protocol says a case in
    a household where someone already isolates at home does not restart it (dec2022), and only
    for the zones around that household. The service then asks whether someone does isolate."""
    return not protocol.new_case_in_isolating_household_resets_clock and zone.contains(home)


def clock_after_adjustment(protocol: Protocol, *, step: str, level: str, today: date) -> ClockSetting:
    """An officer sets a zone to `level` by hand: the clock restarts today. Lowering it follows
    the protocol's own next step (v9: a zone lowered from high needs 3 more days, not the 7 of a
    zone designated medium); any other change starts the level's first step."""
    current = protocol.steps[step]
    name = current.next if current.to == level and current.next else protocol.first_step(level).name
    return ClockSetting(name, today)


@dataclass(frozen=True)
class StepDown:
    """What a zone becomes once the clock of its step has run out: lifted (`level` low), or
    lowered to `level` with the clock restarted today at `step`."""

    lifted: bool
    level: str
    step: str | None
    clock_start: date


def step_down(step: Step, *, today: date) -> StepDown:
    return StepDown(lifted=step.to == LOW, level=step.to, step=step.next, clock_start=today)


def lift_on_time(*, to: str, ready: bool) -> bool:
    """May an officer lift the zone without an override? Only once its clock has run out
    (`ready`) on a step that ends the zone (`to` low), not one that only lowers it."""
    return ready and to == LOW


def counts_in_force(*, level: str, start_on: date, end_on: date | None, day: date) -> bool:
    """Does a zone's stretch at `level`, from `start_on` until the day it changed (`end_on`,
    None while it lasts), count among the zones in force at the end of `day`? A low stretch
    never does; on the day of a change the new stretch counts, not the old one."""
    return level != LOW and start_on <= day and (end_on is None or end_on > day)


# The cases every path of counts_in_force must agree on (the rule, and the bulletin's SQL in
# selectors.zones_in_force_on): (level, start_on, end_on, day, counts), days as offsets.
IN_FORCE_CASES: tuple[tuple[str, int, int | None, int, bool], ...] = (
    (HIGH, 0, None, 0, True),  # in force from today
    (HIGH, 1, None, 0, False),  # not yet
    (HIGH, -3, None, 5, True),
    (HIGH, 0, 3, 2, True),
    (HIGH, 0, 3, 3, False),  # changed that day: the next stretch counts instead
    (MEDIUM, 3, 4, 3, True),
    (MEDIUM, 2, 2, 2, False),  # started and changed the same day
    (MEDIUM, 0, 1, 4, False),  # over
    (LOW, 0, None, 1, False),  # low is not a zone in force
)


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
