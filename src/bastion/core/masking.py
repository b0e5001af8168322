"""Masking of personal data for roles that do not need it."""

from __future__ import annotations

from bastion.core.scopes import Actor


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


def id_number_for(actor: Actor, value: str) -> str:
    return value if actor.sees_personal_data else mask_id_number(value)


def phone_for(actor: Actor, value: str) -> str:
    if not value:
        return value
    return value if actor.sees_personal_data else mask_phone(value)


def mask_name(value: str) -> str:
    """张** : the family name only. Used where a name sits beside a health status."""
    return value[:1] + "*" * max(len(value) - 1, 1) if value else value


def name_for(actor: Actor, value: str) -> str:
    return value if actor.sees_personal_data else mask_name(value)
