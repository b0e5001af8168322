"""The day's load plan: every compound's goods on a vehicle trip, heaviest first, nothing left
behind, with what a route optimiser needs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.city.models import Household
from bastion.core.errors import Conflict, Forbidden
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import rules, services
from bastion.delivery.models import LoadStop, Vehicle
from bastion.supply.models import Warehouse
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import Places, at


def test_trips_take_the_heaviest_first_and_split_only_what_no_vehicle_holds() -> None:
    trips = rules.load_plan(
        [rules.Demand(1, Decimal(30)), rules.Demand(2, Decimal(80)), rules.Demand(3, Decimal(250))],
        [Decimal(100), Decimal(60)],
    )
    placed = [(t.vehicle, t.number, t.loads) for t in trips]
    assert placed == [
        (0, 1, [(3, Decimal(100))]),
        (1, 1, [(3, Decimal(60))]),
        (0, 2, [(3, Decimal(90))]),
        (1, 2, [(1, Decimal(30))]),
        (0, 3, [(2, Decimal(80))]),
    ]
    assert all(t.used <= t.capacity for t in trips)
    by_compound: dict[int, Decimal] = {}
    for trip in trips:
        for compound, kg in trip.loads:
            by_compound[compound] = by_compound.get(compound, Decimal(0)) + kg
    assert by_compound == {1: Decimal(30), 2: Decimal(80), 3: Decimal(250)}


@settings(deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=500), max_size=30),
    st.lists(st.integers(min_value=20, max_value=200), min_size=1, max_size=5),
)
def test_every_kilogram_is_loaded_once_and_no_trip_is_overloaded(
    demands: list[int], capacities: list[int]
) -> None:
    trips = rules.load_plan(
        [rules.Demand(i, Decimal(kg)) for i, kg in enumerate(demands)], [Decimal(c) for c in capacities]
    )
    assert all(t.used <= t.capacity for t in trips)
    loaded: dict[int, Decimal] = {}
    for trip in trips:
        for compound, kg in trip.loads:
            loaded[compound] = loaded.get(compound, Decimal(0)) + kg
    assert loaded == {i: Decimal(kg) for i, kg in enumerate(demands)}
    # A demand a vehicle can carry is never split.
    for i, kg in enumerate(demands):
        if kg <= max(capacities):
            assert sum(1 for t in trips for c, _kg in t.loads if c == i) == 1


def test_the_day_plan_carries_the_locked_units_packages(
    locked: list[Household], city: Places, commerce: Actor, worker: Actor
) -> None:
    base = Warehouse.objects.create(code="S1", name="城东分拣中心", kind="sorting", district=city["D1"])
    assert (
        services.load_plan_make(day=TODAY, base_code="S1", actor=commerce, now=NOW) == []
    )  # nothing to carry
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    with pytest.raises(Conflict) as idle:
        services.load_plan_make(day=TODAY, base_code="S1", actor=commerce, now=NOW)  # goods, no vehicle
    assert idle.value.code == "no_vehicle"
    Vehicle.objects.create(plate="川A12345", base=base, capacity_kg=Decimal("40"))
    services.order_place(
        household_id=Household.objects.get(address="C1/1/1/101").pk,
        lines=[("vegetable-10kg", 1)],
        kind="proxy",
        actor=worker,
        now=NOW,
    )
    stops = services.load_plan_make(day=TODAY, base_code="S1", actor=commerce, now=at(hours=1))
    # 60 kg for the 6 locked households of C1 and 10 kg more: 70 kg, two trips of the 40 kg van.
    assert sum(s.demand_kg for s in stops) == Decimal("70")
    assert sorted((s.trip, s.demand_kg) for s in stops) == [(1, Decimal("40")), (2, Decimal("30"))]
    assert all(s.window_until == NOW + timedelta(hours=12) for s in stops)  # a vulnerable household
    # Made again: the plan is replaced, not doubled.
    services.load_plan_make(day=TODAY, base_code="S1", actor=commerce, now=at(hours=2))
    assert LoadStop.objects.count() == len(stops)
    with pytest.raises(Forbidden):
        services.load_plan_make(day=TODAY, base_code="S1", actor=worker, now=NOW)
