"""Standing needs and trips to treatment as the community worker, the dispatcher and the
platform's clock meet them."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest

from bastion import flows
from bastion.care import rules, selectors, services
from bastion.care.models import MedicalNeed, Trip, TripState
from bastion.core import clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor
from bastion.zones import services as zones
from bastion.zones.models import Zone
from tests.care.conftest import FRIDAY, OUTSIDE, PATIENT, add_need, dialysis, resident
from tests.conftest import NOW, TODAY

EIGHT = time(8, 0)


def local(day: date, at: time = EIGHT) -> datetime:
    return datetime.combine(day, at, clock.city_zone())


def planned_days(need: MedicalNeed) -> list[date]:
    return [
        clock.local_date(at)
        for at in Trip.objects.filter(need=need, state=TripState.PLANNED)
        .order_by("at")
        .values_list("at", flat=True)
    ]


def test_a_dialysis_need_in_a_risk_zone_gets_its_trips_planned_before_anyone_asks(
    locked: None, worker: Actor
) -> None:
    need = add_need(actor=worker)
    # From Thursday 1 September: Friday, Monday and Wednesday at 08:00, to the dialysis centre.
    assert planned_days(need) == [date(2022, 9, 2), date(2022, 9, 5), date(2022, 9, 7)]
    trip = Trip.objects.filter(need=need).order_by("at").first()
    assert trip is not None
    assert trip.at == local(FRIDAY)
    assert trip.destination == "市二医院透析中心"
    assert trip.pickup_address == "C1/2/1/202"
    assert trip.kind == "dialysis" and not trip.emergency
    added = AuditEntry.objects.get(action="care.need.added")
    assert added.actor_label == worker.label and added.after["weekdays"] == [0, 2, 4]
    assert AuditEntry.objects.filter(action="care.trip.planned").count() == 3


def test_planning_is_idempotent_and_keeps_to_residents_of_risk_zones(locked: None, worker: Actor) -> None:
    inside = add_need(actor=worker)
    outside = add_need(OUTSIDE, actor=worker)
    assert planned_days(outside) == []
    assert services.trips_plan(actor=SYSTEM, now=NOW).created == 0
    assert services.trips_plan(actor=SYSTEM, now=NOW + timedelta(hours=1)).created == 0
    assert Trip.objects.filter(need=inside).count() == 3
    # The next day's planning adds the day that came into the window (Thursday the 8th: none),
    # and a week later the next Monday/Wednesday/Friday.
    later = NOW + timedelta(days=7)
    with clock.use(clock.FrozenClock(later)):
        assert services.trips_plan(actor=SYSTEM, now=later).created == 3
    assert Trip.objects.filter(need=inside).count() == 6


def test_a_new_zone_plans_its_patients_sessions_at_once(city: dict[str, Any], worker: Actor) -> None:
    need = add_need(actor=worker)
    assert planned_days(need) == []
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    assert planned_days(need) == [date(2022, 9, 2), date(2022, 9, 5), date(2022, 9, 7)]


# The table's needs that a community worker may record, over the planner's window (7 days).
PLANNABLE = [
    (need, expected)
    for need, first, last, expected in rules.SESSIONS_CASES
    if first == TODAY and last == TODAY + timedelta(days=6) and rules.schedule_problem(need) is None
]


@pytest.mark.parametrize(("need", "expected"), PLANNABLE)
def test_the_planner_plans_the_sessions_the_rule_gives(
    locked: None, worker: Actor, need: rules.Need, expected: tuple[date, ...]
) -> None:
    fields = services.NeedFields(
        kind=need.kind,
        since=need.since,
        until=need.until,
        weekdays=need.weekdays,
        dates=need.dates,
        session_time=need.session_time,
        due_on=need.due_on,
    )
    made = services.need_add(resident_id=resident(PATIENT).pk, fields=fields, actor=worker, now=NOW)
    assert tuple(planned_days(made)) == expected


@pytest.mark.parametrize(("need", "problem"), rules.PROBLEM_CASES)
def test_a_need_whose_schedule_cannot_stand_is_refused_in_plain_words(
    city: dict[str, Any], worker: Actor, need: rules.Need, problem: str | None
) -> None:
    fields = services.NeedFields(
        kind=need.kind,
        since=need.since,
        until=need.until,
        weekdays=need.weekdays,
        dates=need.dates,
        session_time=need.session_time,
        due_on=need.due_on,
    )
    if problem is None:
        services.need_add(resident_id=resident(PATIENT).pk, fields=fields, actor=worker, now=NOW)
        assert MedicalNeed.objects.count() == 1
        return
    with pytest.raises(InvalidInput) as refused:
        services.need_add(resident_id=resident(PATIENT).pk, fields=fields, actor=worker, now=NOW)
    assert refused.value.code == problem
    assert str(refused.value.message)
    assert (
        not MedicalNeed.objects.exists()
        and not AuditEntry.objects.filter(action__startswith="care.").exists()
    )


def test_one_open_need_of_a_kind_per_resident(locked: None, worker: Actor) -> None:
    add_need(actor=worker)
    with pytest.raises(Conflict):
        add_need(actor=worker, weekdays=(1, 3, 5))
    assert MedicalNeed.objects.count() == 1


def test_needs_are_kept_within_the_workers_community_only(
    city: dict[str, Any], neighbour_worker: Actor, dispatcher: Actor, centre: Actor
) -> None:
    with pytest.raises(NotFound):
        add_need(actor=neighbour_worker)
    for actor in (dispatcher, centre):
        with pytest.raises(Forbidden):
            add_need(actor=actor)
    assert not MedicalNeed.objects.exists()


def test_ending_a_need_withdraws_its_planned_trips_and_is_audited(locked: None, worker: Actor) -> None:
    need = add_need(actor=worker)
    with pytest.raises(InvalidInput):
        services.need_end(need_id=need.pk, reason="  ", actor=worker, now=NOW)
    services.need_end(need_id=need.pk, reason="转院治疗", actor=worker, now=NOW)
    assert not Trip.objects.filter(need=need).exists()
    need.refresh_from_db()
    assert need.ended_at == NOW and need.until == TODAY
    ended = AuditEntry.objects.get(action="care.need.ended")
    assert ended.reason == "转院治疗" and ended.after["ended"] is True
    assert AuditEntry.objects.filter(action="care.trip.withdrawn").count() == 3
    with pytest.raises(InvalidTransition):
        services.need_change(need_id=need.pk, fields=dialysis(), actor=worker, now=NOW)
    # The kind may be recorded again once the first has ended.
    add_need(actor=worker)


def test_a_changed_schedule_replans_its_sessions(locked: None, worker: Actor) -> None:
    need = add_need(actor=worker)
    friday = Trip.objects.get(need=need, at=local(FRIDAY))
    # Tuesday, Thursday and Friday now: Friday's trip stays as it is, Monday's and Wednesday's go.
    services.need_change(
        need_id=need.pk, fields=dialysis(weekdays=(1, 3, 4), place="华西透析"), actor=worker, now=NOW
    )
    assert planned_days(need) == [date(2022, 9, 2), date(2022, 9, 6)]
    assert Trip.objects.get(need=need, at=local(FRIDAY)).pk == friday.pk
    assert set(Trip.objects.filter(need=need).values_list("destination", flat=True)) == {"华西透析"}
    change = AuditEntry.objects.get(action="care.need.changed")
    assert change.before["weekdays"] == [0, 2, 4] and change.after["weekdays"] == [1, 3, 4]
    with pytest.raises(InvalidInput):
        services.need_change(need_id=need.pk, fields=dialysis(kind="chemotherapy"), actor=worker, now=NOW)


def test_a_session_not_picked_up_in_time_is_flagged_missed_at_once(locked: None, worker: Actor) -> None:
    need = add_need(actor=worker)
    friday = Trip.objects.get(need=need, at=local(FRIDAY))
    before = local(FRIDAY) - timedelta(minutes=1)
    assert services.trips_flag_missed(actor=SYSTEM, now=before) == 0
    # The timer, at the session's time: missed, with the time it was flagged, and audited.
    assert services.trips_flag_missed(actor=SYSTEM, now=local(FRIDAY)) == 1
    friday.refresh_from_db()
    assert friday.state == TripState.MISSED and friday.missed_at == local(FRIDAY)
    assert AuditEntry.objects.get(action="care.trip.missed").object_id == str(friday.pk)
    # Once only; Monday's session is not due yet.
    assert services.trips_flag_missed(actor=SYSTEM, now=local(FRIDAY) + timedelta(minutes=15)) == 0
    assert Trip.objects.filter(need=need, state=TripState.PLANNED).count() == 2
    # The dispatcher and the community see it, missed, on the day's board.
    board = selectors.trips_for_board(SYSTEM, FRIDAY)
    assert [(t.id, t.missed) for t in board] == [(friday.pk, True)]


def test_a_missed_session_can_still_be_served_late(locked: None, worker: Actor, dispatcher: Actor) -> None:
    need = add_need(actor=worker)
    friday = Trip.objects.get(need=need, at=local(FRIDAY))
    flows.sessions_missed(local(FRIDAY))
    services.trip_dispatch(trip_id=friday.pk, vehicle_code="川A-120", actor=dispatcher, now=local(FRIDAY))
    # Not flagged again by the next quarter's timer; the mark stays.
    flows.sessions_missed(local(FRIDAY) + timedelta(minutes=15))
    friday.refresh_from_db()
    assert friday.state == TripState.DISPATCHED and friday.missed_at == local(FRIDAY)


def test_a_dispatched_trip_not_picked_up_is_missed_too_but_a_picked_up_one_is_not(
    locked: None, worker: Actor, dispatcher: Actor
) -> None:
    add_need(actor=worker)
    add_need("C1/2/1/201#1", actor=worker)
    first, second = Trip.objects.filter(at=local(FRIDAY)).order_by("pk")
    for trip in (first, second):
        services.trip_dispatch(trip_id=trip.pk, vehicle_code="V1", actor=dispatcher, now=NOW)
    services.trip_move(
        trip_id=second.pk, to=TripState.PICKED_UP, actor=dispatcher, now=local(FRIDAY) - timedelta(minutes=30)
    )
    assert services.trips_flag_missed(actor=SYSTEM, now=local(FRIDAY)) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, second.state) == (TripState.MISSED, TripState.PICKED_UP)


def test_an_emergency_call_is_held_back_by_no_result_code_or_pass(
    locked: None, worker: Actor, dispatcher: Actor
) -> None:
    """The case itself (positive, in a high-risk zone in force, its household under door-to-door
    service) calls 120: the trip opens at once, flagged, on top of the board. The service asks
    nothing of results, codes or passes; only the caller's power and scope (and the import
    contract "care's trips ask nothing of test results, cases or health codes" keeps it so)."""
    case_patient = resident("C1/2/1/301#1")
    trip = services.emergency_call(resident_id=case_patient.pk, note="胸痛", actor=worker, now=NOW)
    assert trip.emergency and trip.state == TripState.PLANNED and trip.at == NOW
    assert trip.destination == "急诊" and trip.pickup_address == "C1/2/1/301"
    # The 120 centre (transfer dispatch) calls for anyone in the city, in a zone or not.
    other = services.emergency_call(resident_id=resident(OUTSIDE).pk, actor=dispatcher, now=NOW)
    add_need(actor=worker)
    board = selectors.trips_for_board(dispatcher, TODAY)
    assert [t.id for t in board[:2]] == [trip.id, other.id] or [t.id for t in board[:2]] == [
        other.id,
        trip.id,
    ]
    assert all(t.emergency for t in board[:2])
    # Never "missed": an emergency has no session to miss.
    assert services.trips_flag_missed(actor=SYSTEM, now=NOW + timedelta(hours=2)) == 0
    assert AuditEntry.objects.filter(action="care.trip.emergency").count() == 2


def test_a_resident_of_a_risk_zone_ill_with_something_else_goes_to_the_yellow_code_hospital(
    locked: None, worker: Actor
) -> None:
    trip = services.trip_request(
        resident_id=resident(PATIENT).pk,
        at=NOW + timedelta(hours=2),
        reason="高烧不退",
        actor=worker,
        now=NOW,
    )
    assert trip.purpose == "yellow_code" and trip.destination == "黄码医院"
    with pytest.raises(InvalidInput) as refused:
        services.trip_request(
            resident_id=resident(OUTSIDE).pk,
            at=NOW + timedelta(hours=2),
            reason="高烧",
            actor=worker,
            now=NOW,
        )
    assert refused.value.code == "not_in_risk_zone"


def test_a_lifted_zone_withdraws_its_patients_planned_sessions(locked: None, worker: Actor) -> None:
    need = add_need(actor=worker)
    zone = Zone.objects.get(state="in_force", unit__isnull=False)
    zones.zone_lift(zone_id=zone.pk, reason="提前解封", override=True, actor=SYSTEM, now=NOW)
    planned = services.trips_plan(actor=SYSTEM, now=NOW)
    assert planned.withdrawn == 3 and planned_days(need) == []
    assert AuditEntry.objects.filter(action="care.trip.withdrawn").count() == 3


def test_the_board_shows_dispatch_its_patients_and_the_command_centre_only_figures(
    locked: None, worker: Actor, neighbour_worker: Actor, dispatcher: Actor, centre: Actor
) -> None:
    add_need(actor=worker)
    name = resident(PATIENT).name
    [seen] = selectors.trips_for_board(dispatcher, FRIDAY)
    assert seen.patient == name and seen.kind == "dialysis"
    assert seen.pickup_at == local(FRIDAY) - timedelta(hours=1)
    [masked] = selectors.trips_for_board(centre, FRIDAY)
    assert masked.patient != name and masked.patient.startswith(name[0]) and masked.kind == "medical"
    figures = selectors.figures(actor=centre)
    assert figures.trips_planned == 3 and figures.needs_by_kind == {"dialysis": 1}
    # Another community's worker sees nothing of it.
    assert selectors.trips_for_board(neighbour_worker, FRIDAY) == []
    with pytest.raises(Forbidden):
        selectors.needs_visible(centre)
