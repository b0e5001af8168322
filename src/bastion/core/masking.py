"""Masking of personal data for roles that do not need it."""

from __future__ import annotations

from bastion.core.scopes import Actor


def mask_id_number(value: str) -> str:
    """110105********0013: region kept, birth date hidden, last four kept."""
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


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
