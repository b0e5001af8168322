"""Console pages of risk zones: the list, a zone and what officers do to it, the map, a
resident's own zone.

Thin: parse, call one service or flow (or read through selectors), render.
A refusal the user can fix (a missing reason, a clock still running) comes back as a message
on the page; a refusal of the role (403) or of the scope (404) is the error page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.cases import selectors as cases
from bastion.cases.models import Case
from bastion.cases.protocol import get as protocol
from bastion.city.selectors import community_list, district_list
from bastion.console.context import actor_of
from bastion.console.forms import ReasonForm, ZoneAdjustForm, ZoneLiftForm, ZoneScreeningForm
from bastion.console.views.common import asked, show_errors
from bastion.core import clock, masking
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import selectors as delivery
from bastion.lockdown import selectors as lockdown
from bastion.supply import selectors as supply
from bastion.transfer import selectors as transfer
from bastion.zones import rules as zone_rules
from bastion.zones import selectors as zones
from bastion.zones import services as zone_services
from bastion.zones.map import zone_map as zone_map_of
from bastion.zones.models import Level, Zone, ZoneState

ZONE_PAGE = 500
# What a user can put right on the page; Forbidden and NotFound stay the error page.
FIXABLE = (InvalidInput, Conflict)


# --- zones --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneLine:
    """A zone with what the pages say about it today."""

    zone: Zone
    clock: zones.Clock | None
    screening_day: int | None  # the day-N of the screening its clock needs
    person_days: int


def _line(zone: Zone, today: date) -> ZoneLine:
    timer = zones.zone_clock(zone, today=today)
    screening_day = timer.screening_day if timer is not None else None
    return ZoneLine(zone, timer, screening_day, zones.person_days(zone, today=today))


def _staff_only(actor: Actor) -> None:
    """Zone lists and the map are for staff; a resident has their own page."""
    if actor.level == ScopeLevel.OWN_HOUSEHOLD:
        raise NotFound()


@login_required
def zone_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    _staff_only(actor)
    shown = "lifted" if asked(request)["state"] == "lifted" else "active"
    states = (ZoneState.LIFTED,) if shown == "lifted" else zones.ACTIVE
    today = clock.today()
    listed = zones.zone_list(actor=actor, states=states)
    # A page is for reading: the first ZONE_PAGE zones, high first; the totals cover them all.
    lines = [_line(z, today) for z in listed[:ZONE_PAGE]]
    # High before medium, then the oldest first: the order a zone officer works through.
    lines.sort(key=lambda line: (-zone_rules.LEVEL_RANK[line.zone.level], line.zone.since or today))
    counted = zones.zone_totals(listed)
    return render(
        request,
        "console/zones/list.html",
        {
            "lines": lines,
            "shown": shown,
            "today": today,
            "totals": {
                "high": counted.high,
                "medium": counted.medium,
                "listed": counted.listed,
                # Each person once, though a unit's zone may lie inside its building's.
                "residents": zones.locked_residents(actor=actor) if shown == "active" else None,
                "person_days": zones.person_days_total([line.zone for line in lines], today=today),
            },
        },
    )


@login_required
def zone_detail(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)
    zone = zones.zone_get(actor=actor, zone_id=zone_id)
    today = clock.today()
    households, residents = zones.zone_counts(zone)
    manages = actor.has("manage_zones") and actor.level != ScopeLevel.OWN_HOUSEHOLD
    context: dict[str, object] = {
        "line": _line(zone, today),
        "zone": zone,
        "households": households,
        "residents": residents,
        "screenings": zones.screenings_of(zone),
        "reason": zones.zone_reason(actor=actor, zone=zone),
        "history": zones.zone_history(actor=actor, zone=zone),
        "staff": actor.level != ScopeLevel.OWN_HOUSEHOLD,
        "manages": manages,
        "today": today,
    }
    if manages:
        context["other_levels"] = [
            (level, Level(level).label) for level in protocol(zone.protocol).levels if level != zone.level
        ]
    if masking.shows(actor, masking.Field.CASE_NUMBER):
        context["cases"] = _zone_cases(actor, zone)
    if actor.has("dispatch_deliveries") and actor.level in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        context["cycle"] = delivery.zone_package(zone_id=zone.pk)
        context["packages"] = list(supply.packages())
    return render(request, "console/zones/zone.html", context)


def _zone_cases(actor: Actor, zone: Zone) -> QuerySet[Case]:
    """The cases that put the zone at risk or restarted its clock, those the actor may see:
    ids, kinds and days only (no names on a zone's page)."""
    return cases.cases_of_zone(actor=actor, zone_id=zone.pk)


def _zone_act(
    request: HttpRequest, zone_id: int, form: Form, act: Callable[[dict[str, Any]], Zone], done: str
) -> HttpResponse:
    """Bind the form; if valid, call the one service; back to the zone's page with what happened."""
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:zone", zone_id=zone_id)
    try:
        zone = act(form.cleaned_data)
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done % {"code": zone.code, "level": Level(zone.level).label})
    return redirect("console:zone", zone_id=zone_id)


