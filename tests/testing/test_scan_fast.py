"""Single scans as sampling devices send them, hundreds a second: the same rules as ever, fewer
statements. What a device and the command centre notice: tubes fill to their ratio with the grid
and first scan right, repeats get the first answer, refusals are listed, concurrent devices never
make two scans of one person, and a bulk chunk in progress is waited for."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bastion import flows
from bastion.city.models import Household, Resident
from bastion.city.selectors import place_by_address
from bastion.core import devices
from bastion.core.errors import Conflict, DomainError
from bastion.core.scopes import SYSTEM
from bastion.core.sql import Lock
from bastion.testing import rules, services
from bastion.testing.models import RoundIssue, Scan, Site, Tube
from bastion.zones import selectors as zone_selectors
from tests.conftest import NOW

Places = dict[str, Any]
TEN = {"ratio": 10, "per_household": False}


def open_round(code: str = "R1", **kwargs: Any) -> Any:
    pooling = kwargs.pop("pooling", {"high": TEN, "medium": TEN, "low": TEN})
    return services.round_open(
        code=code,
        starts_at=NOW,
        deadline=NOW + timedelta(days=1),
        pooling=pooling,
        actor=SYSTEM,
        now=NOW,
        **kwargs,
    )


def scan(resident: int, tube: str, *, key: str | None = None, minutes: int = 0, code: str = "R1") -> Any:
    return services.scan_record(
        round_code=code,
        resident_id=resident,
        tube_barcode=tube,
        scanned_at=NOW + timedelta(minutes=minutes),
        client_key=key,
        actor=SYSTEM,
        now=NOW,
    )


def residents_of_two_grids() -> tuple[list[int], list[int]]:
    grids = list(Household.objects.values_list("grid_id", flat=True).distinct().order_by("grid_id")[:2])
    first, second = (
        list(Resident.objects.filter(household__grid_id=g).order_by("pk").values_list("pk", flat=True)[:5])
        for g in grids
    )
    return first, second


def test_a_tube_keeps_its_members_grid_and_first_scan_right(city: Places) -> None:
    open_round()
    same, other = residents_of_two_grids()
    scan(same[0], "T1", minutes=30)
    scan(same[1], "T1", minutes=10)
    tube = Tube.objects.get(barcode="T1")
    grid = Resident.objects.get(pk=same[0]).household.grid_id
    assert (tube.members, tube.grid_id, tube.first_scan_at) == (2, grid, NOW + timedelta(minutes=10))
    taken = scan(other[0], "T1", minutes=20)
    assert (taken.tube.members, taken.tube.grid_id, taken.repeated) == (3, None, False)
    tube.refresh_from_db()
    assert (tube.members, tube.grid_id, tube.first_scan_at) == (3, None, NOW + timedelta(minutes=10))
    scan(same[2], "T1")
    assert Tube.objects.get(barcode="T1").grid_id is None  # mixed stays mixed
    assert Scan.objects.filter(tube=tube).count() == 4


def test_a_device_repeating_the_last_scan_of_a_full_tube_gets_the_first_answer(city: Places) -> None:
    open_round()
    people = list(Resident.objects.order_by("pk").values_list("pk", flat=True)[:11])
    firsts = [scan(p, "T1", key=f"pda:{n}") for n, p in enumerate(people[:10])]
    again = scan(people[9], "T1", key="pda:9")
    assert (again.repeated, again.scan.pk, again.tube.members) == (True, firsts[9].scan.pk, 10)
    with pytest.raises(Conflict) as full:
        scan(people[10], "T1", key="pda:10")
    assert full.value.code == "overfull_tube"
    with pytest.raises(Conflict) as twice:
        scan(people[0], "T2", key="pda:other")
    assert twice.value.code == "duplicate_scan"
    assert not Tube.objects.filter(barcode="T2").exists()  # the refused scan's new tube rolled back
    kinds = sorted(RoundIssue.objects.values_list("kind", flat=True))
    assert kinds == ["duplicate_scan", "overfull_tube"]
    assert Scan.objects.count() == 10


def test_the_ratio_is_the_pooling_of_the_zone_level_where_the_person_lives(city: Places) -> None:
    flows.case_reported(
        resident_id=Resident.objects.get(household__address="C1/2/1/301", number=1).pk,
        kind="confirmed",
        actor=SYSTEM,
        now=NOW,
    )
    pooling = {
        "high": {"ratio": 1, "per_household": False},
        "medium": {"ratio": 5, "per_household": False},
        "low": TEN,
    }
    round_ = open_round(places=[place_by_address("C1")], pooling=pooling)
    households = list(Household.objects.filter(compound__code="C1").order_by("pk"))
    seen = set()
    for n, household in enumerate(households):
        resident = household.residents.order_by("pk").first()
        if resident is None:
            continue
        taken = scan(resident.pk, f"L{n}")
        level = zone_selectors.level_of_household(household_id=household.pk)
        expected = rules.pooling_for(round_.pooling, level)[0]
        assert taken.tube.ratio == expected == Tube.objects.get(barcode=f"L{n}").ratio, household.address
        seen.add(expected)
    assert {1, 10} <= seen


def test_a_scan_named_by_id_number_is_taken(city: Places) -> None:
    open_round()
    resident = Resident.objects.exclude(id_number="").order_by("pk").first()
    assert resident is not None
    taken = services.scan_record(
        round_code="R1",
        id_number=f" {resident.id_number.lower()} ",
        tube_barcode="T1",
        scanned_at=NOW,
        actor=SYSTEM,
        now=NOW,
    )
    assert (taken.scan.resident_id, taken.tube.members) == (resident.pk, 1)


def device_post(client: Client, secret: str, body: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/testing/scans",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_ACCEPT_LANGUAGE="en",
    )


@pytest.fixture
def device(city: Places, make_user: Callable[..., User]) -> str:
    sampler = make_user("sampler")
    return devices.device_token_issue(username=sampler.username, name="PDA", actor=SYSTEM, now=NOW).secret


def test_a_device_is_told_why_a_scan_is_refused_and_the_round_lists_it(city: Places, device: str) -> None:
    open_round(places=[place_by_address("C1")])
    home = Resident.objects.filter(household__compound__code="C1").order_by("pk").first()
    away = Resident.objects.exclude(household__compound__code="C1").order_by("pk").first()
    assert home is not None and away is not None
    Site.objects.create(
        code="S1", name="核酸点", grid_id=home.household.grid_id, district_id=home.district_id
    )
    client = Client()
    body = {"round": "R1", "resident_id": home.pk, "tube": "T1", "site": "S9", "client_key": "k1"}
    answers = [
        device_post(client, device, body),
        device_post(client, device, {**body, "resident_id": away.pk, "site": "S1", "client_key": "k2"}),
        device_post(client, device, {**body, "resident_id": 10**9, "site": "S1", "client_key": "k3"}),
        device_post(client, device, {**body, "round": "R9", "site": "S1", "client_key": "k4"}),
        device_post(client, device, {**body, "site": "S1", "client_key": "k5"}),
    ]
    assert [(a.status_code, a.json().get("code")) for a in answers] == [
        (404, "bad_record"),
        (422, "outside_round"),
        (404, "unknown_resident"),
        (422, "unknown_round"),
        (201, None),
    ]
    assert answers[-1].json() == {
        "scan_id": Scan.objects.get().pk,
        "tube": "T1",
        "ratio": 10,
        "members": 1,
        "repeated": False,
    }
    assert Tube.objects.get().site_id == Site.objects.get().pk
    kinds = sorted(RoundIssue.objects.values_list("kind", flat=True))
    assert kinds == ["bad_record", "outside_round", "unknown_resident"]


@pytest.mark.postgres
def test_a_devices_scan_costs_two_statements(city: Places, device: str) -> None:
    open_round()
    people = list(Resident.objects.order_by("pk").values_list("pk", flat=True)[:3])
    client = Client()
    for person in people[:2]:  # the token resolved, the statements prepared
        assert (
            device_post(client, device, {"round": "R1", "resident_id": person, "tube": "T1"}).status_code
            == 201
        )
    with CaptureQueriesContext(connection) as queries:
        answer = device_post(client, device, {"round": "R1", "resident_id": people[2], "tube": "T1"})
    assert answer.status_code == 201 and answer.json()["members"] == 3
    # Inside the test's transaction the write runs in a savepoint; a server runs it alone.
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert [s.split("(")[0] for s in statements] == [
        "EXECUTE bastion_scan_facts_id_code",
        "EXECUTE bastion_scan_write",
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_devices_scanning_one_person_at_once_make_one_scan_and_list_the_other(city: Places) -> None:
    open_round()
    person = Resident.objects.order_by("pk").values_list("pk", flat=True).first()
    assert person is not None
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def go(device: int) -> None:
        try:
            barrier.wait()
            scan(person, f"T{device}", key=f"pda-{device}:1")
            outcomes.append("taken")
        except DomainError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["duplicate_scan", "taken"]
    assert Scan.objects.count() == 1
    assert sum(Tube.objects.values_list("members", flat=True)) == 1
    assert list(RoundIssue.objects.values_list("kind", flat=True)) == ["duplicate_scan"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_scan_waits_for_a_bulk_chunk_in_progress(city: Places) -> None:
    open_round()
    person = Resident.objects.order_by("pk").values_list("pk", flat=True).first()
    assert person is not None
    settings = connection.settings_dict
    chunk = psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
    )
    chunk.execute("SELECT pg_advisory_xact_lock(%s)", [int(Lock.INGEST)])  # as a bulk chunk does
    done = threading.Event()

    def device() -> None:
        try:
            scan(person, "T1")
            done.set()
        finally:
            connection.close()

    thread = threading.Thread(target=device)
    thread.start()
    time.sleep(0.5)
    waited = not done.is_set() and not Scan.objects.exists()
    chunk.commit()
    chunk.close()
    thread.join(timeout=10)
    assert waited and done.is_set()
    assert Tube.objects.get(barcode="T1").members == 1
