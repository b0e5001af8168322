"""Every write of orders and deliveries: orders placed by households and community workers,
the day's standard packages and building tasks (set-based), claims, deliveries, failed
deliveries and their re-dispatch, and the daily inquiry. Each is atomic and audited; claims
are exclusive under concurrency (a conditional UPDATE: one row changed = you won)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, DecimalField, F, Min, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from bastion.city.models import Household
from bastion.city.selectors import household_is_vulnerable, household_vulnerable_sql
from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import rules
from bastion.delivery.models import (
    Attempt,
    CheckIn,
    DeliveryTask,
    LoadStop,
    Order,
    OrderKind,
    OrderLine,
    OrderState,
    Outcome,
    PackageCycle,
    TaskState,
    Vehicle,
)
from bastion.lockdown import selectors as lockdown
from bastion.supply import selectors as supply
from bastion.supply.models import Item, Warehouse
from bastion.supply.policy import policy
from bastion.zones import selectors as zones
from bastion.zones.models import Zone, ZoneState

# Staggered pick-up: each building of a compound gets its own slot, one after another.
PICKUP_OPENS = time(8, 0)
PICKUP_SLOT = timedelta(minutes=30)


def _recipient_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _household_in_scope(actor: Actor, household_id: int, kind: str) -> Household:
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        raise NotFound(_("There is no such household."), code="unknown_household")
    if actor.level == ScopeLevel.OWN_HOUSEHOLD:
        if household.pk != actor.household_id or kind != OrderKind.RESIDENT:
            raise NotFound(_("There is no such household."), code="unknown_household")
        return household
    if kind == OrderKind.RESIDENT:
        raise InvalidInput(_("Staff place proxy orders or medicine requests."), code="bad_kind")
    if actor.level == ScopeLevel.COMMUNITY and household.community_id != actor.community_id:
        raise NotFound(_("There is no such household."), code="unknown_household")
    if actor.level == ScopeLevel.DISTRICT and household.district_id != actor.district_id:
        raise NotFound(_("There is no such household."), code="unknown_household")
    if actor.level == ScopeLevel.OWN_TASKS and household.community_id != actor.community_id:
        raise NotFound(_("There is no such household."), code="unknown_household")
    return household


def _deadline(placed: datetime, vulnerable: bool) -> datetime:
    rules = policy()
    return placed + timedelta(hours=rules.vulnerable_hours if vulnerable else rules.normal_hours)


def order_place(
    *,
    household_id: int,
    lines: Sequence[tuple[str, int]],
    kind: str = OrderKind.RESIDENT,
    note: str = "",
    client_key: str | None = None,
    actor: Actor,
    now: datetime,
) -> tuple[Order, bool]:
    """An order for one household: by a resident for their own household, or a proxy order or a
    medicine request by community staff for a household of their community. Each item's daily
    limit per household holds across the day's orders (the household's row is locked while they
    are counted). Vulnerable households get the tighter deadline. Idempotent by `client_key`:
    (order, True) for a repeat."""
    actor.require("place_orders")
    if kind not in (OrderKind.RESIDENT, OrderKind.PROXY, OrderKind.MEDICINE):
        raise InvalidInput(
            _("An order is the household's own, a proxy order or a medicine request."), code="bad_kind"
        )
    if client_key:
        earlier = Order.objects.filter(client_key=client_key).first()
        if earlier is not None:
            return earlier, True
    household = _household_in_scope(actor, household_id, kind)
    wanted: dict[str, int] = {}
    for code, quantity in lines:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 99:
            raise InvalidInput(_("A quantity is a whole number from 1 to 99."), code="bad_quantity")
        wanted[code] = wanted.get(code, 0) + quantity
    if not wanted:
        raise InvalidInput(_("An order needs at least one item."), code="empty_order")
    items = {item.code: item for item in supply.catalogue().filter(code__in=list(wanted))}
    unknown = sorted(set(wanted) - set(items))
    if unknown:
        raise InvalidInput(
            _("These items are not in the catalogue: %(codes)s.") % {"codes": ", ".join(unknown)},
            code="unknown_item",
        )
    today = clock.local_date(now)
    start = datetime.combine(today, time(), clock.city_zone())
    vulnerable = household_is_vulnerable(household_id=household.pk, today=today)
    pickup = lockdown.service_mode(household_id=household.pk) == lockdown.STAGGERED_PICKUP
    with transaction.atomic():
        # Two orders of one household at once must not both pass the limit.
        Household.objects.select_for_update().filter(pk=household.pk).first()
        if client_key:  # the same key sent twice at once: the first is placed by now
            earlier = Order.objects.filter(client_key=client_key).first()
            if earlier is not None:
                return earlier, True
        had = dict(
            OrderLine.objects.filter(
                order__household_id=household.pk,
                order__placed_at__gte=start,
                item__code__in=list(wanted),
            )
            .exclude(order__state=OrderState.CANCELLED)
            .values("item__code")
            .annotate(n=Sum("quantity"))
            .values_list("item__code", "n")
        )
        for code, quantity in wanted.items():
            limit = items[code].limit_per_household
            if limit is not None and had.get(code, 0) + quantity > limit:
                raise Conflict(
                    _("%(item)s: at most %(limit)s a household a day; %(had)s already ordered today.")
                    % {"item": items[code].name, "limit": limit, "had": had.get(code, 0)},
                    code="over_limit",
                )
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    household=household,
                    building_id=household.building_id,
                    community_id=household.community_id,
                    district_id=household.district_id,
                    kind=kind,
                    vulnerable=vulnerable,
                    pickup=pickup,
                    placed_at=now,
                    due_at=_deadline(now, vulnerable),
                    placed_by=actor.label,
                    note=note.strip()[:300],
                    recipient_code=_recipient_code(),
                    client_key=client_key or None,
                )
        except IntegrityError:  # the same key, sent twice at once: the first one won
            return Order.objects.get(client_key=client_key), True
        OrderLine.objects.bulk_create(
            [OrderLine(order=order, item=items[code], quantity=quantity) for code, quantity in wanted.items()]
        )
        audit.record(
            action="delivery.order.placed",
            obj=order,
            after={"household": household.address, "kind": kind, "lines": wanted, "vulnerable": vulnerable},
            district_id=household.district_id,
            actor=actor,
            now=now,
        )
    return order, False


# --- the day's standard packages and building tasks (set-based) -------------------------------


@dataclass(frozen=True)
class Dispatched:
    orders: int
    tasks: int
    assigned: int


def _sql(query: Any) -> tuple[str, list[Any]]:
    sql, params = query.query.sql_with_params()
    return sql, list(params)


def _random_code() -> str:
    if connection.vendor == "postgresql":
        return "lpad(CAST(CAST(floor(random() * 1000000) AS integer) AS text), 6, '0')"
    return "substr('00000' || (abs(random()) % 1000000), -6, 6)"


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
    rules = policy()
    door = lockdown.households_on(lockdown.DOOR_TO_DOOR).values("pk")
    if not door.exists():
        return Dispatched(orders=0, tasks=0, assigned=0)
    default_item = Item.objects.filter(code=rules.standard_item, active=True).first()
    if default_item is None:
        raise NotFound(
            _("The standard package %(code)s is not in the catalogue.") % {"code": rules.standard_item},
            code="unknown_item",
        )
    today = clock.local_date(now)
    with transaction.atomic():
        _dispatch_begin(day=day)
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
        groups.append((rest.values("pk"), default_item.pk, rules.standard_every_days))
        _stage_table(
            STANDARD_STAGE,
            "household_id bigint PRIMARY KEY, building_id bigint NOT NULL, community_id bigint NOT NULL,"
            " district_id bigint NOT NULL, item_id bigint NOT NULL, every_days integer NOT NULL,"
            " vulnerable boolean NOT NULL",
        )
        for households, item_id, every_days in groups:
            _stage_due(households, day=day, item_id=item_id, every_days=every_days, today=today)
        _analyze(STANDARD_STAGE)
        due_vulnerable, due_normal = _deadline(now, True), _deadline(now, False)
        tasks = _insert_tasks(
            f"""
            SELECT s.building_id, MIN(s.community_id) AS community_id, MIN(s.district_id) AS district_id,
                   MIN(CASE WHEN s.vulnerable THEN %s ELSE %s END) AS due_at,
                   {_bool_or()}(s.vulnerable) AS vulnerable, {_false()} AS pickup
            FROM {STANDARD_STAGE} s
            """,
            [_adapt(due_vulnerable), _adapt(due_normal)],
            day=day,
        )
        created = _insert_standard(day=day, now=now)
        _analyze_after(created, "delivery_order")
        _insert_lines(day=day)
        _analyze_after(created, "delivery_orderline")
        _drop(STANDARD_STAGE)
        if created:
            _refresh_open_tasks(day)
        audit.record(
            action="delivery.standard.created",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={"day": day.isoformat(), "orders": created, "tasks": tasks, "cycles": len(groups)},
            actor=actor,
            now=now,
        )
    # The day's open tasks are locked (_dispatch_begin): every package found its task.
    return Dispatched(orders=created, tasks=tasks, assigned=created)


# Two dispatches at once (the worker's and an officer's button) would both see the same
# households due or the same buildings without a task: they take turns. SQLite admits one
# writer at a time anyway (IMMEDIATE transactions).
DISPATCH_LOCK = 0x42A57501
STANDARD_STAGE = "delivery_stage_standard"
TASK_STAGE = "delivery_stage_tasks"
_TIMESTAMP = "timestamp with time zone"


def _pg() -> bool:
    return connection.vendor == "postgresql"


def _false() -> str:
    return "FALSE" if _pg() else "0"


def _bool_or() -> str:
    return "bool_or" if _pg() else "max"


def _bool_and() -> str:
    return "bool_and" if _pg() else "min"


def _adapt(moment: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(moment)


def _dispatch_begin(*, day: date, building_id: int | None = None, wait: bool = True) -> bool:
    """Inside the dispatch's transaction: take the dispatch lock (or, with `wait` False, only
    if it is free: False when another dispatch holds it), then lock the day's open tasks, so
    that a volunteer's claim waits for this dispatch to commit rather than taking a task that
    is being given orders the volunteer would not see. On PostgreSQL, no JIT (it compiled the
    million-row statements for seconds and saved nothing)."""
    if _pg():
        with connection.cursor() as cursor:
            if wait:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK])
            else:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DISPATCH_LOCK])
                if not cursor.fetchone()[0]:
                    return False
            cursor.execute("SET LOCAL jit = off")
    tasks = DeliveryTask.objects.select_for_update().filter(day=day, state=TaskState.OPEN)
    if building_id is not None:
        tasks = tasks.filter(building_id=building_id)
    list(tasks.order_by("pk").values_list("pk", flat=True))
    return True


def _stage_table(name: str, columns: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        cursor.execute(f"CREATE TEMP TABLE {name} ({columns})")


def _drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")


def _analyze(table: str) -> None:
    """PostgreSQL has no statistics of a temporary table until it is analysed (autovacuum never
    sees it): without them it plans the next joins as if the stage held a handful of rows."""
    if _pg():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


# A statement that writes this many rows or more has its table's statistics taken again at once,
# so that the next statements (the lines after the orders, the tasks after the day's orders)
# are not planned on "empty" statistics: a lockdown's first day writes a million orders into
# empty tables, long before autovacuum comes by.
ANALYZE_AFTER_ROWS = 20_000


def _analyze_after(rows: int, table: str, at_least: int | None = None) -> None:
    if rows >= (ANALYZE_AFTER_ROWS if at_least is None else at_least):
        _analyze(table)


def _stage_due(households: Any, *, day: date, item_id: int, every_days: int, today: date) -> None:
    """Stage the households of one cycle group whose last standard package is older than the
    cycle, each with its vulnerability (computed once, here)."""
    chosen, params = _sql(households)
    vulnerable, vulnerable_params = household_vulnerable_sql("p", today)
    since = day - timedelta(days=every_days - 1)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {STANDARD_STAGE} (household_id, building_id, community_id, district_id, item_id,
                                          every_days, vulnerable)
            SELECT h.id, h.building_id, h.community_id, h.district_id, %s, %s, {vulnerable}
            FROM city_household h
            LEFT JOIN city_householdprofile p ON p.household_id = h.id
            WHERE h.id IN ({chosen})
              AND NOT EXISTS (
                  SELECT 1 FROM delivery_order o
                  WHERE o.household_id = h.id AND o.kind = 'standard' AND o.cycle_day >= %s
                    AND (o.state <> 'cancelled' OR o.cycle_day = %s))
            ON CONFLICT DO NOTHING
            """,
            [item_id, every_days, *vulnerable_params, *params, since, day],
        )


