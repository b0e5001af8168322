"""Writing the audit log. Call inside the transaction that makes the change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import translation

from bastion.core.models import AuditEntry
from bastion.core.scopes import Actor


def label_of(actor: Actor) -> str:
    """Who acted, as the log names them: the account, and the device acting for it if any."""
    label = actor.label or actor.role
    return f"{label} ({actor.device})"[:150] if actor.device else label


def record(
    *,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: object = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str = "",
    district_id: int | None = None,
    actor: Actor,
    now: datetime,
) -> AuditEntry:
    """Write one audit row. Refuses to run outside a transaction so that the row and the
    change it describes land together or not at all."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must run inside transaction.atomic()")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    if object_type is None:
        raise ValueError("audit.record needs an object or an object_type")
    return AuditEntry.objects.create(
        action=action,
        actor_id=actor.user_id,
        actor_label=label_of(actor),
        object_type=object_type,
        object_id=str(object_id if object_id is not None else ""),
        before=before,
        after=after,
        reason=reason,
        district_id=district_id,
        at=now,
    )


@dataclass(frozen=True)
class Change:
    """One object's transition in a set-based change (`record_many`)."""

    object_id: object
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    district_id: int | None = None


def record_many(
    *, action: str, object_type: str, changes: Iterable[Change], reason: str = "", actor: Actor, now: datetime
) -> int:
    """One audit row per change, written in batches, for transitions made by one UPDATE over
    many rows (the daily evaluation of zones, quarantine releases). Inside the transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record_many must run inside transaction.atomic()")
    rows = [
        AuditEntry(
            action=action,
            actor_id=actor.user_id,
            actor_label=label_of(actor),
            object_type=object_type,
            object_id=str(change.object_id),
            before=change.before,
            after=change.after,
            reason=reason,
            district_id=change.district_id,
            at=now,
        )
        for change in changes
    ]
    AuditEntry.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def city_text(message: str, **params: object) -> str:
    """A reason the platform writes itself (mark `message` with gettext_noop), kept in the city's
    language whoever's request or which worker caused it: the record reads the same to every
    resident and officer."""
    with translation.override(settings.LANGUAGE_CODE):
        return translation.gettext(message) % {key: str(value) for key, value in params.items()}


def trail(*, object_type: str, object_id: object) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(object_type=object_type, object_id=str(object_id))
