"""Pure rules of deliveries: the states an order and a task may move between, the deadlines,
when a standard package is due, the staggered pick-up slots, and the day's load plan as
first-fit decreasing bin packing of the compounds' demands into vehicle trips. Plain values in
and out, no ORM.

Where a rule also runs as SQL for speed (the deadline per vulnerability and the due check of
the day's dispatch), its table of cases sits beside it and tests/delivery/test_rules.py drives
the table through both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

# --- states ----------------------------------------------------------------------------------

# The moves an order's state may make (delivery.models.OrderState). An order is placed `open`
# (the dispatch places a standard package straight into its building's task: `assigned`); a
# task takes it (`assigned`); the volunteer delivers it, or fails and it goes back `open` for
# the building's next task. No service cancels an order today: `cancelled` is only read (a
# cancelled order counts toward no limit and no cycle).
#
# The moves of a building's task of the day (delivery.models.TaskState): one volunteer claims
# it, and it is done when its last order is settled.
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "order": {
        "open": frozenset({"assigned"}),
        "assigned": frozenset({"delivered", "open"}),
        "delivered": frozenset(),
        "cancelled": frozenset(),
    },
    "task": {
        "open": frozenset({"claimed"}),
        "claimed": frozenset({"done"}),
        "done": frozenset(),
    },
}


def may_move(entity: str, state: str, to: str) -> bool:
    """May `entity` ("order", "task") in `state` move to `to`?"""
    return to in ALLOWED_TRANSITIONS[entity].get(state, frozenset())


def moves_into(entity: str, to: str) -> tuple[str, ...]:
    """The states from which `entity` may reach `to`: the condition of a conditional UPDATE."""
    return tuple(state for state, targets in ALLOWED_TRANSITIONS[entity].items() if to in targets)


@dataclass(frozen=True)
class Demand:
    compound_id: int
    kg: Decimal


@dataclass
class Trip:
    vehicle: int  # index into the vehicles given
    number: int  # 1 for the vehicle's first trip of the day
    capacity: Decimal
    loads: list[tuple[int, Decimal]] = field(default_factory=list)  # (compound id, kg)

    @property
    def used(self) -> Decimal:
        return sum((kg for _c, kg in self.loads), Decimal(0))


def load_plan(demands: list[Demand], capacities: list[Decimal]) -> list[Trip]:
    """Every demand loaded, the heaviest first, whole into the first trip with room for it;
    each vehicle's first trip comes before any second one. A compound larger than the largest
    vehicle is split across trips. Every kilogram is placed exactly once."""
    if not capacities or any(c <= 0 for c in capacities):
        if any(d.kg > 0 for d in demands):
            raise ValueError("no vehicle to carry the day's goods")
        return []
    largest = max(capacities)
    trips: list[Trip] = []

    def another_round() -> None:
        number = max((t.number for t in trips), default=0) + 1
        trips.extend(Trip(vehicle=i, number=number, capacity=c) for i, c in enumerate(capacities))

    another_round()
    for demand in sorted(demands, key=lambda d: (-d.kg, d.compound_id)):
        left = demand.kg
        while left > 0:
            whole = next((t for t in trips if t.capacity - t.used >= left), None)
            if whole is not None:
                whole.loads.append((demand.compound_id, left))
                break
            if left <= largest:
                another_round()
                continue
            part = next((t for t in trips if t.capacity - t.used > 0), None)
            if part is None:
                another_round()
                continue
            taken = part.capacity - part.used
            part.loads.append((demand.compound_id, taken))
            left -= taken
    return [t for t in trips if t.loads]


# --- deadlines -------------------------------------------------------------------------------


def deadline(placed: datetime, *, vulnerable: bool, vulnerable_hours: int, normal_hours: int) -> datetime:
    """When an order placed at `placed` must be delivered: the policy's tighter hours for a
    vulnerable household, its normal hours for the rest."""
    return placed + timedelta(hours=vulnerable_hours if vulnerable else normal_hours)


# Hours of the policy, a household's vulnerability and the deadline it gets: run through the
# rule above and through the dispatch's INSERT (which takes the two deadlines as parameters and
# chooses per household) by tests/delivery/test_rules.py.
DEADLINE_CASES: tuple[tuple[int, int, bool, int], ...] = (
    # (vulnerable_hours, normal_hours, vulnerable, hours until due)
    (12, 24, True, 12),
    (12, 24, False, 24),
    (6, 48, True, 6),
    (6, 48, False, 48),
    (24, 24, True, 24),
)


# --- the dispatch's day ----------------------------------------------------------------------

# A dispatch makes the packages and tasks of today, or of tomorrow ahead of time; never of a day
# past (a package placed today cannot have been due then) nor far ahead (zones and households
# served door to door change from day to day).
DISPATCH_DAYS_AHEAD = 1


def dispatch_day_allowed(day: date, today: date) -> bool:
    return today <= day <= today + timedelta(days=DISPATCH_DAYS_AHEAD)


# --- standard packages -----------------------------------------------------------------------

CYCLE_DAYS = range(1, 31)


def cycle_days_valid(every_days: object) -> bool:
    """A zone's own package cycle is a whole number of days from 1 to 30."""
    return isinstance(every_days, int) and not isinstance(every_days, bool) and every_days in CYCLE_DAYS


