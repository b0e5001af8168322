"""Console pages of the outbreak: risk zones, their map, the daily bulletin, cases and contacts.

Thin like views.py: parse, call one service or flow (or read through selectors), render.
A refusal the user can fix (a missing reason, a clock still running) comes back as a message
on the page; a refusal of the role (403) or of the scope (404) is the error page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.bulletin.selectors import bulletin as bulletin_of
from bastion.cases import rules as case_rules
from bastion.cases import selectors as cases
from bastion.cases import services as case_services
from bastion.cases.batch import CaseBatchRejected, read_batch
from bastion.cases.models import Case, CaseKind, ContactKind, FoundBy, PlaceType
from bastion.cases.protocol import get as protocol
from bastion.city.selectors import community_list, district_list, resident_by_address
from bastion.console.context import actor_of
from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.files import Problem
from bastion.core.models import AuditEntry
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import selectors as delivery
from bastion.lockdown import selectors as lockdown
from bastion.supply import selectors as supply
from bastion.zones import selectors as zones
from bastion.zones import services as zone_services
from bastion.zones.map import zone_map as zone_map_of
from bastion.zones.models import Area, Level, Zone, ZoneState

ZONE_PAGE = 500
LEVEL_ORDER: dict[str, int] = {Level.HIGH: 0, Level.MEDIUM: 1, Level.LOW: 2}
# What a user can put right on the page; Forbidden and NotFound stay the error page.
FIXABLE = (InvalidInput, Conflict)


def _day(request: HttpRequest, name: str = "day") -> date:
    """The day asked for in the query string, else today (with a message if it was not a day)."""
    text = request.GET.get(name, "").strip()
    if not text:
        return clock.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        messages.error(request, _("%(text)s is not a day like 2022-09-01.") % {"text": text})
        return clock.today()


def _date_field(value: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(_("%(field)s is not a day like 2022-09-01.") % {"field": label}) from None


PLACE_TYPES = {
    "workplace": PlaceType.WORKPLACE,
    "work": PlaceType.WORKPLACE,
    "单位": PlaceType.WORKPLACE,
    "工作单位": PlaceType.WORKPLACE,
    "shop": PlaceType.SHOP,
    "market": PlaceType.SHOP,
    "商超": PlaceType.SHOP,
    "市场": PlaceType.SHOP,
    "other": PlaceType.OTHER,
    "其他": PlaceType.OTHER,
}


def _stay(line: str, *, frequent: bool) -> case_services.Stay:
    """`C3/1` or `C3/1, workplace, 2022-08-28, 2022-08-31` (type and days optional)."""
    parts = [part.strip() for part in line.replace("，", ",").split(",")]
    kind = parts[1].lower() if len(parts) > 1 and parts[1] else "other"
    if kind not in PLACE_TYPES:
        raise InvalidInput(
            _("%(line)s: the kind of place is workplace, shop or other.") % {"line": line},
            code="bad_place_type",
        )
    days = [_date_field(part, parts[0]) for part in parts[2:4]]
    return case_services.Stay(
        parts[0],
        PLACE_TYPES[kind],
        frequent,
        days[0] if days else None,
        days[1] if len(days) > 1 else (days[0] if days else None),
    )


def _number(text: str) -> int | None:
    """A whole number typed in ASCII digits, else None ("²" is a digit to Python, not to int)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


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
    screening_day = None
    if timer is not None and timer.screening_on is not None:
        screening_day = (timer.screening_on - zone.clock_start).days
    return ZoneLine(zone, timer, screening_day, zones.person_days(zone, today=today))


def _staff_only(actor: Actor) -> None:
    """Zone lists and the map are for staff; a resident has their own page."""
    if actor.level == ScopeLevel.OWN_HOUSEHOLD:
        raise NotFound()


@login_required
def zone_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    _staff_only(actor)
    shown = "lifted" if request.GET.get("state") == "lifted" else "active"
    states = (ZoneState.LIFTED,) if shown == "lifted" else zones.ACTIVE
    today = clock.today()
    listed = zones.zone_list(actor=actor, states=states)
    # A page is for reading: the first ZONE_PAGE zones, high first; the totals cover them all.
    lines = [_line(z, today) for z in listed[:ZONE_PAGE]]
    # High before medium, then the oldest first: the order a zone officer works through.
    lines.sort(key=lambda line: (LEVEL_ORDER.get(line.zone.level, 3), line.zone.since or today))
    return render(
        request,
        "console/zones.html",
        {
            "lines": lines,
            "shown": shown,
            "today": today,
            "totals": {
                "high": listed.filter(state=ZoneState.IN_FORCE, level=Level.HIGH).count(),
                "medium": listed.filter(state=ZoneState.IN_FORCE, level=Level.MEDIUM).count(),
                "listed": listed.count(),
                # Each person once, though a unit's zone may lie inside its building's.
                "residents": zones.locked_residents(actor=actor) if shown == "active" else None,
                "person_days": zones.person_days_total([line.zone for line in lines], today=today),
            },
        },
    )


