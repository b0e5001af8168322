"""The registry API answers only within the caller's scope: outside it, things do not exist (404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household, Resident

Places = dict[str, Any]


@pytest.fixture
def worker(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("community_worker", community=city["M1"])


@pytest.fixture
def officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D1"])


@pytest.fixture
def command(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("command_centre")


def api(client: Client, user: User | None = None) -> Client:
    if user is not None:
        client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def get(client: Client, url: str, status: int = 200) -> Any:
    response = client.get(f"/api/v1/city{url}")
    assert response.status_code == status, (url, response.status_code, response.content[:200])
    return response.json()


def outside_m1() -> Household:
    return Household.objects.get(address="C3/1/1/101")


@pytest.mark.parametrize(
    "url",
    [
        "/figures",
        "/districts",
        "/districts/1/communities",
        "/communities/1/compounds",
        "/compounds/1/buildings",
        "/buildings/1/households",
        "/households/1/residents",
        "/residents/1",
    ],
)
def test_it_answers_401_to_a_caller_not_logged_in(client: Client, city: Places, url: str) -> None:
    body = get(api(client), url, status=401)
    assert body["code"] == "not_authenticated"


def test_it_answers_403_to_a_user_without_an_account(client: Client, city: Places) -> None:
    user = User.objects.create_user(username="stray", password="correct-horse-battery")
    assert get(api(client, user), "/districts", status=403)["code"] == "forbidden"


def test_it_gives_the_command_centre_the_city_figures(client: Client, command: User) -> None:
    body = get(api(client, command), "/figures")
    assert body["residents"] == Resident.objects.count()
    assert body["households"] == Household.objects.count()
    assert body["as_of"] == "2022-09-01"


def test_it_limits_the_figures_to_a_district_officers_district(
    client: Client, city: Places, officer: User
) -> None:
    body = get(api(client, officer), "/figures")
    assert body["residents"] == Resident.objects.filter(district_id=city["D1"].pk).count()


def test_it_lists_districts_within_scope(client: Client, city: Places, command: User, officer: User) -> None:
    assert [d["code"] for d in get(api(client, command), "/districts")] == ["D1", "D2"]
    only = get(api(client, officer), "/districts")
    assert [d["code"] for d in only] == ["D1"]
    assert only[0]["figures"]["residents"] == Resident.objects.filter(district_id=city["D1"].pk).count()


def test_it_lists_communities_only_in_scope(
    client: Client, city: Places, officer: User, worker: User
) -> None:
    as_officer = get(api(client, officer), f"/districts/{city['D1'].pk}/communities")
    assert [c["code"] for c in as_officer] == ["M1", "M2"]
    get(client, f"/districts/{city['D2'].pk}/communities", status=404)
    as_worker = get(api(client, worker), f"/districts/{city['D1'].pk}/communities")
    assert [c["code"] for c in as_worker] == ["M1"]
    assert as_worker[0]["figures"]["residents"] == Resident.objects.filter(community_id=city["M1"].pk).count()
    assert get(client, f"/districts/{city['D2'].pk}/communities", status=404)["code"] == "not_found"


def test_it_walks_from_a_community_down_to_its_buildings(client: Client, city: Places, worker: User) -> None:
    api(client, worker)
    compounds = get(client, f"/communities/{city['M1'].pk}/compounds")
    assert [c["code"] for c in compounds] == ["C1", "C2"]
    courtyard = next(c for c in compounds if c["code"] == "C2")
    assert courtyard["shared_facilities"] is True
    buildings = get(client, f"/compounds/{compounds[0]['id']}/buildings")
    assert [b["number"] for b in buildings] == [1, 2]
    assert all(b["households"] == 12 for b in buildings)
    get(client, f"/communities/{city['M2'].pk}/compounds", status=404)
    c3 = Household.objects.get(address="C3/1/1/101").compound_id
    get(client, f"/compounds/{c3}/buildings", status=404)


def test_it_lists_households_only_in_scope(client: Client, household: Household, worker: User) -> None:
    api(client, worker)
    rows = get(client, f"/buildings/{household.building_id}/households")
    assert household.address in [h["address"] for h in rows]
    assert all(h["residents"] > 0 for h in rows)
    get(client, f"/buildings/{outside_m1().building_id}/households", status=404)


def test_it_lists_residents_only_in_scope(client: Client, household: Household, worker: User) -> None:
    api(client, worker)
    rows = get(client, f"/households/{household.pk}/residents")
    assert {r["id_number"] for r in rows} == set(
        Resident.objects.filter(household=household).values_list("id_number", flat=True)
    )
    get(client, f"/households/{outside_m1().pk}/residents", status=404)
    inside = Resident.objects.filter(household=household).first()
    outside = Resident.objects.filter(household=outside_m1()).first()
    assert inside is not None and outside is not None
    assert get(client, f"/residents/{inside.pk}")["id_number"] == inside.id_number
    get(client, f"/residents/{outside.pk}", status=404)


def test_it_masks_personal_data_for_a_district_officer(
    client: Client, household: Household, officer: User
) -> None:
    rows = get(api(client, officer), f"/households/{household.pk}/residents")
    for row in rows:
        resident = Resident.objects.get(pk=row["id"])
        assert row["id_number"] == resident.id_number[:4] + "*" * 12 + resident.id_number[-2:]
        # The birth date would give the hidden digits back: masked views show the age only.
        assert row["birth_date"] is None
        born = resident.birth_date
        # The age on the frozen day, 1 September 2022: one less before this year's birthday.
        assert row["age"] == 2022 - born.year - ((born.month, born.day) > (9, 1))
        assert resident.phone == "" or row["phone"] != resident.phone


def test_it_gives_a_resident_only_their_household(
    client: Client, household: Household, make_user: Callable[..., User]
) -> None:
    api(client, make_user("resident", household=household))
    assert len(get(client, f"/households/{household.pk}/residents")) == household.residents.count()
    neighbour = Household.objects.get(address="C1/2/1/302")
    get(client, f"/households/{neighbour.pk}/residents", status=404)
    get(client, f"/buildings/{household.building_id}/households", status=404)
    assert get(client, "/districts") == []
    assert get(client, "/figures", status=403)["code"] == "forbidden"


def test_it_answers_404_for_ids_that_do_not_exist(client: Client, command: User) -> None:
    api(client, command)
    assert get(client, "/districts/999999/communities", status=404)["code"] == "not_found"
    assert get(client, "/residents/999999", status=404)["code"] == "not_found"


def test_it_pins_the_query_count_of_list_endpoints(
    client: Client, city: Places, household: Household, command: User, django_assert_max_num_queries: Any
) -> None:
    api(client, command)
    for url, most in [
        # session, user, account, permissions, then the page's own reads
        ("/districts", 6),
        (f"/districts/{city['D1'].pk}/communities", 7),
        (f"/buildings/{household.building_id}/households", 6),
        (f"/households/{household.pk}/residents", 6),
    ]:
        with django_assert_max_num_queries(most):
            get(client, url)


def test_it_publishes_the_openapi_document(client: Client, db: None) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/city/districts" in document["paths"]
    assert "/api/v1/city/households/{household_id}/residents" in document["paths"]


def test_it_serves_the_api_docs(client: Client, db: None) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.content.decode()
