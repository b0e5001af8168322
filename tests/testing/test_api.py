"""The testing API as sampling apps, lab systems and officers use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Resident
from bastion.testing.models import Lab, RoundIssue, Scan, Site, Tube

Places = dict[str, Any]


def resident(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def call(client: Client, user: User, method: str, url: str, body: Any = None, status: int = 200) -> Any:
    client.force_login(user)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    if method == "get":
        response = client.get(f"/api/v1{url}", body or {})
    else:
        response = client.post(f"/api/v1{url}", body or {}, content_type="application/json")
    assert response.status_code == status, (url, response.status_code, response.content[:400])
    return response.json()


@pytest.fixture
def users(city: Places, make_user: Callable[..., User]) -> dict[str, User]:
    home = resident("C1/1/1/101#1").household
    Site.objects.create(code="S1", name="核酸点", grid_id=home.grid_id, district_id=home.district_id)
    Lab.objects.create(code="L1", name="检测机构")
    return {
        "command": make_user("command_centre"),
        "officer": make_user("district_officer", district=city["D1"]),
        "other": make_user("district_officer", district=city["D2"]),
        "worker": make_user("community_worker", community=city["M1"]),
        "sampler": make_user("sampler"),
        "lab": make_user("lab"),
    }


def open_round(client: Client, users: dict[str, User]) -> dict[str, Any]:
    ten = {"ratio": 10, "per_household": False}
    body = {
        "code": "R1",
        "starts_at": "2022-09-01T08:00:00+08:00",
        "deadline": "2022-09-02T08:00:00+08:00",
        "district_ids": [users["officer"].account.district_id],
        "pooling": {"high": {"ratio": 1, "per_household": True}, "medium": ten, "low": ten},
    }
    return call(client, users["officer"], "post", "/testing/rounds", body, status=201)  # type: ignore[no-any-return]


def test_a_district_officer_opens_a_round_of_their_own_district_only(
    client: Client, users: dict[str, User]
) -> None:
    opened = open_round(client, users)
    assert (opened["code"], opened["pooling"]["low"]["ratio"]) == ("R1", 10)
    body = {
        "code": "R2",
        "deadline": "2022-09-02T08:00:00+08:00",
        "district_ids": [users["officer"].account.district_id],
    }
    assert (
        call(client, users["other"], "post", "/testing/rounds", body, status=404)["code"] == "outside_scope"
    )
    assert call(client, users["worker"], "post", "/testing/rounds", body, status=403)["code"] == "forbidden"
    bad = {**body, "pooling": {"high": {"ratio": 1}, "medium": {"ratio": 7}, "low": {"ratio": 10}}}
    assert call(client, users["officer"], "post", "/testing/rounds", bad, status=422)["code"] == "bad_pooling"


def test_a_sampling_app_retries_a_scan_and_gets_the_first_answer(
    client: Client, users: dict[str, User]
) -> None:
    open_round(client, users)
    body = {
        "round": "R1",
        "resident_id": resident("C1/1/1/101#1").pk,
        "tube": "T1",
        "site": "S1",
        "client_key": "pad-3:17",
    }
    first = call(client, users["sampler"], "post", "/testing/scans", body, status=201)
    again = call(client, users["sampler"], "post", "/testing/scans", body, status=200)
    assert (first["repeated"], again["repeated"], again["scan_id"]) == (False, True, first["scan_id"])
    assert (first["ratio"], first["members"]) == (10, 1)
    assert Scan.objects.count() == 1
    by_id = {**body, "resident_id": None, "id_number": resident("C1/1/1/101#2").id_number, "client_key": None}
    assert call(client, users["sampler"], "post", "/testing/scans", by_id, status=201)["members"] == 2
    dup = {**body, "client_key": "pad-3:18", "tube": "T2"}
    assert (
        call(client, users["sampler"], "post", "/testing/scans", dup, status=409)["code"] == "duplicate_scan"
    )
    assert call(client, users["lab"], "post", "/testing/scans", body, status=403)["code"] == "forbidden"
    issues = call(client, users["command"], "get", "/testing/rounds/R1/issues")
    assert [i["kind"] for i in issues] == ["duplicate_scan"]


def test_a_client_key_never_answers_another_scan(client: Client, users: dict[str, User]) -> None:
    open_round(client, users)
    body = {"round": "R1", "resident_id": resident("C1/1/1/101#1").pk, "tube": "T1", "client_key": "pad-3:17"}
    call(client, users["sampler"], "post", "/testing/scans", body, status=201)
    someone_else = {**body, "resident_id": resident("C1/1/1/102#1").pk, "tube": "T9"}
    refused = call(client, users["sampler"], "post", "/testing/scans", someone_else, status=409)
    assert refused["code"] == "client_key_taken"
    assert "T1" not in str(refused)
    assert Scan.objects.count() == 1


def test_a_lab_reports_results_and_the_flows_follow(client: Client, users: dict[str, User]) -> None:
    open_round(client, users)
    for n, address in enumerate(["C1/1/1/101#1", "C1/1/1/101#2", "C1/1/1/102#1"]):
        body = {
            "round": "R1",
            "resident_id": resident(address).pk,
            "tube": "T1" if n < 2 else "T2",
            "site": "S1",
        }
        call(client, users["sampler"], "post", "/testing/scans", body, status=201)
    receipt = call(client, users["lab"], "post", "/testing/tubes/T1/receipt", {"lab": "L1"})
    assert receipt["lab"] == "L1"
    positive = call(
        client, users["lab"], "post", "/testing/tubes/T1/result", {"result": "positive", "lab": "L1"}
    )
    assert (positive["recalled"], positive["cases"], positive["repeated"]) == (2, 0, False)
    again = call(client, users["lab"], "post", "/testing/tubes/T1/result", {"result": "positive"})
    assert again["repeated"] is True
    other = call(client, users["lab"], "post", "/testing/tubes/T1/result", {"result": "negative"}, status=409)
    assert other["code"] == "already_resulted"
    assert (
        call(client, users["lab"], "post", "/testing/tubes/NONE/result", {"result": "negative"}, status=404)[
            "code"
        ]
        == "unknown_tube"
    )
    call(client, users["lab"], "post", "/testing/tubes/T2/result", {"result": "negative"})
    recalls = call(client, users["worker"], "get", "/testing/rounds/R1/recalls")
    assert len(recalls) == 2
    retest = {"round": "R1", "resident_id": resident("C1/1/1/101#1").pk, "tube": "RT1", "retest": True}
    assert call(client, users["sampler"], "post", "/testing/scans", retest, status=201)["ratio"] == 1
    opened = call(client, users["lab"], "post", "/testing/tubes/RT1/result", {"result": "positive"})
    assert (opened["cases"], opened["cases_opened"]) == (1, [])  # a lab does not see case numbers
    progress = call(client, users["command"], "get", "/testing/rounds/R1/progress")
    assert (progress["sampled"], progress["tubes"], progress["recalls_open"], progress["recalls_closed"]) == (
        3,
        3,
        1,
        1,
    )
    coverage = call(client, users["worker"], "get", "/testing/rounds/R1/coverage")
    assert sum(row["sampled"] for row in coverage) == 3
    assert all(row["unsampled"] == row["residents"] - row["sampled"] for row in coverage)
    assert sorted(RoundIssue.objects.values_list("kind", flat=True)) == ["already_resulted", "unknown_tube"]
    assert Tube.objects.get(barcode="T1").result == "positive"


def test_the_rounds_exceptions_are_for_city_staff_with_id_numbers_masked(
    client: Client, users: dict[str, User]
) -> None:
    open_round(client, users)
    body = {"round": "R1", "id_number": "110101199003078888", "tube": "T1"}
    call(client, users["sampler"], "post", "/testing/scans", body, status=404)
    listed = call(client, users["command"], "get", "/testing/rounds/R1/issues")
    assert [i["kind"] for i in listed] == ["unknown_resident"]
    assert listed[0]["detail"]["id_number"] == "1101************88"
    assert (
        call(client, users["officer"], "get", "/testing/rounds/R1/issues", status=403)["code"] == "forbidden"
    )


def test_a_device_retrying_a_refused_scan_is_listed_once(client: Client, users: dict[str, User]) -> None:
    open_round(client, users)
    body = {"round": "R1", "id_number": "110101199003078888", "tube": "T1", "client_key": "pad-9:1"}
    for _ in range(3):
        call(client, users["sampler"], "post", "/testing/scans", body, status=404)
    assert RoundIssue.objects.count() == 1


def test_odd_bodies_get_a_422_not_a_500(client: Client, users: dict[str, User]) -> None:
    open_round(client, users)
    person = resident("C1/1/1/101#1").pk
    for body in [
        {"round": "R1", "resident_id": person, "tube": "T" * 41},
        {"round": "R1", "resident_id": person, "tube": "T\x001"},
        {"round": "R1" * 30, "resident_id": person, "tube": "T1"},
    ]:
        assert (
            call(client, users["sampler"], "post", "/testing/scans", body, status=422)["code"]
            == "invalid_input"
        )
    call(
        client,
        users["sampler"],
        "post",
        "/testing/scans",
        {"round": "R1", "resident_id": person, "tube": "T1"},
        status=201,
    )
    client.force_login(users["lab"])
    response = client.post(
        "/api/v1/testing/tubes/T1/result",
        '{"result": "positive", "ct_values": {"N": NaN}}',
        content_type="application/json",
    )
    assert response.status_code in (400, 422), response.content[:300]
    assert Tube.objects.get(barcode="T1").result == ""


def test_a_lab_retrying_a_refused_result_is_listed_once(client: Client, users: dict[str, User]) -> None:
    for _ in range(3):
        call(client, users["lab"], "post", "/testing/tubes/NOPE/result", {"result": "negative"}, status=404)
    assert RoundIssue.objects.count() == 1


def test_results_for_unknown_tubes_are_listed_for_city_staff(client: Client, users: dict[str, User]) -> None:
    call(client, users["lab"], "post", "/testing/tubes/GHOST-1/result", {"result": "positive"}, status=404)
    listed = call(client, users["command"], "get", "/testing/issues/unattached")
    assert [(i["kind"], i["detail"]["tube"]) for i in listed] == [("unknown_tube", "GHOST-1")]
    assert (
        call(client, users["officer"], "get", "/testing/issues/unattached", status=403)["code"] == "forbidden"
    )


def test_closing_a_round_through_the_api_refuses_later_scans_in_the_users_language(
    client: Client, users: dict[str, User]
) -> None:
    open_round(client, users)
    body = {"round": "R1", "resident_id": resident("C1/1/1/101#1").pk, "tube": "T1", "site": "S1"}
    early = {**body, "scanned_at": "2022-09-01T07:59:00+08:00"}
    refused = call(client, users["sampler"], "post", "/testing/scans", early, status=422)
    assert refused["code"] == "outside_time"
    assert refused["message"] == "This scan is earlier than the round's start."
    close = "/testing/rounds/R1/close"
    assert call(client, users["worker"], "post", close, {}, status=403)["code"] == "forbidden"
    assert call(client, users["other"], "post", close, {}, status=404)["code"] == "outside_scope"
    closed = call(client, users["officer"], "post", "/testing/rounds/R1/close", {"reason": "done"})
    assert closed["state"] == "closed" and closed["closed_at"] is not None
    client.force_login(users["sampler"])
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    response = client.post("/api/v1/testing/scans", body, content_type="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "outside_time"
    assert response.json()["message"] == "本轮检测已关闭，此次采样在关闭之后。"
    issues = call(client, users["command"], "get", "/testing/rounds/R1/issues")
    assert [i["kind"] for i in issues] == ["outside_time", "outside_time"]


def test_the_bulletin_counts_the_samples_of_the_current_round(client: Client, users: dict[str, User]) -> None:
    """Samples in the current round (DOMAIN.md, the daily bulletin), for the city and the district,
    on the API and the printed page; none before a round has started."""
    before = call(client, users["worker"], "get", "/bulletin/")
    assert before["round"] is None and before["city"]["samples_current_round"] == 0
    open_round(client, users)
    for n, address in enumerate(["C1/1/1/101#1", "C1/1/1/101#2", "C1/1/1/102#1"]):
        body = {"round": "R1", "resident_id": resident(address).pk, "tube": f"T{n // 2}", "site": "S1"}
        call(client, users["sampler"], "post", "/testing/scans", body, status=201)
    published = call(client, users["worker"], "get", "/bulletin/")
    assert published["round"] == "R1" and published["city"]["samples_current_round"] == 3
    d1 = users["officer"].account.district_id
    assert {d["id"]: d["samples_current_round"] for d in published["districts"]}[d1] == 3
    client.force_login(users["worker"])
    page = client.get("/bulletin/print/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Samples taken in the current round of mass testing (R1): 3." in page
