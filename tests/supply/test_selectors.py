"""Days of supply for the city and each district, the alerts under the thresholds, the stock of
each warehouse, prices and flags, as the command centre and district officers read them.

The city: D1 has 100 registered residents, D2 has 6."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test.utils import CaptureQueriesContext

from bastion.city.selectors import actor_for
from bastion.core.errors import Forbidden, NotFound
from bastion.core.scopes import SYSTEM, Actor
from bastion.supply import selectors, services
from bastion.supply.models import Item, Warehouse
from bastion.supply.policy import Policy
from tests.conftest import NOW
from tests.supply.conftest import Places

D = Decimal


def stock_in(warehouse: str, category: str, kg: str) -> None:
    services.stock_move(
        warehouse_code=warehouse, category=category, kg=kg, reason="入库", actor=SYSTEM, now=NOW
    )


@pytest.fixture
def stocked(warehouses: dict[str, Warehouse]) -> None:
    """Vegetables: 500 kg in W1 and 300 in S1 (D1), 100 in W2 (D2). Grain: 200 kg in W1.
    Meat: 40 kg in W1. Eggs: 1 kg in W2. Medicine: 10 kg in W1."""
    stock_in("W1", "vegetables", "500")
    stock_in("S1", "vegetables", "300")
    stock_in("W2", "vegetables", "100")
    stock_in("W1", "grain_oil", "200")
    stock_in("W1", "meat", "40")
    stock_in("W2", "eggs", "1")
    stock_in("W1", "medicine", "10")


@pytest.fixture
def centre(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("command_centre"))


def officer(city: Places, make_user: Callable[..., User], district: str) -> Actor:
    return actor_for(make_user("district_officer", district=city[district]))


def days(rows: list[selectors.Supply]) -> dict[str, Decimal | None]:
    return {row.category: row.days for row in rows}


def test_the_city_sees_days_of_supply_of_every_category_against_every_resident(
    stocked: None, centre: Actor
) -> None:
    rows = selectors.days_of_supply(actor=centre)
    assert [row.category for row in rows] == [
        "grain_oil",
        "vegetables",
        "meat",
        "eggs",
        "milk",
        "fruit",
        "infant",
        "medicine",
    ]
    assert {row.population for row in rows} == {106}
    assert {row.category: row.stock_kg for row in rows if row.stock_kg} == {
        "vegetables": D("900"),
        "grain_oil": D("200"),
        "meat": D("40"),
        "eggs": D("1"),
        "medicine": D("10"),
    }
    assert days(rows) == {
        "grain_oil": D("4.7"),  # 200 / (106 x 0.4)
        "vegetables": D("17.0"),  # 900 / (106 x 0.5) = 16.98
        "meat": D("3.8"),  # 40 / (106 x 0.1)
        "eggs": D("0.2"),  # 1 / (106 x 0.05)
        "milk": D("0.0"),
        "fruit": D("0.0"),
        "infant": D("0.0"),
        "medicine": None,  # counted by requests: no consumption per person
    }
    assert [row.category for row in rows if row.alert] == ["grain_oil", "eggs"]


def test_a_district_counts_its_own_warehouses_against_its_own_residents(stocked: None, centre: Actor) -> None:
    district = Warehouse.objects.get(code="W2").district_id
    rows = selectors.days_of_supply(actor=centre, district_id=district)
    assert {row.population for row in rows} == {6}
    assert days(rows)["vegetables"] == D("33.3")  # 100 / (6 x 0.5)
    assert days(rows)["eggs"] == D("3.3")  # 1 / (6 x 0.05)
    assert days(rows)["grain_oil"] == D("0.0")
    assert [row.category for row in rows if row.alert] == ["grain_oil", "meat"]


def test_days_of_supply_at_the_threshold_raise_no_alert(
    warehouses: dict[str, Warehouse], centre: Actor, city: Places
) -> None:
    stock_in("W1", "vegetables", "150")  # D1: 150 / (100 x 0.5) = 3 days, the threshold
    d1 = {row.category: row for row in selectors.days_of_supply(actor=centre, district_id=city["D1"].pk)}
    assert d1["vegetables"].days == D("3.0") and not d1["vegetables"].alert
    services.stock_move(
        warehouse_code="W1", category="vegetables", kg="-10", reason="出库", actor=SYSTEM, now=NOW
    )
    d1 = {row.category: row for row in selectors.days_of_supply(actor=centre, district_id=city["D1"].pk)}
    assert d1["vegetables"].days == D("2.8") and d1["vegetables"].alert


def test_a_category_without_a_threshold_never_alerts(
    warehouses: dict[str, Warehouse], centre: Actor, local_policy: Callable[..., Policy]
) -> None:
    rows = {row.category: row for row in selectors.days_of_supply(actor=centre)}
    assert rows["milk"].days == D("0.0") and rows["milk"].alert_below is None and not rows["milk"].alert
    assert rows["grain_oil"].alert
    # An operator who sets no grain threshold hears nothing about grain.
    local_policy(("grain_oil = 7\n", ""))
    rows = {row.category: row for row in selectors.days_of_supply(actor=centre)}
    assert rows["grain_oil"].alert_below is None and not rows["grain_oil"].alert


def test_the_city_hears_of_every_shortage_in_the_city_and_in_each_district(
    stocked: None, centre: Actor
) -> None:
    found = selectors.alerts(actor=centre)
    assert [(district.code if district else None, row.category, row.days) for district, row in found] == [
        (None, "grain_oil", D("4.7")),
        (None, "eggs", D("0.2")),
        ("D1", "grain_oil", D("5.0")),
        ("D1", "eggs", D("0.0")),
        ("D2", "grain_oil", D("0.0")),
        ("D2", "meat", D("0.0")),
    ]


def test_a_district_officer_sees_only_their_district(
    stocked: None, city: Places, make_user: Callable[..., User]
) -> None:
    d2 = officer(city, make_user, "D2")
    own = selectors.days_of_supply(actor=d2)
    assert {row.population for row in own} == {6}
    assert days(own)["vegetables"] == D("33.3")
    assert selectors.days_of_supply(actor=d2, district_id=city["D2"].pk) == own
    with pytest.raises(NotFound):
        selectors.days_of_supply(actor=d2, district_id=city["D1"].pk)
    assert [
        (district.code if district else None, row.category) for district, row in selectors.alerts(actor=d2)
    ] == [
        ("D2", "grain_oil"),
        ("D2", "meat"),
    ]
    assert [(s.warehouse.code, s.category) for s in selectors.stock_list(actor=d2)] == [
        ("W2", "eggs"),
        ("W2", "vegetables"),
    ]


def test_a_community_worker_reads_the_supply_of_their_own_district(
    stocked: None, city: Places, make_user: Callable[..., User]
) -> None:
    worker = actor_for(make_user("community_worker", community=city["M3"]))
    assert {row.population for row in selectors.days_of_supply(actor=worker)} == {6}
    with pytest.raises(NotFound):
        selectors.days_of_supply(actor=worker, district_id=city["D1"].pk)
    assert {s.warehouse.code for s in selectors.stock_list(actor=worker)} == {"W2"}


def test_a_district_that_does_not_exist_is_not_found(stocked: None, centre: Actor) -> None:
    with pytest.raises(NotFound):
        selectors.days_of_supply(actor=centre, district_id=987654)


@pytest.mark.parametrize("role", ["volunteer", "resident"])
def test_people_without_supply_duties_do_not_read_stock(
    stocked: None, city: Places, make_user: Callable[..., User], household: object, role: str
) -> None:
    actor = actor_for(make_user(role, community=city["M1"], household=household))
    with pytest.raises(Forbidden):
        selectors.days_of_supply(actor=actor)
    with pytest.raises(Forbidden):
        selectors.stock_list(actor=actor)
    with pytest.raises(Forbidden):
        selectors.flags(actor=actor)
    with pytest.raises(Forbidden):
        selectors.prices(actor=actor)


def test_the_city_lists_every_warehouses_stock_by_warehouse_and_category(
    stocked: None, centre: Actor, django_assert_num_queries: Callable[..., CaptureQueriesContext]
) -> None:
    with django_assert_num_queries(1):
        rows = [
            (s.warehouse.code, s.warehouse.district.code, s.category, s.kg)
            for s in selectors.stock_list(actor=centre)
        ]
    assert rows == [
        ("S1", "D1", "vegetables", D("300")),
        ("W1", "D1", "grain_oil", D("200")),
        ("W1", "D1", "meat", D("40")),
        ("W1", "D1", "medicine", D("10")),
        ("W1", "D1", "vegetables", D("500")),
        ("W2", "D2", "eggs", D("1")),
        ("W2", "D2", "vegetables", D("100")),
    ]


def test_days_of_supply_take_a_fixed_number_of_queries(
    stocked: None,
    centre: Actor,
    city: Places,
    django_assert_num_queries: Callable[..., CaptureQueriesContext],
) -> None:
    with django_assert_num_queries(2):
        selectors.days_of_supply(actor=centre)
    with django_assert_num_queries(3):
        selectors.days_of_supply(actor=centre, district_id=city["D1"].pk)


def test_flags_and_prices_read_newest_first_and_by_supplier_or_item(
    catalogue: None, regulator: Actor
) -> None:
    services.price_report(
        item_code="rice-5kg", outlet="甲", sale_price="50", purchase_price="30", actor=regulator, now=NOW
    )
    later = NOW.replace(hour=3)
    services.price_report(
        item_code="vegetable-10kg",
        outlet="乙",
        sale_price="80",
        purchase_price="50",
        actor=regulator,
        now=later,
    )
    assert [(f.item.code, f.kind) for f in selectors.flags(actor=regulator)] == [
        ("vegetable-10kg", "price_cap"),
        ("rice-5kg", "price_cap"),
    ]
    assert selectors.flags(actor=regulator, supplier_code="SUP9").count() == 0
    assert selectors.flags(actor=regulator, supplier_code="SUP1").count() == 2
    assert [p.outlet for p in selectors.prices(actor=regulator)] == ["乙", "甲"]
    assert [p.outlet for p in selectors.prices(actor=regulator, item_code="rice-5kg")] == ["甲"]


def test_the_catalogue_offers_active_items_only(catalogue: None) -> None:
    assert [item.code for item in selectors.catalogue()] == ["rice-5kg", "vegetable-10kg"]
    Item.objects.filter(code="rice-5kg").update(active=False)
    assert [item.code for item in selectors.catalogue()] == ["vegetable-10kg"]
    assert selectors.item_by_code("vegetable-10kg").supplier.code == "SUP1"
    with pytest.raises(NotFound):
        selectors.item_by_code("rice-5kg")
