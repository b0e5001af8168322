"""The timers of deliveries, run by the worker."""

from __future__ import annotations

from datetime import datetime, timedelta

from bastion.core import clock, worker
from bastion.core.scopes import SYSTEM
from bastion.delivery.services import standard_orders_create, tasks_build


@worker.periodic("delivery.dispatch", every=timedelta(minutes=15))
def dispatch(now: datetime) -> None:
    """Every quarter of an hour: the standard packages of households newly served door to door
    (a zone designated, a member recalled) and every open order into its building's task, so
    that nobody waits for an operator to press a button."""
    day = clock.local_date(now)
    standard_orders_create(day=day, actor=SYSTEM, now=now)
    tasks_build(day=day, actor=SYSTEM, now=now)
