"""A zone lifted takes its residents' trips to treatment out of the plan at once (they go by
their own means again), in the lift's own transaction, audited with the reason; a resident
who still lives in another zone in force keeps theirs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bastion import flows
from bastion.care.models import Trip
from bastion.cases.services import protocol_adopt
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone
from tests.care.conftest import PATIENT, add_need, resident
from tests.conftest import NOW, TODAY

NOT_IN_A_RISK_ZONE = "该居民已不在风险区内。"


def planned() -> int:
    return Trip.objects.filter(resident=resident(PATIENT), state="planned").count()


def lift(address: str) -> None:
    zone = Zone.objects.get(address=address)
    flows.zone_lifted(zone_id=zone.pk, reason="全员核酸阴性", override=True, actor=SYSTEM, now=NOW)


def test_an_officers_lift_withdraws_the_trips_of_the_zones_patients_at_once(locked: None) -> None:
    add_need()
    assert planned() == 3
    lift("C1/2/1")
    assert planned() == 0
    withdrawn = AuditEntry.objects.filter(action="care.trip.withdrawn")
    assert withdrawn.count() == 3
    assert {e.reason for e in withdrawn} == {NOT_IN_A_RISK_ZONE}


def test_a_patient_still_in_another_zone_in_force_keeps_their_trips(city: dict[str, Any]) -> None:
    # The case's unit is high risk, the building where they also stayed medium.
    flows.case_reported(
        resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", stayed=["C1/2"], actor=SYSTEM, now=NOW
    )
    add_need()
    assert planned() == 3
    lift("C1/2/1")
    assert planned() == 3  # the building is still a medium-risk zone
    assert not AuditEntry.objects.filter(action="care.trip.withdrawn").exists()
    lift("C1/2")
    assert planned() == 0


def test_a_zone_lifted_by_its_clock_withdraws_its_patients_trips_at_once(city: dict[str, Any]) -> None:
    # dec2022: a household zone, lifted after 5 days without a new infection.
    protocol_adopt(protocol="dec2022", since=TODAY, reason="10 measures", actor=SYSTEM, now=NOW)
    flows.case_reported(resident_id=resident("C1/2/1/202#2").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    add_need()
    assert planned() == 3  # Friday 2, Monday 5, Wednesday 7
    tuesday = NOW + timedelta(days=5)
    flows.zones_evaluated(tuesday)
    assert Zone.objects.get(address="C1/2/1/202").state == "lifted"
    assert Trip.objects.filter(resident=resident(PATIENT), state="planned", at__gt=tuesday).count() == 0
    assert AuditEntry.objects.get(action="care.trip.withdrawn").reason == NOT_IN_A_RISK_ZONE
