"""Every write of risk zones: designation for a new case, the daily evaluation of their clocks,
screenings, and an officer's confirmation, rejection, adjustment or lift. Atomic and audited;
what follows what is decided by the pure rules of zones/rules.py."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bastion.cases import protocol as protocols
from bastion.cases.models import Case
from bastion.cases.selectors import household_isolating
from bastion.city.models import Compound, District
from bastion.city.selectors import PlaceRef, place_address
from bastion.core import audit, clock
from bastion.core.errors import InvalidInput, InvalidTransition
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.zones import reasons, rules
from bastion.zones.models import Level, Zone, ZoneCase, ZonePeriod, ZoneScreening, ZoneState
from bastion.zones.selectors import ACTIVE, place_of, zone_clock, zone_counts, zone_get


@dataclass(frozen=True)
class ZoneChange:
    zone: Zone
    what: str  # designated, proposed, raised, clock_restarted, linked


def _snapshot(zone: Zone) -> dict[str, object]:
    return {
        "level": zone.level,
        "state": zone.state,
        "step": zone.step,
        "clock_start": zone.clock_start.isoformat(),
    }


def _place(ref: PlaceRef) -> rules.Place:
    return rules.Place(
        compound=ref.compound_id,
        building=ref.building_id,
        unit=ref.unit_id,
        household=ref.household_id,
        shared=ref.shared_facilities,
    )


def _open_period(zone: Zone, day: date) -> None:
    ZonePeriod.objects.create(zone=zone, level=zone.level, district_id=zone.district_id, start_on=day)


def _close_period(zone: Zone, day: date) -> None:
    ZonePeriod.objects.filter(zone=zone, end_on__isnull=True).update(end_on=day)


def zones_designate_for_case(
    *,
    case: Case,
    residence: PlaceRef,
    frequent: list[PlaceRef],
    stayed: list[PlaceRef],
    actor: Actor,
    now: datetime,
) -> list[ZoneChange]:
    """Put at risk the areas a new case calls for, and restart the clocks of the zones it lies in.

    High risk at the smallest area the protocol allows that covers the residence and frequent
    places (a courtyard with shared facilities as a whole); medium risk, where the protocol has
    it, for the other places stayed. An area already covered by a zone of the same or a higher
    level gets no second zone; a zone over the same area at a lower level is raised. Zones are
    in force at once, or proposed for an officer to confirm where BASTION_ZONE_DESIGNATION is
    "proposed" or the area lies outside the actor's scope. Under dec2022 a case in a household
    where someone already isolates at home does not restart the clocks of the zones around
    that household. The compounds concerned are locked, so that two cases reported at once
    cannot both designate one area.
    """
    protocol = protocols.get(case.protocol)
    home = _place(residence)
    infected = [home, *(_place(p) for p in frequent)]
    proposals = rules.designate(
        protocol, residence=home, frequent=infected[1:], stayed=[_place(p) for p in stayed]
    )
    compounds = {p.compound for p in infected} | {p.place.compound for p in proposals}
    changes: list[ZoneChange] = []
    with transaction.atomic():
        # Two cases in one compound at once must not both designate the same unit: the compound
        # rows are the lock, taken in id order so that two designations cannot deadlock.
        owners = {
            pk: (district_id, community_id)
            for pk, district_id, community_id in Compound.objects.select_for_update()
            .filter(pk__in=compounds)
            .order_by("pk")
            .values_list("pk", "district_id", "community_id")
        }
        nearby = list(Zone.objects.select_for_update().filter(compound_id__in=compounds, state__in=ACTIVE))
        isolating: bool | None = None
        for zone in nearby:
            if not any(place_of(zone).contains(p) for p in infected):
                continue
            zone_protocol = protocols.get(zone.protocol)
            restart = True
            if rules.isolation_may_keep_clock(zone_protocol, zone=place_of(zone), home=home):
                if isolating is None:
                    isolating = household_isolating(
                        household_id=case.household_id, except_resident_id=case.resident_id
                    )
                restart = not isolating
            ZoneCase.objects.get_or_create(
                zone=zone, case=case, defaults={"at": now, "restarted_clock": restart}
            )
            restarted = (
                rules.clock_after_case(
                    zone_protocol,
                    level=zone.level,
                    step=zone.step,
                    clock_start=zone.clock_start,
                    reported_on=case.reported_on,
                )
                if restart
                else None
            )
            if restarted is None:
                changes.append(ZoneChange(zone, "linked"))
                continue
            before = _snapshot(zone)
            zone.clock_start = restarted.clock_start
            zone.step = restarted.step
            zone.save(update_fields=["clock_start", "step"])
            audit.record(
                action="zones.zone.clock_restarted",
                obj=zone,
                before=before,
                after=_snapshot(zone),
                reason=reasons.clock_restarted(case=case.pk),
                district_id=zone.district_id,
                actor=actor,
                now=now,
            )
            changes.append(ZoneChange(zone, "clock_restarted"))
        for proposal in proposals:
            covered = [
                z for z in nearby if rules.covers(zone=place_of(z), zone_level=z.level, proposal=proposal)
            ]
            if covered:
                for zone in covered:
                    ZoneCase.objects.get_or_create(
                        zone=zone, case=case, defaults={"at": now, "restarted_clock": False}
                    )
                continue
            same = [z for z in nearby if place_of(z) == proposal.place]
            if same:
                changes.append(
                    ZoneChange(_raise(same[0], proposal.level, case, protocol, actor, now), "raised")
                )
                continue
            # A place outside the reporting officer's area is proposed to the officers of its
            # own district, never put in force by someone who cannot see or lift it.
            in_scope = _covers(actor, *owners[proposal.place.compound])
            zone = _create(proposal, case, protocol, actor, now, automatic=in_scope)
            nearby.append(zone)
            changes.append(ZoneChange(zone, "designated" if zone.state == ZoneState.IN_FORCE else "proposed"))
    return changes


def _covers(actor: Actor, district_id: int, community_id: int) -> bool:
    if actor.level == ScopeLevel.CITY:
        return True
    if actor.level == ScopeLevel.DISTRICT:
        return actor.district_id == district_id
    if actor.level == ScopeLevel.COMMUNITY:
        return actor.community_id == community_id
    return False


def _create(
    proposal: rules.Proposal,
    case: Case,
    protocol: protocols.Protocol,
    actor: Actor,
    now: datetime,
    *,
    automatic: bool = True,
) -> Zone:
    place = proposal.place
    today = clock.local_date(now)
    automatic = automatic and settings.BASTION_ZONE_DESIGNATION == "automatic"
    address = place_address(
        compound_id=place.compound,
        building_id=place.building,
        unit_id=place.unit,
        household_id=place.household,
    )
    compound = Compound.objects.only("community_id", "district_id").get(pk=place.compound)
    reason = reasons.designated(level=proposal.level, protocol=protocol.code, area=place.area, case=case.pk)
    zone = Zone.objects.create(
        # A placeholder unique to this row until its id gives the real code: a shared one
        # ("") would make every other designation in the city wait on this transaction.
        code=f"new-{uuid.uuid4().hex}",
        level=proposal.level,
        state=ZoneState.IN_FORCE if automatic else ZoneState.PROPOSED,
        protocol=protocol.code,
        step=protocol.first_step(proposal.level).name,
        area=place.area,
        address=address,
        compound_id=place.compound,
        building_id=place.building,
        unit_id=place.unit,
        household_id=place.household,
        community_id=compound.community_id,
        district_id=compound.district_id,
        proposed_at=now,
        since=today if automatic else None,
        clock_start=case.reported_on,
        reason=reason,
        public_reason=reasons.designated(
            level=proposal.level, protocol=protocol.code, area=place.area, case=None
        ),
    )
    district_code = District.objects.values_list("code", flat=True).get(pk=compound.district_id)
    zone.code = f"{district_code}-{zone.pk:05d}"
    zone.households, zone.residents = zone_counts(zone)
    zone.counted_on = today
    zone.save(update_fields=["code", "households", "residents", "counted_on"])
    ZoneCase.objects.create(zone=zone, case=case, at=now)
    if automatic:
        _open_period(zone, today)
    audit.record(
        action="zones.zone.designated" if automatic else "zones.zone.proposed",
        obj=zone,
        after={**_snapshot(zone), "address": address, "residents": zone.residents},
        reason=zone.reason,
        district_id=zone.district_id,
        actor=actor,
        now=now,
    )
    return zone


def _raise(
    zone: Zone, level: str, case: Case, protocol: protocols.Protocol, actor: Actor, now: datetime
) -> Zone:
    today = clock.local_date(now)
    before = _snapshot(zone)
    raised = rules.clock_after_raise(
        protocols.get(zone.protocol), level=level, clock_start=zone.clock_start, reported_on=case.reported_on
    )
    zone.level = level
    zone.step = raised.step
    zone.clock_start = raised.clock_start
    zone.save(update_fields=["level", "step", "clock_start"])
    ZoneCase.objects.get_or_create(zone=zone, case=case, defaults={"at": now})
    if zone.state == ZoneState.IN_FORCE:
        _close_period(zone, today)
        _open_period(zone, today)
    audit.record(
        action="zones.zone.raised",
        obj=zone,
        before=before,
        after=_snapshot(zone),
        reason=reasons.raised(case=case.pk),
        district_id=zone.district_id,
        actor=actor,
        now=now,
    )
    return zone


def _zone_for_update(actor: Actor, zone_id: int) -> Zone:
    """The zone, its row locked until the end of the transaction, if the actor manages zones and
    it lies in their scope (404 otherwise)."""
    actor.require("manage_zones")
    zone_get(actor=actor, zone_id=zone_id)  # 404 outside the actor's scope
    return Zone.objects.select_for_update().get(pk=zone_id)


def zone_confirm(*, zone_id: int, actor: Actor, now: datetime) -> Zone:
    """An officer confirms a proposed zone: it is in force from today; its clock still counts
    from the day of its last infection."""
    today = clock.local_date(now)
    with transaction.atomic():
        zone = _zone_for_update(actor, zone_id)
        if not rules.may_move("zone", zone.state, ZoneState.IN_FORCE):
            raise InvalidTransition(_("Only a proposed zone can be confirmed."), code="not_proposed")
        before = _snapshot(zone)
        zone.state = ZoneState.IN_FORCE
        zone.since = today
        zone.save(update_fields=["state", "since"])
        _open_period(zone, today)
        audit.record(
            action="zones.zone.confirmed",
            obj=zone,
            before=before,
            after=_snapshot(zone),
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return zone


def _reason_required(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why."), code="reason_required")
    return reason


def zone_reject(*, zone_id: int, reason: str, actor: Actor, now: datetime) -> Zone:
    """An officer rejects a proposed zone, saying why: it never comes into force."""
    reason = _reason_required(reason)
    with transaction.atomic():
        zone = _zone_for_update(actor, zone_id)
        if not rules.may_move("zone", zone.state, ZoneState.REJECTED):
            raise InvalidTransition(_("Only a proposed zone can be rejected."), code="not_proposed")
        before = _snapshot(zone)
        zone.state = ZoneState.REJECTED
        zone.save(update_fields=["state"])
        audit.record(
            action="zones.zone.rejected",
            obj=zone,
            before=before,
            after=_snapshot(zone),
            reason=reason,
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return zone


def zone_lift(*, zone_id: int, reason: str, override: bool = False, actor: Actor, now: datetime) -> Zone:
    """An officer lifts a zone in force, saying why. Before its clock allows (its last step run
    out), only with `override`, and the lift is recorded as early."""
    reason = _reason_required(reason)
    today = clock.local_date(now)
    with transaction.atomic():
        zone = _zone_for_update(actor, zone_id)
        if not rules.may_move("zone", zone.state, ZoneState.LIFTED):
            raise InvalidTransition(_("Only a zone in force can be lifted."), code="not_in_force")
        timer = zone_clock(zone, today=today)
        allowed = timer is not None and rules.lift_on_time(to=timer.to, ready=timer.ready)
        if not allowed and not override:
            due = timer.due_on.isoformat() if timer else "?"
            raise InvalidTransition(
                _(
                    "The zone's clock has not run out (it may step down on %(day)s). Lift it early only "
                    "with an override and a reason."
                )
                % {"day": due},
                code="clock_running",
            )
        _lift(zone, today, reason, actor, now, early=not allowed)
    return zone


def _lift(zone: Zone, today: date, reason: str, actor: Actor, now: datetime, *, early: bool = False) -> None:
    before = _snapshot(zone)
    zone.state = ZoneState.LIFTED
    zone.level = Level.LOW
    zone.lifted_on = today
    zone.save(update_fields=["state", "level", "lifted_on"])
    _close_period(zone, today)
    audit.record(
        action="zones.zone.lifted_early" if early else "zones.zone.lifted",
        obj=zone,
        before=before,
        after=_snapshot(zone),
        reason=reason,
        district_id=zone.district_id,
        actor=actor,
        now=now,
    )


def zone_adjust(*, zone_id: int, level: str, reason: str, actor: Actor, now: datetime) -> Zone:
    """An officer sets an in-force zone's level (high ↔ medium where the protocol has both),
    saying why; the clock restarts today, lowered at the protocol's next step, else at the
    level's first step (rules.clock_after_adjustment)."""
    reason = _reason_required(reason)
    today = clock.local_date(now)
    with transaction.atomic():
        zone = _zone_for_update(actor, zone_id)
        protocol = protocols.get(zone.protocol)
        if level not in protocol.levels:
            raise InvalidInput(
                _("%(protocol)s has no %(level)s zones.")
                % {
                    "protocol": zone.protocol,
                    "level": Level(level).label if level in Level.values else level,
                },
                code="bad_level",
            )
        if zone.state != ZoneState.IN_FORCE or zone.level == level:
            raise InvalidTransition(
                _("Only a zone in force can change to another level."), code="not_adjustable"
            )
        before = _snapshot(zone)
        adjusted = rules.clock_after_adjustment(protocol, step=zone.step, level=level, today=today)
        zone.step = adjusted.step
        zone.level = level
        zone.clock_start = adjusted.clock_start
        zone.save(update_fields=["level", "step", "clock_start"])
        _close_period(zone, today)
        _open_period(zone, today)
        audit.record(
            action="zones.zone.adjusted",
            obj=zone,
            before=before,
            after=_snapshot(zone),
            reason=reason,
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return zone


def zone_screening_record(
    *, zone_id: int, on: date, all_negative: bool, sampled: int | None = None, actor: Actor, now: datetime
) -> ZoneScreening:
    """Record a full screening round of a proposed or in-force zone, on a day not in the future:
    whether it was all negative, which the zone's clock reads. The positive people it found are
    reported as cases on their own (case_open); nothing here opens a case."""
    actor.require("manage_zones")
    if on > clock.local_date(now):
        raise InvalidInput(_("A screening cannot be in the future."), code="screening_in_future")
    with transaction.atomic():
        zone = zone_get(actor=actor, zone_id=zone_id)
        if zone.state not in ACTIVE:
            raise InvalidTransition(_("This zone is no longer in force."), code="not_in_force")
        screening = ZoneScreening.objects.create(
            zone=zone, on=on, all_negative=all_negative, sampled=sampled, recorded_at=now
        )
        audit.record(
            action="zones.zone.screened",
            obj=zone,
            after={"on": on.isoformat(), "all_negative": all_negative, "sampled": sampled},
            district_id=zone.district_id,
            actor=actor,
            now=now,
        )
    return screening


@dataclass(frozen=True)
class Evaluation:
    examined: int
    lowered: int
    lifted: int
    changed: tuple[int, ...] = ()  # the zones lowered or lifted (their residents' codes follow)


def zones_evaluate(*, today: date, actor: Actor, now: datetime) -> Evaluation:
    """Lower or lift every in-force zone whose clock has run out today.

    The in-force zones are locked and read once with their screenings; the pure rules decide in
    memory; then, per kind of step run out, one UPDATE of the zones, one of their periods and
    one batch of audit rows, and one batch of new periods for those lowered. Idempotent: a
    second run the same day finds nothing due (the clock of a lowered zone restarts today).
    """
    with transaction.atomic():
        zones = list(
            Zone.objects.select_for_update()
            .filter(state=ZoneState.IN_FORCE)
            .values_list("id", "protocol", "step", "level", "clock_start", "district_id")
        )
        if not zones:
            return Evaluation(0, 0, 0)
        earliest = min(z[4] for z in zones)
        screenings: dict[int, list[tuple[date, bool]]] = defaultdict(list)
        for zone_id, on, negative in ZoneScreening.objects.filter(
            zone__state=ZoneState.IN_FORCE, on__gte=earliest, on__lte=today
        ).values_list("zone_id", "on", "all_negative"):
            screenings[zone_id].append((on, negative))
        # One group per kind of step down (its level, its next step, the step run out): one
        # UPDATE each. The step down of each protocol's step is worked out once, not per zone.
        steps_down: dict[tuple[str, str], rules.StepDown] = {}
        groups: dict[tuple[str, str, str], rules.StepDown] = {}
        due: dict[tuple[str, str, str], list[tuple[int, str, str, date, int]]] = defaultdict(list)
        for zone_id, code, step_name, level, clock_start, district_id in zones:
            step = protocols.get(code).steps[step_name]
            if rules.step_ready(step, clock_start=clock_start, today=today, screenings=screenings[zone_id]):
                down = steps_down.get((code, step_name))
                if down is None:
                    down = steps_down[(code, step_name)] = rules.step_down(step, today=today)
                group = (down.level, down.step or "", step_name)
                groups.setdefault(group, down)
                due[group].append((zone_id, level, step_name, clock_start, district_id))
        lowered = lifted = 0
        changed: list[int] = []
        periods: list[ZonePeriod] = []
        for group, items in due.items():
            down = groups[group]
            ids = [item[0] for item in items]
            changed += ids
            to, next_step = down.level, down.step or ""
            ZonePeriod.objects.filter(zone_id__in=ids, end_on__isnull=True).update(end_on=today)
            if down.lifted:
                Zone.objects.filter(pk__in=ids).update(state=ZoneState.LIFTED, level=to, lifted_on=today)
                lifted += len(ids)
                action = "zones.zone.lifted"
                reason = audit.city_text(gettext_noop("No new infection for the protocol's days: lifted."))
            else:
                Zone.objects.filter(pk__in=ids).update(level=to, step=next_step, clock_start=down.clock_start)
                periods += [
                    ZonePeriod(zone_id=i[0], level=to, district_id=i[4], start_on=today) for i in items
                ]
                lowered += len(ids)
                action = "zones.zone.lowered"
                reason = audit.city_text(gettext_noop("No new infection for the protocol's days: lowered."))
            audit.record_many(
                action=action,
                object_type="zones.zone",
                changes=[
                    audit.Change(
                        zone_id,
                        {"level": level, "step": step, "clock_start": start.isoformat()},
                        {"level": to, "step": next_step or None, "clock_start": today.isoformat()},
                        district_id,
                    )
                    for zone_id, level, step, start, district_id in items
                ],
                reason=reason,
                actor=actor,
                now=now,
            )
        ZonePeriod.objects.bulk_create(periods, batch_size=2000)
    return Evaluation(len(zones), lowered, lifted, tuple(changed))
