"""Console pages of transfer: the dispatcher board (the queue with waits and deadlines, the
overdue in red, the fleet, beds by place), a facility's page (admissions, discharges, free
beds), and a community's people waiting (for community workers).

Thin: read through the selectors, write through one service, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion import flows
from bastion.console.context import actor_of
from bastion.console.forms import TransferMoveForm
from bastion.console.views.common import show_errors
from bastion.core import clock
from bastion.core.errors import Conflict, InvalidInput
from bastion.transfer import selectors, services

FIXABLE = (InvalidInput, Conflict)


@login_required
def board(request: HttpRequest) -> HttpResponse:
    """The dispatcher board: everyone waiting or on the way within scope, the fleet, the beds."""
    actor = actor_of(request)
    actor.require("manage_transfers")
    now = clock.now()
    return render(
        request,
        "console/transfer/board.html",
        {
            "queue": selectors.queue(actor=actor, now=now),
            "fleet": selectors.fleet(actor=actor),
            "facilities": selectors.facilities(actor=actor, at=now),
            "moves": TransferMoveForm.MOVES,
        },
    )


@login_required
@require_POST
def assign(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    done = services.transfers_assign(actor=actor, now=clock.now())
    messages.success(
        request,
        _(
            "%(beds)s given a bed, %(vehicles)s a vehicle; "
            "%(no_bed)s wait for a bed, %(no_vehicle)s for a vehicle."
        )
        % {
            "beds": done.destinations,
            "vehicles": done.vehicles,
            "no_bed": done.without_bed,
            "no_vehicle": done.without_vehicle,
        },
    )
    return redirect("console:transfer_board")


@login_required
@require_POST
def move(request: HttpRequest, transfer_id: int) -> HttpResponse:
    actor = actor_of(request)
    actor.require("manage_transfers")
    form = TransferMoveForm(request.POST)
    if not form.is_valid():
        selectors.transfer_row(actor=actor, transfer_id=transfer_id, now=clock.now())  # out of scope: 404
        show_errors(request, form)
        return redirect("console:transfer_board")
    try:
        flows.transfer_moved(
            transfer_id=transfer_id,
            to=form.cleaned_data["to"],
            reason=form.cleaned_data["reason"],
            actor=actor,
            now=clock.now(),
        )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Transfer %(id)s recorded.") % {"id": transfer_id})
    return redirect("console:transfer_board")


@login_required
def facility(request: HttpRequest, facility_id: int) -> HttpResponse:
    actor = actor_of(request)
    page = selectors.facility_page(actor=actor, facility_id=facility_id, now=clock.now())
    return render(request, "console/transfer/facility.html", {"page": page})


@login_required
def community(request: HttpRequest) -> HttpResponse:
    """The people of the worker's community waiting to be moved (or on the way), with their
    wait and deadlines, the overdue first; for an officer, everyone within their scope."""
    actor = actor_of(request)
    rows = selectors.queue(actor=actor, now=clock.now(), community_id=actor.community_id)
    return render(request, "console/transfer/community.html", {"queue": rows})
