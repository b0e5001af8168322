"""Load shedding on the hot endpoints (core/shedding.py, issue 14 §6): beyond what a process lets
run at once, a request waits a bounded time for a slot, then is answered 503 with Retry-After in
the one error shape, and nothing of it is carried out."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings

from bastion.api.root import api
from bastion.city.models import Resident
from bastion.core import devices
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from bastion.core.shedding import Gate, shed
from bastion.testing import api as testing_api
from bastion.testing import services as testing
from bastion.testing.models import Scan, Tube
from tests.conftest import NOW

Places = dict[str, Any]


def _held_view(gate: Gate, inside: threading.Semaphore, release: threading.Event) -> Callable[..., Any]:
    """A view that, once admitted, says so and stays until released."""

    @shed(gate)
    def view(request: HttpRequest) -> HttpResponse:
        inside.release()
        release.wait(timeout=30)
        return HttpResponse("done", status=201)

    return view


def _run_at_once(view: Callable[..., Any], count: int) -> tuple[list[threading.Thread], list[HttpResponse]]:
    answers: list[HttpResponse] = []
    barrier = threading.Barrier(count)

    def go() -> None:
        barrier.wait()
        answers.append(view(RequestFactory().post("/x")))

    threads = [threading.Thread(target=go) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, answers


def _wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the condition never held")


@pytest.mark.parametrize("allowed", [1, 2, 3])
def test_one_request_more_than_a_gate_allows_is_refused_503_with_retry_after(allowed: int) -> None:
    gate = Gate("test", limit=allowed, wait_ms=0, retry_after_s=2)
    inside, release = threading.Semaphore(0), threading.Event()
    view = _held_view(gate, inside, release)
    threads, answers = _run_at_once(view, allowed + 1)
    _wait_until(lambda: len(answers) == 1)  # the one refused, while the others are inside
    [refused] = answers
    assert refused.status_code == 503
    assert refused["Retry-After"] == "2"
    body = json.loads(refused.content)
    assert body["code"] == "overloaded" and body["message"]
    assert gate.counts() == {"admitted": allowed, "refused": 1, "in_flight": allowed, "waiting": 0}
    release.set()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [201] * allowed + [503]
    # The slots are given back: the next request is served.
    assert view(RequestFactory().post("/x")).status_code == 201
    assert gate.counts()["in_flight"] == 0


def test_a_request_waits_for_a_slot_that_frees_within_the_wait_and_is_served() -> None:
    gate = Gate("test", limit=1, wait_ms=30_000)
    inside, release = threading.Semaphore(0), threading.Event()
    view = _held_view(gate, inside, release)
    threads, answers = _run_at_once(view, 2)
    _wait_until(lambda: gate.counts()["waiting"] == 1)  # one inside, one waiting at the gate
    assert answers == []
    release.set()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201, 201]
    assert gate.counts() == {"admitted": 2, "refused": 0, "in_flight": 0, "waiting": 0}


def test_a_view_that_fails_gives_its_slot_back() -> None:
    gate = Gate("test", limit=1, wait_ms=0)

    @shed(gate)
    def view(request: HttpRequest) -> HttpResponse:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        view(RequestFactory().get("/x"))
    assert gate.counts()["in_flight"] == 0
    with pytest.raises(ValueError, match="broken"):
        view(RequestFactory().get("/x"))  # admitted again, not refused


def test_the_gate_reads_its_numbers_from_the_settings() -> None:
    gate = Gate("test")
    with override_settings(SHEDDING_IN_FLIGHT=1, SHEDDING_WAIT_MS=0, SHEDDING_RETRY_AFTER_S=7):
        assert gate.enter()
        assert not gate.enter()
        assert gate.retry_after() == 7
        gate.leave()
    assert gate.counts()["refused"] == 1


# --- The single scan, opted in -------------------------------------------------------------------


def _open_round() -> None:
    ten = {"ratio": 10, "per_household": False}
    testing.round_open(
        code="R1",
        starts_at=NOW,
        deadline=NOW.replace(day=2),
        pooling={"high": ten, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=NOW,
    )


def _post_scan(client: Client, resident_id: int, key: str, token: str | None, language: str) -> Any:
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    body = {"round": "R1", "resident_id": resident_id, "tube": "T1", "client_key": key}
    return client.post("/api/v1/testing/scans", json.dumps(body), content_type="application/json", **headers)


@pytest.mark.parametrize("way", ["device", "console"])
@override_settings(SHEDDING_IN_FLIGHT=1, SHEDDING_WAIT_MS=0, SHEDDING_RETRY_AFTER_S=1)
def test_a_scan_refused_for_load_answers_503_in_the_users_language_and_records_nothing(
    way: str, city: Places, make_user: Callable[..., User]
) -> None:
    _open_round()
    sampler = make_user("sampler")
    client, token = Client(), None
    if way == "device":
        token = devices.device_token_issue(
            username=sampler.username, name="PDA", actor=SYSTEM, now=NOW
        ).secret
    else:
        client.force_login(sampler)
    someone = Resident.objects.order_by("pk").first()
    assert someone is not None
    gate = testing_api.SCANS
    assert gate.enter()  # another scan of this process is being served
    try:
        answer = _post_scan(client, someone.pk, "k1", token, "en")
        chinese = _post_scan(client, someone.pk, "k1", token, "zh-hans")
    finally:
        gate.leave()
    assert answer.status_code == 503 and answer["Retry-After"] == "1"
    assert answer.json() == {
        "code": "overloaded",
        "message": "The service is busy right now; nothing was recorded. Try again in a moment.",
    }
    assert chinese.status_code == 503 and chinese.json()["message"] == "系统繁忙，本次未作记录，请稍后再试。"
    assert not Scan.objects.exists() and not Tube.objects.exists()
    assert not AuditEntry.objects.filter(action="testing.scan.recorded").exists()
    # The same scan again, once the slot is free: taken, once.
    assert _post_scan(client, someone.pk, "k1", token, "en").status_code == 201
    assert Scan.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@override_settings(SHEDDING_IN_FLIGHT=2, SHEDDING_WAIT_MS=0)
def test_three_devices_at_once_when_two_are_allowed_two_scans_are_taken_and_one_refused(
    city: Places, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    _open_round()
    sampler = make_user("sampler")
    token = devices.device_token_issue(username=sampler.username, name="PDA", actor=SYSTEM, now=NOW).secret
    people = list(Resident.objects.order_by("pk").values_list("pk", flat=True)[:3])
    inside, release = threading.Semaphore(0), threading.Event()
    scan_answer = testing_api._scan_answer

    def held(actor: Any, body: Any) -> HttpResponse:
        # Admitted scans wait here, inside the gate, until the refused one has its answer.
        inside.release()
        release.wait(timeout=30)
        return scan_answer(actor, body)

    monkeypatch.setattr(testing_api, "_scan_answer", held)
    barrier = threading.Barrier(3)
    statuses: list[int] = []
    retry_after: list[str | None] = []

    def device(n: int) -> None:
        try:
            barrier.wait()
            answer = _post_scan(Client(), people[n], f"pda-{n}", token, "en")
            statuses.append(answer.status_code)
            retry_after.append(answer.get("Retry-After"))
        finally:
            connection.close()

    threads = [threading.Thread(target=device, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(statuses) == 1)
    assert statuses == [503] and retry_after == ["1"]
    release.set()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 201, 503]
    assert Scan.objects.count() == 2
    assert sum(Tube.objects.values_list("members", flat=True)) == 2
    assert AuditEntry.objects.filter(action="testing.scan.recorded").count() == 2


def test_the_document_declares_503_with_retry_after_on_the_operations_that_shed_load() -> None:
    document = json.loads(json.dumps(api.get_openapi_schema()))
    busy = document["paths"]["/api/v1/testing/scans"]["post"]["responses"]["503"]
    assert busy["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "Retry-After" in busy["headers"]
    # And nowhere else: no other operation is opted in.
    declared = [
        (method, path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "503" in operation["responses"]
    ]
    assert sorted(declared) == [("get", "/api/v1/codes/check/{token}"), ("post", "/api/v1/testing/scans")]


def test_a_slot_that_frees_goes_to_the_request_waiting_longest_not_to_one_arriving_after_it() -> None:
    gate = Gate("test", limit=1, wait_ms=2000)
    assert gate.enter()  # a request in flight
    order: list[str] = []

    def waiting() -> None:
        if gate.enter():
            order.append("waiting")
            gate.leave()

    waiter = threading.Thread(target=waiting)
    waiter.start()
    _wait_until(lambda: gate.counts()["waiting"] == 1)
    # The request in flight ends, and its thread (holding the GIL) asks again at once: it queues
    # behind the waiter, which is served first.
    gate.leave()
    if gate.enter():
        order.append("late")
        gate.leave()
    waiter.join()
    assert order == ["waiting", "late"]
    assert gate.counts() == {"admitted": 3, "refused": 0, "in_flight": 0, "waiting": 0}
