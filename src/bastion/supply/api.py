"""/api/v1/supply/: days of supply, stock movements, price reports and flags on suppliers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.inputs import Id, Line
from bastion.core.scopes import Actor
from bastion.supply import selectors, services

router = Router(tags=["supply"])


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class SupplyOut(Schema):
    category: str
    label: str
    stock_kg: Decimal
    population: int
    per_person_kg: Decimal | None
    days: Decimal | None
    alert_below: Decimal | None
    alert: bool


class StockIn(Schema):
    warehouse: Line = Field(max_length=40)
    category: Line = Field(max_length=20)
    kg: Decimal = Field(description="positive: goods in; negative: goods out")
    reason: Line = Field(max_length=200)
    client_key: Line | None = Field(None, max_length=64)


class StockOut(Schema):
    warehouse: str
    category: str
    kg: Decimal


class PriceIn(Schema):
    item: Line = Field(max_length=40)
    outlet: Line = Field(max_length=100)
    sale_price: Decimal
    purchase_price: Decimal | None = None


class FlagOut(Schema):
    id: int
    kind: str
    supplier: str
    supplier_contact: str
    item: str
    household_id: int | None
    detail: dict[str, Any]
    raised_at: datetime


class PriceOut(Schema):
    id: int
    item: str
    outlet: str
    sale_price: Decimal
    purchase_price: Decimal | None
    reported_at: datetime
    flag: FlagOut | None


def _flag(flag: Any) -> dict[str, Any]:
    return {
        "id": flag.pk,
        "kind": flag.kind,
        "supplier": flag.supplier.code,
        "supplier_contact": f"{flag.supplier.contact_name} {flag.supplier.contact_phone}",
        "item": flag.item.code,
        "household_id": flag.household_id,
        "detail": flag.detail,
        "raised_at": flag.raised_at,
    }


@router.get("/days", response=list[SupplyOut], summary="Days of supply per category, city or one district")
def days(request: HttpRequest, district_id: Id | None = None) -> list[dict[str, Any]]:
    rows = selectors.days_of_supply(actor=_actor(request), district_id=district_id)
    return [{**row.__dict__, "label": row.label, "alert": row.alert} for row in rows]


@router.post("/stock", response=StockOut, summary="Goods into or out of a warehouse")
def stock_move(request: HttpRequest, body: StockIn) -> dict[str, Any]:
    stock = services.stock_move(
        warehouse_code=body.warehouse,
        category=body.category,
        kg=body.kg,
        reason=body.reason,
        client_key=body.client_key,
        actor=_actor(request),
        now=clock.now(),
    )
    kg = Decimal(stock.kg).quantize(Decimal("0.01"))
    return {"warehouse": stock.warehouse.code, "category": stock.category, "kg": kg}


@router.post("/prices", response={201: PriceOut}, summary="A price seen at an outlet, judged by the rule")
def price_report(request: HttpRequest, body: PriceIn) -> Status[dict[str, Any]]:
    report, flag = services.price_report(
        item_code=body.item,
        outlet=body.outlet,
        sale_price=body.sale_price,
        purchase_price=body.purchase_price,
        actor=_actor(request),
        now=clock.now(),
    )
    return Status(
        201,
        {
            "id": report.pk,
            "item": report.item.code,
            "outlet": report.outlet,
            "sale_price": report.sale_price,
            "purchase_price": report.purchase_price,
            "reported_at": report.reported_at,
            "flag": _flag(flag) if flag is not None else None,
        },
    )


@router.get("/flags", response=list[FlagOut], summary="Flags on suppliers, newest first")
def flags(request: HttpRequest, supplier: Line | None = None) -> list[dict[str, Any]]:
    return [_flag(f) for f in selectors.flags(actor=_actor(request), supplier_code=supplier)[:1000]]
