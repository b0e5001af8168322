"""Pure rules of mass testing: pooling people into tubes, the pooling of a zone level, the
round's time, whether a tube admits a scan, what a result triggers, turnaround, and the moves of
its states. Plain values in, plain values out.

A rule that must also run as SQL or polars for speed keeps its table of cases here (`*_CASES`),
and a test drives the whole table through every path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Person:
    resident_id: int
    household_id: int
    ratio: int  # the ratio of where they live
    per_household: bool


def pool(people: Sequence[Person]) -> list[list[int]]:
    """Tubes of resident ids: each tube no fuller than its people's ratio, a household's members
    together where they fit, and a household of a per-household area in tubes of its own.

    People are taken in the order given; a household larger than its ratio fills several tubes.
    """
    tubes: list[list[int]] = []
    open_tube: dict[int, list[int]] = {}  # ratio -> the tube being filled (shared areas)
    by_household: dict[tuple[int, int, bool], list[int]] = {}
    order: list[tuple[int, int, bool]] = []
    for person in people:
        key = (person.household_id, person.ratio, person.per_household)
        if key not in by_household:
            by_household[key] = []
            order.append(key)
        by_household[key].append(person.resident_id)
    for key in order:
        _household, ratio, per_household = key
        members = by_household[key]
        if ratio <= 1:
            tubes.extend([[m] for m in members])
            continue
        chunks = [members[i : i + ratio] for i in range(0, len(members), ratio)]
        for chunk in chunks:
            if per_household:
                tubes.append(list(chunk))
                continue
            current = open_tube.get(ratio)
            if current is None or len(current) + len(chunk) > ratio:
                current = []
                tubes.append(current)
                open_tube[ratio] = current
            current.extend(chunk)
    return tubes


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by nearest rank; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# --- pooling per zone level ------------------------------------------------------------------

# A round whose pooling names neither the level nor low (rounds opened before the policy file).
FALLBACK_POOLING = {"ratio": 10, "per_household": False}


def pooling_for(pooling: Mapping[str, Any], level: str) -> tuple[int, bool]:
    """The ratio and the one-household-per-tube rule of a round's `pooling` (level -> {ratio,
    per_household}) for a person living at zone `level`."""
    entry = pooling.get(level) or pooling.get("low") or FALLBACK_POOLING
    return int(entry["ratio"]), bool(entry.get("per_household", False))


# --- the round's time -----------------------------------------------------------------------

BEFORE_START = "before_start"
AFTER_CLOSE = "after_close"


def outside_time(*, scanned_at: datetime, starts_at: datetime, closed_at: datetime | None) -> str | None:
    """Why a scan made at `scanned_at` falls outside its round's time: before the round's start,
    or at or after its closing. None when inside (a round's deadline does not close it)."""
    if scanned_at < starts_at:
        return BEFORE_START
    if closed_at is not None and scanned_at >= closed_at:
        return AFTER_CLOSE
    return None


_T0 = datetime(2022, 9, 1, 8, tzinfo=UTC)
# (name, scanned at, round starts at, round closed at, why outside): the scan path, its fast way
# and the bulk file loader are driven through every case (tests/testing/test_admission_paths.py).
TIME_CASES: tuple[tuple[str, datetime, datetime, datetime | None, str | None], ...] = (
    ("at the start", _T0, _T0, None, None),
    ("a second before the start", _T0 - timedelta(seconds=1), _T0, None, BEFORE_START),
    ("an hour in, round open", _T0 + timedelta(hours=1), _T0, None, None),
    ("a day after the deadline, round still open", _T0 + timedelta(days=2), _T0, None, None),
    ("before the closing", _T0 + timedelta(hours=1), _T0, _T0 + timedelta(hours=2), None),
    ("at the closing", _T0 + timedelta(hours=2), _T0, _T0 + timedelta(hours=2), AFTER_CLOSE),
    ("after the closing", _T0 + timedelta(hours=3), _T0, _T0 + timedelta(hours=2), AFTER_CLOSE),
    (
        "before the start of a closed round",
        _T0 - timedelta(hours=1),
        _T0,
        _T0 + timedelta(hours=2),
        BEFORE_START,
    ),
)


# --- tube admission -------------------------------------------------------------------------

OTHER_ROUND = "other_round"  # the tube belongs to another round
SEALED = "sealed"  # a lab received or resulted the tube
OTHER_RATIO = "other_ratio"  # the person is pooled at another ratio (or a retest in a pooled tube)
OVER_RATIO = "over_ratio"  # the tube already holds as many people as its ratio
OTHER_HOUSEHOLD = "other_household"  # one household per tube, and the tube holds another's

# The round exception (testing.models.IssueKind's value) each refusal is listed under.
ADMISSION_KIND = {
    OTHER_ROUND: "wrong_pool",
    SEALED: "overfull_tube",
    OTHER_RATIO: "wrong_pool",
    OVER_RATIO: "overfull_tube",
    OTHER_HOUSEHOLD: "wrong_pool",
}


@dataclass(frozen=True)
class TubeFacts:
    """A tube as a scan finds it (a tube created by this very scan has no members yet)."""

    round_id: int
    ratio: int
    retest: bool
    members: int
    sealed: bool  # received by a lab, or resulted
    households: frozenset[int] = frozenset()  # its members'; read only for one-household pooling


@dataclass(frozen=True)
class ScanFacts:
    """A person's scan into a tube: their round, and the pooling of where they live (1 and one
    household per tube for a retest)."""

    round_id: int
    ratio: int
    per_household: bool
    retest: bool
    household_id: int


def tube_refusal(tube: TubeFacts, scan: ScanFacts) -> str | None:
    """Why `tube` does not admit `scan` (one of the words above), or None: admitted.

    The single-scan path applies it as written; the prepared SQL fast way (testing.sql) and the
    bulk loader's column expressions (testing.ingest.scans) are set-based forms of it, held to
    `ADMISSION_CASES` by tests/testing/test_admission_paths.py.
    """
    if tube.round_id != scan.round_id:
        return OTHER_ROUND
    if tube.sealed:
        return SEALED
    if tube.retest != scan.retest or tube.ratio != scan.ratio:
        return OTHER_RATIO
    if tube.members >= tube.ratio:
        return OVER_RATIO
    if scan.per_household and tube.members and tube.households - {scan.household_id}:
        return OTHER_HOUSEHOLD
    return None


# The cases every path must decide alike. Round 1 is the scan's; household 1 the person's.
_MINE, _OTHER_ROUND, _HOME, _NEIGHBOUR = 1, 2, 1, 2
_POOLED = ScanFacts(round_id=_MINE, ratio=5, per_household=False, retest=False, household_id=_HOME)
_ONE_HOUSEHOLD = ScanFacts(round_id=_MINE, ratio=5, per_household=True, retest=False, household_id=_HOME)
_SINGLE = ScanFacts(round_id=_MINE, ratio=1, per_household=True, retest=False, household_id=_HOME)


def _tube(
    members: int = 0, *, ratio: int = 5, households: frozenset[int] = frozenset(), **kw: Any
) -> TubeFacts:
    facts: dict[str, Any] = {"round_id": _MINE, "retest": False, "sealed": False, **kw}
    return TubeFacts(ratio=ratio, members=members, households=households, **facts)


@dataclass(frozen=True)
class AdmissionCase:
    name: str
    tube: TubeFacts | None  # None: no tube with this barcode yet, the scan creates it
    scan: ScanFacts
    refusal: str | None


ADMISSION_CASES: tuple[AdmissionCase, ...] = (
    AdmissionCase("a new tube", None, _POOLED, None),
    AdmissionCase("a new single tube", None, _SINGLE, None),
    AdmissionCase("a tube with room", _tube(2, households=frozenset({_NEIGHBOUR})), _POOLED, None),
    AdmissionCase("the last place in a tube", _tube(4, households=frozenset({_NEIGHBOUR})), _POOLED, None),
    AdmissionCase("a full tube", _tube(5, households=frozenset({_NEIGHBOUR})), _POOLED, OVER_RATIO),
    AdmissionCase("a tube of another round", _tube(1, round_id=_OTHER_ROUND), _POOLED, OTHER_ROUND),
    AdmissionCase("a full tube of another round", _tube(5, round_id=_OTHER_ROUND), _POOLED, OTHER_ROUND),
    AdmissionCase("a sealed tube", _tube(1, sealed=True), _POOLED, SEALED),
    AdmissionCase("a sealed tube of another ratio", _tube(1, ratio=10, sealed=True), _POOLED, SEALED),
    AdmissionCase("a tube of another ratio", _tube(1, ratio=10), _POOLED, OTHER_RATIO),
    AdmissionCase("a full tube of another ratio", _tube(1, ratio=1), _POOLED, OTHER_RATIO),
    AdmissionCase("a retest tube", _tube(0, ratio=5, retest=True), _POOLED, OTHER_RATIO),
    AdmissionCase(
        "a pooled tube for a single", _tube(1, households=frozenset({_HOME})), _SINGLE, OTHER_RATIO
    ),
    AdmissionCase(
        "one household: its own tube", _tube(2, households=frozenset({_HOME})), _ONE_HOUSEHOLD, None
    ),
    AdmissionCase(
        "one household: a neighbour's tube",
        _tube(1, households=frozenset({_NEIGHBOUR})),
        _ONE_HOUSEHOLD,
        OTHER_HOUSEHOLD,
    ),
    AdmissionCase(
        "one household: a neighbour's full tube",
        _tube(5, households=frozenset({_NEIGHBOUR})),
        _ONE_HOUSEHOLD,
        OVER_RATIO,
    ),
    AdmissionCase("one household: an empty tube left by a neighbour", _tube(0), _ONE_HOUSEHOLD, None),
    AdmissionCase(
        "a single tube taken", _tube(1, ratio=1, households=frozenset({_NEIGHBOUR})), _SINGLE, OVER_RATIO
    ),
)


# --- what a tube's result triggers ------------------------------------------------------------

RECALL_NONE = ""
RECALL_OPEN = "open"  # every member recalled for a single-tube retest (isolated in place until then)
RECALL_CLOSE = "close"  # the members' open recalls closed: retested, with this result
RECALL_REOPEN = "reopen"  # an invalid retest: the member is sampled again; the recall stays open


@dataclass(frozen=True)
class ResultEffect:
    recalls: str  # RECALL_*
    cases: bool  # each member is positive: a case to open (the flow opens it)
    cleared: bool  # each member's recall closed negative


def result_effect(*, result: str, retest: bool, ratio: int) -> ResultEffect:
    """What a tube's `result` does to its members. A negative pool clears them (nothing to do);
    a positive or invalid pool recalls them for a single-tube retest; a positive single tube is
    a case; a retest closes its member's recall, except an invalid one, sampled again."""
    if retest:
        if result == "invalid":
            return ResultEffect(RECALL_REOPEN, cases=False, cleared=False)
        return ResultEffect(RECALL_CLOSE, cases=result == "positive", cleared=result == "negative")
    if result == "positive" and ratio == 1:
        return ResultEffect(RECALL_NONE, cases=True, cleared=False)
    if result in ("positive", "invalid"):
        return ResultEffect(RECALL_OPEN, cases=False, cleared=False)
    return ResultEffect(RECALL_NONE, cases=False, cleared=False)


# (name, result, retest tube, ratio, effect): the single result and the lab's file alike
# (tests/testing/test_result_effects.py).
RESULT_CASES: tuple[tuple[str, str, bool, int, ResultEffect], ...] = (
    ("a negative pool", "negative", False, 10, ResultEffect(RECALL_NONE, False, False)),
    ("a positive pool", "positive", False, 10, ResultEffect(RECALL_OPEN, False, False)),
    ("an invalid pool", "invalid", False, 10, ResultEffect(RECALL_OPEN, False, False)),
    ("a negative single tube", "negative", False, 1, ResultEffect(RECALL_NONE, False, False)),
    ("a positive single tube", "positive", False, 1, ResultEffect(RECALL_NONE, True, False)),
    ("an invalid single tube", "invalid", False, 1, ResultEffect(RECALL_OPEN, False, False)),
    ("a negative retest", "negative", True, 1, ResultEffect(RECALL_CLOSE, False, True)),
    ("a positive retest", "positive", True, 1, ResultEffect(RECALL_CLOSE, True, False)),
    ("an invalid retest", "invalid", True, 1, ResultEffect(RECALL_REOPEN, False, False)),
)


# --- turnaround -------------------------------------------------------------------------------

# (name, sorted values, q, nearest-rank percentile): the Python rule and the turnaround's SQL on
# both databases (tests/testing/test_percentile_paths.py).
PERCENTILE_CASES: tuple[tuple[str, tuple[float, ...], float, float | None], ...] = (
    ("no values", (), 50, None),
    ("one value, median", (3.0,), 50, 3.0),
    ("one value, p95", (3.0,), 95, 3.0),
    ("two values, median", (1.0, 5.0), 50, 1.0),
    ("two values, p95", (1.0, 5.0), 95, 5.0),
    ("four values, median", (1.0, 2.0, 4.0, 8.0), 50, 2.0),
    ("ten values, p95", tuple(float(h) for h in range(1, 11)), 95, 10.0),
    ("twenty values, p95", tuple(float(h) for h in range(1, 21)), 95, 19.0),
    ("twenty values, median", tuple(float(h) for h in range(1, 21)), 50, 10.0),
    ("ties", (2.0, 2.0, 2.0, 7.0), 50, 2.0),
)


def turnaround_target_hours(*, ratio: int, pooled_hours: int, single_hours: int) -> int:
    """The hours a tube may take from its first scan to its result: single tubes (retests and
    high-risk areas) are held to the single-tube target, pooled tubes to the pooled one."""
    return single_hours if ratio == 1 else pooled_hours


def turnaround_late(hours: float | None, *, target_hours: int) -> bool:
    """Is a turnaround (the round's 95th percentile, a tube's own) beyond its target?"""
    return hours is not None and hours > target_hours


# --- states -----------------------------------------------------------------------------------

# Every move of testing's states; anything else is refused with a domain error. A tube's result
# is its state ("" pending); a repeat of the same result is not a move but a retry (no change).
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "round": {"open": frozenset({"closed"}), "closed": frozenset()},
    "tube": {
        "": frozenset({"negative", "positive", "invalid"}),
        "negative": frozenset(),
        "positive": frozenset(),
        "invalid": frozenset(),
    },
    # An invalid retest leaves the recall open (sampled again); it is not a move.
    "recall": {"open": frozenset({"retested"}), "retested": frozenset()},
}


def may_move(machine: str, before: str, after: str) -> bool:
    """Does `ALLOWED_TRANSITIONS` let `machine` ("round", "tube", "recall") go from `before`
    to `after`?"""
    return after in ALLOWED_TRANSITIONS[machine].get(before, frozenset())