def _insert_standard(*, day: date, now: datetime) -> int:
    """The staged households' orders, each in its building's open task of the day. The open
    tasks are locked against claims (_dispatch_begin), so each finds its task; should one not,
    its orders go out `open` for the building's next batch (tasks_build, which the dispatch job
    runs next) rather than be left out."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO delivery_order (household_id, building_id, community_id, district_id, kind, state,
                                        cycle_day, vulnerable, pickup, placed_at, due_at, placed_by, note,
                                        recipient_code, attempts, task_id)
            SELECT s.household_id, s.building_id, s.community_id, s.district_id, 'standard',
                   CASE WHEN t.id IS NULL THEN 'open' ELSE 'assigned' END, %s,
                   s.vulnerable, {_false()}, %s, CASE WHEN s.vulnerable THEN %s ELSE %s END,
                   'standard packages (' || CAST(s.every_days AS text) || ' days)', '', {_random_code()}, 0,
                   t.id
            FROM {STANDARD_STAGE} s
            LEFT JOIN delivery_deliverytask t
                   ON t.building_id = s.building_id AND t.day = %s AND t.state = 'open'
            ORDER BY s.building_id, s.household_id
            """,
            [day, _adapt(now), _adapt(_deadline(now, True)), _adapt(_deadline(now, False)), day],
        )
        return max(cursor.rowcount, 0)


