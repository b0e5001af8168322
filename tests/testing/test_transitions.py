"""Testing's states move only as `rules.ALLOWED_TRANSITIONS` says: a round is closed once; a
tube takes one result; a recall is closed by its retest. Every allowed move works through the
services, every other is refused with a domain error (a lab's retry of the same result is not a
move: it changes nothing)."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from bastion.city.models import Resident
from bastion.core.errors import Conflict, DomainError, InvalidTransition
from bastion.core.scopes import SYSTEM
from bastion.testing import rules, services
from bastion.testing.models import Recall, RecallState, Result, Round, RoundState, Scan, Tube
from tests.conftest import NOW

LATER = NOW + timedelta(hours=30)  # past the deadline: closing needs no reason
STATES = {
    "round": [str(s) for s in RoundState],
    "tube": [str(s) for s in Result],
    "recall": [str(s) for s in RecallState],
}


def test_the_map_names_every_state_and_only_states() -> None:
    for machine, states in STATES.items():
        moves = rules.ALLOWED_TRANSITIONS[machine]
        assert set(moves) == set(states), machine
        assert set().union(*moves.values()) <= set(states), machine


def test_the_map_allows_what_the_product_does_and_nothing_else() -> None:
    allowed = {
        (machine, before, after)
        for machine, states in STATES.items()
        for before, after in itertools.product(states, states)
        if rules.may_move(machine, before, after)
    }
    assert allowed == {
        ("round", "open", "closed"),
        ("tube", "", "negative"),
        ("tube", "", "positive"),
        ("tube", "", "invalid"),
        ("recall", "open", "retested"),
    }


def _round(code: str) -> Round:
    return services.round_open(
        code=code, starts_at=NOW, deadline=NOW + timedelta(days=1), actor=SYSTEM, now=NOW
    )


@pytest.mark.django_db
def test_a_round_is_closed_once(city: Any) -> None:
    round_ = _round("R1")
    closed = services.round_close(round_=round_, actor=SYSTEM, now=LATER)
    assert closed.state == RoundState.CLOSED
    with pytest.raises(InvalidTransition) as again:
        services.round_close(round_=closed, actor=SYSTEM, now=LATER)
    assert again.value.code == "round_closed"
    assert Round.objects.get(pk=round_.pk).closed_at == LATER  # the first closing stands


def _tube(round_: Round, barcode: str, *, retest: bool = False) -> tuple[Tube, Resident]:
    person = Resident.objects.select_related("household").order_by("pk").first()
    assert person is not None
    home = person.household
    tube = Tube.objects.create(
        round=round_, barcode=barcode, ratio=1 if retest else 10, retest=retest, members=1, first_scan_at=NOW
    )
    Scan.objects.create(
        round=round_,
        tube=tube,
        resident=person,
        household=home,
        grid_id=home.grid_id,
        district_id=home.district_id,
        retest=retest,
        scanned_at=NOW,
    )
    return tube, person


@pytest.mark.django_db
@pytest.mark.parametrize("first", ["negative", "positive", "invalid"])
def test_a_tube_takes_one_result_and_refuses_another(city: Any, first: str) -> None:
    round_ = _round("R1")
    _tube(round_, "T1")
    assert not services.tube_result(
        barcode="T1", result=first, resulted_at=NOW, actor=SYSTEM, now=NOW
    ).repeated
    retry = services.tube_result(barcode="T1", result=first, resulted_at=LATER, actor=SYSTEM, now=LATER)
    assert retry.repeated and retry.tube.resulted_at == NOW
    for other in {"negative", "positive", "invalid"} - {first}:
        with pytest.raises(Conflict) as refused:
            services.tube_result(barcode="T1", result=other, resulted_at=LATER, actor=SYSTEM, now=LATER)
        assert refused.value.code == "already_resulted"
    with pytest.raises(DomainError):  # back to pending: no result at all
        services.tube_result(barcode="T1", result="", resulted_at=LATER, actor=SYSTEM, now=LATER)
    assert Tube.objects.get(barcode="T1").result == first


@pytest.mark.django_db
@pytest.mark.parametrize("retest_result", ["negative", "positive"])
def test_a_recall_is_closed_by_its_retest_and_stays_closed(city: Any, retest_result: str) -> None:
    round_ = _round("R1")
    _pool, person = _tube(round_, "P1")
    services.tube_result(barcode="P1", result="positive", resulted_at=NOW, actor=SYSTEM, now=NOW)
    recall = Recall.objects.get(round=round_, resident=person)
    assert recall.state == RecallState.OPEN
    retest_tube = Tube.objects.create(
        round=round_, barcode="S1", ratio=1, retest=True, members=1, first_scan_at=NOW
    )
    Scan.objects.create(
        round=round_,
        tube=retest_tube,
        resident=person,
        household_id=recall.household_id,
        grid_id=recall.grid_id,
        district_id=recall.district_id,
        retest=True,
        scanned_at=NOW,
    )
    Recall.objects.filter(pk=recall.pk).update(retest_tube=retest_tube)
    services.tube_result(barcode="S1", result=retest_result, resulted_at=NOW, actor=SYSTEM, now=NOW)
    assert Recall.objects.get(pk=recall.pk).state == RecallState.RETESTED
    # Closed: no later result of its retest tube reopens or changes it.
    with pytest.raises(Conflict):
        services.tube_result(barcode="S1", result="invalid", resulted_at=LATER, actor=SYSTEM, now=LATER)
    assert (Recall.objects.get(pk=recall.pk).state, Recall.objects.get(pk=recall.pk).result) == (
        RecallState.RETESTED,
        retest_result,
    )
