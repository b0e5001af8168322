"""Case rules that also run as SQL: each table of cases in cases/rules.py driven through the pure
rule and the set-based path, on SQLite and PostgreSQL alike, with the same outcome demanded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion.cases import rules, selectors, services
from bastion.cases.models import Case, Contact
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from tests.conftest import NOW, TODAY


def test_the_daily_release_moves_every_contact_exactly_as_the_rule_says(city: dict[str, Any]) -> None:
    residents = list(Resident.objects.order_by("id")[: len(rules.RELEASE_CASES) + 1])
    infected = residents.pop()
    case = Case.objects.create(
        resident=infected,
        household_id=infected.household_id,
        community_id=infected.community_id,
        district_id=infected.district_id,
        kind="confirmed",
        initial_kind="confirmed",
        found_by="community",
        reported_at=NOW - timedelta(days=20),
        reported_on=TODAY - timedelta(days=20),
        protocol="v9",
    )
    today = TODAY
    contacts = {}
    for resident, (status, until, monitoring, _moves_to) in zip(residents, rules.RELEASE_CASES, strict=True):
        contact = Contact.objects.create(
            resident=resident,
            household_id=resident.household_id,
            community_id=resident.community_id,
            district_id=resident.district_id,
            case=case,
            kind="close",
            last_exposure_on=today - timedelta(days=20),
            protocol="v9",
            place="centralised",
            quarantine_until=today + timedelta(days=until),
            monitoring_until=None if monitoring is None else today + timedelta(days=monitoring),
            status=status,
            identified_at=NOW,
        )
        contacts[contact.pk] = (status, until, monitoring)

    services.contacts_release_due(today=today, actor=SYSTEM, now=NOW)

    by_sql = dict(Contact.objects.filter(pk__in=contacts).values_list("pk", "status"))
    for pk, (status, until, monitoring) in contacts.items():
        by_rule = rules.status_after_plan(
            status=status,
            quarantine_until=today + timedelta(days=until),
            monitoring_until=None if monitoring is None else today + timedelta(days=monitoring),
            today=today,
        )
        assert by_sql[pk] == (by_rule or status), (status, until, monitoring)
    assert [by_sql[pk] for pk in contacts] == [
        moves_to or status for status, _u, _m, moves_to in rules.RELEASE_CASES
    ]


@pytest.mark.parametrize(("initial", "reported", "converted", "on", "counted_as"), rules.CLASSIFICATION_CASES)
def test_the_bulletin_counts_a_case_under_the_classification_the_rule_gives(
    city: dict[str, Any], initial: str, reported: int, converted: int | None, on: int, counted_as: str | None
) -> None:
    resident = Resident.objects.earliest("id")
    Case.objects.create(
        resident=resident,
        household_id=resident.household_id,
        community_id=resident.community_id,
        district_id=resident.district_id,
        kind="confirmed" if converted is not None else initial,
        initial_kind=initial,
        found_by="community",
        reported_at=NOW + timedelta(days=reported),
        reported_on=TODAY + timedelta(days=reported),
        converted_on=None if converted is None else TODAY + timedelta(days=converted),
        protocol="v9",
    )
    day = TODAY + timedelta(days=on)
    by_rule = rules.classification_on(
        initial_kind=initial,
        reported_on=TODAY + timedelta(days=reported),
        converted_on=None if converted is None else TODAY + timedelta(days=converted),
        day=day,
    )
    counts = selectors.case_counts(day=day)[None]
    by_sql = {
        (1, 0): "confirmed",
        (0, 1): "asymptomatic",
        (0, 0): None,
    }[(counts.cumulative_confirmed, counts.cumulative_asymptomatic)]
    assert by_rule == by_sql == counted_as
