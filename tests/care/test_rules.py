"""The pure rules of care, through their tables of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bastion.care import rules


@pytest.mark.parametrize(("need", "first", "last", "expected"), rules.SESSIONS_CASES)
def test_a_need_has_its_sessions_on_the_days_its_schedule_says(
    need: rules.Need, first: date, last: date, expected: tuple[date, ...]
) -> None:
    assert tuple(rules.sessions_due(need, first, last)) == expected


@pytest.mark.parametrize(("need", "problem"), rules.PROBLEM_CASES)
def test_a_schedule_that_cannot_stand_is_named(need: rules.Need, problem: str | None) -> None:
    assert rules.schedule_problem(need) == problem


@pytest.mark.parametrize(("at", "now", "state", "purpose", "grace", "missed"), rules.MISSED_CASES)
def test_a_session_is_missed_once_its_time_passes_before_the_pick_up(
    at: datetime, now: datetime, state: str, purpose: str, grace: int, missed: bool
) -> None:
    assert (
        rules.is_missed(at=at, now=now, state=state, purpose=purpose, grace=timedelta(minutes=grace))
        is missed
    )


def test_weekdays_are_read_by_name() -> None:
    assert rules.weekday_numbers(["mon", "Wednesday", "fri"]) == (0, 2, 4)
    with pytest.raises(ValueError):
        rules.weekday_numbers(["someday"])


def test_the_board_puts_emergencies_first_then_missed_sessions_then_the_earliest() -> None:
    at = datetime(2022, 9, 1, 8, tzinfo=UTC)
    later = datetime(2022, 9, 1, 10, tzinfo=UTC)
    keys = {
        "emergency": rules.board_key(emergency=True, missed=False, at=later),
        "missed": rules.board_key(emergency=False, missed=True, at=later),
        "early": rules.board_key(emergency=False, missed=False, at=at),
        "late": rules.board_key(emergency=False, missed=False, at=later),
    }
    assert sorted(keys, key=keys.__getitem__) == ["emergency", "missed", "early", "late"]
