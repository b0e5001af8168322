"""The cases API: reporting goes through the flow (zones follow), answers stay within scope,
personal data is masked by role, and every refusal leaves the database as it was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.cases.models import Case, Contact, ExposurePlace, ProtocolInForce
from bastion.cases.services import contact_add, protocol_adopt
from bastion.city.models import Resident
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.zones.models import Zone, ZoneCase, ZonePeriod, ZoneScreening
from tests.conftest import NOW, TODAY

Places = dict[str, Any]

TABLES = (
    Case,
    Contact,
    ExposurePlace,
    ProtocolInForce,
    Zone,
    ZoneCase,
    ZonePeriod,
    ZoneScreening,
    AuditEntry,
)


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the cases' and zones' tables, and the audit log: 'nothing changed' is equality."""
    return {model._meta.label: list(model.objects.order_by("pk").values_list()) for model in TABLES}


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def report(address: str, kind: str = "confirmed", **extra: Any) -> Case:
    """A case opened by the platform, as test set-up."""
    return flows.case_reported(
        resident_id=resident(address).pk, kind=kind, actor=SYSTEM, now=extra.pop("now", NOW), **extra
    ).case


def api(client: Client, user: User | None = None) -> Client:
    if user is not None:
        client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


def call(client: Client, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    if method == "get":
        response = client.get(f"/api/v1{url}", body or {})
    else:
        response = client.post(f"/api/v1{url}", body or {}, content_type="application/json")
    assert response.status_code == status, (url, response.status_code, response.content[:300])
    return response.json()


@pytest.fixture
def officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D1"])


@pytest.fixture
def other_officer(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("district_officer", district=city["D2"])


@pytest.fixture
def worker(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("community_worker", community=city["M1"])


@pytest.fixture
def command(city: Places, make_user: Callable[..., User]) -> User:
    return make_user("command_centre")


def test_it_reports_a_case_by_address_and_answers_the_zone_changes(client: Client, officer: User) -> None:
    body = call(
        api(client, officer),
        "post",
        "/cases/",
        {"resident": "C1/2/1/301#1", "kind": "confirmed", "found_by": "screening", "stayed": ["C1/1/2"]},
        status=201,
    )
    case = Case.objects.get()
    assert body["case"]["id"] == case.pk
    assert (body["case"]["kind"], body["case"]["found_by"], body["case"]["address"]) == (
        "confirmed",
        "screening",
        "C1/2/1/301",
    )
    assert body["case"]["reported_on"] == TODAY.isoformat()
    changes = {(c["address"], c["level"], c["what"]) for c in body["zone_changes"]}
    assert changes == {("C1/2/1", "high", "designated"), ("C1/1/2", "medium", "designated")}
    assert Zone.objects.count() == 2
    assert {p.address for p in ExposurePlace.objects.filter(case=case)} == {"C1/2/1/301", "C1/1/2"}


def test_it_reports_a_case_by_resident_id_with_a_report_time_in_the_city(
    client: Client, officer: User
) -> None:
    someone = resident("C1/1/1/101#2")
    body = call(
        api(client, officer),
        "post",
        "/cases/",
        # 2022-08-31 23:30 in the city, without a time zone: the day before, not 15:30 UTC.
        {"resident_id": someone.pk, "kind": "asymptomatic", "reported_at": "2022-08-31T23:30:00"},
        status=201,
    )
    assert body["case"]["reported_on"] == "2022-08-31"
    assert body["case"]["found_by"] == "community"
    assert Case.objects.get().resident_id == someone.pk


def test_it_lists_cases_by_day_and_district_within_scope(
    client: Client, city: Places, command: User, officer: User
) -> None:
    yesterday = report("C1/1/1/101#1", now=NOW - timedelta(days=1))
    today = report("C3/1/1/101#1")
    elsewhere = report("C4/1/1/101#1")
    everything = call(api(client, command), "get", "/cases/")
    assert [c["id"] for c in everything] == [elsewhere.pk, today.pk, yesterday.pk]
    assert [c["id"] for c in call(client, "get", "/cases/", {"day": "2022-08-31"})] == [yesterday.pk]
    in_d2 = call(client, "get", "/cases/", {"district_id": city["D2"].pk})
    assert [c["id"] for c in in_d2] == [elsewhere.pk]
    as_officer = call(api(client, officer), "get", "/cases/")
    assert [c["id"] for c in as_officer] == [today.pk, yesterday.pk]


def test_a_district_officer_gets_404_for_a_case_of_another_district(
    client: Client, officer: User, other_officer: User
) -> None:
    case = report("C1/2/1/301#1", kind="asymptomatic")
    before = snapshot()
    api(client, other_officer)
    for url in [f"/cases/{case.pk}", f"/cases/{case.pk}/chain", f"/cases/{case.pk}/contacts"]:
        assert call(client, "get", url, status=404)["code"] == "not_found"
    for url in [f"/cases/{case.pk}/convert", f"/cases/{case.pk}/discharge"]:
        assert call(client, "post", url, status=404)["code"] == "not_found"
    assert call(client, "get", "/cases/") == []
    # Nor can they report a case for a resident of another district.
    call(client, "post", "/cases/", {"resident": "C1/1/1/101#1", "kind": "confirmed"}, status=404)
    assert snapshot() == before
    assert call(api(client, officer), "get", f"/cases/{case.pk}")["id"] == case.pk


def test_a_community_worker_reads_cases_but_cannot_report_one(client: Client, worker: User) -> None:
    case = report("C1/2/1/301#1")
    report("C3/1/1/101#1")  # another community
    before = snapshot()
    api(client, worker)
    answer = call(client, "post", "/cases/", {"resident": "C1/1/1/101#1", "kind": "confirmed"}, status=403)
    assert answer["code"] == "forbidden"
    call(
        client,
        "post",
        "/cases/contacts",
        {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31", "case_id": case.pk},
        status=403,
    )
    assert snapshot() == before
    assert [c["id"] for c in call(client, "get", "/cases/")] == [case.pk]


def test_it_masks_id_numbers_for_a_district_officer_and_not_for_a_community_worker(
    client: Client, officer: User, worker: User
) -> None:
    case = report("C1/2/1/301#1")
    person = case.resident
    masked = call(api(client, officer), "get", f"/cases/{case.pk}")
    assert masked["id_number"] == person.id_number[:4] + "*" * 12 + person.id_number[-2:]
    assert masked["name"] != person.name
    assert masked["name"][0] == person.name[0]
    full = call(api(client, worker), "get", f"/cases/{case.pk}")
    assert (full["id_number"], full["name"]) == (person.id_number, person.name)


def test_it_converts_and_discharges_a_case(client: Client, officer: User) -> None:
    case = report("C1/2/1/301#1", kind="asymptomatic")
    api(client, officer)
    converted = call(client, "post", f"/cases/{case.pk}/convert", {"reason": "fever"})
    assert (converted["kind"], converted["initial_kind"], converted["converted_on"]) == (
        "confirmed",
        "asymptomatic",
        "2022-09-01",
    )
    discharged = call(client, "post", f"/cases/{case.pk}/discharge")
    assert discharged["status"] == "discharged"
    assert AuditEntry.objects.filter(action="cases.case.converted", reason="fever").count() == 1


def test_it_lists_contacts_and_the_chain_of_transmission(client: Client, officer: User) -> None:
    first = report("C1/2/1/301#1")
    api(client, officer)
    close = call(
        client,
        "post",
        "/cases/contacts",
        {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31", "case_id": first.pk},
        status=201,
    )
    assert (close["kind"], close["case_id"], close["status"]) == ("close", first.pk, "quarantined")
    secondary = call(
        client,
        "post",
        "/cases/contacts",
        {
            "resident": "C1/1/1/102#1",
            "kind": "secondary",
            "last_exposure_on": "2022-08-31",
            "via_contact_id": close["id"],
        },
        status=201,
    )
    assert secondary["via_id"] == close["id"]
    contacts = call(client, "get", f"/cases/{first.pk}/contacts")
    assert [(c["kind"], c["id"]) for c in contacts] == [
        ("close", close["id"]),
        ("secondary", secondary["id"]),
    ]
    # The close contact turns positive: the chain runs from the first case to them.
    second = call(client, "post", "/cases/", {"resident": "C1/1/1/101#1", "kind": "confirmed"}, status=201)
    chain = call(client, "get", f"/cases/{second['case']['id']}/chain")
    assert [(c["id"], c["depth"]) for c in chain] == [(first.pk, 0), (second["case"]["id"], 1)]
    assert second["case"]["source_id"] == first.pk


def refused_case_setup() -> dict[str, Any]:
    return {"confirmed": report("C1/2/1/301#1"), "asymptomatic": report("C1/2/1/302#1", kind="asymptomatic")}


# (method, url, body, status, code): each refused with the domain's code and changing nothing.
REFUSALS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("post", "/cases/", {"resident_id": 999999, "kind": "confirmed"}, 404, "not_found"),
    ("post", "/cases/", {"resident": "C1/2/1/301#9", "kind": "confirmed"}, 404, "unknown_resident"),
    ("post", "/cases/", {"resident": "C1/2/1", "kind": "confirmed"}, 422, "bad_resident_address"),
    ("post", "/cases/", {"kind": "confirmed"}, 422, "resident_required"),
    (
        "post",
        "/cases/",
        {"resident": "C1/1/1/101#1", "kind": "confirmed", "reported_at": "2022-09-01T10:00:00+08:00"},
        422,
        "case_in_future",
    ),
    (
        "post",
        "/cases/",
        {"resident": "C1/1/1/101#1", "kind": "confirmed", "onset_on": "2022-09-02"},
        422,
        "onset_in_future",
    ),
    ("post", "/cases/", {"resident": "C1/1/1/101#1", "kind": "mild"}, 422, "bad_case_kind"),
    (
        "post",
        "/cases/",
        {"resident": "C1/1/1/101#1", "kind": "confirmed", "found_by": "x"},
        422,
        "bad_found_by",
    ),
    (
        "post",
        "/cases/",
        {"resident": "C1/1/1/101#1", "kind": "confirmed", "stayed": ["C1/9"]},
        404,
        "unknown_place",
    ),
    ("post", "/cases/", {"resident": "C1/2/1/301#1", "kind": "confirmed"}, 409, "already_a_case"),
    ("post", "/cases/{confirmed}/convert", {}, 409, "not_asymptomatic"),
    (
        "post",
        "/cases/contacts",
        {
            "resident": "C1/1/1/101#1",
            "kind": "close",
            "last_exposure_on": "2022-09-02",
            "case_id": "{confirmed}",
        },
        422,
        "exposure_in_future",
    ),
    (
        "post",
        "/cases/contacts",
        {"resident": "C1/1/1/101#1", "kind": "close", "last_exposure_on": "2022-08-31", "case_id": 999999},
        404,
        "unknown_case",
    ),
]


@pytest.mark.parametrize(("method", "url", "body", "status", "code"), REFUSALS)
def test_it_refuses_bad_input_with_the_domain_code_and_changes_nothing(
    client: Client, officer: User, method: str, url: str, body: dict[str, Any], status: int, code: str
) -> None:
    cases = {kind: str(case.pk) for kind, case in refused_case_setup().items()}
    url = url.format(**cases)
    body = {
        k: int(v.format(**cases)) if isinstance(v, str) and v.startswith("{") else v for k, v in body.items()
    }
    before = snapshot()
    answer = call(api(client, officer), method, url, body, status=status)
    assert answer["code"] == code
    assert answer["message"]
    assert snapshot() == before


def test_it_refuses_a_secondary_contact_under_nov2022_and_changes_nothing(
    client: Client, officer: User
) -> None:
    case = report("C1/2/1/301#1")
    close = contact_add(
        resident_id=resident("C1/1/1/101#1").pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=case.pk,
        actor=SYSTEM,
        now=NOW,
    )
    protocol_adopt(protocol="nov2022", since=TODAY, reason="20 measures", actor=SYSTEM, now=NOW)
    before = snapshot()
    answer = call(
        api(client, officer),
        "post",
        "/cases/contacts",
        {
            "resident": "C1/1/1/102#1",
            "kind": "secondary",
            "last_exposure_on": "2022-08-31",
            "via_contact_id": close.pk,
        },
        status=422,
    )
    assert answer["code"] == "no_secondary_contacts"
    assert "nov2022" in answer["message"]
    assert snapshot() == before


def test_it_answers_in_the_language_of_the_request(client: Client, worker: User) -> None:
    client.force_login(worker)
    response = client.post(
        "/api/v1/cases/",
        {"resident": "C1/2/1/301#1", "kind": "confirmed"},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 403
    assert response.json()["message"] == "您的角色无权进行此操作。"


def test_the_bulletin_counts_a_conversion_once(
    client: Client, household: Any, make_user: Callable[..., User], command: User
) -> None:
    case = report("C1/2/1/301#1", kind="asymptomatic", reported_at=NOW - timedelta(days=1))
    report("C1/1/1/101#1", kind="confirmed")  # a new confirmed case today
    api(client, command)
    call(client, "post", f"/cases/{case.pk}/convert")
    # Any signed-in user reads the bulletin: a resident too.
    api(client, make_user("resident", household=household))
    today = call(client, "get", "/bulletin/")
    assert today["day"] == "2022-09-01"
    city = today["city"]
    assert (city["new_confirmed"], city["new_asymptomatic"], city["conversions"]) == (1, 0, 1)
    assert (city["cumulative_confirmed"], city["cumulative_asymptomatic"], city["cumulative"]) == (2, 0, 2)
    d1, d2 = today["districts"]
    assert (d1["code"], d1["name"], d1["conversions"], d1["cumulative_confirmed"]) == ("D1", "新城区", 1, 2)
    assert (d2["code"], d2["cumulative"], d2["zones_high"]) == ("D2", 0, 0)
    assert city["zones_high"] == 2
    yesterday = call(client, "get", "/bulletin/", {"day": "2022-08-31"})["city"]
    assert (yesterday["new_asymptomatic"], yesterday["cumulative_asymptomatic"]) == (1, 1)
    assert (yesterday["cumulative_confirmed"], yesterday["conversions"]) == (0, 0)
    assert (
        call(client, "get", "/bulletin/", {"day": "2022-09-02"}, status=422)["code"] == "bulletin_in_future"
    )


def test_the_bulletin_needs_a_signed_in_user(client: Client, city: Places) -> None:
    assert call(api(client), "get", "/bulletin/", status=401)["code"] == "not_authenticated"


def test_it_pins_the_query_count_of_the_case_list_and_the_bulletin(
    client: Client, command: User, django_assert_max_num_queries: Any
) -> None:
    for address in ["C1/2/1/301#1", "C1/1/1/101#1", "C3/1/1/101#1", "C4/1/1/101#1"]:
        report(address)
    api(client, command)
    # session, user, account, permissions, then the page's own reads
    for url, most in [("/cases/", 5), ("/bulletin/", 7)]:
        with django_assert_max_num_queries(most):
            call(client, "get", url)


def test_it_publishes_cases_zones_and_the_bulletin_in_the_openapi_document(client: Client, db: None) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in [
        "/api/v1/cases/",
        "/api/v1/cases/batch",
        "/api/v1/cases/{case_id}/chain",
        "/api/v1/zones/{zone_id}/lift",
        "/api/v1/zones/service-mode/{household_id}",
        "/api/v1/bulletin/",
    ]:
        assert path in paths, path


def test_the_command_centre_adopts_a_protocol_from_a_day_on_and_everyone_can_read_its_rules(
    client: Client, command: User, officer: User, worker: User
) -> None:
    state = call(api(client, worker), "get", "/cases/protocol")
    assert (state["current"]["code"], state["since"]) == ("v9", None)
    v9 = state["current"]
    assert {s["name"]: (s["to"], s["days"], s["screening_day"]) for s in v9["steps"]}["high"] == (
        "medium",
        7,
        7,
    )
    assert [c["kind"] for c in v9["contacts"]] == ["close", "secondary"]
    assert sorted(p["code"] for p in state["available"]) == ["dec2022", "nov2022", "v9"]
    before = snapshot()
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    body = {"protocol": "nov2022", "since": tomorrow, "reason": "20 measures"}
    assert call(api(client, officer), "post", "/cases/protocol", body, status=403)["code"] == "forbidden"
    api(client, command)
    for bad, code in [
        ({**body, "protocol": "v10"}, "unknown_protocol"),
        ({**body, "reason": " "}, "reason_required"),
        ({**body, "since": (TODAY - timedelta(days=1)).isoformat()}, "protocol_in_past"),
    ]:
        assert call(client, "post", "/cases/protocol", bad, status=422)["code"] == code
    assert snapshot() == before
    state = call(client, "post", "/cases/protocol", body)
    assert state["current"]["code"] == "v9"
    assert [(a["protocol"], a["since"]) for a in state["upcoming"]] == [("nov2022", tomorrow)]
    assert AuditEntry.objects.filter(action="cases.protocol.adopted", reason="20 measures").count() == 1


def test_a_case_reported_with_its_places_kinds_and_days_lists_them(client: Client, officer: User) -> None:
    api(client, officer)
    body = {
        "resident": "C1/2/1/301#1",
        "kind": "confirmed",
        "places": [
            {
                "address": "C3/1",
                "type": "workplace",
                "frequent": True,
                "from_on": "2022-08-25",
                "until_on": "2022-08-31",
            },
            {"address": "C1/1", "type": "shop", "from_on": "2022-08-30", "until_on": "2022-08-30"},
        ],
    }
    case_id = call(client, "post", "/cases/", body, status=201)["case"]["id"]
    places = call(client, "get", f"/cases/{case_id}/places")
    assert [(p["address"], p["type"], p["frequent"], p["from_on"], p["until_on"]) for p in places] == [
        ("C1/2/1/301", "home", True, None, None),
        ("C3/1", "workplace", True, "2022-08-25", "2022-08-31"),
        ("C1/1", "shop", False, "2022-08-30", "2022-08-30"),
    ]
    # The workplace counts like home (high risk); the shop was a stay (medium risk under v9).
    assert {(z.address, z.level) for z in Zone.objects.all()} == {
        ("C1/2/1", "high"),
        ("C3/1", "high"),
        ("C1/1", "medium"),
    }
    before = snapshot()
    for place, code in [
        ({"address": "C1/1", "type": "home"}, "bad_place_type"),
        ({"address": "C1/1", "from_on": "2022-08-30", "until_on": "2022-08-29"}, "bad_stay_dates"),
        ({"address": "C1/1", "until_on": "2022-09-02"}, "stay_in_future"),
    ]:
        bad = {**body, "resident": "C1/2/1/302#1", "places": [place]}
        assert call(client, "post", "/cases/", bad, status=422)["code"] == code
    assert snapshot() == before
