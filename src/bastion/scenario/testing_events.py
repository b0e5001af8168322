"""Scenario events and the observation of mass testing (SCENARIOS.md, "Mass testing").

Events: round, sample, tube_result, results, retest, and the zones' `screening`, which is a
real round of the zone: everyone in it sampled, every tube resulted, the zone's clock reading
the outcome through the same flow as production.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from bastion import flows
from bastion.city.models import Resident
from bastion.city.selectors import households_within, place_by_address, resident_by_address
from bastion.core import clock
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.scopes import SYSTEM
from bastion.scenario.runner import Context, event, observation
from bastion.scenario.spec import Event
from bastion.testing import rules
from bastion.testing import selectors as testing_selectors
from bastion.testing import services as testing
from bastion.testing.models import Recall, Result, Round, Scan, Tube
from bastion.testing.policy import policy
from bastion.zones import selectors as zone_selectors

ROUND_HOURS = 24


def _round(ctx: Context, code: Any) -> Round:
    found = Round.objects.filter(code=str(code)).first()
    if found is None:
        raise NotFound(f"there is no round {code}", code="unknown_round")
    return found


def _resident(address: Any) -> Resident:
    if not isinstance(address, str):
        raise InvalidInput("resident must be an address like C1/2/1/301#1", code="bad_resident")
    try:
        return resident_by_address(address)
    except NotFound:
        raise NotFound(f"there is no resident {address}", code="unknown_resident") from None


def _pooling(ratio: Any) -> dict[str, dict[str, Any]] | None:
    if ratio is None:
        return None
    if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio not in policy().validated_ratios:
        raise InvalidInput(
            f"pooling must be one of {', '.join(map(str, policy().validated_ratios))}", code="bad_pooling"
        )
    chosen = policy().pooling_json()
    for level in ("medium", "low"):
        chosen[level] = {"ratio": ratio, "per_household": False}
    return chosen


@event("round")
def _open_round(ctx: Context, ev: Event) -> None:
    body = ev.body
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise InvalidInput("code must name the round, like R1", code="code_required")
    scope = body.get("scope", "city")
    places = [] if scope == "city" else [place_by_address(str(scope))]
    now = ctx.clock.now()
    testing.round_open(
        code=code,
        starts_at=now,
        deadline=now + timedelta(hours=ROUND_HOURS),
        places=places,
        pooling=_pooling(body.get("pooling")),
        actor=SYSTEM,
        now=now,
    )


def _sample(round_: Round, residents: list[Resident], at_prefix: str, now: Any) -> int:
    """Scan `residents` into new tubes of the round's ratios, households together where they fit."""
    people = []
    for resident in residents:
        ratio, per_household = rules.pooling_for(
            round_.pooling, zone_selectors.level_of_household(household_id=resident.household_id)
        )
        people.append(rules.Person(resident.pk, resident.household_id, ratio, per_household))
    start = Tube.objects.filter(round=round_).count()
    for n, members in enumerate(rules.pool(people), start=start + 1):
        for resident_id in members:
            testing.scan_record(
                round_id=round_.pk,
                resident_id=resident_id,
                tube_barcode=f"{at_prefix}-{n:06d}",
                scanned_at=now,
                sampler="scenario",
                actor=SYSTEM,
                now=now,
            )
    return len(people)


@event("sample")
def _sample_event(ctx: Context, ev: Event) -> None:
    body = ev.body
    round_ = _round(ctx, body.get("round"))
    within = body.get("within")
    if not isinstance(within, str):
        raise InvalidInput("within must be an address like C1 or C1/2", code="bad_within")
    place = place_by_address(within)
    fraction = body.get("fraction", 1.0)
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise InvalidInput("fraction must be a share above 0 and at most 1", code="bad_fraction")
    households = households_within(
        compound_id=place.compound_id,
        building_id=place.building_id,
        unit_id=place.unit_id,
        household_id=place.household_id,
    )
    already = Scan.objects.filter(round=round_, retest=False).values("resident_id")
    candidates = list(
        Resident.objects.filter(household__in=households.values("pk"))
        .exclude(pk__in=already)
        .select_related("household")
        .order_by("household__address", "number")
    )
    seed = body.get("seed", 1)
    rng = random.Random(seed if isinstance(seed, int) else 1)  # noqa: S311 - a rehearsal, not a secret
    chosen = sorted(
        rng.sample(candidates, round(len(candidates) * fraction)),
        key=lambda r: (r.household.address, r.number),
    )
    _sample(round_, chosen, round_.code, ctx.clock.now())


