"""The masking policy as a table: role by role, field by field, what each role sees of a person
it does not move (core/masking.py). A change of a role's permissions that changes what it sees
changes this table, on purpose."""

from __future__ import annotations

from bastion.core import masking
from bastion.core.masking import Field, Treatment
from bastion.core.roles import ROLE_PERMISSIONS
from bastion.core.scopes import Actor

S, M, H = Treatment.SHOWN, Treatment.MASKED, Treatment.HIDDEN
FIELDS = [Field.NAME, Field.ID_NUMBER, Field.PHONE, Field.BIRTH_DATE, Field.VULNERABILITY, Field.CASE_NUMBER]

EXPECTED = {
    # role:              name id phone birth needs case number
    "command_centre": [M, M, M, H, S, S],
    "district_officer": [M, M, M, H, S, S],
    "community_worker": [S, S, S, S, S, S],
    "volunteer": [M, M, M, H, S, H],
    "lab": [M, M, M, H, H, H],
    "sampler": [M, M, M, H, H, H],
    "transfer_dispatch": [M, M, M, H, H, S],
    "commerce_supply": [M, M, M, H, H, H],
    "market_regulator": [M, M, M, H, H, H],
    "resident": [S, S, S, S, S, H],
    "code_checker": [M, M, M, H, H, H],  # reads a colour by token, and nothing of the person
}


def test_each_role_sees_each_field_as_the_policy_declares() -> None:
    table = masking.matrix()
    assert {role: [table[role][f] for f in FIELDS] for role in table} == EXPECTED


def test_transfer_dispatch_sees_the_people_it_moves_in_full_and_only_them() -> None:
    dispatch = Actor(
        user_id=1, role="transfer_dispatch", level="city", permissions=frozenset({"view_transfers"})
    )
    assert masking.name_for(dispatch, "张三丰", to_move=True) == "张三丰"
    assert masking.name_for(dispatch, "张三丰") == "张**"
    assert masking.id_number_for(dispatch, "510104198005170011") == "5101************11"
    assert masking.phone_for(dispatch, "13900000001", to_move=True) == "13900000001"
    # `to_move` unmasks nothing for a role without the power to move people.
    centre = Actor(user_id=2, role="command_centre", level="city", permissions=frozenset({"view_cases"}))
    assert masking.name_for(centre, "张三丰", to_move=True) == "张**"


def test_only_transfer_dispatch_is_shown_more_of_the_people_it_moves() -> None:
    movers = {
        role
        for role, perms in ROLE_PERMISSIONS.items()
        if masking.moves_people(Actor(user_id=None, role=role, level="", permissions=frozenset(perms)))
    }
    assert movers == {"transfer_dispatch"}
