"""Master data of mass testing edited in the admin: sampling sites and laboratories (audited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from bastion.core.admin import AuditedAdmin
from bastion.testing.models import Lab, Site


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["code", "name", "grid", "mobile", "samplers", "capacity_per_hour", "opens", "closes"]
    list_filter = ["mobile"]
    search_fields = ["code", "name"]
    raw_id_fields = ["grid", "compound"]
    exclude = ["district"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        obj.district_id = obj.grid.district_id  # the copy follows the grid served
        super().save_model(request, obj, form, change)


@admin.register(Lab)
class LabAdmin(AuditedAdmin):
    list_display = ["code", "name", "capacity_per_hour"]
    search_fields = ["code", "name"]
