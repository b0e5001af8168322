"""The shipped scenario files of cases and zones: the protocols' rules, replayed day by day."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
pytestmark = pytest.mark.django_db


def replay(name: str) -> list[dict[str, Any]]:
    scenario = load(
        SCENARIOS / name, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS)
    )
    return runner.run(scenario)["days"]  # type: ignore[no-any-return]


def changes_on(days: list[dict[str, Any]], day: int) -> list[tuple[str, str]]:
    """(action, level) of the day's zone changes; zone codes come from database ids."""
    return [(c["action"], c["level"]) for c in days[day]["zone_changes"]]


def zones_on(days: list[dict[str, Any]], day: int) -> list[tuple[str, str, int]]:
    return [(z["scope"], z["level"], z["residents"]) for z in days[day]["zones"]]


def test_v9_lowers_a_unit_to_medium_after_a_negative_day_7_screening_and_lifts_it_3_days_later() -> None:
    days = replay("v9-unit-lowered-then-lifted.yaml")
    # One unit: 6 floors x 2 rooms x 3 people, not the compound of 288.
    for day in range(7):
        assert zones_on(days, day) == [("C1/2/1", "high", 36)], day
    assert days[0]["locked_residents"] == 36
    assert days[0]["zones"][0]["since"] == "2022-09-01"
    assert zones_on(days, 7) == [("C1/2/1", "medium", 36)]
    assert changes_on(days, 7) == [("lowered", "medium")]
    assert days[7]["zone_changes"][0]["code"] == days[0]["zones"][0]["code"]
    assert zones_on(days, 9) == [("C1/2/1", "medium", 36)]
    assert zones_on(days, 10) == []
    assert changes_on(days, 10) == [("lifted", "low")]
    assert days[10]["locked_residents"] == 0
    assert days[0]["bulletin"]["zones_high"] == 1
    assert days[7]["bulletin"]["zones_medium"] == 1


def test_v9_a_new_case_on_day_5_restarts_the_clock() -> None:
    days = replay("v9-new-case-restarts-the-clock.yaml")
    assert changes_on(days, 5) == [("clock_restarted", "high")]
    assert days[5]["zones"][0]["clock_start"] == "2022-09-06"
    # The old day-7 screening no longer lowers it; the new clock's day 7 (day 12) does.
    assert [z["level"] for z in days[11]["zones"]] == ["high"]
    assert [z["level"] for z in days[12]["zones"]] == ["medium"]
    assert zones_on(days, 15) == []
    assert days[5]["bulletin"]["new_confirmed"] == 1
    assert days[5]["bulletin"]["cumulative_asymptomatic"] == 1


def test_nov2022_puts_a_building_at_high_risk_and_lifts_it_after_5_days() -> None:
    days = replay("nov2022-building-lifted-after-5-days.yaml")
    assert zones_on(days, 0) == [("C1/2", "high", 72)]
    assert zones_on(days, 4) == [("C1/2", "high", 72)]
    assert zones_on(days, 5) == []
    assert all(day["bulletin"]["zones_medium"] == 0 for day in days)


def test_dec2022_locks_the_household_only_and_a_second_case_there_does_not_restart_the_clock() -> None:
    days = replay("dec2022-household.yaml")
    assert zones_on(days, 0) == [("C1/1/2/401", "high", 3)]
    assert days[2]["bulletin"]["new_asymptomatic"] == 1
    assert days[2]["zones"][0]["clock_start"] == "2022-12-08"
    assert zones_on(days, 4) == [("C1/1/2/401", "high", 3)]
    assert zones_on(days, 5) == []


def test_a_courtyard_with_shared_facilities_is_locked_as_one_unit() -> None:
    days = replay("courtyard-shared-facilities.yaml")
    assert zones_on(days, 0) == [("C1", "high", 40), ("C2/1/2", "high", 24)]
    assert days[0]["locked_residents"] == 64


def test_chengdus_bulletin_of_1_september_2022_is_replayed() -> None:
    days = replay("chengdu-2022-09-01-bulletin.yaml")
    sept_1 = days[20]
    assert sept_1["date"] == "2022-09-01"
    bulletin = sept_1["bulletin"]
    assert (bulletin["new_confirmed"], bulletin["new_asymptomatic"], bulletin["conversions"]) == (103, 47, 2)
    assert (bulletin["cumulative_confirmed"], bulletin["cumulative_asymptomatic"]) == (775, 278)
    assert bulletin["cumulative_confirmed"] + bulletin["cumulative_asymptomatic"] == 1053
    assert bulletin["found_by"]["quarantine"] == 47
    districts = bulletin["districts"]
    assert districts["D1"]["conversions"] + districts["D2"]["conversions"] == 2
    assert sum(d["new_confirmed"] for d in districts.values()) == 103
    # The day before, the two later conversions are still asymptomatic.
    aug_31 = days[19]["bulletin"]
    assert (aug_31["cumulative_confirmed"], aug_31["cumulative_asymptomatic"]) == (670, 233)


