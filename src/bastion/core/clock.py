"""The one source of "now".

Production reads the wall clock; scenarios and drills advance a simulated clock; tests
freeze it. Services take `now` as an argument; interfaces get it from `clock.now()`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


class Clock:
    # The city's time zone while this clock is in use; None means the TIME_ZONE setting.
    zone: ZoneInfo | None = None

    def now(self) -> datetime:
        raise NotImplementedError


class WallClock(Clock):
    def now(self) -> datetime:
        return timezone.now()


class FrozenClock(Clock):
    def __init__(self, at: datetime) -> None:
        if timezone.is_naive(at):
            raise ValueError("a clock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        return self._at


class SimulatedClock(Clock):
    """A clock that moves only when told to: scenario replay and drills."""

    def __init__(self, start: datetime, *, zone: ZoneInfo | None = None) -> None:
        if timezone.is_naive(start):
            raise ValueError("a clock needs an aware datetime")
        self._at = start
        self._lock = threading.Lock()
        self.zone = zone

    def now(self) -> datetime:
        return self._at

    def advance_to(self, at: datetime) -> None:
        with self._lock:
            if at < self._at:
                raise ValueError(f"a simulated clock cannot run backwards ({at} < {self._at})")
            self._at = at

    def advance(self, delta: timedelta) -> None:
        self.advance_to(self._at + delta)


_current: Clock = WallClock()


def now() -> datetime:
    return _current.now()


def city_zone() -> ZoneInfo:
    """The zone protocol days are counted in: the clock's (a scenario's), else the setting."""
    return _current.zone or ZoneInfo(settings.TIME_ZONE)


def today() -> date:
    """The calendar day in the city's time zone: protocol days are counted in it."""
    return now().astimezone(city_zone()).date()


def local_date(at: datetime) -> date:
    return at.astimezone(city_zone()).date()


@contextlib.contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    global _current
    previous = _current
    _current = clock
    try:
        yield clock
    finally:
        _current = previous
