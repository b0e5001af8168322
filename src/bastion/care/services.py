"""Every write of medical care: standing needs kept by community workers, the planning of
trips to treatment (set-based, idempotent), the missed sessions flagged at once, requests for
the yellow-code hospital, emergency calls, and a trip's moves on the dispatcher's board.

Each service guards, locks, changes and audits in one transaction. A trip's states move as
rules.ALLOWED_TRANSITIONS["trip"] allows; the set-based paths (planning, missed sessions) take
their source states from it too.

An emergency call (120) is never held back: `emergency_call` asks nothing of the resident's
test results, health code, quarantine or pass (DOMAIN.md, "Medical care under lockdown";
tests/care/test_services.py holds it to that). The only refusals it knows are the caller's own
powers and scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bastion.care import policy, rules
from bastion.care.models import MedicalNeed, NeedKind, Purpose, Trip, TripState
from bastion.city.models import Household, Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.scopes import Actor, get_scoped, scoped
from bastion.lockdown import selectors as lockdown
from bastion.transfer import selectors as transfer

OPEN_NEED = Q(ended_at__isnull=True)


def _problem_message(code: str) -> str:
    messages = {
        "until_before_since": _("The need cannot end before it starts."),
        "weekday_out_of_range": _("A weekday is one of Monday to Sunday."),
        "schedule_needed": _("Dialysis and chemotherapy need their weekdays or dates of treatment."),
        "time_needed": _("Give the time of the sessions."),
        "no_schedule_for_supply": _("Oxygen and insulin are supplies brought home: they have no sessions."),
        "due_date_needed": _("Give the pregnancy's due date."),
    }
    return messages[code]


def _resident(actor: Actor, resident_id: int, *, lock: bool = False) -> Resident:
    residents = Resident.objects.select_related("household")
    if lock:
        residents = residents.select_for_update()
    try:
        return get_scoped(residents, actor, RESIDENT_PATHS, pk=resident_id)
    except NotFound:
        raise NotFound(_("There is no such resident."), code="unknown_resident") from None


# Why the platform takes trips out of its plan by itself (kept in the city's language).
NOT_IN_RISK_ZONE = gettext_noop("The resident no longer lives in a risk zone.")
AWAY = gettext_noop("The patient has been taken into care by a transfer: not at home.")


def _in_risk_zone() -> QuerySet[Household, Any]:
    """The households of residents whom the platform takes to treatment: those served at home
    (a high- or medium-risk zone in force, or isolated in place) — read from lockdown's model."""
    return Household.objects.filter(lockdown.served_at_home_q()).values("pk")


def _need_state(need: MedicalNeed) -> dict[str, Any]:
    return {
        "resident": need.resident_id,
        "kind": need.kind,
        "weekdays": list(need.weekdays),
        "dates": list(need.dates),
        "session_time": need.session_time.isoformat(timespec="minutes") if need.session_time else None,
        "place": need.place,
        "due_on": need.due_on.isoformat() if need.due_on else None,
        "since": need.since.isoformat(),
        "until": need.until.isoformat() if need.until else None,
        "note": need.note,
        "ended": need.ended_at is not None,
    }


def _check(need: MedicalNeed) -> None:
    if need.kind not in NeedKind.values:
        raise InvalidInput(
            _("The kind is one of: %(values)s.") % {"values": ", ".join(NeedKind.values)}, code="unknown_kind"
        )
    problem = rules.schedule_problem(need.as_rule())
    if problem is not None:
        raise InvalidInput(_problem_message(problem), code=problem)


@dataclass(frozen=True)
class NeedFields:
    """What a community worker says of a need (add and change alike)."""

    kind: str
    since: date
    weekdays: Sequence[int] = ()
    dates: Sequence[date] = ()
    session_time: time | None = None
    place: str = ""
    due_on: date | None = None
    until: date | None = None
    note: str = ""


def _apply(need: MedicalNeed, fields: NeedFields) -> None:
    need.kind = fields.kind
    need.since = fields.since
    need.until = fields.until
    need.weekdays = sorted(set(fields.weekdays))
    need.dates = sorted({d.isoformat() for d in fields.dates})
    need.session_time = fields.session_time
    need.place = fields.place
    need.due_on = fields.due_on
    need.note = fields.note


