"""Console pages of mass testing: the rounds, a round's progress for the command centre,
coverage per grid and building, a grid's door-to-door list of who is still to be sampled
(printable), the recalls awaiting a retest, and the round's exceptions.

Thin: read through the testing selectors, render.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion.city.models import Building, Grid
from bastion.city.selectors import (
    building_ids_of_grid,
    district_choices,
    grid_community_names,
    grid_detail,
    households_with_infant,
    vulnerability,
)
from bastion.console.context import actor_of
from bastion.console.forms import ReasonForm, RoundOpenForm
from bastion.console.views.common import show_errors
from bastion.core import clock, masking
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.masking import id_number_for, name_for, phone_for
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.testing import selectors as testing
from bastion.testing import services as testing_services
from bastion.testing.models import Result, Round
from bastion.testing.policy import LEVELS, policy
from bastion.testing.rules import turnaround_late
from bastion.zones import selectors as zones
from bastion.zones.models import ZoneState

# The command centre's progress page reloads itself this often (seconds).
REFRESH_SECONDS = 30
# Long lists show their oldest or worst first and stop here; the count covers them all.
LIST_PAGE = 500
FIXABLE = (InvalidInput, Conflict)


def _follower(request: HttpRequest) -> Actor:
    """Staff who follow rounds. `round_get` also lets samplers and labs fetch a round (their
    devices need it): these pages are not for them."""
    actor = actor_of(request)
    actor.require("view_testing")
    return actor


def _round(actor: Actor, round_id: int) -> Round:
    return testing.round_get(actor=actor, round_id=round_id)


# --- rounds -------------------------------------------------------------------------------


def _local_input(at: datetime) -> str:
    return at.astimezone(clock.city_zone()).strftime("%Y-%m-%dT%H:%M")


@login_required
def round_list(request: HttpRequest) -> HttpResponse:
    """The rounds, newest first; staff who manage testing open one here."""
    actor = _follower(request)
    manages = actor.has("manage_testing")
    now = clock.now()
    form = RoundOpenForm(
        initial={"starts_at": _local_input(now), "deadline": _local_input(now + timedelta(hours=24))}
    )
    status = 200
    if request.method == "POST":
        actor.require("manage_testing")
        form = RoundOpenForm(request.POST)
        if not form.is_valid():
            status = 422
        else:
            data = form.cleaned_data
            try:
                opened = testing_services.round_open(
                    code=data["code"],
                    name=data["name"],
                    starts_at=data["starts_at"],
                    deadline=data["deadline"],
                    district_ids=data["districts"],
                    zone_id=data["zone"],
                    actor=actor,
                    now=clock.now(),
                )
            except NotFound as exc:
                # A district or zone outside the officer's district, or none chosen: fixable here.
                messages.error(request, str(exc.message))
                status = 422
            except FIXABLE as exc:
                messages.error(request, str(exc.message))
                status = exc.status
            else:
                messages.success(request, _("Round %(code)s is open.") % {"code": opened.code})
                return redirect("console:testing_round", round_id=opened.pk)
    rounds = testing.round_list(actor=actor).select_related("zone").prefetch_related("areas__district")
    context: dict[str, Any] = {
        "rounds": rounds[:LIST_PAGE],
        "manages": manages,
        "form": form,
        "city_level": actor.level == ScopeLevel.CITY,
    }
    if manages:
        context["districts"] = district_choices(actor=actor)
        context["zones"] = zones.zone_list(actor=actor, states=(ZoneState.IN_FORCE,))
        testing_policy = policy()
        context["pooling"] = [(level, testing_policy.pooling[level]) for level in LEVELS]
    return render(request, "console/testing/rounds.html", context, status=status)


# --- progress -----------------------------------------------------------------------------


def _scope_words(round_: Round) -> str:
    """What a round covers, for a heading: its zone, its districts, or the city."""
    if round_.zone is not None:
        return _("zone %(code)s (%(address)s)") % {"code": round_.zone.code, "address": round_.zone.address}
    names = testing.round_district_names(round_)
    return ", ".join(names) if names else _("the whole city")


@login_required
def round_progress(request: HttpRequest, round_id: int) -> HttpResponse:
    """The command centre follows the round live; staff of a district or community go to the
    coverage of their own area (the round's totals, labs and sites are the city's business)."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    if actor.level != ScopeLevel.CITY:
        return redirect("console:testing_coverage", round_id=round_.pk)
    now = clock.now()
    progress = testing.round_progress(round_)
    labs = sorted(testing.lab_backlog(round_), key=lambda lab: (-lab.backlog_hours, lab.code))
    sites = testing.sites_over_capacity(round_)
    testing_policy = policy()
    response = render(
        request,
        "console/testing/round.html",
        {
            "round": round_,
            "scope": _scope_words(round_),
            "progress": progress,
            "pending_tubes": progress.tubes - progress.tubes_resulted,
            "share": _share(progress.sampled, progress.expected),
            "late": testing.lateness(round_, now=now),
            "p95_late": turnaround_late(
                progress.turnaround_p95_hours, target_hours=testing_policy.pooled_hours
            ),
            "labs": [lab for lab in labs if lab.received],
            "idle_labs": sum(1 for lab in labs if not lab.received),
            "sites": sites[:LIST_PAGE],
            "sites_total": len(sites),
            "now": now,
            "refresh": REFRESH_SECONDS,
            "manages": actor.has("manage_testing"),
        },
    )
    # The page reloads itself: the command centre keeps it on a wall screen.
    response["Refresh"] = str(REFRESH_SECONDS)
    return response


