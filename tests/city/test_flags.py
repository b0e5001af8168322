"""Community workers keep the vulnerable flags right: within their community, with a reason, audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import CommunityFigures, Resident
from bastion.city.selectors import resident_by_address
from bastion.core.errors import NotFound
from bastion.core.models import AuditEntry
from tests.factories import HouseholdFactory, ResidentFactory


def _patch(client: Client, resident: Resident, body: dict[str, Any]) -> Any:
    return client.patch(
        f"/api/v1/city/residents/{resident.pk}/flags",
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_a_community_worker_marks_a_resident_who_cannot_order_online(
    client: Client, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    resident = resident_by_address("C1/1/1/101#1")
    before = CommunityFigures.objects.get(community=city["M1"]).cannot_order_online
    client.force_login(make_user("community_worker", community=city["M1"]))
    response = _patch(
        client, resident, {"cannot_order_online": not resident.cannot_order_online, "reason": "visit"}
    )
    assert response.status_code == 200, response.content
    assert ("cannot_order_online" in response.json()["vulnerable"]) is (not resident.cannot_order_online)
    entry = AuditEntry.objects.get(action="city.resident.flags_changed", object_id=str(resident.pk))
    assert entry.reason == "visit"
    assert entry.before == {"cannot_order_online": resident.cannot_order_online}
    after = CommunityFigures.objects.get(community=city["M1"]).cannot_order_online
    assert after == before + (-1 if resident.cannot_order_online else 1)


def test_flags_outside_the_scope_or_role_are_refused(
    client: Client, city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    outside = resident_by_address("C3/1/1/101#1")
    client.force_login(make_user("community_worker", community=city["M1"]))
    assert _patch(client, outside, {"disabled": True, "reason": "x"}).status_code == 404
    client.force_login(make_user("district_officer", district=city["D1"]))
    assert _patch(client, outside, {"disabled": True, "reason": "x"}).status_code == 403
    assert not AuditEntry.objects.filter(action="city.resident.flags_changed").exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"disabled": True, "reason": "  "}, "reason_required"),
        ({"chronic_treatment": "surgery", "reason": "x"}, "invalid_flags"),
    ],
)
def test_bad_flags_change_nothing(
    client: Client, city: dict[str, Any], make_user: Callable[..., User], body: dict[str, Any], code: str
) -> None:
    resident = resident_by_address("C1/1/1/101#2")
    client.force_login(make_user("community_worker", community=city["M1"]))
    response = _patch(client, resident, body)
    assert response.status_code == 422
    assert response.json()["code"] == code
    fresh = Resident.objects.get(pk=resident.pk)
    assert (fresh.disabled, fresh.chronic_treatment) == (resident.disabled, resident.chronic_treatment)


def test_an_address_names_one_resident(db: None) -> None:
    household = HouseholdFactory(unit__building__compound__code="C2", room="103")
    first, second = ResidentFactory.create_batch(2, household=household)
    resident = resident_by_address("C2/1/1/103#2")
    assert resident == second and resident.household.address == "C2/1/1/103" and resident.number == 2
    assert resident_by_address("C2/1/1/103#1") == first
    with pytest.raises(NotFound):
        resident_by_address("C2/1/1/103#9")
    with pytest.raises(NotFound):
        resident_by_address("C2/1/1/103")