def _history(zone: Zone) -> QuerySet[AuditEntry]:
    return audit.trail(object_type="zones.zone", object_id=zone.pk).order_by("at", "id")


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
        "history": _history(zone),
        "staff": actor.level != ScopeLevel.OWN_HOUSEHOLD,
        "manages": manages,
        "today": today,
    }
    if manages:
        context["other_levels"] = [
            (level, Level(level).label) for level in protocol(zone.protocol).levels if level != zone.level
        ]
    if actor.has("view_cases"):
        context["cases"] = _zone_cases(actor, zone)
    if actor.has("dispatch_deliveries") and actor.level in (ScopeLevel.CITY, ScopeLevel.DISTRICT):
        context["cycle"] = delivery.zone_package(zone_id=zone.pk)
        context["packages"] = list(supply.catalogue().filter(package=True))
    return render(request, "console/zone.html", context)


def _zone_cases(actor: Actor, zone: Zone) -> QuerySet[Case]:
    """The cases that put the zone at risk or restarted its clock, those the actor may see:
    ids, kinds and days only (no names on a zone's page)."""
    return cases.cases_visible(actor).filter(zone_links__zone_id=zone.pk).order_by("reported_at", "id")


def _zone_action(request: HttpRequest, zone_id: int, act: str) -> HttpResponse:
    actor = actor_of(request)
    reason = request.POST.get("reason", "")
    now = clock.now()
    try:
        if act == "confirm":
            zone = zone_services.zone_confirm(zone_id=zone_id, actor=actor, now=now)
            done = _("Zone %(code)s is in force.")
        elif act == "reject":
            zone = zone_services.zone_reject(zone_id=zone_id, reason=reason, actor=actor, now=now)
            done = _("Zone %(code)s was rejected.")
        elif act == "lift":
            zone = zone_services.zone_lift(
                zone_id=zone_id, reason=reason, override="override" in request.POST, actor=actor, now=now
            )
            done = _("Zone %(code)s was lifted.")
        elif act == "adjust":
            zone = zone_services.zone_adjust(
                zone_id=zone_id, level=request.POST.get("level", ""), reason=reason, actor=actor, now=now
            )
            done = _("Zone %(code)s is now at %(level)s.")
        else:  # screening
            on = _date_field(request.POST.get("on", ""), _("Day")) or clock.today()
            sampled_text = request.POST.get("sampled", "").strip()
            sampled = _number(sampled_text)
            if sampled_text and sampled is None:
                raise InvalidInput(_("Sampled is a number of people."))
            result = request.POST.get("result", "")
            if result not in ("negative", "positive"):
                raise InvalidInput(_("Say whether the screening was all negative or found positives."))
            zone_services.zone_screening_record(
                zone_id=zone_id,
                on=on,
                all_negative=result == "negative",
                sampled=sampled,
                actor=actor,
                now=now,
            )
            zone = zones.zone_get(actor=actor, zone_id=zone_id)
            done = _("The screening of zone %(code)s was recorded.")
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, done % {"code": zone.code, "level": Level(zone.level).label})
    return redirect("console:zone", zone_id=zone_id)


