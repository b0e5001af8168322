"""The 12345 loop through the services: a ticket triaged to its owner with its deadlines,
signed, replied, handed back, rated; the sweep escalating overdue tickets and closing silent
ones; every step in the ticket's history and the audit log; refusals by scope and by state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import translation

from bastion.appeals import selectors, services
from bastion.appeals.models import Appeal, AppealEvent
from bastion.city.models import HouseholdProfile
from bastion.core.errors import Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM, Actor
from tests.appeals.conftest import FREE, LOCKED, NEIGHBOURS, household, raise_
from tests.conftest import NOW

HOUR = timedelta(hours=1)


def _history(appeal: Appeal) -> list[tuple[str, str, str]]:
    return [
        (e.kind, e.from_owner.code if e.from_owner else "", e.to_owner.code if e.to_owner else "")
        for e in AppealEvent.objects.filter(appeal=appeal)
        .select_related("from_owner", "to_owner")
        .order_by("at", "pk")
    ]


def test_a_callers_ticket_goes_to_their_community_with_the_default_deadlines(
    city: dict[str, Any], hotline: Actor
) -> None:
    appeal = raise_(FREE, category="other", urgency="normal", text="楼道灯坏了", actor=hotline)
    assert (appeal.state, appeal.owner.code, appeal.channel) == (
        "dispatched",
        f"community:{city['M1'].pk}",
        "hotline",
    )
    assert (appeal.sign_by, appeal.reply_by) == (NOW + 24 * HOUR, NOW + 7 * 24 * HOUR)
    assert not appeal.lockdown and appeal.policy_version == "2026-12-05"
    assert _history(appeal) == [("raised", "", ""), ("dispatched", "", f"community:{city['M1'].pk}")]
    assert AuditEntry.objects.filter(action="appeals.appeal.raised", object_id=str(appeal.pk)).count() == 1


def test_triage_names_the_desks_and_the_district(city: dict[str, Any]) -> None:
    assert raise_(category="price").owner.code == "market_regulation"
    assert raise_(category="supplies", about=services.About(kind="supplier", id=1)).owner.code == "commerce"
    assert raise_(category="other", about=services.About(kind="transfer", id=1)).owner.code == "transfer_desk"
    assert raise_(category="code").owner.code == f"district:{city['D1'].pk}"


def test_under_lockdown_a_vulnerable_household_is_answered_within_hours(locked: None) -> None:
    target = household(LOCKED)
    HouseholdProfile.objects.update_or_create(
        household_id=target.pk, defaults={"community_id": target.community_id, "flagged": True}
    )
    appeal = raise_(LOCKED, category="other")
    assert appeal.lockdown and appeal.vulnerable
    assert (appeal.sign_by, appeal.reply_by) == (NOW + HOUR, NOW + 4 * HOUR)
    emergency = raise_(LOCKED, category="medical", urgency="emergency")
    assert emergency.reply_by == NOW + timedelta(minutes=30)
    assert raise_(FREE, category="medical", urgency="emergency").reply_by == NOW + 2 * HOUR


def test_the_owner_signs_and_replies_and_the_satisfied_resident_closes_it(
    city: dict[str, Any], worker: Actor, resident: Actor
) -> None:
    appeal = raise_(FREE, category="supplies", actor=resident)
    assert appeal.channel == "resident"
    services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW + HOUR)
    replied = services.appeal_reply(appeal_id=appeal.pk, text="明早补送", actor=worker, now=NOW + 2 * HOUR)
    assert (replied.state, replied.close_at) == ("replied", NOW + 2 * HOUR + 72 * HOUR)
    closed = services.appeal_rate(appeal_id=appeal.pk, rating="satisfied", actor=resident, now=NOW + 3 * HOUR)
    assert (closed.state, closed.closed_at, closed.rating) == ("closed", NOW + 3 * HOUR, "satisfied")
    view = selectors.appeal_get(actor=resident, appeal_id=appeal.pk, now=NOW + 3 * HOUR)
    assert [e.kind for e in view.history] == ["raised", "dispatched", "signed", "replied", "rated", "closed"]
    assert view.reply == "明早补送" and view.light == "green"
    with pytest.raises(InvalidTransition) as refused:
        services.appeal_rate(appeal_id=appeal.pk, rating="dissatisfied", actor=resident, now=NOW + 4 * HOUR)
    assert refused.value.code == "appeal_closed"


def test_a_dissatisfied_rating_reopens_it_with_fresh_deadlines(worker: Actor, resident: Actor) -> None:
    appeal = raise_(FREE, actor=resident)
    services.appeal_reply(appeal_id=appeal.pk, text="已处理", actor=worker, now=NOW + HOUR)
    reopened = services.appeal_rate(
        appeal_id=appeal.pk, rating="dissatisfied", comment="态度不好", actor=resident, now=NOW + 2 * HOUR
    )
    assert (reopened.state, reopened.reopened, reopened.replied_at) == ("reopened", 1, None)
    assert reopened.reply_by == NOW + 2 * HOUR + 7 * 24 * HOUR
    assert reopened.next_escalation_at == NOW + 2 * HOUR + 24 * HOUR
    # Back with the same owner, who signs again.
    assert services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW + 3 * HOUR).state == "signed"


def test_a_ticket_handed_back_and_forth_shows_it(
    city: dict[str, Any], worker: Actor, regulator: Actor
) -> None:
    appeal = raise_(FREE, category="supplies")
    community = f"community:{city['M1'].pk}"
    services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW + HOUR)
    handed = services.appeal_hand_back(
        appeal_id=appeal.pk, to="market_regulation", reason="缺斤少两", actor=worker, now=NOW + 2 * HOUR
    )
    assert (handed.state, handed.owner.code, handed.hand_backs) == ("dispatched", "market_regulation", 1)
    # The new owner signs within its own time; the resident's reply deadline stands.
    assert (handed.sign_by, handed.reply_by) == (NOW + 2 * HOUR + 24 * HOUR, appeal.reply_by)
    services.appeal_hand_back(
        appeal_id=appeal.pk, to="community", reason="非价格问题", actor=regulator, now=NOW + 3 * HOUR
    )
    assert _history(Appeal.objects.get(pk=appeal.pk))[-2:] == [
        ("handed_back", community, "market_regulation"),
        ("handed_back", "market_regulation", community),
    ]
    assert Appeal.objects.get(pk=appeal.pk).hand_backs == 2
    # The regulator still sees the ticket it handed on, and its board's history.
    assert [a.id for a in selectors.appeals_list(actor=regulator)] == [appeal.pk]


def test_only_the_owner_signs_and_replies(
    worker: Actor, neighbour_worker: Actor, officer: Actor, regulator: Actor
) -> None:
    appeal = raise_(FREE)
    with pytest.raises(Forbidden) as refused:
        services.appeal_sign(appeal_id=appeal.pk, actor=officer, now=NOW)
    assert refused.value.code == "not_the_owner"
    with pytest.raises(NotFound):  # another community's ticket does not exist for its worker
        services.appeal_reply(appeal_id=appeal.pk, text="好", actor=neighbour_worker, now=NOW)
    with pytest.raises(NotFound):  # nor for a desk that does not own it
        selectors.appeal_get(actor=regulator, appeal_id=appeal.pk)
    services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW)
    with pytest.raises(InvalidTransition) as twice:
        services.appeal_sign(appeal_id=appeal.pk, actor=worker, now=NOW)
    assert twice.value.code == "appeal_signed"


def test_a_resident_raises_and_sees_only_their_own_households_appeals(
    city: dict[str, Any], resident: Actor, hotline: Actor
) -> None:
    mine = raise_(FREE, actor=resident)
    raise_(NEIGHBOURS, actor=hotline, contact_name="王小明", contact_phone="13800001234")
    with pytest.raises(NotFound) as refused:
        raise_(LOCKED, actor=resident)
    assert refused.value.code == "unknown_household"
    assert [a.id for a in selectors.appeals_list(actor=resident)] == [mine.pk]
    # The hotline sees every ticket, the caller's name and phone masked.
    seen = selectors.appeals_list(actor=hotline)
    assert len(seen) == 2
    assert seen[0].contact_phone != "13800001234" and "1234" in seen[0].contact_phone
    assert seen[0].contact_name != "王小明"


def test_bad_input_is_refused_in_the_users_language(city: dict[str, Any], hotline: Actor) -> None:
    with translation.override("zh-hans"), pytest.raises(InvalidInput) as refused:
        raise_(FREE, category="noise", actor=hotline)
    assert refused.value.code == "unknown_category"
    assert str(refused.value.message).startswith("类别")
    with pytest.raises(InvalidInput) as urgency:
        raise_(FREE, urgency="yesterday", actor=hotline)
    assert urgency.value.code == "unknown_urgency"
    assert not Appeal.objects.exists()


def test_the_sweep_escalates_overdue_tickets_level_by_level_and_audits_each(
    city: dict[str, Any], worker: Actor
) -> None:
    late = raise_(FREE, urgency="urgent")  # sign within 4 hours
    on_time = raise_(FREE, urgency="urgent")
    services.appeal_sign(appeal_id=on_time.pk, actor=worker, now=NOW + HOUR)
    swept = services.appeals_sweep(actor=SYSTEM, now=NOW + 4 * HOUR)
    assert (swept.escalated, swept.closed) == (1, 0)
    assert Appeal.objects.get(pk=late.pk).escalation_level == 1
    assert Appeal.objects.get(pk=on_time.pk).escalation_level == 0
    # Nothing more until the step passes; then the next level, and never past the top.
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 5 * HOUR).escalated == 0
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 8 * HOUR).escalated == 1
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 48 * HOUR).escalated == 1  # on_time's reply is due
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 96 * HOUR).escalated == 1
    assert Appeal.objects.get(pk=late.pk).escalation_level == 2
    assert AuditEntry.objects.filter(action="appeals.appeal.escalated", object_id=str(late.pk)).count() == 2
    levels = (
        AppealEvent.objects.filter(appeal=late, kind="escalated")
        .order_by("at")
        .values_list("level", flat=True)
    )
    assert list(levels) == [1, 2]
    figures = selectors.figures(actor=SYSTEM, now=NOW + 96 * HOUR, since=NOW)
    assert (figures.open, figures.overdue, figures.escalated) == (2, 2, 2)


def test_the_sweep_closes_a_ticket_whose_resident_stayed_silent(worker: Actor) -> None:
    appeal = raise_(FREE)
    services.appeal_reply(appeal_id=appeal.pk, text="已处理", actor=worker, now=NOW + HOUR)
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 72 * HOUR).closed == 0
    assert services.appeals_sweep(actor=SYSTEM, now=NOW + 73 * HOUR).closed == 1
    closed = Appeal.objects.get(pk=appeal.pk)
    assert (closed.state, closed.closed_at, closed.rating) == ("closed", NOW + 73 * HOUR, "")
    assert (
        AuditEntry.objects.filter(action="appeals.appeal.closed_silent", object_id=str(appeal.pk)).count()
        == 1
    )
    figures = selectors.figures(actor=SYSTEM, now=NOW + 73 * HOUR, since=NOW)
    assert (figures.closed, figures.closed_within_deadline_pct, figures.open) == (1, 100.0, 0)


def test_the_database_refuses_a_closed_ticket_without_its_closing_time(city: dict[str, Any]) -> None:
    appeal = raise_(FREE)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appeal.objects.filter(pk=appeal.pk).update(state="closed")
