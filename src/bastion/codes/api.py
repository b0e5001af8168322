"""Health codes over HTTP: a resident's code and why, its correction by an officer, the rules
behind it, the city's counts, and the venues' check by token (colour and time only)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.security import HttpBearer, django_auth

from bastion.city.selectors import actor_for
from bastion.codes import selectors, services
from bastion.core import clock, devices
from bastion.core.errors import DomainError
from bastion.core.inputs import Id, Line, Text
from bastion.core.scopes import Actor
from bastion.core.shedding import Gate, shed

router = Router(tags=["codes"])
# Venues check by the thousand a second, and a burst of ten times that is what brought down
# Xi'an's code: beyond what the process serves within its wait, a check is told to come back
# (503 with Retry-After), never queued until it times out (core/shedding.py).
# One check at a time in each process, the others waiting their turn without the GIL: a check is
# one read by primary key, and two of them in one process at once contended for the GIL and now
# and then stalled a process for a second (docs/BENCHMARKS.md, "Venue checks").
CHECKS = Gate("codes.check", limit=1)


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class DeviceTokenAuth(HttpBearer):
    """`Authorization: Bearer <device token>`: a venue's scanner acting as its code_checker
    account without a session (`core.devices`: the token resolved once per process every few
    seconds, not a session, a user, an account and its permissions read for every check). An
    unknown or revoked token answers 401; no header falls back to the session."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        return devices.device_token_resolve(secret=token, resolve=_actor_of_user)


def _actor_of_user(user_id: int) -> Actor:
    return actor_for(get_user_model().objects.get(pk=user_id))


device_token = DeviceTokenAuth()


class CheckOut(Schema):
    colour: str
    set_at: datetime | None = Field(description="When the colour was set; null: green, never coloured.")


class HistoryOut(Schema):
    at: datetime
    was: str
    colour: str
    reason: str
    trigger: str
    by: str = Field(description="The officer, for a correction; empty otherwise.")


class CodeOut(Schema):
    resident_id: int
    colour: str
    set_at: datetime | None
    reason: str = Field(description="Why, in plain words, in the caller's language.")
    trigger: str
    corrected: bool
    version: str = Field(description="The version of the code rules that set the colour.")
    token: str = Field(description="What the resident's phone shows as a QR code for venues to check.")
    history: list[HistoryOut]


class HoldingOut(Schema):
    rule: str
    colour: str
    reason: str


class CorrectIn(Schema):
    colour: Literal["red", "yellow", "green"]
    reason: Text = Field(min_length=1, max_length=2000)


class CountsOut(Schema):
    red: int
    yellow: int
    green: int


def _code(actor: Actor, resident_id: int) -> dict[str, Any]:
    view = selectors.code_of(actor=actor, resident_id=resident_id)
    return {**view.__dict__, "history": [line.__dict__ for line in view.history]}


@router.get(
    "/check/{token}",
    response=CheckOut,
    auth=[device_token, django_auth],
    summary="Check a health code by its token (venues: a device token, or a session)",
)
@shed(CHECKS)
def code_check(request: HttpRequest, token: Line) -> HttpResponse:
    auth = getattr(request, "auth", None)
    actor = auth if isinstance(auth, Actor) else _actor(request)
    return _check_answer(actor, token)


def _check_answer(actor: Actor, token: str) -> HttpResponse:
    check = selectors.code_check(actor=actor, token=token)
    # CheckOut, written directly: venues check by the thousand a second, and validating our own
    # two plain fields again through the schema is a share of the request's CPU.
    return HttpResponse(
        json.dumps({"colour": check.colour, "set_at": check.set_at}, cls=DjangoJSONEncoder),
        content_type="application/json",
    )


def device_check(request: HttpRequest, token: str) -> HttpResponse | None:
    """`GET /api/v1/codes/check/<token>` from a venue's scanner (`Authorization: Bearer <device
    token>`), answered on the hot path in front of Django (`core.hotpath`, `bastion.wsgi`): the
    same gate, selector, answers and errors as `code_check`, without the middleware, the URL
    resolver and Ninja's operation, which cost three times the check itself. None (Django and
    Ninja answer, as for a session) for a token that is not plain printable ASCII, which Ninja's
    `Line` refuses with its 422. The device is known before the gate, as Ninja's authentication
    runs before its operation: a wrong token is told 401 and never takes a scanner's slot."""
    secret = request.META.get("HTTP_AUTHORIZATION", "")[7:].strip()
    if not secret or not (token.isascii() and token.isprintable()):
        return None
    try:
        actor = devices.device_token_resolve(secret=secret, resolve=_actor_of_user)
    except DomainError as exc:
        return _error(exc)
    return _device_check(request, actor, token)


def _error(exc: DomainError) -> HttpResponse:
    # As Ninja's handler of domain errors writes them (api/root.py).
    return HttpResponse(
        json.dumps(exc.as_dict()), status=exc.status, content_type="application/json; charset=utf-8"
    )


@shed(CHECKS)
def _device_check(request: HttpRequest, actor: Actor, token: str) -> HttpResponse:
    """A device's check, past the gate: the code read."""
    try:
        return _check_answer(actor, token)
    except DomainError as exc:
        return _error(exc)


@router.get("/counts", response=CountsOut, summary="Residents by colour within the caller's scope")
def code_counts(request: HttpRequest) -> dict[str, int]:
    actor = _actor(request)
    actor.require("view_codes")
    return selectors.colour_counts(actor=actor)


@router.get("/residents/{resident_id}", response=CodeOut, summary="A resident's code, why, and its history")
def code_view(request: HttpRequest, resident_id: Id) -> dict[str, Any]:
    return _code(_actor(request), resident_id)


@router.get(
    "/residents/{resident_id}/rules",
    response=list[HoldingOut],
    summary="Every rule that holds for a resident now (what a contested code is checked against)",
)
def code_rules_holding(request: HttpRequest, resident_id: Id) -> list[dict[str, Any]]:
    return [h.__dict__ for h in selectors.code_explained(actor=_actor(request), resident_id=resident_id)]


@router.post(
    "/residents/{resident_id}/correct",
    response=CodeOut,
    summary="Correct a resident's colour, with a written reason the resident reads",
)
def code_correct(request: HttpRequest, resident_id: Id, body: CorrectIn) -> dict[str, Any]:
    actor = _actor(request)
    services.code_correct(
        resident_id=resident_id, colour=body.colour, reason=body.reason, actor=actor, now=clock.now()
    )
    return _code(actor, resident_id)
