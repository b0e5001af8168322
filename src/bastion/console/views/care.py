"""Console pages of medical care under lockdown: a community worker's residents with standing
needs and their upcoming and missed trips (with the forms to add and end a need, and to call an
emergency), and the day's trips to treatment for those who follow them. Thin: bind a form, call
one service, render through the selectors."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion.care import rules, selectors, services
from bastion.care.models import NeedKind
from bastion.console.context import actor_of
from bastion.console.forms import EmergencyForm, NeedForm, ReasonForm
from bastion.console.views.common import day_asked, show_errors
from bastion.core import clock
from bastion.core.errors import Conflict, InvalidInput, InvalidTransition, NotFound

FIXABLE = (InvalidInput, Conflict, NotFound)


def _page(request: HttpRequest, form: NeedForm | None = None, status: int = 200) -> HttpResponse:
    actor = actor_of(request)
    today = clock.today()
    return render(
        request,
        "console/care/care.html",
        {
            "residents": selectors.residents_with_needs(actor=actor, today=today),
            # Emergencies and yellow-code trips, of residents with or without a standing need.
            "calls": [t for t in selectors.trips_for_board(actor, today) if t.purpose != rules.SESSION],
            "form": form or NeedForm(initial={"since": today.isoformat()}, actor=actor),
            "kinds": NeedKind.choices,
            "weekdays": NeedForm.base_fields["weekdays"].choices,  # type: ignore[attr-defined]
            "today": today,
            "can_call": actor.has("call_emergency"),
        },
        status=status,
    )


@login_required
def care(request: HttpRequest) -> HttpResponse:
    """The community's residents with standing needs, their trips, and the forms."""
    actor = actor_of(request)
    actor.require("keep_medical_needs")
    return _page(request)


@login_required
@require_POST
def need_add(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    actor.require("keep_medical_needs")
    form = NeedForm(request.POST, actor=actor)
    if not form.is_valid():
        return _page(request, form, status=422)
    data = form.cleaned_data
    fields = services.NeedFields(
        kind=data["kind"],
        since=data["since"] or clock.today(),
        until=data["until"],
        weekdays=form.weekday_numbers(),
        dates=data["dates"],
        session_time=data["session_time"],
        place=data["place"],
        due_on=data["due_on"],
        note=data["note"],
    )
    try:
        need = services.need_add(resident_id=data["resident"], fields=fields, actor=actor, now=clock.now())
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
        return _page(request, form, status=exc.status)
    planned = need.trips.count()
    messages.success(
        request,
        _("The %(kind)s need was recorded; %(trips)s trips planned.")
        % {"kind": NeedKind(need.kind).label, "trips": planned},
    )
    return redirect("console:care")


@login_required
@require_POST
def need_end(request: HttpRequest, need_id: int) -> HttpResponse:
    actor = actor_of(request)
    actor.require("keep_medical_needs")
    form = ReasonForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:care")
    try:
        services.need_end(need_id=need_id, reason=form.cleaned_data["reason"], actor=actor, now=clock.now())
    except (InvalidInput, InvalidTransition) as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The need was ended; its planned trips were withdrawn."))
    return redirect("console:care")


@login_required
@require_POST
def emergency(request: HttpRequest) -> HttpResponse:
    """An emergency call: a trip at once, whatever the resident's results, code or pass."""
    actor = actor_of(request)
    actor.require("call_emergency")
    back = "console:care" if actor.has("keep_medical_needs") else "console:care_trips"
    form = EmergencyForm(request.POST, actor=actor)
    if not form.is_valid():
        show_errors(request, form)
        return redirect(back)
    trip = services.emergency_call(
        resident_id=form.cleaned_data["resident"],
        note=form.cleaned_data["note"],
        actor=actor,
        now=clock.now(),
    )
    messages.success(
        request,
        _("Emergency trip %(trip)s opened: it is on top of the dispatcher's board.") % {"trip": trip.pk},
    )
    return redirect(back)


@login_required
def trips(request: HttpRequest) -> HttpResponse:
    """The day's trips to treatment, as the dispatcher's board lists them."""
    actor = actor_of(request)
    actor.require("view_trips")
    day = day_asked(request)
    return render(
        request,
        "console/care/trips.html",
        {
            "day": day,
            "trips": selectors.trips_for_board(actor, day),
            "figures": selectors.figures(actor=actor, day=day),
            "can_call": actor.has("call_emergency"),
        },
    )
