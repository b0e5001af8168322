"""Two people acting on one ticket at once (PostgreSQL row locks): two workers of the owning
community signing, a reply racing the sweep's escalation. One wins, the other is told why; the
history and the audit log hold each change once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections

from bastion.appeals import services
from bastion.appeals.models import Appeal, AppealEvent
from bastion.core.errors import DomainError
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor
from tests.appeals.conftest import FREE, raise_
from tests.conftest import NOW


def _at_once(*actions: Callable[[], Any]) -> list[str]:
    """Run `actions` in threads released together; what each ended with (a result or a code)."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []

    def run(action: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            action()
            outcomes.append("done")
        except DomainError as refused:
            outcomes.append(refused.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return sorted(outcomes)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_signing_at_once_sign_it_once(worker: Actor, other_worker: Actor) -> None:
    appeal = raise_(FREE)
    outcomes = _at_once(
        lambda: services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW + timedelta(minutes=5)),
        lambda: services.appeal_sign(appeal_id=appeal.pk, actor=other_worker, now=NOW + timedelta(minutes=5)),
    )
    assert outcomes == ["appeal_signed", "done"]
    assert Appeal.objects.get(pk=appeal.pk).state == "signed"
    assert AppealEvent.objects.filter(appeal=appeal, kind="signed").count() == 1
    assert AuditEntry.objects.filter(action="appeals.appeal.signed", object_id=str(appeal.pk)).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_reply_racing_the_sweep_is_never_escalated_after_it(worker: Actor) -> None:
    appeals = [raise_(FREE, urgency="urgent") for _ in range(20)]
    late = NOW + timedelta(hours=5)  # every one past its 4 hours to sign
    outcomes = _at_once(
        lambda: services.appeals_sweep(actor=SYSTEM, now=late),
        *[
            (lambda pk=a.pk: services.appeal_reply(appeal_id=pk, text="已处理", actor=worker, now=late))
            for a in appeals[:5]
        ],
    )
    assert outcomes == ["done"] * 6
    for appeal in Appeal.objects.filter(pk__in=[a.pk for a in appeals]):
        assert appeal.state in ("replied", "dispatched")
        # Escalated only while it waited: never once replied.
        escalations = AppealEvent.objects.filter(appeal=appeal, kind="escalated").count()
        assert escalations == appeal.escalation_level <= 1
        if appeal.state == "replied":
            assert appeal.next_escalation_at is None
    assert (
        AuditEntry.objects.filter(action="appeals.appeal.escalated").count()
        == AppealEvent.objects.filter(kind="escalated").count()
    )