@login_required
@require_POST
def zone_confirm(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_action(request, zone_id, "confirm")


@login_required
@require_POST
def zone_reject(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_action(request, zone_id, "reject")


@login_required
@require_POST
def zone_lift(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_action(request, zone_id, "lift")


@login_required
@require_POST
def zone_adjust(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_action(request, zone_id, "adjust")


@login_required
@require_POST
def zone_screening(request: HttpRequest, zone_id: int) -> HttpResponse:
    return _zone_action(request, zone_id, "screening")


def _int_param(request: HttpRequest, name: str) -> int | None:
    return _number(request.GET.get(name, ""))


@login_required
def zone_map(request: HttpRequest) -> HttpResponse:
    """The map of a community, or of a district for city and district staff."""
    actor = actor_of(request)
    _staff_only(actor)
    community_id = _int_param(request, "community")
    district_id = _int_param(request, "district")
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
        "console/zone_map.html",
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


@login_required
def my_zone(request: HttpRequest) -> HttpResponse:
    """A resident: the zones their household lies in, why, their history, and how they are served."""
    actor = actor_of(request)
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    today = clock.today()
    covering = zones.zones_visible(actor).filter(state__in=(ZoneState.IN_FORCE, ZoneState.LIFTED))
    current: list[dict[str, object]] = []
    past: list[dict[str, object]] = []
    for zone in covering.prefetch_related("screenings").order_by("-since", "-id"):
        entry = {"line": _line(zone, today), "history": list(_history(zone))}
        (current if zone.state == ZoneState.IN_FORCE else past).append(entry)
    return render(
        request,
        "console/my_zone.html",
        {
            "current": current,
            "past": past[:10],
            "mode": lockdown.service_mode(household_id=actor.household_id),
            "today": today,
        },
    )


# --- bulletin -----------------------------------------------------------------------------


@login_required
def protocol_page(request: HttpRequest) -> HttpResponse:
    """The protocol in force and its rules, as data; the command centre adopts another."""
    actor = actor_of(request)
    can_adopt = actor.has("manage_zones") and actor.level == ScopeLevel.CITY
    status = 200
    if request.method == "POST":
        if not can_adopt:
            raise Forbidden()
        try:
            since = _date_field(request.POST.get("since", ""), _("From")) or clock.today()
            case_services.protocol_adopt(
                protocol=request.POST.get("protocol", ""),
                since=since,
                reason=request.POST.get("reason", ""),
                actor=actor,
                now=clock.now(),
            )
        except FIXABLE as exc:
            messages.error(request, str(exc.message))
            status = exc.status
        else:
            messages.success(request, _("The protocol was adopted."))
            return redirect("console:protocol")
    state = cases.protocol_state(today=clock.today())
    return render(
        request,
        "console/protocol.html",
        {
            "state": state,
            "shown": [(p, Area(p.high_minimum).label) for p in state.available],
            "can_adopt": can_adopt,
            "today": clock.today(),
        },
        status=status,
    )


@login_required
def bulletin(request: HttpRequest) -> HttpResponse:
    actor_of(request)  # published figures: any account may read them
    day = _day(request)
    return render(
        request, "console/bulletin.html", {"bulletin": bulletin_of(day=day), "today": clock.today()}
    )


@login_required
def bulletin_print(request: HttpRequest) -> HttpResponse:
    actor_of(request)
    day = _day(request)
    return render(request, "console/bulletin_print.html", {"bulletin": bulletin_of(day=day)})


# --- cases --------------------------------------------------------------------------------


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    day = _day(request)
    return render(
        request,
        "console/cases.html",
        {
            "rows": cases.case_list(actor=actor, reported_on=day),
            "day": day,
            "previous": day - timedelta(days=1) if day > date.min else None,
            "next": day + timedelta(days=1) if day < clock.today() else None,
            "manages": actor.has("manage_cases"),
        },
    )


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = actor_of(request)
    row = cases.case_view(actor=actor, case_id=case_id)
    contacts = cases.contact_list(actor=actor, case_id=case_id)
    return render(
        request,
        "console/case.html",
        {
            "case": row,
            "contacts": contacts,
            "close_contacts": [c for c in contacts if c.kind == ContactKind.CLOSE],
            # Case ids are checked in scope by case_view above.
            "places": cases.case_places(actor=actor, case_id=row.id),
            "chain": cases.case_chain(actor=actor, case_id=case_id),
            "zones": zones.zones_visible(actor).filter(case_links__case_id=row.id).order_by("code"),
            "manages": actor.has("manage_cases"),
            "secondary_contacts": cases.protocol_on(clock.today()).secondary_contacts,
            "today": clock.today(),
        },
    )


def _resident_id(address: str) -> int:
    address = address.strip()
    if not address:
        raise InvalidInput(_("Give the resident's address, like C1/2/1/301#1."))
    try:
        return resident_by_address(address).pk
    except (ValueError, NotFound):
        raise InvalidInput(
            _("There is no resident %(address)s (an address like C1/2/1/301#1).") % {"address": address}
        ) from None


CASE_FIELDS = ("resident", "kind", "found_by", "onset_on", "frequent", "stayed")


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    actor.require("manage_cases")
    form = {name: request.POST.get(name, "") for name in CASE_FIELDS}
    status = 200
    if request.method == "POST":
        try:
            reported = flows.case_reported(
                resident_id=_resident_id(form["resident"]),
                kind=form["kind"],
                found_by=form["found_by"],
                onset_on=_date_field(form["onset_on"], _("Onset")),
                places=[
                    *(_stay(line, frequent=True) for line in _lines(form["frequent"])),
                    *(_stay(line, frequent=False) for line in _lines(form["stayed"])),
                ],
                actor=actor,
                now=clock.now(),
            )
        except NotFound as exc:
            # An address of the places, or a resident outside the actor's area: fixable here.
            messages.error(request, str(exc.message))
            status = 422
        except FIXABLE as exc:
            messages.error(request, str(exc.message))
            status = exc.status
        else:
            messages.success(request, _("Case %(case)s was opened.") % {"case": reported.case.pk})
            for change in reported.zone_changes:
                messages.info(request, _zone_change_text(change))
            return redirect("console:case", case_id=reported.case.pk)
    return render(
        request,
        "console/case_new.html",
        {"form": form, "kinds": CaseKind.choices, "found_by": FoundBy.choices, "today": clock.today()},
        status=status,
    )


@login_required
def case_batch(request: HttpRequest) -> HttpResponse:
    """Upload a CSV or XLSX file of cases (docs/CASES_FORMAT.md): all reported, or none with
    every problem listed by row and column."""
    actor = actor_of(request)
    actor.require("manage_cases")
    problems: list[Problem] = []
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a CSV or XLSX file first."))
            status = 422
        else:
            now = clock.now()
            try:
                rows = read_batch(upload.read(), filename=upload.name or "", actor=actor, now=now)
                reported = flows.cases_reported_batch(rows=rows, actor=actor, now=now)
            except CaseBatchRejected as exc:
                messages.error(request, str(exc.message))
                problems, status = exc.problems, 422
            except FIXABLE as exc:
                messages.error(request, str(exc.message))
                status = exc.status
            else:
                zones_changed = sum(len(outcome.zone_changes) for _row, outcome in reported)
                messages.success(
                    request,
                    _("%(cases)d cases were reported; %(zones)d zone changes followed.")
                    % {"cases": len(reported), "zones": zones_changed},
                )
                return redirect("console:cases")
    return render(request, "console/case_batch.html", {"problems": problems}, status=status)


def _zone_change_text(change: zone_services.ZoneChange) -> str:
    words = {
        "designated": _("Zone %(code)s (%(address)s) is in force at %(level)s."),
        "proposed": _("Zone %(code)s (%(address)s) is proposed at %(level)s: an officer must confirm it."),
        "raised": _("Zone %(code)s (%(address)s) was raised to %(level)s."),
        "clock_restarted": _("The clock of zone %(code)s (%(address)s) restarts today."),
        "linked": _("The case was linked to zone %(code)s (%(address)s)."),
    }
    zone = change.zone
    text = words.get(change.what, words["linked"])
    return text % {"code": zone.code, "address": zone.address, "level": Level(zone.level).label}


def _case_action(request: HttpRequest, case_id: int, act: str) -> HttpResponse:
    actor = actor_of(request)
    reason = request.POST.get("reason", "")
    now = clock.now()
    try:
        if act == "convert":
            case_services.case_convert(case_id=case_id, reason=reason, actor=actor, now=now)
            messages.success(request, _("Case %(case)s is now confirmed.") % {"case": case_id})
        elif act == "discharge":
            case_services.case_discharge(case_id=case_id, reason=reason, actor=actor, now=now)
            messages.success(request, _("Case %(case)s was discharged.") % {"case": case_id})
        else:
            kind = request.POST.get("kind", "")
            via = request.POST.get("via", "")
            # The services look the case and the close contact up by id alone: check the
            # actor's scope here (404), and that the close contact is one of this case's.
            close = cases.close_contact_ids(actor=actor, case_id=case_id)
            via_id = _number(via)
            if not case_rules.secondary_contact_linked(kind=kind, via_id=via_id, close_contact_ids=close):
                raise InvalidInput(_("Choose the close contact the secondary contact met."))
            last = _date_field(request.POST.get("last_exposure_on", ""), _("Last exposure"))
            if last is None:
                raise InvalidInput(_("Give the day of the last exposure."))
            contact = case_services.contact_add(
                resident_id=_resident_id(request.POST.get("resident", "")),
                kind=kind,
                last_exposure_on=last,
                case_id=case_id if kind != ContactKind.SECONDARY else None,
                via_contact_id=via_id if kind == ContactKind.SECONDARY else None,
                actor=actor,
                now=now,
            )
            messages.success(
                request,
                _("Contact listed: quarantine until %(day)s.")
                % {"day": contact.quarantine_until.isoformat()},
            )
    except NotFound as exc:
        if act != "contact" or not cases.cases_visible(actor).filter(pk=case_id).exists():
            raise
        messages.error(request, str(exc.message))
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    return redirect("console:case", case_id=case_id)


@login_required
@require_POST
def case_convert(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_action(request, case_id, "convert")


@login_required
@require_POST
def case_discharge(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_action(request, case_id, "discharge")


@login_required
@require_POST
def contact_add(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_action(request, case_id, "contact")
