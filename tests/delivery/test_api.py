"""/api/v1/delivery/ as the phones and the community's screens use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from bastion.supply.models import Flag
from tests.delivery.conftest import Places


def call(
    client: Client, user: User, method: str, url: str, body: Any = None, status: int = 200, lang: str = "en"
) -> Any:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = lang
    if method == "get":
        response = client.get(f"/api/v1/delivery{url}", body or {})
    else:
        response = client.post(f"/api/v1/delivery{url}", body or {}, content_type="application/json")
    assert response.status_code == status, (url, response.status_code, response.content[:400])
    return response.json()


def test_the_volunteer_flow_through_the_api(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    command = make_user("command_centre")
    first = make_user("volunteer", community=city["M1"])
    second = make_user("volunteer", community=city["M1"])
    worker = make_user("community_worker", community=city["M1"])
    assert call(client, command, "post", "/dispatch", {}) == {
        "standard_orders": 6,
        "tasks": 1,
        "orders_assigned": 6,
    }
    [task] = call(client, first, "get", "/tasks/open")
    assert task["vulnerable"] and task["state"] == "open"
    assert call(client, first, "post", f"/tasks/{task['id']}/claim")["state"] == "claimed"
    taken = call(client, second, "post", f"/tasks/{task['id']}/claim", status=409, lang="zh-hans")
    assert (taken["code"], taken["message"]) == ("task_taken", "另一位志愿者已领取此任务。")
    assert call(client, second, "get", "/tasks/open") == []
    [mine] = call(client, first, "get", "/tasks/mine")
    stops = mine["stops"]
    assert len(stops) == 6 and stops[0]["vulnerable"] and stops[0]["address"] == "C1/2/1/202"
    assert stops[0]["weigh"] and stops[0]["items"] == ["1 × 蔬菜包 10 kg"]
    assert "recipient_code" not in stops[0]  # the household shows it; the volunteer types it
    order_id = stops[0]["order_id"]
    wrong = call(client, first, "post", f"/orders/{order_id}/deliver", {"recipient_code": "x"}, status=422)
    assert wrong["code"] == "wrong_code"
    from bastion.delivery.models import Order

    code = Order.objects.get(pk=order_id).recipient_code
    done = call(
        client, first, "post", f"/orders/{order_id}/deliver", {"recipient_code": code, "weight_kg": 6.5}
    )
    assert done == {
        "order_id": order_id,
        "state": "delivered",
        "repeated": False,
        "short_weight_flagged": True,
    }
    assert Flag.objects.get().supplier.code == "SUP1"
    failed = call(client, first, "post", f"/orders/{stops[1]['order_id']}/fail", {"reason": "无人应答"})
    assert failed["state"] == "assigned" and failed["attempts"] == 1 and failed["task_id"] != task["id"]
    [community] = call(client, worker, "get", "/coverage")
    assert (community["locked"], community["reached_today"], community["not_reached"]) == (6, 1, 5)
    left = call(client, worker, "get", f"/coverage/{city['M1'].pk}/not-reached")
    assert len(left) == 5 and all(not u["vulnerable"] for u in left)
    assert call(client, first, "get", "/coverage", status=403)["code"] == "forbidden"


def test_orders_through_the_api_repeat_and_refuse_bad_input(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    home = Household.objects.get(address="C1/1/1/101")
    me = make_user("resident", household=home)
    body = {"household_id": home.pk, "lines": [{"item": "rice-5kg", "quantity": 1}], "client_key": "app:1"}
    placed = call(client, me, "post", "/orders", body, status=201)
    assert placed["kind"] == "resident" and len(placed["recipient_code"]) == 6 and not placed["repeated"]
    again = call(client, me, "post", "/orders", body, status=200)
    assert again["repeated"] and again["id"] == placed["id"]
    bad = call(
        client, me, "post", "/orders", {**body, "lines": [{"item": "rice-5kg", "quantity": 0}]}, status=422
    )
    assert bad["code"] == "invalid_input"
    over = call(
        client,
        me,
        "post",
        "/orders",
        {**body, "client_key": None, "lines": [{"item": "rice-5kg", "quantity": 2}]},
        status=409,
    )
    assert over["code"] == "over_limit"
    other = Household.objects.get(address="C4/1/1/101")
    assert call(
        client, me, "post", "/orders", {**body, "household_id": other.pk, "client_key": None}, status=404
    )


def test_open_tasks_come_most_urgent_first_a_page_at_a_time(
    city: Places, make_user: Callable[..., User], client: Client
) -> None:
    """Three buildings' tasks: the vulnerable one first, then by deadline; `limit` pages them."""
    from datetime import timedelta

    from bastion.city.models import Building
    from bastion.delivery.models import DeliveryTask
    from tests.conftest import NOW, TODAY

    buildings = list(Building.objects.filter(compound__community=city["M1"]).order_by("pk")[:3])
    for building, (hours, vulnerable) in zip(buildings, [(20, False), (24, True), (10, False)], strict=True):
        DeliveryTask.objects.create(
            building=building,
            community=city["M1"],
            district=city["D1"],
            day=TODAY,
            due_at=NOW + timedelta(hours=hours),
            vulnerable=vulnerable,
        )
    volunteer = make_user("volunteer", community=city["M1"])
    listed = call(client, volunteer, "get", "/tasks/open", {"day": TODAY.isoformat()})
    assert [t["building_id"] for t in listed] == [buildings[1].pk, buildings[2].pk, buildings[0].pk]
    first = call(client, volunteer, "get", "/tasks/open", {"day": TODAY.isoformat(), "limit": 1})
    assert [t["building_id"] for t in first] == [buildings[1].pk]
    call(client, volunteer, "get", "/tasks/open", {"limit": 0}, status=422)
    call(client, volunteer, "get", "/tasks/open", {"limit": 501}, status=422)


