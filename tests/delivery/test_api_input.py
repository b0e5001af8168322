"""What the delivery API refuses at the edge: a dispatch day far from today (9999-12-31 made
the day's standard packages, 200 orders in the probe), and control characters in an order's
note or a check-in's needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from bastion.delivery.models import CheckIn, Order
from tests.delivery.conftest import Places


def _client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(user)
    return client


def _refused(response: Any, field: str) -> str:
    assert response.status_code == 422, response.content[:300]
    body = response.json()
    assert body["code"] == "invalid_input" and body["message"] == "输入的内容无效。"
    [detail] = [d for d in body["details"] if d["loc"][-1] == field]
    return str(detail["msg"])


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2030-09-01"])
def test_a_dispatch_day_far_from_today_makes_no_orders(
    locked: list[Household], make_user: Callable[..., User], day: str
) -> None:
    client = _client(make_user("command_centre"))
    response = client.post("/api/v1/delivery/dispatch", {"day": day}, content_type="application/json")
    assert _refused(response, "day") == "日期须在 2017-09-01 与 2023-09-01 之间。"
    assert not Order.objects.exists()
    # Today's dispatch still makes them.
    assert client.post("/api/v1/delivery/dispatch", {}, content_type="application/json").status_code == 200
    assert Order.objects.count() == 6


def test_a_dispatch_a_week_ahead_is_refused_in_the_users_language(
    locked: list[Household], make_user: Callable[..., User]
) -> None:
    client = _client(make_user("command_centre"))
    response = client.post(
        "/api/v1/delivery/dispatch", {"day": "2022-09-08"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json() == {
        "code": "dispatch_day",
        "message": "配送只能安排今天或明天（2022-09-01 或 2022-09-02）。",
    }
    assert not Order.objects.exists()


@pytest.mark.parametrize("note", ["门口\x00放下", "请\x1b[31m放门口", "\u202etxt.exe"])
def test_an_order_note_with_control_characters_is_refused(
    locked: list[Household], make_user: Callable[..., User], note: str
) -> None:
    home = Household.objects.get(address="C1/1/1/101")
    client = _client(make_user("resident", household=home))
    body = {"household_id": home.pk, "lines": [{"item": "rice-5kg", "quantity": 1}], "note": note}
    response = client.post("/api/v1/delivery/orders", body, content_type="application/json")
    assert _refused(response, "note") == "文本含有控制字符。"
    assert not Order.objects.exists()


def test_check_in_needs_with_control_characters_are_refused_but_lines_are_kept(
    locked: list[Household], city: Places, make_user: Callable[..., User]
) -> None:
    home = Household.objects.get(address="C1/1/1/101")
    client = _client(make_user("volunteer", community=city["M1"]))
    url = "/api/v1/delivery/checkins"
    bad = client.post(url, {"household_id": home.pk, "needs": "降压药\x00"}, content_type="application/json")
    assert _refused(bad, "needs") == "文本含有控制字符。"
    assert not CheckIn.objects.exists()
    lines = "降压药\n\t两盒"  # a need of several lines keeps its breaks and tabs
    good = client.post(url, {"household_id": home.pk, "needs": lines}, content_type="application/json")
    assert good.status_code == 200, good.content[:300]
    assert CheckIn.objects.get().needs == lines
