"""Zone rules that also run as SQL: each table of cases in zones/rules.py driven through the pure
rule and the SQL path, on SQLite and PostgreSQL alike, with the same outcome demanded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion.city.models import Compound
from bastion.zones import rules, selectors
from bastion.zones.models import Zone, ZonePeriod
from tests.conftest import NOW, TODAY


@pytest.mark.parametrize(("level", "start", "end", "on", "counts"), rules.IN_FORCE_CASES)
def test_the_bulletin_counts_a_zone_in_force_exactly_when_the_rule_does(
    city: dict[str, Any], level: str, start: int, end: int | None, on: int, counts: bool
) -> None:
    compound = Compound.objects.get(code="C1")
    zone = Zone.objects.create(
        code="T-1",
        level=level,
        state="in_force",
        protocol="v9",
        step="high",
        area="compound",
        address="C1",
        compound=compound,
        community=city["M1"],
        district=city["D1"],
        proposed_at=NOW,
        since=TODAY,
        clock_start=TODAY,
        reason="test",
    )
    ZonePeriod.objects.create(
        zone=zone,
        level=level,
        district=city["D1"],
        start_on=TODAY + timedelta(days=start),
        end_on=None if end is None else TODAY + timedelta(days=end),
    )
    day = TODAY + timedelta(days=on)
    by_rule = rules.counts_in_force(
        level=level,
        start_on=TODAY + timedelta(days=start),
        end_on=None if end is None else TODAY + timedelta(days=end),
        day=day,
    )
    in_force = selectors.zones_in_force_on(day)
    by_sql = in_force[None].get(level, 0) == 1 and in_force[city["D1"].pk].get(level, 0) == 1
    assert by_rule is by_sql is counts
