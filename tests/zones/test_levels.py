""" "The highest zone in force over a household" is one rule (`zones.rules.highest_level`) with
two set-based forms that other contexts use: the SQL of `zones.sql.HOUSEHOLD_LEVEL` (the single
scan's fast way) and `zones.selectors.household_levels` (the bulk loader). Every case of the
rule's table goes through all of them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bastion.city.models import Household
from bastion.core import sql as core_sql
from bastion.zones import rules, selectors
from bastion.zones import sql as zones_sql
from bastion.zones.models import Area, Zone, ZoneState
from tests.conftest import NOW, TODAY


def test_the_rule_gives_every_level_of_its_table() -> None:
    decided = {name: rules.highest_level(levels) for name, levels, _level in rules.HIGHEST_LEVEL_CASES}
    assert decided == {name: level for name, _levels, level in rules.HIGHEST_LEVEL_CASES}


def test_every_form_of_the_rule_gives_the_same_level(city: Any) -> None:
    households = list(Household.objects.filter(compound__code="C1").order_by("pk"))
    assert len(households) >= len(rules.HIGHEST_LEVEL_CASES)
    case_of = {}
    for number, (name, levels, _level) in enumerate(rules.HIGHEST_LEVEL_CASES):
        home = households[number]
        case_of[home.pk] = name
        for n, level in enumerate(levels):
            Zone.objects.create(
                code=f"Z{number}-{n}",
                level=level,
                state=ZoneState.IN_FORCE,
                protocol="v9",
                step="test",
                area=Area.HOUSEHOLD,
                address=home.address,
                compound_id=home.compound_id,
                building_id=home.building_id,
                unit_id=home.unit_id,
                household_id=home.pk,
                community_id=home.community_id,
                district_id=home.district_id,
                proposed_at=NOW - timedelta(days=1),
                since=TODAY,
                clock_start=TODAY,
                reason="test",
            )
    expected = {name: level for name, _levels, level in rules.HIGHEST_LEVEL_CASES}
    one_by_one = {name: selectors.level_of_household(household_id=pk) for pk, name in case_of.items()}
    in_sql = {
        case_of[pk]: level or rules.LOW
        for pk, level in core_sql.rows(
            f"SELECT h.id, {zones_sql.HOUSEHOLD_LEVEL} FROM city_household h WHERE h.id IN"
            f" ({', '.join(['%s'] * len(case_of))})",
            list(case_of),
        )
    }
    levels = selectors.household_levels()
    all_at_once = {name: levels.get(pk, rules.LOW) for pk, name in case_of.items()}
    assert one_by_one == in_sql == all_at_once == expected
