"""Mass testing in a real browser: the command centre opens a round and watches it; a community
worker finds who is left in their grid and prints the list."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM
from bastion.testing import services
from bastion.testing.models import Round
from tests.browser.test_console import log_in
from tests.conftest import NOW

pytestmark = pytest.mark.browser


@pytest.fixture
def centre(city_live: dict[str, Any], login_user: Callable[..., User]) -> User:
    return login_user("command_centre")


@pytest.fixture
def sampled_round(city_live: dict[str, Any], login_user: Callable[..., User]) -> Round:
    """A round over D1 with one household of M1 sampled. Ask for it before `browser`."""
    round_ = services.round_open(
        code="R-D1",
        starts_at=NOW,
        deadline=NOW + timedelta(days=1),
        district_ids=[city_live["D1"].pk],
        actor=SYSTEM,
        now=NOW,
    )
    sampler = actor_for(login_user("sampler"))
    for resident in Resident.objects.filter(household__address="C1/1/1/101"):
        services.scan_record(
            round_id=round_.pk,
            resident_id=resident.pk,
            tube_barcode="T1",
            scanned_at=NOW,
            actor=sampler,
            now=NOW,
        )
    return round_


def test_the_command_centre_opens_a_round_and_its_progress_refreshes_itself(
    centre: User, site: str, browser: Any
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    log_in(page, site, centre)
    page.get_by_role("link", name="Testing", exact=True).click()
    page.wait_for_load_state()
    form = page.get_by_test_id("round-form")
    form.locator("input[name=code]").fill("R-CITY")
    form.locator("input[name=starts_at]").fill("2022-09-01T09:00")
    form.locator("input[name=deadline]").fill("2022-09-02T09:00")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.get_by_text("Round R-CITY is open.").is_visible()
    assert page.locator("[data-figure=expected]").inner_text() == "106"
    response = page.reload()
    assert response.headers.get("refresh") == "30"
    assert page.get_by_test_id("refresh").is_visible()


def test_a_community_worker_prints_who_is_left_in_their_grid(
    sampled_round: Round, worker: User, site: str, browser: Any
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    log_in(page, site, worker)
    page.get_by_role("link", name="Testing", exact=True).click()
    page.wait_for_load_state()
    page.get_by_role("link", name="R-D1").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/testing/{sampled_round.pk}/coverage/")
    assert page.locator("tr[data-grid]").count() == 1
    page.locator("tr[data-grid=M1-G1] a").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-resident]").count() == 85
    assert page.locator("tr[data-resident='C1/1/1/101#1']").count() == 0

    page.get_by_test_id("print-link").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-resident]").count() == 85
    assert page.get_by_role("button", name="Print").is_visible()
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Print").is_visible()
    assert page.locator("nav").count() == 0
