"""The dispatcher's assignment (a destination with a free bed of the right kind, then a
vehicle), the crews' confirmations in a tabletop exercise, the end of contacts' stays, and
overdue transfers flagged."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bastion.core import audit, clock
from bastion.core.audit import Change
from bastion.core.errors import Forbidden
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.sql import Lock, advisory_lock
from bastion.transfer import policy as policies
from bastion.transfer import rules
from bastion.transfer import sql as transfer_sql
from bastion.transfer.models import (
    BedPool,
    Facility,
    FacilityKind,
    Transfer,
    TransferReason,
    TransferState,
    TransferVehicle,
)
from bastion.transfer.policy import Admission, Policy
from bastion.transfer.services.ending import end_with_carers


@dataclass(frozen=True)
class Assignment:
    destinations: int  # people given a destination and a bed
    vehicles: int  # people given a vehicle and a seat
    without_bed: int  # people for whom no place had a free bed of their kind
    without_vehicle: int  # people with a bed waiting for a vehicle


class _Beds:
    """The free numbered beds of every pool, as of now, under the assignment's lock."""

    def __init__(self) -> None:
        self.pools = {p.pk: p for p in BedPool.objects.select_for_update().filter(facility__active=True)}
        held: dict[int, set[int]] = defaultdict(set)
        for pool_id, bed in Transfer.objects.filter(holds_bed=True).values_list("pool_id", "bed"):
            if pool_id is not None and bed is not None:
                held[pool_id].add(bed)
        self.held = held
        self.by_facility: dict[int, dict[str, BedPool]] = defaultdict(dict)
        for pool in self.pools.values():
            self.by_facility[pool.facility_id][pool.kind] = pool
        self.next = dict.fromkeys(self.pools, 1)

    def free(self, facility_id: int, kind: str) -> int:
        pool = self.by_facility[facility_id].get(kind)
        return 0 if pool is None else pool.capacity - len(self.held[pool.pk])

    def take(self, facility_id: int, kind: str) -> tuple[BedPool, int]:
        pool = self.by_facility[facility_id][kind]
        bed = self.next[pool.pk]
        while bed in self.held[pool.pk]:
            bed += 1
        self.held[pool.pk].add(bed)
        self.next[pool.pk] = bed + 1
        return pool, bed


def _admission(t: Transfer, by_id: dict[int, Transfer], policy: Policy) -> Admission:
    if t.reason == TransferReason.CARER and t.carer_of_id is not None:
        cared = by_id.get(t.carer_of_id) or t.carer_of
        if cared is not None:
            own = rules.admission_for(
                reason=cared.reason, severity=cared.severity, high_risk=cared.high_risk, policy=policy
            )
            return Admission(own.places, "room" if own.bed == "room" else "ordinary")
    return rules.admission_for(reason=t.reason, severity=t.severity, high_risk=t.high_risk, policy=policy)


def _priority(t: Transfer, now: datetime, policy: Policy) -> float:
    return rules.priority(
        reason=t.reason,
        severity=t.severity,
        high_risk=t.high_risk,
        emergency=t.emergency,
        waited_hours=(now - t.requested_at).total_seconds() / 3600,
        policy=policy,
    )


