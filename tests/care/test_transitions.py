"""A trip's transition map, as the dispatcher and the community meet it: every allowed move
works through its service, every other is refused with InvalidTransition and leaves the trip as
it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bastion.care import rules, services
from bastion.care.models import Purpose, Trip, TripState
from bastion.core.errors import InvalidTransition
from bastion.core.scopes import SYSTEM
from tests.care.conftest import PATIENT, resident
from tests.conftest import NOW

LATER = NOW + timedelta(hours=1)

# The service that moves a trip to each state (none moves a trip back to planned).
MOVE_TO: dict[str, Callable[[int], Trip]] = {
    TripState.DISPATCHED: lambda pk: services.trip_dispatch(
        trip_id=pk, vehicle_code="V1", actor=SYSTEM, now=LATER
    ),
    TripState.PICKED_UP: lambda pk: services.trip_move(trip_id=pk, to="picked_up", actor=SYSTEM, now=LATER),
    TripState.AT_TREATMENT: lambda pk: services.trip_move(
        trip_id=pk, to="at_treatment", actor=SYSTEM, now=LATER
    ),
    TripState.RETURNED: lambda pk: services.trip_move(trip_id=pk, to="returned", actor=SYSTEM, now=LATER),
    TripState.MISSED: lambda pk: services.trip_move(trip_id=pk, to="missed", actor=SYSTEM, now=LATER),
    TripState.CANCELLED: lambda pk: services.trip_cancel(
        trip_id=pk, reason="已住院", actor=SYSTEM, now=LATER
    ),
}
PAIRS = [(state, to) for state in TripState.values for to in MOVE_TO]


def test_every_state_a_service_moves_to_is_in_the_table() -> None:
    assert set(MOVE_TO) == set(TripState.values) - {TripState.PLANNED}


@pytest.mark.parametrize(("state", "to"), PAIRS)
def test_a_trip_moves_through_its_services_exactly_as_its_transition_map_says(
    city: dict[str, Any], state: str, to: str
) -> None:
    patient = resident(PATIENT)
    trip = Trip.objects.create(
        resident=patient,
        household_id=patient.household_id,
        community_id=patient.community_id,
        district_id=patient.district_id,
        purpose=Purpose.SESSION,
        kind="dialysis",
        at=NOW + timedelta(hours=2),
        pickup_address="C1/2/1/202",
        destination="透析中心",
        state=state,
        raised_by="test",
        created_at=NOW,
        changed_at=NOW,
    )
    if rules.may_move("trip", state, to):
        MOVE_TO[to](trip.pk)
    else:
        with pytest.raises(InvalidTransition):
            MOVE_TO[to](trip.pk)
    trip.refresh_from_db()
    assert trip.state == (to if rules.may_move("trip", state, to) else state)
