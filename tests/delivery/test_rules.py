"""The delivery rules: where one also runs as SQL (the deadlines of the day's dispatch, the due
check of its standard packages), its table of cases gives the same answers both ways; orders
and tasks move between states only as the transition map allows."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from django.db import transaction

from bastion.city.models import Household
from bastion.core import clock
from bastion.core.errors import DomainError
from bastion.core.scopes import SYSTEM, Actor
from bastion.core.sql import of_query, rows
from bastion.delivery import rules, services
from bastion.delivery import sql as delivery_sql
from bastion.delivery.models import DeliveryTask, Order, OrderState, TaskState
from bastion.delivery.services import orders as order_services
from bastion.supply.policy import policy
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import at

# --- the pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(("vulnerable_hours", "normal_hours", "vulnerable", "hours"), rules.DEADLINE_CASES)
def test_a_vulnerable_household_gets_the_tighter_deadline(
    vulnerable_hours: int, normal_hours: int, vulnerable: bool, hours: int
) -> None:
    due = rules.deadline(
        NOW, vulnerable=vulnerable, vulnerable_hours=vulnerable_hours, normal_hours=normal_hours
    )
    assert due == NOW + timedelta(hours=hours)


@pytest.mark.parametrize(("every_days", "earlier", "due"), rules.DUE_CASES)
def test_a_standard_package_is_due_once_its_last_one_is_older_than_the_cycle(
    every_days: int, earlier: tuple[tuple[int, bool], ...], due: bool
) -> None:
    packages = [(TODAY - timedelta(days=before), cancelled) for before, cancelled in earlier]
    assert rules.standard_package_due(day=TODAY, every_days=every_days, earlier=packages) is due


def test_a_zones_cycle_is_a_whole_number_of_days_from_1_to_30() -> None:
    assert [n for n in (0, 1, 30, 31) if rules.cycle_days_valid(n)] == [1, 30]
    assert (
        not rules.cycle_days_valid(True)
        and not rules.cycle_days_valid("3")
        and not rules.cycle_days_valid(2.0)
    )


def test_the_buildings_of_a_compound_pick_up_one_slot_after_another() -> None:
    # Compound 1 has buildings 10 and 11 (11 twice: a second batch keeps its slot); compound 2 has 20.
    slots = rules.pickup_slot_indexes([(1, 10), (1, 11), (1, 11), (2, 20)])
    assert slots == {10: 0, 11: 1, 20: 0}
    zone = clock.city_zone()
    assert rules.pickup_slot(TODAY, 1, zone) == (
        datetime.combine(TODAY, time(8, 30), zone),
        datetime.combine(TODAY, time(9, 0), zone),
    )


def test_every_state_of_an_order_and_a_task_is_in_its_transition_map() -> None:
    for transitions, states in (
        (rules.ALLOWED_TRANSITIONS["order"], OrderState),
        (rules.ALLOWED_TRANSITIONS["task"], TaskState),
    ):
        assert set(transitions) == set(states.values)
        assert set().union(*transitions.values()) <= set(states.values)


# --- the same tables through the dispatch's SQL ------------------------------------------------


def test_the_dispatch_and_an_order_get_the_deadlines_the_rule_gives(
    locked: list[Household], worker: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each case of rules.DEADLINE_CASES, as the policy's hours: the standard packages of the
    day's dispatch (set-based SQL) and an order placed by the community (ORM) are due when the
    rule says, and a building's task by its most urgent order."""
    base = policy()
    vulnerable_household = next(h for h in locked if h.address == "C1/2/1/202")
    for n, (vulnerable_hours, normal_hours, vulnerable, hours) in enumerate(rules.DEADLINE_CASES):
        hours_now = replace(base, vulnerable_hours=vulnerable_hours, normal_hours=normal_hours)
        monkeypatch.setattr(order_services, "policy", lambda hours_now=hours_now: hours_now)
        day, now = TODAY + timedelta(days=n * base.standard_every_days), at(n * base.standard_every_days)
        assert services.standard_orders_create(day=day, actor=SYSTEM, now=now).orders == len(locked)
        dispatched = Order.objects.filter(kind="standard", cycle_day=day, vulnerable=vulnerable)
        assert dispatched.exists()
        assert {o.due_at for o in dispatched} == {now + timedelta(hours=hours)}
        task = DeliveryTask.objects.get(day=day)
        assert task.due_at == now + timedelta(hours=min(vulnerable_hours, normal_hours))
        household = (
            vulnerable_household if vulnerable else next(h for h in locked if h != vulnerable_household)
        )
        placed, _repeated = services.order_place(
            household_id=household.pk, lines=[("rice-5kg", 1)], kind="proxy", actor=worker, now=now
        )
        assert (placed.vulnerable, placed.due_at) == (vulnerable, now + timedelta(hours=hours))


def _staged(household: Household, *, day: date, every_days: int) -> bool:
    """Whether the dispatch's due check (sql.stage_due) stages the household."""
    delivery_sql.stage_standard()
    chosen, params = of_query(Household.objects.filter(pk=household.pk).values("pk"))
    delivery_sql.stage_due(
        chosen,
        params,
        day=day,
        since=rules.cycle_start(day, every_days),
        item_id=1,
        every_days=every_days,
        today=day,
    )
    found = rows(f"SELECT household_id FROM {delivery_sql.STANDARD_STAGE}")
    delivery_sql.drop_standard()
    return bool(found)


