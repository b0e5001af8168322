"""Master data in the Django admin. Residents and households are browsed, not bulk-edited here:
the registry import and the console are their front doors."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from bastion.city import models
from bastion.core.admin import AuditedAdmin


@admin.register(models.District)
class DistrictAdmin(AuditedAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


@admin.register(models.Subdistrict)
class SubdistrictAdmin(AuditedAdmin):
    list_display = ["code", "name", "district"]
    parent_fields = ("district",)
    list_filter = ["district"]
    search_fields = ["code", "name"]


@admin.register(models.Community)
class CommunityAdmin(AuditedAdmin):
    list_display = ["code", "name", "subdistrict"]
    list_filter = ["district"]
    search_fields = ["code", "name"]
    raw_id_fields = ["subdistrict"]
    parent_fields = ("subdistrict",)
    exclude = ["district"]  # follows the subdistrict

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.district_id = obj.subdistrict.district_id
        super().save_model(request, obj, form, change)


@admin.register(models.Grid)
class PlaceBelowCommunityAdmin(AuditedAdmin):
    """Grids, compounds and buildings carry copies of their ancestors; they are created by the
    registry import (or generation), which keeps the copies right, and edited here."""

    exclude = ["community", "district"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class GridAdmin(PlaceBelowCommunityAdmin):
    exclude = ["district"]
    list_display = ["code", "name", "community"]
    search_fields = ["code", "name"]
    raw_id_fields = ["community"]
    parent_fields = ("community",)


@admin.register(models.Compound)
class CompoundAdmin(PlaceBelowCommunityAdmin):
    list_display = ["code", "name", "grid", "shared_facilities", "latitude", "longitude"]
    list_filter = ["shared_facilities"]
    search_fields = ["code", "name"]
    raw_id_fields = ["grid"]
    parent_fields = ("grid",)


@admin.register(models.Building)
class BuildingAdmin(PlaceBelowCommunityAdmin):
    list_display = ["compound", "number", "floors", "latitude", "longitude"]
    search_fields = ["compound__code"]
    raw_id_fields = ["compound"]
    parent_fields = ("compound", "number")


@admin.register(models.Staff)
class StaffAdmin(AuditedAdmin):
    list_display = ["name", "role", "community", "grid", "building", "active"]
    list_filter = ["role", "active"]
    search_fields = ["name", "community__code"]
    raw_id_fields = ["community", "grid", "building", "resident", "user"]
    exclude = ["district"]  # follows the community

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.district_id = obj.community.district_id
        super().save_model(request, obj, form, change)


@admin.register(models.Account)
class AccountAdmin(AuditedAdmin):
    """Accounts are granted by `account_grant` (role group, scope width, audit); here they are
    read, and revoked by deletion (audited)."""

    list_display = ["user", "role", "scope", "district", "community", "household"]
    list_filter = ["role", "scope"]
    readonly_fields = ["user", "role", "scope", "district", "community", "household"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
