"""/api/v1/care/: residents' standing medical needs (community workers), the trips to
treatment (the dispatcher's board and its moves), yellow-code hospital requests and emergency
calls. Thin: parse, call one service, render through the selectors (and the masking policy)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, time
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.responses import Status

from bastion.care import rules, selectors, services
from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.errors import InvalidInput
from bastion.core.inputs import Day, Id, Line, Moment
from bastion.core.scopes import Actor

router = Router(tags=["care"])


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class NeedIn(Schema):
    kind: Line = Field(
        max_length=20, description="dialysis, chemotherapy, pregnancy, oxygen, insulin or other"
    )
    since: Day
    until: Day | None = None
    weekdays: list[Line] = Field([], max_length=7, description='Days of the sessions: "mon" … "sun"')
    dates: list[Day] = Field(
        [], max_length=60, description="Days of a chemotherapy cycle or obstetric visits"
    )
    session_time: Line | None = Field(None, max_length=5, description='The sessions\' time, "08:00"')
    place: Line = Field("", max_length=100, description="Where the treatment is given")
    due_on: Day | None = Field(None, description="A pregnancy's due date")
    note: Line = Field("", max_length=300)


class NewNeedIn(NeedIn):
    resident_id: Id


class NeedOut(Schema):
    id: int
    resident_id: int
    kind: str
    weekdays: list[str]
    dates: list[date]
    session_time: time | None
    place: str
    due_on: date | None
    since: date
    until: date | None
    note: str
    ended: bool


class EndIn(Schema):
    reason: Line = Field(max_length=300)


class TripOut(Schema):
    id: int
    at: datetime
    pickup_at: datetime
    resident_id: int
    patient: str
    pickup_address: str
    destination: str
    purpose: str
    kind: str
    emergency: bool
    missed: bool
    state: str
    vehicle_code: str
    community_id: int
    reason: str


class PlannedOut(Schema):
    created: int
    withdrawn: int


class DispatchIn(Schema):
    vehicle_code: Line = Field(max_length=30)


class TripMoveIn(Schema):
    to: Line = Field(max_length=20, description="picked_up, at_treatment, returned or missed")


class CancelIn(Schema):
    reason: Line = Field(max_length=300)


class YellowCodeIn(Schema):
    resident_id: Id
    at: Moment
    reason: Line = Field(max_length=300, description="What the resident is ill with")
    destination: Line = Field("", max_length=100)


class EmergencyIn(Schema):
    resident_id: Id
    note: Line = Field("", max_length=300)
    destination: Line = Field("", max_length=100)


def _session_time(value: str | None) -> time | None:
    if value is None or not value.strip():
        return None
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(_("The time reads like 08:00."), code="bad_time") from None


def _fields(body: NeedIn) -> services.NeedFields:
    try:
        weekdays = rules.weekday_numbers(body.weekdays)
    except ValueError as bad:
        raise InvalidInput(
            _("%(day)s is not a weekday: write mon, tue, wed, thu, fri, sat or sun.") % {"day": str(bad)},
            code="bad_weekday",
        ) from None
    return services.NeedFields(
        kind=body.kind,
        since=body.since,
        until=body.until,
        weekdays=weekdays,
        dates=body.dates,
        session_time=_session_time(body.session_time),
        place=body.place,
        due_on=body.due_on,
        note=body.note,
    )


def _need(actor: Actor, need_id: int) -> dict[str, Any]:
    return asdict(selectors.need_get(actor=actor, need_id=need_id))


@router.get("/needs", response=list[NeedOut], summary="Standing medical needs within your scope")
def need_list(request: HttpRequest, resident_id: Id | None = None) -> list[dict[str, Any]]:
    """The open needs (of one resident, if named), at most 2,000."""
    return [asdict(n) for n in selectors.needs_list(actor=_actor(request), resident_id=resident_id)]


@router.post("/needs", response={201: NeedOut}, summary="Record a resident's standing medical need")
def need_add(request: HttpRequest, body: NewNeedIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    need = services.need_add(resident_id=body.resident_id, fields=_fields(body), actor=actor, now=clock.now())
    return Status(201, _need(actor, need.pk))


@router.get("/needs/{int:need_id}", response=NeedOut, summary="A standing medical need")
def need_view(request: HttpRequest, need_id: Id) -> dict[str, Any]:
    return _need(_actor(request), need_id)


@router.put("/needs/{int:need_id}", response=NeedOut, summary="Change a need's schedule, place or note")
def need_change(request: HttpRequest, need_id: Id, body: NeedIn) -> dict[str, Any]:
    actor = _actor(request)
    services.need_change(need_id=need_id, fields=_fields(body), actor=actor, now=clock.now())
    return _need(actor, need_id)


@router.post("/needs/{int:need_id}/end", response=NeedOut, summary="End a need, with the reason")
def need_end(request: HttpRequest, need_id: Id, body: EndIn) -> dict[str, Any]:
    actor = _actor(request)
    services.need_end(need_id=need_id, reason=body.reason, actor=actor, now=clock.now())
    return _need(actor, need_id)


@router.get("/trips", response=list[TripOut], summary="The trips due on a day (the dispatcher's board)")
def trip_board(request: HttpRequest, day: Day | None = None) -> list[dict[str, Any]]:
    """Every trip of `day` (today by default) and every earlier one still under way: emergencies
    first, then missed sessions, then by time. Patients' names and needs as your role sees them."""
    return [asdict(t) for t in selectors.trips_for_board(_actor(request), day or clock.today())]


