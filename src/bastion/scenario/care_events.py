"""Scenario events and the observation of medical care under lockdown
(docs/SCENARIOS_EXTENSIONS.md, "Medical care").

Events: `need` (a resident's standing need, as a community worker records it) and `emergency`
(a 120 call). Observation `care`: the day's trips planned, missed and emergencies."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

from bastion.care import rules, selectors, services
from bastion.city.models import Resident
from bastion.city.selectors import resident_by_address
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.scopes import SYSTEM
from bastion.scenario.runner import Context, event, observation
from bastion.scenario.spec import Event


def _resident(address: Any) -> Resident:
    if not isinstance(address, str):
        raise InvalidInput("resident must be an address like C1/2/1/301#1", code="bad_resident")
    try:
        return resident_by_address(address)
    except NotFound:
        raise NotFound(f"there is no resident {address}", code="unknown_resident") from None


def _day(value: Any, key: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{key} must be a day like 2022-09-01", code="bad_day") from None


@event("need")
def _need(ctx: Context, ev: Event) -> None:
    body = ev.body
    weekdays = body.get("weekdays", [])
    dates = body.get("dates", [])
    if not isinstance(weekdays, list) or not isinstance(dates, list):
        raise InvalidInput("weekdays and dates are lists", code="bad_schedule")
    try:
        numbers = rules.weekday_numbers(str(day) for day in weekdays)
    except ValueError as bad:
        raise InvalidInput(f"{bad} is not a weekday (mon … sun)", code="bad_weekday") from None
    at = body.get("time")
    try:
        session_time = time.fromisoformat(str(at)) if at is not None else None
    except ValueError:
        raise InvalidInput("time must read like 08:00", code="bad_time") from None
    now = ctx.clock.now()
    services.need_add(
        resident_id=_resident(body.get("resident")).pk,
        fields=services.NeedFields(
            kind=str(body.get("kind", "")),
            since=_day(body.get("since"), "since") or ctx.scenario.start + timedelta(days=ev.day),
            until=_day(body.get("until"), "until"),
            weekdays=numbers,
            dates=[d for d in (_day(v, "dates") for v in dates) if d is not None],
            session_time=session_time,
            place=str(body.get("place", "")),
            due_on=_day(body.get("due_on"), "due_on"),
        ),
        actor=SYSTEM,
        now=now,
    )


@event("emergency")
def _emergency(ctx: Context, ev: Event) -> None:
    now = ctx.clock.now()
    services.emergency_call(
        resident_id=_resident(ev.body.get("resident")).pk,
        note=str(ev.body.get("note", "")),
        actor=SYSTEM,
        now=now,
    )


@observation("care")
def _observe_care(ctx: Context, day: int, today: date) -> dict[str, Any]:
    figures = selectors.figures(actor=SYSTEM, day=today)
    return {
        "care": {
            "trips_planned": figures.trips_planned,
            "trips_missed": figures.trips_missed,
            "emergencies": figures.emergencies,
        }
    }
