"""Scenario events and the observation of appeals (SCENARIOS.md, "Appeals — observation
`appeals`").

Events: `appeal` (a ticket raised through the hotline for a household), `appeal_reply` (its owner
answers: signed and replied in one step) and `appeal_rate` (the resident's rating: satisfied
closes it, dissatisfied reopens it). A ticket is named in the file by its `ref`.
Observation `appeals`: open, overdue, escalated and by category at the end of the day; closed and
the share closed within the reply deadline since day 0."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from bastion import flows
from bastion.appeals import rules, selectors, services
from bastion.appeals.models import Appeal
from bastion.city.models import Household
from bastion.city.selectors import resident_by_address
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import SYSTEM, Actor
from bastion.scenario.runner import Context, event, observation
from bastion.scenario.spec import Event
from bastion.supply.models import Supplier


def _refs(ctx: Context) -> dict[str, int]:
    refs: dict[str, int] = ctx.state.setdefault("appeals", {})
    return refs


def _ticket(ctx: Context, body: dict[str, Any]) -> Appeal:
    ref = str(body.get("ref", ""))
    pk = _refs(ctx).get(ref)
    if pk is None:
        raise NotFound(f"there is no appeal {ref!r} raised earlier in the scenario", code="unknown_appeal")
    return Appeal.objects.select_related("owner").get(pk=pk)


def _about(value: Any) -> services.About | None:
    """`about: {order: 12}`, `{supplier: S1}` (a supplier's code) or `{zone: 3}`: one kind."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidInput("about names one thing, like {order: 12} or {supplier: S1}", code="bad_about")
    ((kind, ident),) = value.items()
    if kind not in rules.ABOUT_KINDS:
        raise InvalidInput(f"about is one of {', '.join(rules.ABOUT_KINDS)}", code="bad_about")
    if kind == "supplier" and not isinstance(ident, int):
        supplier = Supplier.objects.filter(code=str(ident)).first()
        if supplier is None:
            raise NotFound(f"there is no supplier {ident}", code="unknown_supplier")
        return services.About(kind=kind, id=supplier.pk)
    if not isinstance(ident, int) or isinstance(ident, bool):
        raise InvalidInput(f"about.{kind} is a number", code="bad_about")
    return services.About(kind=kind, id=ident)


@event("appeal")
def _appeal(ctx: Context, ev: Event) -> None:
    body = ev.body
    ref = str(body.get("ref", ""))
    if not ref:
        raise InvalidInput("an appeal needs its ref", code="bad_ref")
    if ref in _refs(ctx):
        raise InvalidInput(f"appeal {ref} was raised already", code="duplicate_ref")
    address = str(body.get("household", ""))
    household = Household.objects.filter(address=address).first()
    if household is None:
        raise NotFound(f"there is no household {address}", code="unknown_household")
    resident = body.get("resident")
    resident_id = None
    if resident is not None:
        resident_id = _resident(str(resident), household)
    raised = flows.appeal_raised(
        household_id=household.pk,
        resident_id=resident_id,
        category=str(body.get("category", "")),
        urgency=str(body.get("urgency", rules.NORMAL)),
        text=str(body.get("text", "")),
        about=_about(body.get("about")),
        actor=replace(SYSTEM, label="12345"),
        now=ctx.clock.now(),
    )
    _refs(ctx)[ref] = raised.appeal.pk


def _resident(address: str, household: Household) -> int:
    """`resident: "C1/2/1/301#1"`, a member of the appeal's household."""
    try:
        found = resident_by_address(address)
    except NotFound:
        raise NotFound(f"there is no resident {address}", code="unknown_resident") from None
    if found.household_id != household.pk:
        raise InvalidInput(f"{address} does not live in {household.address}", code="not_of_household")
    return found.pk


def _owner_actor(appeal: Appeal) -> Actor:
    """The platform acting as the ticket's owner (a scenario's owners answer by themselves)."""
    return replace(
        SYSTEM,
        role=rules.OWNER_ROLES[appeal.owner.kind],
        level=ScopeLevel.CITY,
        label=f"system ({appeal.owner.code})",
    )


@event("appeal_reply")
def _appeal_reply(ctx: Context, ev: Event) -> None:
    appeal = _ticket(ctx, ev.body)
    services.appeal_reply(
        appeal_id=appeal.pk,
        text=str(ev.body.get("text", "")) or "已处理",
        actor=_owner_actor(appeal),
        now=ctx.clock.now(),
    )


@event("appeal_rate")
def _appeal_rate(ctx: Context, ev: Event) -> None:
    appeal = _ticket(ctx, ev.body)
    services.appeal_rate(
        appeal_id=appeal.pk,
        rating=str(ev.body.get("rating", "")),
        comment=str(ev.body.get("comment", "")),
        actor=replace(SYSTEM, label="12345 call-back"),
        now=ctx.clock.now(),
    )


@observation("appeals")
def _observe_appeals(ctx: Context, day: int, today: date) -> dict[str, Any]:
    since = datetime.combine(ctx.scenario.start, time(0, 0), tzinfo=ctx.zone)
    figures = selectors.figures(actor=SYSTEM, now=ctx.clock.now(), since=since)
    return {
        "appeals": {
            "open": figures.open,
            "overdue": figures.overdue,
            "escalated": figures.escalated,
            "closed": figures.closed,
            "closed_within_deadline_pct": figures.closed_within_deadline_pct,
            "by_category": figures.by_category,
        }
    }
