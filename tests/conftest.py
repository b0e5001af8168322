from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion.city import services
from bastion.city.models import Community, District, Household
from bastion.core import clock
from bastion.core.scopes import SYSTEM

NOW = datetime(2022, 9, 1, 1, 0, tzinfo=UTC)  # 09:00 in Chengdu
TODAY = date(2022, 9, 1)

TWO_DISTRICTS = {
    "districts": [
        {
            "code": "D1",
            "name": "新城区",
            "communities": [
                {
                    "code": "M1",
                    "name": "锦华社区",
                    "compounds": [
                        {
                            "code": "C1",
                            "buildings": 2,
                            "units": 2,
                            "floors": 3,
                            "per_floor": 2,
                            "household_size": 3,
                        },
                        {
                            "code": "C2",
                            "buildings": 1,
                            "units": 1,
                            "floors": 1,
                            "per_floor": 8,
                            "household_size": 2,
                            "shared_facilities": True,
                        },
                    ],
                },
                {
                    "code": "M2",
                    "name": "玉林社区",
                    "compounds": [{"code": "C3", "buildings": 1, "units": 1, "floors": 2, "per_floor": 2}],
                },
            ],
        },
        {
            "code": "D2",
            "name": "老城区",
            "communities": [
                {
                    "code": "M3",
                    "name": "望江社区",
                    "compounds": [{"code": "C4", "buildings": 1, "floors": 2}],
                },
            ],
        },
    ]
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` need PostgreSQL behaviour (row locks, COPY, sequences): on SQLite
    they are deselected, not skipped, so a run never reports a skip that hides a failure."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    dropped = [item for item in items if item.get_closest_marker("postgres") is not None]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.use(clock.FrozenClock(NOW)) as frozen:
        yield frozen


@pytest.fixture
def city(db: None) -> dict[str, Any]:
    """A small city: D1 (M1 with C1 and the courtyard C2; M2 with C3) and D2 (M3 with C4)."""
    services.roles_sync()
    services.city_build(city=TWO_DISTRICTS, seed=7, as_of=TODAY, actor=SYSTEM, now=NOW)
    return {
        "D1": District.objects.get(code="D1"),
        "D2": District.objects.get(code="D2"),
        "M1": Community.objects.get(code="M1"),
        "M2": Community.objects.get(code="M2"),
        "M3": Community.objects.get(code="M3"),
    }


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Persona factory: make_user("community_worker", community=M1)."""
    counter = {"n": 0}

    def make(
        role: str,
        *,
        scope: str | None = None,
        password: str = "correct-horse-battery",  # noqa: S107
        **places: Any,
    ) -> User:
        counter["n"] += 1
        account = services.account_grant(
            username=f"{role}-{counter['n']}",
            password=password,
            role=role,
            scope=scope,
            district=places.get("district"),
            community=places.get("community"),
            household=places.get("household"),
            actor=SYSTEM,
            now=NOW,
        )
        return account.user

    return make


@pytest.fixture
def household(city: dict[str, Any]) -> Household:
    return Household.objects.get(address="C1/2/1/301")
