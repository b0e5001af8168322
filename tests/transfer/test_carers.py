"""A carer goes with someone who cannot care for themselves, and comes back with them: however
the person's transfer ends (discharged, discharged before admission, a contact's stay run out,
cancelled, refused, moved on as a case or to another place), the carer's own transfer ends
with it, its bed and seat given back, audited with the reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion import flows
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.transfer import selectors, services
from bastion.transfer.models import Transfer, TransferVehicle
from tests.conftest import NOW, TODAY
from tests.transfer.helpers import ambulance, bus, facility, report, resident, transfer_of

CHILD, CARER = "C1/1/1/101#1", "C1/1/1/101#2"

Places = dict[str, Any]


def assign(now: Any = NOW) -> None:
    services.transfers_assign(actor=SYSTEM, now=now)


def child_with_carer(*, as_contact: bool = False, riding: bool = True) -> tuple[Transfer, Transfer]:
    """A six-year-old with a bed (a room, as a contact) and their carer with theirs, both in the
    ambulance (on the bus) unless no vehicle is free."""
    resident(CARER, age=38)
    resident("C1/1/1/101#3", age=36)
    if as_contact:
        case = report("C3/1/1/101#1")
        resident(CHILD, age=6)
        flows.contact_added(
            resident_id=resident(CHILD, age=6).pk,
            kind="close",
            last_exposure_on=TODAY,
            case_id=case.pk,
            actor=SYSTEM,
            now=NOW,
        )
    else:
        report(CHILD, age=6)
    assign()
    child, carer = transfer_of(CHILD), transfer_of(CARER)
    assert (carer.reason, carer.carer_of_id) == ("carer", child.pk)
    assert child.holds_bed and carer.holds_bed and carer.on_board is riding
    return child, carer


def admit(*transfers: Transfer) -> None:
    for t in transfers:
        for to in ("picked_up", "admitted"):
            services.transfer_move(transfer_id=t.pk, to=to, actor=SYSTEM, now=NOW)


def ended_with(carer: Transfer, state: str) -> AuditEntry:
    """The carer's transfer ended in `state`, its bed and seat given back; its audit row."""
    carer.refresh_from_db()
    assert (carer.state, carer.holds_bed, carer.on_board) == (state, False, False)
    assert carer.ended_at is not None and carer.end_reason
    return AuditEntry.objects.get(
        object_type="transfer.transfer", object_id=str(carer.pk), action=f"transfer.transfer.{state}"
    )


