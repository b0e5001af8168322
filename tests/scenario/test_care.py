"""The shipped care scenarios: a dialysis patient's Friday session planned the day before,
missed by nightfall with no vehicle sent; an emergency call the same day; a patient taken into
care has no session planned from home after."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import translation

from bastion.care.models import Trip
from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.django_db
def test_a_dialysis_session_is_planned_and_flagged_missed_and_an_emergency_goes_at_once() -> None:
    scenario = load(
        SCENARIOS / "care-dialysis-in-a-locked-unit.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    day0, day1 = (day["care"] for day in runner.run(scenario)["days"])
    assert day0 == {"trips_planned": 0, "trips_missed": 0, "emergencies": 0}
    assert day1 == {"trips_planned": 1, "trips_missed": 1, "emergencies": 1}
    # A week ahead from the worker's first tick of day 1 (Friday 2 September): Friday, Monday,
    # Wednesday and the next Friday planned; the emergency besides.
    assert Trip.objects.filter(purpose="session").count() == 4
    assert Trip.objects.filter(emergency=True).count() == 1


@pytest.mark.django_db
def test_a_patient_taken_into_care_has_no_session_planned_from_home_after() -> None:
    scenario = load(
        SCENARIOS / "care-patient-taken-into-care.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    days = runner.run(scenario)["days"]
    # Friday's session (before the positive) is planned and missed, no vehicle being sent; the
    # patient is admitted on Saturday, and Monday's and Wednesday's are no longer there to miss.
    assert [(d["care"]["trips_planned"], d["care"]["trips_missed"]) for d in days] == [
        (0, 0),
        (1, 1),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
    ]
    assert days[2]["transfer"]["watched"]["C1/2/1/202#1"]["state"] == "admitted"
    assert Trip.objects.filter(purpose="session").count() == 1


@pytest.mark.django_db
def test_a_need_without_its_schedule_names_the_event() -> None:
    text = """
name: dialysis without days
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - code: M1
          compounds:
            - {code: C1, buildings: 1, units: 1, floors: 1, per_floor: 2, household_size: 2}
events:
  - {day: 0, need: {resident: "C1/1/1/101#1", kind: dialysis, time: "08:00"}}
observe: [care]
days: 1
"""
    scenario = parse(text, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
    with pytest.raises(ScenarioError) as refused, translation.override("en"):
        runner.run(scenario)
    assert refused.value.key == "events[0].need"
    assert "Dialysis and chemotherapy need their weekdays or dates of treatment." in str(refused.value)
