"""/api/v1/supply/ as the commerce bureau and the market regulators use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.supply.models import Warehouse
from tests.supply.conftest import Places


def call(client: Client, user: User, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    if method == "get":
        response = client.get(f"/api/v1/supply{url}", body or {})
    else:
        response = client.post(f"/api/v1/supply{url}", body or {}, content_type="application/json")
    assert response.status_code == status, (url, response.status_code, response.content[:400])
    return response.json()


def test_stock_days_prices_and_flags_through_the_api(
    catalogue: None, city: Places, make_user: Callable[..., User], client: Client
) -> None:
    Warehouse.objects.create(code="W9", name="城北仓库", kind="warehouse", district=city["D1"])
    commerce = make_user("commerce_supply")
    regulator = make_user("market_regulator")
    officer = make_user("district_officer", district=city["D2"])
    moved = call(
        client,
        commerce,
        "post",
        "/stock",
        {"warehouse": "W9", "category": "vegetables", "kg": 530, "reason": "到货"},
    )
    assert moved == {"warehouse": "W9", "category": "vegetables", "kg": "530.00"}
    short = call(
        client,
        commerce,
        "post",
        "/stock",
        {"warehouse": "W9", "category": "vegetables", "kg": -600, "reason": "出库"},
        status=409,
    )
    assert short["code"] == "not_enough_stock"
    assert call(
        client,
        regulator,
        "post",
        "/stock",
        {"warehouse": "W9", "category": "eggs", "kg": 5, "reason": "x"},
        status=403,
    )
    [vegetables] = [d for d in call(client, commerce, "get", "/days") if d["category"] == "vegetables"]
    assert vegetables["stock_kg"] == "530.00" and vegetables["days"] == "10.0"  # 106 residents x 0.5 kg
    assert not vegetables["alert"]
    d2 = call(client, officer, "get", "/days")
    assert {d["category"]: d["stock_kg"] for d in d2}["vegetables"] == "0.00"
    assert call(client, officer, "get", "/days", {"district_id": city["D1"].pk}, status=404)
    priced = call(
        client,
        regulator,
        "post",
        "/prices",
        {"item": "rice-5kg", "outlet": "城东菜场", "sale_price": 45, "purchase_price": 30},
        status=201,
    )
    assert priced["flag"]["kind"] == "price_cap" and priced["flag"]["supplier"] == "SUP1"
    [flag] = call(client, commerce, "get", "/flags")
    assert flag["id"] == priced["flag"]["id"] and flag["detail"]["markup"] == "0.500"
    bad = call(
        client,
        regulator,
        "post",
        "/prices",
        {"item": "rice-5kg", "outlet": "x", "sale_price": "abc"},
        status=422,
    )
    assert bad["code"] == "invalid_input"
