"""Console pages of cases: the day's cases, a case and its contacts, a new case, a batch of
cases from a file, and the protocol in force.

Thin: parse, call one service or flow (or read through selectors), render.
A refusal the user can fix comes back as a message on the page; a refusal of the role (403)
or of the scope (404) is the error page.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.cases import selectors as cases
from bastion.cases import services as case_services
from bastion.cases.batch import CaseBatchRejected, read_batch
from bastion.cases.models import CaseKind, ContactKind, FoundBy, PlaceType
from bastion.city.selectors import resident_by_address
from bastion.console.context import actor_of
from bastion.console.views.common import date_field, day_asked, whole_number
from bastion.core import clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.files import Problem
from bastion.core.roles import ScopeLevel
from bastion.zones import selectors as zones
from bastion.zones import services as zone_services
from bastion.zones.models import Area, Level

# What a user can put right on the page; Forbidden and NotFound stay the error page.
FIXABLE = (InvalidInput, Conflict)

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
    days = [date_field(part, parts[0]) for part in parts[2:4]]
    return case_services.Stay(
        parts[0],
        PLACE_TYPES[kind],
        frequent,
        days[0] if days else None,
        days[1] if len(days) > 1 else (days[0] if days else None),
    )


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


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
            since = date_field(request.POST.get("since", ""), _("From")) or clock.today()
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
        "console/cases/protocol.html",
        {
            "state": state,
            "shown": [(p, Area(p.high_minimum).label) for p in state.available],
            "can_adopt": can_adopt,
            "today": clock.today(),
        },
        status=status,
    )


# --- cases --------------------------------------------------------------------------------


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    day = day_asked(request)
    return render(
        request,
        "console/cases/list.html",
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
        "console/cases/case.html",
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
                onset_on=date_field(form["onset_on"], _("Onset")),
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
        "console/cases/new.html",
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
    return render(request, "console/cases/batch.html", {"problems": problems}, status=status)


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
            close = {
                c.id for c in cases.contact_list(actor=actor, case_id=case_id) if c.kind == ContactKind.CLOSE
            }
            via_id = whole_number(via)
            if kind == ContactKind.SECONDARY and via_id not in close:
                raise InvalidInput(_("Choose the close contact the secondary contact met."))
            last = date_field(request.POST.get("last_exposure_on", ""), _("Last exposure"))
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
