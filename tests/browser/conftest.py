"""Playwright on Debian's Chromium (/usr/bin/chromium): no downloaded browser build."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are still synchronous, one at a time.
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
def login_user(transactional_db: None, make_user: Callable[..., User]) -> Callable[..., User]:
    return make_user


@pytest.fixture
def browser(settings: Any) -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
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
