"""Master data of deliveries edited in the admin: supply vehicles and zones' standard package
cycles (audited)."""

from __future__ import annotations

from django.contrib import admin

from bastion.core.admin import AuditedAdmin
from bastion.delivery.models import PackageCycle, Vehicle


@admin.register(Vehicle)
class VehicleAdmin(AuditedAdmin):
    list_display = ["plate", "base", "capacity_kg", "driver", "active"]
    list_filter = ["active"]
    search_fields = ["plate", "driver"]


@admin.register(PackageCycle)
class PackageCycleAdmin(AuditedAdmin):
    list_display = ["zone", "item", "every_days", "set_at"]
    raw_id_fields = ["zone"]
