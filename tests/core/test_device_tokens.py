"""Device tokens: a sampling device posts scans as its account, with a revocable API key."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from bastion.city.models import Resident
from bastion.city.selectors import actor_for
from bastion.core import devices
from bastion.core.errors import Forbidden, NotFound
from bastion.core.models import AuditEntry, DeviceToken
from bastion.core.scopes import SYSTEM
from bastion.testing import services as testing
from bastion.testing.models import Tube
from tests.conftest import NOW

Places = dict[str, Any]
TEN = {"ratio": 10, "per_household": False}


@pytest.fixture
def round_(city: Places) -> Any:
    return testing.round_open(
        code="R1",
        starts_at=NOW,
        deadline=NOW.replace(day=2),
        pooling={"high": TEN, "medium": TEN, "low": TEN},
        actor=SYSTEM,
        now=NOW,
    )


def person(n: int) -> int:
    return int(Resident.objects.order_by("pk").values_list("pk", flat=True)[n])


def post_scan(
    client: Client, token: str | None, resident: int, tube: str = "T1", language: str = "en"
) -> Any:
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = {"round": "R1", "resident_id": resident, "tube": tube, "client_key": f"dev-{resident}"}
    return client.post("/api/v1/testing/scans", json.dumps(body), content_type="application/json", **headers)


def test_it_lets_a_sampling_device_post_scans_without_a_session_or_csrf(
    round_: Any, make_user: Callable[..., User]
) -> None:
    sampler = make_user("sampler")
    issued = devices.device_token_issue(username=sampler.username, name="PDA-17", actor=SYSTEM, now=NOW)
    device = Client(enforce_csrf_checks=True)
    first = post_scan(device, issued.secret, person(0))
    second = post_scan(device, issued.secret, person(1))
    assert (first.status_code, second.status_code) == (201, 201), first.content
    assert (first.json()["members"], second.json()["members"]) == (1, 2)
    assert Tube.objects.get(barcode="T1").members == 2


def test_it_stores_only_a_digest_and_audits_issue_and_revocation(
    city: Places, make_user: Callable[..., User]
) -> None:
    sampler = make_user("sampler")
    issued = devices.device_token_issue(username=sampler.username, name="PDA-17", actor=SYSTEM, now=NOW)
    row = DeviceToken.objects.get()
    assert issued.secret not in (row.digest, row.prefix, row.name)
    assert row.digest == devices.digest_of(issued.secret) and issued.secret.startswith(row.prefix)
    devices.device_token_revoke(token_id=row.pk, actor=SYSTEM, now=NOW)
    devices.device_token_revoke(token_id=row.pk, actor=SYSTEM, now=NOW)  # again: nothing changes
    actions = list(AuditEntry.objects.filter(object_type="core.devicetoken").values_list("action", flat=True))
    assert sorted(actions) == ["core.device_token.issued", "core.device_token.revoked"]


def test_it_answers_401_in_the_users_language_to_a_missing_bad_or_revoked_token(
    round_: Any, make_user: Callable[..., User]
) -> None:
    sampler = make_user("sampler")
    issued = devices.device_token_issue(username=sampler.username, name="PDA-17", actor=SYSTEM, now=NOW)
    device = Client()
    missing = post_scan(device, None, person(0))
    assert (missing.status_code, missing.json()["code"]) == (401, "not_authenticated")
    bad = post_scan(device, issued.secret + "x", person(0), language="zh-hans")
    assert (bad.status_code, bad.json()["code"]) == (401, "bad_device_token")
    assert bad.json()["message"] == "此设备令牌无效或已被吊销。"
    assert post_scan(device, issued.secret, person(0)).status_code == 201
    devices.device_token_revoke(token_id=issued.token.pk, actor=SYSTEM, now=NOW)
    revoked = post_scan(device, issued.secret, person(1))
    assert (revoked.status_code, revoked.json()["code"]) == (401, "bad_device_token")
    assert "revoked" in revoked.json()["message"]
    assert Tube.objects.get(barcode="T1").members == 1


def test_it_refuses_a_token_of_an_account_that_may_not_record_samples(
    round_: Any, make_user: Callable[..., User]
) -> None:
    lab = make_user("lab")
    issued = devices.device_token_issue(username=lab.username, name="LIS", actor=SYSTEM, now=NOW)
    refused = post_scan(Client(), issued.secret, person(0), language="zh-hans")
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    assert refused.json()["message"] == "您的角色无权进行此操作。"
    assert not Tube.objects.exists()


def test_it_lets_only_city_testing_managers_issue_and_revoke(
    city: Places, make_user: Callable[..., User]
) -> None:
    sampler = make_user("sampler")
    command = actor_for(make_user("command_centre"))
    officer = actor_for(make_user("district_officer", district=city["D1"]))
    issued = devices.device_token_issue(username=sampler.username, name="PDA-1", actor=command, now=NOW)
    with pytest.raises(NotFound):
        devices.device_token_issue(username=sampler.username, name="PDA-2", actor=officer, now=NOW)
    with pytest.raises(Forbidden):
        devices.device_token_revoke(token_id=issued.token.pk, actor=actor_for(sampler), now=NOW)
    assert DeviceToken.objects.filter(revoked_at__isnull=True).count() == 1


def test_it_issues_lists_and_revokes_from_the_command_line(
    city: Places, make_user: Callable[..., User]
) -> None:
    sampler = make_user("sampler")
    out = io.StringIO()
    call_command(
        "devices", "issue", "--user", sampler.username, "--name", "PDA-9", stdout=out, stderr=io.StringIO()
    )
    secret = out.getvalue().strip()
    token = DeviceToken.objects.get()
    assert token.digest == devices.digest_of(secret)
    listed = io.StringIO()
    call_command("devices", "list", stdout=listed)
    assert f"{token.pk}\t{sampler.username}\tPDA-9" in listed.getvalue() and "active" in listed.getvalue()
    assert secret not in listed.getvalue()
    call_command("devices", "revoke", str(token.pk), stdout=io.StringIO())
    token.refresh_from_db()
    assert token.revoked_at == NOW  # revoked at once, on the city's clock
    with pytest.raises(CommandError):
        call_command("devices", "issue", "--user", "nobody", "--name", "PDA-9", stdout=io.StringIO())


def test_a_device_and_a_console_sampler_get_the_same_answers_to_bad_input(
    round_: Any, make_user: Callable[..., User]
) -> None:
    """Devices' scans are answered without Django Ninja; a sampler logged in to the console goes
    through Ninja. Bad input gets the same answer both ways, in the user's language."""
    sampler = make_user("sampler")
    issued = devices.device_token_issue(username=sampler.username, name="PDA-17", actor=SYSTEM, now=NOW)
    console = Client()
    console.force_login(sampler)
    bodies = [
        {"round": "R1", "resident_id": person(0), "tube": "T" * 41},
        {"round": "R1", "resident_id": "not a number", "tube": "T1"},
        {"round": "R1", "resident_id": person(0), "tube": "T1\u0000"},
        {"round": "R1", "resident_id": person(0)},
    ]
    for body in bodies:
        answers = [
            client.post(
                "/api/v1/testing/scans",
                json.dumps(body),
                content_type="application/json",
                HTTP_ACCEPT_LANGUAGE="zh-hans",
                **headers,
            )
            for client, headers in (
                (Client(), {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}),
                (console, {}),
            )
        ]
        device, person_in_console = (a.json() for a in answers)
        assert [a.status_code for a in answers] == [422, 422], body
        assert device["code"] == person_in_console["code"] == "invalid_input"
        assert device["message"] == person_in_console["message"] == "输入的内容无效。"
        assert [d["loc"] for d in device["details"]] == [d["loc"] for d in person_in_console["details"]]
    # A body that is not JSON gets the same answer from the device's path and the console's.
    broken = [
        client.post(
            "/api/v1/testing/scans",
            "{not json",
            content_type="application/json",
            HTTP_ACCEPT_LANGUAGE="zh-hans",
            **headers,
        )
        for client, headers in (
            (Client(), {"HTTP_AUTHORIZATION": f"Bearer {issued.secret}"}),
            (console, {}),
        )
    ]
    assert [(b.status_code, b.json()["code"]) for b in broken] == [(400, "unparseable_body")] * 2
    assert broken[0].json()["message"] == broken[1].json()["message"] == "请求内容无法按 JSON 读取。"
    assert not Tube.objects.exists()
