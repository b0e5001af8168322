"""The shipped appeals scenario, its output checked by hand (the comments in the file say why
each figure is what it is): a medical emergency in a locked unit answered in 20 minutes and
closed; vegetables answered late, reopened, answered again; a price complaint and a code appeal
nobody answers, escalated; the code appeal overdue on day 1."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bastion.appeals.models import Appeal
from bastion.scenario import runner
from bastion.scenario.spec import ScenarioError, load, parse

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.django_db
def test_the_hotlines_day_and_night() -> None:
    scenario = load(
        SCENARIOS / "appeals-a-night-of-the-hotline.yaml",
        event_kinds=set(runner.EVENT_KINDS),
        observations=set(runner.OBSERVATIONS),
    )
    day0, day1 = (day["appeals"] for day in runner.run(scenario)["days"])
    by_category = {"code": 1, "price": 1, "supplies": 1}
    assert day0 == {
        "open": 3,
        "overdue": 0,
        "escalated": 2,
        "closed": 1,
        "closed_within_deadline_pct": 100.0,
        "by_category": by_category,
    }
    assert day1 == {
        "open": 3,
        "overdue": 1,
        "escalated": 3,
        "closed": 1,
        "closed_within_deadline_pct": 100.0,
        "by_category": by_category,
    }
    vegetables = Appeal.objects.get(category="supplies")
    assert (vegetables.state, vegetables.reopened, vegetables.lockdown) == ("replied", 1, True)
    emergency = Appeal.objects.get(category="medical")
    # Locked, medical, an emergency: answered within 30 minutes (policy.toml's lockdown table).
    assert emergency.reply_by - emergency.raised_at == timedelta(minutes=30)


def _one_event(event: str) -> str:
    return f"""
name: one appeal event
protocol: v9
start: 2022-09-01
city:
  districts:
    - code: D1
      communities:
        - code: M1
          compounds:
            - {{code: C1, buildings: 1, units: 1, floors: 1, per_floor: 2, household_size: 2}}
events:
  - {event}
observe: [appeals]
days: 1
"""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ('{day: 0, appeal: {ref: A1, household: "C1/1/1/101", category: noise}}', "supplies, medical"),
        ('{day: 0, appeal: {ref: A1, household: "C9/1/1/101", category: other}}', "C9/1/1/101"),
        ("{day: 0, appeal_reply: {ref: A9}}", "A9"),
    ],
)
def test_a_bad_appeal_event_names_the_event(event: str, complaint: str) -> None:
    scenario = parse(
        _one_event(event), event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS)
    )
    with pytest.raises(ScenarioError, match=complaint) as refused:
        runner.run(scenario)
    assert "events[0]" in str(refused.value)
