"""Replaying a scenario: the same services, flows and timers as production, on a simulated clock.

Capabilities register their event kinds and observations here; the runner itself knows only
the day loop: events at their times, the playbook's day (`flows.day_ended`) at its end, then what
the platform shows.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from bastion import flows
from bastion.cases import services as case_services
from bastion.city import selectors as city_selectors
from bastion.city import services as city_services
from bastion.city.load import registry_is_empty
from bastion.city.registry_io import RegistryFileRejected
from bastion.city.services import registry_import
from bastion.core import clock, worker
from bastion.core.errors import DomainError
from bastion.core.scopes import SYSTEM
from bastion.scenario.spec import Event, Scenario, ScenarioError


@dataclass
class Context:
    scenario: Scenario
    zone: ZoneInfo
    clock: clock.SimulatedClock
    state: dict[str, Any]
    # The `watch:` list resolved once the city is built: address → resident id, in file order.
    watched: dict[str, int] = field(default_factory=dict)
    # What a setup changes for the run only (a policy switched for the exercise), undone at its end.
    cleanup: ExitStack = field(default_factory=ExitStack)

    def local(self, day: int, at: time) -> datetime:
        return datetime.combine(self.scenario.start + timedelta(days=day), at, tzinfo=self.zone)


EventHandler = Callable[[Context, Event], None]
Observer = Callable[[Context, int, date], dict[str, Any]]

EVENT_KINDS: dict[str, EventHandler] = {}
OBSERVATIONS: dict[str, Observer] = {}
# Run once the city is built, before the first event (a capability's default data).
SETUPS: list[Callable[[Context], None]] = []


def event(name: str) -> Callable[[EventHandler], EventHandler]:
    def register(func: EventHandler) -> EventHandler:
        EVENT_KINDS[name] = func
        return func

    return register


def setup(func: Callable[[Context], None]) -> Callable[[Context], None]:
    SETUPS.append(func)
    return func


def observation(name: str) -> Callable[[Observer], Observer]:
    def register(func: Observer) -> Observer:
        OBSERVATIONS[name] = func
        return func

    return register


@observation("registry")
def _observe_registry(ctx: Context, day: int, today: date) -> dict[str, Any]:
    figures = city_selectors.city_figures(actor=SYSTEM)
    structure = city_selectors.structure_counts(actor=SYSTEM)
    return {
        "registry": {
            **structure.__dict__,
            **{name: getattr(figures, name) for name in city_selectors.FIGURE_FIELDS},
            # The day the figures were counted on: the worker recounts them every day.
            "as_of": figures.as_of.isoformat() if figures.as_of else None,
        }
    }


def run(scenario: Scenario) -> dict[str, Any]:
    """Replay `scenario` on the current database, which must hold no city yet."""
    if not registry_is_empty():
        raise ScenarioError("city", "the database already holds a city; scenarios start from an empty one")
    zone = ZoneInfo(scenario.timezone)
    start = datetime.combine(scenario.start, time(0, 0), tzinfo=zone)
    sim = clock.SimulatedClock(start, zone=zone)
    ctx = Context(scenario=scenario, zone=zone, clock=sim, state={})
    worker.reset()
    with clock.use(sim), ctx.cleanup:
        city_services.roles_sync()
        with transaction.atomic():
            case_services.protocol_adopt(
                protocol=scenario.protocol,
                since=scenario.start,
                reason="scenario",
                actor=SYSTEM,
                now=sim.now(),
            )
        try:
            if scenario.city_file is not None:
                _load_city_file(ctx)
            else:
                city_services.city_build(
                    city=scenario.city, seed=scenario.seed, as_of=scenario.start, actor=SYSTEM, now=sim.now()
                )
        except DomainError as exc:
            key = (exc.details or {}).get("key", "city") if isinstance(exc.details, dict) else "city"
            raise ScenarioError(key, str(exc.message)) from None
        ctx.watched = _watched(scenario)
        with transaction.atomic():
            for prepare in SETUPS:
                prepare(ctx)
        days_out = []
        pending = list(scenario.events)
        for day in range(scenario.days):
            today = scenario.start + timedelta(days=day)
            while pending and pending[0].day == day:
                event = pending.pop(0)
                _advance(sim, ctx.local(event.day, event.at))
                try:
                    with transaction.atomic():
                        EVENT_KINDS[event.kind](ctx, event)
                except DomainError as exc:
                    raise ScenarioError(
                        f"events[{event.index}].{event.kind}", str(exc.message), event.line
                    ) from None
            _advance(sim, ctx.local(day, time(23, 59, 59)))
            flows.day_ended(now=sim.now(), name="scenario")
            out: dict[str, Any] = {"day": day, "date": today.isoformat()}
            for name in scenario.observe:
                out.update(OBSERVATIONS[name](ctx, day, today))
            days_out.append(out)
            _advance(sim, ctx.local(day + 1, time(0, 0)))
    return {"scenario": scenario.name, "protocol": scenario.protocol, "days": days_out}


def _advance(sim: clock.SimulatedClock, to: datetime) -> None:
    """Move the simulated clock on to `to`, ticking the worker at every full hour on the way, as
    production's worker would (SCENARIOS.md, "Time inside a scenario"): deadlines counted in
    hours fall due in a scenario when they would in production, not at the day's end. A tick at
    the very moment of an event runs before it."""
    hour = sim.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour <= to:
        sim.advance_to(hour.astimezone(to.tzinfo))
        worker.tick(timers=flows.TIMERS, now=sim.now(), name="scenario")
        hour += timedelta(hours=1)
    sim.advance_to(max(sim.now(), to))


def _watched(scenario: Scenario) -> dict[str, int]:
    """The `watch:` list's residents, each named by address; an address naming nobody in the
    city is an error of the file."""
    watched = {}
    for i, address in enumerate(scenario.watch):
        try:
            watched[address] = city_selectors.resident_by_address(address).pk
        except DomainError as exc:
            raise ScenarioError(f"watch[{i}]", str(exc.message)) from None
    return watched


def _load_city_file(ctx: Context) -> None:
    """`city: {file: city.csv}`: the registry import format (docs/REGISTRY_FORMAT.md)."""
    path = ctx.scenario.city_file
    if path is None:
        raise ScenarioError("city.file", "is missing")
    try:
        registry_import(file=path.read_bytes(), filename=path.name, actor=SYSTEM, now=ctx.clock.now())
    except RegistryFileRejected as exc:
        first = exc.problems[0] if exc.problems else None
        where = f" (row {first.row}, column {first.column}: {first.message})" if first else ""
        raise ScenarioError("city.file", f"{path.name} was rejected{where}") from None


# The capabilities' event kinds and observations register themselves on import.
from bastion.scenario import (  # noqa: E402
    appeals_events,
    care_events,
    cases_zones,
    codes_events,
    supply_events,
    testing_events,
    transfer_events,
)

del appeals_events, care_events, cases_zones, codes_events, supply_events, testing_events, transfer_events
