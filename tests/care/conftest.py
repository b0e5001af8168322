"""Shared places and personas of the care tests: a unit locked at high risk by a case (C1/2/1,
where the dialysis patient lives), the community's worker, transfer dispatch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.care import services
from bastion.care.models import MedicalNeed
from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM, Actor
from tests.conftest import NOW, TODAY

PATIENT = "C1/2/1/202#1"  # lives in the unit a case in C1/2/1/301 puts at high risk
OUTSIDE = "C1/1/1/101#1"  # the same community, no zone


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def dialysis(**more: Any) -> services.NeedFields:
    """Mon/Wed/Fri at 08:00 at the dialysis centre, from today."""
    fields: dict[str, Any] = {
        "kind": "dialysis",
        "since": TODAY,
        "weekdays": (0, 2, 4),
        "session_time": time(8, 0),
        "place": "市二医院透析中心",
    }
    return services.NeedFields(**{**fields, **more})


def add_need(address: str = PATIENT, actor: Actor = SYSTEM, **more: Any) -> MedicalNeed:
    return services.need_add(resident_id=resident(address).pk, fields=dialysis(**more), actor=actor, now=NOW)


@pytest.fixture
def locked(city: dict[str, Any]) -> None:
    """A case in C1/2/1/301: its unit is a high-risk zone in force."""
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)


@pytest.fixture
def worker(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M1"]))


@pytest.fixture
def neighbour_worker(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("community_worker", community=city["M2"]))


@pytest.fixture
def dispatcher(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("transfer_dispatch"))


@pytest.fixture
def centre(city: dict[str, Any], make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("command_centre"))


FRIDAY = date(2022, 9, 2)
