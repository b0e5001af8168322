"""The day's standard packages (set-based): one order to every household served door to door
whose last standard package is older than its cycle, each put at once into its building's task
of the day. Linear in the households; one at a time (the dispatch lock)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from bastion.core import audit, clock
from bastion.core.errors import Forbidden, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.sql import analyze, of_query
from bastion.delivery import rules, sql
from bastion.delivery.models import PackageCycle
from bastion.delivery.services.orders import deadline
from bastion.delivery.services.tasks import Dispatched, dispatch_begin, dispatch_day_check, first_pickup_slot
from bastion.lockdown import selectors as lockdown
from bastion.supply.models import Item
from bastion.supply.policy import policy
from bastion.zones import selectors as zones
from bastion.zones.models import ZoneState


def standard_orders_create(*, day: date, actor: Actor, now: datetime) -> Dispatched:
    """The day's standard packages: one order to every household served door to door whose
    last standard package is older than its cycle (its zone's, else the policy's), with no
    omission, each put at once into its building's open task of the day (made when the
    building has none: its next batch). Set-based and linear in the households: the households
    due are staged first (one INSERT … SELECT per cycle group), then the tasks, orders and lines
    are written from the stage, so that no statement reads the table it fills (on a lockdown's
    first day such a statement, planned on empty tables, rescans its own growing output for
    every row). Runs one at a time (the dispatch lock); a second run the same day adds nothing
    (one standard package per household and cycle day)."""
    actor.require("dispatch_deliveries")
    if actor.level != ScopeLevel.CITY:
        raise Forbidden()
    dispatch_day_check(day, now)
    supply_policy = policy()
    door = lockdown.households_on(lockdown.DOOR_TO_DOOR).values("pk")
    if not door.exists():
        return Dispatched(orders=0, tasks=0, assigned=0)
    default_item = Item.objects.filter(code=supply_policy.standard_item, active=True).first()
    if default_item is None:
        raise NotFound(
            _("The standard package %(code)s is not in the catalogue.")
            % {"code": supply_policy.standard_item},
            code="unknown_item",
        )
    today = clock.local_date(now)
    with transaction.atomic():
        dispatch_begin(day=day)
        cycles = list(
            PackageCycle.objects.filter(zone__state=ZoneState.IN_FORCE)
            .select_related("zone")
            .order_by("every_days", "pk")
        )
        # The shortest cycle first: a household in two zones with their own cycles gets the
        # shorter (the stage keeps a household's first group).
        groups: list[tuple[Any, int, int]] = [
            (zones.zone_households(c.zone).filter(pk__in=door).values("pk"), c.item_id, c.every_days)
            for c in cycles
        ]
        # The policy's cycle for the rest: a zone's own cycle, longer or shorter, is never overridden.
        rest = lockdown.households_on(lockdown.DOOR_TO_DOOR)
        for cycle in cycles:
            rest = rest.exclude(pk__in=zones.zone_households(cycle.zone).values("pk"))
        groups.append((rest.values("pk"), default_item.pk, supply_policy.standard_every_days))
        sql.stage_standard()
        for households, item_id, every_days in groups:
            chosen, chosen_params = of_query(households)
            sql.stage_due(
                chosen,
                chosen_params,
                day=day,
                since=rules.cycle_start(day, every_days),
                item_id=item_id,
                every_days=every_days,
                today=today,
            )
        analyze(sql.STANDARD_STAGE)
        due_vulnerable, due_normal = deadline(now, vulnerable=True), deadline(now, vulnerable=False)
        waiting, params = sql.standard_waiting(due_vulnerable=due_vulnerable, due_normal=due_normal)
        tasks = sql.insert_tasks(waiting, params, day=day, first_slot=first_pickup_slot(day))
        # The open tasks are locked against claims (dispatch_begin), so each package finds its
        # task; should one not, it goes out `open` for the building's next batch (tasks_build,
        # which the dispatch job runs next) rather than be left out.
        created = sql.insert_standard(
            day=day, placed_at=now, due_vulnerable=due_vulnerable, due_normal=due_normal
        )
        sql.analyze_after(created, "delivery_order")
        sql.insert_standard_lines(day=day)
        sql.analyze_after(created, "delivery_orderline")
        sql.drop_standard()
        if created:
            sql.refresh_open_tasks(day)
        audit.record(
            action="delivery.standard.created",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={"day": day.isoformat(), "orders": created, "tasks": tasks, "cycles": len(groups)},
            actor=actor,
            now=now,
        )
    # The day's open tasks are locked (dispatch_begin): every package found its task.
    return Dispatched(orders=created, tasks=tasks, assigned=created)
