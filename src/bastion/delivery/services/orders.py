"""Orders and the last 100 metres: an order placed by a household or community staff, its
delivery at the door (recipient code, weight) or a failed attempt that sends it back to be
dispatched again, and the daily inquiry of a locked household. Each is atomic and audited;
deliveries are idempotent by client key."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from bastion.city.models import Household
from bastion.city.selectors import household_is_vulnerable
from bastion.core import audit, clock
from bastion.core.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import rules, sql
from bastion.delivery.models import (
    Attempt,
    CheckIn,
    DeliveryTask,
    Order,
    OrderKind,
    OrderLine,
    OrderState,
    Outcome,
    TaskState,
)
from bastion.lockdown import selectors as lockdown
from bastion.supply import selectors as supply
from bastion.supply.policy import policy


def _recipient_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _household_in_scope(actor: Actor, household_id: int, kind: str) -> Household:
    """The household, if it lies in the actor's scope; outside it, it does not exist, in the
    same words as an id that names no household, whatever else is wrong with the order."""
    missing = NotFound(_("There is no such household."), code="unknown_household")
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        raise missing
    if actor.level == ScopeLevel.OWN_HOUSEHOLD:
        if household.pk != actor.household_id or kind != OrderKind.RESIDENT:
            raise missing
        return household
    if actor.level == ScopeLevel.COMMUNITY and household.community_id != actor.community_id:
        raise missing
    if actor.level == ScopeLevel.DISTRICT and household.district_id != actor.district_id:
        raise missing
    if actor.level == ScopeLevel.OWN_TASKS and household.community_id != actor.community_id:
        raise missing
    if kind == OrderKind.RESIDENT:
        raise InvalidInput(_("Staff place proxy orders or medicine requests."), code="bad_kind")
    return household


def deadline(placed: datetime, *, vulnerable: bool) -> datetime:
    """The policy's deadline of an order placed at `placed` (rules.deadline)."""
    supply_policy = policy()
    return rules.deadline(
        placed,
        vulnerable=vulnerable,
        vulnerable_hours=supply_policy.vulnerable_hours,
        normal_hours=supply_policy.normal_hours,
    )


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
    household = _household_in_scope(actor, household_id, kind)
    if client_key:
        earlier = Order.objects.filter(client_key=client_key).first()
        if earlier is not None:
            # A repeat answers the first order, its recipient code included: only for the same
            # household, never for a key that names another household's order.
            if earlier.household_id != household.pk:
                raise Conflict(_("This client key was used for another order."), code="client_key_taken")
            return earlier, True
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
                    due_at=deadline(now, vulnerable=vulnerable),
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


def _require_move(order: Order, to: OrderState) -> None:
    """The order (locked) may move to `to` (rules.ALLOWED_TRANSITIONS): else it is settled."""
    if not rules.may_move("order", order.state, to):
        raise InvalidTransition(_("This order is already settled."), code="order_settled")


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
        _require_move(order, OrderState.DELIVERED)
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
        sql.last_delivery_keep(household_id=order.household_id, order_id=order.pk, at=now)
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
        _require_move(order, OrderState.OPEN)
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
        DeliveryTask.objects.filter(pk=task.pk, state__in=rules.moves_into("task", TaskState.DONE)).update(
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
