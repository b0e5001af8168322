"""Volunteers' building tasks (一人一楼): every open order into its building's task of the day
(set-based, staggered pick-up slots in medium-risk areas), and a volunteer's claim of a task,
exclusive under concurrency (a conditional UPDATE: one row changed = you won). Tasks are built
one dispatch at a time (the dispatch lock), and a claim waits for the dispatch in progress.
States move as rules.ALLOWED_TRANSITIONS["task"] allows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.sql import Lock, advisory_lock, set_local
from bastion.delivery import rules, sql
from bastion.delivery.models import DeliveryTask, TaskState


@dataclass(frozen=True)
class Dispatched:
    orders: int
    tasks: int
    assigned: int


def dispatch_begin(*, day: date, building_id: int | None = None, wait: bool = True) -> bool:
    """Inside the dispatch's transaction: take the dispatch lock (or, with `wait` False, only
    if it is free: False when another dispatch holds it), then lock the day's open tasks, so
    that a volunteer's claim waits for this dispatch to commit rather than taking a task that
    is being given orders the volunteer would not see. On PostgreSQL, no JIT (compiling the
    dispatch's whole-table statements cost more than it saved).

    Two dispatches at once (the worker's and an officer's button) would both see the same
    households due or the same buildings without a task: they take turns. SQLite admits one
    writer at a time anyway (IMMEDIATE transactions)."""
    if not advisory_lock(Lock.DISPATCH, wait=wait):
        return False
    set_local(jit="off")
    tasks = DeliveryTask.objects.select_for_update().filter(day=day, state=TaskState.OPEN)
    if building_id is not None:
        tasks = tasks.filter(building_id=building_id)
    list(tasks.order_by("pk").values_list("pk", flat=True))
    return True


def dispatch_day_check(day: date, now: datetime) -> None:
    """A dispatch is for today or tomorrow (`rules.dispatch_day_allowed`); refused otherwise."""
    today = clock.local_date(now)
    if not rules.dispatch_day_allowed(day, today):
        raise InvalidInput(
            _("A dispatch is for today or tomorrow (%(today)s or %(tomorrow)s).")
            % {
                "today": today.isoformat(),
                "tomorrow": (today + timedelta(days=rules.DISPATCH_DAYS_AHEAD)).isoformat(),
            },
            code="dispatch_day",
        )


def tasks_build(
    *, day: date, building_id: int | None = None, wait: bool = True, actor: Actor, now: datetime
) -> Dispatched:
    """Every open order into its building's task of the day: the open (unclaimed) task if there
    is one, else a new one (the building's next batch). Tasks of buildings in medium-risk areas
    get staggered pick-up slots, building after building within a compound. Set-based: a few
    statements whatever the number of orders, none reading the table it writes (see
    standard_orders_create). Runs one at a time (the dispatch lock). `building_id` limits it to
    one building (the re-dispatch of a failed delivery); with `wait` False it builds nothing
    while another dispatch runs (that one, or the next, takes the orders)."""
    actor.require("dispatch_deliveries")
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY):
        raise Forbidden()
    dispatch_day_check(day, now)
    with transaction.atomic():
        if not dispatch_begin(day=day, building_id=building_id, wait=wait):
            return Dispatched(orders=0, tasks=0, assigned=0)
        waiting, params = sql.open_orders_waiting(*_order_scope(actor, building_id, "o"))
        tasks = sql.insert_tasks(waiting, params, day=day, first_slot=first_pickup_slot(day))
        scope, scope_params = _order_scope(actor, building_id, "delivery_order")
        assigned = sql.assign_open_orders(day=day, scope=scope, scope_params=scope_params)
        if assigned:
            _stagger_pickups(day)
            sql.refresh_open_tasks(day)
        audit.record(
            action="delivery.tasks.built",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={"day": day.isoformat(), "tasks": tasks, "orders": assigned, "building": building_id},
            actor=actor,
            now=now,
        )
    return Dispatched(orders=assigned, tasks=tasks, assigned=assigned)


def _order_scope(actor: Actor, building_id: int | None, table: str) -> tuple[str, list[Any]]:
    """The conditions (on `table`'s columns) that keep a dispatch to the actor's district or
    community, and to one building when given."""
    equal: list[tuple[str, Any]] = []
    if actor.level == ScopeLevel.DISTRICT:
        equal.append(("district_id", actor.district_id))
    elif actor.level == ScopeLevel.COMMUNITY:
        equal.append(("community_id", actor.community_id))
    if building_id is not None:
        equal.append(("building_id", building_id))
    return sql.order_scope(table, equal)


def first_pickup_slot(day: date) -> tuple[datetime, datetime]:
    return rules.pickup_slot(day, 0, clock.city_zone())


def _stagger_pickups(day: date) -> None:
    """Pick-up slots one after another for the buildings of a compound (rules.pickup_slot), so
    that neighbours do not queue together."""
    tasks = list(
        DeliveryTask.objects.filter(day=day, pickup_from__isnull=False)
        .select_related("building")
        .order_by("building__compound_id", "building_id", "batch")
    )
    slot_of = rules.pickup_slot_indexes((task.building.compound_id, task.building_id) for task in tasks)
    zone = clock.city_zone()
    changed = []
    for task in tasks:
        start, until = rules.pickup_slot(day, slot_of[task.building_id], zone)
        if task.pickup_from != start:
            task.pickup_from, task.pickup_until = start, until
            changed.append(task)
    DeliveryTask.objects.bulk_update(changed, ["pickup_from", "pickup_until"])


# --- the volunteer's day ----------------------------------------------------------------------


def _volunteer_task(actor: Actor, task_id: int) -> DeliveryTask:
    actor.require("deliver")
    task = DeliveryTask.objects.filter(pk=task_id).first()
    if task is None or actor.community_id is None or task.community_id != actor.community_id:
        raise NotFound(_("There is no such task."), code="unknown_task")
    return task


def task_claim(*, task_id: int, actor: Actor, now: datetime) -> DeliveryTask:
    """Take a building's task. Exactly one volunteer wins however many try at once (a
    conditional UPDATE; the others get 409). A volunteer sees the tasks of their community."""
    task = _volunteer_task(actor, task_id)
    with transaction.atomic():
        won = DeliveryTask.objects.filter(
            pk=task.pk, state__in=rules.moves_into("task", TaskState.CLAIMED)
        ).update(state=TaskState.CLAIMED, volunteer_id=actor.user_id, claimed_at=now)
        if not won:
            task.refresh_from_db()
            if task.volunteer_id == actor.user_id:
                return task  # a retry of one's own claim
            raise Conflict(_("Another volunteer has taken this task."), code="task_taken")
        task.refresh_from_db()
        audit.record(
            action="delivery.task.claimed",
            obj=task,
            before={"state": str(TaskState.OPEN)},
            after={"state": str(TaskState.CLAIMED), "building": task.building_id},
            district_id=task.district_id,
            actor=actor,
            now=now,
        )
    return task
