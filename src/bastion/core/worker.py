"""The background worker: runs registered periodic jobs on the platform's clock.

Contexts register their timers (zone evaluation, SLA escalation, quarantine release) with
`periodic`; `bastion worker` runs them in a loop, and the demo runs the same loop in a thread.
A failing job is logged on the heartbeat and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction

from bastion.core import clock
from bastion.core.models import WorkerHeartbeat

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    every: timedelta | None  # None: once per calendar day in the city's time zone
    run: Callable[[datetime], object]
    last_run: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self.last_run is None or now < self.last_run:  # a clock set back (a new scenario)
            return True
        if self.every is None:
            return clock.local_date(now) != clock.local_date(self.last_run)
        return now - self.last_run >= self.every


_jobs: dict[str, Job] = {}

JobFunction = Callable[[datetime], object]


def periodic(name: str, every: timedelta) -> Callable[[JobFunction], JobFunction]:
    def register(func: JobFunction) -> JobFunction:
        _jobs[name] = Job(name=name, every=every, run=func)
        return func

    return register


def daily(name: str) -> Callable[[JobFunction], JobFunction]:
    """Run once per calendar day of the city, at the first tick of the day."""

    def register(func: JobFunction) -> JobFunction:
        _jobs[name] = Job(name=name, every=None, run=func)
        return func

    return register


def reset() -> None:
    """Forget when jobs last ran (a scenario starts its own calendar)."""
    for job in _jobs.values():
        job.last_run = None


def registered() -> list[str]:
    return sorted(_jobs)


def tick(*, now: datetime, name: str = "worker") -> list[str]:
    """Run every job that is due at `now`; return the names of those that ran."""
    ran: list[str] = []
    errors: list[str] = []
    for job in _jobs.values():
        if not job.due(now):
            continue
        try:
            job.run(now)
        except Exception as exc:  # a job's failure must not stop the other timers
            log.exception("job %s failed", job.name)
            errors.append(f"{job.name}: {exc}")
        else:
            ran.append(job.name)
        job.last_run = now
    with transaction.atomic():
        beat, _ = WorkerHeartbeat.objects.select_for_update().get_or_create(
            name=name, defaults={"seen_at": now}
        )
        beat.seen_at = now
        beat.ticks += 1
        beat.last_error = "\n".join(errors)
        beat.save(update_fields=["seen_at", "ticks", "last_error"])
    return ran


def run_forever(*, interval: float = 30.0, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        close_old_connections()
        try:
            tick(now=clock.now())
        except Exception:  # the database may be briefly away; try again next round
            log.exception("worker tick failed")
        stop.wait(interval)


def start_in_thread(*, interval: float = 30.0) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, kwargs={"interval": interval, "stop": stop}, daemon=True)
    thread.start()
    return stop
