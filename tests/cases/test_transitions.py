"""The transition maps of cases and contacts, as officers meet them: every allowed move works,
every other is refused with InvalidTransition and changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion.cases import rules, services
from bastion.cases.models import Case, CaseKind, CaseStatus, Contact, ContactStatus
from bastion.city.models import Resident
from bastion.core.errors import InvalidTransition
from bastion.core.scopes import SYSTEM
from tests.conftest import NOW, TODAY

LATER = NOW + timedelta(days=1)


def case_of(resident: Resident, *, kind: str = "confirmed", status: str = "active") -> Case:
    return Case.objects.create(
        resident=resident,
        household_id=resident.household_id,
        community_id=resident.community_id,
        district_id=resident.district_id,
        kind=kind,
        initial_kind=kind,
        found_by="community",
        reported_at=NOW,
        reported_on=TODAY,
        status=status,
        discharged_on=TODAY if status == CaseStatus.DISCHARGED else None,
        protocol="v9",
    )


@pytest.mark.parametrize("status", CaseStatus.values)
def test_a_case_is_discharged_only_where_the_transition_map_allows(city: dict[str, Any], status: str) -> None:
    case = case_of(Resident.objects.earliest("id"), status=status)
    if rules.may_move("case", status, CaseStatus.DISCHARGED):
        assert services.case_discharge(case_id=case.pk, actor=SYSTEM, now=LATER).status == "discharged"
    else:
        with pytest.raises(InvalidTransition):
            services.case_discharge(case_id=case.pk, actor=SYSTEM, now=LATER)
        case.refresh_from_db()
        assert case.status == status


@pytest.mark.parametrize("kind", CaseKind.values)
def test_a_case_converts_to_confirmed_only_where_the_transition_map_allows(
    city: dict[str, Any], kind: str
) -> None:
    case = case_of(Resident.objects.earliest("id"), kind=kind)
    if rules.may_move("case_kind", kind, CaseKind.CONFIRMED):
        converted = services.case_convert(case_id=case.pk, actor=SYSTEM, now=LATER)
        assert (converted.kind, converted.converted_on) == ("confirmed", TODAY + timedelta(days=1))
    else:
        with pytest.raises(InvalidTransition):
            services.case_convert(case_id=case.pk, actor=SYSTEM, now=LATER)
        case.refresh_from_db()
        assert (case.kind, case.converted_on) == (kind, None)


# Contacts end their quarantine through one guarded step, whichever service ends it.
CONTACT_PAIRS = [
    (state, to) for state in ContactStatus.values for to in ContactStatus.values if to != "quarantined"
]


@pytest.mark.parametrize(("status", "to"), CONTACT_PAIRS)
def test_a_contacts_quarantine_ends_only_where_the_transition_map_allows(
    city: dict[str, Any], status: str, to: str
) -> None:
    infected, exposed = Resident.objects.order_by("id")[:2]
    contact = Contact.objects.create(
        resident=exposed,
        household_id=exposed.household_id,
        community_id=exposed.community_id,
        district_id=exposed.district_id,
        case=case_of(infected),
        kind="close",
        last_exposure_on=TODAY,
        protocol="v9",
        place="centralised",
        quarantine_until=TODAY + timedelta(days=7),
        monitoring_until=TODAY + timedelta(days=10),
        status=status,
        identified_at=NOW,
    )
    if rules.may_move("contact", status, to):
        services._contact_end(contact, to, TODAY, "test", SYSTEM, LATER)
    else:
        with pytest.raises(InvalidTransition):
            services._contact_end(contact, to, TODAY, "test", SYSTEM, LATER)
    contact.refresh_from_db()
    assert contact.status == (to if rules.may_move("contact", status, to) else status)
