"""The pure rules of transfer, through their tables: discharge, overdue, admission, priority,
and the matching of rides to vehicles."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.transfer import policy as policies
from bastion.transfer import rules
from tests.conftest import NOW

POLICY = policies.policy()


@pytest.mark.parametrize(("tests", "allowed"), rules.DISCHARGE_CASES)
def test_the_v9_discharge_rule(tests: tuple[tuple[int, bool, float | None], ...], allowed: bool) -> None:
    taken = [rules.Test(NOW + timedelta(hours=h), negative, ct) for h, negative, ct in tests]
    assert rules.discharge_allowed(taken, POLICY.discharge_rule("v9")) is allowed


@pytest.mark.parametrize(("days", "discharged", "monitored"), rules.MONITORING_CASES)
def test_home_monitoring_after_a_discharge_reads_the_same_through_both_rules(
    days: int, discharged: int, monitored: bool
) -> None:
    rule = replace(POLICY.discharge_rule("v9"), home_monitoring_days=days)
    today = NOW.date()
    on = today + timedelta(days=discharged)
    until = rules.home_monitoring_until(discharged_on=on, rule=rule)
    assert (until is not None and until >= today) is monitored
    assert (on >= rules.monitored_since(today=today, rule=rule)) is monitored


def test_dec2022_asks_for_no_home_monitoring_after_a_discharge() -> None:
    by_protocol, otherwise = rules.monitored_since_by_protocol(today=NOW.date(), policy=POLICY)
    assert by_protocol["dec2022"] > NOW.date() >= by_protocol["v9"] == otherwise


@pytest.mark.parametrize(("state", "hours", "overdue"), rules.OVERDUE_CASES)
def test_a_case_is_overdue_past_12_hours_waiting_or_24_not_admitted(
    state: str, hours: int, overdue: bool
) -> None:
    pickup_by, admit_by = rules.deadlines(reason="case", requested_at=NOW, policy=POLICY)
    assert (
        rules.is_overdue(
            state=state, pickup_by=pickup_by, admit_by=admit_by, now=NOW + timedelta(hours=hours)
        )
        is overdue
    )


@pytest.mark.parametrize(
    ("reason", "severity", "high_risk", "places", "bed"),
    [
        ("case", "asymptomatic", False, ("shelter_hospital", "isolation_point"), "ordinary"),
        ("case", "mild", True, ("designated_hospital",), "ordinary"),
        ("case", "ordinary", False, ("designated_hospital",), "ordinary"),
        ("case", "critical", True, ("designated_hospital",), "intensive"),
        ("contact", "", False, ("isolation_point",), "room"),
        ("group", "", False, ("isolation_point",), "room"),
    ],
)
def test_where_a_person_is_admitted(
    reason: str, severity: str, high_risk: bool, places: tuple[str, ...], bed: str
) -> None:
    admission = rules.admission_for(reason=reason, severity=severity, high_risk=high_risk, policy=POLICY)
    assert (admission.places, admission.bed) == (places, bed)


def test_high_risk_and_who_needs_a_carer() -> None:
    assert rules.is_high_risk(age=70, chronic_treatment="other", pregnant=False, policy=POLICY)
    assert not rules.is_high_risk(age=70, chronic_treatment="", pregnant=False, policy=POLICY)
    assert rules.is_high_risk(age=30, chronic_treatment="dialysis", pregnant=False, policy=POLICY)
    assert rules.is_high_risk(age=30, chronic_treatment="", pregnant=True, policy=POLICY)
    assert rules.needs_carer(age=6, disabled=False, policy=POLICY)
    assert rules.needs_carer(age=85, disabled=False, policy=POLICY)
    assert rules.needs_carer(age=40, disabled=True, policy=POLICY)
    assert not rules.needs_carer(age=40, disabled=False, policy=POLICY)


def test_severity_then_vulnerability_then_waiting_and_an_emergency_first() -> None:
    def p(**kw: object) -> float:
        base: dict[str, object] = {
            "reason": "case",
            "severity": "mild",
            "high_risk": False,
            "emergency": False,
            "waited_hours": 0.0,
        }
        return rules.priority(**{**base, **kw}, policy=POLICY)  # type: ignore[arg-type]

    assert p(severity="severe") > p(high_risk=True) > p()
    assert p(waited_hours=4) > p()
    assert p(emergency=True) > p(severity="critical", high_risk=True, waited_hours=24)


def test_a_case_never_rides_the_bus_and_the_most_urgent_get_the_few_ambulances() -> None:
    rides = [
        rules.Ride(patients=1, people=1, district_id=1, priority=1.0),
        rules.Ride(patients=1, people=2, district_id=1, priority=9.0),  # with a carer
        rules.Ride(patients=0, people=12, district_id=1, priority=0.0),  # contacts
    ]
    vehicles = [rules.Seat("ambulance", 1, 1), rules.Seat("bus", 30, 2)]
    assert sorted(rules.match(rides, vehicles)) == [(1, 0), (2, 1)]
    # No bus: the contacts wait rather than crowd an ambulance.
    assert rules.match([rides[2]], [rules.Seat("ambulance", 1, 1)]) == []


def test_a_bad_policy_file_says_what_is_wrong() -> None:
    text = policies.DEFAULT_FILE.read_text(encoding="utf-8").replace('bed = "intensive"', 'bed = "sofa"', 1)
    with pytest.raises(policies.PolicyFileError, match=r"admission\.severe\.bed"):
        policies.parse(text)


def test_groups_for_one_place_share_a_bus_and_a_household_is_never_split_when_it_fits() -> None:
    # Two households of 2 and 3 and a courtyard of 70 for one isolation point; buses of 30: the
    # households share the first bus, the courtyard fills two and its last ten take the free seats.
    assert rules.pack([2, 3, 70], 30) == [[(0, 2), (1, 3), (2, 10)], [(2, 30)], [(2, 30)]]
    # Five households of 4 and a bus of 10: two a bus, none split, the fifth alone.
    assert rules.pack([4] * 5, 10) == [[(0, 4), (1, 4)], [(2, 4), (3, 4)], [(4, 4)]]


@given(st.lists(st.integers(min_value=1, max_value=70), max_size=30), st.integers(min_value=1, max_value=45))
def test_packing_seats_everyone_once_within_the_seats_and_keeps_groups_that_fit_whole(
    groups: list[int], seats: int
) -> None:
    rides = rules.pack(groups, seats)
    placed = [0] * len(groups)
    for ride in rides:
        assert 0 < sum(people for _group, people in ride) <= seats
        for group, people in ride:
            placed[group] += people
    assert placed == groups
    for group, size in enumerate(groups):
        parts = [people for ride in rides for g, people in ride if g == group]
        if size <= seats:
            assert parts == [size]  # travels together
        else:
            assert parts.count(seats) == size // seats  # whole buses, then the rest
