"""Pure rules of the registry: resident ID numbers, addresses, ages. No ORM here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

# 60 is the age at which Chinese law counts a person as elderly (老年人权益保障法).
ELDERLY_AGE = 60
INFANT_AGE = 3


class IdNumberError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def id_check_digit(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def parse_id_number(value: str, *, today: date | None = None) -> date:
    """Validate an 18-character resident ID number (GB 11643); return the birth date in it."""
    value = value.strip().upper()
    if len(value) != 18:
        raise IdNumberError("id_length", "an ID number has 18 characters")
    if not value[:17].isdigit() or not (value[17].isdigit() or value[17] == "X"):
        raise IdNumberError("id_characters", "an ID number is 17 digits and a digit or X")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberError("id_birth_date", "the birth date inside the ID number is not a date") from None
    if born.year < 1890 or (today is not None and born > today):
        raise IdNumberError("id_birth_date", "the birth date inside the ID number is not plausible")
    if id_check_digit(value[:17]) != value[17]:
        raise IdNumberError("id_check_digit", "the check digit of the ID number is wrong")
    return born


def age_on(birth_date: date, day: date) -> int:
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def is_elderly(birth_date: date, day: date) -> bool:
    return age_on(birth_date, day) >= ELDERLY_AGE


_ADDRESS = re.compile(
    r"^(?P<compound>[^/#\s]+)"
    r"(?:/(?P<building>\d+)"
    r"(?:/(?P<unit>\d+)"
    r"(?:/(?P<room>[^/#\s]+)"
    r"(?:#(?P<number>\d+))?)?)?)?$"
)


@dataclass(frozen=True)
class Address:
    """`C1/2/1/301#1`: compound, building, unit, room, resident number; any tail may be dropped."""

    compound: str
    building: int | None = None
    unit: int | None = None
    room: str | None = None
    number: int | None = None

    @property
    def level(self) -> str:
        if self.number is not None:
            return "resident"
        if self.room is not None:
            return "household"
        if self.unit is not None:
            return "unit"
        if self.building is not None:
            return "building"
        return "compound"

    def __str__(self) -> str:
        text = self.compound
        for part in (self.building, self.unit, self.room):
            if part is None:
                return text
            text += f"/{part}"
        return text if self.number is None else f"{text}#{self.number}"

    @property
    def household(self) -> str:
        return f"{self.compound}/{self.building}/{self.unit}/{self.room}"


def parse_address(text: str) -> Address:
    match = _ADDRESS.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an address like C1/2/1/301#1")
    parts = match.groupdict()
    return Address(
        compound=parts["compound"],
        building=int(parts["building"]) if parts["building"] else None,
        unit=int(parts["unit"]) if parts["unit"] else None,
        room=parts["room"],
        number=int(parts["number"]) if parts["number"] else None,
    )


def household_address(compound: str, building: int, unit: int, room: str) -> str:
    return f"{compound}/{building}/{unit}/{room}"


def id_sex(value: str) -> str:
    """`M` or `F` as a valid ID number records it: the 17th digit is odd for men (GB 11643)."""
    return "M" if int(value.strip()[16]) % 2 else "F"
