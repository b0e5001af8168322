"""Console pages of the registry: home, the places from district down to household, and a
resident's needs. Thin: parse, call one selector or service, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion.care import selectors as care
from bastion.city import selectors, services
from bastion.console.context import actor_of
from bastion.console.crumbs import building_label, household_label, trail
from bastion.console.forms import ResidentFlagsForm
from bastion.console.views.common import show_errors
from bastion.core import clock, masking
from bastion.core.errors import InvalidInput
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.selectors import last_heartbeat


def _own_place(actor: Actor) -> HttpResponse | None:
    """Community workers and residents start at their own place, not at the city's."""
    if actor.level == ScopeLevel.COMMUNITY and actor.community_id is not None:
        return redirect("console:community", community_id=actor.community_id)
    if actor.level == ScopeLevel.OWN_HOUSEHOLD and actor.household_id is not None:
        return redirect("console:household", household_id=actor.household_id)
    return None


@login_required
def home(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if actor.level == ScopeLevel.OWN_HOUSEHOLD and actor.household_id is not None:
        return redirect("console:me")  # a resident's home is their own page
    if (elsewhere := _own_place(actor)) is not None:
        return elsewhere
    context: dict[str, object] = {"now": clock.now(), "can_browse": actor.has("view_registry")}
    if actor.has("view_city_figures") or actor.has("view_registry"):
        context["figures"] = selectors.city_figures(actor=actor)
        context["structure"] = selectors.structure_counts(actor=actor)
        context["heartbeat"] = last_heartbeat()
    return render(request, "console/registry/home.html", context)


@login_required
def registry(request: HttpRequest) -> HttpResponse:
    actor = actor_of(request)
    if (elsewhere := _own_place(actor)) is not None:
        return elsewhere
    return render(
        request, "console/registry/registry.html", {"districts": selectors.district_list(actor=actor)}
    )


@login_required
def district(request: HttpRequest, district_id: int) -> HttpResponse:
    actor = actor_of(request)
    place = selectors.district_detail(actor=actor, district_id=district_id)
    return render(
        request,
        "console/registry/district.html",
        {
            "district": place,
            "communities": selectors.community_list(actor=actor, district_id=district_id),
            "crumbs": trail(actor, district=place),
        },
    )


@login_required
def community(request: HttpRequest, community_id: int) -> HttpResponse:
    actor = actor_of(request)
    place = selectors.community_detail(actor=actor, community_id=community_id)
    return render(
        request,
        "console/registry/community.html",
        {
            "community": place,
            "compounds": selectors.compound_list(actor=actor, community_id=community_id),
            "crumbs": trail(actor, district=place.district, community=place),
        },
    )


@login_required
def compound(request: HttpRequest, compound_id: int) -> HttpResponse:
    actor = actor_of(request)
    place = selectors.compound_detail(actor=actor, compound_id=compound_id)
    return render(
        request,
        "console/registry/compound.html",
        {
            "compound": place,
            "buildings": selectors.building_list(actor=actor, compound_id=compound_id),
            "crumbs": trail(actor, district=place.district, community=place.community, compound=place),
        },
    )


@login_required
def building(request: HttpRequest, building_id: int) -> HttpResponse:
    actor = actor_of(request)
    place = selectors.building_detail(actor=actor, building_id=building_id)
    return render(
        request,
        "console/registry/building.html",
        {
            "building": place,
            "building_label": building_label(place),
            "households": selectors.household_list(actor=actor, building_id=building_id),
            "crumbs": trail(
                actor,
                district=place.district,
                community=place.community,
                compound=place.compound,
                building=place,
            ),
        },
    )


@login_required
def household(request: HttpRequest, household_id: int) -> HttpResponse:
    actor = actor_of(request)
    place = selectors.household_detail(actor=actor, household_id=household_id)
    residents = selectors.household_residents(actor=actor, household_id=household_id, today=clock.today())
    needs = care.needs_by_resident(actor=actor, resident_ids=[r.id for r in residents])
    return render(
        request,
        "console/registry/household.html",
        {
            "household": place,
            "medical_needs": [(r, needs.get(r.id, [])) for r in residents if needs.get(r.id)],
            "keeps_needs": actor.has("keep_medical_needs"),
            "can_change_flags": actor.has("change_resident_flags"),
            "can_view_codes": actor.has("view_codes"),
            "household_label": household_label(place),
            "building_label": building_label(place.building),
            "residents": residents,
            "crumbs": trail(
                actor,
                district=place.district,
                community=place.community,
                compound=place.compound,
                building=place.building,
                household=place,
            ),
        },
    )


@login_required
@require_POST
def resident_flags(request: HttpRequest, resident_id: int) -> HttpResponse:
    """A community worker corrects a resident's needs from the household page."""
    actor = actor_of(request)
    form = ResidentFlagsForm(request.POST)
    if not form.is_valid():
        show_errors(request, form)
        household_id = selectors.resident_household_id(actor=actor, resident_id=resident_id)
        return redirect("console:household", household_id=household_id)
    try:
        resident = services.resident_set_flags(
            resident_id=resident_id,
            flags=form.flags(),
            reason=form.cleaned_data["reason"],
            actor=actor,
            now=clock.now(),
        )
    except InvalidInput as exc:
        messages.error(request, str(exc.message))
        household_id = selectors.resident_household_id(actor=actor, resident_id=resident_id)
    else:
        messages.success(
            request, _("The needs of %(name)s were saved.") % {"name": masking.name_for(actor, resident.name)}
        )
        household_id = resident.household_id
    return redirect("console:household", household_id=household_id)
