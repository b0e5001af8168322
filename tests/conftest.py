from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.test import override_settings
from django.utils import translation

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


@pytest.fixture(autouse=True, scope="session")
def quick_password_hashes() -> Iterator[None]:
    """PBKDF2's million rounds cost a quarter of a second of CPU for every persona made: most
    of the suite's set-up time. Tests check who may log in with which password, not the
    strength of the hash (production settings keep Django's default hashers)."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture(autouse=True, scope="session")
def plain_http() -> Iterator[None]:
    """The suite runs on production settings, which redirect plain http to https; the test
    client and the live server speak plain http (tests/core/test_deploy.py checks the redirect)."""
    with override_settings(SECURE_SSL_REDIRECT=False):
        yield


@pytest.fixture(autouse=True)
def platform_language() -> Iterator[None]:
    """Every test starts and ends in the platform's language: a request through the test client
    leaves the language it asked for active in the thread (LocaleMiddleware activates it and
    nothing deactivates it), and a later test in the same process would read English where the
    platform speaks Chinese."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    with clock.use(clock.FrozenClock(NOW)) as frozen:
        yield frozen


Rows = dict[type[models.Model], dict[Any, dict[str, Any]]]


def _every_row() -> Rows:
    """Every row of every table, by model and primary key (a test database holds a few hundred)."""
    tables: Rows = {}
    for model in apps.get_models(include_auto_created=True):
        if model._meta.proxy or not model._meta.managed:
            continue
        pk = model._meta.pk.attname  # type: ignore[union-attr]
        tables[model] = {row[pk]: row for row in model._base_manager.values()}
    return tables


def _build_city() -> None:
    services.city_build(city=TWO_DISTRICTS, seed=7, as_of=TODAY, actor=SYSTEM, now=NOW)


@functools.cache
def _city_rows() -> tuple[tuple[type[models.Model], tuple[dict[str, Any], ...]], ...]:
    """The rows `city_build` writes for TWO_DISTRICTS, recorded once per test process (each
    xdist worker has its own database) by building the city in a savepoint rolled back."""
    before = _every_row()
    with transaction.atomic():
        _build_city()
        after = _every_row()
        transaction.set_rollback(True)
    written = []
    for model, rows in after.items():
        old = before[model]
        changed = [pk for pk in old if rows.get(pk) != old[pk]]
        # Only new rows can be replayed into another test's database as they are.
        assert not changed, f"city_build changed or deleted rows of {model.__name__}: {changed[:5]}"
        new = tuple(row for pk, row in rows.items() if pk not in old)
        if new:
            written.append((model, new))
    return tuple(written)


@pytest.fixture
def city(db: None) -> dict[str, Any]:
    """A small city: D1 (M1 with C1 and the courtyard C2; M2 with C3) and D2 (M3 with C4).

    Built once per test process through `services.city_build` (with its seed-7 people, figures,
    profiles and audit row); each test then gets those same rows, ids included, written in one
    INSERT per table: a build per test took one to two seconds on PostgreSQL (bulk load,
    index rebuilds), most of the suite's set-up time there.
    A transactional test (no enclosing transaction to record in) builds its own.
    """
    services.roles_sync()
    if not transaction.get_connection().in_atomic_block:
        _build_city()
    else:
        written = _city_rows()
        with transaction.atomic():
            for model, rows in written:
                model._base_manager.bulk_create([model(**row) for row in rows])
            # Later inserts take ids after the replayed ones (PostgreSQL sequences do not follow
            # explicit ids; SQLite's AUTOINCREMENT does).
            with connection.cursor() as cursor:
                for statement in connection.ops.sequence_reset_sql(no_style(), [m for m, _ in written]):
                    cursor.execute(statement)
    return {
        "D1": District.objects.get(code="D1"),
        "D2": District.objects.get(code="D2"),
        "M1": Community.objects.get(code="M1"),
        "M2": Community.objects.get(code="M2"),
        "M3": Community.objects.get(code="M3"),
    }


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Persona factory: make_user("community_worker", community=M1) (tests/factories.py)."""
    from tests.factories import PASSWORD, StaffUserFactory

    def make(role: str, *, scope: str | None = None, password: str = PASSWORD, **places: Any) -> User:
        return StaffUserFactory(role=role, scope=scope, password=password, **places)

    return make


@pytest.fixture
def household(city: dict[str, Any]) -> Household:
    return Household.objects.get(address="C1/2/1/301")
