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
