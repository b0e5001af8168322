from __future__ import annotations

from pathlib import Path

import pytest

from bastion.codes.models import HealthCode
from bastion.scenario import runner
from bastion.scenario.spec import load
from bastion.testing.models import Round
from bastion.testing.selectors import unsampled_of_round

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "codes-follow-their-triggers.yaml"


@pytest.mark.django_db
def test_the_codes_observation_follows_each_trigger_and_names_the_watched_residents_reasons() -> None:
    scenario = load(SCENARIO, event_kinds=set(runner.EVENT_KINDS), observations=set(runner.OBSERVATIONS))
    days = runner.run(scenario)["days"]
    watched = [{a: w["colour"] for a, w in d["codes"]["watched"].items()} for d in days]
    assert watched[0] == {
        "C1/1/1/101#1": "red",  # the case
        "C1/1/1/101#2": "red",  # their unit, a high-risk zone
        "C1/2/2/101#1": "red",  # a close contact
        "C1/2/2/201#1": "yellow",  # a secondary contact
        "C1/2/1/301#1": "green",
    }
    assert watched[1]["C1/2/1/301#1"] == "yellow"  # a member of a positive pool
    assert watched[2]["C1/2/1/301#1"] == "green"  # their negative retest
    assert "混管" in days[1]["codes"]["watched"]["C1/2/1/301#1"]["reason"]
    # The unit's 18 residents and the contact are red; all 72 residents are counted once.
    assert days[0]["codes"]["red"] == 18 + 1
    assert all(sum(d["codes"][c] for c in ("red", "yellow", "green")) == 72 for d in days)
    # Those the round's deadline found unsampled are yellow from the next day (应检未检): each
    # of them, and nobody else, for that reason.
    unsampled = set(unsampled_of_round(Round.objects.get(code="R1")).values_list("pk", flat=True))
    missed = set(HealthCode.objects.filter(rule="missed_screening").values_list("resident_id", flat=True))
    assert missed and missed <= unsampled
    assert days[2]["codes"]["yellow"] == days[1]["codes"]["yellow"] - 1 + len(missed)
