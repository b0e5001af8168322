"""Why a zone stands, as the platform writes it: naming the case that caused it for those who
manage cases, and without its number for everyone else (core/masking.py, CASE_NUMBER).

Both texts are written here, side by side, and a zone keeps both from the moment it is drawn
(`reason`, `public_reason`), so that a zone raised later still says why it was drawn to everyone;
the audit log keeps the one naming the case, and `history_reason` gives the other at reading time
from the entry's own level. Texts are in the city's language, as every reason the platform
writes (core/audit.city_text).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from bastion.core import audit, masking
from bastion.core.scopes import Actor
from bastion.zones.models import Area, Level, Zone

# The audit actions whose reason the platform writes naming a case.
NAMING_A_CASE = frozenset(
    {"zones.zone.designated", "zones.zone.proposed", "zones.zone.raised", "zones.zone.clock_restarted"}
)


def designated(*, level: str, protocol: str, area: str, case: int | None) -> str:
    """A new zone's reason (`case` None: without the case's number)."""
    if level == Level.HIGH:
        if case is None:
            text = gettext_noop(
                "A case lives or often stays here (%(protocol)s: high risk at %(area)s level)."
            )
        else:
            text = gettext_noop(
                "Case %(case)s lives or often stays here (%(protocol)s: high risk at %(area)s level)."
            )
        return audit.city_text(text, case=case, protocol=protocol, area=Area(area).label)
    if case is None:
        text = gettext_noop("A case stayed here (%(protocol)s: medium risk for places stayed).")
    else:
        text = gettext_noop("Case %(case)s stayed here (%(protocol)s: medium risk for places stayed).")
    return audit.city_text(text, case=case, protocol=protocol)


def raised(*, case: int | None) -> str:
    if case is None:
        return audit.city_text(gettext_noop("A case lives or often stays here."))
    return audit.city_text(gettext_noop("Case %(case)s lives or often stays here."), case=case)


def clock_restarted(*, case: int | None) -> str:
    if case is None:
        return audit.city_text(gettext_noop("New infection inside the zone."))
    return audit.city_text(gettext_noop("New infection inside the zone: case %(case)s."), case=case)


def for_actor(actor: Actor, zone: Zone) -> str:
    """The zone's reason as `actor` may read it: both texts were written when the zone was drawn
    (a zone drawn before they were both kept reads today's level's words)."""
    if masking.shows(actor, masking.Field.CASE_NUMBER):
        return zone.reason
    return zone.public_reason or designated(
        level=zone.level, protocol=zone.protocol, area=zone.area, case=None
    )


def history_reason(actor: Actor, zone: Zone, action: str, reason: str, after: Any) -> str:
    """An audit entry's reason as `actor` may read it: a reason the platform wrote naming a
    case loses the case's number; an officer's own words are shown as written."""
    if action not in NAMING_A_CASE or masking.shows(actor, masking.Field.CASE_NUMBER):
        return reason
    if action == "zones.zone.raised":
        return raised(case=None)
    if action == "zones.zone.clock_restarted":
        return clock_restarted(case=None)
    level = after.get("level", zone.level) if isinstance(after, dict) else zone.level
    return designated(level=level, protocol=zone.protocol, area=zone.area, case=None)
