"""Shared personas and places of the supply tests: the commerce bureau, a supplier with a
vegetable package and rice, a warehouse in each district, and a way to run under a local
copy of the supply policy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from bastion.city.selectors import actor_for
from bastion.core.scopes import Actor
from bastion.supply.models import Warehouse
from bastion.supply.policy import DEFAULT_FILE, Policy, policy
from tests.factories import supply_catalogue

Places = dict[str, Any]
SHIPPED = DEFAULT_FILE.read_text(encoding="utf-8")


@pytest.fixture
def commerce(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("commerce_supply"))


@pytest.fixture
def regulator(city: Places, make_user: Callable[..., User]) -> Actor:
    return actor_for(make_user("market_regulator"))


@pytest.fixture
def catalogue(commerce: Actor) -> None:
    """SUP1 with a 10 kg vegetable package (50 CNY) and 5 kg of rice (30 CNY)."""
    supply_catalogue(commerce)


@pytest.fixture
def warehouses(city: Places) -> dict[str, Warehouse]:
    """W1 and S1 (a sorting centre) in D1, W2 in D2."""
    return {
        "W1": Warehouse.objects.create(code="W1", name="一号仓", kind="warehouse", district=city["D1"]),
        "S1": Warehouse.objects.create(code="S1", name="分拣中心", kind="sorting", district=city["D1"]),
        "W2": Warehouse.objects.create(code="W2", name="二号仓", kind="warehouse", district=city["D2"]),
    }


@pytest.fixture
def local_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Policy]:
    """local_policy(("cap = 0.35", "cap = 0.10")): the shipped policy with these lines changed,
    in force for the rest of the test (as an operator's BASTION_SUPPLY_POLICY_FILE)."""
    counter = {"n": 0}

    def use(*changes: tuple[str, str]) -> Policy:
        text = SHIPPED
        for old, new in changes:
            assert old in text, old
            text = text.replace(old, new)
        counter["n"] += 1
        # A new file each time: policies are cached by path.
        path = tmp_path / f"policy-{counter['n']}.toml"
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("BASTION_SUPPLY_POLICY_FILE", str(path))
        return policy()

    return use
