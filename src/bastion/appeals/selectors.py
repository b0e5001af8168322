"""Reads of appeals, scoped by the actor: a resident sees their household's tickets, a
community worker their community's, a district officer their district's, the city-wide desks
(commerce, market regulation, transfer) the tickets they own, the command centre and the hotline
every one. The contact's name and phone are shown as the masking policy allows
(core/masking.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Case, Count, DateTimeField, F, Q, QuerySet, When
from django.utils.translation import gettext as _

from bastion.appeals import policy, rules
from bastion.appeals.models import Appeal, AppealEvent, Category, EventKind, State
from bastion.codes import selectors as codes
from bastion.core import clock, masking
from bastion.core.errors import Forbidden, NotFound
from bastion.core.roles import Role
from bastion.core.scopes import Actor, scoped

LIST_LIMIT = 500

# The city-wide desks see the tickets they own (and those handed on by them), not the city's.
DESK_OF_ROLE = {
    Role.COMMERCE_SUPPLY: rules.OWNER_COMMERCE,
    Role.MARKET_REGULATOR: rules.OWNER_MARKET,
    Role.TRANSFER_DISPATCH: rules.OWNER_TRANSFER,
}


def visible(actor: Actor) -> QuerySet[Appeal]:
    """The tickets `actor` may see (none without the power)."""
    if not actor.has("view_appeals"):
        return Appeal.objects.none()
    tickets = scoped(Appeal.objects.all(), actor)
    desk = DESK_OF_ROLE.get(Role(actor.role)) if actor.role in Role.values else None
    if desk is not None:
        tickets = tickets.filter(
            Q(owner__kind=desk)
            | Q(pk__in=AppealEvent.objects.filter(from_owner__kind=desk).values("appeal_id"))
        )
    return tickets


@dataclass(frozen=True)
class EventView:
    kind: str
    kind_label: str
    at: datetime
    by: str
    from_owner: str
    to_owner: str
    text: str
    rating: str
    level: int | None


@dataclass(frozen=True)
class AppealView:
    id: int
    household_id: int
    address: str
    community_id: int
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
    light: str
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
    resident_id: int | None = None
    code_reasons: list[str] = field(default_factory=list)
    history: list[EventView] = field(default_factory=list)


def light_of(appeal: Appeal, now: datetime) -> str:
    deadline = rules.running_deadline(state=appeal.state, sign_by=appeal.sign_by, reply_by=appeal.reply_by)
    start = appeal.dispatched_at if deadline == appeal.sign_by else appeal.raised_at
    return rules.light(start=start, deadline=deadline, now=now, yellow_share=policy.policy().yellow_share)


def _code_reasons(actor: Actor, appeal: Appeal) -> list[str]:
    """A code appeal about a named resident: every rule that holds for them now (what the
    district's officer weighs before correcting the code), to those who may see codes."""
    if appeal.category != rules.CODE or appeal.resident_id is None or not actor.has("view_codes"):
        return []
    try:
        return [
            f"{h.colour}: {h.reason}"
            for h in codes.code_explained(actor=actor, resident_id=appeal.resident_id)
        ]
    except NotFound:
        return []


def _view(
    actor: Actor,
    appeal: Appeal,
    now: datetime,
    history: list[EventView] | None = None,
    code_reasons: list[str] | None = None,
) -> AppealView:
    return AppealView(
        id=appeal.pk,
        household_id=appeal.household_id,
        address=appeal.household.address,
        community_id=appeal.community_id,
        category=appeal.category,
        category_label=str(Category(appeal.category).label),
        urgency=appeal.urgency,
        channel=appeal.channel,
        text=appeal.text,
        contact_name=masking.name_for(actor, appeal.contact_name) if appeal.contact_name else "",
        contact_phone=masking.phone_for(actor, appeal.contact_phone) if appeal.contact_phone else "",
        about_kind=appeal.about_kind,
        about_id=appeal.about_id,
        vulnerable=appeal.vulnerable,
        lockdown=appeal.lockdown,
        owner=appeal.owner.code,
        owner_kind=appeal.owner.kind,
        state=appeal.state,
        state_label=str(State(appeal.state).label),
        light=light_of(appeal, now),
        escalation_level=appeal.escalation_level,
        hand_backs=appeal.hand_backs,
        reopened=appeal.reopened,
        raised_at=appeal.raised_at,
        sign_by=appeal.sign_by,
        reply_by=appeal.reply_by,
        signed_at=appeal.signed_at,
        replied_at=appeal.replied_at,
        reply=appeal.reply,
        closed_at=appeal.closed_at,
        rating=appeal.rating,
        policy_version=appeal.policy_version,
        resident_id=appeal.resident_id,
        code_reasons=code_reasons or [],
        history=history or [],
    )


def appeal_get(*, actor: Actor, appeal_id: int, now: datetime | None = None) -> AppealView:
    """One ticket with its history (who handed it to whom, replies, ratings), within scope."""
    actor.require("view_appeals")
    appeal = visible(actor).select_related("owner", "household").filter(pk=appeal_id).first()
    if appeal is None:
        raise NotFound(_("There is no such appeal."), code="unknown_appeal")
    events = (
        AppealEvent.objects.filter(appeal_id=appeal.pk)
        .select_related("from_owner", "to_owner")
        .order_by("at", "pk")
    )
    history = [
        EventView(
            kind=e.kind,
            kind_label=str(EventKind(e.kind).label),
            at=e.at,
            by=e.actor_label,
            from_owner=e.from_owner.code if e.from_owner else "",
            to_owner=e.to_owner.code if e.to_owner else "",
            text=e.text,
            rating=e.rating,
            level=e.level,
        )
        for e in events
    ]
    return _view(actor, appeal, now or clock.now(), history, _code_reasons(actor, appeal))


def appeals_list(
    *, actor: Actor, state: str | None = None, household_id: int | None = None, now: datetime | None = None
) -> list[AppealView]:
    """The tickets within scope, newest first (at most LIST_LIMIT), of one state or household
    if asked; without their history."""
    actor.require("view_appeals")
    tickets = visible(actor).select_related("owner", "household").order_by("-raised_at", "-pk")
    if state is not None:
        tickets = tickets.filter(state=state)
    if household_id is not None:
        tickets = tickets.filter(household_id=household_id)
    moment = now or clock.now()
    return [_view(actor, appeal, moment) for appeal in tickets[:LIST_LIMIT]]


@dataclass(frozen=True)
class Figures:
    """The scenario's `appeals` observation (SCENARIOS.md): open, overdue and escalated as at
    `now`; closed and the share closed within the reply deadline since `since`."""

    open: int
    overdue: int
    escalated: int
    closed: int
    closed_within_deadline_pct: float | None
    by_category: dict[str, int]


def figures(*, actor: Actor, now: datetime, since: datetime) -> Figures:
    tickets = visible(actor)
    open_ = tickets.filter(state__in=rules.OPEN)
    counts = open_.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(state__in=rules.AWAITING_REPLY, reply_by__lt=now)),
        escalated=Count("pk", filter=Q(escalation_level__gt=0)),
    )
    closed = tickets.filter(state=rules.CLOSED, closed_at__gte=since, closed_at__lte=now)
    closed_counts = closed.aggregate(
        closed=Count("pk"),
        within=Count("pk", filter=Q(replied_at__isnull=False, replied_at__lte=F("reply_by"))),
    )
    by_category = dict(
        open_.values_list("category")
        .annotate(n=Count("pk"))
        .order_by("category")
        .values_list("category", "n")
    )
    total = closed_counts["closed"]
    return Figures(
        open=counts["open"],
        overdue=counts["overdue"],
        escalated=counts["escalated"],
        closed=total,
        closed_within_deadline_pct=round(100 * closed_counts["within"] / total, 1) if total else None,
        by_category=by_category,
    )


