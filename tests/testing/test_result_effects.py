"""What a tube's result triggers is one rule (`testing.rules.result_effect`): a lab's single result
and a lab's file of results must both do, for every case of the rule's table, what it says."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bastion.city.models import Resident
from bastion.core.scopes import SYSTEM
from bastion.testing import ingest, rules, services
from bastion.testing.models import Recall, RecallState, Round, Scan, Tube
from tests.conftest import NOW

RESULTED_AT = NOW + timedelta(hours=5)


def test_the_rule_gives_every_effect_of_its_table() -> None:
    decided = {
        name: rules.result_effect(result=result, retest=retest, ratio=ratio)
        for name, result, retest, ratio, _effect in rules.RESULT_CASES
    }
    assert decided == {name: effect for name, _r, _t, _ratio, effect in rules.RESULT_CASES}


def _arrange(number: int, retest: bool, ratio: int) -> tuple[Round, str, int]:
    """A round with one tube of one member (a retest: the member recalled, the retest sampled)."""
    person = Resident.objects.select_related("household").filter(household__compound__code="C1").first()
    assert person is not None
    home = person.household
    round_ = services.round_open(
        code=f"E{number}", starts_at=NOW, deadline=NOW + timedelta(days=1), actor=SYSTEM, now=NOW
    )
    places = {"household_id": home.pk, "grid_id": home.grid_id, "district_id": home.district_id}

    def tube(barcode: str, *, ratio: int, retest: bool, result: str = "") -> Tube:
        made = Tube.objects.create(
            round=round_,
            barcode=barcode,
            ratio=ratio,
            retest=retest,
            members=1,
            first_scan_at=NOW,
            district_id=home.district_id,
            grid_id=home.grid_id,
            result=result,
        )
        Scan.objects.create(round=round_, tube=made, resident=person, retest=retest, scanned_at=NOW, **places)
        return made

    barcode = f"E{number}"
    if retest:
        pool = tube(f"E{number}-pool", ratio=10, retest=False, result="positive")
        retest_tube = tube(barcode, ratio=1, retest=True)
        Recall.objects.create(
            round=round_,
            resident=person,
            tube=pool,
            reason="positive",
            opened_at=NOW,
            retest_tube=retest_tube,
            **places,
        )
    else:
        tube(barcode, ratio=ratio, retest=False)
    return round_, barcode, person.pk


def _observed(
    round_: Round, person: int, *, recalled_before: bool, positives: list[int]
) -> rules.ResultEffect:
    recall = Recall.objects.filter(round=round_, resident_id=person).first()
    if recall is None:
        recalls = rules.RECALL_NONE
    elif not recalled_before:
        recalls = rules.RECALL_OPEN if recall.state == RecallState.OPEN else "opened closed"
    elif recall.state == RecallState.RETESTED:
        recalls = rules.RECALL_CLOSE
    else:
        recalls = rules.RECALL_REOPEN if recall.retest_tube_id is None else rules.RECALL_NONE
    cleared = recall is not None and recall.state == RecallState.RETESTED and recall.result == "negative"
    return rules.ResultEffect(recalls, cases=person in positives, cleared=cleared)


def _decided_by(path: Callable[[str, str], list[int]]) -> dict[str, rules.ResultEffect]:
    decided = {}
    for number, (name, result, retest, ratio, _effect) in enumerate(rules.RESULT_CASES):
        round_, barcode, person = _arrange(number, retest, ratio)
        positives = path(barcode, result)
        decided[name] = _observed(round_, person, recalled_before=retest, positives=positives)
    return decided


EXPECTED = {name: effect for name, _r, _t, _ratio, effect in rules.RESULT_CASES}


def test_a_labs_single_result_does_what_the_rule_says(city: Any) -> None:
    def resulted(barcode: str, result: str) -> list[int]:
        outcome = services.tube_result(
            barcode=barcode, result=result, resulted_at=RESULTED_AT, actor=SYSTEM, now=RESULTED_AT
        )
        return outcome.positives

    assert _decided_by(resulted) == EXPECTED


def test_a_labs_file_of_results_does_what_the_rule_says(city: Any) -> None:
    def loaded(barcode: str, result: str) -> list[int]:
        positives: list[int] = []
        data = f"tube,result,resulted_at\n{barcode},{result},{RESULTED_AT.isoformat()}\n".encode()
        report = ingest.results_load(
            file=io.BytesIO(data),
            filename=f"{barcode}.csv",
            on_chunk=lambda chunk: positives.extend(p.resident_id for p in chunk.positives),
            actor=SYSTEM,
            now=RESULTED_AT,
        )
        assert report.taken == 1
        return positives

    assert _decided_by(loaded) == EXPECTED
