"""/api/v1/care/: a community worker keeps a resident's needs, transfer dispatch follows and
moves the trips, an emergency call goes through; refusals in the one error shape, in the
caller's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.care.models import MedicalNeed
from tests.care.conftest import PATIENT, resident
from tests.cases.test_api import api, call

NEED = {"kind": "dialysis", "since": "2022-09-01", "weekdays": ["mon", "wed", "fri"], "session_time": "08:00"}


def test_a_worker_records_a_need_and_dispatch_moves_its_trip(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    worker = api(Client(), make_user("community_worker", community=city["M1"]))
    need = call(
        worker, "post", "/care/needs", {**NEED, "resident_id": resident(PATIENT).pk, "place": "透析中心"}, 201
    )
    assert need["weekdays"] == ["mon", "wed", "fri"] and need["session_time"] == "08:00:00"
    assert [n["id"] for n in call(worker, "get", "/care/needs")] == [need["id"]]
    dispatch = api(client, make_user("transfer_dispatch"))
    board = call(dispatch, "get", "/care/trips", {"day": "2022-09-02"})
    assert [(t["kind"], t["destination"], t["pickup_address"]) for t in board] == [
        ("dialysis", "透析中心", "C1/2/1/202")
    ]
    trip = board[0]["id"]
    moved = call(dispatch, "post", f"/care/trips/{trip}/dispatch", {"vehicle_code": "川A-0001"})
    assert (moved["state"], moved["vehicle_code"]) == ("dispatched", "川A-0001")
    refused = call(dispatch, "post", f"/care/trips/{trip}/move", {"to": "returned"}, 409)
    assert refused["code"] == "invalid_transition"
    assert call(dispatch, "post", f"/care/trips/{trip}/move", {"to": "picked_up"})["state"] == "picked_up"


def test_a_bad_need_is_refused_in_the_callers_language(
    locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    worker = api(Client(), make_user("community_worker", community=city["M1"]))
    worker.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    body = {**NEED, "resident_id": resident(PATIENT).pk, "weekdays": []}
    refused = call(worker, "post", "/care/needs", body, 422)
    assert refused == {"code": "schedule_needed", "message": "透析和化疗须填写每周治疗日或治疗日期。"}
    refused = call(worker, "post", "/care/needs", {**body, "weekdays": ["someday"]}, 422)
    assert refused["code"] == "bad_weekday"
    refused = call(worker, "post", "/care/needs", {**body, "weekdays": ["mon"], "session_time": "8点"}, 422)
    assert refused["code"] == "bad_time"
    assert not MedicalNeed.objects.exists()


def test_an_emergency_call_by_the_120_centre(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    dispatch = api(client, make_user("transfer_dispatch"))
    trip = call(dispatch, "post", "/care/emergency", {"resident_id": resident("C1/2/1/301#1").pk}, 201)
    assert trip["emergency"] and trip["state"] == "planned" and trip["purpose"] == "emergency"
    assert call(dispatch, "get", "/care/trips")[0]["id"] == trip["id"]