def transfers_assign(*, actor: Actor, now: datetime) -> Assignment:
    """Assign every waiting person, most urgent first (severity, vulnerability, time waited; an
    emergency first of all): a destination with a free bed of the right kind for the whole group
    (a household kept together, with its carers; where the group is already, if it has room),
    then a vehicle for each ride, matched by least cost (`rules.match`, an assignment problem).

    Two dispatchers at once: the assignment takes the TRANSFER lock and the bed pools' rows, so
    the second counts the beds the first took; the unique beds and seats held are the backstop.
    With the crews confirming by themselves (a tabletop exercise), the people are picked up as
    the vehicle is assigned.
    """
    actor.require("manage_transfers")
    if actor.level != ScopeLevel.CITY:
        # The assignment is the city's: beds and vehicles serve every district at once.
        raise Forbidden(_("Only the city's dispatch assigns beds and vehicles."), code="city_dispatch_only")
    policy = policies.policy()
    with transaction.atomic():
        advisory_lock(Lock.TRANSFER)
        beds = _Beds()
        waiting = list(
            Transfer.objects.select_for_update()
            .filter(state__in=[TransferState.REQUESTED, TransferState.DESTINATION_ASSIGNED])
            .order_by("requested_at", "id")
        )
        by_id = {t.pk: t for t in waiting}
        given, without_bed = _destinations(waiting, by_id, beds, policy, now)
        ready = [t for t in waiting if t.state == TransferState.DESTINATION_ASSIGNED]
        carried = _vehicles(ready, policy, now)
        transfer_sql.destinations_given(
            [(t.facility_id, t.pool_id, t.bed, t.why_there, t.pk) for t in given],
            now,
        )
        _audit(given, "destination_assigned", actor, now)
        transfer_sql.vehicles_given(
            [(t.state, t.vehicle_id, t.seat, t.pk) for t in carried],
            now,
            picked_up=policy.crews_confirm_by_themselves,
        )
        _audit(carried, "vehicle_assigned", actor, now)
    return Assignment(
        destinations=len(given),
        vehicles=len(carried),
        without_bed=without_bed,
        without_vehicle=len(ready) - len(carried),
    )


def _destinations(
    waiting: list[Transfer], by_id: dict[int, Transfer], beds: _Beds, policy: Policy, now: datetime
) -> tuple[list[Transfer], int]:
    units: dict[str, list[Transfer]] = defaultdict(list)
    for t in waiting:
        units[t.group_key or f"#{t.pk}"].append(t)
    keys = [k for k in units if not k.startswith("#")]
    # Where each group is already (a member on the way or admitted): kept together there.
    placed = dict(
        Transfer.objects.filter(group_key__in=keys, state__in=rules.OPEN, facility__isnull=False)
        .order_by("destination_at")
        .values_list("group_key", "facility_id")
    )
    facilities = list(Facility.objects.filter(active=True).order_by("code"))
    kinds = {f.pk: f.kind for f in facilities}
    order = sorted(units.items(), key=lambda item: -max(_priority(t, now, policy) for t in item[1]))
    given: list[Transfer] = []
    without = 0
    for key, members in order:
        todo = [t for t in members if t.state == TransferState.REQUESTED]
        if not todo:
            continue
        admissions = {t.pk: _admission(t, by_id, policy) for t in members}
        lead = max(admissions.values(), key=rules.needs_rank)
        district = todo[0].district_id
        candidates = [f for f in facilities if f.kind in lead.places]
        room = {f.pk: sum(beds.free(f.pk, k) for k in ("ordinary", "intensive", "room")) for f in candidates}
        candidates.sort(
            key=lambda f: (lead.places.index(f.kind), f.district_id not in (None, district), -room[f.pk])
        )
        here = placed.get(key)
        if here is not None and here in kinds:
            candidates.sort(key=lambda f: f.pk != here)
        chosen = None
        for facility in candidates:
            need: dict[str, int] = defaultdict(int)
            for t in todo:
                need[rules.bed_at(facility_kind=facility.kind, admission=admissions[t.pk])] += 1
            if all(beds.free(facility.pk, k) >= n for k, n in need.items()):
                chosen = facility
                break
        if chosen is None:
            without += len(todo)
            continue
        for t in todo:
            kind = rules.bed_at(facility_kind=chosen.kind, admission=admissions[t.pk])
            t.pool, t.bed = beds.take(chosen.pk, kind)
            t.facility = chosen
            t.holds_bed, t.bed_from, t.destination_at = True, now, now
            t.state = TransferState.DESTINATION_ASSIGNED
            t.why_there = _why_there(
                reason=t.reason,
                severity=t.severity,
                high_risk=t.high_risk,
                grouped=len(members) > 1,
                facility_kind=chosen.kind,
            )
            given.append(t)
    return given, without


# The words a person reads about their destination (their page, /transfer/mine), kept in the
# city's language as every reason the platform writes itself.
_WHO: dict[str, str] = {
    TransferReason.CONTACT: gettext_noop("a close contact under a centralised plan"),
    TransferReason.CARER: gettext_noop("the carer of someone who cannot care for themselves"),
    TransferReason.GROUP: gettext_noop("moved with their group"),
}
_SEVERITY = {
    "asymptomatic": gettext_noop("asymptomatic infection"),
    "mild": gettext_noop("mild case"),
    "ordinary": gettext_noop("ordinary case"),
    "severe": gettext_noop("severe case"),
    "critical": gettext_noop("critical case"),
}


