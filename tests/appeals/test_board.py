"""An owner's board: its open tickets, the running deadline first, red and yellow, the
household's vulnerability; the district's officer sees what was escalated to the district; one
query however many tickets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.appeals import selectors, services
from bastion.city.models import HouseholdProfile
from bastion.core.errors import Forbidden
from bastion.core.scopes import SYSTEM, Actor
from tests.appeals.conftest import FREE, LOCKED, NEIGHBOURS, household, raise_
from tests.cases.test_api import api, call
from tests.conftest import NOW

HOUR = timedelta(hours=1)


def test_the_board_puts_the_nearest_deadline_first_with_its_light(
    locked: None, worker: Actor, neighbour_worker: Actor, officer: Actor
) -> None:
    target = household(LOCKED)
    HouseholdProfile.objects.update_or_create(
        household_id=target.pk, defaults={"community_id": target.community_id, "flagged": True}
    )
    week = raise_(FREE, category="other")  # 24 hours to sign
    vulnerable = raise_(LOCKED, category="other")  # locked and vulnerable: 1 hour to sign, 4 to reply
    replied = raise_(FREE, category="supplies")
    services.appeal_reply(appeal_id=replied.pk, text="已补送", actor=worker, now=NOW)
    theirs = raise_(NEIGHBOURS, category="other")  # another community's
    board = selectors.board(actor=worker, now=NOW + timedelta(minutes=50))
    assert [(a.id, a.light, a.vulnerable) for a in board] == [
        (vulnerable.pk, "yellow", True),
        (week.pk, "green", False),
    ]
    later = selectors.board(actor=worker, now=NOW + 2 * HOUR)
    assert [a.light for a in later] == ["red", "green"]
    # Nothing on the district's board until something is escalated to it.
    assert selectors.board(actor=officer, now=NOW) == []
    services.appeals_sweep(actor=SYSTEM, now=NOW + 2 * HOUR)
    assert [a.id for a in selectors.board(actor=officer, now=NOW + 2 * HOUR)] == [vulnerable.pk]
    assert [a.id for a in selectors.board(actor=neighbour_worker, now=NOW)] == [theirs.pk]


def test_the_board_costs_one_query_however_many_tickets(
    city: dict[str, Any], worker: Actor, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        raise_(FREE)
    with django_assert_num_queries(1):
        assert len(selectors.board(actor=worker, now=NOW)) == 3
    for _ in range(10):
        raise_(LOCKED)
    with django_assert_num_queries(1):
        assert len(selectors.board(actor=worker, now=NOW)) == 13


def test_only_offices_have_a_board(resident: Actor, hotline: Actor) -> None:
    for actor in (resident, hotline):
        with pytest.raises(Forbidden):
            selectors.board(actor=actor)


def test_the_board_through_the_api(city: dict[str, Any], make_user: Any) -> None:
    raise_(FREE, category="price")
    regulator: User = make_user("market_regulator")
    board = call(api(Client(), regulator), "get", "/appeals/board")
    assert [(a["owner"], a["light"]) for a in board] == [("market_regulation", "green")]
