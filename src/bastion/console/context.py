"""The console frame: who is acting, and the navigation their role and scope give them."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from bastion.city.selectors import actor_for
from bastion.core.errors import Forbidden
from bastion.core.roles import Role, ScopeLevel
from bastion.core.scopes import Actor

_ACTOR_KEY = "_bastion_actor"


def actor_of(request: HttpRequest) -> Actor:
    """The request's actor, looked up once per request (the view and the frame both need it)."""
    cached: Actor | None = request.__dict__.get(_ACTOR_KEY)
    if cached is None:
        cached = request.__dict__[_ACTOR_KEY] = actor_for(request.user)
    return cached


STAFF_LEVELS = frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.OWN_TASKS})


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    # Scope levels that see the item, and the permission they also need (None: any).
    levels: frozenset[str]
    permission: str | None = None
    # The actor's place the url points to ("community_id", "household_id"), if any.
    place: str | None = None
    # Active on every page below its url, not only on the url itself.
    section: bool = False


NAVIGATION = [
    NavItem(_("Home"), "console:home", STAFF_LEVELS),
    NavItem(
        _("Registry"),
        "console:registry",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT}),
        "view_registry",
        section=True,
    ),
    NavItem(
        _("My community"),
        "console:community",
        frozenset({ScopeLevel.COMMUNITY}),
        "view_registry",
        place="community_id",
    ),
    NavItem(_("My page"), "console:me", frozenset({ScopeLevel.OWN_HOUSEHOLD})),
    NavItem(
        _("My household"),
        "console:household",
        frozenset({ScopeLevel.OWN_HOUSEHOLD}),
        "view_registry",
        place="household_id",
    ),
    NavItem(
        _("Zones"),
        "console:zones",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY}),
        section=True,
    ),
    NavItem(_("My zone"), "console:my_zone", frozenset({ScopeLevel.OWN_HOUSEHOLD})),
    NavItem(_("My health code"), "console:my_code", frozenset({ScopeLevel.OWN_HOUSEHOLD}), "view_codes"),
    NavItem(_("Check a code"), "console:code_check", frozenset({ScopeLevel.CITY}), "check_codes"),
    NavItem(_("My orders"), "console:my_orders", frozenset({ScopeLevel.OWN_HOUSEHOLD}), "place_orders"),
    NavItem(
        _("Cases"),
        "console:cases",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY}),
        "view_cases",
        section=True,
    ),
    NavItem(
        _("Transfers"),
        "console:transfer_board",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT}),
        "manage_transfers",
        section=True,
    ),
    NavItem(
        _("People waiting"),
        "console:transfer_community",
        frozenset({ScopeLevel.COMMUNITY}),
        "view_cases",
    ),
    NavItem(
        _("Testing"),
        "console:testing",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY}),
        "view_testing",
        section=True,
    ),
    NavItem(_("My tasks"), "console:volunteer_tasks", frozenset({ScopeLevel.OWN_TASKS}), "deliver"),
    NavItem(
        _("Deliveries"),
        "console:dispatch",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY}),
        "dispatch_deliveries",
        section=True,
    ),
    NavItem(_("Medical care"), "console:care", frozenset({ScopeLevel.COMMUNITY}), "keep_medical_needs"),
    NavItem(
        _("Trips to treatment"),
        "console:care_trips",
        frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT}),
        "view_trips",
    ),
    NavItem(
        _("Supplies"), "console:supply", frozenset({ScopeLevel.CITY, ScopeLevel.DISTRICT}), "view_supply"
    ),
    NavItem(_("Bulletin"), "console:bulletin", frozenset(ScopeLevel.values), section=True),
]


def nav_for(actor: Actor, path: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    for item in NAVIGATION:
        if actor.level not in item.levels or (item.permission and not actor.has(item.permission)):
            continue
        if item.place is None:
            url = reverse(item.url_name)
        else:
            place_id = getattr(actor, item.place)
            if place_id is None:
                continue
            url = reverse(item.url_name, args=[place_id])
        active = path == url or (item.section and path.startswith(url))
        items.append({"label": item.label, "url": url, "active": active})
    return items


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    try:
        actor = actor_of(request)
    except Forbidden:
        return {"nav": [], "actor": None}
    role_label = Role(actor.role).label if actor.role in Role.values else actor.role
    return {"nav": nav_for(actor, request.path), "actor": actor, "role_label": role_label}