def _insert_lines(*, day: date) -> None:
    """One line of each new standard order: its group's package, found by the order's
    (household, cycle day), which is unique among standard orders."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO delivery_orderline (order_id, item_id, quantity)
            SELECT o.id, s.item_id, 1
            FROM {STANDARD_STAGE} s
            JOIN delivery_order o ON o.household_id = s.household_id AND o.kind = 'standard'
                                 AND o.cycle_day = %s
            """,
            [day],
        )


def _insert_tasks(waiting: str, params: list[Any], *, day: date) -> int:
    """A new task of the day for each building that `waiting` lists and that has no open task
    today (its next batch). `waiting` selects, for the orders to dispatch, building, community,
    district, deadline, vulnerability and pick-up, in that order, without GROUP BY. Staged first,
    so that the INSERT does not read the tasks it writes."""
    _stage_table(
        TASK_STAGE,
        "building_id bigint PRIMARY KEY, community_id bigint NOT NULL, district_id bigint NOT NULL,"
        f" batch integer NOT NULL, due_at {_TIMESTAMP} NOT NULL, vulnerable boolean NOT NULL,"
        " pickup boolean NOT NULL",
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {TASK_STAGE}
                   (building_id, community_id, district_id, due_at, vulnerable, pickup, batch)
            SELECT w.building_id, w.community_id, w.district_id, w.due_at, w.vulnerable, w.pickup,
                   COALESCE(b.top, 0) + 1
            FROM ({waiting} GROUP BY 1) w
            LEFT JOIN (
                SELECT t.building_id, MAX(t.batch) AS top,
                       MAX(CASE WHEN t.state = 'open' THEN 1 ELSE 0 END) AS has_open
                FROM delivery_deliverytask t WHERE t.day = %s GROUP BY t.building_id
            ) b ON b.building_id = w.building_id
            WHERE COALESCE(b.has_open, 0) = 0
            """,
            [*params, day],
        )
        _analyze_after(max(cursor.rowcount, 0), TASK_STAGE, at_least=1_000)
        cursor.execute(
            f"""
            INSERT INTO delivery_deliverytask (building_id, community_id, district_id, day, batch, state,
                                               due_at, vulnerable, pickup_from, pickup_until)
            SELECT s.building_id, s.community_id, s.district_id, %s, s.batch, 'open', s.due_at,
                   s.vulnerable, CASE WHEN s.pickup THEN %s END, CASE WHEN s.pickup THEN %s END
            FROM {TASK_STAGE} s
            ORDER BY s.building_id
            """,
            [day, *_first_slot(day)],
        )
        tasks = max(cursor.rowcount, 0)
    _drop(TASK_STAGE)
    _analyze_after(tasks, "delivery_deliverytask", at_least=1_000)
    return tasks


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
    scope_sql, scope_params = _order_scope(actor, building_id)
    with transaction.atomic():
        if not _dispatch_begin(day=day, building_id=building_id, wait=wait):
            return Dispatched(orders=0, tasks=0, assigned=0)
        tasks = _insert_tasks(
            f"""
            SELECT o.building_id, MIN(o.community_id) AS community_id, MIN(o.district_id) AS district_id,
                   MIN(o.due_at) AS due_at, {_bool_or()}(o.vulnerable) AS vulnerable,
                   {_bool_and()}(o.pickup) AS pickup
            FROM delivery_order o
            WHERE o.state = 'open' AND o.task_id IS NULL {scope_sql}
            """,
            scope_params,
            day=day,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE delivery_order SET task_id = t.id, state = 'assigned'
                FROM delivery_deliverytask t
                WHERE delivery_order.state = 'open' AND delivery_order.task_id IS NULL
                  AND t.building_id = delivery_order.building_id AND t.day = %s AND t.state = 'open'
                  {scope_sql.replace("o.", "delivery_order.")}
                """,
                [day, *scope_params],
            )
            assigned = max(cursor.rowcount, 0)
        if assigned:
            _stagger_pickups(day)
            _refresh_open_tasks(day)
        audit.record(
            action="delivery.tasks.built",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={"day": day.isoformat(), "tasks": tasks, "orders": assigned, "building": building_id},
            actor=actor,
            now=now,
        )
    return Dispatched(orders=assigned, tasks=tasks, assigned=assigned)


