"""/api/v1/delivery/: orders, the day's dispatch, the volunteer's tasks and deliveries, coverage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from bastion import flows
from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.errors import NotFound
from bastion.core.inputs import Count, Day, Id, Line, Text
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import selectors, services
from bastion.delivery.models import DeliveryTask, Order

router = Router(tags=["delivery"])


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class LineIn(Schema):
    item: Line = Field(max_length=40)
    quantity: int = Field(ge=1, le=99)


class OrderIn(Schema):
    household_id: Id
    lines: list[LineIn] = Field(min_length=1, max_length=50)
    kind: Line = Field("resident", max_length=10)
    note: Line = Field("", max_length=300)
    client_key: Line | None = Field(None, max_length=64)


class OrderOut(Schema):
    id: int
    household_id: int
    kind: str
    state: str
    vulnerable: bool
    pickup: bool
    placed_at: datetime
    due_at: datetime
    task_id: int | None
    attempts: int
    delivered_at: datetime | None
    measured_weight_kg: Decimal | None


class PlacedOut(OrderOut):
    repeated: bool
    # Shown to whoever placed the order, for the household to show at the door.
    recipient_code: str


class DayIn(Schema):
    day: Day | None = None


class DispatchOut(Schema):
    standard_orders: int
    tasks: int
    orders_assigned: int


class TaskOut(Schema):
    id: int
    building_id: int
    building: str
    day: date
    batch: int
    state: str
    vulnerable: bool
    due_at: datetime
    pickup_from: datetime | None
    pickup_until: datetime | None
    volunteer_id: int | None
    claimed_at: datetime | None


class StopOut(Schema):
    order_id: int
    address: str
    vulnerable: bool
    due_at: datetime
    state: str
    items: list[str]
    weigh: bool


class MyTaskOut(TaskOut):
    stops: list[StopOut]


class DeliverIn(Schema):
    recipient_code: Line = Field(max_length=8)
    weight_kg: Decimal | None = Field(None, ge=0, le=1000)
    client_key: Line | None = Field(None, max_length=64)


class DeliveredOut(Schema):
    order_id: int
    state: str
    repeated: bool
    short_weight_flagged: bool


class FailIn(Schema):
    reason: Line = Field(max_length=300)


class CheckInIn(Schema):
    household_id: Id
    needs: Text = Field("", max_length=500)
    order: list[LineIn] = Field(default_factory=list, max_length=50, description="needs raised as an order")


class CheckInOut(Schema):
    household_id: int
    day: date
    needs: str
    created: bool
    order_id: int | None


class DeliveryCoverageOut(Schema):
    community_id: int
    name: str
    locked: int
    reached_today: int
    not_reached: int
    vulnerable_not_reached: int


class UnreachedOut(Schema):
    household_id: int
    address: str
    building_id: int
    vulnerable: bool
    last_delivered_at: datetime | None
    last_delivery: str


def _task(task: DeliveryTask) -> dict[str, Any]:
    return {
        "id": task.pk,
        "building_id": task.building_id,
        "building": selectors.building_address(task),
        "day": task.day,
        "batch": task.batch,
        "state": task.state,
        "vulnerable": task.vulnerable,
        "due_at": task.due_at,
        "pickup_from": task.pickup_from,
        "pickup_until": task.pickup_until,
        "volunteer_id": task.volunteer_id,
        "claimed_at": task.claimed_at,
    }


def _order(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in OrderOut.model_fields if name != "id"} | {"id": order.pk}


def _stop(order: Order) -> dict[str, Any]:
    lines = list(order.lines.all())
    return {
        "order_id": order.pk,
        "address": order.household.address,
        "vulnerable": order.vulnerable,
        "due_at": order.due_at,
        "state": order.state,
        "items": [f"{line.quantity} × {line.item.name}" for line in lines],
        "weigh": any(line.item.package for line in lines),
    }


@router.post("/orders", response={201: PlacedOut, 200: PlacedOut}, summary="Order for a household")
def order_place(request: HttpRequest, body: OrderIn) -> Status[dict[str, Any]]:
    """A resident for their own household; community staff place proxy orders and medicine
    requests for households of their community. A repeat (same client key) answers 200."""
    order, repeated = services.order_place(
        household_id=body.household_id,
        lines=[(line.item, line.quantity) for line in body.lines],
        kind=body.kind,
        note=body.note,
        client_key=body.client_key,
        actor=_actor(request),
        now=clock.now(),
    )
    placed = {**_order(order), "repeated": repeated, "recipient_code": order.recipient_code}
    return Status(200 if repeated else 201, placed)


@router.post("/dispatch", response=DispatchOut, summary="The day's standard packages and building tasks")
def dispatch(request: HttpRequest, body: DayIn) -> dict[str, int]:
    """City staff create the day's standard packages and build every building's task; district
    and community staff build the tasks of their area."""
    actor = _actor(request)
    now = clock.now()
    day = body.day or clock.local_date(now)
    packaged = services.Dispatched(orders=0, tasks=0, assigned=0)
    if actor.level == ScopeLevel.CITY:
        packaged = services.standard_orders_create(day=day, actor=actor, now=now)
    built = services.tasks_build(day=day, actor=actor, now=now)
    return {
        "standard_orders": packaged.orders,
        "tasks": packaged.tasks + built.tasks,
        "orders_assigned": packaged.assigned + built.orders,
    }


class CycleIn(Schema):
    item: Line = Field(max_length=40)
    every_days: Count


class CycleOut(Schema):
    zone: str
    item: str
    every_days: int
    set_at: datetime


@router.put("/zones/{zone_id}/cycle", response=CycleOut, summary="A zone's own standard package and cycle")
def cycle_set(request: HttpRequest, zone_id: Id, body: CycleIn) -> dict[str, Any]:
    cycle = services.package_cycle_set(
        zone_id=zone_id,
        item_code=body.item,
        every_days=body.every_days,
        actor=_actor(request),
        now=clock.now(),
    )
    return {
        "zone": cycle.zone.code,
        "item": cycle.item.code,
        "every_days": cycle.every_days,
        "set_at": cycle.set_at,
    }


@router.delete(
    "/zones/{zone_id}/cycle", response={204: None}, summary="Back to the policy's package and cycle"
)
def cycle_clear(request: HttpRequest, zone_id: Id) -> Status[None]:
    if not services.package_cycle_clear(zone_id=zone_id, actor=_actor(request), now=clock.now()):
        raise NotFound(_("This zone has no cycle of its own."), code="no_cycle")
    return Status(204, None)


@router.get("/tasks/open", response=list[TaskOut], summary="Tasks of the volunteer's community to claim")
def tasks_open(
    request: HttpRequest,
    day: Day | None = None,
    limit: int = Query(50, ge=1, le=500),  # type: ignore[type-arg]
) -> list[dict[str, Any]]:
    """The most urgent first (vulnerable households, then the earliest deadline), `limit` of
    them: a phone shows a few buildings, and fifty volunteers listing 10,000 tasks before each
    claim made the list, not the claim, the cost of the race."""
    actor = _actor(request)
    return [_task(t) for t in selectors.tasks_open(actor=actor, day=day or clock.today())[:limit]]


@router.get("/tasks/mine", response=list[MyTaskOut], summary="The volunteer's claimed tasks and their stops")
def tasks_mine(request: HttpRequest) -> list[dict[str, Any]]:
    return [
        {**_task(t), "stops": [_stop(o) for o in t.orders.all()]}
        for t in selectors.tasks_mine(actor=_actor(request))
    ]


@router.post(
    "/tasks/{task_id}/claim", response=TaskOut, summary="Claim a building's task (one volunteer wins)"
)
def task_claim(request: HttpRequest, task_id: Id) -> dict[str, Any]:
    task = services.task_claim(task_id=task_id, actor=_actor(request), now=clock.now())
    return _task(DeliveryTask.objects.select_related("building__compound").get(pk=task.pk))


@router.post("/orders/{order_id}/deliver", response=DeliveredOut, summary="Hand an order over")
def order_deliver(request: HttpRequest, order_id: Id, body: DeliverIn) -> dict[str, Any]:
    done = flows.order_delivered(
        order_id=order_id,
        recipient_code=body.recipient_code,
        weight_kg=body.weight_kg,
        client_key=body.client_key,
        actor=_actor(request),
        now=clock.now(),
    )
    return {
        "order_id": done.order.pk,
        "state": done.order.state,
        "repeated": done.repeated,
        "short_weight_flagged": done.flag is not None,
    }


@router.post("/orders/{order_id}/fail", response=OrderOut, summary="Could not deliver: it goes out again")
def order_fail(request: HttpRequest, order_id: Id, body: FailIn) -> dict[str, Any]:
    return _order(
        flows.order_failed(order_id=order_id, reason=body.reason, actor=_actor(request), now=clock.now())
    )


@router.post("/checkins", response=CheckInOut, summary="The day's inquiry of a household (一天一问)")
def checkin(request: HttpRequest, body: CheckInIn) -> dict[str, Any]:
    done, created = services.checkin_record(
        household_id=body.household_id,
        needs=body.needs,
        lines=[(line.item, line.quantity) for line in body.order],
        actor=_actor(request),
        now=clock.now(),
    )
    return {
        "household_id": done.household_id,
        "day": done.day,
        "needs": done.needs,
        "created": created,
        "order_id": done.order_id,
    }


@router.get(
    "/coverage", response=list[DeliveryCoverageOut], summary="Locked households reached, per community"
)
def coverage(request: HttpRequest, community_id: Id | None = None) -> list[Any]:
    return list(selectors.coverage(actor=_actor(request), now=clock.now(), community_id=community_id))


@router.get(
    "/coverage/{community_id}/not-reached",
    response=list[UnreachedOut],
    summary="Households not reached within the cycle, vulnerable first, longest waiting next",
)
def not_reached(request: HttpRequest, community_id: Id) -> list[Any]:
    return list(selectors.not_reached(actor=_actor(request), now=clock.now(), community_id=community_id))
