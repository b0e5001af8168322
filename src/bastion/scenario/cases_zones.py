"""Scenario events and observations of cases and zones (SCENARIOS.md, "Cases and zones").

Events: positive, convert, contact (the zones' `screening` is a real round: testing_events).
Observations: zones, bulletin, contacts.
"""

from __future__ import annotations

import random
from datetime import date, time, timedelta
from typing import Any

from django.db.models import Count

from bastion import flows
from bastion.bulletin.selectors import bulletin
from bastion.cases import services as case_services
from bastion.cases.models import Case, CaseKind, Contact, ContactKind, ContactStatus, FoundBy
from bastion.city.models import Resident
from bastion.city.selectors import households_within, place_by_address, resident_by_address
from bastion.core import clock
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.scenario.runner import EVENT_KINDS, Context, event, observation
from bastion.scenario.spec import Event
from bastion.zones import selectors as zone_selectors
from bastion.zones.models import Zone, ZoneState


def _text_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key} must be a list of addresses like C1/2/1", code="bad_places")
    return list(value)


def _resident(body: dict[str, Any], key: str = "resident") -> Resident:
    address = body.get(key)
    if not isinstance(address, str):
        raise InvalidInput(f"{key} must be a resident's address like C1/2/1/301#1", code="bad_resident")
    try:
        return resident_by_address(address)
    except NotFound:
        raise NotFound(f"there is no resident {address}", code="unknown_resident") from None


