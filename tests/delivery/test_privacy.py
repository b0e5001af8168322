"""The commerce bureau and market regulators see delivery coverage as figures, never the list of
households with their needs (issue 13 §4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.city.models import Household
from tests.delivery.conftest import Places


@pytest.mark.parametrize("role", ["commerce_supply", "market_regulator"])
def test_figure_roles_read_coverage_but_not_the_households_with_their_needs(
    role: str, locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    client.force_login(make_user(role))
    figures = client.get("/api/v1/delivery/coverage")
    assert figures.status_code == 200
    assert [(c["locked"], c["not_reached"]) for c in figures.json()] == [(6, 6)]
    listed = client.get(f"/api/v1/delivery/coverage/{city['M1'].pk}/not-reached")
    assert listed.status_code == 403
    assert "vulnerable" not in listed.content.decode()
    # The community's worker, who serves them, still lists them with their needs.
    client.force_login(make_user("community_worker", community=city["M1"]))
    rows = client.get(f"/api/v1/delivery/coverage/{city['M1'].pk}/not-reached").json()
    assert len(rows) == 6 and any(row["vulnerable"] for row in rows)


def test_a_client_key_never_answers_another_households_order(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    """A repeat answers the first order with its recipient code: only to the same household."""
    mine, theirs = Household.objects.get(address="C1/1/1/101"), Household.objects.get(address="C1/1/1/102")
    body = {"lines": [{"item": "rice-5kg", "quantity": 1}], "client_key": "app:1"}
    client.force_login(make_user("resident", household=theirs))
    first = client.post(
        "/api/v1/delivery/orders", {**body, "household_id": theirs.pk}, content_type="application/json"
    )
    assert first.status_code == 201
    client.force_login(make_user("resident", household=mine))
    again = client.post(
        "/api/v1/delivery/orders",
        {**body, "household_id": mine.pk},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert again.status_code == 409
    assert again.json()["code"] == "client_key_taken"
    assert first.json()["recipient_code"] not in again.content.decode()
