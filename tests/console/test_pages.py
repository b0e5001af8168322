"""Console pages as the people who use them see them: scope, masking, language, query counts."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Building, Compound, Household, Resident

Places = dict[str, Any]
PASSWORD = "correct-horse-battery"
ID_MASK = re.compile(r"\b\d{6}\*{8}[0-9X]{4}\b")


@pytest.fixture
def command_centre(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("command_centre")


@pytest.fixture
def district_officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D1"])


@pytest.fixture
def community_worker(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("community_worker", community=city["M1"])


@pytest.fixture
def resident(household: Household, make_user: Callable[..., User]) -> User:
    return make_user("resident", household=household)


def as_user(client: Client, user: User, language: str = "en") -> Client:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    return client


def page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


# --- logging in -------------------------------------------------------------------------


def test_it_sends_an_anonymous_visitor_to_the_login_page(client: Client, city: Places) -> None:
    response = client.get("/registry/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/registry/")


def test_it_logs_a_user_in_with_the_login_form(client: Client, command_centre: User) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    response = client.post("/login/", {"username": command_centre.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "The city today" in page(client, "/")


def test_it_refuses_a_wrong_password(client: Client, command_centre: User) -> None:
    response = client.post(
        "/login/", {"username": command_centre.username, "password": "wrong"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "did not match" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_refuses_a_user_without_an_account(client: Client, city: Places) -> None:
    user = User.objects.create_user(username="stray", password=PASSWORD)
    html = page(as_user(client, user), "/registry/", status=403)
    assert "Your role does not allow this." in html


# --- the command centre -----------------------------------------------------------------


def figure(html: str, name: str) -> int:
    match = re.search(rf'data-figure="{name}">(\d+)<', html)
    assert match, name
    return int(match.group(1))


def test_it_shows_the_command_centre_the_city_figures(client: Client, command_centre: User) -> None:
    html = page(as_user(client, command_centre), "/")
    assert "The city today" in html
    assert figure(html, "residents") == Resident.objects.count()
    assert figure(html, "households") == Household.objects.count()
    assert figure(html, "districts") == 2
    assert figure(html, "communities") == 3
    assert figure(html, "compounds") == 4


def test_it_lists_every_district_for_the_command_centre(client: Client, command_centre: User) -> None:
    html = page(as_user(client, command_centre), "/registry/")
    assert "新城区" in html
    assert "老城区" in html


# --- a district officer -----------------------------------------------------------------


def test_it_shows_a_district_officer_only_their_district(
    client: Client, city: Places, district_officer: User
) -> None:
    as_user(client, district_officer)
    html = page(client, "/registry/")
    assert "新城区" in html
    assert "老城区" not in html
    assert f"/registry/districts/{city['D2'].pk}/" not in html
    home = page(client, "/")
    assert "Your district today" in home
    assert figure(home, "residents") == Resident.objects.filter(district_id=city["D1"].pk).count()
    page(client, f"/registry/districts/{city['D2'].pk}/", status=404)
    page(client, f"/registry/communities/{city['M3'].pk}/", status=404)


def test_it_lists_a_districts_communities_with_their_figures(
    client: Client, city: Places, district_officer: User
) -> None:
    html = page(as_user(client, district_officer), f"/registry/districts/{city['D1'].pk}/")
    assert "锦华社区" in html
    assert "玉林社区" in html
    assert "望江社区" not in html


def test_it_masks_id_numbers_for_a_role_without_personal_data(
    client: Client, household: Household, district_officer: User
) -> None:
    html = page(as_user(client, district_officer), f"/registry/households/{household.pk}/")
    first = Resident.objects.filter(household=household).order_by("number").first()
    assert first is not None
    assert first.id_number not in html
    masked = first.id_number[:4] + "*" * 12 + first.id_number[-2:]
    assert masked in html
    assert re.search(r"5101\*{12}[0-9X]{2}", html)
    assert first.birth_date.isoformat() not in html
    if first.phone:
        assert first.phone not in html


# --- a community worker -----------------------------------------------------------------


def test_it_sends_a_community_worker_to_their_community(
    client: Client, city: Places, community_worker: User
) -> None:
    as_user(client, community_worker)
    for start in ("/", "/registry/"):
        response = client.get(start)
        assert response.status_code == 302
        assert response["Location"] == f"/registry/communities/{city['M1'].pk}/"
    html = page(client, f"/registry/communities/{city['M1'].pk}/")
    assert "锦华社区" in html
    assert ">C1<" in html
    assert ">C3<" not in html  # the bare code could hide in a random CSRF token
    assert "My community" in html


def test_it_hides_other_places_from_a_community_worker(
    client: Client, city: Places, community_worker: User
) -> None:
    as_user(client, community_worker)
    outside = Household.objects.get(address="C3/1/1/101")
    html = page(client, f"/registry/communities/{city['M2'].pk}/", status=404)
    assert "Not found." in html
    assert "玉林社区" not in html
    page(client, f"/registry/communities/{city['M3'].pk}/", status=404)
    page(client, f"/registry/districts/{city['D2'].pk}/", status=404)
    page(client, f"/registry/compounds/{Compound.objects.get(code='C3').pk}/", status=404)
    page(client, f"/registry/buildings/{outside.building_id}/", status=404)
    page(client, f"/registry/households/{outside.pk}/", status=404)


def test_it_shows_a_community_worker_full_id_numbers(
    client: Client, household: Household, community_worker: User
) -> None:
    html = page(as_user(client, community_worker), f"/registry/households/{household.pk}/")
    for resident in Resident.objects.filter(household=household):
        assert resident.id_number in html
    assert not ID_MASK.search(html)


def test_it_walks_a_community_worker_down_to_a_household(
    client: Client, city: Places, household: Household, community_worker: User
) -> None:
    as_user(client, community_worker)
    compound = Compound.objects.get(code="C1")
    building = Building.objects.get(compound=compound, number=2)
    assert f"/registry/compounds/{compound.pk}/" in page(client, f"/registry/communities/{city['M1'].pk}/")
    assert f"/registry/buildings/{building.pk}/" in page(client, f"/registry/compounds/{compound.pk}/")
    assert f"/registry/households/{household.pk}/" in page(client, f"/registry/buildings/{building.pk}/")
    html = page(client, f"/registry/households/{household.pk}/")
    crumbs = re.search(r'<nav class="crumbs".*?</nav>', html, re.S)
    assert crumbs is not None
    trail = crumbs.group(0)
    # A community worker's trail starts at their community: the registry and district are not theirs.
    assert '/registry/"' not in trail
    assert f"/registry/districts/{city['D1'].pk}/" not in trail
    assert [f"/registry/communities/{city['M1'].pk}/", f"/registry/compounds/{compound.pk}/"] == re.findall(
        r'href="(/registry/(?:communities|compounds)/\d+/)"', trail
    )
    assert f"/registry/buildings/{building.pk}/" in trail
    assert "Unit 1, room 301" in trail


def test_it_shows_the_command_centre_the_whole_trail(
    client: Client, city: Places, household: Household, command_centre: User
) -> None:
    html = page(as_user(client, command_centre), f"/registry/households/{household.pk}/")
    trail = re.search(r'<nav class="crumbs".*?</nav>', html, re.S)
    assert trail is not None
    links = re.findall(r'href="([^"]+)"', trail.group(0))
    assert links == [
        "/registry/",
        f"/registry/districts/{city['D1'].pk}/",
        f"/registry/communities/{city['M1'].pk}/",
        f"/registry/compounds/{household.compound_id}/",
        f"/registry/buildings/{household.building_id}/",
    ]
    assert 'aria-current="page">Unit 1, room 301<' in trail.group(0)


# --- a resident -------------------------------------------------------------------------


def test_it_shows_a_resident_only_their_household(
    client: Client, household: Household, resident: User
) -> None:
    as_user(client, resident)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/me/"  # their own page first (tests/console/test_me.py)
    assert client.get("/registry/")["Location"] == f"/registry/households/{household.pk}/"
    html = page(client, f"/registry/households/{household.pk}/")
    for member in Resident.objects.filter(household=household):
        assert member.name in html
    assert "My household" in html
    neighbour = Household.objects.get(address="C1/2/1/302")
    page(client, f"/registry/households/{neighbour.pk}/", status=404)
    page(client, f"/registry/buildings/{household.building_id}/", status=404)
    page(client, f"/registry/communities/{household.community_id}/", status=404)


def test_it_welcomes_a_role_without_registry_pages(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    html = page(as_user(client, make_user("volunteer")), "/")
    assert "Welcome" in html
    assert "/registry/" not in html


# --- navigation -------------------------------------------------------------------------


def nav_links(html: str) -> list[str]:
    nav = re.search(r'<nav class="main-nav".*?</nav>', html, re.S)
    return re.findall(r'href="([^"]+)"', nav.group(0)) if nav else []


def test_it_gives_each_role_its_own_navigation(
    client: Client, city: Places, household: Household, make_user: Callable[..., User]
) -> None:
    assert nav_links(page(as_user(client, make_user("command_centre")), "/")) == [
        "/",
        "/registry/",
        "/zones/",
        "/cases/",
        "/transfer/",
        "/testing/",
        "/deliveries/",
        "/care/trips/",
        "/supply/",
        "/bulletin/",
    ]
    worker = make_user("community_worker", community=city["M1"])
    assert nav_links(page(as_user(client, worker), f"/registry/communities/{city['M1'].pk}/")) == [
        f"/registry/communities/{city['M1'].pk}/",
        "/zones/",
        "/cases/",
        "/transfer/waiting/",
        "/testing/",
        "/deliveries/",
        "/care/",
        "/bulletin/",
    ]
    volunteer = make_user("volunteer", community=city["M1"])
    assert nav_links(page(as_user(client, volunteer), "/tasks/")) == ["/", "/tasks/", "/bulletin/"]
    member = make_user("resident", household=household)
    assert nav_links(page(as_user(client, member), f"/registry/households/{household.pk}/")) == [
        "/me/",
        f"/registry/households/{household.pk}/",
        "/my-zone/",
        "/my-code/",
        "/my-orders/",
        "/bulletin/",
    ]


# --- languages --------------------------------------------------------------------------


def test_it_answers_in_english(client: Client, command_centre: User) -> None:
    html = page(as_user(client, command_centre, "en"), "/")
    assert '<html lang="en">' in html
    assert "The city today" in html
    assert "Registry" in html


def test_it_answers_in_chinese(client: Client, community_worker: User, city: Places) -> None:
    html = page(as_user(client, community_worker, "zh-hans"), f"/registry/communities/{city['M1'].pk}/")
    assert '<html lang="zh-hans">' in html
    assert "我的社区" in html
    assert "小区" in html
    assert "My community" not in html


def test_it_shows_the_login_page_in_chinese(client: Client, city: Places) -> None:
    html = page(client.__class__(HTTP_ACCEPT_LANGUAGE="zh-hans"), "/login/")
    assert "登录" in html
    assert "Log in" not in html


# --- query counts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "most"),
    [
        # session, user, account; then the page's own reads, none per row.
        ("/", 12),
        ("/registry/", 6),
        ("/registry/districts/{D1}/", 8),
        ("/registry/communities/{M1}/", 7),
        ("/registry/compounds/{C1}/", 7),
        ("/registry/buildings/{B}/", 7),
        ("/registry/households/{H}/", 7),
    ],
)
def test_it_pins_the_query_count_of_list_pages(
    client: Client,
    city: Places,
    household: Household,
    command_centre: User,
    django_assert_max_num_queries: Any,
    url: str,
    most: int,
) -> None:
    ids = {
        "D1": city["D1"].pk,
        "M1": city["M1"].pk,
        "C1": household.compound_id,
        "B": household.building_id,
        "H": household.pk,
    }
    as_user(client, command_centre)
    with django_assert_max_num_queries(most):
        page(client, url.format(**ids))


# --- needs of residents ------------------------------------------------------------------


def test_a_community_worker_corrects_needs_from_the_household_page(
    client: Client, household: Household, community_worker: User
) -> None:
    as_user(client, community_worker)
    html = page(client, f"/registry/households/{household.pk}/")
    assert "Change needs" in html
    first = Resident.objects.filter(household=household).order_by("number").first()
    assert first is not None
    response = client.post(
        f"/registry/residents/{first.pk}/flags/",
        {
            "cannot_order_online": "on",
            "disabled": "on",
            "chronic_treatment": "dialysis",
            "reason": "home visit",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/registry/households/{household.pk}/"
    html = response.content.decode()
    assert f"The needs of {first.name} were saved." in html
    row = html.split(f'data-resident="{first.household.address}#{first.number}"')[1].split("</tr>")[0]
    assert "cannot order online" in row and "dialysis" in row and "disabled" in row


def test_needs_without_a_reason_are_refused_with_a_message(
    client: Client, household: Household, community_worker: User
) -> None:
    first = Resident.objects.filter(household=household).order_by("number").first()
    assert first is not None
    response = as_user(client, community_worker).post(
        f"/registry/residents/{first.pk}/flags/", {"disabled": "on", "reason": ""}, follow=True
    )
    assert "Say why the flags change." in response.content.decode()
    assert Resident.objects.get(pk=first.pk).disabled == first.disabled


def test_only_a_role_that_may_change_needs_sees_the_form(
    client: Client, household: Household, district_officer: User
) -> None:
    html = page(as_user(client, district_officer), f"/registry/households/{household.pk}/")
    assert "Change needs" not in html
    first = Resident.objects.filter(household=household).first()
    assert first is not None
    response = client.post(f"/registry/residents/{first.pk}/flags/", {"disabled": "on", "reason": "x"})
    assert response.status_code == 403
