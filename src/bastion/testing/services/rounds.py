"""Rounds of mass testing: opened over the city, some districts, places or one zone; closed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.city.models import District
from bastion.city.selectors import PlaceRef
from bastion.core import audit
from bastion.core.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.testing import policy as policies
from bastion.testing import rules
from bastion.testing.models import Round, RoundArea, RoundState
from bastion.testing.sql import bulk_loads_wait
from bastion.zones.models import Level, Zone


def round_open(
    *,
    code: str,
    starts_at: datetime,
    deadline: datetime,
    name: str = "",
    district_ids: Sequence[int] = (),
    zone_id: int | None = None,
    places: Sequence[PlaceRef] = (),
    pooling: dict[str, dict[str, Any]] | None = None,
    actor: Actor,
    now: datetime,
) -> Round:
    """Open a round over the city, some districts, or one zone (its full screening).

    Pooling defaults to the policy file's ratios per zone level. A district officer opens
    rounds of their own district only.
    """
    actor.require("manage_testing")
    code = code.strip()
    if not code:
        raise InvalidInput(_("A round needs a code."), code="code_required")
    if deadline <= starts_at:
        raise InvalidInput(_("The deadline must come after the start."), code="deadline_before_start")
    rules_policy = policies.policy()
    chosen = pooling or rules_policy.pooling_json()
    for level in ("high", "medium", "low"):
        ratio = (chosen.get(level) or {}).get("ratio")
        if ratio not in rules_policy.validated_ratios:
            raise InvalidInput(
                _("The pooling ratio for %(level)s must be one of %(ratios)s.")
                % {"level": Level(level).label, "ratios": ", ".join(map(str, rules_policy.validated_ratios))},
                code="bad_pooling",
            )
    zone = Zone.objects.filter(pk=zone_id).first() if zone_id is not None else None
    if zone_id is not None and zone is None:
        raise NotFound(_("There is no such zone."), code="unknown_zone")
    districts = list(District.objects.filter(pk__in=district_ids))
    if len(districts) != len(set(district_ids)):
        raise NotFound(_("There is no such district."), code="unknown_district")
    if actor.level != ScopeLevel.CITY:
        owned = (
            [d.pk for d in districts] + ([zone.district_id] if zone else []) + [p.district_id for p in places]
        )
        if not owned or any(d != actor.district_id for d in owned):
            raise NotFound(_("Open rounds of your own district only."), code="outside_scope")
    with transaction.atomic():
        try:
            round_ = Round.objects.create(
                code=code,
                name=name,
                starts_at=starts_at,
                deadline=deadline,
                pooling=chosen,
                opened_at=now,
                zone=zone,
            )
        except IntegrityError:
            raise Conflict(_("A round with this code exists."), code="round_exists") from None
        if zone is not None:
            RoundArea.objects.create(
                round=round_,
                district_id=zone.district_id,
                compound_id=zone.compound_id,
                building_id=zone.building_id,
                unit_id=zone.unit_id,
                household_id=zone.household_id,
            )
        for district in districts:
            RoundArea.objects.create(round=round_, district=district)
        for place in places:
            RoundArea.objects.create(
                round=round_,
                district_id=place.district_id,
                compound_id=place.compound_id,
                building_id=place.building_id,
                unit_id=place.unit_id,
                household_id=place.household_id,
            )
        audit.record(
            action="testing.round.opened",
            obj=round_,
            after={
                "code": code,
                "zone": zone.code if zone else None,
                "districts": [d.code for d in districts],
                "places": [p.address for p in places],
                "pooling": chosen,
                "deadline": deadline.isoformat(),
            },
            actor=actor,
            now=now,
        )
    return round_


def round_close(*, round_: Round, reason: str = "", actor: Actor, now: datetime) -> Round:
    """Close a round: scans made from now on are refused (those made before still come in from
    devices that were offline, and results keep coming). Before the deadline it takes a reason.
    A district officer closes rounds of their own district only. Audited."""
    actor.require("manage_testing")
    if actor.level != ScopeLevel.CITY:
        districts = set(RoundArea.objects.filter(round=round_).values_list("district_id", flat=True))
        if districts != {actor.district_id}:
            raise NotFound(_("Close rounds of your own district only."), code="outside_scope")
    reason = reason.strip()
    if now < round_.deadline and not reason:
        raise InvalidInput(_("Closing a round before its deadline needs a reason."), code="reason_required")
    with transaction.atomic():
        # The lock orders this against a bulk chunk (it holds the round for its whole chunk).
        bulk_loads_wait()
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if not rules.may_move("round", locked.state, RoundState.CLOSED):
            raise InvalidTransition(_("This round is already closed."), code="round_closed")
        locked.state = RoundState.CLOSED
        locked.closed_at = now
        locked.save(update_fields=["state", "closed_at"])
        audit.record(
            action="testing.round.closed",
            obj=locked,
            before={"state": str(RoundState.OPEN)},
            after={"state": str(RoundState.CLOSED), "closed_at": now.isoformat(), "reason": reason},
            actor=actor,
            now=now,
        )
    return locked


def scan_time_problem(round_: Round, scanned_at: datetime) -> tuple[str, Any] | None:
    """Why a scan made at `scanned_at` is outside the round's time (`rules.outside_time`), as
    (code, message); None when inside. Before the start, or at or after the round's closing."""
    why = rules.outside_time(scanned_at=scanned_at, starts_at=round_.starts_at, closed_at=round_.closed_at)
    if why == rules.BEFORE_START:
        return why, _("This scan is earlier than the round's start.")
    if why == rules.AFTER_CLOSE:
        return why, _("The round was closed before this scan.")
    return None


def round_deadline_pass(*, round_id: int, actor: Actor, now: datetime) -> bool:
    """Record that the platform acted on a round's deadline (flows.rounds_due: those unsampled
    turn yellow). Once per round: False when it was already recorded or the deadline is ahead."""
    with transaction.atomic():
        taken = Round.objects.filter(pk=round_id, deadline__lte=now, deadline_passed_at__isnull=True).update(
            deadline_passed_at=now
        )
        if taken:
            audit.record(
                action="testing.round.deadline_passed",
                object_type="testing.round",
                object_id=round_id,
                after={"deadline_passed_at": now.isoformat()},
                actor=actor,
                now=now,
            )
    return bool(taken)
