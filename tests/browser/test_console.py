"""A community worker in a real browser: log in, see their community, not another; phone; language."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery"


def log_in(page: Any, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def test_it_shows_a_community_worker_their_community_only(
    city_live: dict[str, Any], worker: User, site: str, browser: Any
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, site, worker)

    assert page.url == f"{site}/registry/communities/{city_live['M1'].pk}/"
    assert page.get_by_test_id("community-name").inner_text().startswith("锦华社区")
    assert "玉林社区" not in page.content()

    response = page.goto(f"{site}/registry/communities/{city_live['M2'].pk}/")
    assert response is not None and response.status == 404
    assert page.get_by_test_id("error").is_visible()
    assert "玉林社区" not in page.content()
    context.close()


def test_it_fits_the_community_page_on_a_phone(
    city_live: dict[str, Any], worker: User, site: str, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    log_in(page, site, worker)
    assert page.url == f"{site}/registry/communities/{city_live['M1'].pk}/"
    # Down the trail: community, compound, building, household (the widest table).
    for level in ("community", "compound", "building", "household"):
        assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth"), level
        assert page.locator("h1").is_visible()
        if level != "household":
            page.locator("table.list tbody a").first.click()
            page.wait_for_load_state()
    assert "/registry/households/" in page.url
    context.close()


def test_it_switches_the_language(city_live: dict[str, Any], worker: User, site: str, browser: Any) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    log_in(page, site, worker)
    assert page.locator("html").get_attribute("lang") == "zh-hans"

    with page.expect_navigation():
        page.select_option("#language", "en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.url == f"{site}/registry/communities/{city_live['M1'].pk}/"
    assert page.get_by_role("link", name="My community").is_visible()
    context.close()
