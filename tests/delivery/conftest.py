"""Shared personas and places of the delivery tests: a catalogue with a 10 kg vegetable
package, a unit locked at high risk by a case, the community's worker and volunteers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city import services as city_services
from bastion.city.models import Household, Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM, Actor
from tests.conftest import NOW
from tests.factories import supply_catalogue

Places = dict[str, Any]
UNIT = "C1/2/1"  # the unit a case in C1/2/1/301 puts at high risk: 6 households, 18 residents


def at(days: float = 0, hours: float = 0) -> datetime:
    return NOW + timedelta(days=days, hours=hours)


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def households(prefix: str) -> list[Household]:
    return list(Household.objects.filter(address__startswith=prefix + "/").order_by("address"))


@pytest.fixture
def commerce(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("commerce_supply"))


@pytest.fixture
def catalogue(commerce: Actor) -> None:
    supply_catalogue(commerce, rice_limit=2)


@pytest.fixture
def locked(city: Places, catalogue: None) -> list[Household]:
    """A case in C1/2/1/301 puts its unit at high risk: its 6 households are served at the door.
    In C1/2/1/202 lives a disabled resident."""
    city_services.resident_set_flags(
        resident_id=resident("C1/2/1/202#1").pk,
        flags={"disabled": True},
        reason="残疾人登记",
        actor=SYSTEM,
        now=NOW,
    )
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    return households(UNIT)


@pytest.fixture
def worker(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M1"]))


@pytest.fixture
def volunteers(city: Places, make_user: Callable[..., User]) -> list[Actor]:
    return [actor_for(make_user("volunteer", community=city["M1"])) for _ in range(2)]
