"""Reads of orders and deliveries: a volunteer's tasks, a community's dispatch board, and
coverage — every locked household, its last delivery, and who was not reached within the
cycle, vulnerable first then longest waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Prefetch, QuerySet

from bastion.city.models import Community
from bastion.city.selectors import elderly_cutoff, infant_cutoff
from bastion.core import clock
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery.models import DeliveryTask, Order, OrderLine, OrderState, TaskState
from bastion.lockdown import selectors as lockdown
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


def _locked_sql() -> tuple[str, list[Any]]:
    sql, params = lockdown.household_ids_served_at_home().query.sql_with_params()
    return sql, list(params)


def _windows(now: datetime) -> tuple[Any, Any, date, date]:
    """The start of today and of the cycle (the policy's standard cycle, in city days), and the
    vulnerability cut-offs of today."""
    today = clock.local_date(now)
    zone = clock.city_zone()
    start = datetime.combine(today, datetime.min.time(), zone)
    cycle = start - timedelta(days=policy().standard_every_days - 1)
    adapt = connection.ops.adapt_datetimefield_value
    return adapt(start), adapt(cycle), elderly_cutoff(today), infant_cutoff(today)


_VULNERABLE = """EXISTS (
    SELECT 1 FROM city_resident r WHERE r.household_id = h.id AND (
        r.living_alone OR r.disabled OR r.pregnant OR r.chronic_treatment <> ''
        OR r.birth_date <= %s OR r.birth_date > %s))"""


def coverage(*, actor: Actor, now: datetime, community_id: int | None = None) -> list[CommunityCoverage]:
    """Per community in scope: households locked (served door to door or by pick-up), reached
    today, not reached within the cycle (no delivery since the cycle began), and of those the
    vulnerable. Set-based: the locked households, each household's last delivery by index."""
    actor.require("view_supply")
    today_start, cycle_start, elderly, infant = _windows(now)
    locked, params = _locked_sql()
    scope, scope_params = _scope_sql(actor, community_id)
    # Grouped by community id (a hash of 1,300 groups), named afterwards: grouping a million rows
    # by name sorted them on disk.
    sql = f"""
        SELECT x.community_id, c.name, x.locked, x.reached_today, x.not_reached, x.vulnerable_not_reached
        FROM (
            SELECT h.community_id, COUNT(*) AS locked,
                   SUM(CASE WHEN d.last >= %s THEN 1 ELSE 0 END) AS reached_today,
                   SUM(CASE WHEN d.last IS NULL THEN 1 ELSE 0 END) AS not_reached,
                   SUM(CASE WHEN d.last IS NULL AND {_VULNERABLE} THEN 1 ELSE 0 END) AS vulnerable_not_reached
            FROM city_household h
            LEFT JOIN (
                SELECT o.household_id, MAX(o.delivered_at) AS last FROM delivery_order o
                WHERE o.state = 'delivered' AND o.delivered_at >= %s GROUP BY o.household_id
            ) d ON d.household_id = h.id
            WHERE h.id IN ({locked}) {scope}
            GROUP BY h.community_id
        ) x
        JOIN city_community c ON c.id = x.community_id
        ORDER BY c.name, x.community_id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(sql, [today_start, elderly, infant, cycle_start, *params, *scope_params])
        rows = cursor.fetchall()
    return [
        CommunityCoverage(int(r[0]), r[1], int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0))
        for r in rows
    ]


def _tune(cursor: Any) -> None:
    """PostgreSQL, for this read only: no JIT (compiling the plan took 1.3 s of 5 at 1 M locked
    households and saved nothing: 4.93 s -> 3.51 s). More work_mem made it slower (6.50 s: the
    nested IN lists became 1 M-entry hash joins), so it is left alone."""
    if connection.vendor == "postgresql":
        cursor.execute("SET LOCAL jit = off")


def _scope_sql(actor: Actor, community_id: int | None) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    if community_id is not None:
        _community_in_scope(actor, community_id)
        parts.append("AND h.community_id = %s")
        params.append(community_id)
    elif actor.level == ScopeLevel.DISTRICT:
        parts.append("AND h.district_id = %s")
        params.append(actor.district_id)
    elif actor.level == ScopeLevel.COMMUNITY:
        parts.append("AND h.community_id = %s")
        params.append(actor.community_id)
    elif actor.level != ScopeLevel.CITY:
        raise NotFound()
    return " ".join(parts), params


def not_reached(
    *, actor: Actor, now: datetime, community_id: int, limit: int | None = 500
) -> list[Unreached]:
    """The community's locked households with no delivery in the cycle: vulnerable first, then
    those waiting longest (never reached first, then by their last delivery)."""
    actor.require("view_supply")
    _community_in_scope(actor, community_id)
    _today, cycle_start, elderly, infant = _windows(now)
    locked, params = _locked_sql()
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    sql = f"""
        SELECT x.id, x.address, x.building_id, x.vulnerable, x.last FROM (
            SELECT h.id, h.address, h.building_id, {_VULNERABLE} AS vulnerable,
                   (SELECT MAX(o.delivered_at) FROM delivery_order o
                    WHERE o.household_id = h.id AND o.state = 'delivered') AS last
            FROM city_household h
            WHERE h.community_id = %s AND h.id IN ({locked})
        ) x
        WHERE x.last IS NULL OR x.last < %s
        ORDER BY x.vulnerable DESC, CASE WHEN x.last IS NULL THEN 0 ELSE 1 END, x.last, x.address
        {limit_sql}
    """
    with transaction.atomic(), connection.cursor() as cursor:
        _tune(cursor)
        cursor.execute(sql, [elderly, infant, community_id, *params, cycle_start])
        rows = cursor.fetchall()
    last_what = _last_deliveries([int(r[0]) for r in rows])
    return [
        Unreached(
            household_id=int(r[0]),
            address=r[1],
            building_id=int(r[2]),
            vulnerable=bool(r[3]),
            last_delivered_at=_aware(r[4]),
            last_delivery=last_what.get(int(r[0]), ""),
        )
        for r in rows
    ]


def _aware(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _last_deliveries(household_ids: list[int]) -> dict[int, str]:
    """Each household's last delivered order, as `2 x rice 5 kg, 1 x vegetables 10 kg`."""
    if not household_ids:
        return {}
    orders = (
        Order.objects.filter(household_id__in=household_ids, state=OrderState.DELIVERED)
        .order_by("household_id", "-delivered_at", "-pk")
        .prefetch_related(_lines())
    )
    found: dict[int, str] = {}
    for order in orders:
        if order.household_id not in found:
            found[order.household_id] = ", ".join(
                f"{line.quantity} × {line.item.name}" for line in order.lines.all()
            )
    return found


def last_delivery(*, household_id: int) -> Order | None:
    return (
        Order.objects.filter(household_id=household_id, state=OrderState.DELIVERED)
        .order_by("-delivered_at", "-pk")
        .prefetch_related(_lines())
        .first()
    )
