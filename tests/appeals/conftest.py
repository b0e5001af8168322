"""Shared places and personas of the appeals tests: a unit locked at high risk by a case
(C1/2/1, where the caller lives), a building with no zone (C1/1/1), the residents, the
community's worker and its neighbour's, the district's officer, the hotline, market
regulation and the command centre."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.appeals import services
from bastion.appeals.models import Appeal
from bastion.city.models import Household, Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM, Actor
from tests.conftest import NOW

LOCKED = "C1/2/1/302"  # in the unit a case in C1/2/1/301 puts at high risk
FREE = "C1/1/1/101"  # the same community, no zone
NEIGHBOURS = "C3/1/1/101"  # another community of the same district


def household(address: str) -> Household:
    return Household.objects.get(address=address)


def raise_(
    address: str = FREE,
    *,
    category: str = "other",
    urgency: str = "normal",
    actor: Actor = SYSTEM,
    now: datetime = NOW,
    **more: Any,
) -> Appeal:
    return services.appeal_raise(
        household_id=household(address).pk, category=category, urgency=urgency, actor=actor, now=now, **more
    )


@pytest.fixture
def locked(city: dict[str, Any]) -> None:
    """A case in C1/2/1/301: its unit is a high-risk zone in force."""
    case = Resident.objects.get(household__address="C1/2/1/301", number=1)
    flows.case_reported(resident_id=case.pk, kind="confirmed", actor=SYSTEM, now=NOW)


@pytest.fixture
def worker(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M1"]))


@pytest.fixture
def other_worker(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M1"]))


@pytest.fixture
def neighbour_worker(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M2"]))


@pytest.fixture
def officer(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("district_officer", district=city["D1"]))


@pytest.fixture
def hotline(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("hotline_operator"))


@pytest.fixture
def regulator(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("market_regulator"))


@pytest.fixture
def centre(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("command_centre"))


@pytest.fixture
def resident(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    """A resident of C1/1/1/101."""
    return actor_for(make_user("resident", household=household(FREE)))
