"""Reads of the supply side: days of supply per category for the city and each district, the
stock of each warehouse, the catalogue, price reports and the flags on suppliers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from bastion.city.models import CommunityFigures, District
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.supply import rules
from bastion.supply.models import Category, Flag, Item, PriceReport, Stock, Supplier
from bastion.supply.policy import policy


@dataclass(frozen=True)
class Supply:
    category: str
    stock_kg: Decimal
    population: int
    per_person_kg: Decimal | None
    days: Decimal | None
    alert_below: Decimal | None

    @property
    def label(self) -> str:
        return str(Category(self.category).label)

    @property
    def alert(self) -> bool:
        return self.days is not None and self.alert_below is not None and self.days < self.alert_below


def days_of_supply(*, actor: Actor, district_id: int | None = None) -> list[Supply]:
    """Per category: stock ÷ (population × daily consumption per person), for the city or one
    district (its warehouses' stock against its registered residents). District staff see
    their own district only."""
    actor.require("view_supply")
    if actor.level != ScopeLevel.CITY:
        if district_id is not None and district_id != actor.district_id:
            raise NotFound()
        district_id = actor.district_id
    if district_id is not None and not District.objects.filter(pk=district_id).exists():
        raise NotFound()
    stock = Stock.objects.all()
    people = CommunityFigures.objects.all()
    if district_id is not None:
        stock = stock.filter(warehouse__district_id=district_id)
        people = people.filter(district_id=district_id)
    held = dict(stock.values("category").annotate(kg=Sum("kg")).values_list("category", "kg"))
    population = int(people.aggregate(n=Sum("residents"))["n"] or 0)
    supply_policy = policy()
    rows = []
    for category in Category.values:
        per_person = supply_policy.consumption_kg.get(category)
        kg = Decimal(held.get(category) or 0).quantize(Decimal("0.01"))
        rows.append(
            Supply(
                category=category,
                stock_kg=kg,
                population=population,
                per_person_kg=per_person,
                days=rules.days_of_supply(kg, population, per_person),
                alert_below=supply_policy.alert_days.get(category),
            )
        )
    return rows


def alerts(*, actor: Actor) -> list[tuple[District | None, Supply]]:
    """Every category under its threshold, for the city and for each district in scope."""
    found: list[tuple[District | None, Supply]] = []
    if actor.level == ScopeLevel.CITY:
        found += [(None, row) for row in days_of_supply(actor=actor) if row.alert]
        districts = list(District.objects.order_by("code"))
    else:
        districts = list(District.objects.filter(pk=actor.district_id or -1))
    for district in districts:
        found += [
            (district, row) for row in days_of_supply(actor=actor, district_id=district.pk) if row.alert
        ]
    return found


def stock_list(*, actor: Actor) -> QuerySet[Stock]:
    actor.require("view_supply")
    rows = Stock.objects.select_related("warehouse", "warehouse__district").order_by(
        "warehouse__code", "category"
    )
    if actor.level != ScopeLevel.CITY:
        rows = rows.filter(warehouse__district_id=actor.district_id or -1)
    return rows


def catalogue() -> QuerySet[Item]:
    """What households may order (everyone may read the catalogue)."""
    return Item.objects.filter(active=True).select_related("supplier").order_by("category", "code")


def item_by_code(code: str) -> Item:
    item = Item.objects.filter(code=code, active=True).select_related("supplier").first()
    if item is None:
        raise NotFound(code="unknown_item")
    return item


def flags(*, actor: Actor, supplier_code: str | None = None) -> QuerySet[Flag]:
    """Flags on suppliers, newest first. Suppliers serve the whole city: whoever follows supply
    sees every flag."""
    actor.require("view_supply")
    rows = Flag.objects.select_related("supplier", "item").order_by("-raised_at", "-id")
    if supplier_code is not None:
        rows = rows.filter(supplier__code=supplier_code)
    return rows


def prices(*, actor: Actor, item_code: str | None = None) -> QuerySet[PriceReport]:
    actor.require("view_supply")
    rows = PriceReport.objects.select_related("item", "item__supplier").order_by("-reported_at", "-id")
    if item_code is not None:
        rows = rows.filter(item__code=item_code)
    return rows


def suppliers() -> QuerySet[Supplier]:
    return Supplier.objects.order_by("code")


def packages() -> QuerySet[Item]:
    """The standard packages of the catalogue (what a zone's own cycle may send)."""
    return catalogue().filter(package=True)
