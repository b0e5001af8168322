"""The turnaround's percentiles are nearest-rank (`testing.rules.percentile`), computed by the
database for a whole round (`percentile_disc` on PostgreSQL, an ordered offset on SQLite): the
rule's table of cases, through both, gives the same figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion.core.scopes import SYSTEM
from bastion.testing import rules, selectors, services
from bastion.testing.models import Tube
from tests.conftest import NOW


def test_the_rule_gives_every_percentile_of_its_table() -> None:
    decided = {name: rules.percentile(values, q) for name, values, q, _expected in rules.PERCENTILE_CASES}
    assert decided == {name: expected for name, _values, _q, expected in rules.PERCENTILE_CASES}


@pytest.mark.django_db
def test_the_rounds_turnaround_gives_the_rules_percentiles(city: Any) -> None:
    assert {q for _name, _values, q, _expected in rules.PERCENTILE_CASES} <= {50, 95}
    decided = {}
    for number, (name, values, q, _expected) in enumerate(rules.PERCENTILE_CASES):
        round_ = services.round_open(
            code=f"P{number}", starts_at=NOW, deadline=NOW + timedelta(days=1), actor=SYSTEM, now=NOW
        )
        Tube.objects.bulk_create(
            Tube(
                round=round_,
                barcode=f"P{number}-{i}",
                ratio=10,
                members=1,
                first_scan_at=NOW,
                resulted_at=NOW + timedelta(hours=hours),
                result="negative",
            )
            for i, hours in enumerate(values)
        )
        p50, p95, _top = selectors.turnaround(round_)
        found = p50 if q == 50 else p95
        decided[name] = None if found is None else round(found, 6)
    assert decided == {name: expected for name, _values, _q, expected in rules.PERCENTILE_CASES}
