"""The pure rules of zones: the smallest covering area and the protocol's clock."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bastion.cases import protocol as protocols
from bastion.cases.protocol import AREAS
from bastion.zones import rules
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
