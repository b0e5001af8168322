"""Health codes in a real browser: an officer corrects a code with a reason, the resident reads
it on their phone, and a venue checks the resident's code and sees the colour only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from tests.browser.test_console import log_in
from tests.conftest import NOW

pytestmark = pytest.mark.browser


def resident_at(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


@pytest.fixture
def people(city_live: dict[str, Any], login_user: Callable[..., User]) -> dict[str, Any]:
    flows.case_reported(resident_id=resident_at("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    target = resident_at("C1/2/1/101#2")
    return {
        "target": target,
        "officer": login_user("district_officer", district=city_live["D1"]),
        "resident": login_user("resident", household=target.household),
        "checker": login_user("code_checker"),
    }


def test_a_correction_reaches_the_resident_and_the_venue_sees_only_the_colour(
    people: dict[str, Any], site: str, browser: Any
) -> None:
    target = people["target"]
    officer = browser.new_context(locale="en-US").new_page()
    log_in(officer, site, people["officer"])
    officer.goto(f"{site}/registry/households/{target.household_id}/")
    officer.get_by_role("link", name="C1/2/1/101#2").click()
    officer.wait_for_load_state()
    assert officer.locator("[data-testid=code] [data-colour]").get_attribute("data-colour") == "red"
    assert "high-risk zone" in officer.get_by_test_id("reason").inner_text()
    form = officer.get_by_test_id("correct-form")
    form.locator("select[name=colour]").select_option("yellow")
    form.locator("textarea[name=reason]").fill(
        "Moved out of the unit before the case; checked by the community."
    )
    with officer.expect_navigation():
        form.locator("button[type=submit]").click()
    assert officer.get_by_text("the resident sees your reason").is_visible()
    assert officer.locator("[data-testid=code] [data-colour]").get_attribute("data-colour") == "yellow"

    phone = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}).new_page()
    log_in(phone, site, people["resident"])
    phone.get_by_role("link", name="My health code").click()
    phone.wait_for_load_state()
    card = phone.locator(f"[data-resident='{target.household.address}#2']")
    assert card.locator("[data-colour]").first.get_attribute("data-colour") == "yellow"
    assert "Moved out of the unit before the case" in card.get_by_test_id("reason").inner_text()
    token = card.get_by_test_id("token").inner_text()

    venue = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}).new_page()
    log_in(venue, site, people["checker"])
    venue.get_by_role("link", name="Check a code").click()
    venue.fill("input[name=token]", token)
    with venue.expect_navigation():
        venue.click("[data-testid=check-form] button[type=submit]")
    result = venue.get_by_test_id("result")
    assert result.locator("[data-colour]").get_attribute("data-colour") == "yellow"
    assert "Moved out" not in result.inner_text() and target.name not in venue.content()
    venue.fill("input[name=token]", token[:-1] + ("a" if token[-1] != "a" else "b"))
    with venue.expect_navigation():
        venue.click("[data-testid=check-form] button[type=submit]")
    assert venue.get_by_test_id("refused").is_visible()
