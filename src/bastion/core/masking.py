"""The masking policy: who sees which personal field, and how (docs/ARCHITECTURE.md, "Privacy").

One table, `POLICY`, says field by field which permissions show the field in full and what
everyone else gets: the field masked (张**, 5101************13), or hidden (left out, or the
page refused). Every API output and console page that shows one of these fields asks this
module (`treatment`, or the `*_for` helpers built on it), never `actor.has(...)` itself, so
that a listing and a detail reached from it can never disagree: a name masked in a case list
is masked at the resident's id too.

A role's view follows from its permissions (core/roles.py): `matrix()` turns the table into
role × field, as docs and tests read it. Scope is a separate question (core/scopes.py): the
policy decides how a record within scope is shown, never whether it is reached.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bastion.core.errors import Forbidden
from bastion.core.roles import ROLE_PERMISSIONS
from bastion.core.scopes import Actor


class Field(StrEnum):
    NAME = "name"
    ID_NUMBER = "id_number"
    PHONE = "phone"
    BIRTH_DATE = "birth_date"
    # A resident's or household's needs: elderly, living alone, disabled, pregnant, treatment…
    VULNERABILITY = "vulnerability"
    # The number of a case, in lists of cases and in what the platform writes (a zone's reason).
    CASE_NUMBER = "case_number"
    # A resident's standing medical needs and what their trips to treatment say of them (the
    # kind of treatment, its schedule and place, the note): health data.
    MEDICAL = "medical"


class Treatment(StrEnum):
    SHOWN = "shown"
    MASKED = "masked"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Rule:
    """`shown_by`: any of these permissions shows the field in full. `shown_to_movers`: these
    show it in full for a person the actor must move (transfer dispatch, within its reach: a
    case or contact awaiting transfer and their household). Everyone else gets `otherwise`."""

    shown_by: frozenset[str]
    otherwise: Treatment
    shown_to_movers: frozenset[str] = frozenset()


_PERSONAL = frozenset({"view_personal_data"})
_MOVERS = frozenset({"view_transfers"})

POLICY: dict[Field, Rule] = {
    Field.NAME: Rule(_PERSONAL, Treatment.MASKED, _MOVERS),
    Field.ID_NUMBER: Rule(_PERSONAL, Treatment.MASKED, _MOVERS),
    Field.PHONE: Rule(_PERSONAL, Treatment.MASKED, _MOVERS),
    # With the address and the age, a birth date gives the masked digits of the ID back.
    Field.BIRTH_DATE: Rule(_PERSONAL, Treatment.HIDDEN, _MOVERS),
    # Those who serve households (registry, dispatch, delivery, orders) see their needs; the
    # commerce bureau and market regulators see figures only.
    Field.VULNERABILITY: Rule(
        frozenset({"view_registry", "dispatch_deliveries", "deliver", "place_orders"}), Treatment.HIDDEN
    ),
    Field.CASE_NUMBER: Rule(frozenset({"view_cases"}), Treatment.HIDDEN),
    # The community workers who keep the needs see them in full (their scope gives their
    # community's residents); transfer dispatch sees them for the patients it moves (a trip's
    # patient is one); everyone else, the command centre included, gets the kind of trip
    # without the treatment ("medical need") and figures.
    Field.MEDICAL: Rule(frozenset({"keep_medical_needs"}), Treatment.MASKED, _MOVERS),
}


def treatment(actor: Actor, field: Field, *, to_move: bool = False) -> Treatment:
    """How `actor` sees `field`; `to_move`: the record is a person the actor must move."""
    rule = POLICY[field]
    if actor.permissions & rule.shown_by or (to_move and actor.permissions & rule.shown_to_movers):
        return Treatment.SHOWN
    return rule.otherwise


def shows(actor: Actor, field: Field, *, to_move: bool = False) -> bool:
    return treatment(actor, field, to_move=to_move) == Treatment.SHOWN


def moves_people(actor: Actor) -> bool:
    """Whether the policy shows this actor more of the people it must move than of others
    (transfer dispatch): only then is it worth asking which records are such people."""
    return any(actor.permissions & rule.shown_to_movers for rule in POLICY.values())


def require(actor: Actor, field: Field) -> None:
    """For a page or an endpoint that exists to show `field` (a list of households with their
    needs): refused (403) to an actor from whom the field is hidden or masked."""
    if not shows(actor, field):
        raise Forbidden()


def matrix() -> dict[str, dict[Field, Treatment]]:
    """Role × field, for each role's default permissions (core/roles.py), for a person the
    role does not move."""
    return {
        role: {
            field: treatment(Actor(user_id=None, role=role, level="", permissions=frozenset(perms)), field)
            for field in Field
        }
        for role, perms in ROLE_PERMISSIONS.items()
    }


# --- the masks -------------------------------------------------------------------------------


def mask_id_number(value: str) -> str:
    """5101************13: the province and city, and the last two characters.

    The district, the birth date and most of the sequence number stay hidden, so that the
    number cannot be rebuilt from what a masked view shows beside it (the address gives the
    district, the age the birth year).
    """
    if len(value) <= 6:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 6) + value[-2:]


def mask_phone(value: str) -> str:
    """138****1234."""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """张** : the family name only."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def _apply(actor: Actor, field: Field, value: str, mask: Callable[[str], str], to_move: bool) -> str:
    how = treatment(actor, field, to_move=to_move)
    if how == Treatment.SHOWN or not value:
        return value
    if how == Treatment.HIDDEN:
        return ""
    return mask(value)


def name_for(actor: Actor, value: str, *, to_move: bool = False) -> str:
    return _apply(actor, Field.NAME, value, mask_name, to_move)


def id_number_for(actor: Actor, value: str, *, to_move: bool = False) -> str:
    return _apply(actor, Field.ID_NUMBER, value, mask_id_number, to_move)


def phone_for(actor: Actor, value: str, *, to_move: bool = False) -> str:
    return _apply(actor, Field.PHONE, value, mask_phone, to_move)


MASKED_NEED = "medical"


def need_kind_for(actor: Actor, kind: str, *, to_move: bool = False) -> str:
    """A need's kind (dialysis, pregnancy…) as the actor may see it: in full, or the bare word
    "medical" (masked), or nothing (hidden)."""
    return _apply(actor, Field.MEDICAL, kind, lambda _value: MASKED_NEED, to_move)


def medical_text_for(actor: Actor, value: str, *, to_move: bool = False) -> str:
    """What a need or trip says beyond its kind (a note, a place of treatment, a schedule):
    in full, or nothing."""
    return value if shows(actor, Field.MEDICAL, to_move=to_move) else ""


# An ID number wherever it stands: a file's resident column may carry one instead of an id.
ID_LIKE = re.compile(r"\d{17}[\dXx]")


def record_for(actor: Actor, detail: dict[str, Any]) -> dict[str, Any]:
    """A refused record as a file or a device sent it (a round's exceptions): every value that
    reads as an ID number, under any key, as the actor may see ID numbers."""
    return {
        key: id_number_for(actor, value)
        if isinstance(value, str) and ID_LIKE.fullmatch(value.strip())
        else value
        for key, value in detail.items()
    }