@login_required
@require_POST
def round_close(request: HttpRequest, round_id: int) -> HttpResponse:
    """Close the round (later scans refused); a reason before the deadline."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:testing_round", round_id=round_.pk)
    try:
        testing_services.round_close(
            round_=round_, reason=form.cleaned_data["reason"], actor=actor, now=clock.now()
        )
    except FIXABLE as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Round %(code)s is closed.") % {"code": round_.code})
    return redirect("console:testing_round", round_id=round_.pk)


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


@login_required
def round_issues(request: HttpRequest, round_id: int) -> HttpResponse:
    """What devices and files sent that the round could not take: listed, never lost."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    if actor.level != ScopeLevel.CITY:
        raise NotFound()
    listed = testing.issues(actor=actor, round_=round_)
    rows = [
        {"issue": issue, "detail": _issue_detail(actor, issue.detail)}
        for issue in listed.order_by("-at", "-id")[:LIST_PAGE]
    ]
    return render(
        request,
        "console/testing/issues.html",
        {
            "round": round_,
            "rows": rows,
            "total": listed.count(),
            # Results for barcodes no round knows cannot be put in any round's list.
            "unattached": testing.unattached_issues(actor=actor).count(),
        },
    )


def _issue_detail(actor: Actor, detail: Any) -> list[tuple[str, str]]:
    """A refused record's fields, ID numbers masked as the policy says (`masking.record_for`)."""
    if not isinstance(detail, dict):
        return [("", str(detail))]
    return [
        (str(key), str(value))
        for key, value in masking.record_for(actor, detail).items()
        if value not in (None, "")
    ]


# --- coverage -----------------------------------------------------------------------------


