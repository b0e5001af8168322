"""Every write of appeals: a ticket raised and triaged to its owner, signed for, replied to,
handed to another owner, rated by the resident (satisfied closes it, dissatisfied reopens it),
and the sweep that escalates tickets past their deadline and closes those whose resident stayed
silent after the reply.

Each service guards, locks the ticket, checks its state after the lock, changes it, writes the
ticket's own history (AppealEvent) and the audit row, in one transaction. A ticket moves as
rules.ALLOWED_TRANSITIONS["appeal"] allows. Deadlines and triage come from policy.toml through
the pure rules; the policy's version is written on the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.appeals import policy, rules, sql
from bastion.appeals.models import AboutKind, Appeal, AppealEvent, Category, EventKind, Owner, Urgency
from bastion.city.models import Household, Resident
from bastion.city.selectors import HOUSEHOLD_PATHS, household_is_vulnerable
from bastion.core import audit, clock
from bastion.core.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.roles import Role, ScopeLevel
from bastion.core.scopes import Actor, get_scoped, scoped
from bastion.lockdown import selectors as lockdown

TEXT_MAX = 2000

# The channel a ticket came by follows from who raised it; the platform (a scenario, an import
# of the hotline's calls) raises as the hotline.
CHANNEL_OF_ROLE = {
    Role.RESIDENT: rules.RESIDENT,
    Role.HOTLINE_OPERATOR: rules.HOTLINE,
    Role.COMMUNITY_WORKER: rules.COMMUNITY,
}


def _state(appeal: Appeal) -> dict[str, Any]:
    return {
        "state": appeal.state,
        "owner": appeal.owner.code,
        "category": appeal.category,
        "urgency": appeal.urgency,
        "sign_by": appeal.sign_by.isoformat(),
        "reply_by": appeal.reply_by.isoformat(),
        "escalation_level": appeal.escalation_level,
        "rating": appeal.rating,
    }


def _choice(value: str, choices: type[Category | Urgency | AboutKind], code: str, message: str) -> str:
    """`value` if it is one of `choices`; refused with `message` (naming `%(values)s`) if not."""
    if value not in choices.values:
        raise InvalidInput(message % {"values": ", ".join(choices.values)}, code=code)
    return value


def owner_for(*, kind: str, household: Household) -> Owner:
    """The owner of `kind` for `household`: its community, its district's bureau, or the
    city-wide desk. Made the first time a ticket goes to it (two tickets at once: one row)."""
    if kind == rules.OWNER_COMMUNITY:
        code, place = f"community:{household.community_id}", {"community_id": household.community_id}
    elif kind == rules.OWNER_DISTRICT:
        code, place = f"district:{household.district_id}", {"district_id": household.district_id}
    elif kind in rules.OWNER_KINDS:
        code, place = kind, {}
    else:
        raise InvalidInput(
            _("The owner is one of: %(values)s.") % {"values": ", ".join(rules.OWNER_KINDS)},
            code="unknown_owner",
        )
    found = Owner.objects.filter(code=code).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return Owner.objects.create(code=code, kind=kind, **place)
    except IntegrityError:
        return Owner.objects.get(code=code)


def stands_for(actor: Actor, owner: Owner) -> bool:
    """Whether `actor` acts for `owner`: a worker of its community, an officer of its district
    (or the city's), the desk's own role."""
    if actor.role != rules.OWNER_ROLES[owner.kind]:
        return False
    if owner.kind == rules.OWNER_COMMUNITY:
        return actor.level == ScopeLevel.CITY or actor.community_id == owner.community_id
    if owner.kind == rules.OWNER_DISTRICT:
        return actor.level == ScopeLevel.CITY or actor.district_id == owner.district_id
    return True


def _event(appeal: Appeal, kind: str, *, actor: Actor, now: datetime, **more: Any) -> None:
    AppealEvent.objects.create(appeal=appeal, kind=kind, actor_label=audit.label_of(actor), at=now, **more)


def _audit(
    appeal: Appeal,
    action: str,
    before: dict[str, Any] | None,
    *,
    reason: str = "",
    actor: Actor,
    now: datetime,
) -> None:
    audit.record(
        action=f"appeals.appeal.{action}",
        obj=appeal,
        before=before,
        after=_state(appeal),
        reason=reason,
        district_id=appeal.district_id,
        actor=actor,
        now=now,
    )


@dataclass(frozen=True)
class About:
    kind: str
    id: int


def appeal_raise(
    *,
    household_id: int,
    category: str,
    urgency: str,
    resident_id: int | None = None,
    text: str = "",
    about: About | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    actor: Actor,
    now: datetime,
) -> Appeal:
    """Accept a ticket for a household within the actor's scope (a resident: their own) and
    dispatch it at once to the owner the triage table names, with its deadlines to sign and to
    reply: tightened when the household is served at home (lockdown), and more for a
    vulnerable household or a medical emergency."""
    actor.require("raise_appeals")
    _choice(category, Category, "unknown_category", _("The category is one of: %(values)s."))
    _choice(urgency, Urgency, "unknown_urgency", _("The urgency is one of: %(values)s."))
    if about is not None:
        _choice(about.kind, AboutKind, "unknown_about", _("An appeal may be about one of: %(values)s."))
    if len(text) > TEXT_MAX:
        raise InvalidInput(_("Say it in at most %(n)d characters.") % {"n": TEXT_MAX}, code="text_too_long")
    rule = policy.policy()
    with transaction.atomic():
        try:
            household = get_scoped(Household.objects.all(), actor, HOUSEHOLD_PATHS, pk=household_id)
        except NotFound:
            raise NotFound(_("There is no such household."), code="unknown_household") from None
        if (
            resident_id is not None
            and not Resident.objects.filter(pk=resident_id, household_id=household.pk).exists()
        ):
            raise NotFound(_("There is no such resident in this household."), code="unknown_resident")
        locked = lockdown.service_mode(household_id=household.pk) != lockdown.NORMAL
        vulnerable = household_is_vulnerable(household_id=household.pk, today=clock.local_date(now))
        window = rules.windows(
            rule.deadlines, category=category, urgency=urgency, lockdown=locked, vulnerable=vulnerable
        )
        kind = rules.triage(
            rule.triage,
            category=category,
            urgency=urgency,
            about=about.kind if about else "",
            default=rule.default_owner,
        )
        owner = owner_for(kind=kind, household=household)
        sign_by, reply_by = now + window.sign, now + window.reply
        appeal = Appeal.objects.create(
            household=household,
            resident_id=resident_id,
            community_id=household.community_id,
            district_id=household.district_id,
            category=category,
            urgency=urgency,
            channel=CHANNEL_OF_ROLE.get(Role(actor.role), rules.HOTLINE),
            text=text.strip(),
            contact_name=contact_name.strip(),
            contact_phone=contact_phone.strip(),
            about_kind=about.kind if about else "",
            about_id=about.id if about else None,
            vulnerable=vulnerable,
            lockdown=locked,
            owner=owner,
            # Accepted and dispatched in one step: triage is a rule, not a person's decision.
            state=rules.DISPATCHED,
            policy_version=rule.version,
            raised_by=audit.label_of(actor),
            raised_at=now,
            dispatched_at=now,
            sign_by=sign_by,
            reply_by=reply_by,
            next_escalation_at=rules.next_escalation(
                state=rules.DISPATCHED, sign_by=sign_by, reply_by=reply_by
            ),
            changed_at=now,
        )
        _event(appeal, EventKind.RAISED, text=appeal.text, actor=actor, now=now)
        _event(appeal, EventKind.DISPATCHED, to_owner=owner, actor=actor, now=now)
        _audit(appeal, "raised", None, actor=actor, now=now)
    return appeal


def _ticket(actor: Actor, appeal_id: int) -> Appeal:
    """The ticket, locked, within the actor's scope."""
    found = (
        scoped(Appeal.objects.select_for_update(of=("self",)).select_related("owner"), actor)
        .filter(pk=appeal_id)
        .first()
    )
    if found is None:
        raise NotFound(_("There is no such appeal."), code="unknown_appeal")
    return found


def _owned(actor: Actor, appeal_id: int) -> Appeal:
    actor.require("handle_appeals")
    appeal = _ticket(actor, appeal_id)
    if not stands_for(actor, appeal.owner):
        raise Forbidden(
            _("This appeal is owned by %(owner)s.") % {"owner": appeal.owner.code}, code="not_the_owner"
        )
    return appeal


def _refuse(appeal: Appeal, to: str) -> None:
    if not rules.may_move("appeal", appeal.state, to):
        messages = {
            rules.CLOSED: _("This appeal is closed."),
            rules.SIGNED: _("This appeal has already been signed for."),
            rules.REPLIED: _("This appeal has been replied to: the resident confirms or rates it."),
        }
        raise InvalidTransition(
            messages.get(appeal.state, _("This appeal cannot do that now.")), code=f"appeal_{appeal.state}"
        )


def _sign(appeal: Appeal, *, actor: Actor, now: datetime) -> None:
    _refuse(appeal, rules.SIGNED)
    appeal.state = rules.SIGNED
    appeal.signed_at = now
    appeal.next_escalation_at = rules.next_escalation(
        state=rules.SIGNED, sign_by=appeal.sign_by, reply_by=appeal.reply_by
    )
    _event(appeal, EventKind.SIGNED, actor=actor, now=now)


def appeal_sign(*, appeal_id: int, actor: Actor, now: datetime) -> Appeal:
    """The owner signs for a dispatched (or reopened) ticket: it is theirs to handle, and the
    reply deadline is what runs now. Two workers signing at once: one wins, the other is told
    it has been signed (the row lock orders them)."""
    with transaction.atomic():
        appeal = _owned(actor, appeal_id)
        before = _state(appeal)
        _sign(appeal, actor=actor, now=now)
        appeal.changed_at = now
        appeal.save(update_fields=["state", "signed_at", "next_escalation_at", "changed_at"])
        _audit(appeal, "signed", before, actor=actor, now=now)
    return appeal


def appeal_reply(*, appeal_id: int, text: str, actor: Actor, now: datetime) -> Appeal:
    """The owner's answer. A ticket not yet signed for is signed in the same step. The resident
    then confirms or rates it; silent past policy's time, the sweep closes it."""
    text = text.strip()
    if not text:
        raise InvalidInput(_("Write the reply to the resident."), code="reply_needed")
    if len(text) > TEXT_MAX:
        raise InvalidInput(_("Say it in at most %(n)d characters.") % {"n": TEXT_MAX}, code="text_too_long")
    with transaction.atomic():
        appeal = _owned(actor, appeal_id)
        before = _state(appeal)
        if appeal.state in rules.AWAITING_SIGNATURE:
            _sign(appeal, actor=actor, now=now)
        _refuse(appeal, rules.REPLIED)
        appeal.state = rules.REPLIED
        appeal.replied_at = now
        appeal.reply = text
        appeal.next_escalation_at = None
        appeal.close_at = now + policy.policy().silent
        appeal.changed_at = now
        appeal.save(
            update_fields=[
                "state",
                "signed_at",
                "replied_at",
                "reply",
                "next_escalation_at",
                "close_at",
                "changed_at",
            ]
        )
        _event(appeal, EventKind.REPLIED, text=text, actor=actor, now=now)
        _audit(appeal, "replied", before, actor=actor, now=now)
    return appeal


def appeal_hand_back(*, appeal_id: int, to: str, reason: str, actor: Actor, now: datetime) -> Appeal:
    """The owner (or the command centre, supervising) hands the ticket to another owner, with
    the reason. The new owner has its own time to sign; the reply deadline the resident was
    given stands. Every hand-back is counted on the ticket and shown in its history."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the appeal goes to another owner."), code="reason_needed")
    with transaction.atomic():
        actor.require("handle_appeals")
        appeal = _ticket(actor, appeal_id)
        if actor.role != Role.COMMAND_CENTRE and not stands_for(actor, appeal.owner):
            raise Forbidden(
                _("This appeal is owned by %(owner)s.") % {"owner": appeal.owner.code}, code="not_the_owner"
            )
        _refuse(appeal, rules.DISPATCHED)
        household = Household.objects.get(pk=appeal.household_id)
        target = owner_for(kind=to, household=household)
        if target.pk == appeal.owner_id:
            raise InvalidInput(_("The appeal is already with that owner."), code="same_owner")
        before = _state(appeal)
        window = rules.windows(
            policy.policy().deadlines,
            category=appeal.category,
            urgency=appeal.urgency,
            lockdown=appeal.lockdown,
            vulnerable=appeal.vulnerable,
        )
        source = appeal.owner
        appeal.owner = target
        appeal.state = rules.DISPATCHED
        appeal.dispatched_at = now
        appeal.signed_at = None
        appeal.sign_by = now + window.sign
        appeal.hand_backs += 1
        appeal.next_escalation_at = rules.next_escalation(
            state=rules.DISPATCHED, sign_by=appeal.sign_by, reply_by=appeal.reply_by
        )
        appeal.changed_at = now
        appeal.save(
            update_fields=[
                "owner",
                "state",
                "dispatched_at",
                "signed_at",
                "sign_by",
                "hand_backs",
                "next_escalation_at",
                "changed_at",
            ]
        )
        _event(
            appeal,
            EventKind.HANDED_BACK,
            from_owner=source,
            to_owner=target,
            text=reason,
            actor=actor,
            now=now,
        )
        _audit(appeal, "handed_back", before, reason=reason, actor=actor, now=now)
    return appeal


def appeal_rate(*, appeal_id: int, rating: str, comment: str = "", actor: Actor, now: datetime) -> Appeal:
    """The resident's word on the reply (on the phone page, or to the hotline's call-back):
    satisfied closes the ticket (the resident's confirmation); dissatisfied reopens it with the
    same owner and fresh deadlines, counted on the ticket."""
    actor.require("raise_appeals")
    if rating not in rules.RATINGS:
        raise InvalidInput(
            _("The rating is one of: %(values)s.") % {"values": ", ".join(rules.RATINGS)},
            code="unknown_rating",
        )
    if len(comment) > TEXT_MAX:
        raise InvalidInput(_("Say it in at most %(n)d characters.") % {"n": TEXT_MAX}, code="text_too_long")
    with transaction.atomic():
        appeal = _ticket(actor, appeal_id)
        target = rules.CLOSED if rating == rules.SATISFIED else rules.REOPENED
        if appeal.state != rules.REPLIED:
            raise InvalidTransition(_("Only a replied appeal can be rated."), code=f"appeal_{appeal.state}")
        _refuse(appeal, target)
        before = _state(appeal)
        appeal.rating = rating
        appeal.close_at = None
        appeal.changed_at = now
        fields = ["rating", "state", "close_at", "changed_at"]
        _event(appeal, EventKind.RATED, rating=rating, text=comment.strip(), actor=actor, now=now)
        if target == rules.CLOSED:
            appeal.state = rules.CLOSED
            appeal.closed_at = now
            fields.append("closed_at")
            _event(appeal, EventKind.CLOSED, actor=actor, now=now)
        else:
            window = rules.windows(
                policy.policy().deadlines,
                category=appeal.category,
                urgency=appeal.urgency,
                lockdown=appeal.lockdown,
                vulnerable=appeal.vulnerable,
            )
            appeal.state = rules.REOPENED
            appeal.reopened += 1
            appeal.replied_at = None
            appeal.signed_at = None
            appeal.dispatched_at = now
            appeal.sign_by = now + window.sign
            appeal.reply_by = now + window.reply
            appeal.next_escalation_at = rules.next_escalation(
                state=rules.REOPENED, sign_by=appeal.sign_by, reply_by=appeal.reply_by
            )
            fields += [
                "reopened",
                "replied_at",
                "signed_at",
                "dispatched_at",
                "sign_by",
                "reply_by",
                "next_escalation_at",
            ]
            _event(appeal, EventKind.REOPENED, to_owner=appeal.owner, actor=actor, now=now)
        appeal.save(update_fields=fields)
        _audit(appeal, "rated", before, reason=comment.strip(), actor=actor, now=now)
    return appeal


@dataclass(frozen=True)
class Swept:
    escalated: int
    closed: int


def appeals_sweep(*, actor: Actor, now: datetime) -> Swept:
    """The worker's sweep (every quarter of an hour): every ticket past its running deadline
    goes up a level (the district, then the command centre), and every replied ticket whose
    resident stayed silent past policy's time closes. Set-based (appeals/sql.py): a statement
    each, conditional on the state, so a ticket signed or rated meanwhile is left alone; each
    change audited and written in the ticket's history."""
    if not actor.has("handle_appeals"):
        raise Forbidden()
    rule = policy.policy()
    with transaction.atomic():
        escalated = sql.escalate_due(
            now=now,
            step=rule.escalation_step,
            top=rule.top_level,
            states=rules.AWAITING_REPLY,
            actor_label=audit.label_of(actor),
            actor_id=actor.user_id,
        )
        closed = sql.close_silent(
            now=now,
            sources=rules.sources_of(rules.CLOSED),
            actor_label=audit.label_of(actor),
            actor_id=actor.user_id,
        )
    return Swept(escalated=escalated, closed=closed)
