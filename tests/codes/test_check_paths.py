"""A venue's code check answers the same on both of its paths: a scanner's request (a device
token) is answered in front of Django by `core.hotpath` (bastion.wsgi), anything else by Django
and Ninja. One table of cases goes through the served application and through Django's stack."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_started
from django.test import Client, override_settings

from bastion import flows
from bastion.city.models import Resident
from bastion.codes import api as codes_api
from bastion.codes import tokens
from bastion.core import devices
from bastion.core.hotpath import HotPaths
from bastion.core.scopes import SYSTEM
from bastion.wsgi import application
from tests.conftest import NOW

Places = dict[str, Any]
# Headers the stack adds for its own reasons (the length is the server's).
_OWN = {"content-length", "set-cookie"}

pytestmark = pytest.mark.django_db(transaction=True)  # the served path manages connections as a server does


def _resident(address: str) -> int:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number)).pk


def _served(path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET `path` through the application a server runs, as granian calls it."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        **headers,
    }
    # What bastion.wsgi serves, its middleware loaded under the settings of the test (the module's
    # own was loaded at import, before the suite's plain http).
    served = HotPaths(WSGIHandler(), application.routes)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(served(environ, lambda status, items, exc=None: started.append((status, items))))
    status, items = started[0]
    return int(status.split()[0]), {name.lower(): value for name, value in items}, body


@pytest.fixture
def django_requests() -> Iterator[list[object]]:
    """Requests that reached Django's handler (it sends request_started; the hot path does not)."""
    seen: list[object] = []

    def note(sender: object, **kwargs: Any) -> None:
        seen.append(sender)

    request_started.connect(note)
    yield seen
    request_started.disconnect(note)


@pytest.fixture
def scanner(city: Places, make_user: Callable[..., User]) -> dict[str, str]:
    """A red resident (a case's unit), a green one, and the secrets of a checker's, a sampler's and
    a revoked device."""
    flows.case_reported(resident_id=_resident("C1/2/1/301#1"), kind="confirmed", actor=SYSTEM, now=NOW)
    checker, sampler = make_user("code_checker"), make_user("sampler")
    revoked = devices.device_token_issue(username=checker.username, name="old gate", actor=SYSTEM, now=NOW)
    devices.device_token_revoke(token_id=revoked.token.pk, actor=SYSTEM, now=NOW)
    red = tokens.token_for(_resident("C1/2/1/101#1"))
    head, mac = red.split("-")
    return {
        "gate": devices.device_token_issue(
            username=checker.username, name="gate 3", actor=SYSTEM, now=NOW
        ).secret,
        "pda": devices.device_token_issue(
            username=sampler.username, name="PDA", actor=SYSTEM, now=NOW
        ).secret,
        "revoked": revoked.secret,
        "red": red,
        "green": tokens.token_for(_resident("C2/1/1/101#1")),
        "forged": f"{int(head) + 1}-{mac}",
        "nobody": tokens.token_for(10**12),
    }


# (device, token, language) -> (status, code or colour, served in front of Django)
CASES = [
    ("gate", "red", "en", 200, "red", True),
    ("gate", "green", "en", 200, "green", True),
    ("gate", "forged", "en", 404, "unknown_code", True),
    ("gate", "nobody", "zh-hans", 404, "unknown_code", True),
    ("gate", "garbage", "en", 404, "unknown_code", True),
    ("pda", "red", "en", 403, "forbidden", True),
    ("revoked", "red", "zh-hans", 401, "bad_device_token", True),
    ("unenrolled", "red", "en", 401, "bad_device_token", True),
    ("gate", "12\x01-abc", "en", 422, "invalid_input", False),  # Ninja's Line refuses it
]


@pytest.mark.parametrize(("device", "token", "language", "status", "said", "hot"), CASES)
def test_a_check_answers_the_same_in_front_of_django_as_through_it(
    scanner: dict[str, str],
    django_requests: list[object],
    device: str,
    token: str,
    language: str,
    status: int,
    said: str,
    hot: bool,
) -> None:
    secret = scanner.get(device, "not-a-device-token")
    path = f"/api/v1/codes/check/{scanner.get(token, token)}"
    got_status, got_headers, body = _served(
        path, HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE=language
    )
    assert bool(django_requests) is not hot
    django_requests.clear()
    through = Client().get(path, HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE=language)
    assert django_requests, "the test client goes through Django"
    answer = json.loads(body)
    assert (got_status, answer.get("code") or answer.get("colour")) == (status, said)
    assert (through.status_code, answer) == (got_status, through.json())
    # The same security headers and language as the full stack.
    assert {k: v for k, v in got_headers.items() if k not in _OWN} == {
        k.lower(): v for k, v in through.items() if k.lower() not in _OWN
    }


