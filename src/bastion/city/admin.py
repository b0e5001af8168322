"""Master data in the Django admin. Residents and households are browsed, not bulk-edited here:
the registry import and the console are their front doors."""

from __future__ import annotations

from django.contrib import admin

from bastion.city import models
from bastion.core.admin import AuditedAdmin


@admin.register(models.District)
class DistrictAdmin(AuditedAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(models.Subdistrict)
class SubdistrictAdmin(AuditedAdmin):
    list_display = ["code", "name", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name"]


@admin.register(models.Community)
class CommunityAdmin(AuditedAdmin):
    list_display = ["code", "name", "subdistrict"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    raw_id_fields = ["subdistrict"]


@admin.register(models.Grid)
class GridAdmin(AuditedAdmin):
    list_display = ["code", "name", "community"]
    search_fields = ["code", "name"]
    raw_id_fields = ["community"]


@admin.register(models.Compound)
class CompoundAdmin(AuditedAdmin):
    list_display = ["code", "name", "grid", "shared_facilities", "latitude", "longitude"]
    list_filter = ["shared_facilities"]
    search_fields = ["code", "name"]
    raw_id_fields = ["grid"]


@admin.register(models.Building)
class BuildingAdmin(AuditedAdmin):
    list_display = ["compound", "number", "floors", "latitude", "longitude"]
    search_fields = ["compound__code"]
    raw_id_fields = ["compound"]


@admin.register(models.Staff)
class StaffAdmin(AuditedAdmin):
    list_display = ["name", "role", "community", "grid", "building", "active"]
    list_filter = ["role", "active"]
    search_fields = ["name", "community__code"]
    raw_id_fields = ["community", "grid", "building", "resident", "user"]


@admin.register(models.Account)
class AccountAdmin(AuditedAdmin):
    list_display = ["user", "role", "scope", "district", "community", "household"]
    list_filter = ["role", "scope"]
    raw_id_fields = ["user", "district", "community", "household"]
