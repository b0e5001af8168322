"""A destination and its ride are given back before the pick-up when they no longer fit the
person (the transition map's vehicle assigned → requested): a clinician changed the clinical
type, or a waiting contact turned positive. The bed and the seat are freed, audited with the
reason, and the next assignment finds a place that fits. Once picked up, the ride goes where it
was going."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion import flows
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.transfer import selectors, services
from bastion.transfer.models import Transfer
from tests.conftest import NOW, TODAY
from tests.transfer.helpers import ambulance, bus, facility, report, resident, transfer_of

PATIENT = "C1/1/1/101#1"
LATER = NOW + timedelta(hours=1)


@pytest.fixture
def places(city: dict[str, Any]) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    facility("H1", "designated_hospital", ordinary=10, intensive=2)
    facility("I1", "isolation_point", room=10)
    ambulance("V1")
    ambulance("V2")
    bus("B1", seats=10)


def on_the_way_to(address: str, code: str, now: Any = NOW) -> Transfer:
    services.transfers_assign(actor=SYSTEM, now=now)
    t = transfer_of(address)
    assert t.state == "vehicle_assigned" and t.facility is not None and t.facility.code == code
    assert t.holds_bed and t.on_board
    return t


def given_back(t: Transfer, action: str) -> AuditEntry:
    """`t` is waiting again with neither bed nor seat; the audit row that says so."""
    t.refresh_from_db()
    assert (t.state, t.facility_id, t.vehicle_id, t.holds_bed, t.on_board) == (
        "requested",
        None,
        None,
        False,
        False,
    )
    return AuditEntry.objects.get(
        object_type="transfer.transfer", object_id=str(t.pk), action=f"transfer.transfer.{action}"
    )


def test_a_severe_case_with_a_vehicle_for_the_shelter_hospital_is_driven_to_a_designated_one(
    places: None,
) -> None:
    report(PATIENT)
    t = on_the_way_to(PATIENT, "F1")
    services.transfer_severity_set(resident_id=t.resident_id, severity="severe", actor=SYSTEM, now=LATER)
    entry = given_back(t, "destination_returned")
    assert entry.before == {"state": "vehicle_assigned"} and entry.reason
    # The shelter bed and the ambulance are free again, for this patient or anyone.
    assert selectors.free_beds_by_kind(at=LATER)["shelter_hospital"] == 10
    t = on_the_way_to(PATIENT, "H1", LATER)
    assert t.pool is not None and t.pool.kind == "intensive"
    assert t.vehicle is not None and t.vehicle.kind == "ambulance"


def test_a_clinical_type_that_still_fits_keeps_the_ride(places: None) -> None:
    report(PATIENT)
    t = on_the_way_to(PATIENT, "F1")
    services.transfer_severity_set(
        resident_id=t.resident_id, severity="asymptomatic", actor=SYSTEM, now=LATER
    )
    t.refresh_from_db()
    assert (t.state, t.holds_bed, t.on_board) == ("vehicle_assigned", True, True)


def test_a_patient_picked_up_is_not_re_routed_on_the_way(places: None) -> None:
    report(PATIENT)
    t = on_the_way_to(PATIENT, "F1")
    services.transfer_move(transfer_id=t.pk, to="picked_up", actor=SYSTEM, now=LATER)
    services.transfer_severity_set(resident_id=t.resident_id, severity="severe", actor=SYSTEM, now=LATER)
    t.refresh_from_db()
    assert (t.state, t.severity, t.facility_id) == ("picked_up", "severe", t.facility_id)
    assert t.facility is not None and t.facility.code == "F1"


def test_a_contact_on_the_bus_list_who_turns_positive_gives_the_room_and_the_seat_back(
    places: None,
) -> None:
    case = report("C3/1/1/101#1")
    flows.contact_added(
        resident_id=resident(PATIENT).pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    services.transfers_assign(actor=SYSTEM, now=NOW)
    t = transfer_of(PATIENT)
    assert t.state == "vehicle_assigned" and t.facility is not None and t.facility.code == "I1"
    report(PATIENT, now=LATER)
    entry = given_back(t, "became_case")
    assert entry.before == {"state": "vehicle_assigned"}
    assert selectors.free_beds_by_kind(at=LATER)["isolation_point"] == 10
    on_the_way_to(PATIENT, "F1", LATER)
