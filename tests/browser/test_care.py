"""Medical care in a real browser: a community worker records a resident's dialysis (Mon, Wed,
Fri at 08:00) and sees the trips the platform planned for the coming week."""

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

PATIENT = "C1/2/1/202#1"


@pytest.fixture
def locked_unit(city_live: dict[str, Any], login_user: Callable[..., User]) -> User:
    """A case in C1/2/1/301 puts its unit (where the patient lives) at high risk; the
    community's worker. Ask for it before `browser`."""
    case = Resident.objects.get(household__address="C1/2/1/301", number=1)
    flows.case_reported(resident_id=case.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    return login_user("community_worker", community=city_live["M1"])


def test_a_worker_records_a_dialysis_need_and_sees_the_planned_trips(
    locked_unit: User, site: str, browser: Any
) -> None:
    page = browser.new_context(locale="en-US").new_page()
    log_in(page, site, locked_unit)
    page.get_by_role("link", name="Medical care").click()
    page.wait_for_load_state()
    form = page.get_by_test_id("need-form")
    form.get_by_label("Resident").fill(PATIENT)
    form.get_by_label("Kind").select_option("dialysis")
    for day in ("Mon", "Wed", "Fri"):
        form.get_by_label(day, exact=True).check()
    form.get_by_label("Session time").fill("08:00")
    form.get_by_label("Place of treatment").fill("市二医院透析中心")
    form.get_by_role("button", name="Record the need").click()
    page.wait_for_load_state()
    assert "The dialysis need was recorded; 3 trips planned." in page.content()
    patient = page.locator(f'section[data-resident="{PATIENT}"]')
    trips = patient.locator("tr[data-trip]")
    assert trips.count() == 3
    # Friday 2, Monday 5 and Wednesday 7 September at 08:00, picked up an hour before.
    assert [trips.nth(i).locator("td").first.inner_text() for i in range(3)] == [
        "09-02 08:00",
        "09-05 08:00",
        "09-07 08:00",
    ]
    assert "市二医院透析中心" in patient.inner_text()
