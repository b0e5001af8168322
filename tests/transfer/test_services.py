"""From a positive result to a bed and back home, as the dispatcher and the person see it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion import flows
from bastion.core.errors import InvalidTransition
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.transfer import policy as policies
from bastion.transfer import selectors, services
from bastion.transfer.models import Transfer
from tests.conftest import NOW, TODAY
from tests.transfer.helpers import ambulance, bus, facility, report, resident, transfer_of

Places = dict[str, Any]


def assign(now: Any = NOW) -> services.Assignment:
    return services.transfers_assign(actor=SYSTEM, now=now)


def test_a_new_case_is_requested_with_its_deadlines_and_taken_to_a_shelter_hospital(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    facility("H1", "designated_hospital", ordinary=10, intensive=2)
    ambulance("V1")
    report("C1/1/1/101#1", kind="asymptomatic")
    t = transfer_of("C1/1/1/101#1")
    assert (t.state, t.reason, t.severity) == ("requested", "case", "asymptomatic")
    assert (t.pickup_by, t.admit_by) == (NOW + timedelta(hours=12), NOW + timedelta(hours=24))
    done = assign()
    t.refresh_from_db()
    assert (done.destinations, done.vehicles) == (1, 1)
    assert (t.state, t.facility.code, t.pool.kind, t.bed, t.vehicle.code, t.seat) == (
        "vehicle_assigned",
        "F1",
        "ordinary",
        1,
        "V1",
        1,
    )
    assert selectors.free_beds_by_kind(at=NOW) == {"shelter_hospital": 9, "designated_hospital": 12}
    # The person reads where they go and why.
    own = selectors.own_transfer(actor=SYSTEM, resident_id=t.resident_id)
    assert own is not None and own.facility_kind == "shelter_hospital"
    assert own.why == "无症状感染者：方舱医院"  # in plain words, in the city's language


def test_a_severe_case_takes_an_intensive_bed_and_a_high_risk_one_a_designated_hospital(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    facility("H1", "designated_hospital", ordinary=10, intensive=2)
    for code in ("V1", "V2", "V3"):
        ambulance(code)
    report("C1/1/1/101#1")
    services.transfer_severity_set(
        resident_id=transfer_of("C1/1/1/101#1").resident_id, severity="severe", actor=SYSTEM, now=NOW
    )
    report("C1/1/1/102#1", pregnant=True)
    report("C1/1/1/201#1", age=70, chronic_treatment="chemotherapy")
    assign()
    severe, pregnant, elderly = (transfer_of(a) for a in ("C1/1/1/101#1", "C1/1/1/102#1", "C1/1/1/201#1"))
    assert (severe.facility.code, severe.pool.kind) == ("H1", "intensive")
    assert (pregnant.high_risk, pregnant.facility.code, pregnant.pool.kind) == (True, "H1", "ordinary")
    assert (elderly.high_risk, elderly.facility.code) == (True, "H1")


def test_a_close_contact_under_a_centralised_plan_goes_by_bus_to_an_isolation_room(city: Places) -> None:
    facility("I1", "isolation_point", room=5)
    bus("B1", seats=10)
    ambulance("V1")
    case = report("C1/1/1/101#1")
    contact = flows.contact_added(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    t = transfer_of("C3/1/1/101#1")
    assert (t.reason, t.stay_until, t.pickup_by) == (
        "contact",
        contact.quarantine_until,
        NOW + timedelta(hours=12),
    )
    assign()
    t.refresh_from_db()
    # The contact is on the bus; the case (mild: a shelter hospital or an isolation point) takes
    # a room too, in the ambulance: a case never rides the bus.
    assert (t.facility.code, t.pool.kind, t.vehicle.code) == ("I1", "room", "B1")
    moved = transfer_of("C1/1/1/101#1")
    assert (moved.facility.code, moved.vehicle.code) == ("I1", "V1")


def test_a_child_goes_with_a_carer_and_an_infected_household_stays_together(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=1)
    facility("F2", "shelter_hospital", ordinary=10)
    for code in ("V1", "V2", "V3"):
        ambulance(code)
    resident("C1/1/1/101#2", age=38)
    resident("C1/1/1/101#3", age=36)
    report("C1/1/1/101#1", age=6)
    child, carer = transfer_of("C1/1/1/101#1"), transfer_of("C1/1/1/101#2")
    assert child.needs_carer and (carer.reason, carer.carer_of_id) == ("carer", child.pk)
    # Two days later the mother is positive too: the same group, the same place.
    report("C1/1/1/101#3", age=36, now=NOW + timedelta(days=2))
    mother = transfer_of("C1/1/1/101#3")
    assert mother.group_key == child.group_key == carer.group_key != ""
    assign(NOW + timedelta(days=2))
    placed = {t.resident.number: t for t in Transfer.objects.select_related("resident", "facility")}
    assert {t.facility.code for t in placed.values()} == {"F2"}  # F1's one bed would split them
    # The carer rides in the child's ambulance; the mother in her own.
    assert placed[2].vehicle_id == placed[1].vehicle_id != placed[3].vehicle_id


def test_an_emergency_jumps_the_queue_for_the_one_ambulance(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    ambulance("V1")
    report("C1/1/1/101#1", now=NOW - timedelta(hours=5))
    emergency = services.transfer_request(
        resident_id=resident("C1/1/1/102#1").pk, reason="case", emergency=True, actor=SYSTEM, now=NOW
    )[0]
    done = assign()
    emergency.refresh_from_db()
    assert (emergency.vehicle.code, done.without_vehicle) == ("V1", 1)
    assert transfer_of("C1/1/1/101#1").state == "destination_assigned"


def test_the_longest_wait_goes_first_among_equals_and_the_late_are_flagged(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    ambulance("V1")
    report("C1/1/1/101#1", now=NOW - timedelta(hours=13))
    report("C1/1/1/102#1", now=NOW - timedelta(hours=2))
    assign()
    assert transfer_of("C1/1/1/101#1").vehicle is not None
    assert transfer_of("C1/1/1/102#1").vehicle is None
    assert services.transfers_flag_overdue(actor=SYSTEM, now=NOW) == 1  # the first was 13 h late
    rows = selectors.queue(actor=SYSTEM, now=NOW)
    assert [(r.address, r.overdue, r.waited_hours) for r in rows] == [
        ("C1/1/1/101#1", True, 13.0),
        ("C1/1/1/102#1", False, 2.0),
    ]
    flagged = AuditEntry.objects.get(action="transfer.transfer.overdue")
    assert flagged.after["community"] == transfer_of("C1/1/1/101#1").community_id


def test_crews_confirm_by_themselves_in_an_exercise_and_the_vehicle_is_free_again(city: Places) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    ambulance("V1", trip_hours=2)
    report("C1/1/1/101#1")
    report("C1/1/1/102#1")
    with policies.changed(crews_confirm_by_themselves=True):
        assign()
        first = transfer_of("C1/1/1/101#1")
        assert (first.state, first.picked_up_at) == ("picked_up", NOW)
        assert services.transfers_confirm_by_crews(actor=SYSTEM, now=NOW + timedelta(hours=1)) == 0
        assert services.transfers_confirm_by_crews(actor=SYSTEM, now=NOW + timedelta(hours=2)) == 1
        assign(NOW + timedelta(hours=2))
    first.refresh_from_db()
    assert (first.state, first.admitted_at, first.on_board) == ("admitted", NOW + timedelta(hours=2), False)
    assert transfer_of("C1/1/1/102#1").vehicle.code == "V1"
    # Without the exercise's switch nothing confirms itself.
    assert services.transfers_confirm_by_crews(actor=SYSTEM, now=NOW + timedelta(hours=9)) == 0


def admitted(address: str) -> Transfer:
    facility("F1", "shelter_hospital", ordinary=10)
    ambulance("V1")
    report(address)
    assign()
    t = transfer_of(address)
    for to in ("picked_up", "admitted"):
        services.transfer_move(transfer_id=t.pk, to=to, actor=SYSTEM, now=NOW)
    t.refresh_from_db()
    return t


def test_a_discharge_needs_two_negative_tests_a_day_apart_at_ct_35(city: Places) -> None:
    t = admitted("C1/1/1/101#1")
    case_id = t.case_id
    assert case_id is not None
    later = NOW + timedelta(days=10)

    def test(hours_before: int, ct: float) -> None:
        services.discharge_test_record(
            transfer_id=t.pk,
            taken_at=later - timedelta(hours=hours_before),
            negative=True,
            ct=ct,
            actor=SYSTEM,
            now=later,
        )

    test(48, 36)
    test(36, 36)  # negative at Ct 36, but only 12 hours after the first
    with pytest.raises(InvalidTransition) as refused:
        flows.case_discharged(case_id=case_id, actor=SYSTEM, now=later)
    assert refused.value.code == "discharge_rule_not_met"
    t.refresh_from_db()
    assert t.state == "admitted" and t.holds_bed
    test(0, 37)
    assert flows.case_discharged(case_id=case_id, actor=SYSTEM, now=later).status == "discharged"
    t.refresh_from_db()
    assert (t.state, t.holds_bed, t.home_monitoring_until) == (
        "discharged",
        False,
        TODAY + timedelta(days=17),
    )
    # The bed was taken for those ten days, and is free after.
    assert selectors.free_beds_by_kind(at=NOW + timedelta(days=5))["shelter_hospital"] == 9
    assert selectors.free_beds_by_kind(at=later)["shelter_hospital"] == 10


def test_an_officer_overrides_the_discharge_rule_only_with_a_reason_which_is_audited(city: Places) -> None:
    t = admitted("C1/1/1/101#1")
    assert t.case_id is not None
    flows.case_discharged(
        case_id=t.case_id,
        override_reason="transferred to a rehabilitation ward",
        actor=SYSTEM,
        now=NOW + timedelta(days=3),
    )
    t.refresh_from_db()
    assert t.state == "discharged"
    entry = AuditEntry.objects.get(action="transfer.transfer.discharged", object_id=str(t.pk))
    assert "rehabilitation" in entry.reason


def test_a_contact_who_turns_positive_is_moved_as_a_case(city: Places) -> None:
    facility("I1", "isolation_point", room=5)
    facility("F1", "shelter_hospital", ordinary=5)
    case = report("C1/1/1/101#1")
    flows.contact_added(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assign()
    assert transfer_of("C3/1/1/101#1").facility.code == "I1"
    report("C3/1/1/101#1", now=NOW + timedelta(hours=1))
    t = transfer_of("C3/1/1/101#1")
    assert (t.reason, t.state, t.holds_bed) == ("case", "requested", False)
    assert Transfer.objects.filter(resident_id=t.resident_id).count() == 1
    assign(NOW + timedelta(hours=1))
    assert transfer_of("C3/1/1/101#1").facility.code == "F1"


def test_a_group_is_moved_together_by_hand(city: Places) -> None:
    facility("I1", "isolation_point", room=50)
    bus("B1", seats=40)
    made = services.transfers_request_group(address="C2", actor=SYSTEM, now=NOW)
    assert len(made) == 16 and len({t.group_key for t in made}) == 1
    assign()
    assert set(Transfer.objects.values_list("vehicle__code", "facility__code")) == {("B1", "I1")}


def test_a_contacts_stay_ends_with_the_plan_and_frees_the_room(city: Places) -> None:
    facility("I1", "isolation_point", room=5)
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
    t = transfer_of("C3/1/1/101#1")
    after = NOW + timedelta(days=(contact.quarantine_until - TODAY).days + 1)
    assert services.transfers_end_stays(actor=SYSTEM, now=after).count == 1
    t.refresh_from_db()
    assert (t.state, t.holds_bed) == ("cancelled", False)  # never picked up: no vehicle


def test_households_of_contacts_bound_for_one_place_share_a_bus(city: Places) -> None:
    facility("I1", "isolation_point", room=20)
    bus("B1", seats=10)
    bus("B2", seats=10)
    case = report("C1/1/1/101#1")
    contacts = ["C3/1/1/101#1", "C3/1/1/101#2", "C3/1/1/102#1", "C3/1/1/201#1"]
    for address in contacts:
        flows.contact_added(
            resident_id=resident(address).pk,
            kind="close",
            last_exposure_on=TODAY,
            case_id=case.pk,
            actor=SYSTEM,
            now=NOW,
        )
    assign()
    # Three households, four people, one bus: the other bus stays free for the next groups.
    assert len({transfer_of(a).vehicle.code for a in contacts}) == 1
    assert sorted(transfer_of(a).seat for a in contacts) == [1, 2, 3, 4]
