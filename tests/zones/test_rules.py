"""The pure rules of zones: the smallest covering area and the protocol's clock."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.cases import protocol as protocols
from bastion.cases.protocol import AREAS
from bastion.zones import rules
from bastion.zones.models import ZoneState
from bastion.zones.rules import Place

V9, NOV, DEC = protocols.get("v9"), protocols.get("nov2022"), protocols.get("dec2022")
START = date(2022, 9, 1)


def home(
    building: int = 2, unit: int = 1, household: int = 301, compound: int = 1, shared: bool = False
) -> Place:
    return Place(compound=compound, building=building, unit=unit, household=household, shared=shared)


def test_one_case_at_home_puts_its_unit_at_high_risk_under_v9_and_its_household_under_dec2022() -> None:
    assert rules.designate(V9, residence=home()) == [rules.Proposal("high", Place(1, 2, 1))]
    assert rules.designate(NOV, residence=home()) == [rules.Proposal("high", Place(1, 2, 1))]
    assert rules.designate(DEC, residence=home()) == [rules.Proposal("high", home())]


def test_a_frequent_place_in_the_next_unit_widens_the_zone_to_the_building_not_the_compound() -> None:
    proposals = rules.designate(NOV, residence=home(), frequent=[home(unit=2, household=502)])
    assert proposals == [rules.Proposal("high", Place(1, 2))]


def test_places_in_two_buildings_give_two_zones_rather_than_the_compound() -> None:
    proposals = rules.designate(V9, residence=home(), frequent=[home(building=5, unit=1, household=101)])
    assert [p.place for p in proposals] == [Place(1, 2, 1), Place(1, 5, 1)]


def test_a_courtyard_with_shared_facilities_is_one_area_under_every_protocol() -> None:
    for protocol in (V9, NOV, DEC):
        proposals = rules.designate(protocol, residence=home(shared=True))
        assert proposals == [rules.Proposal("high", Place(1, shared=True))]


def test_v9_puts_places_stayed_at_medium_risk_unless_a_high_zone_covers_them() -> None:
    stayed = [home(compound=7, building=1, unit=1, household=101), home(unit=1, household=602)]
    proposals = rules.designate(V9, residence=home(), stayed=stayed)
    assert proposals == [rules.Proposal("high", Place(1, 2, 1)), rules.Proposal("medium", Place(7, 1, 1))]
    assert [p.level for p in rules.designate(NOV, residence=home(), stayed=stayed)] == ["high"]


places = st.builds(
    Place,
    compound=st.integers(1, 3),
    building=st.integers(1, 3),
    unit=st.integers(1, 2),
    household=st.integers(1, 4),
    shared=st.just(False),
)


@given(st.lists(places, min_size=1, max_size=8), st.sampled_from(AREAS))
def test_covering_covers_every_place_with_areas_no_smaller_than_allowed(
    items: list[Place], minimum: str
) -> None:
    areas = rules.covering(items, minimum=minimum, compound_when_shared=True)
    assert all(any(area.contains(p) for area in areas) for p in items)
    assert all(AREAS.index(area.area) >= AREAS.index(minimum) for area in areas)
    # Never the whole compound unless asked: one area per building at most.
    if minimum != "compound":
        assert all(area.building is not None for area in areas)
    assert len({(a.compound, a.building) for a in areas}) == len(areas)


@given(st.lists(places, min_size=1, max_size=8))
def test_a_covering_area_is_no_larger_than_needed(items: list[Place]) -> None:
    for area in rules.covering(items, minimum="household", compound_when_shared=True):
        inside = [p for p in items if area.contains(p)]
        if area.area == "building":
            assert len({p.unit for p in inside}) > 1
        if area.area == "unit":
            assert len({p.household for p in inside}) > 1


def test_v9_high_steps_down_on_day_7_only_with_a_negative_screening_on_or_after_day_7() -> None:
    step = V9.steps["high"]
    day7 = START + timedelta(days=7)
    assert not rules.step_ready(step, clock_start=START, today=day7, screenings=[])
    assert not rules.step_ready(
        step, clock_start=START, today=day7, screenings=[(START + timedelta(days=6), True)]
    )
    assert not rules.step_ready(step, clock_start=START, today=day7, screenings=[(day7, False)])
    assert rules.step_ready(step, clock_start=START, today=day7, screenings=[(day7, True)])
    assert not rules.step_ready(
        step, clock_start=START, today=day7 - timedelta(days=1), screenings=[(day7, True)]
    )
    assert step.to == "medium"
    after = V9.steps[step.next or ""]
    assert (after.to, after.days, after.screening_day) == ("low", 3, None)


@given(st.integers(0, 30), st.integers(0, 30))
def test_a_clock_without_a_screening_never_stops_being_ready_once_it_is(days: int, more: int) -> None:
    step = DEC.steps["high"]
    today = START + timedelta(days=days)
    if rules.step_ready(step, clock_start=START, today=today, screenings=[]):
        later = today + timedelta(days=more)
        assert rules.step_ready(step, clock_start=START, today=later, screenings=[])
    assert rules.step_ready(step, clock_start=START, today=today, screenings=[]) == (days >= 5)


# --- a zone's moves ------------------------------------------------------------------------

ZONE_MOVES = [
    ("proposed", "in_force", True),
    ("proposed", "rejected", True),
    ("proposed", "lifted", False),
    ("in_force", "lifted", True),
    ("in_force", "rejected", False),
    ("in_force", "proposed", False),
    ("lifted", "in_force", False),
    ("lifted", "rejected", False),
    ("rejected", "in_force", False),
    ("rejected", "lifted", False),
]


@pytest.mark.parametrize(("state", "to", "allowed"), ZONE_MOVES)
def test_a_zone_moves_only_where_its_transition_map_allows(state: str, to: str, allowed: bool) -> None:
    assert rules.may_move("zone", state, to) is allowed


def test_the_transition_map_names_every_zone_state_and_no_other() -> None:
    assert set(rules.ALLOWED_TRANSITIONS["zone"]) == set(ZoneState.values)
    assert set().union(*rules.ALLOWED_TRANSITIONS["zone"].values()) <= set(ZoneState.values)


# --- the clock -----------------------------------------------------------------------------


def day(n: int) -> date:
    return START + timedelta(days=n)


CLOCK_AFTER_CASE = [
    # protocol, level, step, clock start, case reported on, (step, clock start) or None
    (V9, "high", "high", 0, 2, ("high", 2)),  # a new case: the clock counts from its day
    (V9, "high", "high", 2, 2, None),  # a second case the same day changes nothing
    (V9, "high", "high", 3, 1, None),  # a case entered late never moves the clock back
    (V9, "medium", "medium_after_high", 4, 2, ("medium", 4)),  # back to the level's first step
    (V9, "medium", "medium_after_high", 4, 6, ("medium", 6)),
    (V9, "medium", "medium", 0, 5, ("medium", 5)),
    (DEC, "high", "high", 0, 3, ("high", 3)),
]


@pytest.mark.parametrize(("protocol", "level", "step", "start", "reported", "expected"), CLOCK_AFTER_CASE)
def test_a_new_case_in_a_zone_restarts_its_clock_from_the_case_and_never_backwards(
    protocol: protocols.Protocol,
    level: str,
    step: str,
    start: int,
    reported: int,
    expected: tuple[str, int] | None,
) -> None:
    restarted = rules.clock_after_case(
        protocol, level=level, step=step, clock_start=day(start), reported_on=day(reported)
    )
    if expected is None:
        assert restarted is None
    else:
        assert restarted == rules.ClockSetting(expected[0], day(expected[1]))


@pytest.mark.parametrize(
    ("level", "start", "reported", "expected"),
    [("high", 0, 3, ("high", 3)), ("high", 4, 2, ("high", 4)), ("medium", 1, 1, ("medium", 1))],
)
def test_a_raised_zone_starts_its_new_levels_first_step_and_keeps_the_later_clock(
    level: str, start: int, reported: int, expected: tuple[str, int]
) -> None:
    raised = rules.clock_after_raise(V9, level=level, clock_start=day(start), reported_on=day(reported))
    assert raised == rules.ClockSetting(expected[0], day(expected[1]))


ISOLATION = [
    # protocol, zone, keeps the clock if someone isolates at home
    (DEC, home(), True),  # the household's own zone
    (DEC, Place(1, 2, 1), True),  # a zone around the household
    (DEC, Place(1, 2, 2), False),  # a zone elsewhere in the compound
    (V9, home(), False),  # v9 and nov2022 always restart the clock
    (NOV, Place(1, 2), False),
]


@pytest.mark.parametrize(("protocol", "zone", "may_keep"), ISOLATION)
def test_dec2022_keeps_the_clock_only_around_a_household_where_someone_isolates(
    protocol: protocols.Protocol, zone: Place, may_keep: bool
) -> None:
    assert rules.isolation_may_keep_clock(protocol, zone=zone, home=home()) is may_keep


COVERED = [
    # zone's area, zone's level, proposal, covered (no second zone)
    (Place(1, 2, 1), "high", rules.Proposal("high", Place(1, 2, 1)), True),
    (Place(1, 2), "high", rules.Proposal("high", Place(1, 2, 1)), True),  # a larger area
    (Place(1, 2, 1), "high", rules.Proposal("medium", Place(1, 2, 1)), True),  # a higher level
    (Place(1, 2, 1), "medium", rules.Proposal("high", Place(1, 2, 1)), False),  # lower: it is raised
    (Place(1, 2, 1), "high", rules.Proposal("high", Place(1, 2)), False),  # a smaller area
    (Place(1, 2, 1), "high", rules.Proposal("high", Place(1, 2, 2)), False),  # next door
    (Place(1), "medium", rules.Proposal("medium", home()), True),
    (Place(1), "medium", rules.Proposal("medium", home(compound=2)), False),
]


@pytest.mark.parametrize(("zone", "level", "proposal", "covered"), COVERED)
def test_a_zone_of_an_equal_or_higher_level_over_the_area_covers_a_new_proposal(
    zone: Place, level: str, proposal: rules.Proposal, covered: bool
) -> None:
    assert rules.covers(zone=zone, zone_level=level, proposal=proposal) is covered


ADJUSTMENTS = [
    # protocol, current step, level set by hand, step that follows
    (V9, "high", "medium", "medium_after_high"),  # lowered from high: v9's own next step, 3 days
    (V9, "medium_after_high", "high", "high"),  # raised: the level's first step
    (V9, "medium", "high", "high"),
]


@pytest.mark.parametrize(("protocol", "step", "level", "expected"), ADJUSTMENTS)
def test_an_officer_lowering_a_zone_starts_the_protocols_next_step_today(
    protocol: protocols.Protocol, step: str, level: str, expected: str
) -> None:
    adjusted = rules.clock_after_adjustment(protocol, step=step, level=level, today=day(4))
    assert adjusted == rules.ClockSetting(expected, day(4))


STEP_DOWNS = [
    # protocol, step run out, (lifted, level, next step)
    (V9, "high", (False, "medium", "medium_after_high")),
    (V9, "medium", (True, "low", None)),
    (V9, "medium_after_high", (True, "low", None)),
    (NOV, "high", (True, "low", None)),
    (DEC, "high", (True, "low", None)),
]


@pytest.mark.parametrize(("protocol", "step", "expected"), STEP_DOWNS)
def test_a_zone_whose_clock_ran_out_is_lowered_with_its_clock_restarted_or_lifted(
    protocol: protocols.Protocol, step: str, expected: tuple[bool, str, str | None]
) -> None:
    down = rules.step_down(protocol.steps[step], today=day(9))
    assert (down.lifted, down.level, down.step, down.clock_start) == (*expected, day(9))


@pytest.mark.parametrize(
    ("to", "ready", "on_time"),
    [("low", True, True), ("low", False, False), ("medium", True, False), ("medium", False, False)],
)
def test_an_officer_lifts_without_an_override_only_a_zone_whose_last_clock_ran_out(
    to: str, ready: bool, on_time: bool
) -> None:
    assert rules.lift_on_time(to=to, ready=ready) is on_time


# --- person-days ---------------------------------------------------------------------------

PERSON_DAYS = [
    # residents, since, lifted on, today, person-days
    (18, None, None, 0, 0),  # proposed: nobody locked yet
    (18, 0, None, 0, 18),  # the first day counts once started
    (18, 0, None, 8, 18 * 9),
    (18, 0, 2, 8, 18 * 2),  # lifted: the days in force only
    (18, 3, 3, 8, 0),  # lifted the day it came into force
    (0, 0, None, 8, 0),
]


@pytest.mark.parametrize(("residents", "since", "lifted", "today", "expected"), PERSON_DAYS)
def test_locked_person_days_are_residents_times_days_in_force(
    residents: int, since: int | None, lifted: int | None, today: int, expected: int
) -> None:
    assert (
        rules.person_days(
            residents=residents,
            since=None if since is None else day(since),
            lifted_on=None if lifted is None else day(lifted),
            today=day(today),
        )
        == expected
    )


@given(st.integers(0, 500), st.integers(0, 30), st.integers(0, 30), st.integers(0, 30))
def test_person_days_never_fall_as_the_days_go_by(residents: int, since: int, today: int, more: int) -> None:
    def on(n: int) -> int:
        return rules.person_days(residents=residents, since=day(since), lifted_on=None, today=day(n))

    assert 0 <= on(today) <= on(today + more)


OUTERMOST = [
    # zones (id, area), the ids whose people add up
    ([(1, Place(1, 2, 1))], [1]),
    ([(1, Place(1, 2)), (2, Place(1, 2, 1))], [1]),  # the unit lies inside the building
    ([(2, Place(1, 2, 1)), (1, Place(1, 2))], [1]),
    ([(1, Place(1, 2, 1)), (2, Place(1, 2, 2))], [1, 2]),  # two units side by side
    ([(5, Place(1, 2, 1)), (3, Place(1, 2, 1))], [3]),  # one area twice: the older zone
    ([(1, Place(1)), (2, Place(1, 2, 1, 301)), (3, Place(2, 1))], [1, 3]),
]


@pytest.mark.parametrize(("zones", "expected"), OUTERMOST)
def test_person_days_add_up_over_the_outermost_zones_only(
    zones: list[tuple[int, Place]], expected: list[int]
) -> None:
    assert rules.outermost(zones) == expected


@given(st.lists(places, min_size=1, max_size=8))
def test_the_outermost_zones_cover_every_zone_and_none_lies_inside_another(items: list[Place]) -> None:
    zones = list(enumerate(items))
    kept = rules.outermost(zones)
    assert all(any(items[k].contains(place) for k in kept) for place in items)
    assert not any(a != b and items[a].contains(items[b]) for a in kept for b in kept)


@pytest.mark.parametrize(("level", "start", "end", "on", "counts"), rules.IN_FORCE_CASES)
def test_a_zone_counts_in_the_bulletin_while_in_force_at_the_end_of_the_day(
    level: str, start: int, end: int | None, on: int, counts: bool
) -> None:
    assert (
        rules.counts_in_force(
            level=level, start_on=day(start), end_on=None if end is None else day(end), day=day(on)
        )
        is counts
    )
