"""Risk zone endpoints: thin — parse, call one service, render with the zone's clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from bastion import flows
from bastion.city.selectors import actor_for, household_detail
from bastion.core import clock
from bastion.core.errors import InvalidInput
from bastion.core.inputs import Count, Day, Id, Line, Offset
from bastion.core.scopes import Actor
from bastion.lockdown import selectors as lockdown
from bastion.zones import selectors, services
from bastion.zones.models import Zone, ZoneState

router = Router(tags=["zones"])

# `active` (the default) is proposed and in force together.
STATE_FILTERS: dict[str, tuple[str, ...]] = {
    "active": selectors.ACTIVE,
    **{state: (state,) for state in ZoneState.values},
}


class ClockOut(Schema):
    to: str
    due_on: date
    screening_on: date | None
    screened_negative: bool
    ready: bool


class ZoneOut(Schema):
    id: int
    code: str
    level: str
    state: str
    protocol: str
    step: str
    area: str
    address: str
    district_id: int
    community_id: int
    proposed_at: datetime
    since: date | None
    clock_start: date
    lifted_on: date | None
    reason: str
    residents: int
    households: int
    person_days: int
    clock: ClockOut | None


class ScreeningOut(Schema):
    on: date
    all_negative: bool
    sampled: int | None


class ZoneDetailOut(ZoneOut):
    residents_now: int
    households_now: int
    screenings: list[ScreeningOut]


class ServiceModeOut(Schema):
    household_id: int
    address: str
    mode: str  # door_to_door, staggered_pickup, normal
    zones: list[str]  # the codes of the zones in force it lies in


class RejectIn(Schema):
    reason: Line = Field(max_length=500)


class LiftIn(Schema):
    reason: Line = Field(max_length=500)
    override: bool = False


class AdjustIn(Schema):
    level: Line = Field(max_length=20, description="high or medium")
    reason: Line = Field(max_length=500)


class ScreeningIn(Schema):
    on: Day
    all_negative: bool
    sampled: Count | None = None


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


def _zone(actor: Actor, zone: Zone, today: date) -> dict[str, Any]:
    return {
        "id": zone.pk,
        "code": zone.code,
        "level": zone.level,
        "state": zone.state,
        "protocol": zone.protocol,
        "step": zone.step,
        "area": zone.area,
        "address": zone.address,
        "district_id": zone.district_id,
        "community_id": zone.community_id,
        "proposed_at": zone.proposed_at,
        "since": zone.since,
        "clock_start": zone.clock_start,
        "lifted_on": zone.lifted_on,
        "reason": selectors.zone_reason(actor=actor, zone=zone),
        "residents": zone.residents,
        "households": zone.households,
        "person_days": selectors.person_days(zone, today=today),
        "clock": selectors.zone_clock(zone, today=today),
    }


def _detail(actor: Actor, zone_id: Id) -> dict[str, Any]:
    zone = selectors.zone_get(actor=actor, zone_id=zone_id)
    households, residents = selectors.zone_counts(zone)
    return {
        **_zone(actor, zone, clock.today()),
        "residents_now": residents,
        "households_now": households,
        "screenings": list(selectors.screenings_of(zone)),
    }


@router.get("/", response=list[ZoneOut], summary="Risk zones within your scope, with their clocks")
def zone_list(
    request: HttpRequest,
    state: Line = "active",
    district_id: Id | None = None,
    limit: int = Query(500, ge=1, le=2000),  # type: ignore[type-arg]
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """`state`: active (proposed and in force, the default), proposed, in_force, lifted or rejected.
    Pages of `limit` zones (at most 2,000), high before medium, oldest first."""
    states = STATE_FILTERS.get(state)
    if states is None:
        raise InvalidInput(
            _("The state is one of: %(values)s.") % {"values": ", ".join(STATE_FILTERS)}, code="bad_state"
        )
    today = clock.today()
    actor = _actor(request)
    zones = selectors.zone_list(actor=actor, states=states, district_id=district_id)
    return [_zone(actor, zone, today) for zone in zones[offset : offset + limit]]


@router.get(
    "/service-mode/{int:household_id}",
    response=ServiceModeOut,
    summary="How a household within your scope is served: door to door, staggered pick-up or normal",
)
def service_mode(request: HttpRequest, household_id: Id) -> dict[str, Any]:
    household = household_detail(actor=_actor(request), household_id=household_id)
    return {
        "household_id": household.pk,
        "address": household.address,
        "mode": lockdown.service_mode(household_id=household.pk),
        "zones": list(
            selectors.zones_of_household(household_id=household.pk)
            .order_by("code")
            .values_list("code", flat=True)
        ),
    }


@router.get("/{int:zone_id}", response=ZoneDetailOut, summary="A zone, who lives inside now, its screenings")
def zone_view(request: HttpRequest, zone_id: Id) -> dict[str, Any]:
    return _detail(_actor(request), zone_id)


@router.post("/{int:zone_id}/confirm", response=ZoneDetailOut, summary="Confirm a proposed zone")
def zone_confirm(request: HttpRequest, zone_id: Id) -> dict[str, Any]:
    actor = _actor(request)
    flows.zone_confirmed(zone_id=zone_id, actor=actor, now=clock.now())
    return _detail(actor, zone_id)


@router.post("/{int:zone_id}/reject", response=ZoneDetailOut, summary="Reject a proposed zone, with a reason")
def zone_reject(request: HttpRequest, zone_id: Id, body: RejectIn) -> dict[str, Any]:
    actor = _actor(request)
    services.zone_reject(zone_id=zone_id, reason=body.reason, actor=actor, now=clock.now())
    return _detail(actor, zone_id)


@router.post(
    "/{int:zone_id}/lift",
    response=ZoneDetailOut,
    summary="Lift a zone, with a reason; before its clock allows, only with override",
)
def zone_lift(request: HttpRequest, zone_id: Id, body: LiftIn) -> dict[str, Any]:
    actor = _actor(request)
    flows.zone_lifted(
        zone_id=zone_id, reason=body.reason, override=body.override, actor=actor, now=clock.now()
    )
    return _detail(actor, zone_id)


@router.post(
    "/{int:zone_id}/adjust",
    response=ZoneDetailOut,
    summary="Set a zone's level (high or medium); its clock restarts",
)
def zone_adjust(request: HttpRequest, zone_id: Id, body: AdjustIn) -> dict[str, Any]:
    actor = _actor(request)
    flows.zone_adjusted(zone_id=zone_id, level=body.level, reason=body.reason, actor=actor, now=clock.now())
    return _detail(actor, zone_id)


@router.post(
    "/{int:zone_id}/screenings",
    response={201: ZoneDetailOut},
    summary="Record a full screening round of a zone",
)
def zone_screening(request: HttpRequest, zone_id: Id, body: ScreeningIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    services.zone_screening_record(
        zone_id=zone_id,
        on=body.on,
        all_negative=body.all_negative,
        sampled=body.sampled,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, _detail(actor, zone_id))
