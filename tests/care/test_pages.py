"""The console's medical-care pages as a community worker, the command centre and transfer
dispatch meet them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.care.models import MedicalNeed, Trip
from bastion.city.models import Household
from bastion.core.models import AuditEntry
from tests.care.conftest import PATIENT, add_need, resident
from tests.console.test_pages import as_user, page


def test_a_community_worker_records_a_dialysis_need_and_sees_its_trips(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    worker = as_user(client, make_user("community_worker", community=city["M1"]))
    assert "No resident of your community has a standing medical need recorded." in page(worker, "/care/")
    answer = worker.post(
        "/care/needs/",
        {
            "resident": PATIENT,
            "kind": "dialysis",
            "weekdays": ["0", "2", "4"],
            "session_time": "08:00",
            "place": "市二医院透析中心",
            "since": "2022-09-01",
        },
        follow=True,
    )
    html = answer.content.decode()
    assert "The dialysis need was recorded; 3 trips planned." in html
    assert f'data-resident="{PATIENT}"' in html
    assert html.count("data-trip=") == 3 and "市二医院透析中心" in html
    assert AuditEntry.objects.filter(action="care.need.added").count() == 1


def test_the_need_form_says_what_is_wrong_in_the_users_language(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    worker = as_user(client, make_user("community_worker", community=city["M1"]), language="zh-hans")
    answer = worker.post(
        "/care/needs/", {"resident": PATIENT, "kind": "dialysis", "session_time": "8点", "dates": "明天"}
    )
    assert answer.status_code == 422
    html = answer.content.decode()
    assert 'data-testid="form-errors"' in html
    # The schedule itself is the service's to refuse: no weekdays or dates.
    answer = worker.post("/care/needs/", {"resident": PATIENT, "kind": "dialysis", "session_time": "08:00"})
    assert answer.status_code == 422
    assert not MedicalNeed.objects.exists()


def test_a_worker_ends_a_need_and_its_trips_are_withdrawn(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    user = make_user("community_worker", community=city["M1"])
    need = add_need()
    worker = as_user(client, user)
    html = worker.post(f"/care/needs/{need.pk}/end/", {"reason": "转院治疗"}, follow=True).content.decode()
    assert "The need was ended; its planned trips were withdrawn." in html
    assert not Trip.objects.filter(need=need).exists()


def test_the_household_page_shows_needs_to_the_worker_only(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    add_need()
    household = Household.objects.get(address="C1/2/1/202")
    worker = as_user(Client(), make_user("community_worker", community=city["M1"]))
    assert 'data-need="dialysis"' in page(worker, f"/registry/households/{household.pk}/")
    centre = as_user(client, make_user("command_centre"))
    assert 'data-need="dialysis"' not in page(centre, f"/registry/households/{household.pk}/")


def test_the_trips_page_masks_patients_and_needs_for_the_command_centre(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    add_need()
    name = resident(PATIENT).name
    centre = as_user(Client(), make_user("command_centre"))
    html = page(centre, "/care/trips/?day=2022-09-02")
    assert html.count("data-trip=") == 1 and name not in html and "dialysis" not in html
    dispatch = as_user(client, make_user("transfer_dispatch"))
    html = page(dispatch, "/care/trips/?day=2022-09-02")
    assert name in html and "dialysis" in html


def test_an_emergency_call_from_the_console_opens_a_trip_at_once(
    client: Client, locked: None, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    worker = as_user(client, make_user("community_worker", community=city["M1"]))
    html = worker.post(
        "/care/emergency/", {"resident": "C1/2/1/301#1", "note": "胸痛"}, follow=True
    ).content.decode()
    trip = Trip.objects.get(emergency=True)
    assert f"Emergency trip {trip.pk} opened" in html
    assert 'data-emergency="1"' in html
