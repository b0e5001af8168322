"""How a transfer ends: every path that ends one (a discharge, a discharge before admission, a
contact's stay run out, a dispatcher's cancellation or a refusal, a contact turned case, a
person moved on to another place) goes through `end_with_carers`, so that a carer never stays
behind in a bed, or waits for a ride, for someone who has gone home."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.utils.translation import gettext as _

from bastion.core import audit
from bastion.core.audit import Change
from bastion.core.errors import InvalidTransition
from bastion.core.scopes import Actor
from bastion.transfer import rules
from bastion.transfer.models import Transfer

ENDED_FIELDS = ["state", "ended_at", "end_reason", "holds_bed", "bed_until", "on_board"]


def record(
    transfer: Transfer, action: str, before: str | None, reason: str, actor: Actor, now: datetime
) -> None:
    audit.record(
        action=f"transfer.transfer.{action}",
        obj=transfer,
        before={"state": before} if before else None,
        after={"state": transfer.state},
        reason=reason,
        district_id=transfer.district_id,
        actor=actor,
        now=now,
    )


def release_bed(transfer: Transfer, now: datetime) -> list[str]:
    """Give the transfer's bed and seat back (fields to save)."""
    changed = []
    if transfer.holds_bed:
        transfer.holds_bed, transfer.bed_until = False, now
        changed += ["holds_bed", "bed_until"]
    if transfer.on_board:
        transfer.on_board = False
        changed.append("on_board")
    return changed


def _close(transfer: Transfer, to: str, reason: str, now: datetime) -> str:
    """End one transfer in memory; the state it was in."""
    if not rules.may_move("transfer", transfer.state, to):
        raise InvalidTransition(
            _("A transfer %(state)s cannot be %(to)s.") % {"state": transfer.state, "to": to},
            code="bad_transition",
        )
    before = transfer.state
    transfer.state, transfer.ended_at, transfer.end_reason = to, now, reason[:500]
    release_bed(transfer, now)
    return before


def end_with_carers(
    transfers: Sequence[Transfer],
    *,
    to: str | None,
    reason: str,
    action: str | None = None,
    actor: Actor,
    now: datetime,
) -> list[Transfer]:
    """End `transfers` (rows the caller locked, inside its transaction) in `to`, or, with `to`
    None, as a stay ends (`rules.ended_home`: discharged from a place, cancelled before one), and
    with each the open transfers of the carers who go with it: a carer has no reason of their
    own to be moved, so they go home from the place or are not moved any more (never
    "refused": the person was). Every bed and seat is given back (`bed_until`: free beds of
    any later moment count it). Set-based: one UPDATE of the rows and one batch of audit rows
    per action; each row audited with its state before and after, the carers with the
    person's reason. Returns the carers' transfers ended."""
    if not transfers:
        return []
    carers = list(
        Transfer.objects.select_for_update()
        .filter(carer_of__in=[t.pk for t in transfers], state__in=rules.OPEN)
        .exclude(pk__in=[t.pk for t in transfers])
        .order_by("pk")
    )
    changes: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for t in transfers:
        state = to or rules.ended_home(t.state)
        before = _close(t, state, reason, now)
        changes[(action or f"transfer.transfer.{state}", reason)].append(
            Change(t.pk, {"state": before}, {"state": state}, t.district_id)
        )
    ended_by = {t.pk: t.end_reason for t in transfers}
    for carer in carers:
        state = rules.ended_home(carer.state)
        why = _("goes home with the person they care for: %(reason)s") % {
            "reason": ended_by.get(carer.carer_of_id or 0, reason)
        }
        before = _close(carer, state, why, now)
        changes[(f"transfer.transfer.{state}", carer.end_reason)].append(
            Change(carer.pk, {"state": before}, {"state": state}, carer.district_id)
        )
    Transfer.objects.bulk_update([*transfers, *carers], ENDED_FIELDS, batch_size=500)
    for (name, why), rows in changes.items():
        audit.record_many(
            action=name, object_type="transfer.transfer", changes=rows, reason=why, actor=actor, now=now
        )
    return carers