BOARD_LIMIT = 200


def _board_filter(actor: Actor) -> Q:
    """The tickets on the actor's board: those their office owns; for a district officer also
    those of the district escalated to it, for the command centre those escalated to the city."""
    role = Role(actor.role) if actor.role in Role.values else None
    if role == Role.COMMUNITY_WORKER and actor.community_id is not None:
        return Q(owner__kind=rules.OWNER_COMMUNITY, owner__community_id=actor.community_id)
    if role == Role.DISTRICT_OFFICER and actor.district_id is not None:
        return Q(owner__kind=rules.OWNER_DISTRICT, owner__district_id=actor.district_id) | Q(
            district_id=actor.district_id, escalation_level__gte=1
        )
    if role == Role.COMMAND_CENTRE:
        return Q(escalation_level__gte=len(rules.LEVELS) - 1)
    if role in DESK_OF_ROLE:
        return Q(owner__kind=DESK_OF_ROLE[role])
    raise Forbidden()


def board(*, actor: Actor, now: datetime | None = None) -> list[AppealView]:
    """An owner's board: its tickets awaiting a signature or a reply, the running deadline first
    (the signature's until signed, then the reply's), each with its light and whether the
    household is vulnerable; at most BOARD_LIMIT. One query, whatever the number of tickets
    (tests/appeals/test_board.py pins it)."""
    actor.require("handle_appeals")
    due = Case(
        When(state__in=rules.AWAITING_SIGNATURE, sign_by__lt=F("reply_by"), then=F("sign_by")),
        default=F("reply_by"),
        output_field=DateTimeField(),
    )
    tickets = (
        scoped(Appeal.objects.all(), actor)
        .filter(_board_filter(actor), state__in=rules.AWAITING_REPLY)
        .select_related("owner", "household")
        .annotate(due=due)
        .order_by("due", "pk")
    )
    moment = now or clock.now()
    return [_view(actor, appeal, moment) for appeal in tickets[:BOARD_LIMIT]]
