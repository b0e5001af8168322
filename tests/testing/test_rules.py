"""Pooling people into tubes: never over a tube's ratio, households together where they fit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bastion.testing import rules

people = st.lists(
    st.tuples(st.integers(1, 30), st.sampled_from([(1, True), (10, False), (20, False), (10, True)])),
    max_size=120,
).map(
    lambda rows: [
        rules.Person(resident_id=i, household_id=household, ratio=ratio, per_household=per_household)
        for i, (household, (ratio, per_household)) in enumerate(rows)
    ]
)


@given(people)
def test_every_person_is_in_exactly_one_tube_within_its_ratio(persons: list[rules.Person]) -> None:
    tubes = rules.pool(persons)
    by_id = {p.resident_id: p for p in persons}
    assert sorted(r for tube in tubes for r in tube) == sorted(by_id)
    for tube in tubes:
        members = [by_id[r] for r in tube]
        assert 1 <= len(tube) <= min(m.ratio for m in members)
        assert len({m.ratio for m in members}) == 1
        if members[0].per_household:
            assert len({m.household_id for m in members}) == 1


def test_a_household_of_three_stays_together_in_a_ten_to_one_tube() -> None:
    persons = [rules.Person(n, n // 3, 10, False) for n in range(12)]
    assert rules.pool(persons) == [[0, 1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11]]


def test_percentiles_are_by_nearest_rank() -> None:
    assert rules.percentile([], 95) is None
    assert rules.percentile([1, 2, 3, 4], 50) == 2
    assert rules.percentile([1, 2, 3, 4], 95) == 4
