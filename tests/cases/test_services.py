"""Opening cases, conversions, contacts and their quarantines, the chain of transmission."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from bastion import flows
from bastion.cases import selectors, services
from bastion.cases.models import Case, Contact
from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.core.errors import Conflict, DomainError, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone
from tests.conftest import NOW, TODAY

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str, kind: str = "confirmed", now: datetime = NOW) -> Case:
    return flows.case_reported(resident_id=resident(address).pk, kind=kind, actor=SYSTEM, now=now).case


def at(days: int) -> datetime:
    return NOW + timedelta(days=days)


def nothing_written() -> bool:
    return (
        not Case.objects.exists()
        and not Zone.objects.exists()
        and not AuditEntry.objects.filter(action__startswith="cases.")
        .exclude(action="cases.protocol.adopted")
        .exists()
    )


def test_a_case_reported_in_the_future_is_refused_and_nothing_is_written(city: Places) -> None:
    with pytest.raises(InvalidInput) as caught:
        flows.case_reported(
            resident_id=resident("C1/1/1/101#1").pk,
            kind="confirmed",
            reported_at=at(1),
            actor=SYSTEM,
            now=NOW,
        )
    assert caught.value.code == "case_in_future"
    assert nothing_written()


def test_an_unknown_place_refuses_the_whole_report(city: Places) -> None:
    with pytest.raises(NotFound) as caught:
        flows.case_reported(
            resident_id=resident("C1/1/1/101#1").pk, kind="confirmed", stayed=["C1/9"], actor=SYSTEM, now=NOW
        )
    assert "C1/9" in str(caught.value.message)
    assert nothing_written()


def test_a_second_case_for_one_person_is_refused(city: Places) -> None:
    report("C1/1/1/101#1")
    with pytest.raises(Conflict) as caught:
        report("C1/1/1/101#1", kind="asymptomatic")
    assert caught.value.code == "already_a_case"
    assert Case.objects.get().kind == "confirmed"


def test_an_officer_reports_cases_only_within_their_district(
    city: Places, make_user: Callable[..., User]
) -> None:
    officer = actor_for(make_user("district_officer", district=city["D2"]))
    with pytest.raises(NotFound):
        flows.case_reported(resident_id=resident("C1/1/1/101#1").pk, kind="confirmed", actor=officer, now=NOW)
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    with pytest.raises(Forbidden):
        flows.case_reported(resident_id=resident("C1/1/1/101#1").pk, kind="confirmed", actor=worker, now=NOW)
    assert nothing_written()


def test_only_an_asymptomatic_infection_converts_and_it_is_counted_once(city: Places) -> None:
    asymptomatic = report("C1/1/1/101#1", kind="asymptomatic")
    confirmed = report("C1/1/1/102#1")
    with pytest.raises(InvalidTransition):
        services.case_convert(case_id=confirmed.pk, actor=SYSTEM, now=at(1))
    services.case_convert(case_id=asymptomatic.pk, actor=SYSTEM, now=at(1))
    day0 = selectors.case_counts(day=TODAY)[None]
    day1 = selectors.case_counts(day=TODAY + timedelta(days=1))[None]
    assert (
        day0.new_confirmed,
        day0.new_asymptomatic,
        day0.cumulative_confirmed,
        day0.cumulative_asymptomatic,
    ) == (
        1,
        1,
        1,
        1,
    )
    assert (
        day1.new_confirmed,
        day1.conversions,
        day1.cumulative_confirmed,
        day1.cumulative_asymptomatic,
    ) == (
        0,
        1,
        2,
        0,
    )
    assert day1.cumulative == 2


def test_a_close_contact_gets_the_protocols_plan_and_is_released_on_schedule(city: Places) -> None:
    case = report("C1/1/1/101#1")
    contact = services.contact_add(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assert (contact.place, contact.quarantine_until, contact.monitoring_until) == (
        "centralised",
        date(2022, 9, 8),
        date(2022, 9, 11),
    )
    assert contact.test_dates[0] == "2022-09-02"

    def status_on(day: date) -> str:
        services.contacts_release_due(today=day, actor=SYSTEM, now=NOW)
        contact.refresh_from_db()
        return contact.status

    assert status_on(date(2022, 9, 8)) == "quarantined"
    assert status_on(date(2022, 9, 9)) == "monitoring"
    assert status_on(date(2022, 9, 11)) == "monitoring"
    assert status_on(date(2022, 9, 12)) == "released"
    assert contact.ended_on == date(2022, 9, 12)
    assert AuditEntry.objects.filter(action="cases.contact.released", object_id=str(contact.pk)).count() == 1


def test_a_contact_who_turns_positive_joins_the_chain_and_their_secondaries_become_close_contacts(
    city: Places,
) -> None:
    first = report("C1/1/1/101#1")
    close = services.contact_add(
        resident_id=resident("C1/2/2/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=first.pk,
        actor=SYSTEM,
        now=NOW,
    )
    secondary = services.contact_add(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="secondary",
        last_exposure_on=TODAY,
        via_contact_id=close.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assert (secondary.place, secondary.test_dates) == ("home", ["2022-09-02", "2022-09-05", "2022-09-08"])
    second = report("C1/2/2/101#1", now=at(2))
    assert second.source_id == first.pk
    close.refresh_from_db()
    secondary.refresh_from_db()
    assert (close.status, secondary.status) == ("became_case", "upgraded")
    upgraded = Contact.objects.get(resident=secondary.resident, status="quarantined")
    assert (upgraded.kind, upgraded.case_id, upgraded.place) == ("close", second.pk, "centralised")
    third = report("C3/1/1/101#1", now=at(4))
    chain = selectors.case_chain(actor=SYSTEM, case_id=third.pk)
    assert [(row.id, row.depth) for row in chain] == [(first.pk, 0), (second.pk, 1), (third.pk, 2)]


def test_the_chain_is_one_query(city: Places, django_assert_max_num_queries: Any) -> None:
    first = report("C1/1/1/101#1")
    close = services.contact_add(
        resident_id=resident("C1/2/2/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=first.pk,
        actor=SYSTEM,
        now=NOW,
    )
    report("C1/2/2/101#1", now=at(1))
    assert close.pk
    # The scope check, the recursive query, the rows of the visible cases.
    with django_assert_max_num_queries(3):
        assert len(selectors.case_chain(actor=SYSTEM, case_id=first.pk)) == 2


def test_nov2022_identifies_no_secondary_contacts(city: Places) -> None:
    case = report("C1/1/1/101#1")
    close = services.contact_add(
        resident_id=resident("C1/2/2/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    services.protocol_adopt(protocol="nov2022", since=TODAY, reason="20 measures", actor=SYSTEM, now=NOW)
    with pytest.raises(InvalidInput) as caught:
        services.contact_add(
            resident_id=resident("C3/1/1/101#1").pk,
            kind="secondary",
            last_exposure_on=TODAY,
            via_contact_id=close.pk,
            actor=SYSTEM,
            now=NOW,
        )
    assert caught.value.code == "no_secondary_contacts"
    assert Contact.objects.count() == 1


def test_a_case_cannot_be_listed_as_a_contact_and_an_exposure_cannot_be_in_the_future(city: Places) -> None:
    case = report("C1/1/1/101#1")
    other = report("C1/1/1/102#1")
    with pytest.raises(Conflict):
        services.contact_add(
            resident_id=other.resident_id,
            kind="close",
            last_exposure_on=TODAY,
            case_id=case.pk,
            actor=SYSTEM,
            now=NOW,
        )
    with pytest.raises(InvalidInput):
        services.contact_add(
            resident_id=resident("C3/1/1/101#1").pk,
            kind="close",
            last_exposure_on=TODAY + timedelta(days=1),
            case_id=case.pk,
            actor=SYSTEM,
            now=NOW,
        )
    assert not Contact.objects.exists()


def test_a_district_officer_sees_names_and_id_numbers_masked(
    city: Places, make_user: Callable[..., User]
) -> None:
    case = report("C1/1/1/101#1")
    officer = actor_for(make_user("district_officer", district=city["D1"]))
    row = selectors.case_list(actor=officer)[0]
    assert row.name != case.resident.name and row.name[0] == case.resident.name[0] and "*" in row.name
    assert "*" in row.id_number
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    assert selectors.case_list(actor=worker)[0].id_number == case.resident.id_number
    elsewhere = actor_for(make_user("district_officer", district=city["D2"]))
    assert selectors.case_list(actor=elsewhere) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_officers_reporting_one_person_at_once_open_one_case(city: Places) -> None:
    person = resident("C1/1/1/101#1").pk
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def go() -> None:
        try:
            barrier.wait()
            flows.case_reported(resident_id=person, kind="confirmed", actor=SYSTEM, now=NOW)
            outcomes.append("opened")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["already_a_case", "opened"]
    assert Case.objects.count() == 1
    assert Zone.objects.count() == 1


def test_an_officer_cannot_attach_a_contact_to_a_case_outside_their_district(
    city: Places, make_user: Callable[..., User]
) -> None:
    case = report("C1/1/1/101#1")
    officer = actor_for(make_user("district_officer", district=city["D2"]))
    with pytest.raises(NotFound) as caught:
        services.contact_add(
            resident_id=resident("C4/1/1/101#1").pk,
            kind="close",
            last_exposure_on=TODAY,
            case_id=case.pk,
            actor=officer,
            now=NOW,
        )
    assert caught.value.code == "unknown_case"
    assert not Contact.objects.exists()


def test_an_onset_after_the_report_is_refused(city: Places) -> None:
    with pytest.raises(InvalidInput) as caught:
        flows.case_reported(
            resident_id=resident("C1/1/1/101#1").pk,
            kind="confirmed",
            reported_at=at(-2),
            onset_on=TODAY - timedelta(days=1),
            actor=SYSTEM,
            now=NOW,
        )
    assert caught.value.code == "onset_after_report"
    assert nothing_written()


def test_a_released_secondary_contact_is_listed_again_when_their_close_contact_turns_positive(
    city: Places,
) -> None:
    first = report("C1/1/1/101#1")
    close = services.contact_add(
        resident_id=resident("C1/2/2/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=first.pk,
        actor=SYSTEM,
        now=NOW,
    )
    secondary = services.contact_add(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="secondary",
        last_exposure_on=TODAY,
        via_contact_id=close.pk,
        actor=SYSTEM,
        now=NOW,
    )
    services.contacts_release_due(today=date(2022, 9, 9), actor=SYSTEM, now=at(8))
    secondary.refresh_from_db()
    assert secondary.status == "released"
    second = report("C1/2/2/101#1", now=at(9))
    again = Contact.objects.get(resident=secondary.resident, case=second)
    assert (again.kind, again.status, again.last_exposure_on) == ("close", "quarantined", TODAY)


def test_a_secondary_contact_can_be_linked_only_through_a_close_contact_of_the_case_in_scope(
    city: Places, make_user: Callable[..., User]
) -> None:
    case = report("C1/1/1/101#1")
    other = report("C1/2/1/101#1")
    close = services.contact_add(
        resident_id=resident("C1/2/2/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    elsewhere = services.contact_add(
        resident_id=resident("C1/2/2/201#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=other.pk,
        actor=SYSTEM,
        now=NOW,
    )
    secondary = services.contact_add(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="secondary",
        last_exposure_on=TODAY,
        via_contact_id=close.pk,
        actor=SYSTEM,
        now=NOW,
    )
    linkable = selectors.close_contact_ids(actor=SYSTEM, case_id=case.pk)
    assert linkable == {close.pk}
    assert secondary.pk not in linkable and elsewhere.pk not in linkable
    outsider = actor_for(make_user("district_officer", district=city["D2"]))
    with pytest.raises(NotFound):
        selectors.close_contact_ids(actor=outsider, case_id=case.pk)
