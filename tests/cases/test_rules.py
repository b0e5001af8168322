"""Quarantine plans and classifications per protocol, and the protocol file's checks."""

from __future__ import annotations

from datetime import date

import pytest

from bastion.cases import protocol as protocols
from bastion.cases import rules

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
