"""The pure rules of appeals, with policy.toml's numbers: triage, deadlines (tightened under
lockdown), lights, and the policy file's refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bastion.appeals import policy, rules

NOW = datetime(2022, 9, 1, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(("case", "owner"), rules.TRIAGE_CASES)
def test_triage_sends_each_ticket_to_the_owner_the_table_names(
    case: tuple[str, str, str], owner: str
) -> None:
    category, urgency, about = case
    rule = policy.policy()
    assert (
        rules.triage(rule.triage, category=category, urgency=urgency, about=about, default=rule.default_owner)
        == owner
    )


def test_the_first_matching_line_wins() -> None:
    table = [
        rules.TriageRule(owner="commerce", about="supplier"),
        rules.TriageRule(owner="market_regulation"),
    ]
    assert (
        rules.triage(table, category="price", urgency="normal", about="supplier", default="community")
        == "commerce"
    )
    assert (
        rules.triage(table, category="price", urgency="normal", about="", default="community")
        == "market_regulation"
    )
    assert rules.triage([], category="price", urgency="normal", about="", default="district") == "district"


def _windows(
    category: str, urgency: str, *, lockdown: bool = False, vulnerable: bool = False
) -> rules.Window:
    return rules.windows(
        policy.policy().deadlines,
        category=category,
        urgency=urgency,
        lockdown=lockdown,
        vulnerable=vulnerable,
    )


def test_deadlines_out_of_lockdown_are_beijings() -> None:
    assert _windows("medical", "emergency") == rules.Window(sign=timedelta(minutes=30), reply=2 * HOUR)
    assert _windows("other", "urgent").reply == 24 * HOUR
    assert _windows("other", "normal") == rules.Window(sign=24 * HOUR, reply=7 * 24 * HOUR)
    # Vulnerability alone changes nothing out of lockdown.
    assert _windows("other", "normal", vulnerable=True).reply == 7 * 24 * HOUR


def test_lockdown_tightens_medical_needs_vulnerable_residents_and_food_first() -> None:
    assert _windows("medical", "normal", lockdown=True).reply == 2 * HOUR
    assert _windows("medical", "emergency", lockdown=True).reply == timedelta(minutes=30)
    assert _windows("supplies", "normal", lockdown=True).reply == 12 * HOUR
    assert _windows("other", "normal", lockdown=True, vulnerable=True).reply == 4 * HOUR
    assert _windows("other", "normal", lockdown=True).reply == 7 * 24 * HOUR
    # Signing is due within the hour, and never after the reply.
    assert _windows("other", "normal", lockdown=True).sign == HOUR
    assert _windows("medical", "emergency", lockdown=True).sign == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("after", "colour"),
    [
        (timedelta(0), "green"),
        (5 * HOUR, "green"),
        (7 * HOUR, "yellow"),
        (8 * HOUR, "yellow"),
        (9 * HOUR, "red"),
    ],
)
def test_the_light_turns_yellow_in_the_last_quarter_and_red_once_passed(
    after: timedelta, colour: str
) -> None:
    assert rules.light(start=NOW, deadline=NOW + 8 * HOUR, now=NOW + after, yellow_share=0.25) == colour


def test_a_replied_ticket_has_no_running_deadline() -> None:
    assert rules.running_deadline(state="replied", sign_by=NOW, reply_by=NOW) is None
    assert (
        rules.running_deadline(state="dispatched", sign_by=NOW + HOUR, reply_by=NOW + 2 * HOUR) == NOW + HOUR
    )
    assert (
        rules.running_deadline(state="signed", sign_by=NOW + HOUR, reply_by=NOW + 2 * HOUR) == NOW + 2 * HOUR
    )


def test_the_sweeps_take_their_source_states_from_the_map() -> None:
    assert rules.sources_of("closed") == ("replied",)
    assert set(rules.sources_of("dispatched")) == {"accepted", "dispatched", "signed", "reopened"}


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (("reply_minutes = 120", "reply_minutes = 0"), "reply_minutes"),
        (('owner = "commerce"', 'owner = "mayor"'), "mayor"),
        (('category = "price"', 'category = "prices"'), "prices"),
        (("yellow_share = 0.25", "yellow_share = 2"), "yellow_share"),
        (('version = "2026-12-05"', ""), "version"),
    ],
)
def test_a_policy_file_that_cannot_stand_is_refused_by_name(change: tuple[str, str], complaint: str) -> None:
    text = policy.DEFAULT_FILE.read_text(encoding="utf-8")
    assert change[0] in text
    with pytest.raises(policy.PolicyFileError, match=complaint):
        policy.parse(text.replace(change[0], change[1], 1))