@functools.cache
def _why_there_in(
    language: str, reason: str, severity: str, high_risk: bool, grouped: bool, facility_kind: str
) -> str:
    with translation.override(language):
        who = _(_WHO.get(reason) or _SEVERITY.get(severity or "mild", _SEVERITY["mild"]))
        parts = [who]
        if high_risk:
            parts.append(_("at high risk"))
        if grouped:
            parts.append(_("kept with their household or group"))
        said = parts[0]
        for part in parts[1:]:
            said = _("%(first)s, %(then)s") % {"first": said, "then": part}
        return _("%(who)s: %(place)s") % {"who": said, "place": FacilityKind(facility_kind).label}


def _why_there(*, reason: str, severity: str, high_risk: bool, grouped: bool, facility_kind: str) -> str:
    """Why this kind of place, in plain words: who the person is (a case by its clinical type, a
    contact, a carer, a group), at high risk, kept with their household; then the place."""
    return _why_there_in(settings.LANGUAGE_CODE, reason, severity, high_risk, grouped, facility_kind)[:200]


def _shared_rides(
    groups: dict[tuple[str, int | None], list[Transfer]], seats: int, policy: Policy, now: datetime
) -> list[list[Transfer]]:
    """Groups of contacts (households, courtyards) bound for the same place from the same
    district share a bus up to its seats, the most urgent groups first (`rules.pack`)."""
    bound: dict[tuple[int | None, int | None], list[list[Transfer]]] = defaultdict(list)
    for (_key, facility_id), people in groups.items():
        bound[(facility_id, people[0].district_id)].append(people)
    rides: list[list[Transfer]] = []
    for together in bound.values():
        together.sort(key=lambda people: -max(_priority(t, now, policy) for t in people))
        for ride in rules.pack([len(people) for people in together], seats):
            taken: list[Transfer] = []
            for index, count in ride:
                taken += together[index][:count]
                del together[index][:count]
            rides.append(taken)
    return rides


def _vehicles(ready: list[Transfer], policy: Policy, now: datetime) -> list[Transfer]:
    busy = Transfer.objects.filter(on_board=True).values("vehicle_id")
    free = list(
        TransferVehicle.objects.select_for_update().filter(active=True).exclude(pk__in=busy).order_by("code")
    )
    if not ready or not free:
        return []
    largest_bus = max((v.seats for v in free if v.kind == "bus"), default=1)
    cases = {t.pk: t for t in ready if t.reason == TransferReason.CASE}
    rides: list[list[Transfer]] = [[t] for t in cases.values()]
    ride_of = {t.pk: i for i, t in enumerate(cases.values())}
    others: dict[tuple[str, int | None], list[Transfer]] = defaultdict(list)
    for t in ready:
        if t.pk in cases:
            continue
        if t.reason == TransferReason.CARER and t.carer_of_id in ride_of:
            rides[ride_of[t.carer_of_id]].append(t)  # rides with the person they care for
            continue
        others[(t.group_key or f"#{t.pk}", t.facility_id)].append(t)
    rides += _shared_rides(others, largest_bus, policy, now)
    priorities = [max(_priority(t, now, policy) for t in ride) for ride in rides]
    pairs = rules.match(
        [
            rules.Ride(
                patients=sum(t.reason == TransferReason.CASE for t in ride),
                people=len(ride),
                district_id=ride[0].district_id,
                priority=p,
            )
            for ride, p in zip(rides, priorities, strict=True)
        ],
        [rules.Seat(kind=v.kind, seats=v.seats, district_id=v.district_id) for v in free],
    )
    carried = []
    confirm = policy.crews_confirm_by_themselves
    for ride_index, vehicle_index in pairs:
        vehicle = free[vehicle_index]
        for seat, t in enumerate(rides[ride_index], start=1):
            t.vehicle, t.seat, t.on_board, t.vehicle_at = vehicle, seat, True, now
            t.state = TransferState.PICKED_UP if confirm else TransferState.VEHICLE_ASSIGNED
            t.picked_up_at = now if confirm else None
            carried.append(t)
    return carried


