"""The supply and delivery pages as their users see them: the community's dispatch board and
its printable list, the commerce bureau's supply page, and who may not see them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM
from bastion.delivery import services
from bastion.delivery.models import DeliveryTask, Order
from bastion.supply.models import Flag, Warehouse
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import Places


def as_user(client: Client, user: User) -> Client:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def test_the_community_builds_its_tasks_and_prints_who_was_not_reached(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    # The standard packages go straight into the building's task; a proxy order waits for one.
    assert services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW).tasks == 1
    worker = make_user("community_worker", community=city["M1"])
    services.order_place(
        household_id=locked[0].pk, lines=[("rice-5kg", 1)], kind="proxy", actor=actor_for(worker), now=NOW
    )
    as_user(client, worker)
    page = client.get("/deliveries/").content.decode()
    assert 'data-figure="locked">6<' in page and 'data-figure="not_reached">6<' in page
    assert "1 order waits for a task." in page
    # The vulnerable household comes first.
    assert page.index('data-household="C1/2/1/202"') < page.index('data-household="C1/2/1/101"')
    response = client.post("/deliveries/", {"community": city["M1"].pk}, follow=True)
    assert "1 orders in 0 new tasks." in response.content.decode()
    assert DeliveryTask.objects.count() == 1
    assert not Order.objects.filter(task__isnull=True).exists()
    printed = client.get("/deliveries/print/").content.decode()
    assert printed.count("<section") == 1 and printed.count("data-household=") == 6
    # Another community's board is not theirs.
    assert (
        client.get(f"/deliveries/?community={city['M3'].pk}").status_code == 200
    )  # their own, whatever asked
    officer = make_user("district_officer", district=city["D2"])
    as_user(client, officer)
    assert client.get(f"/deliveries/?community={city['M1'].pk}").status_code == 404
    overview = client.get("/deliveries/").content.decode()
    assert f'data-community="{city["M1"].pk}"' not in overview


def test_the_commerce_bureau_reports_a_price_and_sees_the_supplier_flagged(
    catalogue: None, city: Places, make_user: Callable[..., User], client: Client
) -> None:
    Warehouse.objects.create(code="W1", name="城东仓库", kind="warehouse", district=city["D1"])
    as_user(client, make_user("market_regulator"))
    page = client.get("/supply/").content.decode()
    assert 'data-category="vegetables"' in page and 'data-testid="price-form"' in page
    bad = client.post("/supply/", {"item": "rice-5kg", "outlet": "城东菜场", "sale_price": "abc"})
    assert bad.status_code == 422 and "Sale price is not a number." in bad.content.decode()
    response = client.post(
        "/supply/",
        {"item": "rice-5kg", "outlet": "城东菜场", "sale_price": "45", "purchase_price": "30"},
        follow=True,
    )
    html = response.content.decode()
    assert "The price breaks the rule: the supplier is flagged." in html
    assert 'data-flag="price_cap" data-supplier="SUP1"' in html and "markup 0.500 over 0.350" in html
    assert Flag.objects.get().kind == "price_cap"


def test_pages_refuse_the_wrong_roles(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    as_user(client, make_user("volunteer", community=city["M1"]))
    assert client.get("/supply/").status_code == 403
    assert client.get("/deliveries/").status_code == 403
    assert client.get("/tasks/").status_code == 200
    as_user(client, make_user("community_worker", community=city["M1"]))
    assert client.get("/tasks/").status_code == 403
    assert client.get("/supply/").status_code == 403
    resident = Household.objects.get(address="C1/2/1/101")
    as_user(client, make_user("resident", household=resident))
    assert client.get("/deliveries/").status_code == 403


def test_a_volunteer_claims_and_fails_a_delivery_from_the_phone_page(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client, volunteers: Any
) -> None:
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    task = DeliveryTask.objects.get()
    as_user(client, make_user("volunteer", community=city["M1"]))
    page = client.post(f"/tasks/{task.pk}/claim/", follow=True).content.decode()
    assert "The task is yours." in page and page.count('data-testid="deliver"') == 6
    order = task.orders.order_by("pk").first()
    assert order is not None
    page = client.post(f"/orders/{order.pk}/fail/", {"reason": ""}, follow=True).content.decode()
    assert "Say why the order could not be delivered." in page
    page = client.post(f"/orders/{order.pk}/fail/", {"reason": "无人应答"}, follow=True).content.decode()
    assert "Recorded: the order goes out again in a new task." in page
    assert DeliveryTask.objects.filter(state="open").count() == 1
    order.refresh_from_db()
    flows_done = client.post(
        f"/orders/{order.pk}/deliver/", {"recipient_code": order.recipient_code}, follow=True
    )
    # not in the volunteer's claimed task any more: a message, not a 500, and nothing delivered
    assert "There is no such order in your tasks." in flows_done.content.decode()
    order.refresh_from_db()
    assert order.state == "assigned"  # to its new task, still to be delivered


def test_a_community_worker_orders_for_a_household_and_exports_who_was_not_reached(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    as_user(client, make_user("community_worker", community=city["M1"]))
    page = client.post(
        "/deliveries/orders/",
        {"household": "C1/1/1/101", "item": "rice-5kg", "quantity": "2", "kind": "proxy"},
        follow=True,
    ).content.decode()
    assert "Order placed for C1/1/1/101: recipient code" in page
    assert "1 order waits for a task." in page
    refused = client.post(
        "/deliveries/orders/", {"household": "C4/1/1/101", "item": "rice-5kg", "quantity": "1"}, follow=True
    ).content.decode()
    assert "There is no household C4/1/1/101 in this community." in refused
    over = client.post(
        "/deliveries/orders/", {"household": "C1/1/1/101", "item": "rice-5kg", "quantity": "1"}, follow=True
    ).content.decode()
    assert "at most 2 a household a day" in over
    exported = client.get("/deliveries/export.csv")
    assert exported["Content-Type"].startswith("text/csv")
    lines = exported.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "household,building,vulnerable,last_delivered_at,last_delivery"
    assert lines[1].startswith("C1/2/1/202,C1/2,yes,")  # the vulnerable household first
    assert len(lines) == 1 + 6


def test_a_resident_orders_for_the_household_and_sees_its_orders_and_code(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    home = locked[0]
    resident = make_user("resident", household=home)
    as_user(client, resident)
    page = client.get("/my-orders/").content.decode()
    assert 'href="/my-orders/"' in page  # in the resident's navigation
    assert 'data-item="rice-5kg"' in page and 'data-item="vegetable-10kg"' in page
    key = page.split('name="form_key" value="', 1)[1].split('"', 1)[0]
    form = {"form_key": key, "qty-rice-5kg": "2", "qty-vegetable-10kg": "", "note": "请放门口"}
    placed = client.post("/my-orders/", form, follow=True).content.decode()
    order = Order.objects.get(kind="resident")
    assert (order.household_id, order.note, order.placed_by) == (home.pk, "请放门口", resident.username)
    assert [(line.item.code, line.quantity) for line in order.lines.all()] == [("rice-5kg", 2)]
    assert f"show the recipient code {order.recipient_code} at the door" in placed
    assert f'data-order="{order.pk}" data-state="open"' in placed and order.recipient_code in placed
    # The button pressed twice: nothing more.
    again = client.post("/my-orders/", form, follow=True).content.decode()
    assert "This order was already placed." in again
    assert Order.objects.filter(kind="resident").count() == 1
    # Over the day's limit (2 bags of rice), or nothing at all: told why, nothing placed.
    over = client.post("/my-orders/", {"form_key": "k2", "qty-rice-5kg": "1"}, follow=True).content.decode()
    assert "at most 2 a household a day; 2 already ordered today" in over
    empty = client.post("/my-orders/", {"form_key": "k3"}, follow=True).content.decode()
    assert "An order needs at least one item." in empty
    bad = client.post("/my-orders/", {"form_key": "k4", "qty-rice-5kg": "x"}, follow=True).content.decode()
    assert "A quantity is a whole number from 1 to 99." in bad
    assert Order.objects.filter(kind="resident").count() == 1
    # In Chinese, as most residents read it.
    chinese = client.get("/my-orders/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "为本户下单" in chinese and "本周订单" in chinese
    # Another household sees its own orders only; staff have no such page.
    as_user(client, make_user("resident", household=locked[1]))
    assert f'data-order="{order.pk}"' not in client.get("/my-orders/").content.decode()
    as_user(client, make_user("volunteer", community=city["M1"]))
    assert client.get("/my-orders/").status_code == 404


def test_the_command_centre_sets_a_zones_package_on_the_zone_page(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    from bastion.delivery.models import PackageCycle
    from bastion.zones.models import Zone

    zone = Zone.objects.get()
    as_user(client, make_user("command_centre"))
    page = client.get(f"/zones/{zone.pk}/").content.decode()
    assert "The policy's: 蔬菜包 10 kg every 3 days." in page
    done = client.post(
        f"/zones/{zone.pk}/cycle/", {"item": "vegetable-10kg", "every_days": "2"}, follow=True
    ).content.decode()
    assert "蔬菜包 10 kg every 2 days, from the next dispatch." in done
    assert "This zone's own: 蔬菜包 10 kg every 2 days." in done
    bad = client.post(f"/zones/{zone.pk}/cycle/", {"item": "vegetable-10kg", "every_days": "x"}, follow=True)
    assert "A cycle is a whole number of days from 1 to 30." in bad.content.decode()
    assert PackageCycle.objects.get().every_days == 2
    back = client.post(f"/zones/{zone.pk}/cycle/", {"clear": "1"}, follow=True).content.decode()
    assert "back on the policy" in back and not PackageCycle.objects.exists()
    # A community worker sees no such form, and cannot post one.
    as_user(client, make_user("community_worker", community=city["M1"]))
    assert 'data-testid="zone-cycle"' not in client.get(f"/zones/{zone.pk}/").content.decode()
    refused = client.post(f"/zones/{zone.pk}/cycle/", {"item": "vegetable-10kg", "every_days": "2"})
    assert refused.status_code == 403 and not PackageCycle.objects.exists()
