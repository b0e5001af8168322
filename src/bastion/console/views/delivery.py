"""Console pages of the last 100 metres: the volunteer's phone page (tasks to claim, my stops,
delivered or cannot deliver), the community's dispatch board (coverage, who was not reached,
printable per building; today's tasks; building the tasks; orders placed for a household),
a zone's own standard package, and the resident's own orders.

Thin: read through the selectors, write through one service or flow, render.
"""

from __future__ import annotations

import csv
import secrets
from itertools import groupby
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.city.models import Community
from bastion.city.selectors import buildings_by_id, community_by_id
from bastion.console.context import actor_of
from bastion.console.forms import DeliverForm, MyOrderForm, OrderFailForm, ProxyOrderForm, ZoneCycleForm
from bastion.console.views.common import asked, show_errors
from bastion.core import clock
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.delivery import selectors as delivery
from bastion.delivery import services as delivery_services
from bastion.supply import selectors as supply

FIXABLE = (InvalidInput, Conflict, NotFound)


# --- the volunteer's phone ------------------------------------------------------------------


@login_required
def volunteer_tasks(request: HttpRequest) -> HttpResponse:
    """Open tasks of the volunteer's community to claim, and the stops of the tasks they hold."""
    actor = actor_of(request)
    actor.require("deliver")
    return render(
        request,
        "console/delivery/tasks.html",
        {
            "open": list(delivery.tasks_open(actor=actor, day=clock.today())[:100]),
            "mine": list(delivery.tasks_mine(actor=actor)),
        },
    )


def _done(request: HttpRequest, action: Any, success: str) -> HttpResponse:
    try:
        action()
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, success)
    return redirect("console:volunteer_tasks")


@login_required
@require_POST
def task_claim(request: HttpRequest, task_id: int) -> HttpResponse:
    actor = actor_of(request)
    return _done(
        request,
        lambda: delivery_services.task_claim(task_id=task_id, actor=actor, now=clock.now()),
        _("The task is yours."),
    )


@login_required
@require_POST
def order_deliver(request: HttpRequest, order_id: int) -> HttpResponse:
    actor = actor_of(request)
    form = DeliverForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:volunteer_tasks")
    outcome: dict[str, Any] = {}

    def deliver() -> None:
        outcome["done"] = flows.order_delivered(
            order_id=order_id,
            recipient_code=form.cleaned_data["recipient_code"],
            weight_kg=form.cleaned_data["weight_kg"],
            client_key=form.cleaned_data["client_key"] or None,
            actor=actor,
            now=clock.now(),
        )

    response = _done(request, deliver, _("Delivered."))
    done = outcome.get("done")
    if done is not None and done.flag is not None:
        messages.warning(request, _("The package was short weight: its supplier is flagged."))
    return response


@login_required
@require_POST
def order_fail(request: HttpRequest, order_id: int) -> HttpResponse:
    actor = actor_of(request)
    form = OrderFailForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:volunteer_tasks")
    return _done(
        request,
        lambda: flows.order_failed(
            order_id=order_id, reason=form.cleaned_data["reason"], actor=actor, now=clock.now()
        ),
        _("Recorded: the order goes out again in a new task."),
    )


# --- the community's dispatch board ------------------------------------------------------------


def _community(actor: Actor, request: HttpRequest, asked_id: int | None = None) -> Community:
    """The actor's own community, or the one a city or district officer picked (by its id)."""
    wanted: int | None = asked_id
    if actor.level == ScopeLevel.COMMUNITY and actor.community_id is not None:
        wanted = actor.community_id
    else:
        # A proxy order's form carries the community it was placed from; the board's link asks.
        if wanted is None:
            wanted = asked(request, request.POST if request.method == "POST" else None)["community"]
        if wanted is None:
            raise NotFound()
    community = community_by_id(wanted)
    # A district officer picks among their own district's communities: another reads as none.
    if community is None or (
        actor.level == ScopeLevel.DISTRICT and community.district_id != actor.district_id
    ):
        raise NotFound()
    return community


@login_required
def dispatch_board(request: HttpRequest) -> HttpResponse:
    """Coverage of the community's locked households, who was not reached (vulnerable first,
    then longest waiting), the day's tasks and the orders still waiting for one. City and
    district staff pick a community among those of their coverage table."""
    actor = actor_of(request)
    actor.require("dispatch_deliveries")
    now = clock.now()
    # The link is read once (its refusals said once): a community-level actor has their own.
    asked_id = None if actor.level == ScopeLevel.COMMUNITY else asked(request)["community"]
    if actor.level != ScopeLevel.COMMUNITY and asked_id is None:
        return render(
            request,
            "console/delivery/overview.html",
            {"coverage": delivery.coverage(actor=actor, now=now) if actor.has("view_supply") else []},
        )
    community = _community(actor, request, asked_id)
    if request.method == "POST":
        try:
            built = delivery_services.tasks_build(day=clock.local_date(now), actor=actor, now=now)
        except FIXABLE as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(
                request,
                _("%(orders)s orders in %(tasks)s new tasks.")
                % {"orders": built.orders, "tasks": built.tasks},
            )
        return redirect(f"{request.path}?community={community.pk}")
    return render(request, "console/delivery/board.html", _board_context(actor, community, now))


