"""The console's days and times keep to the same window as the API's (five years back, one year
ahead of today): a round starting in year 1 was a server error; a protocol adopted from
9999-12-31 or a case that stayed somewhere in year 1 were taken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bastion.cases.models import Case, ProtocolInForce
from bastion.testing.models import Round
from tests.console.test_forms import LANGUAGES, as_user, pick, refusals

Places = dict[str, Any]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_round_starting_in_year_1_is_refused_on_the_page(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("command_centre"), language)
    base = {"code": "R-1", "starts_at": "2022-09-01T09:00", "deadline": "2022-09-02T09:00"}
    refusals(
        client,
        "/testing/",
        base,
        [
            (
                {"starts_at": "0001-01-01T00:00"},
                pick(
                    language,
                    "Start must lie between 2017-09-01 and 2023-09-01.",
                    "开始时间 须在 2017-09-01 与 2023-09-01 之间。",
                ),
            ),
            (
                {"deadline": "9999-12-31T23:59"},
                pick(language, "Deadline must lie between", "截止时间 须在"),
            ),
        ],
        language=language,
        status=422,
    )
    assert not Round.objects.exists()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_protocol_from_a_day_far_off_is_refused(
    client: Client, city: Places, make_user: Callable[..., User], language: str
) -> None:
    as_user(client, make_user("command_centre"), language)
    base = {"protocol": "nov2022", "since": "2022-09-01", "reason": "20 measures"}
    refusals(
        client,
        "/protocol/",
        base,
        [({"since": "9999-12-31"}, pick(language, "From must lie between", "起始日期 须在"))],
        language=language,
        status=422,
    )
    assert not ProtocolInForce.objects.filter(protocol="nov2022").exists()


def test_a_place_stayed_in_year_1_is_refused(
    client: Client, city: Places, make_user: Callable[..., User]
) -> None:
    as_user(client, make_user("district_officer", district=city["D1"]))
    base = {"resident": "C1/2/1/301#1", "kind": "confirmed", "found_by": "community"}
    refusals(
        client,
        "/cases/new/",
        base,
        [({"stayed": "C3/1, shop, 0001-01-01"}, "C3/1 must lie between 2017-09-01 and 2023-09-01.")],
        language="en",
        status=422,
    )
    assert not Case.objects.exists()
