"""Defects a review found at the seams of transfer, cases and codes, each held by a test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.codes.models import HealthCode
from bastion.core.errors import Forbidden
from bastion.core.scopes import SYSTEM
from bastion.transfer import services as transfer
from bastion.transfer.models import Transfer
from tests.conftest import NOW, TODAY
from tests.transfer.test_services import assign, bus, facility, report


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def test_a_district_officer_may_not_run_the_citys_assignment(
    city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    officer = actor_for(make_user("district_officer", district=city["D1"]))
    with pytest.raises(Forbidden):
        transfer.transfers_assign(actor=officer, now=NOW)


def test_a_contact_on_the_bus_who_turns_positive_becomes_a_case_and_gives_the_seat_back(
    city: dict[str, Any],
) -> None:
    facility("I1", "isolation_point", room=5)
    facility("F1", "shelter_hospital", ordinary=5)
    bus("B1", seats=30)
    case = report("C1/1/1/101#1")
    contact = flows.contact_added(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assign()
    ride = Transfer.objects.get(resident_id=contact.resident_id)
    if ride.state != "picked_up":
        transfer.transfer_move(transfer_id=ride.pk, to="picked_up", actor=SYSTEM, now=NOW)
    # On the bus, their positive result arrives: the case is opened (red), the ride cancelled.
    report("C3/1/1/101#1", now=NOW + timedelta(hours=1))
    states = dict(Transfer.objects.filter(resident_id=contact.resident_id).values_list("reason", "state"))
    assert states == {"contact": "cancelled", "case": "requested"}
    assert HealthCode.objects.get(pk=contact.resident_id).rule == "case"


def test_a_zone_an_officer_confirms_plans_its_patients_sessions_at_once(
    city: dict[str, Any], settings: Any
) -> None:
    from datetime import time

    from bastion.care import services as care
    from bastion.care.models import Trip
    from bastion.care.services import NeedFields
    from bastion.zones.models import Zone

    settings.BASTION_ZONE_DESIGNATION = "proposed"
    patient = resident("C1/2/1/202#1")
    care.need_add(
        resident_id=patient.pk,
        fields=NeedFields(
            kind="dialysis", since=TODAY, weekdays=[0, 2, 4], session_time=time(14, 0), place="市二医院"
        ),
        actor=SYSTEM,
        now=NOW,
    )
    report("C1/2/1/301#1")
    zone = Zone.objects.get(address="C1/2/1")
    assert zone.state == "proposed" and not Trip.objects.exists()
    flows.zone_confirmed(zone_id=zone.pk, actor=SYSTEM, now=NOW)
    # Thursday 1 September: Friday's, Monday's and Wednesday's 14:00 sessions are planned.
    assert Trip.objects.filter(resident=patient, purpose="session").count() == 3


def test_a_second_exposure_extends_a_centralised_contacts_stay(city: dict[str, Any]) -> None:
    facility("I1", "isolation_point", room=5)
    bus("B1", seats=30)
    first = report("C1/1/1/101#1")
    target = resident("C3/1/1/101#1")
    flows.contact_added(
        resident_id=target.pk, kind="close", last_exposure_on=TODAY, case_id=first.pk, actor=SYSTEM, now=NOW
    )
    assign()
    stay = Transfer.objects.get(resident=target).stay_until
    assert stay is not None
    later = NOW + timedelta(days=2)
    second = report("C2/1/1/101#1", now=later)
    flows.contact_added(
        resident_id=target.pk,
        kind="close",
        last_exposure_on=later.date(),
        case_id=second.pk,
        actor=SYSTEM,
        now=later,
    )
    ride = Transfer.objects.get(resident=target)
    assert ride.stay_until is not None and ride.stay_until >= stay + timedelta(days=2)
