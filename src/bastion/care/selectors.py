"""Reads of medical care, scoped by the actor and shown through the masking policy
(core/masking.py, Field.MEDICAL): a community's residents with standing needs and their trips,
and the dispatcher's board of every trip due (`trips_for_board`), which the transfer context's
board lists beside its case and contact transfers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from bastion.care import policy, rules
from bastion.care.models import MedicalNeed, NeedKind, Purpose, Trip, TripState
from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.core import clock, masking
from bastion.core.errors import NotFound
from bastion.core.masking import Field
from bastion.core.scopes import Actor, scoped

# The trips still to be done: on the board whatever their day.
UNDER_WAY = (
    TripState.PLANNED,
    TripState.DISPATCHED,
    TripState.MISSED,
    TripState.PICKED_UP,
    TripState.AT_TREATMENT,
)


@dataclass(frozen=True)
class NeedView:
    id: int
    resident_id: int
    kind: str
    kind_label: str
    weekdays: list[str]
    dates: list[date]
    session_time: time | None
    place: str
    due_on: date | None
    since: date
    until: date | None
    note: str
    ended: bool


@dataclass(frozen=True)
class TripView:
    """A trip as the board and the community's page show it. `patient` and `kind` as the
    masking policy allows (a trip's patient is a person its dispatcher moves)."""

    id: int
    at: datetime
    pickup_at: datetime
    resident_id: int
    patient: str
    pickup_address: str
    destination: str
    purpose: str
    kind: str
    emergency: bool
    missed: bool
    state: str
    vehicle_code: str
    community_id: int
    reason: str


@dataclass
class ResidentNeeds:
    resident_id: int
    name: str
    address: str
    needs: list[NeedView] = field(default_factory=list)
    trips: list[TripView] = field(default_factory=list)


def _need_view(need: MedicalNeed) -> NeedView:
    return NeedView(
        id=need.pk,
        resident_id=need.resident_id,
        kind=need.kind,
        kind_label=str(NeedKind(need.kind).label),
        weekdays=[rules.WEEKDAYS[d] for d in need.weekdays],
        dates=[date.fromisoformat(d) for d in need.dates],
        session_time=need.session_time,
        place=need.place,
        due_on=need.due_on,
        since=need.since,
        until=need.until,
        note=need.note,
        ended=need.ended_at is not None,
    )


def needs_visible(actor: Actor) -> QuerySet[MedicalNeed]:
    """The needs the actor keeps (403 to a role from whom they are masked)."""
    masking.require(actor, Field.MEDICAL)
    return scoped(MedicalNeed.objects.all(), actor, RESIDENT_PATHS)


def needs_list(*, actor: Actor, resident_id: int | None = None, limit: int = 2000) -> list[NeedView]:
    """The open needs within the actor's scope (of one resident if given), by resident."""
    needs = needs_visible(actor).filter(ended_at__isnull=True)
    if resident_id is not None:
        needs = needs.filter(resident_id=resident_id)
    return [_need_view(n) for n in needs.order_by("resident_id", "kind")[:limit]]


def needs_by_resident(*, actor: Actor, resident_ids: list[int]) -> dict[int, list[NeedView]]:
    """The open needs of these residents, by resident, for an actor who keeps needs (the
    household page); empty for everyone else (the policy masks them)."""
    if not masking.shows(actor, Field.MEDICAL):
        return {}
    found: dict[int, list[NeedView]] = defaultdict(list)
    needs = needs_visible(actor).filter(ended_at__isnull=True, resident_id__in=resident_ids)
    for need in needs.order_by("kind"):
        found[need.resident_id].append(_need_view(need))
    return dict(found)


def standing_need_kinds(*, resident_ids: Sequence[int], today: date) -> dict[int, frozenset[str]]:
    """The kinds of the standing medical needs each of `resident_ids` has on `today` (open, begun,
    not run out), for another context's rule (transfer's high risk, through the flows). Not
    scoped and not masked: a condition for the caller's write, never shown."""
    found: dict[int, set[str]] = defaultdict(set)
    rows = (
        MedicalNeed.objects.filter(
            ended_at__isnull=True, resident_id__in=list(resident_ids), since__lte=today
        )
        .filter(Q(until__isnull=True) | Q(until__gte=today))
        .values_list("resident_id", "kind")
    )
    for resident_id, kind in rows:
        found[resident_id].add(kind)
    return {resident_id: frozenset(kinds) for resident_id, kinds in found.items()}


def needs_of_resident(*, actor: Actor, resident_id: int, include_ended: bool = False) -> list[NeedView]:
    needs = needs_visible(actor).filter(resident_id=resident_id)
    if not include_ended:
        needs = needs.filter(ended_at__isnull=True)
    return [_need_view(n) for n in needs.order_by("kind", "pk")]


def need_get(*, actor: Actor, need_id: int) -> NeedView:
    need = needs_visible(actor).filter(pk=need_id).first()
    if need is None:
        raise NotFound(_("There is no such medical need."), code="unknown_need")
    return _need_view(need)


def _trip_view(actor: Actor, trip: Trip, name: str, lead: timedelta) -> TripView:
    return TripView(
        id=trip.pk,
        at=trip.at,
        pickup_at=trip.at if trip.emergency else trip.at - lead,
        resident_id=trip.resident_id,
        patient=masking.name_for(actor, name, to_move=True),
        pickup_address=trip.pickup_address,
        destination=trip.destination,
        purpose=trip.purpose,
        kind=masking.need_kind_for(actor, trip.kind, to_move=True) if trip.kind else "",
        emergency=trip.emergency,
        missed=trip.missed_at is not None,
        state=trip.state,
        vehicle_code=trip.vehicle_code or "",
        community_id=trip.community_id,
        reason=masking.medical_text_for(actor, trip.reason, to_move=True),
    )


def _views(actor: Actor, trips: QuerySet[Trip]) -> list[TripView]:
    lead = policy.policy().pickup_lead
    rows = list(trips)
    names = dict(Resident.objects.filter(pk__in={t.resident_id for t in rows}).values_list("pk", "name"))
    views = [_trip_view(actor, t, names.get(t.resident_id, ""), lead) for t in rows]
    return sorted(views, key=lambda v: rules.board_key(emergency=v.emergency, missed=v.missed, at=v.at))


def trips_visible(actor: Actor) -> QuerySet[Trip]:
    actor.require("view_trips")
    return scoped(Trip.objects.all(), actor, RESIDENT_PATHS)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), clock.city_zone())
    return start, start + timedelta(days=1)


