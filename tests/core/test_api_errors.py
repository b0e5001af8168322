"""Every error of the API has one shape: {"code", "message" in the caller's language[, "details"]}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city import services
from bastion.zones import selectors as zone_selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    services.roles_sync()
    return make_user("command_centre")


def _client(user: User | None, lang: str, **kwargs: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=lang, **kwargs)
    if user is not None:
        client.force_login(user)
    return client


def _shape(body: dict[str, Any]) -> set[str]:
    return set(body) - {"details"}


def test_it_says_a_missing_csrf_token_in_the_errors_shape_and_language(officer: User) -> None:
    client = _client(officer, "zh-hans", enforce_csrf_checks=True)
    response = client.post("/api/v1/delivery/dispatch", {}, content_type="application/json")
    assert response.status_code == 403
    body = response.json()
    assert _shape(body) == {"code", "message"}
    assert body["code"] == "csrf_failed"
    assert body["message"] == "页面的安全令牌缺失或已过期：请刷新页面后重试。"
    english = _client(officer, "en", enforce_csrf_checks=True).post(
        "/api/v1/delivery/dispatch", {}, content_type="application/json"
    )
    assert english.json()["message"].startswith("The page's security token is missing or expired")


def test_it_refuses_a_body_that_is_not_json_in_the_errors_shape(officer: User) -> None:
    for body in ("{not json", b"\xff\xfe{}"):
        response = _client(officer, "en").post(
            "/api/v1/delivery/dispatch", body, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json() == {
            "code": "unparseable_body",
            "message": "The request body could not be read as JSON.",
        }


def test_an_unknown_api_path_answers_not_found_as_json(officer: User) -> None:
    response = _client(officer, "en").get("/api/v1/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"code": "not_found", "message": "Not found."}
    # A console page that does not exist stays a page.
    page = _client(officer, "en").get("/no/such/page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_invalid_input_and_a_missing_login_share_the_shape(officer: User) -> None:
    invalid = _client(officer, "en").get("/api/v1/zones/?limit=not-a-number")
    assert invalid.status_code == 422
    assert invalid.json()["code"] == "invalid_input" and "details" in invalid.json()
    anonymous = _client(None, "en").get("/api/v1/zones/")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": "not_authenticated", "message": "Log in first."}


def test_a_server_error_in_the_api_answers_json_without_a_trace(
    officer: User, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.DEBUG = False

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    # A fault injected where the zone list reads the database.
    monkeypatch.setattr(zone_selectors, "zone_list", broken)
    client = _client(officer, "en", raise_request_exception=False)
    response = client.get("/api/v1/zones/")
    assert response.status_code == 500
    assert response.json() == {
        "code": "server_error",
        "message": "Something went wrong on our side; the team is told.",
    }
    assert b"secret internals" not in response.content
