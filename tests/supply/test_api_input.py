"""Control characters in a price report's outlet or a stock movement's reason are refused at the
edge (they were stored, NUL and all, and shown in the regulators' lists)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.supply.models import PriceReport, StockMovement, Warehouse
from tests.supply.conftest import Places


def _client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(user)
    return client


def _control_refused(response: object, field: str) -> None:
    assert response.status_code == 422, response.content[:300]  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["code"] == "invalid_input" and body["message"] == "输入的内容无效。"
    assert [d["msg"] for d in body["details"] if d["loc"][-1] == field] == ["文本含有控制字符。"]


@pytest.mark.parametrize("outlet", ["城东\x00菜场", "城东\x07菜场", "城东\u2028菜场"])
def test_an_outlet_with_control_characters_is_refused(
    catalogue: None, make_user: Callable[..., User], outlet: str
) -> None:
    client = _client(make_user("market_regulator"))
    body = {"item": "rice-5kg", "outlet": outlet, "sale_price": 45, "purchase_price": 30}
    _control_refused(client.post("/api/v1/supply/prices", body, content_type="application/json"), "outlet")
    assert not PriceReport.objects.exists()


def test_a_stock_reason_with_control_characters_is_refused(
    catalogue: None, city: Places, make_user: Callable[..., User]
) -> None:
    Warehouse.objects.create(code="W9", name="城北仓库", kind="warehouse", district=city["D1"])
    client = _client(make_user("commerce_supply"))
    body = {"warehouse": "W9", "category": "vegetables", "kg": 530, "reason": "到货\x00"}
    _control_refused(client.post("/api/v1/supply/stock", body, content_type="application/json"), "reason")
    assert not StockMovement.objects.exists()
