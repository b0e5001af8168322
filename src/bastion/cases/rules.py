"""Pure rules of cases and contacts: the moves their states allow, quarantine plans and their
release, the upgrade of a secondary contact, and the classification of a case on a day."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, timedelta

from bastion.cases.protocol import ContactPlanRule

CENTRALISED = "centralised"
HOME = "home"

CLOSE = "close"
SECONDARY = "secondary"

QUARANTINED = "quarantined"
MONITORING = "monitoring"
RELEASED = "released"
UPGRADED = "upgraded"
BECAME_CASE = "became_case"
OPEN = (QUARANTINED, MONITORING)

# Which states may move to which, per stateful entity: a case's status, a case's classification
# (an asymptomatic infection converts to confirmed, once) and a contact's quarantine.
ALLOWED_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "case": {"active": frozenset({"discharged"}), "discharged": frozenset()},
    "case_kind": {"asymptomatic": frozenset({"confirmed"}), "confirmed": frozenset()},
    "contact": {
        QUARANTINED: frozenset({MONITORING, RELEASED, BECAME_CASE, UPGRADED}),
        MONITORING: frozenset({RELEASED, BECAME_CASE}),
        RELEASED: frozenset(),
        UPGRADED: frozenset(),
        BECAME_CASE: frozenset(),
    },
}


def may_move(entity: str, state: str, to: str) -> bool:
    """May `entity` ("case", "case_kind", "contact") in `state` move to `to`?"""
    return to in ALLOWED_TRANSITIONS[entity].get(state, frozenset())


@dataclass(frozen=True)
class QuarantinePlan:
    """Where a contact is quarantined, until when, and on which days they are tested.

    Days are counted from the last exposure: day 1 is the day after it.
    """

    place: str
    quarantine_until: date
    monitoring_until: date | None
    test_dates: tuple[date, ...]

    @property
    def ends_on(self) -> date:
        """The last day of the plan; the contact is released the day after."""
        return self.monitoring_until or self.quarantine_until


def quarantine_plan(rule: ContactPlanRule, last_exposure: date) -> QuarantinePlan:
    def day(n: int) -> date:
        return last_exposure + timedelta(days=n)

    if rule.centralised_days:
        quarantine_until = day(rule.centralised_days)
        monitoring_until = day(rule.centralised_days + rule.home_days) if rule.home_days else None
        tests = [day(n) for n in rule.test_days]
        tests += [quarantine_until + timedelta(days=n) for n in rule.home_test_days]
        return QuarantinePlan(CENTRALISED, quarantine_until, monitoring_until, tuple(tests))
    return QuarantinePlan(
        HOME, day(rule.home_days), None, tuple(day(n) for n in (*rule.test_days, *rule.home_test_days))
    )


# The cases every path of classification_on must agree on (the rule, and the bulletin's grouped
# SQL in selectors.case_counts): (first reported as, reported on, converted on, day, counted as),
# days as offsets.
CLASSIFICATION_CASES: tuple[tuple[str, int, int | None, int, str | None], ...] = (
    ("confirmed", 0, None, 0, "confirmed"),
    ("confirmed", 1, None, 0, None),  # not reported yet
    ("asymptomatic", 0, None, 3, "asymptomatic"),
    ("asymptomatic", 0, 2, 1, "asymptomatic"),  # converted later
    ("asymptomatic", 0, 2, 2, "confirmed"),  # from the day of the conversion
    ("asymptomatic", 0, 2, 5, "confirmed"),
    ("asymptomatic", 0, 0, 0, "confirmed"),  # converted the day it was reported
)


def classification_on(
    *, initial_kind: str, reported_on: date, converted_on: date | None, day: date
) -> str | None:
    """A case's classification at the end of `day`: None before it was reported.

    A conversion moves the person from the asymptomatic count to the confirmed count; they are
    never counted twice.
    """
    if reported_on > day:
        return None
    if initial_kind == "asymptomatic" and converted_on is not None and converted_on <= day:
        return "confirmed"
    return initial_kind


def status_after_plan(
    *, status: str, quarantine_until: date, monitoring_until: date | None, today: date
) -> str | None:
    """Where a contact's quarantine plan has brought them by `today`, if it moved them: out of
    centralised quarantine the day after its last day, into home monitoring while that lasts,
    else released; out of home monitoring the day after its last day. None: no move today."""
    if status == QUARANTINED and quarantine_until < today:
        return MONITORING if monitoring_until is not None and monitoring_until >= today else RELEASED
    if status == MONITORING and monitoring_until is not None and monitoring_until < today:
        return RELEASED
    return None


# The cases every path of status_after_plan must agree on (the rule, and the set-based UPDATEs
# of services.contacts_release_due): (status, quarantine_until, monitoring_until, moves to),
# days as offsets from today.
RELEASE_CASES: tuple[tuple[str, int, int | None, str | None], ...] = (
    (QUARANTINED, 0, None, None),  # the last day of quarantine is still spent in it
    (QUARANTINED, -1, None, RELEASED),
    (QUARANTINED, -1, 0, MONITORING),
    (QUARANTINED, -1, 3, MONITORING),
    (QUARANTINED, -2, -1, RELEASED),  # both ran out: released at once, not monitored for a day
    (QUARANTINED, 2, 5, None),
    (MONITORING, -5, 0, None),
    (MONITORING, -5, -1, RELEASED),
    (MONITORING, -5, None, None),  # monitoring with no last day is ended by no plan
    (RELEASED, -5, -3, None),
    (UPGRADED, -5, None, None),
    (BECAME_CASE, -5, None, None),
)


@dataclass(frozen=True)
class Upgrade:
    """What becomes of a secondary contact whose close contact turned positive: listed again as
    a close contact of the new case, counted from the same last exposure.

    `ends_as`: the status their secondary quarantine ends with (None: it had already ended).
    `unless_listed`: not listed again if they are a case by now or already an open contact of
    the new case.
    """

    ends_as: str | None
    unless_listed: bool
    kind: str
    last_exposure_on: date


def secondary_upgrade(*, status: str, last_exposure_on: date) -> Upgrade | None:
    """Every secondary contact becomes a close contact of the new case: those still isolating
    end that isolation as upgraded; those already released are listed again, since their close
    contact's positive result is what the release was waiting to rule out. None for a contact
    who became a case or was upgraded already."""
    if status in OPEN:
        return Upgrade(UPGRADED, unless_listed=False, kind=CLOSE, last_exposure_on=last_exposure_on)
    if status == RELEASED:
        return Upgrade(None, unless_listed=True, kind=CLOSE, last_exposure_on=last_exposure_on)
    return None


def infected_by(*, contact_kind: str | None, contact_case_id: int | None) -> int | None:
    """The case a new case joins in the chain of transmission, from the open quarantine they
    were in (a close one before a secondary one, then the latest exposure): the case they were a
    close contact of. A secondary contact met a close contact, not the case: no source; nor for
    someone who was in no quarantine (None)."""
    return contact_case_id if contact_kind == CLOSE else None


def secondary_contact_linked(*, kind: str, via_id: int | None, close_contact_ids: Collection[int]) -> bool:
    """A secondary contact is listed through one of the case's close contacts (`via_id`); a
    close contact needs no link."""
    return kind != SECONDARY or via_id in close_contact_ids