def need_add(*, resident_id: int, fields: NeedFields, actor: Actor, now: datetime) -> MedicalNeed:
    """Record a resident's standing need. One open need of each kind per resident (a second
    dialysis schedule is a change of the first). If the resident lives in a risk zone, the
    trips of the coming days are planned at once."""
    actor.require("keep_medical_needs")
    with transaction.atomic():
        resident = _resident(actor, resident_id, lock=True)
        need = MedicalNeed(
            resident=resident,
            household_id=resident.household_id,
            community_id=resident.community_id,
            district_id=resident.district_id,
            created_at=now,
        )
        _apply(need, fields)
        _check(need)
        if MedicalNeed.objects.filter(OPEN_NEED, resident_id=resident.pk, kind=need.kind).exists():
            raise Conflict(
                _("This resident already has a standing %(kind)s need: change it instead.")
                % {"kind": NeedKind(need.kind).label},
                code="need_exists",
            )
        need.save()
        audit.record(
            action="care.need.added",
            obj=need,
            after=_need_state(need),
            district_id=need.district_id,
            actor=actor,
            now=now,
        )
        _plan(MedicalNeed.objects.filter(pk=need.pk), actor=actor, now=now)
    return need


def _open_need(actor: Actor, need_id: int) -> MedicalNeed:
    actor.require("keep_medical_needs")
    need = scoped(MedicalNeed.objects.select_for_update(), actor, RESIDENT_PATHS).filter(pk=need_id).first()
    if need is None:
        raise NotFound(_("There is no such medical need."), code="unknown_need")
    if need.ended_at is not None:
        raise InvalidTransition(_("This need has ended."), code="need_ended")
    return need


def need_change(*, need_id: int, fields: NeedFields, actor: Actor, now: datetime) -> MedicalNeed:
    """Change a need's schedule, place or note (not its resident, nor its kind). Planned trips
    that no longer match a session are withdrawn, the new sessions planned."""
    with transaction.atomic():
        need = _open_need(actor, need_id)
        if fields.kind != need.kind:
            raise InvalidInput(
                _("A need's kind cannot change: end it and add the new one."), code="kind_fixed"
            )
        before = _need_state(need)
        _apply(need, fields)
        _check(need)
        need.save()
        audit.record(
            action="care.need.changed",
            obj=need,
            before=before,
            after=_need_state(need),
            district_id=need.district_id,
            actor=actor,
            now=now,
        )
        _withdraw_trips(
            Trip.objects.filter(need_id=need.pk).exclude(at__in=_sessions_ahead(need, now)),
            reason=gettext_noop("The schedule changed."),
            actor=actor,
            now=now,
        )
        Trip.objects.filter(need_id=need.pk, state=TripState.PLANNED, at__gt=now).update(
            destination=_destination(need), changed_at=now
        )
        _plan(MedicalNeed.objects.filter(pk=need.pk), actor=actor, now=now)
    return need


def need_end(*, need_id: int, reason: str, actor: Actor, now: datetime) -> MedicalNeed:
    """End a need (treatment over, the resident moved or died), with the reason; its trips
    still planned are withdrawn."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the need ends."), code="reason_required")
    with transaction.atomic():
        need = _open_need(actor, need_id)
        before = _need_state(need)
        need.ended_at = now
        need.end_reason = reason
        if need.until is None or need.until > clock.local_date(now):
            need.until = max(need.since, clock.local_date(now))
        need.save(update_fields=["ended_at", "end_reason", "until"])
        audit.record(
            action="care.need.ended",
            obj=need,
            before=before,
            after=_need_state(need),
            reason=reason,
            district_id=need.district_id,
            actor=actor,
            now=now,
        )
        _withdraw_trips(
            Trip.objects.filter(need_id=need.pk), reason=gettext_noop("The need ended."), actor=actor, now=now
        )
    return need


# --- planning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    created: int
    withdrawn: int


def _session_moment(day: date, at: time) -> datetime:
    return datetime.combine(day, at, clock.city_zone())


def _window(now: datetime) -> tuple[date, date]:
    today = clock.local_date(now)
    return today, today + timedelta(days=policy.policy().days_ahead - 1)


def _sessions_ahead(need: MedicalNeed, now: datetime) -> list[datetime]:
    """The moments of `need`'s sessions to come within the planning window (rules.sessions_due)."""
    if need.session_time is None:
        return []
    first, last = _window(now)
    moments = (
        _session_moment(day, need.session_time) for day in rules.sessions_due(need.as_rule(), first, last)
    )
    return [at for at in moments if at > now]


def _destination(need: MedicalNeed) -> str:
    return need.place or str(NeedKind(need.kind).label)


