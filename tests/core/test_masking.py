"""The masking policy as a table: role by role, field by field, what each role sees of a person
it does not move (core/masking.py). A change of a role's permissions that changes what it sees
changes this table, on purpose."""

from __future__ import annotations

from bastion.core import masking
from bastion.core.masking import Field, Treatment
from bastion.core.roles import ROLE_PERMISSIONS
from bastion.core.scopes import Actor

S, M, H = Treatment.SHOWN, Treatment.MASKED, Treatment.HIDDEN
FIELDS = [
    Field.NAME,
    Field.ID_NUMBER,
    Field.PHONE,
    Field.BIRTH_DATE,
    Field.VULNERABILITY,
    Field.CASE_NUMBER,
    Field.MEDICAL,
]

EXPECTED = {
    # role:              name id phone birth needs case number, medical needs
    "command_centre": [M, M, M, H, S, S, M],
    "district_officer": [M, M, M, H, S, S, M],
    "community_worker": [S, S, S, S, S, S, S],
    "volunteer": [M, M, M, H, S, H, M],
    "lab": [M, M, M, H, H, H, M],
    "sampler": [M, M, M, H, H, H, M],
    "transfer_dispatch": [M, M, M, H, H, S, M],
    "commerce_supply": [M, M, M, H, H, H, M],
    "market_regulator": [M, M, M, H, H, H, M],
    "resident": [S, S, S, S, S, H, M],
    "code_checker": [M, M, M, H, H, H, M],  # reads a colour by token, and nothing of the person
    "hotline_operator": [M, M, M, H, H, H, M],  # a caller's name and phone masked, as to any operator
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


def test_medical_needs_are_shown_to_those_who_keep_them_and_to_dispatch_for_its_patients() -> None:
    worker = Actor(
        user_id=1, role="community_worker", level="community", permissions=frozenset({"keep_medical_needs"})
    )
    dispatch = Actor(
        user_id=2,
        role="transfer_dispatch",
        level="city",
        permissions=frozenset({"view_transfers", "view_trips"}),
    )
    centre = Actor(user_id=3, role="command_centre", level="city", permissions=frozenset({"view_trips"}))
    assert masking.need_kind_for(worker, "dialysis") == "dialysis"
    assert masking.need_kind_for(dispatch, "dialysis", to_move=True) == "dialysis"
    assert masking.need_kind_for(dispatch, "dialysis") == "medical"
    assert masking.need_kind_for(centre, "dialysis", to_move=True) == "medical"
    assert masking.medical_text_for(centre, "透析中心", to_move=True) == ""
    assert masking.medical_text_for(worker, "透析中心") == "透析中心"
