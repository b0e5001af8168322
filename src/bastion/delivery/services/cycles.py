"""A zone's own standard package and cycle (a vegetable package every 3 days, say), set or
cleared by the command centre or the zone's district; the day's dispatch reads it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from bastion.core import audit
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import rules
from bastion.delivery.models import PackageCycle
from bastion.supply import selectors as supply
from bastion.zones import selectors as zones
from bastion.zones.models import Zone, ZoneState


def _cycle_zone(actor: Actor, zone_id: int) -> Zone:
    """The zone whose package cycle the actor sets: the command centre's or their district's."""
    actor.require("dispatch_deliveries")
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        raise Forbidden()
    zone = zones.zones_visible(actor).filter(pk=zone_id).first()
    if zone is None:
        raise NotFound(_("There is no such zone."), code="unknown_zone")
    return zone


def package_cycle_set(
    *, zone_id: int, item_code: str, every_days: int, actor: Actor, now: datetime
) -> PackageCycle:
    """A zone's own standard package and cycle (a vegetable package every 3 days, say), set by
    the command centre or the zone's district: it applies to the zone's households served door
    to door while the zone is in force, from the next dispatch. Audited with what it replaced."""
    zone = _cycle_zone(actor, zone_id)
    if zone.state not in (ZoneState.IN_FORCE, ZoneState.PROPOSED):
        raise Conflict(_("This zone is no longer in force."), code="zone_not_in_force")
    if not rules.cycle_days_valid(every_days):
        raise InvalidInput(_("A cycle is a whole number of days from 1 to 30."), code="bad_cycle")
    item = supply.catalogue().filter(code=item_code, package=True).first()
    if item is None:
        raise InvalidInput(
            _("%(code)s is not a package of the catalogue.") % {"code": item_code}, code="unknown_item"
        )
    with transaction.atomic():
        cycle = PackageCycle.objects.select_for_update().filter(zone=zone).first()
        before = {"item": cycle.item.code, "every_days": cycle.every_days} if cycle else None
        if cycle is None:
            cycle = PackageCycle.objects.create(zone=zone, item=item, every_days=every_days, set_at=now)
        else:
            cycle.item, cycle.every_days, cycle.set_at = item, every_days, now
            cycle.save(update_fields=["item", "every_days", "set_at"])
        audit.record(
            action="delivery.cycle.set",
            obj=cycle,
            before=before,
            after={"zone": zone.code, "item": item.code, "every_days": every_days},
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return cycle


def package_cycle_clear(*, zone_id: int, actor: Actor, now: datetime) -> bool:
    """The zone's households go back to the policy's standard package and cycle. False when the
    zone had none of its own."""
    zone = _cycle_zone(actor, zone_id)
    with transaction.atomic():
        cycle = PackageCycle.objects.select_for_update().filter(zone=zone).select_related("item").first()
        if cycle is None:
            return False
        audit.record(
            action="delivery.cycle.cleared",
            obj=cycle,
            before={"zone": zone.code, "item": cycle.item.code, "every_days": cycle.every_days},
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
        cycle.delete()
    return True
