"""The outbreak pages as the people who use them see them: zones, the map, the bulletin, cases."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bastion import flows
from bastion.cases.models import Case, Contact
from bastion.city.models import Household, Resident
from bastion.core.masking import mask_name
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone, ZoneState
from tests.conftest import NOW
from tests.console.pages import print_css

Places = dict[str, Any]
HIGH_FILL = 'data-level="high" fill="#c62828"'


def resident_at(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str, kind: str = "confirmed", now: datetime = NOW, **extra: Any) -> Case:
    return flows.case_reported(
        resident_id=resident_at(address).pk, kind=kind, actor=SYSTEM, now=now, **extra
    ).case


def zone_at(address: str) -> Zone:
    return Zone.objects.get(address=address)


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


def post(client: Client, url: str, data: dict[str, str], status: int = 302) -> str:
    response = client.post(url, data, follow=status == 302)
    expected = 200 if status == 302 else status
    assert response.status_code == expected, (url, response.status_code)
    return response.content.decode()


def figure(html: str, name: str, within: str | None = None) -> int:
    if within is not None:
        html = html.split(f'data-district="{within}"', 1)[1].split("</tr>", 1)[0]
    match = re.search(rf'data-figure="{name}">(\d+)<', html)
    assert match, name
    return int(match.group(1))


# --- zones --------------------------------------------------------------------------------


def test_it_lists_a_community_workers_zones_only(
    client: Client, city: Places, community_worker: User
) -> None:
    report("C1/2/1/301#1")
    report("C3/1/1/101#1")
    html = page(as_user(client, community_worker), "/zones/")
    assert "C1/2/1" in html
    assert "C3/1/1" not in html
    assert (
        "lowers to medium on 2022-09-08 if the day-7 screening (2022-09-08 or later) is all negative" in html
    )
    assert 'data-figure="zones_high">1<' in html
    page(client, f"/zones/{zone_at('C3/1/1').pk}/", status=404)
    detail = page(client, f"/zones/{zone_at('C1/2/1').pk}/")
    assert 'data-figure="residents">18<' in detail
    assert "designated" in detail


def test_it_shows_lifted_zones_on_their_own_filter(client: Client, district_officer: User) -> None:
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    post(client, f"/zones/{zone.pk}/lift/", {"reason": "wrongly reported", "override": "on"})
    assert "C1/2/1" not in page(client, "/zones/")
    lifted = page(client, "/zones/?state=lifted")
    assert "C1/2/1" in lifted
    assert "lifted on 2022-09-01" in lifted


def test_it_shows_a_resident_the_reason_for_their_zone(client: Client, resident: User) -> None:
    case = report("C1/2/1/101#1")  # a neighbour in the same unit
    as_user(client, resident)
    html = page(client, "/my-zone/")
    reason = zone_at("C1/2/1").reason
    assert f"病例 {case.pk}" in reason
    # Why, without the case's number: that is for those who manage cases (issue 13).
    why = html.split('data-testid="reason"')[1].split("</p>")[0]
    assert "高风险" in why and "病例 " not in why and reason not in html
    assert 'data-mode="door_to_door"' in html
    assert "supplies are delivered to your door" in html
    assert "My zone" in html
    detail = page(client, f"/zones/{zone_at('C1/2/1').pk}/")
    assert why in detail and reason not in detail
    assert "Lift the zone" not in detail
    assert "SYSTEM" not in detail and "system" not in detail.split('data-testid="history"')[1]
    page(client, "/zones/", status=404)
    report("C1/1/1/101#1")
    page(client, f"/zones/{zone_at('C1/1/1').pk}/", status=404)


def test_a_resident_outside_any_zone_is_served_normally(client: Client, resident: User) -> None:
    report("C3/1/1/101#1")
    html = page(as_user(client, resident), "/my-zone/")
    assert 'data-mode="normal"' in html
    assert "C3/1/1" not in html


def test_a_community_worker_cannot_lift_a_zone(client: Client, community_worker: User) -> None:
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, community_worker)
    assert "Lift the zone" not in page(client, f"/zones/{zone.pk}/")
    response = client.post(f"/zones/{zone.pk}/lift/", {"reason": "x", "override": "on"})
    assert response.status_code == 403
    zone.refresh_from_db()
    assert zone.state == ZoneState.IN_FORCE


def test_a_district_officer_lifts_early_only_with_a_reason_and_an_override(
    client: Client, district_officer: User
) -> None:
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    assert "Lift the zone" in page(client, f"/zones/{zone.pk}/")

    html = post(client, f"/zones/{zone.pk}/lift/", {"reason": " ", "override": "on"})
    assert "Say why." in html
    html = post(client, f"/zones/{zone.pk}/lift/", {"reason": "case never lived here"})
    assert "The zone&#x27;s clock has not run out (it may step down on 2022-09-08)" in html
    zone.refresh_from_db()
    assert zone.state == ZoneState.IN_FORCE

    html = post(client, f"/zones/{zone.pk}/lift/", {"reason": "case never lived here", "override": "on"})
    assert f"Zone {zone.code} was lifted." in html
    zone.refresh_from_db()
    assert zone.state == ZoneState.LIFTED
    entry = AuditEntry.objects.get(action="zones.zone.lifted_early")
    assert entry.reason == "case never lived here"
    assert "lifted early (override)" in html
    assert "case never lived here" in html


def test_a_district_officer_cannot_touch_another_districts_zone(
    client: Client, district_officer: User
) -> None:
    report("C4/1/1/101#1")
    zone = Zone.objects.get(district__code="D2")
    as_user(client, district_officer)
    page(client, f"/zones/{zone.pk}/", status=404)
    response = client.post(f"/zones/{zone.pk}/lift/", {"reason": "x", "override": "on"})
    assert response.status_code == 404
    zone.refresh_from_db()
    assert zone.state == ZoneState.IN_FORCE


def test_a_district_officer_changes_a_zones_level_with_a_reason(
    client: Client, district_officer: User
) -> None:
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    html = post(client, f"/zones/{zone.pk}/adjust/", {"level": "medium", "reason": ""})
    assert "Say why." in html
    html = post(
        client, f"/zones/{zone.pk}/adjust/", {"level": "medium", "reason": "no spread in the stairwell"}
    )
    zone.refresh_from_db()
    assert zone.level == "medium"
    assert "lifts on 2022-09-04" in html
    assert "no spread in the stairwell" in html


def test_a_district_officer_confirms_a_proposed_zone(
    client: Client, settings: Any, district_officer: User
) -> None:
    settings.BASTION_ZONE_DESIGNATION = "proposed"
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    assert "proposed: in force once an officer confirms it" in page(client, "/zones/")
    html = post(client, f"/zones/{zone.pk}/confirm/", {})
    assert f"Zone {zone.code} is in force." in html
    zone.refresh_from_db()
    assert zone.state == ZoneState.IN_FORCE


def test_a_district_officer_records_a_negative_screening(client: Client, district_officer: User) -> None:
    report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    html = post(
        client, f"/zones/{zone.pk}/screening/", {"on": "2022-09-01", "result": "negative", "sampled": "18"}
    )
    assert "was recorded" in html
    assert zone.screenings.get().all_negative
    html = post(client, f"/zones/{zone.pk}/screening/", {"on": "2022-09-05", "result": "negative"})
    assert "A screening cannot be in the future." in html


def test_the_zones_list_does_not_grow_queries_per_zone(
    client: Client, command_centre: User, django_assert_max_num_queries: Any
) -> None:
    as_user(client, command_centre)
    report("C1/2/1/301#1")
    with CaptureQueriesContext(connection) as one_zone:
        page(client, "/zones/")
    report("C1/1/1/101#1")
    report("C3/1/1/101#1", stayed=["C1/1/2"])
    report("C4/1/1/101#1")
    assert Zone.objects.count() >= 4
    with django_assert_max_num_queries(len(one_zone.captured_queries)):
        html = page(client, "/zones/")
    assert html.count("data-zone=") == Zone.objects.count()


# --- the map ------------------------------------------------------------------------------


def test_the_map_shows_a_high_risk_building_in_the_high_colour(
    client: Client, city: Places, district_officer: User
) -> None:
    report("C2/1/1/101#1")  # a courtyard with shared facilities: the whole compound is high
    report("C1/2/1/301#1", stayed=["C3/1"])
    html = page(as_user(client, district_officer), "/zones/map/")
    assert f'data-building="C2/1" {HIGH_FILL}' in html
    assert f'data-building="C1/2" {HIGH_FILL}' in html  # only its unit 1: drawn as partly
    assert 'data-building="C1/1" data-level="none"' in html
    assert 'data-building="C3/1" data-level="medium" fill="#ef6c00"' in html
    assert "C2 high risk</title>" in html  # the hover text names the zone
    community = page(client, f"/zones/map/?community={city['M2'].pk}")
    assert 'data-building="C3/1" data-level="medium"' in community
    assert 'data-building="C1/2"' not in community
    page(client, f"/zones/map/?district={city['D2'].pk}", status=404)
    page(client, f"/zones/map/?community={city['M3'].pk}", status=404)


def test_the_map_keeps_a_community_worker_in_their_community(
    client: Client, city: Places, community_worker: User
) -> None:
    report("C1/2/1/301#1")
    html = page(as_user(client, community_worker), "/zones/map/")
    assert f'data-building="C1/2" {HIGH_FILL}' in html
    assert 'data-building="C3/1"' not in html
    page(client, f"/zones/map/?community={city['M2'].pk}", status=404)
    # A district asked for by a community worker is their community still.
    assert 'data-building="C3/1"' not in page(client, f"/zones/map/?district={city['D1'].pk}")


# --- the bulletin -------------------------------------------------------------------------


def test_the_bulletin_counts_a_reported_case(client: Client, community_worker: User) -> None:
    report("C1/2/1/301#1")
    case = report("C4/1/1/101#1", kind="asymptomatic", found_by="screening")
    html = page(as_user(client, community_worker), "/bulletin/?day=2022-09-01")
    assert "2022-09-01, 0–24 h: 1 new confirmed cases and 1 new asymptomatic infections." in html
    assert figure(html, "new_confirmed") == 1
    assert figure(html, "cumulative") == 2
    assert figure(html, "zones_high") == 2
    assert figure(html, "new_confirmed", within="D1") == 1
    assert figure(html, "new_asymptomatic", within="D2") == 1
    flows_day = page(client, "/bulletin/?day=2022-08-31")
    assert figure(flows_day, "cumulative") == 0
    assert case.pk  # the bulletin names no one
    assert resident_at("C4/1/1/101#1").name not in html


def test_the_printable_bulletin_has_no_navigation(client: Client, resident: User) -> None:
    report("C1/2/1/301#1")
    html = page(as_user(client, resident), "/bulletin/print/")
    assert "main-nav" not in html
    assert print_css(html, "console/bulletin-print.css").count("@media print") == 1
    assert figure(html, "new_confirmed", within="D1") == 1


def test_the_bulletin_is_in_chinese_by_default(client: Client, resident: User) -> None:
    html = page(as_user(client, resident, language="zh-hans"), "/bulletin/")
    assert 'lang="zh-hans"' in html


def test_a_wrong_day_falls_back_to_today(client: Client, resident: User) -> None:
    html = page(as_user(client, resident), "/bulletin/?day=yesterday")
    assert "Day is not a day like 2022-09-01." in html
    assert "Daily bulletin, 2022-09-01" in html


# --- cases --------------------------------------------------------------------------------


def test_a_district_officer_sees_masked_names(client: Client, district_officer: User) -> None:
    case = report("C1/2/1/301#1")
    name = case.resident.name
    as_user(client, district_officer)
    for url in ("/cases/", f"/cases/{case.pk}/"):
        html = page(client, url)
        assert name not in html
        assert mask_name(name) in html
    assert case.resident.id_number not in page(client, f"/cases/{case.pk}/")


def test_a_community_worker_sees_their_communitys_cases_in_full(
    client: Client, community_worker: User
) -> None:
    inside = report("C1/2/1/301#1")
    outside = report("C3/1/1/101#1")
    html = page(as_user(client, community_worker), "/cases/")
    assert inside.resident.name in html
    assert outside.resident.name not in html
    assert "Enter a case" not in html
    page(client, f"/cases/{outside.pk}/", status=404)
    page(client, "/cases/new/", status=403)


def test_a_resident_sees_no_cases(client: Client, resident: User) -> None:
    page(as_user(client, resident), "/cases/", status=403)


def test_a_district_officer_enters_a_case_with_its_places(client: Client, district_officer: User) -> None:
    as_user(client, district_officer)
    html = post(
        client,
        "/cases/new/",
        {
            "resident": "C1/2/1/301#1",
            "kind": "confirmed",
            "found_by": "screening",
            "onset_on": "2022-08-30",
            "frequent": "C1/1/2, workplace, 2022-08-25, 2022-08-31",
            "stayed": "C3/1\nC4/1， market，2022-08-30\n",
        },
    )
    case = Case.objects.get()
    assert case.found_by == "screening"
    places = html.split('data-place="C1/1/2"')[1].split("</tr>")[0]
    assert "workplace" in places and "2022-08-25 – 2022-08-31" in places
    assert "shop or market" in html.split('data-place="C4/1"')[1].split("</tr>")[0]
    assert f"Case {case.pk} was opened." in html
    assert "is in force at high risk" in html
    assert "C3/1" in html  # the place stayed, and its medium zone
    assert Zone.objects.filter(address="C3/1", level="medium").exists()


def test_a_wrong_address_keeps_the_form(client: Client, district_officer: User) -> None:
    as_user(client, district_officer)
    data = {"resident": "C1/9/1/301#1", "kind": "confirmed", "found_by": "community", "stayed": "C3/1"}
    html = post(client, "/cases/new/", data, status=422)
    assert "There is no resident C1/9/1/301#1" in html
    assert "C3/1</textarea>" in html
    html = post(client, "/cases/new/", {**data, "resident": "nonsense"}, status=422)
    assert "There is no resident nonsense" in html
    html = post(client, "/cases/new/", {**data, "resident": "C4/1/1/101#1"}, status=422)  # D2
    assert Case.objects.count() == 0
    html = post(client, "/cases/new/", {**data, "resident": "C1/2/1/301#1", "stayed": "C9"}, status=422)
    assert "There is no place C9." in html
    html = post(
        client, "/cases/new/", {**data, "resident": "C1/2/1/301#1", "stayed": "C3/1, bar"}, status=422
    )
    assert "the kind of place is workplace, shop or other" in html
    html = post(
        client,
        "/cases/new/",
        {**data, "resident": "C1/2/1/301#1", "stayed": "C3/1, shop, 1 Sept"},
        status=422,
    )
    assert "is not a day like 2022-09-01" in html
    assert Case.objects.count() == 0


def test_a_district_officer_adds_a_contact_converts_and_discharges(
    client: Client, district_officer: User
) -> None:
    case = report("C1/2/1/301#1", kind="asymptomatic")
    as_user(client, district_officer)
    url = f"/cases/{case.pk}/"
    html = post(
        client,
        f"{url}contacts/",
        {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31"},
    )
    assert "Contact listed: quarantine until" in html
    contact = Contact.objects.get()
    assert contact.case_id == case.pk
    html = post(
        client,
        f"{url}contacts/",
        {
            "resident": "C1/1/1/102#1",
            "kind": "secondary",
            "via": str(contact.pk),
            "last_exposure_on": "2022-08-31",
        },
    )
    assert Contact.objects.filter(kind="secondary", via=contact).exists()
    html = post(
        client,
        f"{url}contacts/",
        {"resident": "C4/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31"},
    )
    assert Contact.objects.count() == 2  # D2 is not the officer's

    html = post(client, f"{url}convert/", {"reason": "fever"})
    assert f"Case {case.pk} is now confirmed." in html
    html = post(client, f"{url}discharge/", {"reason": "two negative tests"})
    case.refresh_from_db()
    assert (case.kind, case.status) == ("confirmed", "discharged")
    assert "Discharge</button>" not in html


def test_a_case_shows_its_chain_of_transmission(client: Client, command_centre: User) -> None:
    first = report("C1/2/1/301#1")
    as_user(client, command_centre)
    post(
        client,
        f"/cases/{first.pk}/contacts/",
        {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31"},
    )
    second = report("C1/1/1/101#1")
    assert second.source_id == first.pk
    html = page(client, f"/cases/{second.pk}/")
    chain = html.split('data-testid="chain"', 1)[1]
    assert chain.index(f"case {first.pk}") < chain.index(f"case {second.pk}")
    assert "became a case" in page(client, f"/cases/{first.pk}/")


def test_the_navigation_follows_the_role(
    client: Client, community_worker: User, resident: User, make_user: Callable[..., User]
) -> None:
    html = page(as_user(client, community_worker), "/bulletin/")
    for label in ("Zones", "Cases", "Bulletin"):
        assert f">{label}</a>" in html
    client.logout()
    html = page(as_user(client, resident), "/bulletin/")
    assert ">My zone</a>" in html
    assert ">Cases</a>" not in html
    assert ">Zones</a>" not in html


def test_a_district_officer_reports_a_file_of_cases_or_sees_every_problem(
    client: Client, district_officer: User, community_worker: User
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    def upload(text: str) -> Any:
        return client.post(
            "/cases/batch/", {"file": SimpleUploadedFile("cases.csv", text.encode(), "text/csv")}, follow=True
        )

    as_user(client, district_officer)
    bad = "address,kind,found_by\nC1/1/1/101#1,mild,screening\nC1/9/9/101#1,confirmed,screening\n"
    response = upload(bad)
    assert response.status_code == 422
    html = response.content.decode()
    problems = html.split('data-testid="batch-problems"')[1]
    assert ">2<" in problems and ">3<" in problems
    assert not Case.objects.exists()
    good = (
        "address,kind,found_by,stayed\n"
        "C1/1/1/101#1,confirmed,screening,C3/1\n"
        "C1/2/2/201#2,asymptomatic,quarantine,\n"
    )
    response = upload(good)
    assert response.status_code == 200
    assert "2 cases were reported" in response.content.decode()
    assert Case.objects.count() == 2
    assert Zone.objects.filter(level="medium", address="C3/1").exists()
    as_user(client, community_worker)
    assert client.get("/cases/batch/").status_code == 403


def test_odd_numbers_and_days_in_forms_and_links_get_a_message_not_an_error(
    client: Client, district_officer: User, city: Places
) -> None:
    case = report("C1/2/1/301#1")
    zone = zone_at("C1/2/1")
    as_user(client, district_officer)
    assert client.get("/cases/?day=0001-01-01").status_code == 200
    assert client.get("/zones/map/?district=²").status_code in (200, 404)
    html = post(
        client, f"/zones/{zone.pk}/screening/", {"on": "2022-09-01", "result": "negative", "sampled": "²"}
    )
    assert "Sampled is a number of people." in html
    html = post(client, f"/zones/{zone.pk}/screening/", {"on": "2022-09-01", "result": "maybe"})
    assert "Say whether the screening" in html
    assert not zone.screenings.exists()
    html = post(
        client,
        f"/cases/{case.pk}/contacts/",
        {"resident": "C1/1/1/101#1", "kind": "secondary", "via": "²", "last_exposure_on": "2022-09-01"},
    )
    assert "Choose the close contact" in html
    assert not Contact.objects.exists()


def test_the_zone_totals_count_each_locked_person_once(client: Client, district_officer: User) -> None:
    # A high-risk unit inside the medium-risk building the case also stayed in.
    report("C1/2/1/301#1", stayed=["C1/2"])
    assert {z.address: z.level for z in Zone.objects.all()} == {"C1/2/1": "high", "C1/2": "medium"}
    html = page(as_user(client, district_officer), "/zones/")
    figures = html.split('data-figure="zones_medium"')[1]
    building = zone_at("C1/2")
    assert f"<dd>{building.residents}</dd>" in figures
    assert f"<dd>{building.residents}</dd>" in figures.split("Locked person-days")[1]


def test_the_command_centre_adopts_a_protocol_and_officers_read_its_rules(
    client: Client, command_centre: User, district_officer: User
) -> None:
    html = page(as_user(client, district_officer), "/protocol/")
    assert "9th edition (2022-06)" in html and "(v9)" in html
    assert 'data-protocol="dec2022"' in html
    assert "protocol-form" not in html
    assert client.post("/protocol/", {"protocol": "nov2022", "reason": "x"}).status_code == 403
    as_user(client, command_centre)
    html = post(
        client, "/protocol/", {"protocol": "nov2022", "since": "2022-09-01", "reason": ""}, status=422
    )
    assert "Say why the protocol changes." in html
    html = post(client, "/protocol/", {"protocol": "nov2022", "since": "2022-09-01", "reason": "20 measures"})
    assert "The protocol was adopted." in html
    assert "20 measures (2022-11)" in html.split('data-testid="protocol-current"')[1].split("</p>")[0]
    report("C1/2/1/301#1")
    assert zone_at("C1/2/1").protocol == "nov2022"
