"""Console pages: parse, call one selector, render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from bastion.city import selectors
from bastion.core import clock
from bastion.core.models import WorkerHeartbeat
from bastion.core.roles import ScopeLevel


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    if actor.level == ScopeLevel.COMMUNITY and actor.community_id is not None:
        return redirect("console:community", community_id=actor.community_id)
    figures = selectors.city_figures(actor=actor)
    structure = selectors.structure_counts(actor=actor)
    heartbeat = WorkerHeartbeat.objects.filter(name="worker").first()
    return render(
        request,
        "console/home.html",
        {"figures": figures, "structure": structure, "heartbeat": heartbeat, "now": clock.now()},
    )


@login_required
def registry(request: HttpRequest) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    if actor.level == ScopeLevel.COMMUNITY and actor.community_id is not None:
        return redirect("console:community", community_id=actor.community_id)
    if actor.level == ScopeLevel.OWN_HOUSEHOLD and actor.household_id is not None:
        return redirect("console:household", household_id=actor.household_id)
    return render(request, "console/registry.html", {"districts": selectors.district_list(actor=actor)})


@login_required
def district(request: HttpRequest, district_id: int) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    return render(
        request,
        "console/district.html",
        {
            "district": selectors.district_detail(actor=actor, district_id=district_id),
            "communities": selectors.community_list(actor=actor, district_id=district_id),
        },
    )


@login_required
def community(request: HttpRequest, community_id: int) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    return render(
        request,
        "console/community.html",
        {
            "community": selectors.community_detail(actor=actor, community_id=community_id),
            "compounds": selectors.compound_list(actor=actor, community_id=community_id),
        },
    )


@login_required
def compound(request: HttpRequest, compound_id: int) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    return render(
        request,
        "console/compound.html",
        {
            "compound": selectors.compound_detail(actor=actor, compound_id=compound_id),
            "buildings": selectors.building_list(actor=actor, compound_id=compound_id),
        },
    )


@login_required
def building(request: HttpRequest, building_id: int) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    return render(
        request,
        "console/building.html",
        {
            "building": selectors.building_detail(actor=actor, building_id=building_id),
            "households": selectors.household_list(actor=actor, building_id=building_id),
        },
    )


@login_required
def household(request: HttpRequest, household_id: int) -> HttpResponse:
    actor = selectors.actor_for(request.user)
    return render(
        request,
        "console/household.html",
        {
            "household": selectors.household_detail(actor=actor, household_id=household_id),
            "residents": selectors.household_residents(
                actor=actor, household_id=household_id, today=clock.today()
            ),
        },
    )
