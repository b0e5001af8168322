"""Playwright on Debian's Chromium (/usr/bin/chromium): no downloaded browser build."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connections

# Playwright's sync API keeps an event loop running in this thread; Django would refuse ORM
# calls made meanwhile. They are still synchronous, one at a time.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def city_live(transactional_db: None, city: dict[str, Any]) -> dict[str, Any]:
    """The `city` fixture, committed so that the live server's thread sees it."""
    return city


@pytest.fixture
def site(transactional_db: None, live_server: Any) -> str:
    """The live server's base URL (the database first, so that the server stops before it is dropped)."""
    return str(live_server.url)


@pytest.fixture
def login_user(transactional_db: None, make_user: Callable[..., User]) -> Callable[..., User]:
    return make_user


@pytest.fixture
def worker(city_live: dict[str, Any], login_user: Callable[..., User]) -> User:
    """A community worker of M1. Ask for people and places before `browser`: see there."""
    return login_user("community_worker", community=city_live["M1"])


@pytest.fixture
def browser(settings: Any) -> Iterator[Any]:
    """Chromium, launched for one test.

    While Playwright's loop runs, Django counts this thread as async and hands out a separate
    database connection; so data is set up before (fixtures listed ahead of this one), and any
    connection opened meanwhile is closed here before the loop ends.
    """
    if not os.path.exists(CHROMIUM):
        # .ci/run installs Debian's chromium; in CI a missing browser is a failure, never a skip.
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # The live server speaks plain HTTP: secure-only cookies would never come back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()
