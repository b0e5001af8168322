"""The transition map of a transfer, as crews and dispatchers meet it: every allowed move
works through the real service, every other is refused with InvalidTransition and changes
nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bastion.core.errors import InvalidTransition
from bastion.core.scopes import SYSTEM
from bastion.transfer import rules, services
from bastion.transfer.models import Transfer, TransferState
from tests.conftest import NOW
from tests.transfer.helpers import resident

LATER = NOW + timedelta(hours=1)
PAIRS = [(state, to) for state in TransferState.values for to in services.MOVES]


def transfer_in(state: str) -> Transfer:
    person = resident("C1/1/1/101#1")
    return Transfer.objects.create(
        resident=person,
        household_id=person.household_id,
        community_id=person.community_id,
        district_id=person.district_id,
        reason="case",
        severity="mild",
        state=state,
        requested_at=NOW,
        pickup_by=NOW + timedelta(hours=12),
    )


@pytest.mark.parametrize(("state", "to"), PAIRS)
def test_a_transfer_moves_only_where_the_transition_map_allows(
    city: dict[str, Any], state: str, to: str
) -> None:
    transfer = transfer_in(state)
    if rules.may_move("transfer", state, to):
        moved = services.transfer_move(
            transfer_id=transfer.pk, to=to, reason="crew says", actor=SYSTEM, now=LATER
        )
        assert moved.state == to
    else:
        with pytest.raises(InvalidTransition):
            services.transfer_move(
                transfer_id=transfer.pk, to=to, reason="crew says", actor=SYSTEM, now=LATER
            )
        transfer.refresh_from_db()
        assert transfer.state == state


@pytest.mark.parametrize("state", TransferState.values)
def test_a_discharge_ends_an_admission_and_cancels_a_wait(city: dict[str, Any], state: str) -> None:
    transfer = transfer_in(state)
    ended = services.transfer_discharge(
        resident_id=transfer.resident_id,
        protocol="v9",
        override_reason="clinician's decision",
        actor=SYSTEM,
        now=LATER,
    )
    transfer.refresh_from_db()
    if state == "admitted":
        assert rules.may_move("transfer", state, "discharged") and transfer.state == "discharged"
    elif state in rules.OPEN:
        assert rules.may_move("transfer", state, "cancelled") and transfer.state == "cancelled"
    else:
        assert ended is None and transfer.state == state