def test_a_check_refused_for_load_in_front_of_django_is_told_to_come_back_in_its_language(
    scanner: dict[str, str], django_requests: list[object]
) -> None:
    bearer = f"Bearer {scanner['gate']}"
    with override_settings(SHEDDING_IN_FLIGHT=1, SHEDDING_WAIT_MS=0, SHEDDING_RETRY_AFTER_S=1):
        assert codes_api.CHECKS.enter()  # another check of this process is being served
        try:
            busy = _served(f"/api/v1/codes/check/{scanner['red']}", HTTP_AUTHORIZATION=bearer)
            chinese = _served(
                f"/api/v1/codes/check/{scanner['red']}",
                HTTP_AUTHORIZATION=bearer,
                HTTP_ACCEPT_LANGUAGE="zh-hans",
            )
        finally:
            codes_api.CHECKS.leave()
    assert (busy[0], busy[1]["retry-after"], json.loads(busy[2])["code"]) == (503, "1", "overloaded")
    assert json.loads(chinese[2])["message"] == "系统繁忙，本次未作记录，请稍后再试。"
    assert not django_requests
    assert json.loads(_served(f"/api/v1/codes/check/{scanner['red']}", HTTP_AUTHORIZATION=bearer)[2]) == {
        "colour": "red",
        "set_at": NOW.isoformat().replace("+00:00", "Z"),
    }


def test_what_is_not_a_devices_check_goes_to_django_untouched(
    scanner: dict[str, str], make_user: Callable[..., User], django_requests: list[object]
) -> None:
    red = f"/api/v1/codes/check/{scanner['red']}"
    # A console session (a cookie, no token): Django's sessions answer it.
    console = Client()
    console.force_login(make_user("code_checker"))
    cookie = "; ".join(f"{k}={v.value}" for k, v in console.cookies.items())
    assert json.loads(_served(red, HTTP_COOKIE=cookie)[2])["colour"] == "red"
    # A host the settings do not allow: Django refuses it (400), as it would any request.
    assert _served(red, HTTP_AUTHORIZATION=f"Bearer {scanner['gate']}", HTTP_HOST="evil.example")[0] == 400
    # Another path under the same prefix.
    assert _served("/api/v1/codes/check/x/y", HTTP_AUTHORIZATION=f"Bearer {scanner['gate']}")[0] == 404
    assert len(django_requests) == 3
    # Plain http where https is required: redirected by Django, not answered.
    with override_settings(SECURE_SSL_REDIRECT=True):
        status, headers, _body = _served(red, HTTP_AUTHORIZATION=f"Bearer {scanner['gate']}")
    assert (status, headers["location"]) == (301, f"https://testserver{red}")


def test_a_wrong_device_token_is_told_401_even_when_the_gate_is_full(
    scanner: dict[str, str], django_requests: list[object]
) -> None:
    path = f"/api/v1/codes/check/{scanner['red']}"
    refused = codes_api.CHECKS.counts()["refused"]
    with override_settings(SHEDDING_IN_FLIGHT=1, SHEDDING_WAIT_MS=0):
        assert codes_api.CHECKS.enter()  # a scanner's check is being served
        try:
            hot = _served(path, HTTP_AUTHORIZATION="Bearer not-a-device-token")
            through = Client().get(path, HTTP_AUTHORIZATION="Bearer not-a-device-token")
        finally:
            codes_api.CHECKS.leave()
    assert (
        (hot[0], json.loads(hot[2])["code"])
        == (401, "bad_device_token")
        == (
            through.status_code,
            through.json()["code"],
        )
    )
    assert codes_api.CHECKS.counts()["refused"] == refused  # it never asked the gate


def test_an_unexpected_error_on_the_hot_path_is_answered_as_django_answers_it(
    scanner: dict[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(codes_api.selectors, "code_check", broken)
    path = f"/api/v1/codes/check/{scanner['red']}"
    bearer = f"Bearer {scanner['gate']}"
    with override_settings(DEBUG_PROPAGATE_EXCEPTIONS=False):
        status, headers, body = _served(path, HTTP_AUTHORIZATION=bearer, HTTP_ACCEPT_LANGUAGE="en")
        through = Client(raise_request_exception=False).get(
            path, HTTP_AUTHORIZATION=bearer, HTTP_ACCEPT_LANGUAGE="en"
        )
    assert (status, json.loads(body)) == (500, through.json())
    assert json.loads(body)["code"] == "server_error"
    assert "x-content-type-options" in headers
    assert any("the database went away" in str(r.exc_info) for r in caplog.records if r.exc_info)