def _board_context(actor: Actor, community: Community, now: Any) -> dict[str, Any]:
    coverage = delivery.coverage(actor=actor, now=now, community_id=community.pk)
    left = delivery.not_reached(actor=actor, now=now, community_id=community.pk, limit=None)
    buildings = buildings_by_id({u.building_id for u in left})
    by_building = [
        (buildings[building_id], list(rows))
        for building_id, rows in groupby(
            sorted(left, key=lambda u: u.building_id), key=lambda u: u.building_id
        )
    ]
    return {
        "community": community,
        "coverage": coverage[0] if coverage else None,
        "not_reached": left[:500],
        "not_reached_total": len(left),
        "by_building": by_building,
        "tasks": list(delivery.board(actor=actor, community_id=community.pk, day=clock.local_date(now))),
        "waiting": list(delivery.orders_waiting(actor=actor, community_id=community.pk)[:500]),
        "catalogue": list(supply.catalogue()),
        "places_orders": actor.has("place_orders"),
        "now": now,
    }


@login_required
@require_POST
def proxy_order(request: HttpRequest) -> HttpResponse:
    """A community worker orders for a household that cannot order online (or records a
    medicine request); the recipient code is shown to be passed on to the household."""
    actor = actor_of(request)
    community = _community(actor, request)
    back = redirect(f"{reverse('console:dispatch')}?community={community.pk}")
    form = ProxyOrderForm(request.POST, community_id=community.pk)
    if not form.is_valid():
        show_errors(request, form)
        return back
    household = form.cleaned_data["household"]
    try:
        order, _repeated = delivery_services.order_place(
            household_id=household.pk,
            lines=[(form.cleaned_data["item"], form.cleaned_data["quantity"])],
            kind=form.cleaned_data["kind"],
            note=form.cleaned_data["note"],
            actor=actor,
            now=clock.now(),
        )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request,
            _("Order placed for %(address)s: recipient code %(code)s.")
            % {"address": household.address, "code": order.recipient_code},
        )
    return back


@login_required
def dispatch_export(request: HttpRequest) -> HttpResponse:
    """The households not reached within the cycle as CSV (vulnerable first, longest waiting next)."""
    actor = actor_of(request)
    actor.require("dispatch_deliveries")
    community = _community(actor, request)
    rows = delivery.not_reached(actor=actor, now=clock.now(), community_id=community.pk, limit=None)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="not-reached-{community.code}.csv"'
    response.write("\ufeff")  # spreadsheet programs read UTF-8 with a byte order mark
    out = csv.writer(response)
    out.writerow(["household", "building", "vulnerable", "last_delivered_at", "last_delivery"])
    buildings = {
        pk: f"{b.compound.code}/{b.number}"
        for pk, b in buildings_by_id({u.building_id for u in rows}).items()
    }
    for u in rows:
        last = u.last_delivered_at.astimezone(clock.city_zone()).isoformat() if u.last_delivered_at else ""
        out.writerow(
            [u.address, buildings[u.building_id], "yes" if u.vulnerable else "", last, u.last_delivery]
        )
    return response


@login_required
def dispatch_print(request: HttpRequest) -> HttpResponse:
    """The households not reached, one page per building, for the volunteers' rounds."""
    actor = actor_of(request)
    actor.require("dispatch_deliveries")
    community = _community(actor, request)
    return render(request, "console/delivery/print.html", _board_context(actor, community, clock.now()))


# --- a zone's own standard package -------------------------------------------------------------


@login_required
@require_POST
def zone_cycle(request: HttpRequest, zone_id: int) -> HttpResponse:
    """The command centre or the zone's district sets the zone's own standard package and cycle,
    or sends it back to the policy's."""
    actor = actor_of(request)
    form = ZoneCycleForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect(reverse("console:zone", args=[zone_id]))
    now = clock.now()
    try:
        if form.cleaned_data["clear"]:
            delivery_services.package_cycle_clear(zone_id=zone_id, actor=actor, now=now)
            messages.success(request, _("The zone is back on the policy's standard package."))
        else:
            cycle = delivery_services.package_cycle_set(
                zone_id=zone_id,
                item_code=form.cleaned_data["item"],
                every_days=form.cleaned_data["every_days"],
                actor=actor,
                now=now,
            )
            messages.success(
                request,
                _("%(item)s every %(days)s days, from the next dispatch.")
                % {"item": cycle.item.name, "days": cycle.every_days},
            )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    return redirect(reverse("console:zone", args=[zone_id]))


# --- the resident's own orders ---------------------------------------------------------------


@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    """A resident orders for their household from the catalogue (群众点单), and sees the
    household's orders of the week: what, how far along, the recipient code to show at the door.
    A form carries a key of its own, so that a second press of the button places nothing more."""
    actor = actor_of(request)
    actor.require("place_orders")
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    items = list(supply.catalogue())
    if request.method == "POST":
        form = MyOrderForm(request.POST, item_codes=[item.code for item in items])
        if not form.is_valid():
            show_errors(request, form)
            return redirect(reverse("console:my_orders"))
        try:
            order, repeated = delivery_services.order_place(
                household_id=actor.household_id,
                lines=form.lines(),
                note=form.cleaned_data["note"],
                client_key=_form_key(request, form.cleaned_data["form_key"]),
                actor=actor,
                now=clock.now(),
            )
        except FIXABLE as exc:
            messages.error(request, str(exc.message))
        else:
            if repeated:
                messages.info(request, _("This order was already placed."))
            else:
                messages.success(
                    request,
                    _("Order placed: show the recipient code %(code)s at the door.")
                    % {"code": order.recipient_code},
                )
        return redirect(reverse("console:my_orders"))
    return render(
        request,
        "console/delivery/my_orders.html",
        {
            "items": items,
            "orders": list(delivery.household_orders(actor=actor)),
            "form_key": secrets.token_urlsafe(16),
        },
    )


def _form_key(request: HttpRequest, key: str) -> str | None:
    """The form's own key, made the user's: a second press of the button places nothing more."""
    if not key:
        return None
    return f"web:{request.user.pk}:{key}"[:64]
