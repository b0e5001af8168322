"""The resident's own page: one page on a phone for their household — each member's health
code and why, the zone and its clock, recent tests and any recall, quarantine, transfer, the
week's orders with their recipient codes. Thin: the contexts' selectors for the actor's own
household, nothing computed here."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bastion.cases import selectors as cases
from bastion.city import selectors as city
from bastion.codes import selectors as codes
from bastion.console.context import actor_of
from bastion.console.qr import qr_svg
from bastion.console.views.zones import own_zones
from bastion.core import clock
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.delivery import selectors as delivery
from bastion.lockdown import selectors as lockdown
from bastion.testing import selectors as testing
from bastion.transfer import selectors as transfer

# How far back the page shows a household's tests.
TESTS_DAYS = 14


@login_required
def my_page(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    today, now = clock.today(), clock.now()
    members = city.household_residents(actor=actor, household_id=actor.household_id, today=today)
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
            "mode": lockdown.service_mode(household_id=actor.household_id),
            "tests": [(name.get(t.number, ""), t) for t in tests],
            "recalls": [(name.get(r.number, ""), r) for r in recalls],
            "tests_days": TESTS_DAYS,
            "quarantines": [(name.get(q.number, ""), q) for q in cases.own_quarantines(actor=actor)],
            "transfers": transfer.household_transfers(actor=actor),
            "orders": list(delivery.household_orders(actor=actor)) if actor.has("place_orders") else None,
            "today": today,
        },
    )
