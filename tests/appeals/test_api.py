"""/api/v1/appeals/: a resident raises an appeal on their phone and sees only their own; the
community's worker signs and replies; the resident rates; a hand-back shows in the history;
refusals in the one error shape, in the caller's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.test import Client

from bastion.appeals.models import Appeal
from tests.appeals.conftest import FREE, NEIGHBOURS, household
from tests.cases.test_api import api, call


def test_the_loop_through_the_api(city: dict[str, Any], make_user: Callable[..., User]) -> None:
    me = api(Client(), make_user("resident", household=household(FREE)))
    raised = call(
        me,
        "post",
        "/appeals/",
        {
            "household_id": household(FREE).pk,
            "category": "supplies",
            "text": "菜没送到",
            "contact_phone": "13800001234",
        },
        201,
    )
    assert (raised["state"], raised["owner_kind"], raised["channel"], raised["light"]) == (
        "dispatched",
        "community",
        "resident",
        "green",
    )
    # Residents see their own phone number: it is theirs.
    assert raised["contact_phone"] == "13800001234"
    worker = api(Client(), make_user("community_worker", community=city["M1"]))
    signed = call(worker, "post", f"/appeals/{raised['id']}/sign")
    assert signed["state"] == "signed"
    replied = call(worker, "post", f"/appeals/{raised['id']}/reply", {"text": "今晚补送"})
    assert (replied["state"], replied["reply"]) == ("replied", "今晚补送")
    rated = call(me, "post", f"/appeals/{raised['id']}/rate", {"rating": "satisfied"})
    assert rated["state"] == "closed"
    assert [e["kind"] for e in rated["history"]] == [
        "raised",
        "dispatched",
        "signed",
        "replied",
        "rated",
        "closed",
    ]
    assert [a["id"] for a in call(me, "get", "/appeals/")] == [raised["id"]]


def test_a_resident_sees_only_their_households_appeals(
    city: dict[str, Any], make_user: Callable[..., User]
) -> None:
    hotline = api(Client(), make_user("hotline_operator"))
    theirs = call(
        hotline, "post", "/appeals/", {"household_id": household(NEIGHBOURS).pk, "category": "price"}, 201
    )
    assert theirs["owner"] == "market_regulation" and theirs["channel"] == "hotline"
    me = api(Client(), make_user("resident", household=household(FREE)))
    assert call(me, "get", "/appeals/") == []
    assert call(me, "get", f"/appeals/{theirs['id']}", status=404)["code"] == "unknown_appeal"
    refused = call(
        me, "post", "/appeals/", {"household_id": household(NEIGHBOURS).pk, "category": "other"}, 404
    )
    assert refused["code"] == "unknown_household"


def test_a_hand_back_shows_in_the_history(city: dict[str, Any], make_user: Callable[..., User]) -> None:
    worker = api(Client(), make_user("community_worker", community=city["M1"]))
    raised = call(
        worker, "post", "/appeals/", {"household_id": household(FREE).pk, "category": "supplies"}, 201
    )
    assert raised["channel"] == "community"
    handed = call(
        worker,
        "post",
        f"/appeals/{raised['id']}/hand-back",
        {"to": "market_regulation", "reason": "缺斤少两"},
    )
    assert (handed["owner"], handed["hand_backs"]) == ("market_regulation", 1)
    assert [(e["kind"], e["from_owner"], e["to_owner"], e["text"]) for e in handed["history"]][-1] == (
        "handed_back",
        f"community:{city['M1'].pk}",
        "market_regulation",
        "缺斤少两",
    )
    # No longer theirs to reply to.
    assert (
        call(worker, "post", f"/appeals/{raised['id']}/reply", {"text": "好"}, 403)["code"] == "not_the_owner"
    )


def test_bad_input_is_refused_in_chinese(city: dict[str, Any], make_user: Callable[..., User]) -> None:
    worker = api(Client(), make_user("community_worker", community=city["M1"]))
    worker.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    body = {"household_id": household(FREE).pk, "category": "噪音"}
    refused = call(worker, "post", "/appeals/", body, 422)
    assert refused == {
        "code": "unknown_category",
        "message": "类别须为以下之一：supplies, medical, code, zone, conduct, price, other。",
    }
    raised = call(worker, "post", "/appeals/", {**body, "category": "other"}, 201)
    refused = call(worker, "post", f"/appeals/{raised['id']}/rate", {"rating": "satisfied"}, 409)
    assert refused == {"code": "appeal_dispatched", "message": "只有已答复的诉求才能评价。"}
    refused = call(worker, "post", f"/appeals/{raised['id']}/reply", {"text": "  "}, 422)
    assert refused["code"] in ("reply_needed", "invalid_input")
    assert Appeal.objects.count() == 1