def cycle_start(day: date, every_days: int) -> date:
    """The first day of the cycle that ends on `day`: a standard package of that day or later
    still covers the household on `day`."""
    return day - timedelta(days=every_days - 1)


def standard_package_due(*, day: date, every_days: int, earlier: Iterable[tuple[date, bool]]) -> bool:
    """A household is due a standard package on `day` when none of its earlier ones, given as
    (cycle day, cancelled), covers it: one of the current cycle that was not cancelled, or one
    of `day` itself, cancelled or not (one standard package per household and cycle day). The
    dispatch runs this rule as SQL (sql.stage_due)."""
    since = cycle_start(day, every_days)
    return not any(
        cycle_day >= since and (not cancelled or cycle_day == day) for cycle_day, cancelled in earlier
    )


# (every_days, the household's earlier packages as (days before the dispatch day, cancelled),
# due): run through the rule above and the dispatch's SQL by tests/delivery/test_rules.py.
DUE_CASES: tuple[tuple[int, tuple[tuple[int, bool], ...], bool], ...] = (
    (3, (), True),
    (3, ((0, False),), False),
    (3, ((1, False),), False),
    (3, ((2, False),), False),
    (3, ((3, False),), True),
    (3, ((2, True),), True),
    (3, ((0, True),), False),
    (3, ((5, False), (1, True)), True),
    (1, ((1, False),), True),
    (1, ((0, True),), False),
    (7, ((6, False),), False),
    (7, ((7, False),), True),
    (3, ((-1, False),), False),
)


# --- staggered pick-up -----------------------------------------------------------------------

# Each building of a compound gets its own slot, one after another, so that neighbours do not
# queue together.
PICKUP_OPENS = time(8, 0)
PICKUP_SLOT = timedelta(minutes=30)


def pickup_slot(day: date, index: int, zone: tzinfo) -> tuple[datetime, datetime]:
    """Slot `index` (0 for a compound's first building) of `day`, in the city's time zone."""
    start = datetime.combine(day, PICKUP_OPENS, zone) + PICKUP_SLOT * index
    return start, start + PICKUP_SLOT


def pickup_slot_indexes(buildings: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Each building's slot within its compound, from (compound id, building id) pairs in the
    order the slots are given out; a building listed again keeps its first slot."""
    slot_of: dict[int, int] = {}
    per_compound: dict[int, int] = {}
    for compound_id, building_id in buildings:
        if building_id not in slot_of:
            slot_of[building_id] = per_compound.get(compound_id, 0)
            per_compound[compound_id] = slot_of[building_id] + 1
    return slot_of
