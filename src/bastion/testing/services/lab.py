"""The lab's side of a tube: received (sealed from then on), then resulted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from bastion.core import audit
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.scopes import Actor
from bastion.testing import rules
from bastion.testing.models import IssueKind, Lab, Recall, RecallState, Result, Scan, Tube
from bastion.testing.services.refusals import lists_refusals, refusal
from bastion.testing.sql import bulk_loads_wait


@lists_refusals
def tube_receive(*, barcode: str, lab_code: str, received_at: datetime, actor: Actor, now: datetime) -> Tube:
    """A lab receives a tube: it is sealed from then on. Receiving it again changes nothing."""
    actor.require("record_results")
    lab = Lab.objects.filter(code=lab_code).first()
    if lab is None:
        raise NotFound(_("There is no such laboratory."), code="unknown_lab")
    with transaction.atomic():
        bulk_loads_wait()
        tube = Tube.objects.select_for_update().filter(barcode=barcode.strip()).first()
        if tube is None:
            raise refusal(
                NotFound,
                round_id=None,
                kind=IssueKind.UNKNOWN_TUBE,
                message=_("There is no tube with this barcode."),
                detail={"tube": barcode, "lab": lab_code},
                source="receipt",
                now=now,
            )
        if tube.received_at is None:
            tube.lab_id = lab.pk
            tube.received_at = received_at
            tube.sealed_at = tube.sealed_at or received_at
            tube.save(update_fields=["lab", "received_at", "sealed_at"])
            audit.record(
                action="testing.tube.received",
                obj=tube,
                after={"lab": lab.code, "received_at": received_at.isoformat()},
                district_id=tube.district_id,
                actor=actor,
                now=now,
            )
    return tube


@dataclass(frozen=True)
class TubeResulted:
    tube: Tube
    repeated: bool
    recalled: list[int]  # residents recalled for a single-tube retest
    positives: list[int]  # residents whose own single tube is positive: cases to open
    cleared: list[int]  # recalls closed negative


@lists_refusals
def tube_result(
    *,
    barcode: str,
    result: str,
    resulted_at: datetime,
    ct_values: dict[str, float] | None = None,
    lab_code: str | None = None,
    actor: Actor,
    now: datetime,
) -> TubeResulted:
    """A tube's result, and what it triggers (`rules.result_effect`). Negative clears its
    members. A positive or invalid pool recalls every member for a single-tube retest (isolated
    in place until then). A positive single tube names a case to open (the flow opens it). The
    same result sent again changes nothing; a different one for a resulted tube is refused
    (`rules.ALLOWED_TRANSITIONS`) and listed."""
    actor.require("record_results")
    if result not in (Result.NEGATIVE, Result.POSITIVE, Result.INVALID):
        raise InvalidInput(_("A result is negative, positive or invalid."), code="bad_result")
    lab = Lab.objects.filter(code=lab_code).first() if lab_code else None
    if lab_code and lab is None:
        raise NotFound(_("There is no such laboratory."), code="unknown_lab")
    # A lab system retrying the same refused result is listed once.
    detail = {"tube": barcode, "result": result, "client_key": f"{barcode.strip()}:{result}"}
    with transaction.atomic():
        bulk_loads_wait()
        tube = Tube.objects.select_for_update().filter(barcode=barcode.strip()).first()
        if tube is None:
            raise refusal(
                NotFound,
                round_id=None,
                kind=IssueKind.UNKNOWN_TUBE,
                message=_("There is no tube with this barcode."),
                detail=detail,
                source=f"result {detail['client_key']}",
                now=now,
            )
        if tube.result == result:  # the lab's retry
            return TubeResulted(tube, True, [], [], [])
        if not rules.may_move("tube", tube.result, result):
            raise refusal(
                Conflict,
                round_id=tube.round_id,
                kind=IssueKind.ALREADY_RESULTED,
                message=_("This tube already has another result."),
                detail={**detail, "first": tube.result},
                source=f"result {detail['client_key']}",
                now=now,
            )
        tube.result = result
        tube.resulted_at = resulted_at
        tube.ct_values = ct_values
        tube.sealed_at = tube.sealed_at or resulted_at
        if lab is not None and tube.lab_id is None:
            tube.lab_id = lab.pk
            tube.received_at = tube.received_at or resulted_at
        tube.save(update_fields=["result", "resulted_at", "ct_values", "sealed_at", "lab", "received_at"])
        members = list(
            Scan.objects.filter(tube_id=tube.pk).values_list(
                "resident_id", "household_id", "grid_id", "district_id"
            )
        )
        member_ids = [m[0] for m in members]
        effect = rules.result_effect(result=result, retest=tube.retest, ratio=tube.ratio)
        recalled: list[int] = []
        if effect.recalls == rules.RECALL_CLOSE:
            Recall.objects.filter(
                round_id=tube.round_id, resident_id__in=member_ids, state=RecallState.OPEN
            ).update(state=RecallState.RETESTED, result=result, closed_at=resulted_at)
        elif effect.recalls == rules.RECALL_REOPEN:  # sampled again: the recall stays open, tubeless
            Recall.objects.filter(round_id=tube.round_id, resident_id__in=member_ids).update(
                state=RecallState.OPEN, result="", closed_at=None, retest_tube_id=None
            )
            recalled = member_ids
        elif effect.recalls == rules.RECALL_OPEN:
            already = set(
                Recall.objects.filter(round_id=tube.round_id, resident_id__in=member_ids).values_list(
                    "resident_id", flat=True
                )
            )
            Recall.objects.bulk_create(
                [
                    Recall(
                        round_id=tube.round_id,
                        resident_id=resident_id,
                        household_id=household_id,
                        grid_id=grid_id,
                        district_id=district_id,
                        tube_id=tube.pk,
                        reason=result,
                        opened_at=resulted_at,
                    )
                    for resident_id, household_id, grid_id, district_id in members
                    if resident_id not in already
                ]
            )
            recalled = [m for m in member_ids if m not in already]
        positives = member_ids if effect.cases else []
        cleared = member_ids if effect.cleared else []
        audit.record(
            action="testing.tube.resulted",
            obj=tube,
            after={
                "result": result,
                "members": len(members),
                "recalled": len(recalled),
                "positives": positives,
            },
            district_id=tube.district_id,
            actor=actor,
            now=now,
        )
    return TubeResulted(tube, False, recalled, positives, cleared)