@login_required
@require_POST
def zone_confirm(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)
    return _zone_act(
        request,
        zone_id,
        Form(request.POST),
        lambda _data: flows.zone_confirmed(zone_id=zone_id, actor=actor, now=clock.now()),
        _("Zone %(code)s is in force."),
    )


@login_required
@require_POST
def zone_reject(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)
    return _zone_act(
        request,
        zone_id,
        ReasonForm(request.POST),
        lambda data: zone_services.zone_reject(
            zone_id=zone_id, reason=data["reason"], actor=actor, now=clock.now()
        ),
        _("Zone %(code)s was rejected."),
    )


@login_required
@require_POST
def zone_lift(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)
    return _zone_act(
        request,
        zone_id,
        ZoneLiftForm(request.POST),
        lambda data: flows.zone_lifted(
            zone_id=zone_id, reason=data["reason"], override=data["override"], actor=actor, now=clock.now()
        ),
        _("Zone %(code)s was lifted."),
    )


@login_required
@require_POST
def zone_adjust(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)
    return _zone_act(
        request,
        zone_id,
        ZoneAdjustForm(request.POST),
        lambda data: flows.zone_adjusted(
            zone_id=zone_id, level=data["level"], reason=data["reason"], actor=actor, now=clock.now()
        ),
        _("Zone %(code)s is now at %(level)s."),
    )


@login_required
@require_POST
def zone_screening(request: HttpRequest, zone_id: int) -> HttpResponse:
    actor = actor_of(request)

    def record(data: dict[str, Any]) -> Zone:
        zone_services.zone_screening_record(
            zone_id=zone_id,
            on=data["on"] or clock.today(),
            all_negative=data["result"] == "negative",
            sampled=data["sampled"],
            actor=actor,
            now=clock.now(),
        )
        return zones.zone_get(actor=actor, zone_id=zone_id)

    return _zone_act(
        request,
        zone_id,
        ZoneScreeningForm(request.POST),
        record,
        _("The screening of zone %(code)s was recorded."),
    )


@login_required
def zone_map(request: HttpRequest) -> HttpResponse:
    """The map of a community, or of a district for city and district staff."""
    actor = actor_of(request)
    _staff_only(actor)
    query = asked(request)
    community_id, district_id = query["community"], query["district"]
    if actor.level == ScopeLevel.COMMUNITY:
        community_id = community_id or actor.community_id
        places: list[tuple[str, int, str]] = []
    else:
        districts = [d for d, _figures in district_list(actor=actor)] if actor.has("view_registry") else []
        if district_id is None and community_id is None:
            district_id = actor.district_id or (districts[0].pk if districts else None)
        places = [("district", d.pk, d.name) for d in districts]
        if district_id is not None and actor.has("view_registry"):
            places += [
                ("community", c.pk, f"· {c.name}")
                for c, _f in community_list(actor=actor, district_id=district_id)
            ]
    if district_id is None and community_id is None:
        raise NotFound()
    drawn = zone_map_of(actor=actor, district_id=district_id, community_id=community_id)
    return render(
        request,
        "console/zones/map.html",
        {
            "map": drawn,
            "places": places,
            "district_id": district_id,
            "community_id": community_id,
            "counts": {
                "high": sum(1 for b in drawn.buildings if b.level == Level.HIGH),
                "medium": sum(1 for b in drawn.buildings if b.level == Level.MEDIUM),
                "none": sum(1 for b in drawn.buildings if b.level is None),
            },
        },
    )


def own_zones(actor: Actor, today: date) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The zones over a resident's household, in force and lifted: each its line, its reason in
    the words the resident may read, its history."""
    current: list[dict[str, object]] = []
    past: list[dict[str, object]] = []
    for zone in zones.zones_over_own_household(actor):
        entry = {
            "line": _line(zone, today),
            "reason": zones.zone_reason(actor=actor, zone=zone),
            "history": zones.zone_history(actor=actor, zone=zone),
        }
        (current if zone.state == ZoneState.IN_FORCE else past).append(entry)
    return current, past


@login_required
def my_zone(request: HttpRequest) -> HttpResponse:
    """A resident: the zones their household lies in, why, their history, and how they are served."""
    actor = actor_of(request)
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    today = clock.today()
    current, past = own_zones(actor, today)
    return render(
        request,
        "console/zones/my_zone.html",
        {
            "current": current,
            "past": past[:10],
            "mode": lockdown.service_mode(household_id=actor.household_id),
            "today": today,
            "transfers": transfer.household_transfers(actor=actor),
        },
    )