def _order_scope(actor: Actor, building_id: int | None) -> tuple[str, list[Any]]:
    parts, params = [], []
    if actor.level == ScopeLevel.DISTRICT:
        parts.append("AND o.district_id = %s")
        params.append(actor.district_id)
    elif actor.level == ScopeLevel.COMMUNITY:
        parts.append("AND o.community_id = %s")
        params.append(actor.community_id)
    if building_id is not None:
        parts.append("AND o.building_id = %s")
        params.append(building_id)
    return " ".join(parts), params


def _first_slot(day: date) -> tuple[Any, Any]:
    start = datetime.combine(day, PICKUP_OPENS, clock.city_zone())
    adapt = connection.ops.adapt_datetimefield_value
    return adapt(start), adapt(start + PICKUP_SLOT)


def _stagger_pickups(day: date) -> None:
    """Pick-up slots one after another for the buildings of a compound (the first slot at
    PICKUP_OPENS), so that neighbours do not queue together."""
    tasks = list(
        DeliveryTask.objects.filter(day=day, pickup_from__isnull=False)
        .select_related("building")
        .order_by("building__compound_id", "building_id", "batch")
    )
    slot_of: dict[int, int] = {}
    per_compound: dict[int, int] = {}
    changed = []
    base = datetime.combine(day, PICKUP_OPENS, clock.city_zone())
    for task in tasks:
        compound = task.building.compound_id
        if task.building_id not in slot_of:
            slot_of[task.building_id] = per_compound.get(compound, 0)
            per_compound[compound] = slot_of[task.building_id] + 1
        start = base + PICKUP_SLOT * slot_of[task.building_id]
        if task.pickup_from != start:
            task.pickup_from, task.pickup_until = start, start + PICKUP_SLOT
            changed.append(task)
    DeliveryTask.objects.bulk_update(changed, ["pickup_from", "pickup_until"])


