"""Actors and their scopes: the one helper every selector uses to filter by who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from django.db import models

from bastion.core.errors import Forbidden, NotFound
from bastion.core.roles import Role, ScopeLevel

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Actor:
    """Who is acting, and where their writ runs.

    `user_id` is None for the platform itself (timers, scenario replay).
    """

    user_id: int | None
    role: str
    level: str
    district_id: int | None = None
    community_id: int | None = None
    household_id: int | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    label: str = ""
    # The device acting for the account (its token's name and prefix), if one is.
    device: str = ""

    def has(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.has(permission):
            raise Forbidden()


SYSTEM = Actor(
    user_id=None,
    role=Role.COMMAND_CENTRE,
    level=ScopeLevel.CITY,
    permissions=frozenset(
        {
            "view_registry",
            "view_personal_data",
            "view_city_figures",
            "import_registry",
            "export_registry",
            "change_resident_flags",
            "view_cases",
            "manage_cases",
            "manage_zones",
            "manage_testing",
            "view_testing",
            "record_samples",
            "record_results",
            "view_supply",
            "manage_supply",
            "report_prices",
            "dispatch_deliveries",
            "manage_transfers",
            "view_codes",
            "keep_medical_needs",
            "view_trips",
            "dispatch_trips",
            "call_emergency",
            "view_appeals",
            "raise_appeals",
            "handle_appeals",
        }
    ),
    label="system",
)


@dataclass(frozen=True)
class ScopePaths:
    """How a model reaches the scope columns: field paths, or None where it cannot."""

    district: str | None = "district_id"
    community: str | None = "community_id"
    household: str | None = "household_id"


def scoped(
    queryset: models.QuerySet[M], actor: Actor, paths: ScopePaths = ScopePaths()
) -> models.QuerySet[M]:
    """Narrow `queryset` to what `actor` may see.

    A level the model cannot express (a household-scoped actor on a table of districts)
    yields nothing rather than everything.
    """
    if actor.level == ScopeLevel.CITY:
        return queryset
    if actor.level == ScopeLevel.DISTRICT and paths.district and actor.district_id is not None:
        return queryset.filter(**{paths.district: actor.district_id})
    if actor.level == ScopeLevel.COMMUNITY and paths.community and actor.community_id is not None:
        return queryset.filter(**{paths.community: actor.community_id})
    if actor.level == ScopeLevel.OWN_HOUSEHOLD and paths.household and actor.household_id is not None:
        return queryset.filter(**{paths.household: actor.household_id})
    return queryset.none()


def get_scoped(
    queryset: models.QuerySet[M], actor: Actor, paths: ScopePaths = ScopePaths(), **lookup: object
) -> M:
    """Fetch one object within scope; outside it, the object does not exist (404)."""
    found = scoped(queryset, actor, paths).filter(**lookup).first()
    if found is None:
        raise NotFound()
    return found
