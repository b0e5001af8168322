"""Privacy by need to know, through the API (issue 13 §4): a resident id taken from a case list
unmasks nothing the list masked, and transfer dispatch sees the people it must move, in full,
and nobody else."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.cases.models import Case
from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from bastion.testing import services as testing
from tests.conftest import NOW, TODAY

Places = dict[str, Any]
TEN_EVERYWHERE = {level: {"ratio": 10, "per_household": False} for level in ("high", "medium", "low")}


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str) -> Case:
    return flows.case_reported(resident_id=resident(address).pk, kind="confirmed", actor=SYSTEM, now=NOW).case


def get(client: Client, user: User, url: str) -> Any:
    client.force_login(user)
    return client.get(f"/api/v1{url}", HTTP_ACCEPT_LANGUAGE="en")


def test_it_masks_the_name_behind_a_case_lists_resident_id_for_the_command_centre(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    case = report("C1/2/1/301#1")
    person = case.resident
    centre = make_user("command_centre")
    listed = get(client, centre, "/cases/").json()
    assert [row["name"] for row in listed] == [person.name[0] + "*" * (len(person.name) - 1)]
    # The id the list gives leads to the registry: the same name, masked the same way.
    detail = get(client, centre, f"/city/residents/{listed[0]['resident_id']}").json()
    assert detail["name"] == listed[0]["name"]
    assert detail["name"] != person.name
    household = get(client, centre, f"/city/households/{person.household_id}/residents").json()
    assert person.name not in [r["name"] for r in household]
    # The community worker who looks after them sees the name in full in both places.
    worker = make_user("community_worker", community=city["M1"])
    assert get(client, worker, "/cases/").json()[0]["name"] == person.name
    assert get(client, worker, f"/city/residents/{person.pk}").json()["name"] == person.name


def test_transfer_dispatch_reads_the_people_it_moves_in_full(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    for address in ("C1/2/1/301#1", "C3/1/1/101#1"):  # adults who need no carer
        Resident.objects.filter(pk=resident(address).pk).update(
            birth_date=TODAY.replace(year=1980), disabled=False
        )
    case = report("C1/2/1/301#1")
    contact = flows.contact_added(
        resident_id=resident("C3/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    assert contact.place == "centralised"
    dispatch = make_user("transfer_dispatch")
    people = get(client, dispatch, "/transfer/queue").json()
    moving = {p["address"]: p for p in people}
    assert set(moving) == {"C1/2/1/301#1", "C3/1/1/101#1"}
    first = moving["C1/2/1/301#1"]
    assert first["reason"] == "case"
    assert (first["name"], first["id_number"], first["phone"]) == (
        case.resident.name,
        case.resident.id_number,
        case.resident.phone,
    )
    assert moving["C3/1/1/101#1"]["reason"] == "contact"
    # The case list shows the case it moves in full too: a listing and a detail agree.
    assert get(client, dispatch, "/cases/").json()[0]["name"] == case.resident.name
    # The console's board has the same people, in its navigation; the registry is not theirs.
    page = client.get("/transfer/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/transfer/"' in page
    assert all(f'data-resident="{address}"' in page for address in moving)
    assert case.resident.name in page and case.resident.phone in page
    assert client.get("/registry/").status_code == 403
    # The command centre keeps the board too, with the names masked.
    client.force_login(make_user("command_centre"))
    page = client.get("/transfer/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-resident="C1/2/1/301#1"' in page and case.resident.name not in page


def test_transfer_dispatch_finds_nobody_it_does_not_move(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    case = report("C1/2/1/301#1")
    bystander = resident("C4/1/1/101#1")
    dispatch = make_user("transfer_dispatch")
    nobody = get(client, dispatch, f"/transfer/people/{bystander.pk}")
    no_such = get(client, dispatch, "/transfer/people/987654321")
    assert nobody.status_code == no_such.status_code == 404
    assert nobody.json() == no_such.json()
    assert get(client, dispatch, f"/transfer/people/{case.resident_id}").status_code == 200
    # No registry powers: not the whole city's residents, households or export.
    assert get(client, dispatch, f"/city/residents/{bystander.pk}").status_code == 403
    assert get(client, dispatch, f"/city/households/{bystander.household_id}/residents").status_code == 403
    assert get(client, dispatch, "/city/registry/export").status_code == 403


def test_a_discharged_case_leaves_transfer_dispatchs_reach(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    case = report("C1/2/1/301#1")
    flows.case_discharged(case_id=case.pk, reason="recovered", actor=SYSTEM, now=NOW)
    dispatch = make_user("transfer_dispatch")
    assert get(client, dispatch, "/transfer/queue").json() == []
    assert get(client, dispatch, f"/transfer/people/{case.resident_id}").status_code == 404
    listed = get(client, dispatch, "/cases/").json()
    assert listed[0]["name"] != case.resident.name
    assert listed[0]["id_number"] != case.resident.id_number


def test_out_of_scope_reads_as_does_not_exist_everywhere(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    """About a resident or household of D2 and about nobody at all, the same answer: a district
    officer of D1 (cases, registry, zones), a community worker of M1 (orders, whatever their
    kind), a sampler kept to D1 (scans)."""
    case = report("C1/2/1/301#1")
    elsewhere = resident("C4/1/1/101#1")  # C4 lies in D2
    nobody = 987654321

    def as_(user: User) -> None:
        client.force_login(user)

    def post(url: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = client.post(
            f"/api/v1{url}", body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
        )
        return response.status_code, response.json()

    def read(url: str) -> tuple[int, Any]:
        response = client.get(f"/api/v1{url}", HTTP_ACCEPT_LANGUAGE="en")
        return response.status_code, response.json()

    def contact(**named: Any) -> dict[str, Any]:
        return {"kind": "close", "last_exposure_on": str(TODAY), "case_id": case.pk, **named}

    as_(make_user("district_officer", district=city["D1"]))
    pairs = {
        "contact by address": [
            post("/cases/contacts", contact(resident=address)) for address in ("C4/1/1/101#1", "C4/1/1/909#1")
        ],
        "contact by id": [post("/cases/contacts", contact(resident_id=pk)) for pk in (elsewhere.pk, nobody)],
        "case by id": [
            post("/cases/", {"resident_id": pk, "kind": "confirmed"}) for pk in (elsewhere.pk, nobody)
        ],
        "resident": [read(f"/city/residents/{pk}") for pk in (elsewhere.pk, nobody)],
        "household": [read(f"/city/households/{pk}/residents") for pk in (elsewhere.household_id, nobody)],
        "service mode": [read(f"/zones/service-mode/{pk}") for pk in (elsewhere.household_id, nobody)],
    }
    as_(make_user("community_worker", community=city["M1"]))
    for kind in ("proxy", "resident"):  # a resident's own kind of order, placed by staff: refused
        pairs[f"{kind} order"] = [
            post(
                "/delivery/orders",
                {"household_id": pk, "kind": kind, "lines": [{"item": "rice", "quantity": 1}]},
            )
            for pk in (elsewhere.household_id, nobody)
        ]
    as_(make_user("sampler", scope="district", district=city["D1"]))
    testing.round_open(
        code="R1", starts_at=NOW, deadline=NOW.replace(day=2), pooling=TEN_EVERYWHERE, actor=SYSTEM, now=NOW
    )
    pairs["scan"] = [
        post("/testing/scans", {"round": "R1", "resident_id": pk, "tube": "T1", "client_key": f"k{pk}"})
        for pk in (elsewhere.pk, nobody)
    ]
    for what, (outside, unknown) in pairs.items():
        assert outside[0] == 404, (what, outside)
        if what == "contact by address":  # the answer names the address it was given
            assert outside[1]["code"] == unknown[1]["code"] == "unknown_resident", what
            assert outside[1]["message"].replace("C4/1/1/101", "C4/1/1/909") == unknown[1]["message"], what
        else:
            assert outside == unknown, what
