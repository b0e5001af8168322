from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from bastion.core import audit, clock, inputs
from bastion.core.models import AuditEntry
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The audit log is read-only, even for superusers."""

    list_display = ["at", "action", "actor_label", "object_type", "object_id", "reason"]
    list_filter = ["action"]
    search_fields = ["object_id", "actor_label", "reason"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PrintableForm(forms.ModelForm):  # type: ignore[type-arg]
    """The admin's text fields are held to the rule of every text input (`core/inputs.py`): no
    control characters (a text area keeps its tabs and line breaks)."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, value in list(cleaned.items()):
            field = self.fields.get(name)
            if not isinstance(value, str) or not isinstance(field, forms.CharField):
                continue
            if inputs.has_control(value, multiline=isinstance(field.widget, forms.Textarea)):
                self.add_error(name, _("The text holds control characters."))
        return cleaned


class AuditedAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Master data edited in the admin is audited like any other change; its text is printable."""

    form = PrintableForm

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = None
        if change and obj.pk is not None and form.changed_data:
            old = type(obj).objects.filter(pk=obj.pk).values(*form.changed_data).first()
            before = {k: _plain(v) for k, v in (old or {}).items()}
        super().save_model(request, obj, form, change)
        audit.record(
            action=f"admin.{obj._meta.model_name}.{'changed' if change else 'added'}",
            obj=obj,
            before=before,
            after={name: _plain(getattr(obj, name, None)) for name in form.changed_data},
            actor=_admin_actor(request),
            now=clock.now(),
        )

    # Fields that tie an object to its place in the hierarchy: copies of them live on every
    # row below (district_id, community_id …), so they are changed by import, never by hand.
    parent_fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        return fields + self.parent_fields if obj is not None else fields

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        # The changelist's "delete selected" goes through here, not delete_model.
        for obj in queryset:
            audit.record(
                action=f"admin.{obj._meta.model_name}.deleted",
                obj=obj,
                before={"str": str(obj)},
                actor=_admin_actor(request),
                now=clock.now(),
            )
        super().delete_queryset(request, queryset)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        pk = obj.pk
        audit.record(
            action=f"admin.{obj._meta.model_name}.deleted",
            obj=obj,
            object_id=pk,
            before={"str": str(obj)},
            actor=_admin_actor(request),
            now=clock.now(),
        )
        super().delete_model(request, obj)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Model):
        return value.pk
    return str(value)


def _admin_actor(request: HttpRequest) -> Actor:
    user = request.user
    return Actor(user_id=user.pk, role="admin", level=ScopeLevel.CITY, label=f"admin:{user.get_username()}")
