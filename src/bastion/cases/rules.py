"""Pure rules of cases and contacts: quarantine plans and the classification of a case on a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bastion.cases.protocol import ContactPlanRule

CENTRALISED = "centralised"
HOME = "home"


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