def _refresh_open_tasks(day: date) -> None:
    """An open task's deadline and vulnerability follow the orders it holds now."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE delivery_deliverytask SET
                due_at = (SELECT MIN(o.due_at) FROM delivery_order o
                          WHERE o.task_id = delivery_deliverytask.id),
                vulnerable = (SELECT {"bool_or" if connection.vendor == "postgresql" else "max"}(o.vulnerable)
                              FROM delivery_order o WHERE o.task_id = delivery_deliverytask.id)
            WHERE day = %s AND state = 'open'
              AND EXISTS (SELECT 1 FROM delivery_order o WHERE o.task_id = delivery_deliverytask.id)
            """,
            [day],
        )


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
        won = DeliveryTask.objects.filter(pk=task.pk, state=TaskState.OPEN).update(
            state=TaskState.CLAIMED, volunteer_id=actor.user_id, claimed_at=now
        )
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


@dataclass(frozen=True)
class Delivered:
    order: Order
    repeated: bool
    # The standard packages of the order and what they should weigh, for the short-weight rule.
    package_item_id: int | None
    declared_kg: Decimal | None


def _weight(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        weight = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("The weight is not a number of kg."), code="bad_weight") from None
    if not weight.is_finite() or not Decimal("0") < weight < Decimal("1000"):
        raise InvalidInput(_("The weight is not a number of kg."), code="bad_weight")
    return weight.quantize(Decimal("0.01"))


