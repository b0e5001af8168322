"""Every write of the supply side: suppliers and their catalogue, stock movements, price reports
and the flags the rules raise on a supplier. Each is atomic and audited."""

from __future__ import annotations

from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.core import audit, clock
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.scopes import Actor
from bastion.supply import rules
from bastion.supply.models import (
    Category,
    Flag,
    FlagKind,
    Item,
    PriceReport,
    Stock,
    StockMovement,
    Supplier,
    Warehouse,
)
from bastion.supply.policy import policy


def _amount(value: Any, label: str, *, positive: bool = False, below: Decimal = Decimal("1e8")) -> Decimal:
    """A decimal amount from user input (at most 2 decimals' worth kept, under `below` in size:
    what the column holds), or a clear error naming the field."""
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(_("%(field)s is not a number.") % {"field": label}, code="bad_number") from None
    if not amount.is_finite():
        raise InvalidInput(_("%(field)s is not a number.") % {"field": label}, code="bad_number")
    if positive and amount <= 0:
        raise InvalidInput(_("%(field)s must be more than 0.") % {"field": label}, code="bad_number")
    if abs(amount) >= below:
        raise InvalidInput(
            _("%(field)s is too large: under %(limit)s.") % {"field": label, "limit": f"{below:,.0f}"},
            code="bad_number",
        )
    return amount.quantize(Decimal("0.01"))


def supplier_register(
    *, code: str, name: str, contact_name: str, contact_phone: str, actor: Actor, now: datetime
) -> Supplier:
    """A supplier with the person accountable for it (both required)."""
    actor.require("manage_supply")
    code, name, contact_name, contact_phone = (v.strip() for v in (code, name, contact_name, contact_phone))
    if not (code and name and contact_name and contact_phone):
        raise InvalidInput(
            _("A supplier needs a code, a name and an accountable contact with a phone."),
            code="supplier_incomplete",
        )
    with transaction.atomic():
        try:
            supplier = Supplier.objects.create(
                code=code, name=name, contact_name=contact_name, contact_phone=contact_phone
            )
        except IntegrityError:
            raise Conflict(_("A supplier with this code exists."), code="supplier_exists") from None
        audit.record(
            action="supply.supplier.registered",
            obj=supplier,
            after={"code": code, "name": name, "contact": contact_name},
            actor=actor,
            now=now,
        )
    return supplier


def item_add(
    *,
    code: str,
    name: str,
    category: str,
    supplier_code: str,
    price: Any,
    package: bool = False,
    contents: str = "",
    declared_weight_kg: Any = None,
    limit_per_household: int | None = None,
    actor: Actor,
    now: datetime,
) -> Item:
    """A catalogue entry. A standard package declares its contents and weight."""
    actor.require("manage_supply")
    if category not in Category.values:
        raise InvalidInput(_("Choose a category from the list."), code="bad_category")
    supplier = Supplier.objects.filter(code=supplier_code).first()
    if supplier is None:
        raise NotFound(_("There is no such supplier."), code="unknown_supplier")
    weight = None
    if package or declared_weight_kg not in (None, ""):
        weight = _amount(declared_weight_kg, _("Declared weight"), positive=True, below=Decimal("1e6"))
    amount = _amount(price, _("Price"))
    if amount < 0:
        raise InvalidInput(_("A price cannot be negative."), code="bad_number")
    with transaction.atomic():
        try:
            item = Item.objects.create(
                code=code.strip(),
                name=name.strip(),
                category=category,
                supplier=supplier,
                price=amount,
                package=package,
                contents=contents.strip(),
                declared_weight_kg=weight,
                limit_per_household=limit_per_household,
            )
        except IntegrityError:
            raise Conflict(_("A catalogue item with this code exists."), code="item_exists") from None
        audit.record(
            action="supply.item.added",
            obj=item,
            after={
                "code": item.code,
                "supplier": supplier.code,
                "price": str(item.price),
                "weight": str(weight),
            },
            actor=actor,
            now=now,
        )
    return item


def stock_move(
    *,
    warehouse_code: str,
    category: str,
    kg: Any,
    reason: str,
    client_key: str | None = None,
    actor: Actor,
    now: datetime,
) -> Stock:
    """Goods in (kg > 0) or out (kg < 0) of a warehouse. The stock row is locked; it never goes
    below zero. Idempotent by `client_key` (a repeat returns the stock, changes nothing)."""
    actor.require("manage_supply")
    amount = _amount(kg, _("Quantity"), below=Decimal("1e12"))
    if amount == 0:
        raise InvalidInput(_("Quantity must not be 0."), code="bad_number")
    if category not in Category.values:
        raise InvalidInput(_("Choose a category from the list."), code="bad_category")
    if not reason.strip():
        raise InvalidInput(_("Say why the stock moves."), code="reason_required")
    warehouse = Warehouse.objects.filter(code=warehouse_code).first()
    if warehouse is None:
        raise NotFound(_("There is no such warehouse."), code="unknown_warehouse")
    with transaction.atomic():
        Stock.objects.get_or_create(warehouse=warehouse, category=category)
        stock = Stock.objects.select_for_update().get(warehouse=warehouse, category=category)
        # After the lock: a retry waiting behind its first attempt sees it and changes nothing.
        earlier = StockMovement.objects.filter(client_key=client_key).first() if client_key else None
        if earlier is not None:
            return Stock.objects.get(warehouse_id=earlier.warehouse_id, category=earlier.category)
        if stock.kg + amount < 0:
            raise Conflict(
                _("Only %(kg)s kg of %(category)s are in stock.")
                % {"kg": stock.kg, "category": Category(category).label},
                code="not_enough_stock",
            )
        before = stock.kg
        stock.kg = before + amount
        stock.save(update_fields=["kg"])
        try:
            with transaction.atomic():
                StockMovement.objects.create(
                    warehouse=warehouse,
                    category=category,
                    kg=amount,
                    reason=reason.strip()[:200],
                    at=now,
                    actor_label=actor.label,
                    client_key=client_key or None,
                )
        except IntegrityError:  # the same key at once for another warehouse: the first one won
            raise Conflict(_("This movement was already recorded."), code="movement_recorded") from None
        audit.record(
            action="supply.stock.moved",
            obj=stock,
            before={"kg": str(before)},
            after={"kg": str(stock.kg), "warehouse": warehouse.code, "category": category},
            reason=reason.strip(),
            actor=actor,
            now=now,
        )
    return stock


