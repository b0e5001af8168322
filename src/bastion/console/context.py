"""The console frame: navigation per role."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from bastion.city.selectors import actor_for
from bastion.core.errors import Forbidden

# (label, url name, permission needed or None)
NAVIGATION = [
    (_("Home"), "console:home", None),
    (_("Registry"), "console:registry", "view_registry"),
]


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        actor = actor_for(user)
    except Forbidden:
        return {"nav": [], "actor": None}
    items = [
        {"label": label, "url": reverse(name), "active": request.path == reverse(name)}
        for label, name, permission in NAVIGATION
        if permission is None or actor.has(permission)
    ]
    return {"nav": items, "actor": actor}
