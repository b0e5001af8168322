"""The supply side: suppliers (保供单位) and their catalogue, warehouses and sorting centres with
stock per category, price reports, and the flags raised on a supplier (price rises, short
weight)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Category(models.TextChoices):
    GRAIN_OIL = "grain_oil", _("grain and oil")
    VEGETABLES = "vegetables", _("vegetables")
    MEAT = "meat", _("meat")
    EGGS = "eggs", _("eggs")
    MILK = "milk", _("milk")
    FRUIT = "fruit", _("fruit")
    INFANT = "infant", _("infant goods")
    MEDICINE = "medicine", _("medicine")


class Supplier(models.Model):
    """A supplier the commerce bureau accredited (保供单位), with the person accountable for it."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    contact_name = models.CharField(_("accountable contact"), max_length=50)
    contact_phone = models.CharField(_("contact phone"), max_length=20)
    district = models.ForeignKey(
        "city.District", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("supplier (保供单位)")
        verbose_name_plural = _("suppliers")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """Something a household can order: a single item, or a standard package of several
    (contents, declared weight and price, as the supplier declares them)."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="items")
    package = models.BooleanField(_("standard package"), default=False)
    contents = models.TextField(_("contents"), blank=True)
    declared_weight_kg = models.DecimalField(
        _("declared weight (kg)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    price = models.DecimalField(_("price (CNY)"), max_digits=10, decimal_places=2)
    # The most one household may order of it a day; none: no limit.
    limit_per_household = models.PositiveSmallIntegerField(
        _("limit per household a day"), null=True, blank=True
    )
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        verbose_name = _("catalogue item")
        verbose_name_plural = _("catalogue")
        ordering = ["category", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="item_price_not_negative"),
            models.CheckConstraint(
                condition=Q(package=False) | Q(declared_weight_kg__gt=0), name="package_declares_weight"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WarehouseKind(models.TextChoices):
    WAREHOUSE = "warehouse", _("warehouse")
    SORTING = "sorting", _("sorting centre")


class Warehouse(models.Model):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=WarehouseKind.choices)
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    # For the vehicles' load plans: where it is.
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("warehouse or sorting centre")
        verbose_name_plural = _("warehouses and sorting centres")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Stock(models.Model):
    """What a warehouse holds of a category now, kept by its movements."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock")
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    kg = models.DecimalField(_("stock (kg)"), max_digits=14, decimal_places=2, default=0)

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "category"], name="stock_once_per_category"),
            models.CheckConstraint(condition=Q(kg__gte=0), name="stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id} {self.category} {self.kg}"


class StockMovement(models.Model):
    """Goods in (positive kg) or out (negative), with why."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="movements")
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    kg = models.DecimalField(_("kg"), max_digits=14, decimal_places=2)
    reason = models.CharField(_("reason"), max_length=200)
    at = models.DateTimeField(_("at"))
    actor_label = models.CharField(_("by"), max_length=150)
    client_key = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("stock movement")
        verbose_name_plural = _("stock movements")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.category} {self.kg}"


class PriceReport(models.Model):
    """A price seen at an outlet: the sale price and, where known, the purchase price."""

    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="prices")
    outlet = models.CharField(_("outlet"), max_length=100)
    sale_price = models.DecimalField(_("sale price"), max_digits=10, decimal_places=2)
    purchase_price = models.DecimalField(
        _("purchase price"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    reported_at = models.DateTimeField(_("reported at"))
    actor_label = models.CharField(_("reported by"), max_length=150)
    # A report that broke the rule is no baseline for the next ones.
    flagged = models.BooleanField(_("flagged"), default=False)

    class Meta:
        verbose_name = _("price report")
        verbose_name_plural = _("price reports")
        indexes = [models.Index(fields=["item", "reported_at"], name="price_item_time_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(sale_price__gt=0), name="price_sale_positive"),
            models.CheckConstraint(
                condition=Q(purchase_price__isnull=True) | Q(purchase_price__gt=0),
                name="price_purchase_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} {self.sale_price}"


class FlagKind(models.TextChoices):
    MARKUP = "markup", _("markup above the rule")
    PRICE_CAP = "price_cap", _("markup above the cap")
    SHORT_WEIGHT = "short_weight", _("short weight")


class Flag(models.Model):
    """Something wrong a supplier must answer for, raised by a rule, never silently dropped."""

    kind = models.CharField(_("kind"), max_length=20, choices=FlagKind.choices)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="flags")
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="flags")
    household = models.ForeignKey(
        "city.Household", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    detail = models.JSONField(_("detail"))
    raised_at = models.DateTimeField(_("raised at"))

    class Meta:
        verbose_name = _("flag")
        verbose_name_plural = _("flags")
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["supplier", "raised_at"], name="flag_supplier_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.supplier_id}"