GOOD = """
name: tiny
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - code: M1
          compounds:
            - {code: C1, buildings: 2, units: 1, floors: 2, per_floor: 2, household_size: 3}
observe: [zones]
days: 3
events:
"""


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (
            "{day: 0, positive: {resident: 'C1/1/1/101#1', kind: mild}}",
            "kind must be confirmed or asymptomatic",
        ),
        ("{day: 0, convert: {resident: 'C1/1/1/101#1'}}", "is not a case"),
        ("{day: 0, screening: {zone_of: 'C1/1/1/101#1'}}", "no zone is in force"),
        ("{day: 0, positive: {count: 99, within: 'C1'}}", "has only 24 residents not yet infected"),
        ("{day: 0, positive: {resident: 'C1/1/1/101#1', frequent: ['C9/1']}}", "There is no place C9/1"),
    ],
)
def test_a_bad_event_names_its_key_and_line(event: str, message: str) -> None:
    scenario = parse(
        GOOD + f"  - {event}\n", event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS)
    )
    with pytest.raises(ScenarioError) as caught, translation.override("en"):
        runner.run(scenario)
    assert caught.value.line == 15
    assert caught.value.key.startswith("events[0].")
    assert message in caught.value.message


def test_converting_a_confirmed_case_is_refused() -> None:
    text = (
        GOOD
        + "  - {day: 0, positive: {resident: 'C1/1/1/101#1'}}\n"
        + "  - {day: 1, convert: {resident: 'C1/1/1/101#1'}}\n"
    )
    scenario = parse(text, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
    with pytest.raises(ScenarioError) as caught, translation.override("en"):
        runner.run(scenario)
    assert caught.value.key == "events[1].convert"
    assert "Only an asymptomatic infection" in caught.value.message


def test_v9_contacts_follow_their_plans_and_a_secondary_is_upgraded_when_its_contact_turns_positive() -> None:
    days = replay("v9-contacts-and-their-quarantine.yaml")
    assert days[1]["contacts"] == {"close": {"quarantined": 2}, "secondary": {"quarantined": 1}}
    # Day 3: the close contact is a case found in quarantine; the secondary is now a close contact.
    assert days[3]["contacts"] == {
        "close": {"became_case": 1, "quarantined": 2},
        "secondary": {"upgraded": 1},
    }
    assert days[3]["bulletin"]["found_by"]["quarantine"] == 1
    # Exposed on 09-01: centralised to 09-08, home monitoring 09-09..09-11, released 09-12.
    assert days[7]["contacts"]["close"]["quarantined"] == 2
    assert days[8]["contacts"]["close"]["monitoring"] == 2
    assert days[11]["contacts"]["close"] == {"became_case": 1, "released": 2}


def test_a_positive_pool_recalls_its_members_and_a_positive_retest_opens_a_case_and_its_zone() -> None:
    days = replay("testing-positive-pool-recalled.yaml")
    day0 = days[0]["testing"]["rounds"][0]
    # 72 residents in households of 3, kept together: 3 households a 10:1 tube, 8 tubes.
    assert (day0["sampled"], day0["unsampled"], day0["tubes"]) == (72, 0, 8)
    assert (day0["positive_tubes"], day0["recalls_open"], day0["recalls_closed"]) == (1, 9, 0)
    assert day0["turnaround_p95_hours"] == 12.0  # sampled 10:00, resulted by 22:00
    assert days[0]["zones"] == []
    day1 = days[1]["testing"]["rounds"][0]
    assert (day1["recalls_open"], day1["recalls_closed"]) == (7, 2)
    assert [(z["scope"], z["level"]) for z in days[1]["zones"]] == [("C1/2/1", "high")]
    assert days[1]["bulletin"]["new_asymptomatic"] == 1
    assert days[1]["bulletin"]["found_by"]["screening"] == 1
    # The bulletin counts the round's samples (the retests are single tubes of the same round).
    assert days[0]["bulletin"]["samples_current_round"] == 72
    assert days[0]["bulletin"]["districts"]["D1"]["samples_current_round"] == 72
    assert days[1]["bulletin"]["samples_current_round"] == 74