def _withdraw_trips(trips: QuerySet[Trip], *, reason: str, actor: Actor, now: datetime) -> int:
    """Take out of the plan the trips among `trips` the platform planned and nobody has acted
    on yet (a session to come, still only planned): the need ended or changed, or the resident
    no longer lives in a risk zone. Nothing happened to them, so they are deleted, each
    audited with its time and the reason (`reason` marked with gettext_noop, kept in the
    city's language). A trip cancelled by hand stays cancelled and is never planned again."""
    text = audit.city_text(reason)
    doomed = list(
        trips.select_for_update()
        .filter(purpose=Purpose.SESSION, state=TripState.PLANNED, at__gt=now)
        .values_list("pk", "at", "district_id")
    )
    if not doomed:
        return 0
    Trip.objects.filter(pk__in=[pk for pk, _a, _d in doomed], state=TripState.PLANNED).delete()
    audit.record_many(
        action="care.trip.withdrawn",
        object_type="care.trip",
        changes=[
            audit.Change(pk, {"state": TripState.PLANNED, "at": at.isoformat()}, None, district)
            for pk, at, district in doomed
        ],
        reason=text,
        actor=actor,
        now=now,
    )
    return len(doomed)


def _plan(needs: QuerySet[MedicalNeed], *, actor: Actor, now: datetime) -> int:
    """The trips of the sessions of `needs` from now to the policy's days ahead, for needs of
    residents in risk zones who are at home (not picked up or admitted by a transfer: someone in
    a hospital bed is not driven from home to treatment), each session once. Two planners of
    the same needs take turns on the needs' rows (locked in order), so the second finds the
    first's trips and leaves them as they are; planners of different needs (two zones
    designated at once) do not wait for each other. The unique constraint holds it so should
    anything slip through. Returns the trips created."""
    today, last = _window(now)
    due = list(
        needs.filter(OPEN_NEED, kind__in=rules.SCHEDULED, since__lte=last)
        .filter(Q(until__isnull=True) | Q(until__gte=today))
        .filter(household_id__in=_in_risk_zone())
        .exclude(resident_id__in=transfer.away_from_home())
        .select_related("household")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    wanted: list[Trip] = []
    for need in due:
        for at in _sessions_ahead(need, now):
            wanted.append(
                Trip(
                    need=need,
                    resident_id=need.resident_id,
                    household_id=need.household_id,
                    community_id=need.community_id,
                    district_id=need.district_id,
                    purpose=Purpose.SESSION,
                    kind=need.kind,
                    at=at,
                    pickup_address=need.household.address,
                    destination=_destination(need),
                    raised_by="platform",
                    created_at=now,
                    changed_at=now,
                )
            )
    if not wanted:
        return 0
    existing = set(
        Trip.objects.filter(need_id__in={t.need_id for t in wanted}, at__gt=now).values_list("need_id", "at")
    )
    new = [t for t in wanted if (t.need_id, t.at) not in existing]
    Trip.objects.bulk_create(new, batch_size=2000, ignore_conflicts=True)
    created = list(
        Trip.objects.filter(
            need_id__in={t.need_id for t in new}, created_at=now, purpose=Purpose.SESSION
        ).values_list("pk", "at", "district_id")
    )
    audit.record_many(
        action="care.trip.planned",
        object_type="care.trip",
        changes=[
            audit.Change(pk, None, {"state": TripState.PLANNED, "at": at.isoformat()}, district)
            for pk, at, district in created
        ],
        actor=actor,
        now=now,
    )
    return len(created)


def trips_plan(*, actor: Actor, now: datetime) -> Planned:
    """Plan the next days' sessions of every standing need of a resident in a risk zone and at
    home (daily, by `flows.trips_planned`, and on demand), and withdraw the planned sessions of
    residents no longer in one (their zone lifted) or away in a transfer's care. Idempotent:
    run twice, nothing new."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    with transaction.atomic():
        trips = scoped(Trip.objects.all(), actor, RESIDENT_PATHS)
        withdrawn = _withdraw_trips(
            trips.exclude(household_id__in=_in_risk_zone()), reason=NOT_IN_RISK_ZONE, actor=actor, now=now
        )
        withdrawn += _withdraw_trips(
            trips.filter(resident_id__in=transfer.away_from_home()), reason=AWAY, actor=actor, now=now
        )
        created = _plan(scoped(MedicalNeed.objects.all(), actor, RESIDENT_PATHS), actor=actor, now=now)
        if created or withdrawn:
            audit.record(
                action="care.trips.planned",
                object_type="care.plan",
                object_id=clock.local_date(now).isoformat(),
                after={"created": created, "withdrawn": withdrawn, "days": policy.policy().days_ahead},
                actor=actor,
                now=now,
            )
    return Planned(created=created, withdrawn=withdrawn)


def trips_plan_households(*, households: QuerySet[Any] | Sequence[int], actor: Actor, now: datetime) -> int:
    """Plan at once the sessions of the needs of `households` (a query of household ids: those of
    a zone just in force; or ids: a patient back home), so that a session this afternoon is not
    left to tomorrow's planning. Touches no other need: reports of cases in other places do not
    wait for it."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    with transaction.atomic():
        return _plan(MedicalNeed.objects.filter(household_id__in=households), actor=actor, now=now)


def trips_withdraw_away(*, residents: Sequence[int] | None = None, actor: Actor, now: datetime) -> int:
    """Withdraw at once the planned sessions of `residents` (None: of everyone) who are away from
    home in a transfer's care (picked up, admitted): the ride or the bed came first, and the
    daily planning would leave a vehicle going to an empty flat until then. Sessions already
    dispatched stay on the dispatcher's board. Each audited with the reason; returns how many."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    trips = Trip.objects.filter(resident_id__in=transfer.away_from_home())
    if residents is not None:
        trips = trips.filter(resident_id__in=list(residents))
    with transaction.atomic():
        return _withdraw_trips(trips, reason=AWAY, actor=actor, now=now)


def trips_withdraw_outside_zones(*, households: QuerySet[Any], actor: Actor, now: datetime) -> int:
    """Withdraw at once the planned sessions of the residents of `households` (a query of
    household ids: those of a zone just lifted) who no longer live in a risk zone, not at the
    next daily planning; a household still in another zone in force (or isolated in place)
    keeps its trips. Each audited with the reason; returns how many."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    with transaction.atomic():
        return _withdraw_trips(
            Trip.objects.filter(household_id__in=households).exclude(household_id__in=_in_risk_zone()),
            reason=NOT_IN_RISK_ZONE,
            actor=actor,
            now=now,
        )


def trips_flag_missed(*, actor: Actor, now: datetime) -> int:
    """Mark missed, at once, every session whose time (and the policy's grace) has passed with
    the patient not picked up (rules.is_missed, set-based: one UPDATE, each trip audited). The
    community's page and the dispatcher's board show them; a dispatcher may still send a
    vehicle (missed → dispatched). Returns how many were flagged."""
    actor.require("view_trips")
    cutoff = now - policy.policy().grace
    sources = [s for s in rules.moves_into("trip", TripState.MISSED) if s != TripState.MISSED]
    with transaction.atomic():
        late = list(
            Trip.objects.select_for_update()
            .filter(state__in=sources, at__lte=cutoff, missed_at__isnull=True)
            .exclude(purpose=Purpose.EMERGENCY)
            .values_list("pk", "state", "district_id")
        )
        if not late:
            return 0
        Trip.objects.filter(pk__in=[pk for pk, _s, _d in late], state__in=sources).update(
            state=TripState.MISSED, missed_at=now, changed_at=now
        )
        audit.record_many(
            action="care.trip.missed",
            object_type="care.trip",
            changes=[
                audit.Change(pk, {"state": state}, {"state": TripState.MISSED}, district)
                for pk, state, district in late
            ],
            reason=audit.city_text(
                gettext_noop("The session's time passed before the patient was picked up.")
            ),
            actor=actor,
            now=now,
        )
    return len(late)


# --- trips raised by hand --------------------------------------------------------------------


def _trip_create(
    *,
    resident: Resident,
    purpose: str,
    at: datetime,
    destination: str,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Trip:
    trip = Trip.objects.create(
        resident=resident,
        household_id=resident.household_id,
        community_id=resident.community_id,
        district_id=resident.district_id,
        purpose=purpose,
        emergency=purpose == Purpose.EMERGENCY,
        at=at,
        pickup_address=resident.household.address,
        destination=destination,
        reason=reason,
        raised_by=audit.label_of(actor),
        created_at=now,
        changed_at=now,
    )
    audit.record(
        action=f"care.trip.{purpose}",
        obj=trip,
        after={"state": trip.state, "purpose": purpose, "at": at.isoformat(), "destination": destination},
        reason=reason,
        district_id=trip.district_id,
        actor=actor,
        now=now,
    )
    return trip


def trip_request(
    *, resident_id: int, at: datetime, destination: str = "", reason: str, actor: Actor, now: datetime
) -> Trip:
    """A trip to the yellow-code hospital for a resident of a risk zone ill with something else,
    raised by a community worker (or transfer dispatch, for a doctor). A resident outside risk
    zones goes by their own means (with a recent negative result): refused."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say what the resident is ill with."), code="reason_required")
    if at < now - timedelta(minutes=15):
        raise InvalidInput(_("A trip is for now or later."), code="trip_in_the_past")
    with transaction.atomic():
        resident = _resident(actor, resident_id)
        if not _in_risk_zone().filter(pk=resident.household_id).exists():
            raise InvalidInput(
                _("This resident does not live in a risk zone: they go to hospital by their own means."),
                code="not_in_risk_zone",
            )
        return _trip_create(
            resident=resident,
            purpose=Purpose.YELLOW_CODE,
            at=at,
            destination=destination.strip() or policy.policy().yellow_code_hospital,
            reason=reason,
            actor=actor,
            now=now,
        )


def emergency_call(
    *, resident_id: int, note: str = "", destination: str = "", actor: Actor, now: datetime
) -> Trip:
    """An emergency call (120): a trip at once, flagged as an emergency, on top of the board.

    Deliberately without a guard on the resident's state: no test result, health code,
    quarantine, zone or pass is asked for (DOMAIN.md: emergencies never wait for a test result
    or a pass). The caller's power and scope are the only checks."""
    actor.require("call_emergency")
    with transaction.atomic():
        resident = _resident(actor, resident_id)
        return _trip_create(
            resident=resident,
            purpose=Purpose.EMERGENCY,
            at=now,
            destination=destination.strip() or policy.policy().emergency_destination,
            reason=note.strip(),
            actor=actor,
            now=now,
        )


# --- a trip's moves --------------------------------------------------------------------------


def _trip_for_move(actor: Actor, trip_id: int) -> Trip:
    trip = scoped(Trip.objects.select_for_update(), actor, RESIDENT_PATHS).filter(pk=trip_id).first()
    if trip is None:
        raise NotFound(_("There is no such trip."), code="unknown_trip")
    return trip


def _move(trip: Trip, to: str, *, actor: Actor, now: datetime, reason: str = "", **more: Any) -> Trip:
    if not rules.may_move("trip", trip.state, to):
        raise InvalidTransition(
            _("A trip %(state)s cannot become %(to)s.")
            % {"state": TripState(trip.state).label, "to": TripState(to).label}
        )
    before = {"state": trip.state, "vehicle": trip.vehicle_code}
    trip.state = to
    trip.changed_at = now
    if reason:
        trip.reason = reason
    for name, value in more.items():
        setattr(trip, name, value)
    trip.save()
    audit.record(
        action=f"care.trip.{to}",
        obj=trip,
        before=before,
        after={"state": trip.state, "vehicle": trip.vehicle_code},
        reason=reason,
        district_id=trip.district_id,
        actor=actor,
        now=now,
    )
    return trip


def trip_dispatch(*, trip_id: int, vehicle_code: str, actor: Actor, now: datetime) -> Trip:
    """A vehicle (its code in the fleet) sent to the trip. The transfer context's fleet is not
    asked here: the merge wires the choice of vehicles to it."""
    actor.require("dispatch_trips")
    vehicle_code = vehicle_code.strip()
    if not vehicle_code:
        raise InvalidInput(_("Name the vehicle."), code="vehicle_required")
    with transaction.atomic():
        trip = _trip_for_move(actor, trip_id)
        return _move(trip, TripState.DISPATCHED, actor=actor, now=now, vehicle_code=vehicle_code)


# The moves a dispatcher reports as the vehicle goes.
ALONG = (TripState.PICKED_UP, TripState.AT_TREATMENT, TripState.RETURNED, TripState.MISSED)


def trip_move(*, trip_id: int, to: str, actor: Actor, now: datetime) -> Trip:
    """The patient picked up, at treatment, home again; or the session missed (the patient was
    not there), as the crew reports it."""
    actor.require("dispatch_trips")
    if to not in ALONG:
        raise InvalidInput(
            _("A trip moves to one of: %(values)s.") % {"values": ", ".join(ALONG)}, code="bad_state"
        )
    with transaction.atomic():
        trip = _trip_for_move(actor, trip_id)
        extra: dict[str, Any] = {"missed_at": now} if to == TripState.MISSED else {}
        return _move(trip, to, actor=actor, now=now, **extra)


def trip_cancel(*, trip_id: int, reason: str, actor: Actor, now: datetime) -> Trip:
    """Cancel a trip not yet under way, with the reason (the patient is in hospital, the
    session was moved)."""
    if not (actor.has("keep_medical_needs") or actor.has("dispatch_trips")):
        raise Forbidden()
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the trip is cancelled."), code="reason_required")
    with transaction.atomic():
        trip = _trip_for_move(actor, trip_id)
        return _move(trip, TripState.CANCELLED, actor=actor, now=now, reason=reason)
