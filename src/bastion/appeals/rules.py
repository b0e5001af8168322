"""Pure rules of appeals (诉求), the 12345 way (DOMAIN.md, "Appeals"): the moves a ticket may
make, which owner a ticket goes to (triage, by rules kept as data), its deadlines to sign and to
reply, its light, when it escalates and when a silent resident's ticket closes. Plain values in
and out, no ORM: the numbers come from policy.toml through policy.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# --- what an appeal is about ---------------------------------------------------------------

SUPPLIES = "supplies"
MEDICAL = "medical"
CODE = "code"
ZONE = "zone"
CONDUCT = "conduct"
PRICE = "price"
OTHER = "other"
CATEGORIES = (SUPPLIES, MEDICAL, CODE, ZONE, CONDUCT, PRICE, OTHER)

EMERGENCY = "emergency"
URGENT = "urgent"
NORMAL = "normal"
URGENCIES = (EMERGENCY, URGENT, NORMAL)

# What a ticket may name (a kind and the id of the thing in its own context).
ABOUT_KINDS = ("order", "delivery", "supplier", "zone", "health_code", "transfer")

# Who raised it and how.
RESIDENT = "resident"  # on the phone page
HOTLINE = "hotline"  # a 12345 operator for a caller
COMMUNITY = "community"  # a community worker for a resident they visit
CHANNELS = (RESIDENT, HOTLINE, COMMUNITY)

# --- owners ----------------------------------------------------------------------------------

# The kinds of owner a triage rule may name. A community or a district bureau is the one of the
# household's own community or district; the others are city-wide desks.
OWNER_COMMUNITY = "community"
OWNER_DISTRICT = "district"
OWNER_COMMERCE = "commerce"
OWNER_MARKET = "market_regulation"
OWNER_TRANSFER = "transfer_desk"
OWNER_KINDS = (OWNER_COMMUNITY, OWNER_DISTRICT, OWNER_COMMERCE, OWNER_MARKET, OWNER_TRANSFER)

# The role that stands for each kind of owner (its board, its signature, its reply).
OWNER_ROLES = {
    OWNER_COMMUNITY: "community_worker",
    OWNER_DISTRICT: "district_officer",
    OWNER_COMMERCE: "commerce_supply",
    OWNER_MARKET: "market_regulator",
    OWNER_TRANSFER: "transfer_dispatch",
}

# --- states ----------------------------------------------------------------------------------

ACCEPTED = "accepted"  # 受理
DISPATCHED = "dispatched"  # 派单: with an owner, not yet signed for
SIGNED = "signed"  # the owner has signed for it and is handling it
REPLIED = "replied"  # 回复: the owner answered; the resident confirms or rates
CLOSED = "closed"  # 办结
REOPENED = "reopened"  # a dissatisfied rating: back with the owner

ALLOWED_TRANSITIONS: dict[str, dict[str, set[str]]] = {
    "appeal": {
        ACCEPTED: {DISPATCHED},
        # A hand-back keeps a ticket dispatched (to another owner): dispatched -> dispatched.
        DISPATCHED: {SIGNED, DISPATCHED},
        SIGNED: {REPLIED, DISPATCHED},
        REPLIED: {CLOSED, REOPENED},
        REOPENED: {SIGNED, DISPATCHED},
        CLOSED: set(),
    }
}

# Waiting for the owner: the reply deadline runs.
AWAITING_REPLY = (ACCEPTED, DISPATCHED, SIGNED, REOPENED)
# Waiting for the owner's signature: the sign deadline runs.
AWAITING_SIGNATURE = (ACCEPTED, DISPATCHED, REOPENED)
OPEN = (*AWAITING_REPLY, REPLIED)

SATISFIED = "satisfied"
DISSATISFIED = "dissatisfied"
RATINGS = (SATISFIED, DISSATISFIED)


def may_move(entity: str, source: str, target: str) -> bool:
    return target in ALLOWED_TRANSITIONS[entity].get(source, set())


def sources_of(target: str) -> tuple[str, ...]:
    """The states from which a ticket may move to `target` (for the set-based sweeps)."""
    return tuple(s for s, targets in ALLOWED_TRANSITIONS["appeal"].items() if target in targets)


def opens_emergency_trip(*, category: str, urgency: str) -> bool:
    """A medical emergency is a 120 call too: the trip goes at once (flows.appeal_raised)."""
    return category == MEDICAL and urgency == EMERGENCY


# --- triage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriageRule:
    """One line of the triage table: the owner kind for tickets that match every field given
    (an empty field matches anything). The first matching line wins."""

    owner: str
    category: str = ""
    urgency: str = ""
    about: str = ""

    def matches(self, *, category: str, urgency: str, about: str) -> bool:
        return (
            (not self.category or self.category == category)
            and (not self.urgency or self.urgency == urgency)
            and (not self.about or self.about == about)
        )


def triage(rules: Sequence[TriageRule], *, category: str, urgency: str, about: str, default: str) -> str:
    """The owner kind of a new ticket: the first rule that matches, else `default`."""
    for rule in rules:
        if rule.matches(category=category, urgency=urgency, about=about):
            return rule.owner
    return default


TRIAGE_CASES = [
    # (category, urgency, about) -> owner, under policy.toml's table
    ((PRICE, NORMAL, ""), OWNER_MARKET),
    ((SUPPLIES, NORMAL, "supplier"), OWNER_COMMERCE),
    ((SUPPLIES, NORMAL, "order"), OWNER_COMMUNITY),
    ((OTHER, NORMAL, "transfer"), OWNER_TRANSFER),
    ((CODE, URGENT, ""), OWNER_DISTRICT),
    ((MEDICAL, EMERGENCY, ""), OWNER_COMMUNITY),
    ((OTHER, NORMAL, ""), OWNER_COMMUNITY),
]


# --- deadlines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    sign: timedelta
    reply: timedelta


@dataclass(frozen=True)
class Deadlines:
    """The numbers of policy.toml the deadline rule reads."""

    by_urgency: dict[str, Window]
    # Under lockdown, a reply is due within these at most: per category, and for a household
    # with a vulnerable member whatever the category; the emergency of a medical need tighter.
    lockdown_reply: dict[str, timedelta]
    lockdown_vulnerable_reply: timedelta
    lockdown_medical_emergency_reply: timedelta
    lockdown_sign: timedelta


def windows(deadlines: Deadlines, *, category: str, urgency: str, lockdown: bool, vulnerable: bool) -> Window:
    """How long the owner has to sign for a ticket and to reply to it. Out of lockdown, the
    urgency decides (Beijing's defaults: an emergency within 2 hours, a general request within 7
    days, signed within a working day). Under lockdown (the household served at home) the city
    tightens them: medical needs and vulnerable residents first, food and medicine within the day;
    never looser than the urgency's own."""
    base = deadlines.by_urgency[urgency]
    if not lockdown:
        return base
    caps = [base.reply]
    if category in deadlines.lockdown_reply:
        caps.append(deadlines.lockdown_reply[category])
    if vulnerable:
        caps.append(deadlines.lockdown_vulnerable_reply)
    if category == MEDICAL and urgency == EMERGENCY:
        caps.append(deadlines.lockdown_medical_emergency_reply)
    reply = min(caps)
    sign = min(base.sign, deadlines.lockdown_sign, reply)
    return Window(sign=sign, reply=reply)