def test_the_command_centre_sets_a_zones_own_package_and_cycle(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    """Set through the API, audited, applied by the next dispatch; refused clearly when wrong;
    out of scope for a district elsewhere, and not a community worker's to set."""
    from bastion.core.models import AuditEntry
    from bastion.delivery.models import Order, OrderLine
    from bastion.zones.models import Zone

    zone = Zone.objects.get()
    command = make_user("command_centre")

    def put(user: User, body: dict[str, Any], status: int = 200) -> Any:
        client.force_login(user)
        response = client.put(
            f"/api/v1/delivery/zones/{zone.pk}/cycle",
            body,
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        assert response.status_code == status, response.content[:300]
        return response.json()

    set_ = put(command, {"item": "vegetable-10kg", "every_days": 2})
    assert (set_["zone"], set_["item"], set_["every_days"]) == (zone.code, "vegetable-10kg", 2)
    entry = AuditEntry.objects.get(action="delivery.cycle.set")
    assert entry.before is None and entry.after["every_days"] == 2
    assert put(command, {"item": "rice-5kg", "every_days": 2}, status=422)["code"] == "unknown_item"
    assert put(command, {"item": "vegetable-10kg", "every_days": 0}, status=422)["code"] == "bad_cycle"
    assert put(command, {"item": "vegetable-10kg", "every_days": 31}, status=422)["code"] == "bad_cycle"
    elsewhere = make_user("district_officer", district=city["D2"])
    assert put(elsewhere, {"item": "vegetable-10kg", "every_days": 5}, status=404)["code"] == "unknown_zone"
    put(make_user("community_worker", community=city["M1"]), {"item": "vegetable-10kg", "every_days": 5}, 403)
    # The next dispatches follow it: packages every 2 days for the zone's 6 households (the
    # policy's cycle is 3 days).
    from datetime import timedelta

    from bastion.core.scopes import SYSTEM
    from bastion.delivery import services
    from tests.conftest import NOW, TODAY

    call(client, command, "post", "/dispatch", {})
    assert Order.objects.filter(kind="standard").count() == 6
    two_days = timedelta(days=2)
    later = services.standard_orders_create(day=TODAY + two_days, actor=SYSTEM, now=NOW + two_days)
    assert later.orders == 6 and OrderLine.objects.filter(item__code="vegetable-10kg").count() == 12
    client.force_login(command)
    assert client.delete(f"/api/v1/delivery/zones/{zone.pk}/cycle").status_code == 204
    assert client.delete(f"/api/v1/delivery/zones/{zone.pk}/cycle").status_code == 404
    assert AuditEntry.objects.filter(action="delivery.cycle.cleared").count() == 1
