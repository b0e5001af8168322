"""Reads of orders and deliveries: a volunteer's tasks, a community's dispatch board, and
coverage — every locked household, its last delivery, and who was not reached within the
cycle, vulnerable first then longest waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from bastion.city.models import Community, Household
from bastion.core import clock, masking
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.sql import as_datetime_or_none, of_query
from bastion.delivery import rules, sql
from bastion.delivery.models import DeliveryTask, Order, OrderLine, OrderState, PackageCycle, TaskState
from bastion.lockdown import selectors as lockdown
from bastion.supply.models import Item
from bastion.supply.policy import policy


def building_address(task: DeliveryTask) -> str:
    """`C1/2`: the building's address, as households' addresses begin."""
    return f"{task.building.compound.code}/{task.building.number}"


def _lines() -> Prefetch[Any]:
    return Prefetch("lines", queryset=OrderLine.objects.select_related("item").order_by("item__code"))


def tasks_open(*, actor: Actor, day: date) -> QuerySet[DeliveryTask]:
    """The day's tasks still to be claimed in the volunteer's community, most urgent first."""
    actor.require("deliver")
    return (
        DeliveryTask.objects.filter(community_id=actor.community_id or -1, day=day, state=TaskState.OPEN)
        .select_related("building__compound")
        .order_by("-vulnerable", "due_at", "pk")
    )


def tasks_mine(*, actor: Actor) -> QuerySet[DeliveryTask]:
    """The volunteer's claimed tasks not yet done, with their orders."""
    actor.require("deliver")
    orders = (
        Order.objects.select_related("household")
        .prefetch_related(_lines())
        .order_by("-vulnerable", "due_at", "pk")
    )
    return (
        DeliveryTask.objects.filter(volunteer_id=actor.user_id or -1, state=TaskState.CLAIMED)
        .select_related("building__compound")
        .prefetch_related(Prefetch("orders", queryset=orders))
        .order_by("-vulnerable", "due_at", "pk")
    )


def board(*, actor: Actor, community_id: int, day: date) -> QuerySet[DeliveryTask]:
    """A community's tasks of the day for its dispatch board: open, claimed (by whom) and done."""
    actor.require("dispatch_deliveries")
    _community_in_scope(actor, community_id)
    return (
        DeliveryTask.objects.filter(community_id=community_id, day=day)
        .select_related("building__compound", "volunteer")
        .order_by("state", "-vulnerable", "due_at", "pk")
    )


def orders_waiting(*, actor: Actor, community_id: int) -> QuerySet[Order]:
    """Orders not yet in a task (to be dispatched), vulnerable first, oldest first."""
    actor.require("dispatch_deliveries")
    _community_in_scope(actor, community_id)
    return (
        Order.objects.filter(community_id=community_id, state=OrderState.OPEN)
        .select_related("household")
        .order_by("-vulnerable", "placed_at", "pk")
    )


def household_orders(*, actor: Actor, days: int = 7) -> QuerySet[Order]:
    """A resident's own household's orders of the last `days` (every kind: their own, proxy
    orders, standard packages, medicine), newest first, with their lines."""
    actor.require("place_orders")
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    since = clock.now() - timedelta(days=days)
    return (
        Order.objects.filter(household_id=actor.household_id, placed_at__gte=since)
        .prefetch_related(_lines())
        .order_by("-placed_at", "-pk")
    )


@dataclass(frozen=True)
class ZonePackage:
    """The standard package a zone's households get: the zone's own cycle, or the policy's."""

    own: PackageCycle | None
    item_name: str
    every_days: int


def zone_package(*, zone_id: int) -> ZonePackage:
    own = PackageCycle.objects.filter(zone_id=zone_id).select_related("item").first()
    if own is not None:
        return ZonePackage(own, own.item.name, own.every_days)
    supply_policy = policy()
    standard = Item.objects.filter(code=supply_policy.standard_item).first()
    return ZonePackage(
        None, standard.name if standard else supply_policy.standard_item, supply_policy.standard_every_days
    )


def _community_in_scope(actor: Actor, community_id: int) -> Community:
    community = Community.objects.filter(pk=community_id).first()
    if community is None:
        raise NotFound()
    if actor.level == ScopeLevel.DISTRICT and community.district_id != actor.district_id:
        raise NotFound()
    if actor.level == ScopeLevel.COMMUNITY and community.pk != actor.community_id:
        raise NotFound()
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY):
        raise NotFound()
    return community


# --- coverage: nobody forgotten -----------------------------------------------------------


@dataclass(frozen=True)
class CommunityCoverage:
    community_id: int
    name: str
    locked: int
    reached_today: int
    not_reached: int
    vulnerable_not_reached: int


