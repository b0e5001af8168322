"""Breadcrumbs from the top of the actor's scope down to the page: registry › district › … › household."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.translation import gettext as _

from bastion.city.models import Building, Community, Compound, District, Household
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor


@dataclass(frozen=True)
class Crumb:
    label: str
    url: str | None  # None for the page itself


def building_label(building: Building) -> str:
    return _("Building %(number)s") % {"number": building.number}


def household_label(household: Household) -> str:
    return _("Unit %(unit)s, room %(room)s") % {"unit": household.unit.number, "room": household.room}


def trail(
    actor: Actor,
    *,
    district: District,
    community: Community | None = None,
    compound: Compound | None = None,
    building: Building | None = None,
    household: Household | None = None,
) -> list[Crumb]:
    """Every place above the page that the actor may open, then the page; built from loaded objects only."""
    places: list[tuple[str, str, str, int]] = [("district", district.name, "console:district", district.pk)]
    if community is not None:
        places.append(("community", community.name, "console:community", community.pk))
    if compound is not None:
        places.append(("compound", compound.name, "console:compound", compound.pk))
    if building is not None:
        places.append(("building", building_label(building), "console:building", building.pk))
    if household is not None:
        places.append(("household", household_label(household), "console:household", household.pk))

    if actor.level in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        crumbs = [Crumb(_("Registry"), reverse("console:registry"))]
        start = "district"
    elif actor.level == ScopeLevel.COMMUNITY:
        crumbs, start = [], "community"
    else:
        crumbs, start = [], "household"
    kinds = [kind for kind, *_rest in places]
    if start not in kinds:
        return crumbs
    for _kind, label, url_name, pk in places[kinds.index(start) :]:
        crumbs.append(Crumb(label, reverse(url_name, args=[pk])))
    last = crumbs[-1]
    crumbs[-1] = Crumb(last.label, None)
    return crumbs