def _audit(transfers: list[Transfer], action: str, actor: Actor, now: datetime) -> None:
    audit.record_many(
        action=f"transfer.transfer.{action}",
        object_type="transfer.transfer",
        changes=[
            Change(
                t.pk,
                None,
                {
                    "state": t.state,
                    "facility": t.facility_id,
                    "bed": t.bed,
                    "vehicle": t.vehicle_id,
                    "seat": t.seat,
                },
                t.district_id,
            )
            for t in transfers
        ],
        actor=actor,
        now=now,
    )


def transfers_confirm_by_crews(*, actor: Actor, now: datetime) -> int:
    """In a tabletop exercise (policy: crews confirm by themselves), the people picked up are
    admitted `trip_hours` after the pick-up, and the vehicle is free again. Nothing otherwise."""
    if not policies.policy().crews_confirm_by_themselves:
        return 0
    with transaction.atomic():
        arrived = [
            t
            for t in Transfer.objects.select_for_update(of=("self",))
            .filter(state=TransferState.PICKED_UP, picked_up_at__isnull=False)
            .select_related("vehicle")
            if t.vehicle is not None
            and t.picked_up_at is not None
            and t.picked_up_at + timedelta(hours=float(t.vehicle.trip_hours)) <= now
        ]
        for t in arrived:
            assert t.vehicle is not None and t.picked_up_at is not None  # noqa: S101 - filtered above
            t.state = TransferState.ADMITTED
            t.admitted_at = t.picked_up_at + timedelta(hours=float(t.vehicle.trip_hours))
            t.on_board = False
        if arrived:
            Transfer.objects.bulk_update(arrived, ["state", "admitted_at", "on_board"], batch_size=500)
            audit.record_many(
                action="transfer.transfer.admitted",
                object_type="transfer.transfer",
                changes=[
                    Change(t.pk, {"state": "picked_up"}, {"state": "admitted"}, t.district_id)
                    for t in arrived
                ],
                reason=audit.city_text("The crew confirmed the admission."),
                actor=actor,
                now=now,
            )
    return len(arrived)


@dataclass(frozen=True)
class EndedStays:
    count: int  # transfers ended, carers included
    households: list[int]  # whose people are home again (or never left): care plans their trips


def transfers_end_stays(*, actor: Actor, now: datetime) -> EndedStays:
    """Contacts' centralised plans that ran out: those in a place go home (discharged), those
    still waiting are not moved any more (cancelled), and their carers with them. Their beds
    are freed."""
    today = clock.local_date(now)
    with transaction.atomic():
        ended = list(
            Transfer.objects.select_for_update().filter(
                state__in=rules.OPEN, stay_until__lt=today, reason__in=[TransferReason.CONTACT]
            )
        )
        carers = end_with_carers(
            ended,
            to=None,
            reason=audit.city_text(gettext_noop("The quarantine plan ran its course.")),
            action="transfer.transfer.stay_ended",
            actor=actor,
            now=now,
        )
    return EndedStays(
        count=len(ended) + len(carers), households=sorted({t.household_id for t in [*ended, *carers]})
    )


def transfers_flag_overdue(*, actor: Actor, now: datetime) -> int:
    """Transfers past their deadline are flagged once (`overdue_since`, audited): the dispatcher
    board and the person's community list them in red."""
    with transaction.atomic():
        late = [
            t
            for t in Transfer.objects.select_for_update().filter(
                state__in=[*rules.WAITING, TransferState.PICKED_UP], overdue_since__isnull=True
            )
            if rules.is_overdue(state=t.state, pickup_by=t.pickup_by, admit_by=t.admit_by, now=now)
        ]
        for t in late:
            t.overdue_since = now
        if late:
            Transfer.objects.bulk_update(late, ["overdue_since"], batch_size=500)
            audit.record_many(
                action="transfer.transfer.overdue",
                object_type="transfer.transfer",
                changes=[
                    Change(t.pk, None, {"state": t.state, "community": t.community_id}, t.district_id)
                    for t in late
                ],
                reason=audit.city_text("Waiting past the transfer deadline."),
                actor=actor,
                now=now,
            )
    return len(late)
