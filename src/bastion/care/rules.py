"""Pure rules of medical care under lockdown: which standing needs call for trips, the sessions
a need has between two days, the moves a trip may make, and when a session counts as missed.
Plain values in and out, no ORM.

Each rule has its table of cases beside it (`*_CASES`), which tests/care/test_rules.py runs
through the rule and, where the services run it in bulk (the planning of trips, the missed
sessions), through the services too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# --- needs -----------------------------------------------------------------------------------

DIALYSIS = "dialysis"
CHEMOTHERAPY = "chemotherapy"
PREGNANCY = "pregnancy"
OXYGEN = "oxygen"
INSULIN = "insulin"
OTHER = "other"
KINDS = (DIALYSIS, CHEMOTHERAPY, PREGNANCY, OXYGEN, INSULIN, OTHER)

# The needs that are kept by a schedule of sessions at a place of treatment (a trip each time);
# oxygen and insulin are supplies brought to the door, never a trip of their own.
SCHEDULED = (DIALYSIS, CHEMOTHERAPY, PREGNANCY, OTHER)
# Needs that must give a schedule (weekdays or dates) and a session time: dialysis three times
# a week is the reason the platform plans trips at all; a pregnancy may have no visit booked yet.
SCHEDULE_REQUIRED = (DIALYSIS, CHEMOTHERAPY)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekday_numbers(names: Iterable[str]) -> tuple[int, ...]:
    """("mon", "wed", "fri") -> (0, 2, 4); ValueError on a name that is not a weekday."""
    numbers = set()
    for name in names:
        key = name.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise ValueError(name)
        numbers.add(WEEKDAYS.index(key))
    return tuple(sorted(numbers))


@dataclass(frozen=True)
class Need:
    """What the rule needs of a standing medical need."""

    kind: str
    since: date
    until: date | None = None
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    dates: tuple[date, ...] = ()
    session_time: time | None = None
    due_on: date | None = None  # a pregnancy's due date


def schedule_problem(need: Need) -> str | None:
    """Why a need's schedule cannot stand (a stable code), or None.

    - `until_before_since`: it ends before it starts;
    - `weekday_out_of_range`: a weekday not in 0..6;
    - `schedule_needed`: dialysis and chemotherapy give weekdays or dates;
    - `time_needed`: a schedule without the session's time;
    - `no_schedule_for_supply`: oxygen and insulin are supplies, not sessions;
    - `due_date_needed`: a pregnancy gives its due date.
    """
    if need.until is not None and need.until < need.since:
        return "until_before_since"
    if any(not 0 <= day <= 6 for day in need.weekdays):
        return "weekday_out_of_range"
    has_schedule = bool(need.weekdays or need.dates)
    if need.kind not in SCHEDULED and has_schedule:
        return "no_schedule_for_supply"
    if need.kind in SCHEDULE_REQUIRED and not has_schedule:
        return "schedule_needed"
    if has_schedule and need.session_time is None:
        return "time_needed"
    if need.kind == PREGNANCY and need.due_on is None:
        return "due_date_needed"
    return None


def sessions_due(need: Need, from_day: date, to_day: date) -> list[date]:
    """The days from `from_day` to `to_day` (both included) on which `need` has a session: a
    weekday of its schedule or one of its dates, within `since`..`until`, in order, each once.
    A need without a session time, or of a kind that is a supply, has none."""
    if need.kind not in SCHEDULED or need.session_time is None:
        return []
    first = max(from_day, need.since)
    last = to_day if need.until is None else min(to_day, need.until)
    days: set[date] = {d for d in need.dates if first <= d <= last}
    if need.weekdays:
        day = first
        while day <= last:
            if day.weekday() in need.weekdays:
                days.add(day)
            day += timedelta(days=1)
    return sorted(days)


D = date(2022, 9, 1)  # a Thursday
T = time(8, 0)

# (need, from_day, to_day, the days due): run through the rule and, for the needs that are
# valid, through the planning service (tests/care/test_rules.py, tests/care/test_planning.py).
SESSIONS_CASES: tuple[tuple[Need, date, date, tuple[date, ...]], ...] = (
    # Dialysis Mon/Wed/Fri from Thursday 1 September: Fri 2, Mon 5, Wed 7.
    (
        Need(DIALYSIS, D, weekdays=(0, 2, 4), session_time=T),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 2), date(2022, 9, 5), date(2022, 9, 7)),
    ),
    # The first day counts when it is a session day (Thursday).
    (
        Need(DIALYSIS, D, weekdays=(1, 3, 5), session_time=T),
        D,
        D + timedelta(days=2),
        (date(2022, 9, 1), date(2022, 9, 3)),
    ),
    # Not before the need starts…
    (
        Need(DIALYSIS, date(2022, 9, 5), weekdays=(0, 2, 4), session_time=T),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 5), date(2022, 9, 7)),
    ),
    # …nor after it ends.
    (
        Need(DIALYSIS, D, until=date(2022, 9, 5), weekdays=(0, 2, 4), session_time=T),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 2), date(2022, 9, 5)),
    ),
    # Chemotherapy by the dates of its cycle, outside the window left out.
    (
        Need(CHEMOTHERAPY, D, dates=(date(2022, 9, 3), date(2022, 9, 24)), session_time=T),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 3),),
    ),
    # Dates and weekdays together: a date on a weekday of the schedule is one session.
    (
        Need(CHEMOTHERAPY, D, weekdays=(4,), dates=(date(2022, 9, 2), date(2022, 9, 6)), session_time=T),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 2), date(2022, 9, 6)),
    ),
    # An obstetric visit of a pregnancy.
    (
        Need(PREGNANCY, D, dates=(date(2022, 9, 6),), session_time=T, due_on=date(2022, 11, 20)),
        D,
        D + timedelta(days=6),
        (date(2022, 9, 6),),
    ),
    # A pregnancy without a visit booked, oxygen and insulin: no session.
    (Need(PREGNANCY, D), D, D + timedelta(days=6), ()),
    (Need(OXYGEN, D), D, D + timedelta(days=6), ()),
    (Need(INSULIN, D), D, D + timedelta(days=6), ()),
    # A schedule without a time gives no session (the service refuses it: time_needed).
    (Need(DIALYSIS, D, weekdays=(0, 2, 4)), D, D + timedelta(days=6), ()),
    # An empty window.
    (Need(DIALYSIS, D, weekdays=(0, 1, 2, 3, 4, 5, 6), session_time=T), D, D - timedelta(days=1), ()),
)

# (need, the problem's code or None): run through schedule_problem and the need services.
PROBLEM_CASES: tuple[tuple[Need, str | None], ...] = (
    (Need(DIALYSIS, D, weekdays=(0, 2, 4), session_time=T), None),
    (Need(DIALYSIS, D, session_time=T), "schedule_needed"),
    (Need(CHEMOTHERAPY, D), "schedule_needed"),
    (Need(DIALYSIS, D, weekdays=(0, 2, 4)), "time_needed"),
    (Need(DIALYSIS, D, until=D - timedelta(days=1), weekdays=(0,), session_time=T), "until_before_since"),
    (Need(DIALYSIS, D, weekdays=(7,), session_time=T), "weekday_out_of_range"),
    (Need(OXYGEN, D, weekdays=(0,), session_time=T), "no_schedule_for_supply"),
    (Need(INSULIN, D), None),
    (Need(PREGNANCY, D), "due_date_needed"),
    (Need(PREGNANCY, D, due_on=date(2022, 11, 20)), None),
    (Need(PREGNANCY, D, dates=(date(2022, 9, 6),), due_on=date(2022, 11, 20)), "time_needed"),
    (Need(OTHER, D, weekdays=(2,), session_time=T), None),
)

# --- trips -----------------------------------------------------------------------------------

SESSION = "session"  # to a standing need's session of treatment, planned by the platform
YELLOW_CODE = "yellow_code"  # to the yellow-code hospital, raised by a community worker or doctor
EMERGENCY = "emergency"  # a 120 call: at once, held back by nothing
PURPOSES = (SESSION, YELLOW_CODE, EMERGENCY)

# The moves a trip may make (care.models.TripState). A trip is planned (a session ahead, a
# request, an emergency call), a vehicle is dispatched to it, the patient is picked up, taken to
# treatment and brought home. A session whose time passes before the patient is picked up is
# missed; a dispatcher may still send a vehicle late (missed → dispatched), which keeps the
# mark. Planned, dispatched and missed trips may be cancelled, with a reason (the need ended,
# the zone lifted, the patient went into hospital).
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "trip": {
        "planned": frozenset({"dispatched", "missed", "cancelled"}),
        "dispatched": frozenset({"picked_up", "missed", "cancelled"}),
        "missed": frozenset({"dispatched", "cancelled"}),
        "picked_up": frozenset({"at_treatment"}),
        "at_treatment": frozenset({"returned"}),
        "returned": frozenset(),
        "cancelled": frozenset(),
    },
}


def may_move(entity: str, state: str, to: str) -> bool:
    """May `entity` ("trip") in `state` move to `to`?"""
    return to in ALLOWED_TRANSITIONS[entity].get(state, frozenset())


def moves_into(entity: str, to: str) -> tuple[str, ...]:
    """The states from which `entity` may reach `to`: the condition of a conditional UPDATE."""
    return tuple(state for state, targets in ALLOWED_TRANSITIONS[entity].items() if to in targets)


def is_missed(*, at: datetime, now: datetime, state: str, purpose: str, grace: timedelta) -> bool:
    """A trip's session is missed when its time (and the policy's grace) has passed and the
    patient is not picked up: the trip is still planned or dispatched. An emergency is never
    "missed" (it has no session time: it is overdue, and on top of the board)."""
    if purpose == EMERGENCY or not may_move("trip", state, "missed") or state == "missed":
        return False
    return at + grace <= now


EIGHT = datetime(2022, 9, 1, 0, 0, tzinfo=UTC)  # 08:00 in Chengdu

# (at, now, state, purpose, grace minutes, missed): run through the rule and the missed timer.
MISSED_CASES: tuple[tuple[datetime, datetime, str, str, int, bool], ...] = (
    (EIGHT, EIGHT - timedelta(minutes=1), "planned", SESSION, 0, False),
    (EIGHT, EIGHT, "planned", SESSION, 0, True),
    (EIGHT, EIGHT + timedelta(minutes=1), "dispatched", SESSION, 0, True),
    (EIGHT, EIGHT + timedelta(minutes=14), "planned", SESSION, 15, False),
    (EIGHT, EIGHT + timedelta(minutes=15), "planned", SESSION, 15, True),
    (EIGHT, EIGHT + timedelta(hours=1), "picked_up", SESSION, 0, False),
    (EIGHT, EIGHT + timedelta(hours=1), "returned", SESSION, 0, False),
    (EIGHT, EIGHT + timedelta(hours=1), "cancelled", SESSION, 0, False),
    (EIGHT, EIGHT + timedelta(hours=1), "missed", SESSION, 0, False),
    (EIGHT, EIGHT + timedelta(hours=1), "planned", YELLOW_CODE, 0, True),
    (EIGHT, EIGHT + timedelta(hours=1), "planned", EMERGENCY, 0, False),
)


def board_key(*, emergency: bool, missed: bool, at: datetime) -> tuple[int, int, datetime]:
    """How the dispatcher's board sorts trips: emergencies first, then missed sessions, then by
    the time due."""
    return (0 if emergency else 1, 0 if missed else 1, at)
