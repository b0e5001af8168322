"""The pure rules of transfer, through their tables: discharge, overdue, admission, priority,
and the matching of rides to vehicles."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

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
