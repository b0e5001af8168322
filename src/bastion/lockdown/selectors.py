"""How each household is served today, from everything that confines it.

A household is served door to door when it lies in a high-risk zone in force, or when one of
its members, recalled from a positive or invalid pool, awaits a single-tube retest (isolated
in place). It is served by staggered pick-up in a medium-risk zone, and normally otherwise.
Supplies, deliveries and the console read these selectors rather than each context's.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from bastion.city.models import Household
from bastion.core.errors import NotFound
from bastion.testing.models import Recall, RecallState
from bastion.testing.selectors import households_isolated_in_place
from bastion.zones import selectors as zones

DOOR_TO_DOOR = zones.DOOR_TO_DOOR
STAGGERED_PICKUP = zones.STAGGERED_PICKUP
NORMAL = zones.NORMAL
MODES = (DOOR_TO_DOOR, STAGGERED_PICKUP, NORMAL)


def service_mode(*, household_id: int) -> str:
    mode = zones.service_mode(household_id=household_id)
    if mode != DOOR_TO_DOOR and households_isolated_in_place().filter(pk=household_id).exists():
        return DOOR_TO_DOOR
    return mode


def served_at_home_q(*, community_id: int | None = None, district_id: int | None = None) -> Q:
    """A filter of households: served door to door or by staggered pick-up (what supplies count
    as locked), in the community or district given: in a high or medium zone in force, or
    isolated in place (households_in_force_q says how it reaches them by index)."""
    recalls = Recall.objects.filter(state=RecallState.OPEN)
    if community_id is not None:
        recalls = recalls.filter(household__community_id=community_id)
    if district_id is not None:
        recalls = recalls.filter(district_id=district_id)
    return zones.households_in_force_q(community_id=community_id, district_id=district_id) | Q(
        pk__in=recalls.values("household_id")
    )


def households_on(mode: str) -> QuerySet[Household]:
    """The households served door to door, or by staggered pick-up (set-based: unions of
    indexed lookups, no scan of the city's households)."""
    if mode == DOOR_TO_DOOR:
        return Household.objects.filter(
            pk__in=zones.households_by_service_mode(DOOR_TO_DOOR)
            .values("pk")
            .union(households_isolated_in_place().values("pk"))
        )
    if mode == STAGGERED_PICKUP:
        return zones.households_by_service_mode(STAGGERED_PICKUP).exclude(
            pk__in=households_isolated_in_place().values("pk")
        )
    raise NotFound(f"{mode} households are not listed")
