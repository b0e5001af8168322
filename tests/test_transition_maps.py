"""Every context's transition map, written out: the moves the services allowed before the maps
existed (0e6b7ec). A change of a map must change this table too, on purpose; the contexts'
`test_transitions.py` then hold the services to the map."""

from __future__ import annotations

from types import ModuleType

import pytest

from bastion.appeals import rules as appeals
from bastion.care import rules as care
from bastion.cases import rules as cases
from bastion.delivery import rules as delivery
from bastion.testing import rules as testing
from bastion.transfer import rules as transfer
from bastion.zones import rules as zones

MAPS: list[tuple[ModuleType, dict[str, dict[str, set[str]]]]] = [
    (
        cases,
        {
            "case": {"active": {"discharged"}, "discharged": set()},
            "case_kind": {"asymptomatic": {"confirmed"}, "confirmed": set()},
            "contact": {
                "quarantined": {"became_case", "monitoring", "released", "upgraded"},
                "monitoring": {"became_case", "released"},
                "became_case": set(),
                "released": set(),
                "upgraded": set(),
            },
        },
    ),
    (
        zones,
        {
            "zone": {
                "proposed": {"in_force", "rejected"},
                "in_force": {"lifted"},
                "lifted": set(),
                "rejected": set(),
            }
        },
    ),
    (
        testing,
        {
            "round": {"open": {"closed"}, "closed": set()},
            "tube": {
                "": {"negative", "positive", "invalid"},
                "negative": set(),
                "positive": set(),
                "invalid": set(),
            },
            "recall": {"open": {"retested"}, "retested": set()},
        },
    ),
    (
        delivery,
        {
            "order": {
                "open": {"assigned"},
                "assigned": {"delivered", "open"},
                "delivered": set(),
                "cancelled": set(),
            },
            "task": {"open": {"claimed"}, "claimed": {"done"}, "done": set()},
        },
    ),
    (
        care,
        {
            "trip": {
                "planned": {"dispatched", "missed", "cancelled"},
                "dispatched": {"picked_up", "missed", "cancelled"},
                "missed": {"dispatched", "cancelled"},
                "picked_up": {"at_treatment"},
                "at_treatment": {"returned"},
                "returned": set(),
                "cancelled": set(),
            }
        },
    ),
    (
        transfer,
        {
            "transfer": {
                "requested": {"destination_assigned", "cancelled", "refused"},
                "destination_assigned": {"vehicle_assigned", "requested", "cancelled", "refused"},
                "vehicle_assigned": {"picked_up", "requested", "cancelled", "refused"},
                "picked_up": {"admitted", "cancelled", "refused"},
                "admitted": {"discharged"},
                "discharged": set(),
                "cancelled": set(),
                "refused": set(),
            }
        },
    ),
    (
        appeals,
        {
            "appeal": {
                "accepted": {"dispatched"},
                "dispatched": {"signed", "dispatched"},
                "signed": {"replied", "dispatched"},
                "replied": {"closed", "reopened"},
                "reopened": {"signed", "dispatched"},
                "closed": set(),
            }
        },
    ),
]


@pytest.mark.parametrize(
    ("rules", "expected"), MAPS, ids=["cases", "zones", "testing", "delivery", "care", "transfer", "appeals"]
)
def test_a_contexts_transition_map_is_the_one_its_services_kept(
    rules: ModuleType, expected: dict[str, dict[str, set[str]]]
) -> None:
    actual = {
        entity: {state: set(to) for state, to in moves.items()}
        for entity, moves in rules.ALLOWED_TRANSITIONS.items()
    }
    assert actual == expected
    for entity, moves in expected.items():
        for state in moves:
            for to in {s for targets in expected[entity].values() for s in targets} | set(moves):
                assert rules.may_move(entity, state, to) is (to in moves[state])
