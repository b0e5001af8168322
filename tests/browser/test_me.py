"""The resident's own page on a phone: they land on it, read their household's codes and why,
open the QR code to show at a venue, and the page fits the screen under the CSP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Resident
from bastion.codes import tokens
from bastion.core.scopes import SYSTEM
from tests.browser.test_console import log_in
from tests.conftest import NOW

pytestmark = pytest.mark.browser


@pytest.fixture
def household_resident(city_live: dict[str, Any], login_user: Callable[..., User]) -> dict[str, Any]:
    case = Resident.objects.get(household__address="C1/2/1/301", number=1)
    flows.case_reported(resident_id=case.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    return {"case": case, "user": login_user("resident", household=case.household)}


def test_a_resident_opens_their_page_on_a_phone_and_shows_the_qr_code(
    household_resident: dict[str, Any], site: str, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", is_mobile=True)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    log_in(page, site, household_resident["user"])
    assert page.url == f"{site}/me/"
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    card = page.locator("[data-testid=member-code][data-member='1']")
    assert card.get_attribute("data-colour") == "red"
    assert "confirmed case" in card.get_by_test_id("reason").inner_text()
    qr = card.get_by_test_id("qr")
    assert not qr.is_visible()  # folded until asked for
    card.get_by_text("Code to show at venues").click()
    assert qr.is_visible()
    assert qr.get_attribute("data-token") == tokens.token_for(household_resident["case"].pk)
    box = qr.locator("svg").bounding_box()
    assert box is not None and 100 <= box["width"] <= 390  # whole on the screen, big enough to scan
    assert page.get_by_test_id("my-transfer").first.is_visible()
    assert refused == []
    context.close()
