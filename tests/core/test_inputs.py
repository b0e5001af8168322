"""Nothing out of range reaches the database: an id, a count or an offset past a 64-bit column and
a day far from today are refused at the edge with a 422 in the API's one shape, said in the
user's language (they were server errors, or, for a dispatch day of 9999-12-31, 200 orders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion import flows
from bastion.city.models import Resident
from bastion.core import inputs
from bastion.core.scopes import SYSTEM
from bastion.testing.models import Round, Scan
from bastion.zones.models import Zone, ZoneScreening
from tests.conftest import NOW

Places = dict[str, Any]
TOO_BIG = 2**63  # one past the widest integer column of both databases
INVALID = "输入的内容无效。"
OUT_OF_RANGE = "数字超出范围。"


@pytest.fixture
def officer(city: Places, make_user: Callable[..., User]) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    client.force_login(make_user("command_centre"))
    return client


def _refused(response: Any, *where: str) -> dict[str, Any]:
    assert response.status_code == 422, response.content[:300]
    body = response.json()
    assert (body["code"], body["message"]) == ("invalid_input", INVALID)
    [detail] = [d for d in body["details"] if tuple(d["loc"][-len(where) :]) == where]
    return detail


@pytest.mark.parametrize(
    ("url", "where"),
    [
        (f"/api/v1/cases/?district_id={TOO_BIG}", ("query", "district_id")),
        (f"/api/v1/zones/?district_id={TOO_BIG}", ("query", "district_id")),
        (f"/api/v1/supply/days?district_id={TOO_BIG}", ("query", "district_id")),
        (f"/api/v1/city/districts/{TOO_BIG}/communities", ("path", "district_id")),
        (f"/api/v1/zones/?offset={TOO_BIG}", ("query", "offset")),
        (f"/api/v1/delivery/coverage?community_id={TOO_BIG}", ("query", "community_id")),
        (f"/api/v1/city/communities/{TOO_BIG}/compounds", ("path", "community_id")),
        (f"/api/v1/city/residents/{TOO_BIG}", ("path", "resident_id")),
        (f"/api/v1/zones/{TOO_BIG}", ("path", "zone_id")),
        (f"/api/v1/cases/{TOO_BIG}", ("path", "case_id")),
    ],
)
def test_an_id_or_offset_past_a_64_bit_column_in_a_query_or_path_is_refused(
    officer: Client, url: str, where: tuple[str, ...]
) -> None:
    detail = _refused(officer.get(url), *where)
    assert detail["msg"] == OUT_OF_RANGE


@pytest.mark.parametrize(
    ("url", "body", "where"),
    [
        ("/api/v1/testing/scans", {"round": "R1", "tube": "T1", "resident_id": TOO_BIG}, ("resident_id",)),
        (
            "/api/v1/cases/contacts",
            {"resident_id": TOO_BIG, "kind": "close", "last_exposure_on": "2022-08-30"},
            ("resident_id",),
        ),
        (
            "/api/v1/testing/rounds",
            {"code": "R1", "deadline": "2022-09-02T08:00:00", "district_ids": [TOO_BIG]},
            ("district_ids", "0"),
        ),
        ("/api/v1/delivery/orders", {"household_id": TOO_BIG, "lines": [{"item": "x", "quantity": 1}]}, ()),
    ],
)
def test_an_id_past_a_64_bit_column_in_a_body_is_refused(
    officer: Client, url: str, body: dict[str, Any], where: tuple[str, ...]
) -> None:
    response = officer.post(url, body, content_type="application/json")
    assert response.status_code == 422, response.content[:300]
    details = response.json()["details"]
    assert any(d["msg"] == OUT_OF_RANGE for d in details)
    if where:
        _refused(response, *(w if not w.isdigit() else int(w) for w in where))  # type: ignore[misc]


def test_a_round_starting_in_year_1_without_a_time_zone_is_refused(officer: Client) -> None:
    response = officer.post(
        "/api/v1/testing/rounds",
        {"code": "R1", "starts_at": "0001-01-01T00:00:00", "deadline": "2022-09-02T08:00:00"},
        content_type="application/json",
    )
    detail = _refused(response, "starts_at")
    # The window is five years back and one ahead of today (2022-09-01 by the test's clock).
    assert detail["msg"] == "日期须在 2017-09-01 与 2023-09-01 之间。"
    assert not Round.objects.exists()


def test_a_scan_in_year_1_without_a_time_zone_is_refused(
    officer: Client, make_user: Callable[..., User]
) -> None:
    opened = officer.post(
        "/api/v1/testing/rounds",
        {"code": "R1", "starts_at": "2022-09-01T00:00:00", "deadline": "2022-09-02T08:00:00"},
        content_type="application/json",
    )
    assert opened.status_code == 201, opened.content[:300]
    sampler = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    sampler.force_login(make_user("sampler"))
    resident = Resident.objects.get(household__address="C1/2/1/301", number=1)
    body = {"round": "R1", "tube": "T1", "resident_id": resident.pk, "scanned_at": "0001-01-01T00:00:00"}
    response = sampler.post("/api/v1/testing/scans", body, content_type="application/json")
    assert _refused(response, "scanned_at")["type"] == "out_of_window"
    assert not Scan.objects.exists()


def test_a_time_without_a_zone_is_the_citys(officer: Client) -> None:
    response = officer.post(
        "/api/v1/testing/rounds",
        {"code": "R1", "starts_at": "2022-09-01T08:00:00", "deadline": "2022-09-02T08:00:00+08:00"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content[:300]
    assert response.json()["starts_at"] == "2022-09-01T08:00:00+08:00"  # in Chengdu


def test_a_day_far_from_today_is_refused_in_english_too(city: Places, make_user: Callable[..., User]) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_user("command_centre"))
    response = client.get("/api/v1/cases/?day=9999-12-31")
    assert response.status_code == 422
    assert response.json()["details"][0]["msg"] == "The day must lie between 2017-09-01 and 2023-09-01."


def test_a_screening_of_more_people_than_a_count_column_holds_is_refused(officer: Client) -> None:
    resident = Resident.objects.get(household__address="C1/2/1/301", number=1)
    flows.case_reported(resident_id=resident.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    zone = Zone.objects.get(level="high")
    body = {"on": "2022-09-01", "all_negative": True, "sampled": 2**31}
    response = officer.post(f"/api/v1/zones/{zone.pk}/screenings", body, content_type="application/json")
    assert _refused(response, "sampled")["msg"] == OUT_OF_RANGE
    assert not ZoneScreening.objects.exists()
    body["sampled"] = 2**31 - 1
    response = officer.post(f"/api/v1/zones/{zone.pk}/screenings", body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]


# One table of texts drives the control-character refusal through each of its paths: the API's and
# the console's check (Python) and the bulk files' (polars, over a column).
CONTROL_CASES = [
    ("王芳", False),
    ("C000001/1/1/101 兴南院", False),
    ("tab\there", True),
    ("a\x00b", True),
    ("bell\x07", True),
    ("esc\x1b[2J", True),
    ("del\x7f", True),
    ("c1\x85", True),
    ("line\u2028sep", True),
    ("王\u202e芳", True),
    ("isolate\u2066x", True),
    ("é ü ß ！", False),
]


@pytest.mark.parametrize(("text", "refused"), CONTROL_CASES)
def test_one_control_character_rule_in_python_and_polars(text: str, refused: bool) -> None:
    assert inputs.has_control(text) is refused
    assert pl.Series([text]).str.contains(inputs.CONTROL_IN_LINE_PATTERN).item() is refused
