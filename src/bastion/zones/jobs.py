"""The timers of risk zones, run by the worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from bastion.core import clock, worker
from bastion.core.scopes import SYSTEM
from bastion.zones.services import zones_evaluate


@worker.periodic("zones.evaluate", every=timedelta(minutes=15))
def evaluate_zones(now: datetime) -> None:
    """Every quarter of an hour, so that a zone steps down within the hour its clock runs out
    (for instance once its day-7 screening is in)."""
    zones_evaluate(today=clock.local_date(now), actor=SYSTEM, now=now)
