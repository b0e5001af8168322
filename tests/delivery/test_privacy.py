"""The commerce bureau and market regulators see delivery coverage as figures, never the list of
households with their needs (issue 13 §4); an address or id outside a community worker's
community is refused in the same words as one that does not exist."""

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


def test_a_community_worker_still_lists_the_households_not_reached(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    client.force_login(make_user("community_worker", community=city["M1"]))
    listed = client.get(f"/api/v1/delivery/coverage/{city['M1'].pk}/not-reached").json()
    assert len(listed) == 6 and any(row["vulnerable"] for row in listed)


def test_an_order_for_a_household_outside_the_community_reads_as_no_such_household(
    locked: list[Household], city: Places, make_user: Callable[..., User], client: Client
) -> None:
    """Even an order of the wrong kind: the kind is judged only for a household in scope."""
    client.force_login(make_user("community_worker", community=city["M1"]))
    elsewhere = Household.objects.get(address="C4/1/1/101")  # in M3
    answers = []
    for household_id in (elsewhere.pk, 987654321):
        for kind in ("proxy", "resident"):
            response = client.post(
                "/api/v1/delivery/orders",
                {"household_id": household_id, "kind": kind, "lines": [{"item": "rice-5kg", "quantity": 1}]},
                content_type="application/json",
                HTTP_ACCEPT_LANGUAGE="en",
            )
            answers.append((response.status_code, response.json()))
    assert answers == [(404, {"code": "unknown_household", "message": "There is no such household."})] * 4
