"""The last 100 metres in a real browser: a volunteer on a phone claims a building's task,
delivers a vegetable package that weighs 7 kg instead of 10, and the commerce bureau sees its
supplier flagged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM
from bastion.delivery import services
from bastion.delivery.models import Order
from bastion.supply import services as supply
from tests.browser.test_console import log_in
from tests.conftest import NOW, TODAY

pytestmark = pytest.mark.browser


@pytest.fixture
def dispatched(city_live: dict[str, Any], login_user: Callable[..., User]) -> dict[str, User]:
    """A unit locked by a case, its standard packages and its building's task; a volunteer of
    M1 and a commerce officer. Ask for it before `browser`."""
    commerce = login_user("commerce_supply")
    officer = actor_for(commerce)
    supply.supplier_register(
        code="SUP1",
        name="蔬菜保供公司",
        contact_name="李经理",
        contact_phone="13800000001",
        actor=officer,
        now=NOW,
    )
    supply.item_add(
        code="vegetable-10kg",
        name="Vegetable package 10 kg",
        category="vegetables",
        supplier_code="SUP1",
        price="50",
        package=True,
        declared_weight_kg="10",
        actor=officer,
        now=NOW,
    )
    case = Resident.objects.get(household__address="C1/2/1/301", number=1)
    flows.case_reported(resident_id=case.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    return {"volunteer": login_user("volunteer", community=city_live["M1"]), "commerce": commerce}


def test_a_volunteer_claims_delivers_a_short_package_and_the_supplier_is_flagged(
    dispatched: dict[str, User], site: str, browser: Any
) -> None:
    order = Order.objects.order_by("pk").first()
    assert order is not None
    phone = browser.new_context(locale="en-US", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    log_in(page, site, dispatched["volunteer"])
    page.get_by_role("link", name="My tasks").click()
    page.wait_for_load_state()
    open_tasks = page.get_by_test_id("open-tasks")
    assert "C1/2" in open_tasks.inner_text()
    open_tasks.get_by_role("button", name="Claim").click()
    page.wait_for_load_state()
    assert "The task is yours." in page.content()
    stop = page.locator(f'li[data-order="{order.pk}"]')
    assert order.household.address in stop.inner_text()
    stop.get_by_label("Recipient code").fill(order.recipient_code)
    stop.get_by_label("Measured weight (kg)").fill("7")
    stop.get_by_role("button", name="Delivered").click()
    page.wait_for_load_state()
    assert "The package was short weight: its supplier is flagged." in page.content()
    assert page.locator(f'li[data-order="{order.pk}"]').get_attribute("data-state") == "delivered"
    phone.close()

    desk = browser.new_context(locale="en-US").new_page()
    log_in(desk, site, dispatched["commerce"])
    desk.get_by_role("link", name="Supplies").click()
    desk.wait_for_load_state()
    flag = desk.locator('tr[data-flag="short_weight"][data-supplier="SUP1"]')
    assert flag.count() == 1
    assert "7.00 kg delivered of 10.00 kg declared" in flag.inner_text()
    assert "李经理" in flag.inner_text()
