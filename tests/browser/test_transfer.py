"""The dispatcher board in a real browser: two cases wait, one overdue in red; the dispatcher
assigns beds and vehicles, sees the fleet and the beds change, and records a pick-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from bastion.transfer import services
from bastion.transfer.models import Transfer
from tests.browser.test_console import log_in
from tests.conftest import NOW

pytestmark = pytest.mark.browser


@pytest.fixture
def waiting(city_live: dict[str, Any], login_user: Callable[..., User]) -> User:
    """A shelter hospital of 10 beds, one ambulance, two adult cases: one reported 13 hours ago
    (overdue), one now; a transfer dispatcher. Ask for it before `browser`."""
    services.facility_create(code="F1", kind="shelter_hospital", beds={"ordinary": 10}, actor=SYSTEM, now=NOW)
    services.vehicle_create(code="V1", kind="ambulance", trip_hours=2, actor=SYSTEM, now=NOW)
    for address, reported in (("C1/1/1/101", NOW - timedelta(hours=13)), ("C1/1/1/102", NOW)):
        person = Resident.objects.get(household__address=address, number=1)
        Resident.objects.filter(pk=person.pk).update(
            birth_date=NOW.date().replace(year=1980), disabled=False, pregnant=False, chronic_treatment=""
        )
        flows.case_reported(
            resident_id=person.pk, kind="confirmed", reported_at=reported, actor=SYSTEM, now=NOW
        )
    return login_user("transfer_dispatch")


def test_the_dispatcher_sees_the_overdue_in_red_assigns_and_records_a_pick_up(
    waiting: User, site: str, browser: Any
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    log_in(page, site, waiting)
    page.get_by_role("link", name="Transfers").click()
    page.wait_for_load_state()
    queue = page.get_by_test_id("transfer-queue")
    late = queue.locator('tr[data-resident="C1/1/1/101#1"]')
    assert late.get_attribute("class") == "overdue"
    assert late.locator('[data-field="waited"]').inner_text() == "13.0"
    # Red, as the stylesheet says (no inline style: CSP).
    assert (
        late.locator("td").first.evaluate("cell => getComputedStyle(cell).backgroundColor")
        == "rgb(253, 231, 229)"
    )
    assert queue.locator('tr[data-resident="C1/1/1/102#1"]').get_attribute("class") is None
    page.get_by_role("button", name="Assign beds and vehicles now").click()
    page.wait_for_load_state()
    assert "2 given a bed, 1 a vehicle" in page.locator(".messages").inner_text()
    assert page.locator('tr[data-vehicle="V1"]').inner_text().endswith("1")
    assert page.locator('tr[data-facility="F1"] [data-field="free"]').inner_text() == "ordinary 8"
    # The overdue one went first; the crew confirms the pick-up on the board.
    row = page.get_by_test_id("transfer-queue").locator('tr[data-resident="C1/1/1/101#1"]')
    assert row.get_attribute("data-state") == "vehicle_assigned"
    row.get_by_label("Move").select_option("picked_up")
    row.get_by_role("button", name="Record").click()
    page.wait_for_load_state()
    transfer = Transfer.objects.get(resident__household__address="C1/1/1/101", resident__number=1)
    assert transfer.state == "picked_up"
    assert (
        page.get_by_test_id("transfer-queue")
        .locator('tr[data-resident="C1/1/1/101#1"]')
        .get_attribute("data-state")
        == "picked_up"
    )
