"""Orders, the day's standard packages and building tasks, claims, deliveries and re-dispatch,
as the community, the volunteers and the households meet them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction

from bastion import flows
from bastion.city.models import Household
from bastion.city.selectors import actor_for
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import services
from bastion.delivery import sql as delivery_sql
from bastion.delivery.models import Attempt, CheckIn, DeliveryTask, Order, OrderLine
from bastion.delivery.services.tasks import dispatch_begin
from bastion.supply import services as supply
from bastion.supply.models import Flag, Warehouse
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import Places, at, resident


def dispatch(day: date = TODAY, now: datetime = NOW) -> services.Dispatched:
    """The worker's dispatch: the standard packages (straight into tasks), then every other order."""
    packaged = services.standard_orders_create(day=day, actor=SYSTEM, now=now)
    built = services.tasks_build(day=day, actor=SYSTEM, now=now)
    return services.Dispatched(
        orders=packaged.orders + built.orders,
        tasks=packaged.tasks + built.tasks,
        assigned=packaged.assigned + built.assigned,
    )


def test_every_household_at_the_door_gets_its_standard_package_once_a_cycle(locked: list[Household]) -> None:
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    orders = Order.objects.filter(kind="standard")
    assert sorted(o.household.address for o in orders) == [h.address for h in locked]
    assert all(line.item.code == "vegetable-10kg" for line in OrderLine.objects.all())
    assert OrderLine.objects.count() == 6
    # Sent again, or the next day: nothing new within the 3-day cycle.
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 0
    assert services.standard_orders_create(day=TODAY + timedelta(days=2), actor=SYSTEM, now=at(2)).orders == 0
    assert services.standard_orders_create(day=TODAY + timedelta(days=3), actor=SYSTEM, now=at(3)).orders == 6
    # Vulnerable households are due in 12 hours, the others in 24.
    for order in orders.filter(cycle_day=TODAY):
        assert order.due_at == NOW + timedelta(hours=12 if order.vulnerable else 24)
        assert len(order.recipient_code) == 6 and order.recipient_code.isdigit()
    assert [o.household.address for o in orders.filter(vulnerable=True, cycle_day=TODAY)] == ["C1/2/1/202"]
    entry = AuditEntry.objects.filter(action="delivery.standard.created").first()
    assert entry is not None and entry.after["orders"] == 6


def test_a_buildings_orders_make_one_task_and_one_volunteer_wins_it(
    locked: list[Household], volunteers: list[Actor], city: Places, make_user: Callable[..., User]
) -> None:
    built = dispatch()
    assert (built.tasks, built.orders) == (1, 6)
    task = DeliveryTask.objects.get()
    assert task.vulnerable and task.due_at == NOW + timedelta(hours=12)
    first, second = volunteers
    services.task_claim(task_id=task.pk, actor=first, now=at(hours=1))
    with pytest.raises(Conflict) as taken:
        services.task_claim(task_id=task.pk, actor=second, now=at(hours=1))
    assert taken.value.code == "task_taken"
    assert services.task_claim(task_id=task.pk, actor=first, now=at(hours=1)).volunteer_id == first.user_id
    outsider = actor_for(make_user("volunteer", community=city["M3"]))
    with pytest.raises(NotFound):
        services.task_claim(task_id=task.pk, actor=outsider, now=at(hours=1))
    # Orders placed later that day go into a new task of the building: the first is taken.
    services.order_place(
        household_id=locked[0].pk,
        lines=[("rice-5kg", 1)],
        kind="proxy",
        actor=actor_for(make_user("community_worker", community=city["M1"])),
        now=at(hours=2),
    )
    assert services.tasks_build(day=TODAY, actor=SYSTEM, now=at(hours=2)).tasks == 1
    assert sorted(DeliveryTask.objects.values_list("batch", "state")) == [(1, "claimed"), (2, "open")]


