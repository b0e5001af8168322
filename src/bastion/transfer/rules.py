"""Pure rules of transfer: the moves a transfer's state allows, who is at high risk or needs a
carer, where a person is admitted, deadlines, priority, the discharge rule, and the matching of
rides to vehicles (an assignment problem, solved by scipy's `linear_sum_assignment` on a cost
matrix). Plain values in and out, no ORM."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

import numpy as np
from scipy.optimize import linear_sum_assignment

from bastion.transfer.policy import Admission, Discharge, Policy

REQUESTED = "requested"
DESTINATION_ASSIGNED = "destination_assigned"
VEHICLE_ASSIGNED = "vehicle_assigned"
PICKED_UP = "picked_up"
ADMITTED = "admitted"
DISCHARGED = "discharged"
CANCELLED = "cancelled"
REFUSED = "refused"

WAITING = (REQUESTED, DESTINATION_ASSIGNED, VEHICLE_ASSIGNED)  # not picked up yet
OPEN = (*WAITING, PICKED_UP, ADMITTED)
ENDED = (DISCHARGED, CANCELLED, REFUSED)

# requested → destination assigned → vehicle assigned → picked up → admitted → discharged;
# cancelled or refused, with a reason, at any point before the discharge. A destination that no
# longer fits (the clinical type changed) is given back: destination assigned → requested.
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "transfer": {
        REQUESTED: frozenset({DESTINATION_ASSIGNED, CANCELLED, REFUSED}),
        DESTINATION_ASSIGNED: frozenset({VEHICLE_ASSIGNED, REQUESTED, CANCELLED, REFUSED}),
        VEHICLE_ASSIGNED: frozenset({PICKED_UP, CANCELLED, REFUSED}),
        PICKED_UP: frozenset({ADMITTED, CANCELLED, REFUSED}),
        ADMITTED: frozenset({DISCHARGED}),
        DISCHARGED: frozenset(),
        CANCELLED: frozenset(),
        REFUSED: frozenset(),
    }
}


def may_move(entity: str, state: str, to: str) -> bool:
    """May `entity` ("transfer") in `state` move to `to`?"""
    return to in ALLOWED_TRANSITIONS[entity].get(state, frozenset())


def ended_home(state: str) -> str:
    """How a stay ends that nobody refused (a plan run out, a discharge, a carer's person gone
    home): discharged from a place, cancelled before the person is there."""
    return DISCHARGED if state == ADMITTED else CANCELLED


def moves_into(entity: str, to: str) -> tuple[str, ...]:
    """The states from which `entity` may reach `to`: the condition of a conditional UPDATE."""
    return tuple(state for state, targets in ALLOWED_TRANSITIONS[entity].items() if to in targets)


# --- who -------------------------------------------------------------------------------------


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_high_risk(*, age: int, chronic_treatment: str, pregnant: bool, policy: Policy) -> bool:
    """Over the elderly age with a serious underlying disease (a chronic illness in regular
    treatment), pregnant, or on dialysis."""
    return (
        (age >= policy.elderly_from_age and bool(chronic_treatment))
        or (pregnant and policy.high_risk_pregnant)
        or (chronic_treatment == "dialysis" and policy.high_risk_dialysis)
    )


def needs_carer(*, age: int, disabled: bool, policy: Policy) -> bool:
    """A child, an elderly person who cannot care for themselves, a disabled person."""
    return (
        age < policy.child_under_age
        or age >= policy.dependent_from_age
        or (disabled and policy.disabled_needs_carer)
    )


def can_care(*, age: int, disabled: bool, policy: Policy) -> bool:
    """An adult able to care for someone else."""
    return policy.adult_from_age <= age < policy.dependent_from_age and not disabled


# --- where -----------------------------------------------------------------------------------


def admission_for(*, reason: str, severity: str, high_risk: bool, policy: Policy) -> Admission:
    """Where a person is admitted (facility kinds, preferred first) and the bed they take.

    A contact goes to an isolation point; a case by their clinical type, a high-risk case to a
    designated hospital whatever their type (an ordinary, severe or critical one keeps the bed
    their type asks for)."""
    if reason in ("contact", "group"):
        return policy.admission["contact"]
    own = policy.admission[severity or "mild"]
    if high_risk and "designated_hospital" not in own.places:
        return policy.admission["high_risk"]
    return own


def needs_rank(admission: Admission) -> int:
    """How demanding an admission is: a group goes where its most demanding member must."""
    return {"designated_hospital": 3, "yellow_code_hospital": 2, "shelter_hospital": 1}.get(
        admission.places[0], 0
    ) * 10 + {"intensive": 2, "ordinary": 1}.get(admission.bed, 0)


def bed_at(*, facility_kind: str, admission: Admission) -> str:
    """The bed a person takes at a facility of `facility_kind`: a room at an isolation point,
    their own kind of bed where their admission sends them, an ordinary bed where they go with
    their group."""
    if facility_kind == "isolation_point":
        return "room"
    if facility_kind in admission.places and admission.bed != "room":
        return admission.bed
    return "ordinary"


# --- when ------------------------------------------------------------------------------------


def deadlines(*, reason: str, requested_at: datetime, policy: Policy) -> tuple[datetime, datetime | None]:
    """When a person must be picked up and admitted: a case (and those who go with them) by
    the case deadlines, a contact (or a group moved by hand) by the contact pick-up deadline."""
    if reason in ("contact", "group"):
        return requested_at + timedelta(hours=policy.contact_pickup_hours), None
    return (
        requested_at + timedelta(hours=policy.case_pickup_hours),
        requested_at + timedelta(hours=policy.case_admit_hours),
    )


def is_overdue(*, state: str, pickup_by: datetime, admit_by: datetime | None, now: datetime) -> bool:
    """Waiting past the pick-up deadline, or not admitted past the admission deadline."""
    if state in WAITING:
        return now > pickup_by or (admit_by is not None and now > admit_by)
    if state == PICKED_UP:
        return admit_by is not None and now > admit_by
    return False


# (state, hours since the request, overdue?) for a case: picked up within 12 h, admitted in 24 h.
OVERDUE_CASES: tuple[tuple[str, int, bool], ...] = (
    (REQUESTED, 11, False),
    (REQUESTED, 13, True),
    (VEHICLE_ASSIGNED, 13, True),
    (PICKED_UP, 13, False),
    (PICKED_UP, 25, True),
    (ADMITTED, 30, False),
    (CANCELLED, 30, False),
)


def priority(
    *, reason: str, severity: str, high_risk: bool, emergency: bool, waited_hours: float, policy: Policy
) -> float:
    """The higher, the sooner: severity, then vulnerability, then every hour waited; an
    emergency jumps the queue."""
    base = (
        policy.contact_weight
        if reason in ("contact", "group")
        else policy.severity_weight.get(severity or "mild", 0)
    )
    return (
        base
        + (policy.high_risk_weight if high_risk else 0.0)
        + policy.per_hour_waited * max(waited_hours, 0.0)
        + (policy.emergency_weight if emergency else 0.0)
    )


# --- discharge -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Test:
    taken_at: datetime
    negative: bool
    ct: float | None


def discharge_allowed(tests: Sequence[Test], rule: Discharge) -> bool:
    """The last `rule.tests` tests are negative at Ct ≥ the threshold, each at least
    `rule.hours_apart` after the one before (v9: two, 24 h apart, Ct ≥ 35)."""
    ordered = sorted(tests, key=lambda t: t.taken_at)
    last = ordered[-rule.tests :]
    if len(last) < rule.tests:
        return False
    if any(not t.negative or t.ct is None or t.ct < rule.ct_at_least for t in last):
        return False
    gap = timedelta(hours=rule.hours_apart)
    return all(b.taken_at - a.taken_at >= gap for a, b in pairwise(last))


# (tests as (hours from the first, negative, Ct), allowed?) under v9.
DISCHARGE_CASES: tuple[tuple[tuple[tuple[int, bool, float | None], ...], bool], ...] = (
    (((0, True, 36.0), (24, True, 37.0)), True),
    (((0, True, 35.0), (24, True, 35.0)), True),  # the threshold itself passes
    (((0, True, 36.0), (23, True, 37.0)), False),  # less than 24 h apart
    (((0, True, 34.9), (24, True, 37.0)), False),  # one below Ct 35
    (((0, True, 36.0),), False),  # one test only
    (((0, False, 30.0), (24, True, 36.0), (48, True, 36.0)), True),  # the last two count
    (((0, True, 36.0), (24, False, 30.0)), False),
    (((0, True, None), (24, True, 36.0)), False),  # a negative without its Ct
)


# --- home health monitoring after a discharge --------------------------------------------------
#
# The protocol's days of home health monitoring after a discharge are this context's figure
# (policy.toml, [discharge.<protocol>]), and these two rules its only readers: the transfer
# records the last day at the discharge, and health codes (codes.services) colour a discharged
# case from the same rule, set-based, by the case's protocol.


def home_monitoring_until(*, discharged_on: date, rule: Discharge) -> date | None:
    """The last day of home health monitoring after a discharge on `discharged_on`: the
    protocol's days after it (v9: 7, the discharge day not counted); None when the protocol asks
    for none (dec2022)."""
    if rule.home_monitoring_days <= 0:
        return None
    return discharged_on + timedelta(days=rule.home_monitoring_days)


def monitored_since(*, today: date, rule: Discharge) -> date:
    """The earliest discharge day whose home monitoring still runs on `today`: a case discharged
    on or after it is monitored, one discharged before is not (`home_monitoring_until` ≥ today,
    in the form a query of many cases takes). Tomorrow when the protocol asks for none: nobody
    discharged so far."""
    if rule.home_monitoring_days <= 0:
        return today + timedelta(days=1)
    return today - timedelta(days=rule.home_monitoring_days)


def monitored_since_by_protocol(*, today: date, policy: Policy) -> tuple[dict[str, date], date]:
    """`monitored_since` for each protocol the policy names, and for any other (v9's rule)."""
    return (
        {name: monitored_since(today=today, rule=rule) for name, rule in sorted(policy.discharge.items())},
        monitored_since(today=today, rule=policy.discharge_rule("v9")),
    )


# (days of home monitoring, discharge day relative to today, monitored today?), each through
# both rules: they must agree.
MONITORING_CASES: tuple[tuple[int, int, bool], ...] = (
    (7, 0, True),  # the discharge day itself
    (7, -7, True),  # the last day
    (7, -8, False),  # green the day after
    (3, -3, True),
    (3, -4, False),
    (0, 0, False),  # dec2022: no home monitoring, not even on the day
    (0, -1, False),
)


# --- the matching of rides to vehicles -------------------------------------------------------

UNFIT = 1e9


@dataclass(frozen=True)
class Ride:
    """People who travel together in one vehicle: a case and the carer who goes with them, or
    a group of contacts."""

    patients: int  # cases aboard (an ambulance takes one)
    people: int
    district_id: int | None
    priority: float


@dataclass(frozen=True)
class Seat:
    kind: str  # ambulance | bus
    seats: int
    district_id: int | None


def ride_costs(rides: Sequence[Ride], vehicles: Sequence[Seat]) -> np.ndarray:
    """The cost of each ride in each vehicle (rides × vehicles): a case only by ambulance, one
    patient a trip; contacts by bus where its seats hold them (an ambulance will do for one, at
    a cost); a vehicle of the ride's district is cheaper; a bus whose seats fit snugly is
    cheaper. The ride's priority is subtracted, so that when rides outnumber vehicles the most
    urgent are served."""
    kind = np.array([v.kind == "ambulance" for v in vehicles], dtype=bool)
    seats = np.array([v.seats for v in vehicles], dtype=np.float64)
    vdistrict = np.array([-1 if v.district_id is None else v.district_id for v in vehicles], dtype=np.int64)
    patients = np.array([r.patients for r in rides], dtype=np.float64)[:, None]
    people = np.array([r.people for r in rides], dtype=np.float64)[:, None]
    rdistrict = np.array([-1 if r.district_id is None else r.district_id for r in rides], dtype=np.int64)
    urgency = np.array([r.priority for r in rides], dtype=np.float64)[:, None]
    is_case = patients > 0
    # Ambulance: one patient (and who goes with them), or a single contact; bus: contacts only.
    fits = np.where(kind[None, :], (patients <= 1) & ((people <= 2) | is_case), ~is_case & (people <= seats))
    cost = np.where(kind[None, :] & ~is_case, 2.0, 0.0)
    cost = cost + ((vdistrict[None, :] != rdistrict[:, None]) & (vdistrict[None, :] >= 0)) * 1.0
    cost = cost + np.where(kind[None, :], 0.0, (seats[None, :] - people) * 0.01)
    cost = cost - urgency * 10.0
    return np.where(fits, cost, UNFIT)


def pack(groups: Sequence[int], seats: int) -> list[list[tuple[int, int]]]:
    """Groups of contacts bound for one place (their sizes, most urgent first) shared out over
    bus rides of `seats`: each group in the first ride that still has room for all of it, so
    that a household travels together and a 30-seat bus does not leave with two people while
    other groups for the same place wait. A group larger than a bus fills whole rides first,
    its rest sharing like any group. Each ride: (group index, people of that group) pairs."""
    seats = max(seats, 1)
    rides: list[list[tuple[int, int]]] = []
    room: list[int] = []
    for index, size in enumerate(groups):
        while size > seats:
            rides.append([(index, seats)])
            room.append(0)
            size -= seats
        if size <= 0:
            continue
        for ride, left in enumerate(room):
            if left >= size:
                rides[ride].append((index, size))
                room[ride] -= size
                break
        else:
            rides.append([(index, size)])
            room.append(seats - size)
    return rides


def match(rides: Sequence[Ride], vehicles: Sequence[Seat]) -> list[tuple[int, int]]:
    """(ride, vehicle) pairs of least total cost, each vehicle once, unfit pairs left out."""
    if not rides or not vehicles:
        return []
    cost = ride_costs(rides, vehicles)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < UNFIT / 2]