@login_required
def coverage(request: HttpRequest, round_id: int) -> HttpResponse:
    """Coverage per grid within the actor's scope, lowest first."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    rows = testing.coverage(actor=actor, round_=round_, by="grid")
    communities = grid_community_names([row.id for row in rows])
    residents = sum(row.residents for row in rows)
    sampled = sum(row.sampled for row in rows)
    resulted = sum(row.resulted for row in rows)
    return render(
        request,
        "console/testing/coverage.html",
        {
            "round": round_,
            "rows": [
                {
                    "row": row,
                    "community": communities.get(row.id, ""),
                    "share": _share(row.sampled, row.residents),
                    "awaiting": row.sampled - row.resulted,
                }
                for row in rows
            ],
            "totals": {
                "residents": residents,
                "sampled": sampled,
                "unsampled": residents - sampled,
                "awaiting": sampled - resulted,
                "share": _share(sampled, residents),
            },
            "city_level": actor.level == ScopeLevel.CITY,
        },
    )


@dataclass(frozen=True)
class DoorLine:
    """A resident still to be sampled, as the actor may see them."""

    address: str
    name: str
    id_number: str
    phone: str
    vulnerable: list[str]


@dataclass(frozen=True)
class BuildingGroup:
    label: str
    lines: list[DoorLine]


def _door_list(actor: Actor, round_: Round, grid: Grid) -> list[BuildingGroup]:
    """The grid's unsampled residents by building, in address order (two queries)."""
    residents = list(
        testing.unsampled_residents(actor=actor, round_=round_, grid_id=grid.pk).select_related(
            "household__building__compound"
        )
    )
    today = clock.today()
    with_infant = households_with_infant({r.household_id for r in residents}, today=today)
    needs = masking.shows(actor, masking.Field.VULNERABILITY)
    groups = []
    for building, members in itertools.groupby(residents, key=lambda r: r.household.building):
        groups.append(
            BuildingGroup(
                _building_label(building),
                [
                    DoorLine(
                        address=f"{r.household.address}#{r.number}",
                        name=name_for(actor, r.name),
                        id_number=id_number_for(actor, r.id_number),
                        phone=phone_for(actor, r.phone),
                        vulnerable=vulnerability(
                            r, household_has_infant=r.household_id in with_infant, today=today
                        )
                        if needs
                        else [],
                    )
                    for r in members
                ],
            )
        )
    return groups


def _building_label(building: Building) -> str:
    return _("%(compound)s, building %(number)s") % {
        "compound": building.compound.name,
        "number": building.number,
    }


def _grid(actor: Actor, grid_id: int) -> Grid:
    return grid_detail(actor=actor, grid_id=grid_id)


@login_required
def grid_page(request: HttpRequest, round_id: int, grid_id: int) -> HttpResponse:
    """A grid in a round: coverage per building and the door-to-door list of who is left."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    grid = _grid(actor, grid_id)
    in_grid = building_ids_of_grid(grid.pk)
    buildings = [
        row
        for row in testing.coverage(actor=actor, round_=round_, by="building", community_id=grid.community_id)
        if row.id in in_grid
    ]
    groups = _door_list(actor, round_, grid)
    return render(
        request,
        "console/testing/grid.html",
        {
            "round": round_,
            "grid": grid,
            "buildings": buildings,
            "groups": groups,
            "unsampled": sum(len(group.lines) for group in groups),
            "city_level": actor.level == ScopeLevel.CITY,
        },
    )


@login_required
def grid_print(request: HttpRequest, round_id: int, grid_id: int) -> HttpResponse:
    """The door-to-door list on paper: no navigation, a box to tick per person."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    grid = _grid(actor, grid_id)
    groups = _door_list(actor, round_, grid)
    return render(
        request,
        "console/testing/grid_print.html",
        {
            "round": round_,
            "grid": grid,
            "groups": groups,
            "unsampled": sum(len(group.lines) for group in groups),
            "printed_at": clock.now(),
        },
    )


# --- recalls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecallLine:
    address: str
    name: str
    phone: str
    reason: str
    tube: str
    opened_at: datetime
    waited_hours: float
    retest_sampled: bool


@login_required
def recalls(request: HttpRequest, round_id: int) -> HttpResponse:
    """Members of positive or invalid pools not yet retested, the longest waiting first."""
    actor = _follower(request)
    round_ = _round(actor, round_id)
    now = clock.now()
    waiting = testing.recalls_open(actor=actor, round_=round_)
    lines = [
        RecallLine(
            address=f"{recall.household.address}#{recall.resident.number}",
            # A recall sits beside a name: a health status, masked for roles without personal data.
            name=name_for(actor, recall.resident.name),
            phone=phone_for(actor, recall.resident.phone),
            reason=str(Result(recall.reason).label),
            tube=recall.tube.barcode,
            opened_at=recall.opened_at,
            waited_hours=round((now - recall.opened_at).total_seconds() / 3600, 1),
            retest_sampled=recall.retest_tube_id is not None,
        )
        for recall in waiting.select_related("resident", "household", "tube")[:LIST_PAGE]
    ]
    return render(
        request,
        "console/testing/recalls.html",
        {
            "round": round_,
            "lines": lines,
            "total": waiting.count(),
            "city_level": actor.level == ScopeLevel.CITY,
        },
    )