def trips_for_board(actor: Actor, day: date) -> list[TripView]:
    """Every trip due on `day` (the city's day), and every earlier one still under way or
    missed and not settled: emergencies first, then missed sessions, then by time. The
    transfer dispatcher's board lists them beside the case and contact transfers."""
    start, end = _day_bounds(day)
    trips = trips_visible(actor).filter(Q(at__gte=start, at__lt=end) | Q(at__lt=start, state__in=UNDER_WAY))
    return _views(actor, trips)


def trip_get(*, actor: Actor, trip_id: int) -> TripView:
    trips = _views(actor, trips_visible(actor).filter(pk=trip_id))
    if not trips:
        raise NotFound(_("There is no such trip."), code="unknown_trip")
    return trips[0]


def trips_between(actor: Actor, first: date, last: date) -> list[TripView]:
    start, _end = _day_bounds(first)
    _start, end = _day_bounds(last)
    return _views(actor, trips_visible(actor).filter(at__gte=start, at__lt=end))


def residents_with_needs(*, actor: Actor, today: date, days: int = 7) -> list[ResidentNeeds]:
    """The community worker's page: each resident of their scope with open standing needs, the
    needs, and their trips from yesterday (missed ones stay visible) to `days` ahead."""
    needs = list(needs_visible(actor).filter(ended_at__isnull=True).order_by("resident_id", "kind"))
    residents = {
        r.pk: r
        for r in Resident.objects.filter(pk__in={n.resident_id for n in needs}).select_related("household")
    }
    by_resident: dict[int, ResidentNeeds] = {}
    for need in needs:
        resident = residents[need.resident_id]
        entry = by_resident.setdefault(
            resident.pk,
            ResidentNeeds(
                resident_id=resident.pk,
                name=masking.name_for(actor, resident.name),
                address=f"{resident.household.address}#{resident.number}",
            ),
        )
        entry.needs.append(_need_view(need))
    trips: dict[int, list[TripView]] = defaultdict(list)
    if by_resident and actor.has("view_trips"):
        start, _e = _day_bounds(today - timedelta(days=1))
        _s, end = _day_bounds(today + timedelta(days=days))
        for view in _views(
            actor, trips_visible(actor).filter(resident_id__in=by_resident, at__gte=start, at__lt=end)
        ):
            trips[view.resident_id].append(view)
    for resident_id, entry in by_resident.items():
        entry.trips = sorted(trips[resident_id], key=lambda v: v.at)
    return sorted(by_resident.values(), key=lambda e: e.address)


@dataclass(frozen=True)
class CareFigures:
    trips_planned: int
    trips_missed: int
    emergencies: int
    needs_by_kind: dict[str, int]


def figures(*, actor: Actor, day: date | None = None) -> CareFigures:
    """Counts for the command centre (which sees no one's needs, only how many): trips of the
    day planned (any state but cancelled), missed, emergencies; open needs by kind."""
    trips = trips_visible(actor)
    if day is not None:
        start, end = _day_bounds(day)
        trips = trips.filter(at__gte=start, at__lt=end)
    counts = trips.aggregate(
        planned=Count("pk", filter=Q(purpose=Purpose.SESSION) & ~Q(state=TripState.CANCELLED)),
        missed=Count("pk", filter=Q(missed_at__isnull=False)),
        emergencies=Count("pk", filter=Q(emergency=True)),
    )
    needs = scoped(MedicalNeed.objects.filter(ended_at__isnull=True), actor, RESIDENT_PATHS)
    by_kind = dict(needs.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    return CareFigures(
        trips_planned=counts["planned"] or 0,
        trips_missed=counts["missed"] or 0,
        emergencies=counts["emergencies"] or 0,
        needs_by_kind=by_kind,
    )
