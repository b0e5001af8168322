"""Someone in a hospital bed is not driven from home to dialysis: the planner skips patients
picked up or admitted by a transfer, the trips planned before are withdrawn when they are
picked up, and planned again the moment they are discharged home."""

from __future__ import annotations

from datetime import timedelta

from bastion import flows
from bastion.care import services
from bastion.care.models import Trip
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.transfer import policy as transfer_policy
from bastion.transfer import selectors as transfer_selectors
from bastion.transfer import services as transfer
from bastion.transfer.models import Transfer
from tests.care.conftest import OUTSIDE, PATIENT, add_need, resident
from tests.conftest import NOW


def planned() -> int:
    return Trip.objects.filter(resident=resident(PATIENT), state="planned").count()


def positive_and_taken(*moves: str) -> Transfer:
    """The patient turns positive (their transfer requested), is given a bed and an ambulance,
    and moves as `moves` say, through the flow the console and the API call."""
    transfer.facility_create(code="F1", kind="shelter_hospital", beds={"ordinary": 5}, actor=SYSTEM, now=NOW)
    transfer.facility_create(
        code="H1", kind="designated_hospital", beds={"ordinary": 5}, actor=SYSTEM, now=NOW
    )
    transfer.vehicle_create(code="V1", kind="ambulance", trip_hours=1, actor=SYSTEM, now=NOW)
    transfer.vehicle_create(code="V2", kind="ambulance", trip_hours=1, actor=SYSTEM, now=NOW)
    flows.case_reported(resident_id=resident(PATIENT).pk, kind="confirmed", actor=SYSTEM, now=NOW)
    transfer.transfers_assign(actor=SYSTEM, now=NOW)
    ride = Transfer.objects.get(resident=resident(PATIENT))
    for to in moves:
        flows.transfer_moved(transfer_id=ride.pk, to=to, actor=SYSTEM, now=NOW)
    ride.refresh_from_db()
    return ride


def test_a_patient_in_a_hospital_bed_gets_no_trips_planned(locked: None) -> None:
    positive_and_taken("picked_up", "admitted")
    add_need()
    assert planned() == 0
    assert services.trips_plan(actor=SYSTEM, now=NOW).created == 0
    assert planned() == 0


def test_a_patient_still_waiting_at_home_keeps_their_trips(locked: None) -> None:
    add_need()
    ride = positive_and_taken()
    assert ride.state == "vehicle_assigned"
    assert planned() == 3


def test_the_trips_planned_are_withdrawn_when_the_patient_is_picked_up(locked: None) -> None:
    add_need()
    assert planned() == 3
    positive_and_taken("picked_up")
    assert planned() == 0
    withdrawn = AuditEntry.objects.filter(action="care.trip.withdrawn")
    assert withdrawn.count() == 3
    assert {e.reason for e in withdrawn} == {"患者已被转运收治，不在家中。"}


def test_an_exercises_crews_pick_the_patient_up_and_the_trips_go(locked: None) -> None:
    add_need()
    with transfer_policy.changed(crews_confirm_by_themselves=True):
        positive_and_taken()  # picked up as the vehicle is assigned
        flows.transfers_assigned(NOW + timedelta(minutes=15))
    assert planned() == 0


def test_a_patient_discharged_home_has_their_sessions_planned_again_at_once(locked: None) -> None:
    add_need()
    ride = positive_and_taken("picked_up", "admitted")
    assert planned() == 0 and ride.case_id is not None
    flows.case_discharged(case_id=ride.case_id, override_reason="recovered", actor=SYSTEM, now=NOW)
    assert planned() == 3


def test_a_cancelled_ride_leaves_the_patient_at_home_with_their_trips(locked: None) -> None:
    add_need()
    ride = positive_and_taken("picked_up")
    assert planned() == 0
    flows.transfer_moved(transfer_id=ride.pk, to="cancelled", reason="turned back", actor=SYSTEM, now=NOW)
    assert planned() == 3


def test_a_patient_on_dialysis_is_taken_to_a_designated_hospital(locked: None) -> None:
    """Care's standing needs reach transfer's admission criteria (the registry's chronic
    treatment is empty): on dialysis is at high risk, whatever the age."""
    add_need()
    assert resident(PATIENT).chronic_treatment == ""
    ride = positive_and_taken()
    assert ride.high_risk and ride.facility is not None
    assert (ride.facility.code, ride.facility.kind) == ("H1", "designated_hospital")


def test_a_patient_without_standing_needs_goes_to_the_shelter_hospital(locked: None) -> None:
    add_need(address=OUTSIDE)
    ride = positive_and_taken()
    assert not ride.high_risk and ride.facility is not None and ride.facility.code == "F1"


def test_a_patient_waiting_to_be_moved_on_from_a_hospital_gets_no_trips_from_home(locked: None) -> None:
    """Admitted, then their clinical type no longer fits the place (no intensive bed there): a
    new transfer from that place is requested. Waiting for it, they are still in a hospital bed,
    not at home."""
    add_need()
    ride = positive_and_taken("picked_up", "admitted")
    assert ride.facility is not None and ride.facility.code == "H1"
    transfer.transfer_severity_set(resident_id=ride.resident_id, severity="severe", actor=SYSTEM, now=NOW)
    onward = Transfer.objects.get(resident=resident(PATIENT), state="requested")
    assert onward.moved_from_id == ride.facility_id
    assert ride.resident_id in set(transfer_selectors.away_from_home().values_list("resident_id", flat=True))
    assert services.trips_plan(actor=SYSTEM, now=NOW).created == 0
    assert planned() == 0


def test_a_contact_home_from_their_centralised_stay_has_their_sessions_planned_at_once(locked: None) -> None:
    from bastion.cases.models import Case

    add_need()
    transfer.facility_create(code="Q1", kind="isolation_point", beds={"room": 5}, actor=SYSTEM, now=NOW)
    transfer.vehicle_create(code="B1", kind="bus", seats=30, trip_hours=1, actor=SYSTEM, now=NOW)
    flows.contact_added(
        resident_id=resident(PATIENT).pk,
        kind="close",
        last_exposure_on=NOW.date(),
        case_id=Case.objects.first().pk,  # type: ignore[union-attr]
        actor=SYSTEM,
        now=NOW,
    )
    ride = Transfer.objects.get(resident=resident(PATIENT))
    transfer.transfers_assign(actor=SYSTEM, now=NOW)
    for to in ("picked_up", "admitted"):
        flows.transfer_moved(transfer_id=ride.pk, to=to, actor=SYSTEM, now=NOW)
    planned = Trip.objects.filter(resident=resident(PATIENT), state="planned")
    assert not planned.exists()
    ride.refresh_from_db()
    home = NOW + timedelta(days=(ride.stay_until - NOW.date()).days + 1, hours=1)
    flows.transfers_assigned(home)
    ride.refresh_from_db()
    assert ride.state == "discharged"
    # Planned in the same quarter hour: planning again adds nothing.
    after_the_flow = planned.count()
    services.trips_plan_households(households=[resident(PATIENT).household_id], actor=SYSTEM, now=home)
    assert after_the_flow == planned.count() > 0