def _held_order(actor: Actor, order_id: int) -> tuple[Order, DeliveryTask]:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None or order.task_id is None:
        raise NotFound(_("There is no such order in your tasks."), code="unknown_order")
    task = DeliveryTask.objects.get(pk=order.task_id)
    if task.volunteer_id != actor.user_id or task.state != TaskState.CLAIMED:
        raise NotFound(_("There is no such order in your tasks."), code="unknown_order")
    return order, task


def order_deliver(
    *,
    order_id: int,
    recipient_code: str,
    weight_kg: Any = None,
    client_key: str | None = None,
    actor: Actor,
    now: datetime,
) -> Delivered:
    """The volunteer hands the order over: the household's recipient code must match, and a
    standard package is weighed. Idempotent by `client_key`. When the task's last order is
    settled the task is done."""
    actor.require("deliver")
    if client_key:
        earlier = Attempt.objects.filter(client_key=client_key).select_related("order").first()
        if earlier is not None:
            return Delivered(earlier.order, True, None, None)
    weight = _weight(weight_kg)
    with transaction.atomic():
        order, task = _held_order(actor, order_id)
        if order.state != OrderState.ASSIGNED:
            raise Conflict(_("This order is already settled."), code="order_settled")
        if not hmac.compare_digest(recipient_code.strip(), order.recipient_code):
            raise InvalidInput(_("The recipient code does not match."), code="wrong_code")
        packages = list(OrderLine.objects.filter(order=order, item__package=True).select_related("item"))
        declared = (
            sum((line.item.declared_weight_kg or Decimal(0)) * line.quantity for line in packages) or None
        )
        if packages and weight is None:
            raise InvalidInput(_("Weigh the package and enter its weight."), code="weight_required")
        order.state = OrderState.DELIVERED
        order.delivered_at = now
        order.measured_weight_kg = weight
        order.attempts += 1
        order.save(update_fields=["state", "delivered_at", "measured_weight_kg", "attempts"])
        Attempt.objects.create(
            order=order,
            task=task,
            volunteer_id=actor.user_id,
            outcome=Outcome.DELIVERED,
            measured_weight_kg=weight,
            at=now,
            client_key=client_key or None,
        )
        _last_delivery_keep(order, now)
        _finish_if_settled(task, now)
        audit.record(
            action="delivery.order.delivered",
            obj=order,
            before={"state": str(OrderState.ASSIGNED)},
            after={
                "state": str(OrderState.DELIVERED),
                "weight_kg": str(weight) if weight is not None else None,
            },
            district_id=order.district_id,
            actor=actor,
            now=now,
        )
    return Delivered(order, False, packages[0].item_id if packages else None, declared)


def _last_delivery_keep(order: Order, at: datetime) -> None:
    """The household's last delivery is this one, unless a later one is already kept (two
    volunteers' confirmations crossing)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO delivery_lastdelivery (household_id, delivered_at, order_id) VALUES (%s, %s, %s)
            ON CONFLICT (household_id) DO UPDATE
                SET delivered_at = excluded.delivered_at, order_id = excluded.order_id
                WHERE delivery_lastdelivery.delivered_at <= excluded.delivered_at
            """,
            [order.household_id, _adapt(at), order.pk],
        )


