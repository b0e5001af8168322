"""The timers of cases and contacts, run by the worker."""

from __future__ import annotations

from datetime import datetime

from bastion.cases.services import contacts_release_due
from bastion.core import clock, worker
from bastion.core.scopes import SYSTEM


@worker.daily("cases.release_contacts")
def release_contacts(now: datetime) -> None:
    """Quarantines end on the day after their plan's last day, at the first tick of that day."""
    contacts_release_due(today=clock.local_date(now), actor=SYSTEM, now=now)
