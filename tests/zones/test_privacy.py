"""A zone's reason names the case that caused it only for those who manage cases (issue 13 §4):
residents, the commerce bureau, samplers read why the zone stands without a case number, in the
API, on the zone's page, in its history and on a resident's own page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Household, Resident
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone
from tests.conftest import NOW

Places = dict[str, Any]


def report(address: str) -> Case:
    household, number = address.split("#")
    person = Resident.objects.get(household__address=household, number=int(number))
    return flows.case_reported(resident_id=person.pk, kind="confirmed", actor=SYSTEM, now=NOW).case


def names_the_case(text: str, case: Case) -> bool:
    """The reasons the platform writes name a case as 病例 <its number> (the city's language)."""
    return re.search(rf"病例\s*{case.pk}\b", text) is not None


def names_a_case(text: str) -> bool:
    return re.search(r"病例\s*\d", text) is not None


def test_the_commerce_bureau_reads_zone_reasons_without_case_numbers(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    case = report("C1/2/1/301#1")
    zone = Zone.objects.get()
    assert names_the_case(zone.reason, case)
    client.force_login(make_user("commerce_supply"))
    listed = client.get("/api/v1/zones/").json()
    detail = client.get(f"/api/v1/zones/{zone.pk}").json()
    assert [z["reason"] for z in listed] == [detail["reason"]]
    assert detail["reason"] and not names_the_case(detail["reason"], case)
    assert "高风险" in detail["reason"]  # still says why, in the city's language
    page = client.get(f"/zones/{zone.pk}/").content.decode()
    assert zone.reason not in page
    assert 'data-testid="reason"' in page and "data-reason" in page
    assert not names_a_case(page)
    # An officer who manages cases reads the case's number, as written.
    client.force_login(make_user("district_officer", district=city["D1"]))
    assert client.get(f"/api/v1/zones/{zone.pk}").json()["reason"] == zone.reason
    assert zone.reason in client.get(f"/zones/{zone.pk}/").content.decode()


def test_a_resident_reads_their_zones_reason_and_history_without_the_case_number(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    case = report("C1/2/1/101#1")  # a neighbour in the same unit
    report("C1/2/1/201#1")  # a second case restarts the zone's clock: a reason naming it
    household = Household.objects.get(address="C1/2/1/301")
    client.force_login(make_user("resident", household=household))
    page = client.get("/my-zone/").content.decode()
    assert 'data-testid="reason"' in page and "data-reason" in page
    assert names_the_case(Zone.objects.get().reason, case)
    assert not names_a_case(page)
    assert not names_a_case(client.get("/api/v1/zones/").content.decode())


def test_a_raised_zone_keeps_the_reason_it_was_drawn_for_without_the_case_number(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    """A case stays in a unit (medium risk); a case living there later raises it to high. The
    reason stays the one written when the zone was drawn — for the officer with the case number,
    for everyone else the same words without it, not a new reason made from today's level."""
    home = Resident.objects.get(household__address="C3/1/1/101", number=1)
    stayer = flows.case_reported(
        resident_id=home.pk, kind="confirmed", stayed=["C1/1/1"], actor=SYSTEM, now=NOW
    ).case
    zone = Zone.objects.get(address="C1/1/1")
    assert zone.level == "medium" and names_the_case(zone.reason, stayer)
    report("C1/1/1/101#1")
    zone.refresh_from_db()
    assert zone.level == "high"
    client.force_login(make_user("commerce_supply"))
    public = client.get(f"/api/v1/zones/{zone.pk}").json()["reason"]
    assert not names_a_case(public)
    assert "中风险" in public and "高风险" not in public  # the words it was drawn with
