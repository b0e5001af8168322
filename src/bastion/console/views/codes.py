"""Health codes in the console: a resident's code and why (officers correct it with a reason),
the resident's own page for their household, and a venue's check by code."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bastion.city import selectors as city
from bastion.codes import selectors as codes
from bastion.codes import services as code_services
from bastion.console.context import actor_of
from bastion.console.forms import CodeCheckForm, CodeCorrectForm
from bastion.console.views.common import show_errors
from bastion.core import clock
from bastion.core.errors import DomainError, NotFound
from bastion.core.roles import ScopeLevel


@login_required
def resident_code(request: HttpRequest, resident_id: int) -> HttpResponse:
    actor = actor_of(request)
    view = codes.code_of(actor=actor, resident_id=resident_id)
    return render(
        request,
        "console/codes/code.html",
        {
            "code": view,
            "holding": codes.code_explained(actor=actor, resident_id=resident_id),
            "resident": city.resident_detail(actor=actor, resident_id=resident_id, today=clock.today()),
            "can_correct": actor.has("correct_codes"),
            "form": CodeCorrectForm(),
        },
    )


@login_required
@require_POST
def code_correct(request: HttpRequest, resident_id: int) -> HttpResponse:
    actor = actor_of(request)
    actor.require("correct_codes")
    form = CodeCorrectForm(request.POST)
    codes.code_of(actor=actor, resident_id=resident_id)  # out of scope: 404 before anything else
    if not form.is_valid():
        show_errors(request, form)
        return redirect("console:resident_code", resident_id=resident_id)
    try:
        code_services.code_correct(
            resident_id=resident_id,
            colour=form.cleaned_data["colour"],
            reason=form.cleaned_data["reason"],
            actor=actor,
            now=clock.now(),
        )
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The code was corrected; the resident sees your reason."))
    return redirect("console:resident_code", resident_id=resident_id)


@login_required
def my_code(request: HttpRequest) -> HttpResponse:
    """A resident: the code of each member of their household, why, and since when."""
    actor = actor_of(request)
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    members = city.household_residents(actor=actor, household_id=actor.household_id, today=clock.today())
    return render(
        request,
        "console/codes/my_code.html",
        {"members": [(m, codes.code_of(actor=actor, resident_id=m.id, history=5)) for m in members]},
    )


@login_required
def code_check(request: HttpRequest) -> HttpResponse:
    """A venue or checkpoint types or scans a code: its colour and since when, nothing more."""
    actor = actor_of(request)
    actor.require("check_codes")
    form = CodeCheckForm(request.GET or None)
    result = None
    refused = ""
    if form.is_bound and form.is_valid():
        try:
            result = codes.code_check(actor=actor, token=form.cleaned_data["token"])
        except NotFound as exc:
            refused = str(exc.message)
    return render(request, "console/codes/check.html", {"form": form, "result": result, "refused": refused})