def _tube_of(round_: Round, resident: Resident) -> Tube:
    scan = Scan.objects.filter(round=round_, resident=resident).order_by("-retest", "-scanned_at").first()
    if scan is None:
        raise NotFound(
            f"{resident.household.address}#{resident.number} was not sampled in {round_.code}",
            code="not_sampled",
        )
    return Tube.objects.get(pk=scan.tube_id)


def _result(value: Any) -> str:
    if value not in (Result.NEGATIVE, Result.POSITIVE, Result.INVALID):
        raise InvalidInput("result must be negative, positive or invalid", code="bad_result")
    return str(value)


@event("tube_result")
def _tube_result(ctx: Context, ev: Event) -> None:
    body = ev.body
    round_ = _round(ctx, body.get("round"))
    tube = _tube_of(round_, _resident(body.get("containing")))
    now = ctx.clock.now()
    flows.tube_resulted(
        barcode=tube.barcode, result=_result(body.get("result")), resulted_at=now, actor=SYSTEM, now=now
    )


@event("results")
def _results(ctx: Context, ev: Event) -> None:
    body = ev.body
    round_ = _round(ctx, body.get("round"))
    result = _result(body.get("rest", Result.NEGATIVE))
    now = ctx.clock.now()
    for barcode in (
        testing_selectors.pending_tubes(round_).order_by("barcode").values_list("barcode", flat=True)
    ):
        flows.tube_resulted(barcode=barcode, result=result, resulted_at=now, actor=SYSTEM, now=now)


@event("retest")
def _retest(ctx: Context, ev: Event) -> None:
    body = ev.body
    resident = _resident(body.get("resident"))
    recall = Recall.objects.filter(resident=resident, state="open").order_by("-opened_at").first()
    if recall is None:
        raise NotFound(f"{body.get('resident')} has no recall awaiting a retest", code="no_recall")
    round_ = Round.objects.get(pk=recall.round_id)
    now = ctx.clock.now()
    barcode = f"{round_.code}-RT-{resident.pk}-{Tube.objects.filter(round=round_, retest=True).count() + 1}"
    testing.scan_record(
        round_id=round_.pk,
        resident_id=resident.pk,
        tube_barcode=barcode,
        scanned_at=now,
        retest=True,
        actor=SYSTEM,
        now=now,
    )
    flows.tube_resulted(
        barcode=barcode,
        result=_result(body.get("result", "negative")),
        resulted_at=now,
        actor=SYSTEM,
        now=now,
    )


@event("screening")
def _screening(ctx: Context, ev: Event) -> None:
    """A full round of each zone around the resident: everyone sampled, every tube resulted."""
    body = ev.body
    resident = _resident(body.get("zone_of"))
    result = body.get("result", "negative")
    if result not in ("negative", "positive"):
        raise InvalidInput("result must be negative or positive", code="bad_result")
    zones = list(zone_selectors.zones_of_household(household_id=resident.household_id))
    if not zones:
        raise NotFound(f"no zone is in force around {body['zone_of']}", code="no_zone")
    now = ctx.clock.now()
    for zone in zones:
        code = f"S-{zone.code}-{clock.local_date(now):%m%d}-{ev.index}"
        round_ = testing.round_open(
            code=code,
            starts_at=now,
            deadline=now + timedelta(hours=ROUND_HOURS),
            zone_id=zone.pk,
            actor=SYSTEM,
            now=now,
        )
        residents = list(
            Resident.objects.filter(household__in=zone_selectors.zone_households(zone).values("pk"))
            .select_related("household")
            .order_by("household__address", "number")
        )
        _sample(round_, residents, code, now)
        barcodes = list(
            testing_selectors.pending_tubes(round_).order_by("barcode").values_list("barcode", flat=True)
        )
        for n, barcode in enumerate(barcodes):
            outcome = Result.POSITIVE if result == "positive" and n == 0 else Result.NEGATIVE
            flows.tube_resulted(barcode=barcode, result=outcome, resulted_at=now, actor=SYSTEM, now=now)


@observation("testing")
def _observe_testing(ctx: Context, day: int, today: date) -> dict[str, Any]:
    rounds = Round.objects.filter(zone__isnull=True).order_by("starts_at", "code")
    return {"testing": {"rounds": [testing_selectors.observation(r) for r in rounds]}}
