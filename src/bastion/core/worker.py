"""The background worker: runs the playbook's timers on the platform's clock.

What runs, how often and in what order is written once, in `bastion.flows.TIMERS`; the worker
only keeps time. `bastion worker` runs `tick` in a loop, the demo runs the same loop in a
thread, and the scenario runner ends each simulated day with every timer at once. A failing
timer is logged on the heartbeat and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import close_old_connections, transaction

from bastion.core import clock
from bastion.core.models import WorkerHeartbeat

log = logging.getLogger(__name__)

TimerFunction = Callable[[datetime], object]


@dataclass(frozen=True)
class Timer:
    """One step of the playbook's clock: `run(now)` every `every`, or once per calendar day of
    the city when `every` is None (at the first tick of the day)."""

    name: str
    every: timedelta | None
    run: TimerFunction


# When each timer last ran, by name: a process's memory, so a restarted worker runs everything
# at its first tick (every timer is safe to run again: each finds its own work due).
_last_run: dict[str, datetime] = {}


def due(timer: Timer, now: datetime) -> bool:
    last = _last_run.get(timer.name)
    if last is None or now < last:  # a clock set back (a new scenario)
        return True
    if timer.every is None:
        return clock.local_date(now) != clock.local_date(last)
    return now - last >= timer.every


def reset() -> None:
    """Forget when timers last ran (a scenario starts its own calendar)."""
    _last_run.clear()


def tick(*, timers: Sequence[Timer], now: datetime, name: str = "worker", all_due: bool = False) -> list[str]:
    """Run, in their order, the timers due at `now` (every one of them with `all_due`); return
    the names of those that ran. Each timer's work commits on its own; the heartbeat records
    the tick and the errors of those that failed."""
    ran: list[str] = []
    errors: list[str] = []
    for timer in timers:
        if not (all_due or due(timer, now)):
            continue
        try:
            timer.run(now)
        except Exception as exc:  # a timer's failure must not stop the others
            log.exception("timer %s failed", timer.name)
            errors.append(f"{timer.name}: {exc}")
        else:
            ran.append(timer.name)
        _last_run[timer.name] = now
    with transaction.atomic():
        beat, _ = WorkerHeartbeat.objects.select_for_update().get_or_create(
            name=name, defaults={"seen_at": now}
        )
        beat.seen_at = now
        beat.ticks += 1
        beat.last_error = "\n".join(errors)
        beat.save(update_fields=["seen_at", "ticks", "last_error"])
    return ran


def run_forever(
    *, timers: Sequence[Timer], interval: float = 30.0, stop: threading.Event | None = None
) -> None:
    stop = stop or threading.Event()
    while not stop.is_set():
        close_old_connections()
        try:
            tick(timers=timers, now=clock.now())
        except Exception:  # the database may be briefly away; try again next round
            log.exception("worker tick failed")
        stop.wait(interval)


def start_in_thread(*, timers: Sequence[Timer], interval: float = 30.0) -> threading.Event:
    stop = threading.Event()
    thread = threading.Thread(
        target=run_forever, kwargs={"timers": timers, "interval": interval, "stop": stop}, daemon=True
    )
    thread.start()
    return stop