def order_fail(*, order_id: int, reason: str, actor: Actor, now: datetime) -> Order:
    """The volunteer could not deliver (nobody home, refused, wrong address…): the attempt is
    recorded with its reason and the order goes back to be dispatched again in a new task of
    its building at once."""
    actor.require("deliver")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the order could not be delivered."), code="reason_required")
    with transaction.atomic():
        order, task = _held_order(actor, order_id)
        if order.state != OrderState.ASSIGNED:
            raise Conflict(_("This order is already settled."), code="order_settled")
        order.state = OrderState.OPEN
        order.task = None
        order.attempts += 1
        order.save(update_fields=["state", "task", "attempts"])
        Attempt.objects.create(
            order=order,
            task=task,
            volunteer_id=actor.user_id,
            outcome=Outcome.FAILED,
            reason=reason[:300],
            at=now,
        )
        _finish_if_settled(task, now)
        audit.record(
            action="delivery.order.failed",
            obj=order,
            before={"state": str(OrderState.ASSIGNED), "task": task.pk},
            after={"state": str(OrderState.OPEN)},
            reason=reason,
            district_id=order.district_id,
            actor=actor,
            now=now,
        )
    return order


def _finish_if_settled(task: DeliveryTask, now: datetime) -> None:
    if not Order.objects.filter(task=task, state=OrderState.ASSIGNED).exists():
        DeliveryTask.objects.filter(pk=task.pk, state=TaskState.CLAIMED).update(
            state=TaskState.DONE, done_at=now
        )


def checkin_record(
    *,
    household_id: int,
    needs: str = "",
    lines: Sequence[tuple[str, int]] = (),
    actor: Actor,
    now: datetime,
) -> tuple[CheckIn, bool]:
    """The day's inquiry of a household by a volunteer of its community (一天一问): once a
    day; a second one the same day adds the needs to the first. Needs given as catalogue lines
    are raised at once as an order for the household, placed by the volunteer (a proxy order).
    (check-in, created)."""
    actor.require("deliver")
    household = Household.objects.filter(pk=household_id).first()
    if household is None or actor.community_id is None or household.community_id != actor.community_id:
        raise NotFound(_("There is no such household."), code="unknown_household")
    day = clock.local_date(now)
    with transaction.atomic():
        order = None
        if lines:
            order, _repeated = order_place(
                household_id=household.pk,
                lines=lines,
                kind=OrderKind.PROXY,
                note=_("raised by the daily inquiry"),
                actor=actor,
                now=now,
            )
        checkin, created = CheckIn.objects.select_for_update().get_or_create(
            household=household,
            day=day,
            defaults={"volunteer_id": actor.user_id, "needs": needs.strip()[:500], "at": now, "order": order},
        )
        if not created:
            changed = []
            if needs.strip():
                checkin.needs = (checkin.needs + "\n" + needs.strip()).strip()[:500]
                changed.append("needs")
            if order is not None:
                checkin.order = order
                changed.append("order")
            if changed:
                checkin.save(update_fields=changed)
        audit.record(
            action="delivery.checkin.recorded",
            obj=checkin,
            after={
                "household": household.address,
                "needs": needs.strip(),
                "order": order.pk if order else None,
            },
            district_id=household.district_id,
            actor=actor,
            now=now,
        )
    return checkin, created


# --- a zone's own standard package ----------------------------------------------------------

CYCLE_DAYS = range(1, 31)


def _cycle_zone(actor: Actor, zone_id: int) -> Zone:
    """The zone whose package cycle the actor sets: the command centre's or their district's."""
    actor.require("dispatch_deliveries")
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        raise Forbidden()
    zone = zones.zones_visible(actor).filter(pk=zone_id).first()
    if zone is None:
        raise NotFound(_("There is no such zone."), code="unknown_zone")
    return zone