def _draw(body: dict[str, Any]) -> list[Resident]:
    """`count` residents of `within` not yet infected, drawn with `seed`."""
    count, within = body.get("count"), body.get("within")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InvalidInput("count must be a whole number of 1 or more", code="bad_count")
    if not isinstance(within, str):
        raise InvalidInput("within must be an address like C1 or C1/2", code="bad_within")
    place = place_by_address(within)
    households = households_within(
        compound_id=place.compound_id,
        building_id=place.building_id,
        unit_id=place.unit_id,
        household_id=place.household_id,
    )
    candidates = list(
        Resident.objects.filter(household__in=households.values("pk"))
        .exclude(pk__in=Case.objects.values("resident_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if len(candidates) < count:
        raise InvalidInput(
            f"{within} has only {len(candidates)} residents not yet infected, not {count}", code="too_few"
        )
    seed = body.get("seed", 1)
    rng = random.Random(seed if isinstance(seed, int) else 1)  # noqa: S311 - a rehearsal, not a secret
    chosen = set(rng.sample(candidates, count))
    return list(Resident.objects.filter(pk__in=chosen).order_by("pk"))


@event("positive")
def _positive(ctx: Context, ev: Event) -> None:
    body = ev.body
    kind = body.get("kind", CaseKind.CONFIRMED)
    if kind not in CaseKind.values:
        raise InvalidInput("kind must be confirmed or asymptomatic", code="bad_case_kind")
    found_by = body.get("found_by", FoundBy.SCREENING)
    frequent, stayed = _text_list(body, "frequent"), _text_list(body, "stayed")
    residents = [_resident(body)] if "resident" in body else _draw(body)
    now = ctx.clock.now()
    for resident in residents:
        flows.case_reported(
            resident_id=resident.pk,
            kind=kind,
            found_by=found_by,
            frequent=frequent,
            stayed=stayed,
            actor=SYSTEM,
            now=now,
        )


@event("convert")
def _convert(ctx: Context, ev: Event) -> None:
    resident = _resident(ev.body)
    case = Case.objects.filter(resident=resident).first()
    if case is None:
        raise NotFound(f"{ev.body['resident']} is not a case", code="not_a_case")
    case_services.case_convert(case_id=case.pk, actor=SYSTEM, now=ctx.clock.now())


@event("contact")
def _contact(ctx: Context, ev: Event) -> None:
    body = ev.body
    resident = _resident(body)
    of = _resident(body, "of")
    kind = body.get("kind", ContactKind.CLOSE)
    now = ctx.clock.now()
    last_exposure = clock.local_date(ctx.clock.now())
    if "last_exposure_day" in body:
        offset = body["last_exposure_day"]
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise InvalidInput("last_exposure_day must be a day offset", code="bad_exposure_day")
        last_exposure = ctx.scenario.start + timedelta(days=offset)
    if kind == ContactKind.SECONDARY:
        via = Contact.objects.filter(
            resident=of,
            kind=ContactKind.CLOSE,
            status__in=[ContactStatus.QUARANTINED, ContactStatus.MONITORING],
        ).first()
        if via is None:
            raise NotFound(f"{body['of']} is not a close contact in quarantine", code="not_a_close_contact")
        flows.contact_added(
            resident_id=resident.pk,
            kind=kind,
            last_exposure_on=last_exposure,
            via_contact_id=via.pk,
            actor=SYSTEM,
            now=now,
        )
        return
    case = Case.objects.filter(resident=of).first()
    if case is None:
        raise NotFound(f"{body['of']} is not a case", code="not_a_case")
    flows.contact_added(
        resident_id=resident.pk,
        kind=kind,
        last_exposure_on=last_exposure,
        case_id=case.pk,
        actor=SYSTEM,
        now=now,
    )


@observation("zones")
def _observe_zones(ctx: Context, day: int, today: date) -> dict[str, Any]:
    zones = Zone.objects.filter(state=ZoneState.IN_FORCE).order_by("since", "code")
    changes = AuditEntry.objects.filter(
        object_type="zones.zone",
        at__gte=ctx.local(day, time(0, 0)),
        at__lt=ctx.local(day + 1, time(0, 0)),
    ).order_by("at", "id")
    codes = dict(Zone.objects.values_list("pk", "code"))
    return {
        "zones": [
            {
                "code": z.code,
                "level": z.level,
                "scope": z.address,
                "since": z.since.isoformat() if z.since else None,
                "residents": z.residents,
                "reason": z.reason,
                "clock_start": z.clock_start.isoformat(),
            }
            for z in zones
        ],
        "locked_residents": zone_selectors.locked_residents(),
        "zone_changes": [
            {
                "code": codes.get(int(c.object_id), c.object_id),
                "action": c.action.rsplit(".", 1)[-1],
                "level": (c.after or {}).get("level"),
            }
            for c in changes
            if c.action != "zones.zone.screened"
        ],
    }


@observation("contacts")
def _observe_contacts(ctx: Context, day: int, today: date) -> dict[str, Any]:
    """Close and secondary contacts by state at the end of the day (an extension of SCENARIOS.md)."""
    counts: dict[str, dict[str, int]] = {kind: {} for kind in ContactKind.values}
    for kind, status, n in (
        Contact.objects.values_list("kind", "status").annotate(n=Count("id")).order_by("kind", "status")
    ):
        counts[kind][status] = n
    return {"contacts": counts}


@observation("bulletin")
def _observe_bulletin(ctx: Context, day: int, today: date) -> dict[str, Any]:
    report = bulletin(day=today)
    city = report.city

    def figures(f: Any) -> dict[str, Any]:
        return {
            "new_confirmed": f.new_confirmed,
            "new_asymptomatic": f.new_asymptomatic,
            "conversions": f.conversions,
            "cumulative_confirmed": f.cumulative_confirmed,
            "cumulative_asymptomatic": f.cumulative_asymptomatic,
            "found_by": f.found_by,
            "zones_high": f.zones_high,
            "zones_medium": f.zones_medium,
            "samples_current_round": f.samples_current_round,
        }

    return {
        "bulletin": {
            **figures(city),
            "districts": {d.code: figures(d.figures) for d in report.districts},
        }
    }


assert {"positive", "convert", "contact"} <= set(EVENT_KINDS)  # noqa: S101 - registered above
