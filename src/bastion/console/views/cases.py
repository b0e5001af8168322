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
from bastion.cases import rules as case_rules
from bastion.cases import selectors as cases
from bastion.cases import services as case_services
from bastion.cases.batch import CaseBatchRejected, read_batch
from bastion.cases.models import CaseKind, ContactKind, FoundBy
from bastion.console.context import actor_of
from bastion.console.forms import CaseBatchForm, CaseForm, ContactForm, ProtocolForm, ReasonForm
from bastion.console.views.common import day_asked, show_errors
from bastion.core import clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.zones import selectors as zones
from bastion.zones import services as zone_services
from bastion.zones.models import Area, Level

# What a user can put right on the page; Forbidden and NotFound stay the error page.
FIXABLE = (InvalidInput, Conflict)


@login_required
def protocol_page(request: HttpRequest) -> HttpResponse:
    """The protocol in force and its rules, as data; the command centre adopts another."""
    actor = actor_of(request)
    can_adopt = actor.has("manage_zones") and actor.level == ScopeLevel.CITY
    status = 200
    form = ProtocolForm()
    if request.method == "POST":
        if not can_adopt:
            raise Forbidden()
        form = ProtocolForm(request.POST)
        if not form.is_valid():
            status = 422
        else:
            try:
                case_services.protocol_adopt(
                    protocol=form.cleaned_data["protocol"],
                    since=form.cleaned_data["since"] or clock.today(),
                    reason=form.cleaned_data["reason"],
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
            "form": form,
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
            "zones": zones.zones_of_case(actor=actor, case_id=row.id),
            "manages": actor.has("manage_cases"),
            "secondary_contacts": cases.protocol_on(clock.today()).secondary_contacts,
            "today": clock.today(),
        },
    )


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    actor.require("manage_cases")
    form = CaseForm(initial={"found_by": FoundBy.COMMUNITY}, actor=actor)
    status = 200
    if request.method == "POST":
        form = CaseForm(request.POST, actor=actor)
        if not form.is_valid():
            status = 422
        else:
            try:
                reported = flows.case_reported(
                    resident_id=form.cleaned_data["resident"],
                    kind=form.cleaned_data["kind"],
                    found_by=form.cleaned_data["found_by"],
                    onset_on=form.cleaned_data["onset_on"],
                    places=form.places(),
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
    problems: CaseBatchRejected | None = None
    status = 200
    form = CaseBatchForm()
    if request.method == "POST":
        form = CaseBatchForm(request.POST, request.FILES)
        if not form.is_valid():
            status = 422
        else:
            upload = form.cleaned_data["file"]
            now = clock.now()
            try:
                rows = read_batch(
                    upload,
                    filename=upload.name or "",
                    encoding=form.cleaned_data["encoding"],
                    actor=actor,
                    now=now,
                )
                reported = flows.cases_reported_batch(rows=rows, actor=actor, now=now)
            except CaseBatchRejected as exc:
                messages.error(request, str(exc.message))
                problems, status = exc, 422
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
    return render(request, "console/cases/batch.html", {"problems": problems, "form": form}, status=status)


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


def _case_act(request: HttpRequest, case_id: int, act: str) -> HttpResponse:
    """Convert or discharge: the reason (the service says when one is needed), one service."""
    actor = actor_of(request)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:case", case_id=case_id)
    reason = form.cleaned_data["reason"]
    now = clock.now()
    try:
        if act == "convert":
            case_services.case_convert(case_id=case_id, reason=reason, actor=actor, now=now)
            messages.success(request, _("Case %(case)s is now confirmed.") % {"case": case_id})
        else:
            flows.case_discharged(case_id=case_id, reason=reason, actor=actor, now=now)
            messages.success(request, _("Case %(case)s was discharged.") % {"case": case_id})
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    return redirect("console:case", case_id=case_id)


@login_required
@require_POST
def case_convert(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_act(request, case_id, "convert")


@login_required
@require_POST
def case_discharge(request: HttpRequest, case_id: int) -> HttpResponse:
    return _case_act(request, case_id, "discharge")


@login_required
@require_POST
def contact_add(request: HttpRequest, case_id: int) -> HttpResponse:
    actor = actor_of(request)
    form = ContactForm(request.POST, actor=actor)
    if not form.is_valid():
        cases.case_view(actor=actor, case_id=case_id)  # a case out of the actor's scope: 404
        show_errors(request, form)
        return redirect("console:case", case_id=case_id)
    kind = form.cleaned_data["kind"]
    try:
        # The services look the case and the close contact up by id alone: check the
        # actor's scope here (404), and that the close contact is one of this case's.
        close = cases.close_contact_ids(actor=actor, case_id=case_id)
        via_id = form.cleaned_data["via"]
        if not case_rules.secondary_contact_linked(kind=kind, via_id=via_id, close_contact_ids=close):
            raise InvalidInput(_("Choose the close contact the secondary contact met."))
        contact = flows.contact_added(
            resident_id=form.cleaned_data["resident"],
            kind=kind,
            last_exposure_on=form.cleaned_data["last_exposure_on"],
            case_id=case_id if kind != ContactKind.SECONDARY else None,
            via_contact_id=via_id if kind == ContactKind.SECONDARY else None,
            actor=actor,
            now=clock.now(),
        )
    except NotFound as exc:
        if not cases.case_visible(actor=actor, case_id=case_id):
            raise
        messages.error(request, str(exc.message))
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Contact listed: quarantine until %(day)s.") % {"day": contact.quarantine_until.isoformat()},
        )
    return redirect("console:case", case_id=case_id)
