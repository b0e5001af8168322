"""A district officer in a real browser: enters a case, finds its zone, lifts it early."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from tests.browser.test_console import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def officer(city_live: dict[str, Any], login_user: Callable[..., User]) -> User:
    return login_user("district_officer", district=city_live["D1"])


def test_it_lets_a_district_officer_enter_a_case_and_lift_its_zone_early(
    officer: User, site: str, browser: Any
) -> None:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    log_in(page, site, officer)

    page.goto(f"{site}/cases/new/")
    page.fill("#resident", "C1/2/1/301#1")
    page.select_option("#kind", "confirmed")
    page.select_option("#found_by", "screening")
    page.click("[data-testid=case-form] button[type=submit]")
    page.wait_for_load_state()
    assert "/cases/" in page.url
    assert page.get_by_text("is in force at high risk").is_visible()

    page.get_by_role("link", name="Zones", exact=True).click()
    page.wait_for_load_state()
    row = page.locator("tr[data-zone]", has_text="C1/2/1")
    assert row.count() == 1
    assert "lowers to medium on 2022-09-08" in row.inner_text()

    row.locator("a").first.click()
    page.wait_for_load_state()
    lift = page.get_by_test_id("lift")
    # The browser itself insists on a reason before the form goes.
    lift.locator("button").click()
    assert "/zones/" in page.url and page.get_by_test_id("lift").is_visible()
    lift.locator("input[name=reason]").fill("case isolated elsewhere since 08-20")
    lift.locator("input[name=override]").check()
    with page.expect_navigation():
        lift.locator("button").click()
    assert page.get_by_text("was lifted").is_visible()
    assert page.locator("[data-state=lifted]").is_visible()

    page.goto(f"{site}/zones/")
    assert page.locator("tr[data-zone]").count() == 0
    assert page.get_by_text("No risk zones in force.").is_visible()
    page.goto(f"{site}/zones/?state=lifted")
    assert "C1/2/1" in page.locator("tr[data-zone]").first.inner_text()
    context.close()


def test_the_case_form_says_in_chinese_what_is_wrong_and_keeps_what_was_typed(
    officer: User, site: str, browser: Any
) -> None:
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-hans"})
    page = context.new_page()
    log_in(page, site, officer)

    page.goto(f"{site}/cases/new/")
    page.fill("#resident", "C1/9/1/301#1")
    page.fill("#stayed", "C3/1, 酒吧")
    with page.expect_navigation():
        page.click("[data-testid=case-form] button[type=submit]")
    errors = page.get_by_test_id("form-errors")
    assert "没有居民 C1/9/1/301#1" in errors.inner_text()
    assert "场所类型应为" in errors.inner_text()
    assert page.input_value("#resident") == "C1/9/1/301#1"
    assert page.input_value("#stayed") == "C3/1, 酒吧"
    context.close()