def test_a_short_package_is_delivered_and_flags_its_supplier(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    dispatch()
    task = DeliveryTask.objects.get()
    volunteer = volunteers[0]
    services.task_claim(task_id=task.pk, actor=volunteer, now=at(hours=1))
    order = Order.objects.filter(task=task).order_by("pk").first()
    assert order is not None
    with pytest.raises(InvalidInput) as wrong:
        flows.order_delivered(
            order_id=order.pk, recipient_code="no", weight_kg="10", actor=volunteer, now=at(hours=2)
        )
    assert wrong.value.code == "wrong_code"
    with pytest.raises(InvalidInput) as unweighed:
        flows.order_delivered(
            order_id=order.pk, recipient_code=order.recipient_code, actor=volunteer, now=at(hours=2)
        )
    assert unweighed.value.code == "weight_required"
    assert not Attempt.objects.exists()
    done = flows.order_delivered(
        order_id=order.pk,
        recipient_code=order.recipient_code,
        weight_kg="7.0",
        client_key="v1:1",
        actor=volunteer,
        now=at(hours=2),
    )
    assert done.order.state == "delivered" and done.order.measured_weight_kg == Decimal("7.00")
    assert done.flag is not None
    flag = Flag.objects.get()
    assert (flag.kind, flag.supplier.code, flag.household_id) == ("short_weight", "SUP1", order.household_id)
    assert flag.detail["declared_kg"] == "10.00" and flag.detail["measured_kg"] == "7.00"
    again = flows.order_delivered(
        order_id=order.pk,
        recipient_code=order.recipient_code,
        weight_kg="7.0",
        client_key="v1:1",
        actor=volunteer,
        now=at(hours=3),
    )
    assert again.repeated and Flag.objects.count() == 1 and Attempt.objects.count() == 1
    # Within the 2 % tolerance: no flag.
    other = Order.objects.filter(task=task, state="assigned").first()
    assert other is not None
    assert (
        flows.order_delivered(
            order_id=other.pk,
            recipient_code=other.recipient_code,
            weight_kg="9.85",
            actor=volunteer,
            now=at(hours=3),
        ).flag
        is None
    )
    # Someone else's order is not the volunteer's to settle.
    with pytest.raises(NotFound):
        third = Order.objects.filter(task=task, state="assigned").first()
        assert third is not None
        flows.order_delivered(
            order_id=third.pk,
            recipient_code=third.recipient_code,
            weight_kg="10",
            actor=volunteers[1],
            now=at(hours=3),
        )


def test_a_failed_delivery_goes_out_again_in_a_new_task_and_the_old_one_finishes(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    dispatch()
    task = DeliveryTask.objects.get()
    volunteer = volunteers[0]
    services.task_claim(task_id=task.pk, actor=volunteer, now=at(hours=1))
    orders = list(Order.objects.filter(task=task).order_by("pk"))
    with pytest.raises(InvalidInput):
        flows.order_failed(order_id=orders[0].pk, reason=" ", actor=volunteer, now=at(hours=2))
    flows.order_failed(order_id=orders[0].pk, reason="家中无人应答", actor=volunteer, now=at(hours=2))
    for order in orders[1:]:
        flows.order_delivered(
            order_id=order.pk,
            recipient_code=order.recipient_code,
            weight_kg="10",
            actor=volunteer,
            now=at(hours=3),
        )
    task.refresh_from_db()
    assert task.state == "done" and task.done_at == at(hours=3)
    failed = Order.objects.get(pk=orders[0].pk)
    assert failed.state == "assigned" and failed.attempts == 1 and failed.task_id != task.pk
    again = DeliveryTask.objects.get(pk=failed.task_id)
    assert (again.building_id, again.batch, again.state) == (task.building_id, 2, "open")
    assert Attempt.objects.get(outcome="failed").reason == "家中无人应答"


def test_orders_keep_their_scope_and_daily_limits(
    city: Places, catalogue: None, worker: Actor, make_user: Callable[..., User]
) -> None:
    home = Household.objects.get(address="C1/1/1/101")
    elsewhere = Household.objects.get(address="C4/1/1/101")
    me = actor_for(make_user("resident", household=home))
    order, repeated = services.order_place(
        household_id=home.pk, lines=[("rice-5kg", 1)], client_key="app:1", actor=me, now=NOW
    )
    assert not repeated and order.kind == "resident" and order.placed_by == me.label
    assert services.order_place(
        household_id=home.pk, lines=[("rice-5kg", 1)], client_key="app:1", actor=me, now=NOW
    )[1]
    with pytest.raises(NotFound):
        services.order_place(household_id=elsewhere.pk, lines=[("rice-5kg", 1)], actor=me, now=NOW)
    services.order_place(
        household_id=home.pk, lines=[("rice-5kg", 1)], kind="proxy", actor=worker, now=at(hours=1)
    )
    with pytest.raises(Conflict) as limit:
        services.order_place(household_id=home.pk, lines=[("rice-5kg", 1)], actor=me, now=at(hours=2))
    assert limit.value.code == "over_limit"
    # The next day the limit starts again.
    services.order_place(household_id=home.pk, lines=[("rice-5kg", 2)], actor=me, now=at(1))
    with pytest.raises(NotFound):
        services.order_place(
            household_id=elsewhere.pk, lines=[("rice-5kg", 1)], kind="proxy", actor=worker, now=NOW
        )
    with pytest.raises(InvalidInput) as unknown:
        services.order_place(household_id=home.pk, lines=[("caviar", 1)], kind="proxy", actor=worker, now=NOW)
    assert unknown.value.code == "unknown_item"
    with pytest.raises(InvalidInput):
        services.order_place(
            household_id=home.pk, lines=[("rice-5kg", 0)], kind="proxy", actor=worker, now=NOW
        )


def test_buildings_in_a_medium_zone_get_staggered_pick_up_slots(
    city: Places, catalogue: None, worker: Actor, make_user: Callable[..., User]
) -> None:
    """Under v9 the places a case stayed become medium-risk: their households pick up their
    orders, building after building (08:00, 08:30) so that neighbours do not queue together."""
    flows.case_reported(
        resident_id=resident("C1/2/1/301#1").pk,
        kind="confirmed",
        stayed=["C1/1", "C1/2/2"],
        actor=SYSTEM,
        now=NOW,
    )
    for address in ("C1/1/1/101", "C1/1/2/101", "C1/2/2/101"):
        services.order_place(
            household_id=Household.objects.get(address=address).pk,
            lines=[("rice-5kg", 1)],
            kind="proxy",
            actor=worker,
            now=NOW,
        )
    assert Order.objects.filter(pickup=True).count() == 3
    services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    slots = sorted(
        (t.pickup_from, t.pickup_until, t.orders.count())
        for t in DeliveryTask.objects.order_by("building_id")
    )
    opens = datetime(2022, 9, 1, 0, 0, tzinfo=UTC)  # 08:00 in the city
    assert slots == [
        (opens, opens + timedelta(minutes=30), 2),
        (opens + timedelta(minutes=30), opens + timedelta(hours=1), 1),
    ]


def test_one_inquiry_a_day_per_household_gathers_its_needs(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    first, created = services.checkin_record(
        household_id=locked[0].pk, needs="降压药", actor=volunteers[0], now=NOW
    )
    again, created_again = services.checkin_record(
        household_id=locked[0].pk, needs="牛奶", actor=volunteers[1], now=at(hours=3)
    )
    assert (created, created_again, again.pk) == (True, False, first.pk)
    assert CheckIn.objects.get().needs == "降压药\n牛奶"
    services.checkin_record(household_id=locked[0].pk, actor=volunteers[0], now=at(1))
    assert CheckIn.objects.count() == 2


def test_stock_never_goes_below_zero(city: Places, commerce: Actor) -> None:
    Warehouse.objects.create(code="W1", name="城东仓库", kind="warehouse", district=city["D1"])
    supply.stock_move(
        warehouse_code="W1", category="vegetables", kg="500", reason="到货", actor=commerce, now=NOW
    )
    with pytest.raises(Conflict) as short:
        supply.stock_move(
            warehouse_code="W1", category="vegetables", kg="-600", reason="出库", actor=commerce, now=NOW
        )
    assert short.value.code == "not_enough_stock"
    stock = supply.stock_move(
        warehouse_code="W1",
        category="vegetables",
        kg="-200",
        reason="出库",
        client_key="k1",
        actor=commerce,
        now=NOW,
    )
    assert stock.kg == Decimal("300.00")
    assert supply.stock_move(
        warehouse_code="W1",
        category="vegetables",
        kg="-200",
        reason="出库",
        client_key="k1",
        actor=commerce,
        now=NOW,
    ).kg == Decimal("300.00")


@pytest.mark.django_db(transaction=True)
def test_two_volunteers_claiming_one_task_at_once_make_one_claim(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    dispatch()
    task = DeliveryTask.objects.get()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def claim(volunteer: Actor) -> None:
        try:
            barrier.wait(timeout=10)
            services.task_claim(task_id=task.pk, actor=volunteer, now=at(hours=1))
            outcomes.append("won")
        except Conflict:
            outcomes.append("taken")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(v,)) for v in volunteers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["taken", "won"]
    task.refresh_from_db()
    assert task.volunteer_id in {v.user_id for v in volunteers}
    assert AuditEntry.objects.filter(action="delivery.task.claimed").count() == 1


def test_a_zone_with_its_own_cycle_gets_its_own_package_that_often(locked: list[Household]) -> None:
    from bastion.delivery.models import PackageCycle
    from bastion.supply.models import Item
    from bastion.zones.models import Zone

    zone = Zone.objects.get()
    PackageCycle.objects.create(zone=zone, item=Item.objects.get(code="rice-5kg"), every_days=2, set_at=NOW)
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    assert set(OrderLine.objects.values_list("item__code", flat=True)) == {"rice-5kg"}
    assert services.standard_orders_create(day=TODAY + timedelta(days=1), actor=SYSTEM, now=at(1)).orders == 0
    assert services.standard_orders_create(day=TODAY + timedelta(days=2), actor=SYSTEM, now=at(2)).orders == 6


def test_needs_raised_at_the_daily_inquiry_become_an_order(
    locked: list[Household], volunteers: list[Actor], city: Places, make_user: Callable[..., User]
) -> None:
    checkin, _created = services.checkin_record(
        household_id=locked[0].pk, needs="大米", lines=[("rice-5kg", 1)], actor=volunteers[0], now=NOW
    )
    order = Order.objects.get(pk=checkin.order_id)
    assert (order.kind, order.household_id, order.placed_by) == ("proxy", locked[0].pk, volunteers[0].label)
    assert [(line.item.code, line.quantity) for line in order.lines.all()] == [("rice-5kg", 1)]
    elsewhere = actor_for(make_user("volunteer", community=city["M3"]))
    with pytest.raises(NotFound):
        services.checkin_record(household_id=locked[0].pk, lines=[("rice-5kg", 1)], actor=elsewhere, now=NOW)
    with pytest.raises(NotFound):
        services.order_place(
            household_id=locked[0].pk, lines=[("rice-5kg", 1)], kind="proxy", actor=elsewhere, now=NOW
        )


@pytest.mark.postgres
def test_a_large_dispatch_refreshes_the_planners_statistics(
    locked: list[Household], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lockdown's first day writes a million orders into empty tables: the next statements must
    not be planned on "empty" statistics (here the threshold is lowered to this unit's 6)."""
    monkeypatch.setattr(delivery_sql, "ANALYZE_AFTER_ROWS", 6)
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'delivery_order'")
        (tuples,) = cursor.fetchone()
    assert tuples == 6


def test_a_zone_cycle_longer_than_the_policys_is_kept(locked: list[Household]) -> None:
    from bastion.delivery.models import PackageCycle
    from bastion.supply.models import Item
    from bastion.zones.models import Zone

    PackageCycle.objects.create(
        zone=Zone.objects.get(), item=Item.objects.get(code="vegetable-10kg"), every_days=7, set_at=NOW
    )
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    # The policy's 3 days have passed, the zone's 7 have not: nothing new.
    assert services.standard_orders_create(day=TODAY + timedelta(days=4), actor=SYSTEM, now=at(4)).orders == 0
    assert services.standard_orders_create(day=TODAY + timedelta(days=7), actor=SYSTEM, now=at(7)).orders == 6


@pytest.mark.django_db(transaction=True)
def test_two_dispatches_at_once_send_each_package_once_and_make_one_task(locked: list[Household]) -> None:
    """The worker's quarter-hourly dispatch and an officer's button at the same moment: they
    take turns, so neither fails and nothing is made twice."""
    barrier = threading.Barrier(2)
    made: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            packaged = services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
            built = services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
            made.append((packaged.orders, packaged.tasks + built.tasks))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(made) == [(0, 0), (6, 1)]
    assert Order.objects.filter(kind="standard").count() == 6
    assert OrderLine.objects.count() == 6
    assert DeliveryTask.objects.count() == 1
    assert not Order.objects.filter(task__isnull=True).exists()


def test_a_lifted_zones_own_cycle_no_longer_applies(locked: list[Household]) -> None:
    """A zone lifted with its own 7-day cycle, and the unit locked again by a new zone: the
    households are back on the policy's 3 days, not the old zone's 7."""
    from bastion.delivery.models import PackageCycle
    from bastion.supply.models import Item
    from bastion.zones.models import Zone

    old = Zone.objects.get()
    PackageCycle.objects.create(
        zone=old, item=Item.objects.get(code="vegetable-10kg"), every_days=7, set_at=NOW
    )
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    Zone.objects.filter(pk=old.pk).update(state="lifted", lifted_on=TODAY + timedelta(days=1))
    Zone.objects.create(
        **{
            f.attname: getattr(old, f.attname)
            for f in Zone._meta.concrete_fields
            if not f.primary_key and f.attname not in ("code",)
        },
        code=f"{old.code}-again",
    )
    assert services.standard_orders_create(day=TODAY + timedelta(days=3), actor=SYSTEM, now=at(3)).orders == 6


def test_a_household_is_never_left_out_when_its_buildings_task_is_no_longer_open(
    locked: list[Household], volunteers: list[Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the building's task be claimed between the tasks and the packages (here within the
    dispatch's own transaction: other claims wait for it), the packages go out open, into the
    building's next batch, none forgotten."""
    original = delivery_sql.insert_tasks

    def claimed_meanwhile(*args: object, **kwargs: object) -> int:
        made = original(*args, **kwargs)  # type: ignore[arg-type]
        for task in DeliveryTask.objects.filter(state="open"):
            services.task_claim(task_id=task.pk, actor=volunteers[0], now=NOW)
        return made

    monkeypatch.setattr(delivery_sql, "insert_tasks", claimed_meanwhile)
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    assert Order.objects.filter(kind="standard", state="open", task__isnull=True).count() == 6
    monkeypatch.setattr(delivery_sql, "insert_tasks", original)
    built = services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    assert (built.tasks, built.orders) == (1, 6)
    assert sorted(DeliveryTask.objects.values_list("batch", "state")) == [(1, "claimed"), (2, "open")]
    assert OrderLine.objects.count() == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_claim_waits_for_a_dispatch_in_progress_and_a_redispatch_does_not(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    """While a dispatch holds the day's open tasks, a volunteer's claim waits for it to commit
    (and then holds every order it put there); the re-dispatch of a failed delivery does not
    wait (the dispatch in progress takes the order)."""
    import time

    dispatch()
    task = DeliveryTask.objects.get()
    holding, started = threading.Event(), threading.Event()
    moments: dict[str, float] = {}
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            with transaction.atomic():
                dispatch_begin(day=TODAY)
                holding.set()
                started.wait(timeout=10)
                time.sleep(0.5)
                moments["committed"] = time.monotonic()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    def volunteer() -> None:
        try:
            holding.wait(timeout=10)
            started.set()
            services.task_claim(task_id=task.pk, actor=volunteers[0], now=at(hours=1))
            moments["claimed"] = time.monotonic()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher), threading.Thread(target=volunteer)]
    for thread in threads:
        thread.start()
    holding.wait(timeout=10)
    # Meanwhile the re-dispatch of one building gives up at once instead of queueing.
    skipped = services.tasks_build(day=TODAY, building_id=task.building_id, wait=False, actor=SYSTEM, now=NOW)
    assert skipped == services.Dispatched(orders=0, tasks=0, assigned=0)
    for thread in threads:
        thread.join()
    assert errors == []
    assert moments["claimed"] >= moments["committed"]
    task.refresh_from_db()
    assert task.state == "claimed" and task.volunteer_id == volunteers[0].user_id


def test_a_package_cancelled_today_is_not_sent_again_the_same_day(locked: list[Household]) -> None:
    """One standard package per household and cycle day, cancelled or not: a second run the same
    day neither sends it again nor fails the whole city's dispatch on the constraint."""
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).orders == 6
    Order.objects.filter(household=locked[0]).update(state="cancelled", task=None)
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=at(hours=1)).orders == 0
    # Its next cycle day it is due again, like everyone else.
    assert services.standard_orders_create(day=TODAY + timedelta(days=3), actor=SYSTEM, now=at(3)).orders == 6