@pytest.fixture
def places(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    facility("H1", "designated_hospital", ordinary=10, intensive=2)
    facility("I1", "isolation_point", room=10)
    ambulance("V1")
    ambulance("V2")
    bus("B1", seats=10)


def test_the_carer_goes_home_when_the_person_is_discharged(places: None) -> None:
    child, carer = child_with_carer()
    admit(child, carer)
    assert child.case_id is not None
    flows.case_discharged(case_id=child.case_id, override_reason="recovered", actor=SYSTEM, now=NOW)
    entry = ended_with(carer, "discharged")
    assert "recovered" in entry.reason
    assert selectors.free_beds_by_kind(at=NOW + timedelta(minutes=1))["shelter_hospital"] == 10


def test_the_carers_transfer_is_cancelled_when_the_person_is_discharged_before_admission(
    places: None,
) -> None:
    child, carer = child_with_carer()
    assert child.case_id is not None
    flows.case_discharged(case_id=child.case_id, actor=SYSTEM, now=NOW)
    child.refresh_from_db()
    assert child.state == "cancelled"
    entry = ended_with(carer, "cancelled")
    assert entry.before == {"state": "vehicle_assigned"}
    # Both beds and both seats are free again: the next person takes the ambulance.
    assert selectors.free_beds_by_kind(at=NOW + timedelta(minutes=1))["shelter_hospital"] == 10
    assert not Transfer.objects.filter(on_board=True).exists()


def test_the_carer_goes_home_when_a_contacts_stay_runs_out(places: None) -> None:
    child, carer = child_with_carer(as_contact=True)
    admit(child, carer)
    assert child.stay_until is not None
    after = NOW + timedelta(days=(child.stay_until - TODAY).days + 1)
    assert services.transfers_end_stays(actor=SYSTEM, now=after).count == 2
    ended_with(carer, "discharged")
    assert selectors.free_beds_by_kind(at=after)["isolation_point"] == 10


@pytest.mark.parametrize("to", ["cancelled", "refused"])
def test_the_carers_transfer_ends_when_the_persons_is_cancelled_or_refused(places: None, to: str) -> None:
    child, carer = child_with_carer()
    services.transfer_move(
        transfer_id=child.pk, to=to, reason="the family took the child", actor=SYSTEM, now=NOW
    )
    # The carer did not refuse anything: their ride is cancelled, with the person's reason.
    entry = ended_with(carer, "cancelled")
    assert "the family took the child" in entry.reason
    assert selectors.free_beds_by_kind(at=NOW + timedelta(minutes=1))["shelter_hospital"] == 10


def test_a_contact_in_a_room_who_turns_positive_takes_their_carer_along_as_a_case(places: None) -> None:
    child, carer = child_with_carer(as_contact=True)
    admit(child, carer)
    report(CHILD, age=6, now=NOW + timedelta(hours=1))
    ended_with(carer, "discharged")
    case, new_carer = transfer_of(CHILD), transfer_of(CARER)
    assert (case.reason, case.state) == ("case", "requested")
    assert (new_carer.reason, new_carer.state, new_carer.carer_of_id) == ("carer", "requested", case.pk)
    assert new_carer.group_key == case.group_key != ""


def test_a_person_moved_on_to_another_place_takes_their_carer_along(places: None) -> None:
    child, carer = child_with_carer()
    admit(child, carer)
    services.transfer_severity_set(resident_id=child.resident_id, severity="severe", actor=SYSTEM, now=NOW)
    ended_with(carer, "discharged")
    moved, new_carer = transfer_of(CHILD), transfer_of(CARER)
    assert (moved.state, moved.emergency) == ("requested", True)
    assert (new_carer.state, new_carer.carer_of_id) == ("requested", moved.pk)
    assign()
    moved.refresh_from_db()
    new_carer.refresh_from_db()
    assert moved.facility is not None and new_carer.facility == moved.facility
    assert moved.facility.code == "H1"


def waiting_with_carer(*, as_contact: bool = False) -> tuple[Transfer, Transfer]:
    """A six-year-old and their carer given beds (rooms) but no vehicle yet: none is free."""
    for vehicle in TransferVehicle.objects.all():
        TransferVehicle.objects.filter(pk=vehicle.pk).update(active=False)
    child, carer = child_with_carer(as_contact=as_contact, riding=False)
    assert (child.state, carer.state) == ("destination_assigned", "destination_assigned")
    return child, carer


def test_a_carer_gives_the_old_destination_back_with_the_person_whose_clinical_type_changed(
    places: None,
) -> None:
    child, carer = waiting_with_carer()
    assert child.facility is not None and child.facility.code == "F1"
    services.transfer_severity_set(resident_id=child.resident_id, severity="severe", actor=SYSTEM, now=NOW)
    carer.refresh_from_db()
    assert (carer.state, carer.holds_bed, carer.facility_id) == ("requested", False, None)
    assign()
    child.refresh_from_db()
    carer.refresh_from_db()
    assert child.facility is not None and carer.facility is not None
    assert (child.facility.code, carer.facility.code) == ("H1", "H1")


def test_a_waiting_contact_who_turns_positive_keeps_their_carer_with_them(places: None) -> None:
    child, carer = waiting_with_carer(as_contact=True)
    report(CHILD, age=6, now=NOW + timedelta(hours=1))
    child.refresh_from_db()
    carer.refresh_from_db()
    assert (child.reason, child.state) == ("case", "requested")
    assert (carer.state, carer.holds_bed) == ("requested", False)
    assert carer.group_key == child.group_key != "" and carer.pickup_by == child.pickup_by
    assign(NOW + timedelta(hours=1))
    child.refresh_from_db()
    carer.refresh_from_db()
    assert child.facility is not None and carer.facility == child.facility
    assert child.facility.kind == "shelter_hospital"


def test_a_carer_who_turns_positive_is_a_case_of_their_own_and_stays_with_the_household(
    places: None,
) -> None:
    child, carer = waiting_with_carer()
    report(CARER, age=38, now=NOW + timedelta(hours=1))
    carer.refresh_from_db()
    assert (carer.reason, carer.carer_of_id, carer.state) == ("case", None, "requested")
    assert carer.group_key == child.group_key != ""
    # The child is discharged before admission: the adult, a case now, is not sent home with them.
    assert child.case_id is not None
    flows.case_discharged(case_id=child.case_id, actor=SYSTEM, now=NOW + timedelta(hours=2))
    carer.refresh_from_db()
    assert carer.state == "requested"


def contact_made_carer() -> tuple[Transfer, Transfer, Any]:
    """An adult waiting as a close contact under a centralised plan; a child of their household
    turns positive an hour later: the adult goes with the child as their carer."""
    resident("C1/1/1/101#3", age=36)
    case = report("C3/1/1/101#1")
    contact = flows.contact_added(
        resident_id=resident(CARER, age=38).pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    report(CHILD, age=6, now=NOW + timedelta(hours=1))
    child, carer = transfer_of(CHILD), transfer_of(CARER)
    assert (carer.reason, carer.carer_of_id) == ("carer", child.pk)
    assert carer.stay_until == contact.quarantine_until  # their own plan's end is kept
    return child, carer, contact.quarantine_until


def test_a_carer_whose_own_quarantine_runs_longer_stays_until_it_ends(places: None) -> None:
    child, carer, until = contact_made_carer()
    assign(NOW + timedelta(hours=1))
    admit(child, carer)
    assert child.case_id is not None
    flows.case_discharged(
        case_id=child.case_id, override_reason="recovered", actor=SYSTEM, now=NOW + timedelta(days=2)
    )
    child.refresh_from_db()
    carer.refresh_from_db()
    assert child.state == "discharged"
    assert (carer.state, carer.reason, carer.carer_of_id, carer.holds_bed) == (
        "admitted",
        "contact",
        None,
        True,
    )
    assert AuditEntry.objects.filter(
        object_id=str(carer.pk), action="transfer.transfer.stays_as_contact"
    ).exists()
    # Their own plan's last day: still there; the day after: home.
    last_day = NOW + timedelta(days=(until - TODAY).days)
    assert services.transfers_end_stays(actor=SYSTEM, now=last_day).count == 0
    assert services.transfers_end_stays(actor=SYSTEM, now=last_day + timedelta(days=1)).count == 1
    carer.refresh_from_db()
    assert (carer.state, carer.holds_bed) == ("discharged", False)


def test_a_waiting_carer_whose_own_quarantine_runs_on_is_moved_as_a_contact(places: None) -> None:
    child, carer, _until = contact_made_carer()
    assign(NOW + timedelta(hours=1))
    carer.refresh_from_db()
    assert carer.facility is not None and carer.facility.kind == "shelter_hospital"
    services.transfer_move(
        transfer_id=child.pk, to="cancelled", reason="the child tested negative again", actor=SYSTEM, now=NOW
    )
    carer.refresh_from_db()
    assert (carer.state, carer.reason, carer.holds_bed, carer.on_board) == (
        "requested",
        "contact",
        False,
        False,
    )
    assign(NOW + timedelta(hours=2))
    carer.refresh_from_db()
    assert carer.facility is not None and carer.facility.kind == "isolation_point"