def package_cycle_set(
    *, zone_id: int, item_code: str, every_days: int, actor: Actor, now: datetime
) -> PackageCycle:
    """A zone's own standard package and cycle (a vegetable package every 3 days, say), set by
    the command centre or the zone's district: it applies to the zone's households served door
    to door while the zone is in force, from the next dispatch. Audited with what it replaced."""
    zone = _cycle_zone(actor, zone_id)
    if zone.state not in (ZoneState.IN_FORCE, ZoneState.PROPOSED):
        raise Conflict(_("This zone is no longer in force."), code="zone_not_in_force")
    if isinstance(every_days, bool) or not isinstance(every_days, int) or every_days not in CYCLE_DAYS:
        raise InvalidInput(_("A cycle is a whole number of days from 1 to 30."), code="bad_cycle")
    item = supply.catalogue().filter(code=item_code, package=True).first()
    if item is None:
        raise InvalidInput(
            _("%(code)s is not a package of the catalogue.") % {"code": item_code}, code="unknown_item"
        )
    with transaction.atomic():
        cycle = PackageCycle.objects.select_for_update().filter(zone=zone).first()
        before = {"item": cycle.item.code, "every_days": cycle.every_days} if cycle else None
        if cycle is None:
            cycle = PackageCycle.objects.create(zone=zone, item=item, every_days=every_days, set_at=now)
        else:
            cycle.item, cycle.every_days, cycle.set_at = item, every_days, now
            cycle.save(update_fields=["item", "every_days", "set_at"])
        audit.record(
            action="delivery.cycle.set",
            obj=cycle,
            before=before,
            after={"zone": zone.code, "item": item.code, "every_days": every_days},
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return cycle


def package_cycle_clear(*, zone_id: int, actor: Actor, now: datetime) -> bool:
    """The zone's households go back to the policy's standard package and cycle. False when the
    zone had none of its own."""
    zone = _cycle_zone(actor, zone_id)
    with transaction.atomic():
        cycle = PackageCycle.objects.select_for_update().filter(zone=zone).select_related("item").first()
        if cycle is None:
            return False
        audit.record(
            action="delivery.cycle.cleared",
            obj=cycle,
            before={"zone": zone.code, "item": cycle.item.code, "every_days": cycle.every_days},
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
        cycle.delete()
    return True


# --- vehicles: the day's load plan ------------------------------------------------------------


def load_plan_make(*, day: date, base_code: str, actor: Actor, now: datetime) -> list[LoadStop]:
    """The day's load plan from a sorting centre to the compounds of its district: each
    compound's demand (the declared weight of the day's orders still to deliver), its time
    window (from the first pick-up slot or now, until the earliest deadline), packed into the
    base's vehicles heaviest first (rules.load_plan). Made again, it replaces the day's plan of
    the base. The stops keep what a route optimiser needs: places, demands, capacities and
    windows."""
    actor.require("manage_supply")
    base = Warehouse.objects.filter(code=base_code).first()
    if base is None:
        raise NotFound(_("There is no such warehouse."), code="unknown_warehouse")
    vehicles = list(Vehicle.objects.filter(base=base, active=True).order_by("plate"))
    weight = Coalesce(F("item__declared_weight_kg"), Value(Decimal(0))) * F("quantity")
    rows = (
        OrderLine.objects.filter(
            order__district_id=base.district_id,
            order__state__in=(OrderState.OPEN, OrderState.ASSIGNED),
            order__placed_at__lt=datetime.combine(day + timedelta(days=1), time(), clock.city_zone()),
        )
        .values("order__household__compound_id")
        .annotate(
            kg=Sum(weight, output_field=DecimalField(max_digits=12, decimal_places=2)),
            orders=Count("order_id", distinct=True),
            due=Min("order__due_at"),
            pickup=Min("order__task__pickup_from"),
        )
    )
    demands = {int(r["order__household__compound_id"]): r for r in rows if r["kg"]}
    try:
        trips = rules.load_plan(
            [rules.Demand(compound, Decimal(r["kg"])) for compound, r in demands.items()],
            [v.capacity_kg for v in vehicles],
        )
    except ValueError:
        raise Conflict(_("This sorting centre has no vehicle in service."), code="no_vehicle") from None
    with transaction.atomic():
        LoadStop.objects.filter(day=day, vehicle__base=base).delete()
        stops = []
        for trip in trips:
            for sequence, (compound_id, kg) in enumerate(trip.loads, start=1):
                row = demands[compound_id]
                stops.append(
                    LoadStop(
                        day=day,
                        vehicle=vehicles[trip.vehicle],
                        trip=trip.number,
                        sequence=sequence,
                        compound_id=compound_id,
                        demand_kg=kg,
                        orders=row["orders"],
                        window_from=max(row["pickup"], now) if row["pickup"] else now,
                        window_until=max(row["due"], now),
                        planned_at=now,
                    )
                )
        LoadStop.objects.bulk_create(stops)
        audit.record(
            action="delivery.load_plan.made",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={
                "base": base.code,
                "vehicles": len(vehicles),
                "trips": len(trips),
                "stops": len(stops),
                "kg": str(sum((s.demand_kg for s in stops), Decimal(0))),
            },
            district_id=base.district_id,
            actor=actor,
            now=now,
        )
    return stops
