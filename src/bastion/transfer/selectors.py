"""Reads of transfer, each within the actor's scope: the queue with waits and deadlines, the
places with their free beds as of any moment, the fleet, a person's own transfer, and who the
transfer dispatch moves (core/masking.py's `to_move`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet

from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.core import clock, masking
from bastion.core.errors import Forbidden, NotFound
from bastion.core.masking import id_number_for, name_for, phone_for
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, get_scoped, scoped
from bastion.transfer import rules
from bastion.transfer.models import BedKind, BedPool, Facility, Transfer, TransferState, TransferVehicle

READERS = ("view_transfers", "manage_transfers", "view_cases")


def _require_reader(actor: Actor) -> None:
    if not any(actor.has(p) for p in READERS):
        raise Forbidden()


# --- who transfer dispatch moves ------------------------------------------------------------


def moving_q(prefix: str = "") -> Q:
    """Residents with an open transfer (requested to admitted), as a filter of residents (or of
    rows reaching a resident through `prefix`, e.g. "resident__")."""
    return Q(**{f"{prefix}pk__in": Transfer.objects.filter(state__in=rules.OPEN).values("resident_id")})


# Away from home: in a transfer's vehicle or in a place.
AWAY = (rules.PICKED_UP, rules.ADMITTED)


def away_from_home() -> QuerySet[Transfer, Any]:
    """The ids of residents away from home in a transfer (picked up, or admitted to a place),
    as one column to filter by (`resident_id__in=`): their household's services (a trip to
    treatment from home) are not for them. Not scoped: a condition for other contexts' writes,
    which scope their own rows."""
    return Transfer.objects.filter(state__in=AWAY).values("resident_id")


def moving(actor: Actor, resident_ids: list[int]) -> frozenset[int]:
    """Of `resident_ids`, those the actor moves (empty for an actor that moves nobody)."""
    if not masking.moves_people(actor) or not resident_ids:
        return frozenset()
    return frozenset(
        Transfer.objects.filter(state__in=rules.OPEN, resident_id__in=resident_ids).values_list(
            "resident_id", flat=True
        )
    )


# --- the queue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: int
    resident_id: int
    address: str
    community: str
    name: str
    id_number: str
    phone: str
    reason: str
    severity: str
    high_risk: bool
    needs_carer: bool
    emergency: bool
    state: str
    requested_at: datetime
    waited_hours: float
    pickup_by: datetime
    admit_by: datetime | None
    overdue: bool
    facility: str | None
    facility_kind: str | None
    vehicle: str | None
    group: str


def _visible(actor: Actor) -> QuerySet[Transfer]:
    _require_reader(actor)
    return scoped(Transfer.objects.all(), actor, RESIDENT_PATHS)


def _wait_end(t: Transfer, now: datetime) -> datetime:
    return t.picked_up_at or t.ended_at or now


def _rows(actor: Actor, transfers: list[Transfer], now: datetime) -> list[QueueRow]:
    return [
        QueueRow(
            id=t.pk,
            resident_id=t.resident_id,
            address=f"{t.household.address}#{t.resident.number}",
            community=t.community.code,
            name=name_for(actor, t.resident.name, to_move=True),
            id_number=id_number_for(actor, t.resident.id_number, to_move=True),
            phone=phone_for(actor, t.resident.phone, to_move=True),
            reason=t.reason,
            severity=t.severity,
            high_risk=t.high_risk,
            needs_carer=t.needs_carer,
            emergency=t.emergency,
            state=t.state,
            requested_at=t.requested_at,
            waited_hours=round((_wait_end(t, now) - t.requested_at).total_seconds() / 3600, 1),
            pickup_by=t.pickup_by,
            admit_by=t.admit_by,
            overdue=rules.is_overdue(state=t.state, pickup_by=t.pickup_by, admit_by=t.admit_by, now=now),
            facility=t.facility.code if t.facility else None,
            facility_kind=t.facility.kind if t.facility else None,
            vehicle=t.vehicle.code if t.vehicle else None,
            group=t.group_key,
        )
        for t in transfers
    ]


def queue(
    *,
    actor: Actor,
    now: datetime,
    states: tuple[str, ...] = (*rules.WAITING, rules.PICKED_UP),
    community_id: int | None = None,
    limit: int = 2000,
) -> list[QueueRow]:
    """The people waiting (or on the way) within the actor's scope, the overdue first, then the
    longest waiting: every person's wait and deadlines. A community's view: `community_id`."""
    transfers = _visible(actor).filter(state__in=states)
    if community_id is not None:
        transfers = transfers.filter(community_id=community_id)
    listed = list(
        transfers.select_related("resident", "household", "community", "facility", "vehicle").order_by(
            "requested_at", "id"
        )[:limit]
    )
    rows = _rows(actor, listed, now)
    return sorted(rows, key=lambda r: (not r.emergency, not r.overdue, r.requested_at, r.id))


def transfer_row(*, actor: Actor, transfer_id: int, now: datetime) -> QueueRow:
    found = (
        _visible(actor)
        .select_related("resident", "household", "community", "facility", "vehicle")
        .filter(pk=transfer_id)
        .first()
    )
    if found is None:
        raise NotFound()
    return _rows(actor, [found], now)[0]


def person(*, actor: Actor, resident_id: int, now: datetime) -> QueueRow:
    """The open transfer of a person the actor moves; anyone else (moved by nobody, out of scope
    or not in the registry) does not exist here (404)."""
    found = (
        _visible(actor)
        .filter(resident_id=resident_id, state__in=rules.OPEN)
        .select_related("resident", "household", "community", "facility", "vehicle")
        .first()
    )
    if found is None:
        raise NotFound()
    return _rows(actor, [found], now)[0]


# --- the person's own view ------------------------------------------------------------------


@dataclass(frozen=True)
class OwnTransfer:
    state: str
    reason: str
    facility: str | None
    facility_kind: str | None
    why: str
    requested_at: datetime
    pickup_by: datetime | None
    admit_by: datetime | None
    admitted_at: datetime | None
    ended_at: datetime | None
    vehicle: str | None
    home_monitoring_until: date | None


def own_transfer(*, actor: Actor, resident_id: int) -> OwnTransfer | None:
    """A resident's latest transfer, as they read it on their page: where they go, why, by
    when, and after a discharge until when they monitor their health at home. Within scope (a
    resident: their household); None if they have none."""
    get_scoped(Resident.objects.all(), actor, RESIDENT_PATHS, pk=resident_id)
    t = (
        Transfer.objects.filter(resident_id=resident_id)
        .select_related("facility", "vehicle")
        .order_by("-requested_at", "-id")
        .first()
    )
    if t is None:
        return None
    return OwnTransfer(
        state=t.state,
        reason=t.reason,
        facility=t.facility.name if t.facility else None,
        facility_kind=t.facility.kind if t.facility else None,
        # An ended transfer says why it ended (discharged, cancelled, the carer's person home).
        why=t.end_reason if t.state in rules.ENDED and t.end_reason else t.why_there or t.end_reason,
        requested_at=t.requested_at,
        pickup_by=t.pickup_by if t.state in rules.WAITING else None,
        admit_by=t.admit_by if t.state in (*rules.WAITING, rules.PICKED_UP) else None,
        admitted_at=t.admitted_at,
        ended_at=t.ended_at,
        vehicle=t.vehicle.code
        if t.vehicle and t.state in (rules.VEHICLE_ASSIGNED, rules.PICKED_UP)
        else None,
        home_monitoring_until=t.home_monitoring_until,
    )


# --- places and beds ------------------------------------------------------------------------


def _held_at(at: datetime) -> Q:
    """Transfers holding a bed at the moment `at`."""
    return Q(bed_from__lte=at) & (Q(bed_until__isnull=True) | Q(bed_until__gt=at)) & Q(pool__isnull=False)


def free_beds(*, at: datetime) -> dict[int, dict[str, int]]:
    """Facility → bed kind → free beds at the moment `at` (today's capacity less the beds
    held then)."""
    held = dict(
        Transfer.objects.filter(_held_at(at))
        .values("pool_id")
        .annotate(n=Count("id"))
        .values_list("pool_id", "n")
    )
    free: dict[int, dict[str, int]] = {}
    for pool in BedPool.objects.all():
        free.setdefault(pool.facility_id, {})[pool.kind] = pool.capacity - held.get(pool.pk, 0)
    return free


def free_beds_by_kind(*, at: datetime) -> dict[str, int]:
    """Facility kind → free beds at `at`, receiving facilities only."""
    kinds = dict(Facility.objects.filter(active=True).values_list("pk", "kind"))
    out: dict[str, int] = {}
    for facility_id, beds in free_beds(at=at).items():
        if facility_id in kinds:
            out[kinds[facility_id]] = out.get(kinds[facility_id], 0) + sum(beds.values())
    return out


@dataclass(frozen=True)
class FacilityRow:
    id: int
    code: str
    name: str
    kind: str
    active: bool
    beds: dict[str, int]
    free: dict[str, int]
    in_care: int


def facilities(*, actor: Actor, at: datetime) -> list[FacilityRow]:
    """Every facility with its beds and free beds by kind at `at` (no personal data)."""
    _require_reader(actor)
    free = free_beds(at=at)
    capacity: dict[int, dict[str, int]] = {}
    for pool in BedPool.objects.all():
        capacity.setdefault(pool.facility_id, {})[pool.kind] = pool.capacity
    in_care = dict(
        Transfer.objects.filter(state=TransferState.ADMITTED)
        .values("facility_id")
        .annotate(n=Count("id"))
        .values_list("facility_id", "n")
    )
    return [
        FacilityRow(
            id=f.pk,
            code=f.code,
            name=f.name,
            kind=f.kind,
            active=f.active,
            beds={k: capacity.get(f.pk, {}).get(k, 0) for k in BedKind.values if k in capacity.get(f.pk, {})},
            free=free.get(f.pk, {}),
            in_care=in_care.get(f.pk, 0),
        )
        for f in Facility.objects.order_by("code")
    ]


@dataclass(frozen=True)
class FacilityPage:
    facility: FacilityRow
    admissions: list[QueueRow]
    discharges: list[QueueRow]
    expected: list[QueueRow]


def facility_page(*, actor: Actor, facility_id: int, now: datetime, days: int = 7) -> FacilityPage:
    """A facility: its beds and free beds now, who was admitted and discharged over the last
    `days` days, and who is on the way (people within the actor's scope)."""
    row = next((f for f in facilities(actor=actor, at=now) if f.id == facility_id), None)
    if row is None:
        raise NotFound()
    since = now - timedelta(days=days)
    mine = (
        _visible(actor)
        .filter(facility_id=facility_id)
        .select_related("resident", "household", "community", "facility", "vehicle")
    )
    return FacilityPage(
        facility=row,
        admissions=_rows(
            actor, list(mine.filter(admitted_at__gte=since).order_by("-admitted_at")[:500]), now
        ),
        discharges=_rows(
            actor,
            list(
                mine.filter(state=TransferState.DISCHARGED, ended_at__gte=since).order_by("-ended_at")[:500]
            ),
            now,
        ),
        expected=_rows(actor, list(mine.filter(state__in=(*rules.WAITING, rules.PICKED_UP))[:500]), now),
    )


@dataclass(frozen=True)
class VehicleRow:
    id: int
    code: str
    kind: str
    seats: int
    trip_hours: float
    crew: str
    aboard: int
    active: bool


def fleet(*, actor: Actor) -> list[VehicleRow]:
    """Every transfer vehicle, with how many people are aboard now (0: free)."""
    _require_reader(actor)
    vehicles = TransferVehicle.objects.annotate(
        aboard=Count("transfers", filter=Q(transfers__on_board=True))
    ).order_by("code")
    return [
        VehicleRow(
            id=v.pk,
            code=v.code,
            kind=v.kind,
            seats=v.seats,
            trip_hours=float(v.trip_hours),
            crew=v.crew,
            aboard=v.aboard,
            active=v.active,
        )
        for v in vehicles
    ]


# --- figures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    waiting: int
    in_transit: int
    admitted_today: int
    in_care: int
    wait_hours: list[float]  # from request to pick-up, of everyone requested so far
    overdue: int
    free_beds: dict[str, int]


def figures(*, now: datetime) -> Figures:
    """The city's transfer figures at `now` (no personal data): waiting, on the way, admitted
    today, in care, every wait so far (a wait runs to the pick-up, or to now), overdue, free beds
    by facility kind."""
    today = clock.local_date(now)
    start = datetime.combine(today, datetime.min.time(), tzinfo=clock.city_zone())
    all_ = list(
        Transfer.objects.values_list(
            "state", "requested_at", "picked_up_at", "pickup_by", "admit_by", "admitted_at"
        )
    )
    waits = []
    waiting = in_transit = admitted_today = in_care = overdue = 0
    for state, requested, picked, pickup_by, admit_by, admitted in all_:
        if state in rules.WAITING:
            waiting += 1
        elif state == rules.PICKED_UP:
            in_transit += 1
        elif state == rules.ADMITTED:
            in_care += 1
        if admitted is not None and admitted >= start:
            admitted_today += 1
        if rules.is_overdue(state=state, pickup_by=pickup_by, admit_by=admit_by, now=now):
            overdue += 1
        if state in (rules.CANCELLED, rules.REFUSED) and picked is None:
            continue
        waits.append(((picked or now) - requested).total_seconds() / 3600)
    return Figures(waiting, in_transit, admitted_today, in_care, waits, overdue, free_beds_by_kind(at=now))


def watched(resident_ids: dict[str, int]) -> dict[str, dict[str, str | None]]:
    """Address → the state of that resident's latest transfer and the kind of its facility."""
    latest: dict[int, Transfer] = {}
    for t in (
        Transfer.objects.filter(resident_id__in=list(resident_ids.values()))
        .select_related("facility")
        .order_by("requested_at", "id")
    ):
        latest[t.resident_id] = t
    out: dict[str, dict[str, str | None]] = {}
    for address, resident_id in resident_ids.items():
        last = latest.get(resident_id)
        out[address] = {
            "state": last.state if last else None,
            "facility_kind": last.facility.kind if last and last.facility else None,
        }
    return out


@dataclass(frozen=True)
class MemberTransfer:
    number: int  # the member's number in the household
    name: str  # as the masking policy shows it to the actor
    transfer: OwnTransfer


def household_transfers(*, actor: Actor) -> list[MemberTransfer]:
    """A resident's household: each member's latest transfer (their number and name in the
    household, where they go, when and why), for the resident's own page and API. Only a
    resident's own household: anyone else, staff included, finds nothing here (404)."""
    if actor.level != ScopeLevel.OWN_HOUSEHOLD or actor.household_id is None:
        raise NotFound()
    members = (
        Resident.objects.filter(household_id=actor.household_id, transfers__isnull=False)
        .distinct()
        .order_by("number")
        .values_list("pk", "number", "name")
    )
    out = []
    for resident_id, number, name in members:
        own = own_transfer(actor=actor, resident_id=resident_id)
        if own is not None:
            out.append(MemberTransfer(number=number, name=name_for(actor, name), transfer=own))
    return out
