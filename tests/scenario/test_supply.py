"""The shipped supply scenario: a unit locked by a case is fed at the door by the platform's
own standard packages; a short package flags the supplier; one household is left unreached."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.delivery.models import Order
from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.django_db
def test_standard_packages_reach_all_but_one_household_and_the_short_one_is_flagged() -> None:
    scenario = load(
        SCENARIOS / "supply-short-package-and-one-forgotten.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    day0, day1 = (day["supply"] for day in runner.run(scenario)["days"])
    assert (day0["locked_households"], day0["reached_today"], day0["not_reached_within_cycle"]) == (6, 0, 6)
    assert day0["days_of_supply"]["vegetables"] == 8.3  # 300 kg for 72 residents at 0.5 kg a day
    assert day0["flags"] == []
    assert (day1["reached_today"], day1["not_reached_within_cycle"]) == (5, 1)
    assert day1["flags"] == [{"kind": "short_weight", "supplier": "SCENARIO", "household": "C1/2/1/301"}]
    # The platform made the packages itself; the household's own order waits for its task.
    assert Order.objects.filter(kind="standard").count() == 6
    assert Order.objects.get(kind="resident").household.address == "C1/1/1/101"


@pytest.mark.django_db
def test_delivering_to_a_household_without_an_order_names_the_event() -> None:
    text = """
name: nothing ordered
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
  - {day: 0, deliver: {household: "C1/1/1/101", weight_kg: 10}}
observe: [supply]
days: 1
"""
    scenario = parse(text, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
    with pytest.raises(ScenarioError) as refused:
        runner.run(scenario)
    assert refused.value.key == "events[0].deliver"
    assert "C1/1/1/101 has no open order" in str(refused.value)
