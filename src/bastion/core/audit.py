"""Writing the audit log. Call inside the transaction that makes the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models, transaction

from bastion.core.models import AuditEntry
from bastion.core.scopes import Actor


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
        actor_label=actor.label or actor.role,
        object_type=object_type,
        object_id=str(object_id if object_id is not None else ""),
        before=before,
        after=after,
        reason=reason,
        district_id=district_id,
        at=now,
    )


def trail(*, object_type: str, object_id: object) -> models.QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(object_type=object_type, object_id=str(object_id))