def price_report(
    *,
    item_code: str,
    outlet: str,
    sale_price: Any,
    purchase_price: Any = None,
    actor: Actor,
    now: datetime,
) -> tuple[PriceReport, Flag | None]:
    """A price seen at an outlet, judged by the policy's rule: the markup above the highest of
    the baseline window (the `baseline_days` before the policy's baseline date, or before the
    report when none is set), or above the cap where the window holds no report with a
    purchase price. A breach flags the item's supplier, and a flagged report is never a
    baseline (prices cannot creep up a week at a time). Reports before the baseline date are
    kept unjudged: they are the baseline."""
    actor.require("report_prices")
    item = Item.objects.select_related("supplier").filter(code=item_code).first()
    if item is None:
        raise NotFound(_("There is no such catalogue item."), code="unknown_item")
    if not outlet.strip():
        raise InvalidInput(_("Name the outlet."), code="outlet_required")
    sale = _amount(sale_price, _("Sale price"), positive=True)
    purchase = (
        None if purchase_price in (None, "") else _amount(purchase_price, _("Purchase price"), positive=True)
    )
    supply_policy = policy()
    frozen_at = (
        None
        if supply_policy.baseline_date is None
        else datetime.combine(supply_policy.baseline_date, time(), clock.city_zone())
    )
    start, end = rules.baseline_window(reported_at=now, frozen_at=frozen_at, days=supply_policy.baseline_days)
    window = PriceReport.objects.filter(
        item=item,
        flagged=False,
        purchase_price__isnull=False,
        reported_at__gte=start,
        reported_at__lt=end,
    ).values_list("sale_price", "purchase_price")
    ratios = [rules.markup_ratio(s, p) for s, p in window if p is not None]
    baseline = max(ratios) if ratios else None
    # Before the baseline date no rule is in force yet: those prices are the baseline.
    judged = (
        None
        if now < end
        else rules.gouging(sale=sale, purchase=purchase, baseline_ratio=baseline, cap=supply_policy.cap)
    )
    with transaction.atomic():
        report = PriceReport.objects.create(
            item=item,
            outlet=outlet.strip()[:100],
            sale_price=sale,
            purchase_price=purchase,
            reported_at=now,
            actor_label=actor.label,
        )
        flag = None
        if judged is not None:
            report.flagged = True
            report.save(update_fields=["flagged"])
            kind, ratio = judged
            flag = Flag.objects.create(
                kind=FlagKind.MARKUP if kind == "markup" else FlagKind.PRICE_CAP,
                supplier=item.supplier,
                item=item,
                detail={
                    "outlet": report.outlet,
                    "sale_price": str(sale),
                    "purchase_price": str(purchase),
                    "markup": str(ratio.quantize(Decimal("0.001"))),
                    "allowed": str(
                        (baseline if baseline is not None else supply_policy.cap).quantize(Decimal("0.001"))
                    ),
                    "report": report.pk,
                },
                raised_at=now,
            )
        audit.record(
            action="supply.price.reported",
            obj=report,
            after={"item": item.code, "sale_price": str(sale), "flag": flag.kind if flag else None},
            actor=actor,
            now=now,
        )
    return report, flag


def short_weight_flag(
    *,
    item_id: int,
    declared_kg: Decimal | None,
    household_id: int,
    measured_kg: Decimal,
    order_id: int,
    actor: Actor,
    now: datetime,
) -> Flag | None:
    """Packages delivered lighter than declared (`declared_kg`: the order's packages together)
    beyond the tolerance flag the supplier of `item_id` (called by the flow of a confirmed
    delivery, inside its transaction)."""
    item = Item.objects.select_related("supplier").get(pk=item_id)
    if declared_kg is None or not rules.short_weight(
        declared_kg=declared_kg, measured_kg=measured_kg, tolerance=policy().weight_tolerance
    ):
        return None
    flag = Flag.objects.create(
        kind=FlagKind.SHORT_WEIGHT,
        supplier=item.supplier,
        item=item,
        household_id=household_id,
        detail={
            "declared_kg": str(declared_kg),
            "measured_kg": str(measured_kg),
            "order": order_id,
        },
        raised_at=now,
    )
    audit.record(
        action="supply.flag.raised",
        obj=flag,
        after={"kind": flag.kind, "supplier": item.supplier.code, "item": item.code, **flag.detail},
        actor=actor,
        now=now,
    )
    return flag