@router.post("/trips/plan", response=PlannedOut, summary="Plan the coming days' sessions now")
def trips_plan(request: HttpRequest) -> dict[str, Any]:
    return asdict(services.trips_plan(actor=_actor(request), now=clock.now()))


@router.post("/trips/yellow-code", response={201: TripOut}, summary="A trip to the yellow-code hospital")
def trip_yellow_code(request: HttpRequest, body: YellowCodeIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    trip = services.trip_request(
        resident_id=body.resident_id,
        at=body.at,
        destination=body.destination,
        reason=body.reason,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, asdict(selectors.trip_get(actor=actor, trip_id=trip.pk)))


@router.post("/emergency", response={201: TripOut}, summary="An emergency call (120): a trip at once")
def emergency(request: HttpRequest, body: EmergencyIn) -> Status[dict[str, Any]]:
    """Opens the trip whatever the resident's test results, health code or pass."""
    actor = _actor(request)
    trip = services.emergency_call(
        resident_id=body.resident_id,
        note=body.note,
        destination=body.destination,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, asdict(selectors.trip_get(actor=actor, trip_id=trip.pk)))


@router.get("/trips/{int:trip_id}", response=TripOut, summary="A trip to treatment")
def trip_view(request: HttpRequest, trip_id: Id) -> dict[str, Any]:
    return asdict(selectors.trip_get(actor=_actor(request), trip_id=trip_id))


@router.post("/trips/{int:trip_id}/dispatch", response=TripOut, summary="Send a vehicle to a trip")
def trip_dispatch(request: HttpRequest, trip_id: Id, body: DispatchIn) -> dict[str, Any]:
    actor = _actor(request)
    services.trip_dispatch(trip_id=trip_id, vehicle_code=body.vehicle_code, actor=actor, now=clock.now())
    return asdict(selectors.trip_get(actor=actor, trip_id=trip_id))


@router.post(
    "/trips/{int:trip_id}/move", response=TripOut, summary="Picked up, at treatment, home, or missed"
)
def trip_move(request: HttpRequest, trip_id: Id, body: TripMoveIn) -> dict[str, Any]:
    actor = _actor(request)
    services.trip_move(trip_id=trip_id, to=body.to, actor=actor, now=clock.now())
    return asdict(selectors.trip_get(actor=actor, trip_id=trip_id))


@router.post("/trips/{int:trip_id}/cancel", response=TripOut, summary="Cancel a trip, with the reason")
def trip_cancel(request: HttpRequest, trip_id: Id, body: CancelIn) -> dict[str, Any]:
    actor = _actor(request)
    services.trip_cancel(trip_id=trip_id, reason=body.reason, actor=actor, now=clock.now())
    return asdict(selectors.trip_get(actor=actor, trip_id=trip_id))
