"""The shipped transfer scenario and the transfer events' contract (SCENARIOS.md): cases to a
bed by ambulance, a contact to an isolation point by bus, a clinical type that moves a case on,
a discharge home; the hourly assignment, crews confirming by themselves, waits and the overdue."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse
from bastion.transfer import policy as transfer_policy

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CITY = """
city:
  districts:
    - code: D1
      name: 新城区
      communities:
        - code: M1
          compounds:
            - {code: C1, buildings: 1, units: 1, floors: 2, per_floor: 2, household_size: 2}
"""


def run(text: str) -> list[dict[str, object]]:
    scenario = parse(text, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
    return [day["transfer"] for day in runner.run(scenario)["days"]]  # type: ignore[misc]


@pytest.mark.django_db
def test_a_household_goes_to_one_place_a_severe_case_moves_on_and_a_discharge_frees_the_bed() -> None:
    scenario = load(
        SCENARIOS / "transfer-a-household-to-a-bed-and-home.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    days = [day["transfer"] for day in runner.run(scenario)["days"]]
    day0, day1, _day2, day3 = days
    assert (day0["waiting"], day0["admitted_today"], day0["in_care"], day0["overdue"]) == (0, 3, 3, 0)
    # One ambulance: the second case waited for it to come back (picked up at 12:00, 1.5 h).
    assert (day0["wait_hours_p50"], day0["wait_hours_max"]) == (0.5, 1.5)
    assert day0["watched"] == {
        "C1/1/1/101#1": {"state": "admitted", "facility_kind": "shelter_hospital"},
        "C1/1/1/101#2": {"state": "admitted", "facility_kind": "shelter_hospital"},  # kept together
        "C1/2/1/301#1": {"state": "admitted", "facility_kind": "isolation_point"},
    }
    assert day0["free_beds"] == {"shelter_hospital": 8, "designated_hospital": 7, "isolation_point": 19}
    # Severe: an intensive bed at the designated hospital, the shelter bed freed.
    assert day1["watched"]["C1/1/1/101#2"] == {"state": "admitted", "facility_kind": "designated_hospital"}
    assert day1["free_beds"] == {"shelter_hospital": 9, "designated_hospital": 6, "isolation_point": 19}
    assert day3["watched"]["C1/1/1/101#1"]["state"] == "discharged"
    assert (day3["in_care"], day3["free_beds"]["shelter_hospital"]) == (2, 10)
    # The crews' switch was the run's only.
    assert not transfer_policy.policy().crews_confirm_by_themselves


@pytest.mark.django_db
def test_a_case_with_no_vehicle_waits_and_is_overdue_past_12_hours() -> None:
    days = run(
        f"""
name: no vehicle
protocol: v9
start: 2022-09-01
{CITY}
watch: ["C1/1/1/101#1"]
events:
  - {{day: 0, time: "08:00", facility: {{code: F1, kind: shelter_hospital, beds: 5}}}}
  - {{day: 0, time: "09:00", positive: {{resident: "C1/1/1/101#1", kind: asymptomatic}}}}
  - {{day: 1, time: "06:00", vehicle: {{code: V1, kind: ambulance, trip_hours: 1}}}}
observe: [transfer]
days: 2
"""
    )
    assert (days[0]["waiting"], days[0]["overdue"], days[0]["wait_hours_max"]) == (1, 1, 15.0)
    assert days[0]["watched"] == {
        "C1/1/1/101#1": {"state": "destination_assigned", "facility_kind": "shelter_hospital"}
    }
    # The vehicle in service at 06:00 picks them up at the next hour's assignment: a wait of 22
    # hours, admitted an hour later.
    assert (days[1]["waiting"], days[1]["overdue"], days[1]["admitted_today"]) == (0, 0, 1)
    assert days[1]["wait_hours_max"] == 22.0


@pytest.mark.django_db
def test_a_bad_transfer_event_names_the_event() -> None:
    text = f"""
name: bad kind
protocol: v9
start: 2022-09-01
{CITY}
events:
  - {{day: 0, facility: {{code: F1, kind: castle, beds: 5}}}}
observe: [transfer]
days: 1
"""
    with pytest.raises(ScenarioError) as refused:
        run(text)
    assert "events[0].facility" in str(refused.value)
