"""The console's transfer pages as their readers meet them: the resident reads where their
household's members go and why; a community worker sees their community's people waiting,
and nobody else's; a facility's page counts its free beds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from bastion.core.scopes import SYSTEM
from bastion.transfer import services
from tests.conftest import NOW
from tests.transfer.helpers import ambulance, facility, report


def test_a_resident_reads_where_their_household_member_goes_and_why(
    city: dict[str, Any], client: Client, make_user: Callable[..., User]
) -> None:
    facility("F1", "shelter_hospital", ordinary=5)
    ambulance("V1")
    report("C1/1/1/101#1", kind="asymptomatic")
    services.transfers_assign(actor=SYSTEM, now=NOW)
    client.force_login(make_user("resident", household=Household.objects.get(address="C1/1/1/101")))
    page = client.get("/my-zone/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="my-transfer" data-member="1" data-state="vehicle_assigned"' in page
    # Where, and why in plain words (the platform's words, in the city's language).
    assert "<strong>Where:</strong> F1</p>" in page and "无症状感染者：方舱医院" in page
    assert "shelter_hospital" not in page
    assert "Vehicle V1 is on its way." in page


def test_a_community_worker_sees_their_communitys_people_waiting_only(
    city: dict[str, Any], client: Client, make_user: Callable[..., User]
) -> None:
    report("C1/1/1/101#1")  # M1
    report("C3/1/1/101#1")  # M2
    client.force_login(make_user("community_worker", community=city["M1"]))
    page = client.get("/transfer/waiting/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/transfer/waiting/"' in page  # in their navigation
    assert 'data-resident="C1/1/1/101#1"' in page and 'data-resident="C3/1/1/101#1"' not in page
    assert client.get("/transfer/").status_code == 403  # the board is dispatch's and the officers'


def test_a_facility_page_counts_its_free_beds(
    city: dict[str, Any], client: Client, make_user: Callable[..., User]
) -> None:
    made = facility("F1", "shelter_hospital", ordinary=5)
    report("C1/1/1/101#1")
    services.transfers_assign(actor=SYSTEM, now=NOW)
    client.force_login(make_user("transfer_dispatch"))
    page = client.get(f"/transfer/facilities/{made.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<tr data-bed-kind="ordinary"><td>ordinary</td><td>5</td><td>4</td></tr>' in page
    assert 'data-resident="C1/1/1/101#1"' in page  # on its way there
