"""A single scan is audited like every other change, naming the account and the device that made
it, not only the sampler's name the client sends (issue 13 §4)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Resident
from bastion.core import devices
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.testing import services as testing
from bastion.testing.models import Scan
from tests.conftest import NOW

Places = dict[str, Any]
TEN = {"ratio": 10, "per_household": False}
ONE_HOUSEHOLD = {"ratio": 10, "per_household": True}


def open_round(pooling: dict[str, Any]) -> None:
    testing.round_open(
        code="R1",
        starts_at=NOW,
        deadline=NOW.replace(day=2),
        pooling={"high": pooling, "medium": pooling, "low": pooling},
        actor=SYSTEM,
        now=NOW,
    )


def person(address: str) -> Resident:
    household, number = address.split("#")
    return Resident.objects.get(household__address=household, number=int(number))


def scan(client: Client, resident_id: int, token: str | None = None, key: str = "k1") -> Any:
    headers = {"HTTP_ACCEPT_LANGUAGE": "en"}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = {"round": "R1", "resident_id": resident_id, "tube": "T1", "sampler": "王护士", "client_key": key}
    return client.post("/api/v1/testing/scans", json.dumps(body), content_type="application/json", **headers)


def scan_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="testing.scan.recorded").order_by("id"))


@pytest.mark.parametrize("pooling", [TEN, ONE_HOUSEHOLD], ids=["fast way", "checked way"])
def test_a_devices_scan_is_audited_naming_its_account_and_device(
    pooling: dict[str, Any], city: Places, make_user: Callable[..., User]
) -> None:
    open_round(pooling)
    sampler = make_user("sampler")
    issued = devices.device_token_issue(username=sampler.username, name="PDA-17", actor=SYSTEM, now=NOW)
    someone = person("C1/1/1/101#1")
    answer = scan(Client(), someone.pk, token=issued.secret)
    assert answer.status_code == 201
    [entry] = scan_entries()
    taken = Scan.objects.get()
    assert (entry.object_type, entry.object_id) == ("testing.scan", str(taken.pk))
    assert entry.actor_id == sampler.pk
    assert sampler.username in entry.actor_label and "PDA-17" in entry.actor_label
    assert issued.token.prefix in entry.actor_label
    assert entry.after["sampler"] == "王护士"
    assert (entry.after["tube"], entry.after["resident_id"]) == ("T1", someone.pk)
    assert entry.district_id == someone.district_id and entry.at == NOW
    # A device's retry changes nothing, and writes no second record; nor does a refused scan.
    assert scan(Client(), someone.pk, token=issued.secret).status_code == 200
    assert scan(Client(), 987654321, token=issued.secret, key="k2").status_code == 404
    assert len(scan_entries()) == 1


def test_a_scan_from_the_console_is_audited_naming_the_account(
    city: Places, client: Client, make_user: Callable[..., User]
) -> None:
    open_round(TEN)
    sampler = make_user("sampler")
    client.force_login(sampler)
    assert scan(client, person("C1/1/1/101#1").pk).status_code == 201
    [entry] = scan_entries()
    assert (entry.actor_id, entry.actor_label) == (sampler.pk, sampler.username)
