"""Quarantine plans and classifications per protocol, and the protocol file's checks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.cases import protocol as protocols
from bastion.cases import rules
from bastion.cases.models import CaseKind, CaseStatus, ContactStatus
from bastion.cases.selectors import OPEN_CONTACT

EXPOSED = date(2022, 9, 1)


def d(day: int) -> date:
    return date(2022, 9, day)


def test_a_v9_close_contact_spends_7_days_centralised_then_3_at_home() -> None:
    plan = rules.quarantine_plan(protocols.get("v9").contacts["close"], EXPOSED)
    assert plan.place == "centralised"
    assert plan.quarantine_until == d(8)
    assert plan.monitoring_until == d(11)
    assert plan.test_dates == (d(2), d(3), d(4), d(6), d(8), d(11))
    assert plan.ends_on == d(11)


def test_a_v9_secondary_contact_isolates_at_home_for_7_days_tested_on_days_1_4_7() -> None:
    plan = rules.quarantine_plan(protocols.get("v9").contacts["secondary"], EXPOSED)
    assert (plan.place, plan.quarantine_until, plan.monitoring_until) == ("home", d(8), None)
    assert plan.test_dates == (d(2), d(5), d(8))


def test_nov2022_shortens_close_contacts_to_5_plus_3_and_dec2022_to_5_days_at_home() -> None:
    nov = rules.quarantine_plan(protocols.get("nov2022").contacts["close"], EXPOSED)
    assert (nov.place, nov.quarantine_until, nov.monitoring_until) == ("centralised", d(6), d(9))
    assert nov.test_dates == (d(2), d(3), d(4), d(6), d(7), d(9))
    dec = rules.quarantine_plan(protocols.get("dec2022").contacts["close"], EXPOSED)
    assert (dec.place, dec.quarantine_until, dec.monitoring_until, dec.test_dates) == (
        "home",
        d(6),
        None,
        (d(6),),
    )
    assert not protocols.get("nov2022").secondary_contacts


def test_a_conversion_moves_a_person_from_asymptomatic_to_confirmed_from_its_day_on() -> None:
    def on(day: int) -> str | None:
        return rules.classification_on(
            initial_kind="asymptomatic", reported_on=d(3), converted_on=d(5), day=d(day)
        )

    assert [on(2), on(3), on(4), on(5), on(9)] == [
        None,
        "asymptomatic",
        "asymptomatic",
        "confirmed",
        "confirmed",
    ]


BROKEN = [
    ('levels = ["high", "extreme"]', "levels may hold only high and medium"),
    ('high_minimum = "street"', "high_minimum must be one of"),
    ("screening_day = 9", "screening_day must be a day from 1 to 7"),
    ('next = "nowhere"', "next must name a step"),
]


@pytest.mark.parametrize(("change", "message"), BROKEN)
def test_a_broken_protocols_file_is_refused_naming_the_key(change: str, message: str) -> None:
    text = protocols.DEFAULT_FILE.read_text(encoding="utf-8")
    key = change.split(" =", 1)[0]
    lines = text.splitlines()
    # Replace the first line of the v9 table that sets `key`.
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{key} ="))
    lines[index] = change
    with pytest.raises(protocols.ProtocolFileError, match=message):
        protocols.parse("\n".join(lines))


def test_the_shipped_protocols_file_holds_the_three_protocols() -> None:
    assert sorted(protocols.protocols()) == ["dec2022", "nov2022", "v9"]
    assert protocols.get("v9").designation_deadline_hours == 5
    with pytest.raises(protocols.ProtocolFileError):
        protocols.get("v10")


# --- the moves of cases and contacts -------------------------------------------------------

MOVES = [
    # entity, state, to, allowed
    ("case", "active", "discharged", True),
    ("case", "discharged", "discharged", False),
    ("case", "discharged", "active", False),
    ("case_kind", "asymptomatic", "confirmed", True),
    ("case_kind", "confirmed", "confirmed", False),
    ("case_kind", "confirmed", "asymptomatic", False),
    ("contact", "quarantined", "monitoring", True),
    ("contact", "quarantined", "released", True),
    ("contact", "quarantined", "became_case", True),
    ("contact", "quarantined", "upgraded", True),
    ("contact", "monitoring", "released", True),
    ("contact", "monitoring", "became_case", True),
    ("contact", "monitoring", "upgraded", False),
    ("contact", "monitoring", "quarantined", False),
    ("contact", "released", "quarantined", False),
    ("contact", "released", "became_case", False),
    ("contact", "upgraded", "released", False),
    ("contact", "became_case", "released", False),
]


@pytest.mark.parametrize(("entity", "state", "to", "allowed"), MOVES)
def test_cases_and_contacts_move_only_where_their_transition_map_allows(
    entity: str, state: str, to: str, allowed: bool
) -> None:
    assert rules.may_move(entity, state, to) is allowed


def test_each_transition_map_names_every_state_of_its_entity_and_no_other() -> None:
    states = {"case": CaseStatus.values, "case_kind": CaseKind.values, "contact": ContactStatus.values}
    for entity, moves in rules.ALLOWED_TRANSITIONS.items():
        assert set(moves) == set(states[entity]), entity
        assert set().union(*moves.values()) <= set(states[entity]), entity
    assert set(rules.OPEN) == set(OPEN_CONTACT)


# --- quarantine release --------------------------------------------------------------------


@pytest.mark.parametrize(("status", "until", "monitoring", "moves_to"), rules.RELEASE_CASES)
def test_a_quarantine_plan_moves_a_contact_the_day_after_each_of_its_last_days(
    status: str, until: int, monitoring: int | None, moves_to: str | None
) -> None:
    today = d(10)
    moved = rules.status_after_plan(
        status=status,
        quarantine_until=today + timedelta(days=until),
        monitoring_until=None if monitoring is None else today + timedelta(days=monitoring),
        today=today,
    )
    assert moved == moves_to


@given(st.dates(min_value=date(2022, 1, 1), max_value=date(2023, 12, 31)))
def test_a_contact_following_their_plan_is_released_the_day_after_it_ends_and_not_before(
    exposed: date,
) -> None:
    for protocol in protocols.protocols().values():
        for rule in protocol.contacts.values():
            plan = rules.quarantine_plan(rule, exposed)
            status, today = "quarantined", exposed
            # Day by day, as the daily release runs.
            while status in rules.OPEN and today <= plan.ends_on + timedelta(days=2):
                today += timedelta(days=1)
                status = (
                    rules.status_after_plan(
                        status=status,
                        quarantine_until=plan.quarantine_until,
                        monitoring_until=plan.monitoring_until,
                        today=today,
                    )
                    or status
                )
                assert (status in rules.OPEN) is (today <= plan.ends_on)
            assert (status, today) == ("released", plan.ends_on + timedelta(days=1))


# --- a secondary contact whose close contact turns positive --------------------------------

UPGRADES = [
    # status of the secondary contact, (their secondary quarantine ends as, unless listed) or None
    ("quarantined", ("upgraded", False)),
    ("monitoring", ("upgraded", False)),
    ("released", (None, True)),  # listed again unless a case by now or already listed
    ("upgraded", None),
    ("became_case", None),
]


@pytest.mark.parametrize(("status", "expected"), UPGRADES)
def test_a_secondary_contact_becomes_a_close_contact_counted_from_the_same_exposure(
    status: str, expected: tuple[str | None, bool] | None
) -> None:
    upgrade = rules.secondary_upgrade(status=status, last_exposure_on=EXPOSED)
    if expected is None:
        assert upgrade is None
        return
    assert upgrade is not None
    assert (upgrade.ends_as, upgrade.unless_listed) == expected
    assert (upgrade.kind, upgrade.last_exposure_on) == ("close", EXPOSED)
    # Their new plan is a close contact's, counted from the exposure they already had.
    plan = rules.quarantine_plan(protocols.get("v9").contacts[upgrade.kind], upgrade.last_exposure_on)
    assert (plan.place, plan.quarantine_until, plan.monitoring_until) == ("centralised", d(8), d(11))


LINKS = [
    # kind, via, the case's close contacts, listed
    ("close", None, set(), True),
    ("close", 7, {3}, True),
    ("secondary", 3, {3, 4}, True),
    ("secondary", 7, {3, 4}, False),  # a close contact of another case
    ("secondary", None, {3, 4}, False),  # no close contact named
]


@pytest.mark.parametrize(("kind", "via", "close", "linked"), LINKS)
def test_a_secondary_contact_is_listed_only_through_a_close_contact_of_the_case(
    kind: str, via: int | None, close: set[int], linked: bool
) -> None:
    assert rules.secondary_contact_linked(kind=kind, via_id=via, close_contact_ids=close) is linked


@pytest.mark.parametrize(
    ("kind", "case_id", "source"),
    [("close", 7, 7), ("secondary", 7, None), (None, None, None)],
)
def test_a_new_case_joins_the_chain_of_the_case_they_were_a_close_contact_of(
    kind: str | None, case_id: int | None, source: int | None
) -> None:
    assert rules.infected_by(contact_kind=kind, contact_case_id=case_id) == source


@pytest.mark.parametrize(("initial", "reported", "converted", "on", "counted_as"), rules.CLASSIFICATION_CASES)
def test_a_case_is_counted_once_under_its_classification_at_the_end_of_the_day(
    initial: str, reported: int, converted: int | None, on: int, counted_as: str | None
) -> None:
    assert (
        rules.classification_on(
            initial_kind=initial,
            reported_on=d(10) + timedelta(days=reported),
            converted_on=None if converted is None else d(10) + timedelta(days=converted),
            day=d(10) + timedelta(days=on),
        )
        == counted_as
    )
