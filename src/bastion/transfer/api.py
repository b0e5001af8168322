"""Transfer endpoints: thin — parse, call one service or flow, render. Reads are scoped by the
caller; people are shown through the masking policy (transfer dispatch sees those it moves in
full, and nobody else)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from bastion import flows
from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.inputs import Count, Id, Line, Moment
from bastion.core.scopes import Actor
from bastion.transfer import selectors, services

router = Router(tags=["transfer"])


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class FacilityIn(Schema):
    code: Line = Field(max_length=30)
    name: Line = Field("", max_length=100)
    kind: Line = Field(
        description="designated_hospital, shelter_hospital, isolation_point, yellow_code_hospital"
    )
    beds: dict[str, Count] = Field(description="beds by kind: ordinary, intensive, room")


class FacilityOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    active: bool
    beds: dict[str, int]
    free: dict[str, int] = Field(description="free beds by kind at the moment asked about")
    in_care: int


class VehicleIn(Schema):
    code: Line = Field(max_length=30)
    kind: Line = Field(description="ambulance (one patient a trip) or bus")
    seats: Count | None = Field(None, description="a bus's seats; an ambulance has one")
    trip_hours: float = Field(gt=0, le=48)
    crew: Line = Field("", max_length=200)


class VehicleOut(Schema):
    id: int
    code: str
    kind: str
    seats: int
    trip_hours: float
    crew: str
    aboard: int
    active: bool


class TransferOut(Schema):
    id: int
    resident_id: int
    address: str
    community: str
    name: str
    id_number: str
    phone: str
    reason: str
    severity: str
    high_risk: bool
    needs_carer: bool
    emergency: bool
    state: str
    requested_at: datetime
    waited_hours: float = Field(description="from the request to the pick-up (or to now)")
    pickup_by: datetime
    admit_by: datetime | None
    overdue: bool
    facility: str | None
    facility_kind: str | None
    vehicle: str | None
    group: str


class MyTransferOut(Schema):
    member: int = Field(description="the member's number in the household")
    name: str = Field(description="as the masking policy shows it")
    state: str
    reason: str = Field(description="case, contact, carer or group")
    destination: str | None = Field(description="the place's name, once one is assigned")
    destination_kind: str | None
    why: str = Field(description="why this place, or why the transfer ended")
    requested_at: datetime
    pickup_by: datetime | None = Field(description="while waiting to be picked up")
    admit_by: datetime | None = Field(description="until admitted")
    admitted_at: datetime | None
    ended_at: datetime | None
    vehicle: str | None = Field(description="the vehicle on its way, or aboard")
    home_monitoring_until: date | None = Field(description="after a discharge")


class FacilityPageOut(Schema):
    facility: FacilityOut
    admissions: list[TransferOut]
    discharges: list[TransferOut]
    expected: list[TransferOut]


class AssignmentOut(Schema):
    destinations: int
    vehicles: int
    without_bed: int
    without_vehicle: int


class GroupIn(Schema):
    address: Line = Field(
        max_length=80, description="a compound, building, unit or household: C1, C1/2, C1/2/1/301"
    )
    emergency: bool = False


class MoveIn(Schema):
    to: Line = Field(description="picked_up, admitted, cancelled or refused")
    reason: Line = Field("", max_length=500, description="required to cancel or refuse")


class SeverityIn(Schema):
    severity: Line = Field(description="asymptomatic, mild, ordinary, severe or critical")


class TestIn(Schema):
    taken_at: Moment
    negative: bool
    ct: float | None = Field(None, ge=0, le=50)


class TestOut(Schema):
    id: int
    taken_at: datetime
    negative: bool
    ct: float | None


class DischargeIn(Schema):
    case_id: Id
    reason: Line = Field("", max_length=500)
    override_reason: Line = Field(
        "", max_length=500, description="an officer's reason to discharge although the rule is not met"
    )


class DischargeOut(Schema):
    case_id: int
    status: str


@router.get("/facilities", response=list[FacilityOut], summary="Places of care and isolation, with free beds")
def facility_list(request: HttpRequest, at: Moment | None = None) -> list[selectors.FacilityRow]:
    """`at`: the free beds as of that moment (default now)."""
    return selectors.facilities(actor=_actor(request), at=at or clock.now())


@router.post("/facilities", response={201: FacilityOut}, summary="A new facility with its beds")
def facility_create(request: HttpRequest, body: FacilityIn) -> Status[Any]:
    actor, now = _actor(request), clock.now()
    made = services.facility_create(
        code=body.code, name=body.name, kind=body.kind, beds=dict(body.beds), actor=actor, now=now
    )
    return Status(201, next(f for f in selectors.facilities(actor=actor, at=now) if f.id == made.pk))


@router.get(
    "/facilities/{int:facility_id}",
    response=FacilityPageOut,
    summary="A facility: free beds, admissions and discharges of the week, people on the way",
)
def facility_page(request: HttpRequest, facility_id: Id) -> selectors.FacilityPage:
    return selectors.facility_page(actor=_actor(request), facility_id=facility_id, now=clock.now())


@router.get("/vehicles", response=list[VehicleOut], summary="The fleet, with who is aboard")
def vehicle_list(request: HttpRequest) -> list[selectors.VehicleRow]:
    return selectors.fleet(actor=_actor(request))


@router.post("/vehicles", response={201: VehicleOut}, summary="A vehicle in service, with its crew")
def vehicle_create(request: HttpRequest, body: VehicleIn) -> Status[Any]:
    actor = _actor(request)
    made = services.vehicle_create(
        code=body.code,
        kind=body.kind,
        seats=body.seats,
        trip_hours=body.trip_hours,
        crew=body.crew,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, next(v for v in selectors.fleet(actor=actor) if v.id == made.pk))


@router.get(
    "/queue",
    response=list[TransferOut],
    summary="The people waiting or on the way within your scope: waits, deadlines, the overdue first",
)
def queue(request: HttpRequest, community_id: Id | None = None) -> list[selectors.QueueRow]:
    return selectors.queue(actor=_actor(request), now=clock.now(), community_id=community_id)


@router.get(
    "/people/{int:resident_id}",
    response=TransferOut,
    summary="A person's open transfer (nobody else exists here)",
)
def person(request: HttpRequest, resident_id: Id) -> selectors.QueueRow:
    return selectors.person(actor=_actor(request), resident_id=resident_id, now=clock.now())


@router.get(
    "/mine",
    response=list[MyTransferOut],
    summary="A resident's household: where each member is taken, when and why (residents only)",
)
def mine(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {
            "member": m.number,
            "name": m.name,
            "state": m.transfer.state,
            "reason": m.transfer.reason,
            "destination": m.transfer.facility,
            "destination_kind": m.transfer.facility_kind,
            "why": m.transfer.why,
            "requested_at": m.transfer.requested_at,
            "pickup_by": m.transfer.pickup_by,
            "admit_by": m.transfer.admit_by,
            "admitted_at": m.transfer.admitted_at,
            "ended_at": m.transfer.ended_at,
            "vehicle": m.transfer.vehicle,
            "home_monitoring_until": m.transfer.home_monitoring_until,
        }
        for m in selectors.household_transfers(actor=_actor(request))
    ]


@router.post("/assign", response=AssignmentOut, summary="Assign beds and vehicles to everyone waiting")
def assign(request: HttpRequest) -> services.Assignment:
    return services.transfers_assign(actor=_actor(request), now=clock.now())


@router.post("/groups", response={201: list[TransferOut]}, summary="Move a place's residents together")
def group(request: HttpRequest, body: GroupIn) -> Status[Any]:
    actor, now = _actor(request), clock.now()
    made = services.transfers_request_group(
        address=body.address, emergency=body.emergency, actor=actor, now=now
    )
    return Status(201, [selectors.transfer_row(actor=actor, transfer_id=t.pk, now=now) for t in made])


@router.post(
    "/{int:transfer_id}/move", response=TransferOut, summary="Picked up, admitted, cancelled or refused"
)
def move(request: HttpRequest, transfer_id: Id, body: MoveIn) -> selectors.QueueRow:
    actor, now = _actor(request), clock.now()
    flows.transfer_moved(transfer_id=transfer_id, to=body.to, reason=body.reason, actor=actor, now=now)
    return selectors.transfer_row(actor=actor, transfer_id=transfer_id, now=now)


@router.post(
    "/people/{int:resident_id}/severity",
    response=TransferOut,
    summary="A case's clinical type: the destination follows",
)
def severity(request: HttpRequest, resident_id: Id, body: SeverityIn) -> selectors.QueueRow:
    actor, now = _actor(request), clock.now()
    moved = services.transfer_severity_set(
        resident_id=resident_id, severity=body.severity, actor=actor, now=now
    )
    return selectors.transfer_row(actor=actor, transfer_id=moved.pk, now=now)


@router.post(
    "/{int:transfer_id}/discharge-tests",
    response={201: TestOut},
    summary="A test before discharge, with its Ct",
)
def discharge_test(request: HttpRequest, transfer_id: Id, body: TestIn) -> Status[Any]:
    test = services.discharge_test_record(
        transfer_id=transfer_id,
        taken_at=body.taken_at,
        negative=body.negative,
        ct=body.ct,
        actor=_actor(request),
        now=clock.now(),
    )
    return Status(
        201,
        {
            "id": test.pk,
            "taken_at": test.taken_at,
            "negative": test.negative,
            "ct": None if test.ct is None else float(test.ct),
        },
    )


@router.post(
    "/discharges",
    response=DischargeOut,
    summary="Discharge a case home: the bed freed, home monitoring; the rule or an officer's override",
)
def discharge(request: HttpRequest, body: DischargeIn) -> dict[str, Any]:
    case = flows.case_discharged(
        case_id=body.case_id,
        reason=body.reason,
        override_reason=body.override_reason,
        actor=_actor(request),
        now=clock.now(),
    )
    return {"case_id": case.pk, "status": case.status}
