"""The playbook's day: what runs by itself, in what order, at the end of each day."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bastion import flows
from bastion.core import worker
from bastion.core.models import WorkerHeartbeat
from tests.conftest import NOW


def test_the_day_runs_every_timer_in_the_playbooks_order() -> None:
    # A zone lifted by its clock must end door-to-door service before the dispatch reads who is
    # served at home; releases come before the day's packages; codes follow the zones, the
    # releases and the rounds' deadlines; transfers are assigned once the day's quarantines
    # have moved (a released contact is not fetched); trips to treatment are planned for who is
    # in a zone after the zones are evaluated, and missed sessions flagged after the planning;
    # the figures close the day.
    assert [(t.name, t.every) for t in flows.TIMERS] == [
        ("zones.evaluate", timedelta(minutes=15)),
        ("cases.release_contacts", None),
        ("transfer.assign", timedelta(minutes=15)),
        ("codes.round_deadlines", timedelta(minutes=15)),
        ("codes.timed", timedelta(minutes=15)),
        ("delivery.dispatch", timedelta(minutes=15)),
        ("care.plan_trips", None),
        ("care.flag_missed", timedelta(minutes=15)),
        ("city.figures", None),
        # appeals (issue 15): escalations and silent closings after the day's other work
        ("appeals.sweep", timedelta(minutes=15)),
    ]


def test_a_day_ended_runs_each_timer_once_on_a_real_city(city: dict[str, Any]) -> None:
    worker.reset()
    ran = flows.day_ended(now=NOW, name="day-test")
    assert ran == [timer.name for timer in flows.TIMERS]
    beat = WorkerHeartbeat.objects.get(name="day-test")
    assert (beat.ticks, beat.last_error) == (1, "")
    # The worker's own tick a minute later finds nothing due: the day's work is done.
    assert worker.tick(timers=flows.TIMERS, now=NOW + timedelta(minutes=1), name="day-test") == []
