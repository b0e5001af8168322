"""/api/v1/transfer/mine: a resident reads where each member of their household is taken, when
and why; a neighbour reads their own household only, and staff find nothing there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from bastion.core.scopes import SYSTEM
from bastion.transfer import services
from tests.cases.test_api import api, call
from tests.conftest import NOW
from tests.transfer.helpers import ambulance, facility, report, resident, transfer_of


def test_a_resident_reads_where_each_member_of_their_household_is_taken_and_why(
    client: Client, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    facility("F1", "shelter_hospital", ordinary=10)
    ambulance("V1")
    carer = resident("C1/1/1/101#2", age=38)
    resident("C1/1/1/101#3", age=36)
    report("C1/1/1/101#1", age=6)
    services.transfers_assign(actor=SYSTEM, now=NOW)
    api(client, make_user("resident", household=Household.objects.get(address="C1/1/1/101")))
    mine = call(client, "get", "/transfer/mine")
    assert [
        (m["member"], m["reason"], m["state"], m["destination"], m["destination_kind"]) for m in mine
    ] == [
        (1, "case", "vehicle_assigned", "F1", "shelter_hospital"),
        (2, "carer", "vehicle_assigned", "F1", "shelter_hospital"),
    ]
    child = mine[0]
    assert child["why"] == "轻型病例，与家人或同组人员安置在一起：方舱医院" and child["vehicle"] == "V1"
    assert child["pickup_by"] == "2022-09-01T13:00:00Z" and child["admitted_at"] is None
    # Their own household: names in full (a resident sees their household's personal data).
    assert mine[1]["name"] == carer.name
    # Cancelled by the dispatcher: the member reads why, and their carer's ride ends with it.
    services.transfer_move(
        transfer_id=transfer_of("C1/1/1/101#1").pk,
        to="cancelled",
        reason="家属自行送医",
        actor=SYSTEM,
        now=NOW,
    )
    mine = call(client, "get", "/transfer/mine")
    assert [(m["state"], m["ended_at"]) for m in mine] == [("cancelled", "2022-09-01T01:00:00Z")] * 2
    assert mine[0]["why"] == "家属自行送医" and "家属自行送医" in mine[1]["why"]


def test_a_neighbour_reads_only_their_own_household_and_staff_find_nothing(
    client: Client, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    report("C1/1/1/101#1")
    neighbour = api(client, make_user("resident", household=Household.objects.get(address="C1/1/1/102")))
    assert call(neighbour, "get", "/transfer/mine") == []
    for staff in (
        make_user("transfer_dispatch"),
        make_user("community_worker", community=city["M1"]),
        make_user("command_centre"),
    ):
        assert call(api(Client(), staff), "get", "/transfer/mine", status=404)["code"] == "not_found"
