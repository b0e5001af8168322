"""Scenario events and the observation of supplies and delivery (SCENARIOS.md, "Supplies and
delivery").

Events: `stock` (goods into a district's scenario warehouse), `order` (a household orders a
package or items), `deliver` (a household's oldest open order, or every open task of an area,
handed over by a volunteer of the community with the recipient code and a weight). Standard
packages are the platform's own: the worker's dispatch creates them for households served
door to door, as in production. The default catalogue: a 10 kg vegetable package at 50 CNY
from a scenario supplier.
"""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from bastion import flows
from bastion.city.models import Community, District, Household
from bastion.city.selectors import actor_for, households_within, place_by_address
from bastion.city.services import account_grant
from bastion.core import clock
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import selectors as delivery
from bastion.delivery import services as delivery_services
from bastion.delivery.models import DeliveryTask, Order, OrderState, TaskState
from bastion.scenario.runner import Context, event, observation, setup
from bastion.scenario.spec import Event
from bastion.supply import selectors as supply
from bastion.supply import services as supply_services
from bastion.supply.models import Category, Flag, Warehouse
from bastion.supply.policy import policy

SUPPLIER = "SCENARIO"


@setup
def default_catalogue(ctx: Context) -> None:
    """The scenario's supplier and the policy's standard package (10 kg, 50 CNY)."""
    now = ctx.clock.now()
    supply_services.supplier_register(
        code=SUPPLIER,
        name="scenario supplier",
        contact_name="scenario",
        contact_phone="-",
        actor=SYSTEM,
        now=now,
    )
    supply_services.item_add(
        code=policy().standard_item,
        name="vegetable package 10 kg",
        category=Category.VEGETABLES,
        supplier_code=SUPPLIER,
        price="50",
        package=True,
        contents="vegetables",
        declared_weight_kg="10",
        actor=SYSTEM,
        now=now,
    )


def _household(address: Any) -> Household:
    if not isinstance(address, str):
        raise InvalidInput("household must be an address like C1/2/1/301", code="bad_household")
    found = Household.objects.filter(address=address).first()
    if found is None:
        raise NotFound(f"there is no household {address}", code="unknown_household")
    return found


