"""The resident's own page: one page on a phone for their household — each member's health
code and why, the zone and its clock, recent tests and any recall, quarantine, transfer, the
week's orders with their recipient codes. Thin: the contexts' selectors for the actor's own
household, nothing computed here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.appeals import selectors as appeals
from bastion.appeals import services as appeal_services
from bastion.cases import selectors as cases
from bastion.city import selectors as city
from bastion.codes import selectors as codes
from bastion.console.context import actor_of
from bastion.console.forms import AppealRaiseForm, AppealRateForm
from bastion.console.qr import qr_svg
from bastion.console.views.common import show_errors
from bastion.console.views.zones import own_zones
from bastion.core import clock
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import selectors as delivery
from bastion.lockdown import selectors as lockdown
from bastion.testing import selectors as testing
from bastion.transfer import selectors as transfer

# How far back the page shows a household's tests.
TESTS_DAYS = 14


FIXABLE = (InvalidInput, Conflict, NotFound)


def _resident(request: HttpRequest) -> tuple[Actor, int]:
    actor = actor_of(request)
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    return actor, actor.household_id


@login_required
def my_page(request: HttpRequest) -> HttpResponse:
    actor, household_id = _resident(request)
    today, now = clock.today(), clock.now()
    members = city.household_residents(actor=actor, household_id=household_id, today=today)
    coded = []
    for member in members:
        code = (
            codes.code_of(actor=actor, resident_id=member.id, history=0) if actor.has("view_codes") else None
        )
        coded.append((member, code, qr_svg(code.token) if code is not None else ""))
    tests, recalls = testing.own_tests(actor=actor, since=now - timedelta(days=TESTS_DAYS))
    name = {m.number: m.name for m in members}
    current, _past = own_zones(actor, today)
    return render(
        request,
        "console/me/page.html",
        {
            "members": coded,
            "zones": current,
            "mode": lockdown.service_mode(household_id=household_id),
            "tests": [(name.get(t.number, ""), t) for t in tests],
            "recalls": [(name.get(r.number, ""), r) for r in recalls],
            "tests_days": TESTS_DAYS,
            "quarantines": [(name.get(q.number, ""), q) for q in cases.own_quarantines(actor=actor)],
            "transfers": transfer.household_transfers(actor=actor),
            "orders": list(delivery.household_orders(actor=actor)) if actor.has("place_orders") else None,
            "appeals": appeals.appeals_list(actor=actor, household_id=household_id, now=now)
            if actor.has("view_appeals")
            else None,
            "appeal_form": AppealRaiseForm(members=[(m.number, m.name) for m in members])
            if actor.has("raise_appeals")
            else None,
            "today": today,
        },
    )


@login_required
@require_POST
def appeal_raise(request: HttpRequest) -> HttpResponse:
    """A resident raises an appeal for their household from their page; it goes to its owner with
    its deadlines at once (appeals' triage), and the page says who and by when."""
    actor, household_id = _resident(request)
    actor.require("raise_appeals")
    members = city.household_residents(actor=actor, household_id=household_id, today=clock.today())
    form = AppealRaiseForm(request.POST, members=[(m.number, m.name) for m in members])
    if not form.is_valid():
        show_errors(request, form)
        return redirect(reverse("console:me") + "#appeals")
    member = form.cleaned_data["member"]
    try:
        raised = flows.appeal_raised(
            household_id=household_id,
            category=form.cleaned_data["category"],
            urgency=form.cleaned_data["urgency"],
            resident_id=next((m.id for m in members if m.number == member), None),
            text=form.cleaned_data["text"],
            actor=actor,
            now=clock.now(),
        )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        view = appeals.appeal_get(actor=actor, appeal_id=raised.appeal.pk)
        messages.success(
            request,
            _("Your appeal is with %(owner)s: answered by %(by)s at the latest.")
            % {"owner": view.owner, "by": timezone.localtime(view.reply_by).strftime("%Y-%m-%d %H:%M")},
        )
    return redirect(reverse("console:me") + "#appeals")


@login_required
@require_POST
def appeal_rate(request: HttpRequest, appeal_id: int) -> HttpResponse:
    """The resident rates a reply: satisfied closes the appeal, dissatisfied reopens it."""
    actor, _household_id = _resident(request)
    form = AppealRateForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect(reverse("console:me") + "#appeals")
    try:
        appeal_services.appeal_rate(
            appeal_id=appeal_id, rating=form.cleaned_data["rating"], actor=actor, now=clock.now()
        )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        if form.cleaned_data["rating"] == "satisfied":
            messages.success(request, _("Thank you: the appeal is closed."))
        else:
            messages.success(request, _("The appeal is open again: its owner answers anew."))
    return redirect(reverse("console:me") + "#appeals")
