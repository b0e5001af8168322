"""What the testing API refuses or drops at the edge: a round's pooling is its three levels'
ratio and household rule, nothing else (a stray key carrying a NUL was a server error on
PostgreSQL, whose JSON columns refuse it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Resident
from bastion.core import devices
from bastion.core.scopes import SYSTEM
from bastion.testing import services
from bastion.testing.models import Round, Scan
from tests.conftest import NOW


def test_a_rounds_pooling_keeps_only_what_a_level_has(
    city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(make_user("command_centre"))
    pooling = {
        "high": {"ratio": 1, "per_household": True, "note": "\x00"},
        "medium": {"ratio": 5},
        "low": {"ratio": 10, "per_household": False},
    }
    body = {"code": "R1", "deadline": "2022-09-02T08:00:00", "pooling": pooling}
    response = client.post("/api/v1/testing/rounds", body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    assert Round.objects.get().pooling == {
        "high": {"ratio": 1, "per_household": True},
        "medium": {"ratio": 5, "per_household": False},
        "low": {"ratio": 10, "per_household": False},
    }
    odd_level = {**body, "code": "R2", "pooling": {**pooling, "x\x00": {"ratio": 1}}}
    refused = client.post("/api/v1/testing/rounds", odd_level, content_type="application/json")
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"scanned_at": "0001-01-01T00:00:00"}, "scanned_at", "日期须在 2017-09-01 与 2023-09-01 之间。"),
        ({"resident_id": 2**63}, "resident_id", "数字超出范围。"),
        ({"sampler": "王\x00医生"}, "sampler", "文本含有控制字符。"),
        ({"tube": "T\u202e1"}, "tube", "文本含有控制字符。"),
    ],
)
def test_a_devices_scan_is_held_to_the_same_edge_in_the_users_language(
    city: dict[str, Any], make_user: Callable[..., User], change: dict[str, Any], field: str, message: str
) -> None:
    """The sampling devices' fast path (a bearer token, no Ninja) reads the same schema."""
    services.round_open(code="R1", starts_at=NOW, deadline=NOW + timedelta(days=1), actor=SYSTEM, now=NOW)
    sampler = make_user("sampler")
    secret = devices.device_token_issue(username=sampler.username, name="PDA", actor=SYSTEM, now=NOW).secret
    resident = Resident.objects.get(household__address="C1/2/1/301", number=1)
    body = {"round": "R1", "resident_id": resident.pk, "tube": "T1", **change}
    response = Client().post(
        "/api/v1/testing/scans",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 422, response.content[:300]
    answer = response.json()
    assert (answer["code"], answer["message"]) == ("invalid_input", "输入的内容无效。")
    assert [(d["loc"][-1], d["msg"]) for d in answer["details"]] == [(field, message)]
    assert not Scan.objects.exists()