def test_the_dispatchs_due_check_agrees_with_the_rule_on_every_case(locked: list[Household]) -> None:
    household = locked[0]
    outcomes = []
    for every_days, earlier, _due in rules.DUE_CASES:
        with transaction.atomic():
            for before, cancelled in earlier:
                cycle_day = TODAY - timedelta(days=before)
                Order.objects.create(
                    household=household,
                    building_id=household.building_id,
                    community_id=household.community_id,
                    district_id=household.district_id,
                    kind="standard",
                    state=OrderState.CANCELLED if cancelled else OrderState.DELIVERED,
                    cycle_day=cycle_day,
                    placed_at=NOW,
                    due_at=NOW,
                    placed_by="test",
                    recipient_code="000000",
                )
            outcomes.append(_staged(household, day=TODAY, every_days=every_days))
            transaction.set_rollback(True)
    assert outcomes == [due for _every, _earlier, due in rules.DUE_CASES]


# --- the transition maps, as the services apply them ------------------------------------------


def test_an_order_moves_only_as_the_map_allows(locked: list[Household], volunteers: list[Actor]) -> None:
    """From every state, every move a service makes (a task takes it, the volunteer delivers it
    or fails): allowed moves happen, the others are refused, with a domain error (or, by the
    set-based task building, by leaving the order as it was). No service cancels an order."""
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    task = DeliveryTask.objects.get()
    services.task_claim(task_id=task.pk, actor=volunteers[0], now=NOW)
    order = Order.objects.filter(task=task).order_by("pk").first()
    assert order is not None
    moves: dict[str, Callable[[], object]] = {
        OrderState.ASSIGNED: lambda: services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW),
        OrderState.DELIVERED: lambda: services.order_deliver(
            order_id=order.pk,
            recipient_code=order.recipient_code,
            weight_kg="10",
            actor=volunteers[0],
            now=NOW,
        ),
        OrderState.OPEN: lambda: services.order_fail(
            order_id=order.pk, reason="nobody home", actor=volunteers[0], now=NOW
        ),
    }
    outcomes, expected = {}, {}
    for current, to in itertools.product(OrderState.values, moves):
        with transaction.atomic():
            # An open order waits outside any task; the others stay in the volunteer's.
            Order.objects.filter(pk=order.pk).update(state=current, task=None if current == "open" else task)
            try:
                moves[to]()
                state = Order.objects.get(pk=order.pk).state
                outcomes[current, to] = "moved" if state == to and state != current else "refused"
            except DomainError:
                outcomes[current, to] = "refused"
            transaction.set_rollback(True)
        expected[current, to] = "moved" if rules.may_move("order", current, to) else "refused"
    assert outcomes == expected
    assert "cancelled" not in set().union(*rules.ALLOWED_TRANSITIONS["order"].values())


def test_a_task_moves_only_as_the_map_allows(locked: list[Household], volunteers: list[Actor]) -> None:
    """From every state: another volunteer's claim, and the holder settling every order (the
    task is done): allowed moves happen, the others are refused with a domain error."""
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    task = DeliveryTask.objects.get()
    holder, other = volunteers

    def settle_all() -> None:
        for order in Order.objects.filter(task=task).order_by("pk"):
            services.order_deliver(
                order_id=order.pk, recipient_code=order.recipient_code, weight_kg="10", actor=holder, now=NOW
            )

    moves: dict[str, Callable[[], object]] = {
        TaskState.CLAIMED: lambda: services.task_claim(task_id=task.pk, actor=other, now=NOW),
        TaskState.DONE: settle_all,
    }
    outcomes, expected = {}, {}
    for current, to in itertools.product(TaskState.values, moves):
        with transaction.atomic():
            held = current != TaskState.OPEN
            DeliveryTask.objects.filter(pk=task.pk).update(
                state=current, volunteer_id=holder.user_id if held else None, claimed_at=NOW if held else None
            )
            try:
                moves[to]()
                state = DeliveryTask.objects.get(pk=task.pk).state
                outcomes[current, to] = "moved" if state == to and state != current else "unchanged"
            except DomainError:
                outcomes[current, to] = "refused"
            transaction.set_rollback(True)
        expected[current, to] = "moved" if rules.may_move("task", current, to) else "refused"
    assert outcomes == expected


# The dispatch's day, one table through the rule and through both services that make packages
# and tasks (they refuse before writing anything).
DISPATCH_DAY_CASES = [(-400, False), (-1, False), (0, True), (1, True), (2, False), (300, False)]


@pytest.mark.parametrize(("offset", "allowed"), DISPATCH_DAY_CASES)
def test_a_dispatch_is_for_today_or_tomorrow(locked: list[Household], offset: int, allowed: bool) -> None:
    day = TODAY + timedelta(days=offset)
    assert rules.dispatch_day_allowed(day, TODAY) is allowed
    for make in (services.standard_orders_create, services.tasks_build):
        if allowed:
            make(day=day, actor=SYSTEM, now=NOW)
        else:
            with pytest.raises(DomainError) as refused:
                make(day=day, actor=SYSTEM, now=NOW)
            assert refused.value.code == "dispatch_day"
    assert Order.objects.filter(cycle_day=day).exists() is allowed