# --- lights ----------------------------------------------------------------------------------

GREEN = "green"
YELLOW = "yellow"
RED = "red"


def light(*, start: datetime, deadline: datetime | None, now: datetime, yellow_share: float) -> str:
    """Red when the deadline has passed; yellow when less than `yellow_share` of the time from
    `start` to the deadline remains; green otherwise (and when nothing is due)."""
    if deadline is None:
        return GREEN
    if now > deadline:
        return RED
    total = (deadline - start).total_seconds()
    left = (deadline - now).total_seconds()
    if total <= 0 or left < total * yellow_share:
        return YELLOW
    return GREEN


def running_deadline(*, state: str, sign_by: datetime, reply_by: datetime) -> datetime | None:
    """The deadline a ticket's light follows: the signature's until it is signed, then the
    reply's; none once replied or closed."""
    if state in AWAITING_SIGNATURE:
        return min(sign_by, reply_by)
    if state in AWAITING_REPLY:
        return reply_by
    return None


# --- escalation and closing ------------------------------------------------------------------

LEVELS = ("owner", "district", "command_centre")  # 0: the owner; 1: the district; 2: the city


def next_escalation(*, state: str, sign_by: datetime, reply_by: datetime) -> datetime | None:
    """When a ticket escalates if nothing happens: at the running deadline."""
    return running_deadline(state=state, sign_by=sign_by, reply_by=reply_by)


def after_escalation(*, level: int, now: datetime, step: timedelta, top: int) -> datetime | None:
    """Once escalated to `level`, when the next level is reached: `step` later, none at the top."""
    return None if level >= top else now + step


def within_deadline(*, replied_at: datetime | None, reply_by: datetime) -> bool:
    return replied_at is not None and replied_at <= reply_by
