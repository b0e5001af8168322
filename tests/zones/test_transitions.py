"""The zone's transition map, as officers meet it: every allowed move works through its service,
every other is refused with InvalidTransition and leaves the zone as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bastion.city.models import Compound
from bastion.core.errors import InvalidTransition
from bastion.core.scopes import SYSTEM
from bastion.zones import rules, services
from bastion.zones.models import Zone, ZoneState
from tests.conftest import NOW, TODAY

LATER = NOW + timedelta(days=1)

# The service an officer uses to move a zone to each state (none moves a zone back to proposed).
MOVE_TO: dict[str, Callable[[int], Zone]] = {
    ZoneState.IN_FORCE: lambda pk: services.zone_confirm(zone_id=pk, actor=SYSTEM, now=LATER),
    ZoneState.REJECTED: lambda pk: services.zone_reject(
        zone_id=pk, reason="wrong unit", actor=SYSTEM, now=LATER
    ),
    ZoneState.LIFTED: lambda pk: services.zone_lift(
        zone_id=pk, reason="early", override=True, actor=SYSTEM, now=LATER
    ),
}
PAIRS = [(state, to) for state in ZoneState.values for to in MOVE_TO]


def zone_in(state: str, city: dict[str, Any]) -> Zone:
    return Zone.objects.create(
        code="D1-00001",
        level="high",
        state=state,
        protocol="v9",
        step="high",
        area="compound",
        address="C1",
        compound=Compound.objects.get(code="C1"),
        community=city["M1"],
        district=city["D1"],
        proposed_at=NOW,
        since=None if state in (ZoneState.PROPOSED, ZoneState.REJECTED) else TODAY,
        clock_start=TODAY,
        lifted_on=TODAY if state == ZoneState.LIFTED else None,
        reason="test",
    )


@pytest.mark.parametrize(("state", "to"), PAIRS)
def test_a_zone_moves_through_its_services_exactly_as_its_transition_map_says(
    city: dict[str, Any], state: str, to: str
) -> None:
    zone = zone_in(state, city)
    if rules.may_move("zone", state, to):
        MOVE_TO[to](zone.pk)
    else:
        with pytest.raises(InvalidTransition):
            MOVE_TO[to](zone.pk)
    zone.refresh_from_db()
    assert zone.state == (to if rules.may_move("zone", state, to) else state)
