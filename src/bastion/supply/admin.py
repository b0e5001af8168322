"""Master data of supply edited in the admin: suppliers, the catalogue, warehouses (audited).
Stock moves only through `services.stock_move`, never by editing a number."""

from __future__ import annotations

from django.contrib import admin

from bastion.core.admin import AuditedAdmin
from bastion.supply.models import Item, Supplier, Warehouse


@admin.register(Supplier)
class SupplierAdmin(AuditedAdmin):
    list_display = ["code", "name", "contact_name", "contact_phone", "district"]
    search_fields = ["code", "name", "contact_name"]


@admin.register(Item)
class ItemAdmin(AuditedAdmin):
    list_display = [
        "code",
        "name",
        "category",
        "supplier",
        "package",
        "declared_weight_kg",
        "price",
        "active",
    ]
    list_filter = ["category", "package", "active"]
    search_fields = ["code", "name"]


@admin.register(Warehouse)
class WarehouseAdmin(AuditedAdmin):
    list_display = ["code", "name", "kind", "district"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]
