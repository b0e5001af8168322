"""What the testing API refuses or drops at the edge: a round's pooling is its three levels'
ratio and household rule, nothing else (a stray key carrying a NUL was a server error on
PostgreSQL, whose JSON columns refuse it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.testing.models import Round


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