def _kg(value: Any, key: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{key} must be a number of kg", code="bad_number") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(f"{key} must be a number of kg above 0", code="bad_number")
    return amount


@event("stock")
def _stock(ctx: Context, ev: Event) -> None:
    """`stock: {category, kg, district}`: goods into the district's scenario warehouse."""
    body = ev.body
    district_code = body.get("district")
    district = District.objects.filter(code=str(district_code)).first()
    if district is None:
        raise NotFound(f"there is no district {district_code}", code="unknown_district")
    warehouse, _created = Warehouse.objects.get_or_create(
        code=f"W-{district.code}",
        defaults={"name": f"{district.name} warehouse", "kind": "warehouse", "district": district},
    )
    supply_services.stock_move(
        warehouse_code=warehouse.code,
        category=str(body.get("category")),
        kg=_kg(body.get("kg"), "kg"),
        reason="scenario stock",
        actor=SYSTEM,
        now=ctx.clock.now(),
    )


def _resident_of(household: Household) -> Actor:
    """The household ordering for itself, as its own app would."""
    return Actor(
        user_id=None,
        role="resident",
        level=ScopeLevel.OWN_HOUSEHOLD,
        household_id=household.pk,
        community_id=household.community_id,
        district_id=household.district_id,
        permissions=frozenset({"place_orders"}),
        label=f"resident {household.address}",
    )


@event("order")
def _order(ctx: Context, ev: Event) -> None:
    """`order: {household, package}` or `order: {household, items: {code: quantity}}`."""
    body = ev.body
    household = _household(body.get("household"))
    if "package" in body:
        lines = [(str(body["package"]), 1)]
    else:
        items = body.get("items")
        if not isinstance(items, dict) or not items:
            raise InvalidInput("order needs a package or items: {code: quantity}", code="empty_order")
        lines = [(str(code), quantity) for code, quantity in items.items()]
    delivery_services.order_place(
        household_id=household.pk, lines=lines, actor=_resident_of(household), now=ctx.clock.now()
    )


def _volunteer(ctx: Context, community_id: int) -> Actor:
    """The community's scenario volunteer (one a community: 一人一楼 for every building)."""
    key = f"volunteer:{community_id}"
    if key not in ctx.state:
        account = account_grant(
            username=f"scenario-volunteer-{community_id}",
            password=secrets.token_urlsafe(24),
            role="volunteer",
            community=Community.objects.get(pk=community_id),
            actor=SYSTEM,
            now=ctx.clock.now(),
        )
        ctx.state[key] = actor_for(account.user)
    actor: Actor = ctx.state[key]
    return actor


def _hand_over(ctx: Context, order: Order, weight: Decimal | None) -> None:
    """Into a task if it is not in one yet; the task claimed by the community's volunteer;
    handed over with the household's code, weighed at `weight` (default: as declared)."""
    now = ctx.clock.now()
    if order.task_id is None:
        delivery_services.tasks_build(
            day=clock.local_date(now), building_id=order.building_id, actor=SYSTEM, now=now
        )
        order.refresh_from_db()
    if order.task_id is None:
        raise InvalidInput(f"the order of {order.household} could not be put in a task", code="no_task")
    volunteer = _volunteer(ctx, order.community_id)
    task = DeliveryTask.objects.get(pk=order.task_id)
    if task.state == TaskState.OPEN:
        delivery_services.task_claim(task_id=task.pk, actor=volunteer, now=now)
    elif task.volunteer_id != volunteer.user_id:
        raise InvalidInput(f"the task of {order.household} is held by another volunteer", code="task_taken")
    declared = sum(
        (line.item.declared_weight_kg or Decimal(0)) * line.quantity
        for line in order.lines.select_related("item")
        if line.item.package
    )
    flows.order_delivered(
        order_id=order.pk,
        recipient_code=order.recipient_code,
        weight_kg=weight if weight is not None else (declared or None),
        actor=volunteer,
        now=now,
    )


@event("deliver")
def _deliver(ctx: Context, ev: Event) -> None:
    """`deliver: {household, weight_kg}`: its oldest open order; `deliver: {within, except}`:
    every open task of the area, but the households listed."""
    body = ev.body
    waiting = Order.objects.filter(state__in=(OrderState.OPEN, OrderState.ASSIGNED)).order_by(
        "placed_at", "pk"
    )
    if "household" in body:
        household = _household(body["household"])
        order = waiting.filter(household=household).first()
        if order is None:
            raise NotFound(f"{household.address} has no open order", code="no_open_order")
        weight = _kg(body["weight_kg"], "weight_kg") if body.get("weight_kg") is not None else None
        _hand_over(ctx, order, weight)
        return
    within = body.get("within")
    if not isinstance(within, str):
        raise InvalidInput("deliver needs a household or within: an area like C1/1", code="bad_area")
    place = place_by_address(within)
    skipped = {_household(address).pk for address in body.get("except", []) or []}
    area = households_within(
        compound_id=place.compound_id,
        building_id=place.building_id,
        unit_id=place.unit_id,
        household_id=place.household_id,
    )
    for order in waiting.filter(household__in=area).exclude(household_id__in=skipped):
        _hand_over(ctx, order, None)


@observation("supply")
def _observe_supply(ctx: Context, day: int, today: date) -> dict[str, Any]:
    now = ctx.clock.now()
    rows = delivery.coverage(actor=SYSTEM, now=now)
    days = {
        row.category: float(row.days) for row in supply.days_of_supply(actor=SYSTEM) if row.days is not None
    }
    flags = [
        {
            "kind": flag.kind,
            "supplier": flag.supplier.code,
            "household": flag.household.address if flag.household else None,
        }
        for flag in Flag.objects.select_related("supplier", "household").order_by("raised_at", "pk")
    ]
    return {
        "supply": {
            "locked_households": sum(r.locked for r in rows),
            "reached_today": sum(r.reached_today for r in rows),
            "not_reached_within_cycle": sum(r.not_reached for r in rows),
            "vulnerable_not_reached": sum(r.vulnerable_not_reached for r in rows),
            "days_of_supply": days,
            "flags": flags,
        }
    }
