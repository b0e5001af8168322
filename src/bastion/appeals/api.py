"""/api/v1/appeals/: tickets raised by residents (their own household), hotline operators (for a
caller) and community workers (for a resident they visit); the owner's sign, reply and
hand-back; the resident's rating. Thin: parse, call one service, render through the selectors
(and the masking policy)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from bastion import flows
from bastion.appeals import selectors, services
from bastion.city.selectors import actor_for
from bastion.core import clock
from bastion.core.inputs import Id, Line, Text
from bastion.core.scopes import Actor

router = Router(tags=["appeals"])


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


class AboutIn(Schema):
    kind: Line = Field(max_length=20, description="order, delivery, supplier, zone, health_code or transfer")
    id: Id


class RaiseIn(Schema):
    household_id: Id
    resident_id: Id | None = Field(None, description="The member it is for (a medical emergency's patient)")
    category: Line = Field(
        max_length=20, description="supplies, medical, code, zone, conduct, price or other"
    )
    urgency: Line = Field("normal", max_length=20, description="emergency, urgent or normal")
    text: Text = Field("", max_length=2000, description="What the resident says")
    about: AboutIn | None = Field(None, description="What it is about: an order, a supplier, a zone…")
    contact_name: Line = Field("", max_length=60)
    contact_phone: Line = Field("", max_length=30)


class EventOut(Schema):
    kind: str
    kind_label: str
    at: datetime
    by: str
    from_owner: str
    to_owner: str
    text: str
    rating: str
    level: int | None


class AppealOut(Schema):
    id: int
    household_id: int
    address: str
    category: str
    category_label: str
    urgency: str
    channel: str
    text: str
    contact_name: str
    contact_phone: str
    about_kind: str
    about_id: int | None
    vulnerable: bool
    lockdown: bool
    owner: str
    owner_kind: str
    state: str
    state_label: str
    light: str = Field(description="green, yellow (the deadline nears) or red (it has passed)")
    escalation_level: int
    hand_backs: int
    reopened: int
    raised_at: datetime
    sign_by: datetime
    reply_by: datetime
    signed_at: datetime | None
    replied_at: datetime | None
    reply: str
    closed_at: datetime | None
    rating: str
    policy_version: str
    resident_id: int | None
    code_reasons: list[str] = Field(
        description="A code appeal: every rule that holds for the resident now, for those who may see codes"
    )
    history: list[EventOut]


class ReplyIn(Schema):
    text: Text = Field(max_length=2000)


class HandBackIn(Schema):
    to: Line = Field(
        max_length=20, description="community, district, commerce, market_regulation or transfer_desk"
    )
    reason: Line = Field(max_length=300)


class RateIn(Schema):
    rating: Line = Field(max_length=20, description="satisfied (closes it) or dissatisfied (reopens it)")
    comment: Text = Field("", max_length=2000)


def _one(actor: Actor, appeal_id: int) -> dict[str, Any]:
    return asdict(selectors.appeal_get(actor=actor, appeal_id=appeal_id))


@router.get("", response=list[AppealOut], summary="Appeals within your scope, newest first")
def appeal_list(
    request: HttpRequest, state: Line | None = None, household_id: Id | None = None
) -> list[dict[str, Any]]:
    """At most 500; a resident's are their household's."""
    return [
        asdict(a)
        for a in selectors.appeals_list(actor=_actor(request), state=state, household_id=household_id)
    ]


@router.post("", response={201: AppealOut}, summary="Raise an appeal for a household")
def appeal_raise(request: HttpRequest, body: RaiseIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    raised = flows.appeal_raised(
        household_id=body.household_id,
        resident_id=body.resident_id,
        category=body.category,
        urgency=body.urgency,
        text=body.text,
        about=services.About(kind=body.about.kind, id=body.about.id) if body.about else None,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, _one(actor, raised.appeal.pk))


@router.get("/board", response=list[AppealOut], summary="Your office's board: open tickets by deadline")
def appeal_board(request: HttpRequest) -> list[dict[str, Any]]:
    """The tickets your office owns (a district officer: also those escalated to the district;
    the command centre: those escalated to the city) awaiting a signature or a reply, the
    running deadline first, with their light (red, yellow, green) and the household's
    vulnerability. At most 200."""
    return [asdict(a) for a in selectors.board(actor=_actor(request))]


@router.get("/{int:appeal_id}", response=AppealOut, summary="An appeal and its history")
def appeal_view(request: HttpRequest, appeal_id: Id) -> dict[str, Any]:
    return _one(_actor(request), appeal_id)


@router.post("/{int:appeal_id}/sign", response=AppealOut, summary="Sign for an appeal your office owns")
def appeal_sign(request: HttpRequest, appeal_id: Id) -> dict[str, Any]:
    actor = _actor(request)
    services.appeal_sign(appeal_id=appeal_id, actor=actor, now=clock.now())
    return _one(actor, appeal_id)


@router.post("/{int:appeal_id}/reply", response=AppealOut, summary="Reply to the resident")
def appeal_reply(request: HttpRequest, appeal_id: Id, body: ReplyIn) -> dict[str, Any]:
    actor = _actor(request)
    services.appeal_reply(appeal_id=appeal_id, text=body.text, actor=actor, now=clock.now())
    return _one(actor, appeal_id)


@router.post("/{int:appeal_id}/hand-back", response=AppealOut, summary="Hand an appeal to another owner")
def appeal_hand_back(request: HttpRequest, appeal_id: Id, body: HandBackIn) -> dict[str, Any]:
    actor = _actor(request)
    services.appeal_hand_back(
        appeal_id=appeal_id, to=body.to, reason=body.reason, actor=actor, now=clock.now()
    )
    return _one(actor, appeal_id)


@router.post("/{int:appeal_id}/rate", response=AppealOut, summary="Rate the reply: satisfied closes it")
def appeal_rate(request: HttpRequest, appeal_id: Id, body: RateIn) -> dict[str, Any]:
    actor = _actor(request)
    services.appeal_rate(
        appeal_id=appeal_id, rating=body.rating, comment=body.comment, actor=actor, now=clock.now()
    )
    return _one(actor, appeal_id)