@dataclass(frozen=True)
class Unreached:
    household_id: int
    address: str
    building_id: int
    vulnerable: bool
    last_delivered_at: datetime | None
    last_delivery: str  # what it was: the items of the last delivered order


def _windows(now: datetime) -> tuple[datetime, datetime, date]:
    """The start of today and of the cycle (the policy's standard cycle, in city days), and
    today."""
    today = clock.local_date(now)
    zone = clock.city_zone()
    start = datetime.combine(today, datetime.min.time(), zone)
    cycle = datetime.combine(
        rules.cycle_start(today, policy().standard_every_days), datetime.min.time(), zone
    )
    return start, cycle, today


def _households_served_at_home(
    actor: Actor, community_id: int | None, columns: tuple[str, ...] = ("id", "community_id")
) -> tuple[str, list[Any]] | None:
    """The locked households in scope (served door to door or by staggered pick-up) as a
    sub-select of `columns`, or None when there are none. A community's or district's own
    zones only are read, not the whole city's."""
    district_id = None
    if community_id is not None:
        _community_in_scope(actor, community_id)
    elif actor.level == ScopeLevel.DISTRICT:
        district_id = actor.district_id
    elif actor.level == ScopeLevel.COMMUNITY:
        community_id = actor.community_id
    elif actor.level != ScopeLevel.CITY:
        raise NotFound()
    households = Household.objects.filter(
        lockdown.served_at_home_q(community_id=community_id, district_id=district_id)
    )
    if community_id is not None:
        households = households.filter(community_id=community_id)
    if district_id is not None:
        households = households.filter(district_id=district_id)
    try:
        return of_query(households.values(*columns))
    except EmptyResultSet:
        return None


def coverage(*, actor: Actor, now: datetime, community_id: int | None = None) -> list[CommunityCoverage]:
    """Per community in scope: households locked (served door to door or by pick-up), reached
    today, not reached within the cycle (no delivery since the cycle began), and of those the
    vulnerable. Set-based and a row per locked household: the households reached by the
    compound index, each one's last delivery (LastDelivery) and profile (HouseholdProfile) by
    its id; no resident and no past order is read."""
    actor.require("view_supply")
    today_start, cycle_start, today = _windows(now)
    served = _households_served_at_home(actor, community_id)
    if served is None:
        return []
    served_sql, params = served
    with transaction.atomic():
        rows = sql.coverage_rows(
            served_sql, params, today_start=today_start, cycle_start=cycle_start, today=today
        )
    return [
        CommunityCoverage(int(r[0]), r[1], int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0))
        for r in rows
    ]


def not_reached(
    *, actor: Actor, now: datetime, community_id: int, limit: int | None = 500
) -> list[Unreached]:
    """The community's locked households with no delivery in the cycle: vulnerable first, then
    those waiting longest (never reached first, then by their last delivery), each with what
    its last delivery was. Reads the community's own zones only. A list of households with
    their needs: refused to roles that see coverage figures only (the commerce bureau, market
    regulators: core/masking.py, VULNERABILITY)."""
    actor.require("view_supply")
    masking.require(actor, masking.Field.VULNERABILITY)
    _today_start, cycle_start, today = _windows(now)
    served = _households_served_at_home(actor, community_id, ("id", "address", "building_id"))
    if served is None:
        return []
    served_sql, params = served
    with transaction.atomic():
        rows = sql.not_reached_rows(served_sql, params, cycle_start=cycle_start, today=today, limit=limit)
    last_what = _orders_contents([int(r[5]) for r in rows if r[5] is not None])
    return [
        Unreached(
            household_id=int(r[0]),
            address=r[1],
            building_id=int(r[2]),
            vulnerable=bool(r[3]),
            last_delivered_at=as_datetime_or_none(r[4]),
            last_delivery=last_what.get(int(r[5]), "") if r[5] is not None else "",
        )
        for r in rows
    ]


def _orders_contents(order_ids: list[int]) -> dict[int, str]:
    """Each order's contents, as `2 x rice 5 kg, 1 x vegetables 10 kg`."""
    if not order_ids:
        return {}
    lines = (
        OrderLine.objects.filter(order_id__in=order_ids)
        .select_related("item")
        .order_by("order_id", "item__code")
    )
    found: dict[int, list[str]] = {}
    for line in lines:
        found.setdefault(line.order_id, []).append(f"{line.quantity} × {line.item.name}")
    return {order_id: ", ".join(parts) for order_id, parts in found.items()}


def last_delivery(*, household_id: int) -> Order | None:
    return (
        Order.objects.filter(household_id=household_id, state=OrderState.DELIVERED)
        .order_by("-delivered_at", "-pk")
        .prefetch_related(_lines())
        .first()
    )
