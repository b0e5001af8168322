"""The city's playbook: what happens next when something happens, and what every day runs.

One function per trigger, each calling the services of the contexts involved, so that the
whole chain (a positive test → a case → contacts → zones → door-to-door supply) reads on one
page. Contexts never import each other's services; they meet here, and read each other only
through their selectors. The platform's clock is here too (`TIMERS`, `day_ended`): what runs
every quarter of an hour and every day, and in what order.

Door-to-door service is a read model, not a flow. Whether a household is served at home is
derived, whenever it is asked, from what confines it: a high-risk zone in force or a member
recalled for a retest (`bastion.lockdown.selectors`). Nothing is written when a zone is
designated, lowered or lifted, or when a recall opens or closes, so the service mode can never
disagree with the zones and recalls, and a million households locked at once cost no write.
The flow that acts on it is the dispatch (`packages_dispatched`, every quarter of an hour):
it reads the households served door to door and gives each its package and its building task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import IO, Any

from django.db import transaction
from django.db.models import QuerySet

from bastion.appeals import rules as appeals_rules
from bastion.appeals import services as appeals
from bastion.appeals.models import Appeal
from bastion.care import selectors as care_selectors
from bastion.care import services as care
from bastion.care.models import Trip
from bastion.cases import selectors as cases_selectors
from bastion.cases import services as cases
from bastion.cases.batch import CaseBatchRejected, CaseBatchRow
from bastion.cases.models import Case, Contact, ContactStatus, FoundBy, QuarantinePlace
from bastion.city import services as city
from bastion.codes import services as codes
from bastion.codes.models import Trigger
from bastion.core import clock, worker
from bastion.core.errors import DomainError, Forbidden
from bastion.core.files import Problem
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import services as delivery
from bastion.delivery.models import Order
from bastion.supply import services as supply
from bastion.supply.models import Flag
from bastion.testing import ingest as testing_ingest
from bastion.testing import policy as testing_policy
from bastion.testing import selectors as testing_selectors
from bastion.testing import services as testing
from bastion.testing.models import Round
from bastion.transfer import selectors as transfer_selectors
from bastion.transfer import services as transfer
from bastion.zones import selectors as zones_selectors
from bastion.zones import services as zones
from bastion.zones.models import Zone, ZoneState


@dataclass(frozen=True)
class CaseReported:
    case: Case
    zone_changes: list[zones.ZoneChange]


def case_reported(
    *,
    resident_id: int,
    kind: str,
    found_by: str = FoundBy.COMMUNITY,
    onset_on: date | None = None,
    reported_at: datetime | None = None,
    frequent: list[str] | None = None,
    stayed: list[str] | None = None,
    places: Sequence[cases.Stay] = (),
    actor: Actor,
    now: datetime,
) -> CaseReported:
    """A resident tested positive.

    1. The case is opened with the places they stayed; if they were a contact, their
       quarantine ends and their secondary contacts become close contacts (cases).
    2. The zones are designated, or proposed to an officer, and the clocks of the zones the
       case lies in restart (zones) — within the same transaction, well inside the 5 hours
       the 9th edition allows.
    3. The case's transfer is requested, and those of the close contacts it made of its
       secondary contacts under a centralised plan (transfer: `cases_transfers_requested`).
    4. The health codes of the case, of contacts it made close, and of everyone in a zone now
       in force follow, in the same transaction (codes).
    Door-to-door supply follows by itself: the households of a new high-risk zone are served
    at home from the moment it is in force (a read model, see the module's docstring), and the
    next dispatch gives them their packages.
    """
    with transaction.atomic():
        opened = cases.case_open(
            resident_id=resident_id,
            kind=kind,
            found_by=found_by,
            onset_on=onset_on,
            reported_at=reported_at,
            frequent=frequent,
            stayed=stayed,
            places=places,
            actor=actor,
            now=now,
        )
        changes = zones.zones_designate_for_case(
            case=opened.case,
            residence=opened.residence,
            frequent=opened.frequent,
            stayed=opened.stayed,
            actor=actor,
            now=now,
        )
        cases_transfers_requested(case=opened.case, contacts=opened.upgraded_contacts, actor=actor, now=now)
        codes.codes_recolour(
            residents=[opened.case.resident_id, *(c.resident_id for c in opened.upgraded_contacts)],
            queries=_zones_residents(c.zone.pk for c in changes if c.zone.state == ZoneState.IN_FORCE),
            trigger=Trigger.CASE,
            actor=actor,
            now=now,
        )
        for change in changes:
            if change.zone.state == ZoneState.IN_FORCE:
                # Dialysis and other sessions of the zone's residents are planned at once, not
                # at the next day's planning: a session may fall this afternoon.
                care.trips_plan_households(
                    households=zones_selectors.zone_households(change.zone).values("pk"),
                    actor=SYSTEM,
                    now=now,
                )
    return CaseReported(opened.case, changes)


# --- transfer ---------------------------------------------------------------------------------


def cases_transfers_requested(
    *, case: Case | None, contacts: Sequence[Contact], actor: Actor, now: datetime
) -> None:
    """A new case is to be moved, and so is each of `contacts` under a centralised plan; a
    contact who turns positive has their transfer changed into a case's. Each person's standing
    medical needs (care: dialysis, chemotherapy, oxygen, insulin, pregnancy) go with the request:
    transfer's admission criteria count them (a patient on dialysis is at high risk, and goes to a
    designated hospital)."""
    moved = [contact for contact in contacts if _centralised(contact)]
    residents = [*([case.resident_id] if case is not None else []), *(c.resident_id for c in moved)]
    needs = care_selectors.standing_need_kinds(resident_ids=residents, today=clock.local_date(now))
    if case is not None:
        transfer.transfer_request(
            resident_id=case.resident_id,
            reason="case",
            case_id=case.pk,
            case_kind=case.kind,
            requested_at=case.reported_at,
            needs=needs.get(case.resident_id, frozenset()),
            actor=actor,
            now=now,
        )
    for contact in moved:
        transfer.transfer_request(
            resident_id=contact.resident_id,
            reason="contact",
            case_id=contact.case_id,
            stay_until=contact.quarantine_until,
            needs=needs.get(contact.resident_id, frozenset()),
            actor=actor,
            now=now,
        )


def _centralised(contact: Contact) -> bool:
    return contact.place == QuarantinePlace.CENTRALISED and contact.status == ContactStatus.QUARANTINED


def cases_reported_batch(
    *, rows: Sequence[CaseBatchRow], actor: Actor, now: datetime
) -> list[tuple[CaseBatchRow, CaseReported]]:
    """A batch of positives, checked whole by `cases.batch.read_batch`: each row goes through
    `case_reported`, all in one transaction.

    All or nothing: if a row is refused now (someone opened the same case since the file
    was checked), every case of the batch is rolled back and the refusal names the row.
    """
    reported: list[tuple[CaseBatchRow, CaseReported]] = []
    with transaction.atomic():
        for row in rows:
            try:
                outcome = case_reported(
                    resident_id=row.resident_id,
                    kind=row.kind,
                    found_by=row.found_by,
                    onset_on=row.onset_on,
                    reported_at=row.reported_at,
                    frequent=row.frequent,
                    stayed=row.stayed,
                    actor=actor,
                    now=now,
                )
            except Forbidden:
                raise
            except DomainError as exc:
                raise CaseBatchRejected([Problem(row.line, "", exc.code, str(exc.message))]) from exc
            reported.append((row, outcome))
    return reported


@dataclass(frozen=True)
class TubeOutcome:
    resulted: testing.TubeResulted
    cases: list[CaseReported]
    zone_screened: bool


def tube_resulted(
    *,
    barcode: str,
    result: str,
    resulted_at: datetime,
    ct_values: dict[str, float] | None = None,
    lab_code: str | None = None,
    actor: Actor,
    now: datetime,
) -> TubeOutcome:
    """A lab reports a tube's result.

    1. The tube is resulted (testing): a negative pool clears its members; a positive or
       invalid pool recalls every member for a single-tube retest, their households served
       door to door until then.
    2. A positive single tube (or retest) opens a case, found by screening, and its zones
       follow (`case_reported`). The platform acts here, not the lab's account.
    3. The health codes of the members recalled or cleared follow (codes): yellow while they
       wait for their retest, green again the moment a negative retest clears them.
    4. When this result completes a round of one zone (every tube resulted, every recall
       retested), the zone's full screening is recorded: all negative only if nobody in it
       was found positive and nobody was left unsampled. The zone's clock reads it.
    """
    platform = replace(SYSTEM, label=f"system (tube {barcode.strip()})")
    try:
        return _tube_resulted(barcode, result, resulted_at, ct_values, lab_code, platform, actor, now)
    except DomainError as refusal:
        # The refused result rolled back with everything else; its listing must not.
        issue = testing.issue_of(refusal)
        if issue is not None:
            testing.issue_record(issue)
        raise


def _tube_resulted(
    barcode: str,
    result: str,
    resulted_at: datetime,
    ct_values: dict[str, float] | None,
    lab_code: str | None,
    platform: Actor,
    actor: Actor,
    now: datetime,
) -> TubeOutcome:
    with transaction.atomic():
        resulted = testing.tube_result(
            barcode=barcode,
            result=result,
            resulted_at=resulted_at,
            ct_values=ct_values,
            lab_code=lab_code,
            actor=actor,
            now=now,
        )
        opened = []
        if not resulted.repeated:
            kind = testing_policy.policy().positive_case_kind
            for resident_id in resulted.positives:
                if cases_selectors.is_case(resident_id):
                    continue  # already a case: a positive retest adds nothing to count
                opened.append(
                    case_reported(
                        resident_id=resident_id,
                        kind=kind,
                        found_by=FoundBy.SCREENING,
                        reported_at=min(resulted_at, now),
                        actor=platform,
                        now=now,
                    )
                )
        screened = False
        round_ = resulted.tube.round
        if not resulted.repeated:
            screened = _zone_round_screened(round_, actor=platform, now=now)
            codes.codes_recolour(
                residents=[*resulted.recalled, *resulted.cleared],
                trigger=Trigger.TEST_RESULT,
                actor=platform,
                now=now,
            )
    return TubeOutcome(resulted, opened, screened)


@dataclass(frozen=True)
class ResultsLoaded:
    report: testing_ingest.LoadReport
    cases: list[CaseReported]
    zones_screened: list[int]  # rounds whose zone's full screening this file completed


def results_loaded(
    *,
    file: IO[bytes],
    filename: str,
    source: str | None = None,
    chunk_bytes: int = testing_ingest.CHUNK_BYTES,
    encoding: str = "utf-8",
    progress: testing_ingest.Progress | None = None,
    actor: Actor,
    now: datetime,
) -> ResultsLoaded:
    """A lab's file of results, loaded set-based (`testing.ingest.results_load`), with the same
    reactions as `tube_resulted`, inside each chunk's transaction:

    1. every positive single tube or retest opens a case, found by screening (unless the
       person is already a case), and its zones follow (`case_reported`);
    2. a round of one zone that the chunk completes records the zone's full screening;
    3. the health codes of the members of every tube that was not a plain negative pool follow.
    A load killed half-way and run again ends as one clean run: a committed chunk holds its
    results and their cases together.
    """
    opened: list[CaseReported] = []
    screened: list[int] = []
    kind = testing_policy.policy().positive_case_kind

    def react(chunk: testing_ingest.ResultsChunk) -> None:
        for positive in chunk.positives:
            if cases_selectors.is_case(positive.resident_id):
                continue  # already a case: a positive retest adds nothing to count
            opened.append(
                case_reported(
                    resident_id=positive.resident_id,
                    kind=kind,
                    found_by=FoundBy.SCREENING,
                    reported_at=min(positive.resulted_at, now),
                    actor=replace(SYSTEM, label=f"system (tube {positive.barcode})"),
                    now=now,
                )
            )
        platform = replace(SYSTEM, label=f"system (results {filename})")
        for round_ in testing_selectors.zone_rounds(chunk.rounds):
            if _zone_round_screened(round_, actor=platform, now=now):
                screened.append(round_.pk)
        codes.codes_recolour(residents=chunk.touched, trigger=Trigger.TEST_RESULT, actor=platform, now=now)

    report = testing_ingest.results_load(
        file=file,
        filename=filename,
        source=source,
        chunk_bytes=chunk_bytes,
        encoding=encoding,
        progress=progress,
        on_chunk=react,
        actor=actor,
        now=now,
    )
    return ResultsLoaded(report, opened, screened)


def _zone_round_screened(round_: Round, *, actor: Actor, now: datetime) -> bool:
    """A zone's round whose last result is in records the zone's full screening.

    It is dated by the day people were sampled (a round sampled on day 6 and resulted after
    midnight is not the day-7 screening), and all negative only if nobody was found positive
    and nobody was left unsampled. A zone lifted meanwhile records nothing: the zone may not
    veto a lab's result.
    """
    if round_.zone_id is None or not testing_selectors.round_is_complete(round_):
        return False
    if not zones_selectors.zone_in_force(round_.zone_id):
        return False
    progress = testing_selectors.round_progress(round_)
    zones.zone_screening_record(
        zone_id=round_.zone_id,
        on=clock.local_date(testing_selectors.sampled_from(round_) or round_.starts_at),
        all_negative=not testing_selectors.found_positive(round_) and progress.unsampled == 0,
        sampled=progress.sampled,
        actor=actor,
        now=now,
    )
    return True


def contact_added(
    *,
    resident_id: int,
    kind: str,
    last_exposure_on: date,
    case_id: int | None = None,
    via_contact_id: int | None = None,
    actor: Actor,
    now: datetime,
) -> Contact:
    """A close or secondary contact is listed (cases), and their health code follows (codes);
    under a centralised plan, their transfer to an isolation point is requested (transfer)."""
    with transaction.atomic():
        contact = cases.contact_add(
            resident_id=resident_id,
            kind=kind,
            last_exposure_on=last_exposure_on,
            case_id=case_id,
            via_contact_id=via_contact_id,
            actor=actor,
            now=now,
        )
        codes.codes_recolour(residents=[contact.resident_id], trigger=Trigger.CONTACT, actor=actor, now=now)
        cases_transfers_requested(case=None, contacts=[contact], actor=actor, now=now)
    return contact


def case_discharged(
    *, case_id: int, reason: str = "", override_reason: str = "", actor: Actor, now: datetime
) -> Case:
    """A case leaves care: their bed is freed and they go home to the protocol's days of home
    health monitoring (transfer: refused unless the discharge tests meet the protocol's rule or
    an officer overrides it with a reason); the case is discharged (cases); their code turns to
    home monitoring's (codes)."""
    actor.require("manage_cases")
    with transaction.atomic():
        found = cases_selectors.case_detail(actor=actor, case_id=case_id)
        transfer.transfer_discharge(
            resident_id=found.resident_id,
            protocol=found.protocol,
            override_reason=override_reason,
            actor=actor,
            now=now,
        )
        case = cases.case_discharge(case_id=case_id, reason=reason or override_reason, actor=actor, now=now)
        codes.codes_recolour(residents=[case.resident_id], trigger=Trigger.DISCHARGE, actor=actor, now=now)
        # Home again: their sessions of treatment are planned at once (if they live in a risk
        # zone), not at the next day's planning.
        care.trips_plan_households(households=[case.household_id], actor=SYSTEM, now=now)
    return case


def transfer_moved(*, transfer_id: int, to: str, reason: str = "", actor: Actor, now: datetime) -> None:
    """A crew or a dispatcher records a transfer's move (transfer: picked up, admitted,
    cancelled or refused, with their carers'). A patient picked up is away from home: the trips
    to treatment planned from home are withdrawn at once (care); one whose ride is cancelled or
    refused stays home, and has their sessions planned again."""
    with transaction.atomic():
        moved = transfer.transfer_move(transfer_id=transfer_id, to=to, reason=reason, actor=actor, now=now)
        if transfer_selectors.is_away(moved):
            care.trips_withdraw_away(residents=[moved.resident_id], actor=SYSTEM, now=now)
        else:
            care.trips_plan_households(households=[moved.household_id], actor=SYSTEM, now=now)


# --- zones an officer changes: the codes of their residents follow --------------------------


def _zones_residents(zone_ids: Iterable[int]) -> list[QuerySet[Any, Any]]:
    return [
        zones_selectors.zone_residents(zone).values("pk")
        for zone in Zone.objects.filter(pk__in=list(zone_ids))
    ]


def _zone_recoloured(zone: Zone, *, actor: Actor, now: datetime) -> None:
    """An officer's change of a zone: its residents' codes follow; a zone now in force has its
    patients' sessions planned at once (care), as a zone drawn for a case does, and a zone
    lifted has them withdrawn at once (`_zones_trips_withdrawn`)."""
    codes.codes_recolour(queries=_zones_residents([zone.pk]), trigger=Trigger.ZONE, actor=actor, now=now)
    if zone.state == ZoneState.IN_FORCE:
        care.trips_plan_households(
            households=zones_selectors.zone_households(zone).values("pk"), actor=SYSTEM, now=now
        )
    else:
        _zones_trips_withdrawn([zone.pk], now=now)


def _zones_trips_withdrawn(zone_ids: Iterable[int], *, now: datetime) -> None:
    """Zones lifted: the trips to treatment planned for their residents because they lived in a
    risk zone are withdrawn in the same transaction (care), audited with the reason, not left
    to the next daily planning; a resident still in another zone in force keeps theirs."""
    zones_named = Zone.objects.filter(pk__in=list(zone_ids))
    lifted = list(zones_named.exclude(state=ZoneState.IN_FORCE).values_list("pk", flat=True))
    if lifted:  # one statement for every zone a clock lifted at once
        care.trips_withdraw_outside_zones(
            households=zones_selectors.households_of_zones(lifted), actor=SYSTEM, now=now
        )


def zone_confirmed(*, zone_id: int, actor: Actor, now: datetime) -> Zone:
    with transaction.atomic():
        zone = zones.zone_confirm(zone_id=zone_id, actor=actor, now=now)
        _zone_recoloured(zone, actor=actor, now=now)
    return zone


def zone_lifted(*, zone_id: int, reason: str, override: bool = False, actor: Actor, now: datetime) -> Zone:
    with transaction.atomic():
        zone = zones.zone_lift(zone_id=zone_id, reason=reason, override=override, actor=actor, now=now)
        _zone_recoloured(zone, actor=actor, now=now)
    return zone


def zone_adjusted(*, zone_id: int, level: str, reason: str, actor: Actor, now: datetime) -> Zone:
    with transaction.atomic():
        zone = zones.zone_adjust(zone_id=zone_id, level=level, reason=reason, actor=actor, now=now)
        _zone_recoloured(zone, actor=actor, now=now)
    return zone


# --- the last 100 metres ------------------------------------------------------------------


@dataclass(frozen=True)
class OrderDelivered:
    order: Order
    repeated: bool
    flag: Flag | None


def order_delivered(
    *,
    order_id: int,
    recipient_code: str,
    weight_kg: object = None,
    client_key: str | None = None,
    actor: Actor,
    now: datetime,
) -> OrderDelivered:
    """A volunteer handed an order over (delivery), and a standard package lighter than declared
    beyond the tolerance flags its supplier (supply), in the same transaction: the household's
    complaint never depends on someone noticing."""
    with transaction.atomic():
        done = delivery.order_deliver(
            order_id=order_id,
            recipient_code=recipient_code,
            weight_kg=weight_kg,
            client_key=client_key,
            actor=actor,
            now=now,
        )
        flag = None
        if (
            not done.repeated
            and done.package_item_id is not None
            and done.order.measured_weight_kg is not None
        ):
            flag = supply.short_weight_flag(
                item_id=done.package_item_id,
                declared_kg=done.declared_kg,
                household_id=done.order.household_id,
                measured_kg=done.order.measured_weight_kg,
                order_id=done.order.pk,
                actor=actor,
                now=now,
            )
    return OrderDelivered(done.order, done.repeated, flag)


def order_failed(*, order_id: int, reason: str, actor: Actor, now: datetime) -> Order:
    """A volunteer could not deliver: the order goes back, and its building gets a new task at
    once (re-dispatch), built by the platform."""
    with transaction.atomic():
        order = delivery.order_fail(order_id=order_id, reason=reason, actor=actor, now=now)
        # Not waiting for a dispatch in progress (it holds the lock, and would wait for this
        # order's row): that dispatch, or the next, puts the order in a task.
        delivery.tasks_build(
            day=clock.local_date(now), building_id=order.building_id, wait=False, actor=SYSTEM, now=now
        )
        order.refresh_from_db()
    return order


# --- the day --------------------------------------------------------------------------------
#
# What the platform does by itself, in this order at every tick of the worker (`bastion worker`,
# the demo's thread) and all at once at the end of each day of a scenario (`day_ended`). The
# order matters: a zone lifted by its clock ends door-to-door service before the dispatch reads
# who is served at home, and releases come before the packages of the day.

QUARTER_HOUR = timedelta(minutes=15)


def zones_evaluated(now: datetime) -> None:
    """Every quarter of an hour, so that a zone steps down within the hour its clock runs out
    (for instance once its day-7 screening is in); the codes of its residents follow in the
    same transaction."""
    with transaction.atomic():
        evaluation = zones.zones_evaluate(today=clock.local_date(now), actor=SYSTEM, now=now)
        if evaluation.changed:
            codes.codes_recolour(
                queries=_zones_residents(evaluation.changed), trigger=Trigger.ZONE, actor=SYSTEM, now=now
            )
            if evaluation.lifted:
                _zones_trips_withdrawn(evaluation.changed, now=now)


def quarantines_released(now: datetime) -> None:
    """Once a day: quarantines end on the day after their plan's last day, and the codes of
    those released follow in the same transaction."""
    with transaction.atomic():
        released = cases.contacts_release_due(today=clock.local_date(now), actor=SYSTEM, now=now)
        codes.codes_recolour(
            residents=released.residents, trigger=Trigger.QUARANTINE_END, actor=SYSTEM, now=now
        )


def rounds_due(now: datetime) -> None:
    """Every quarter of an hour: the residents a round's deadline found unsampled turn yellow
    (应检未检), in one transaction per round; rounds are taken once each, after their deadline."""
    for round_ in testing_selectors.rounds_past_deadline(now=now):
        with transaction.atomic():
            codes.codes_recolour(
                missed_round=round_,
                trigger=Trigger.ROUND_DEADLINE,
                actor=replace(SYSTEM, label=f"system (round {round_.code})"),
                now=now,
            )
            testing.round_deadline_pass(round_id=round_.pk, actor=SYSTEM, now=now)


def codes_timed(now: datetime) -> None:
    """Every quarter of an hour: colours set by facts that end by time alone (a missed round's
    window, home monitoring, a resident sampled since the round they missed) are looked at again,
    where time can have changed something since the last sweep (`codes.rules.sweep_span`)."""
    codes.codes_recolour(timed=True, trigger=Trigger.TIME, actor=SYSTEM, now=now)


def packages_dispatched(now: datetime) -> None:
    """Every quarter of an hour: the standard packages of households newly served door to door
    (a zone designated, a member recalled), then every open order into its building's task, so
    that nobody waits for an operator to press a button."""
    day = clock.local_date(now)
    delivery.standard_orders_create(day=day, actor=SYSTEM, now=now)
    delivery.tasks_build(day=day, actor=SYSTEM, now=now)


def trips_planned(now: datetime) -> None:
    """Once a day (and whenever a zone comes into force with a case): the next days' sessions of
    the standing needs of residents in risk zones, each planned once; the planned sessions of
    residents no longer in one withdrawn."""
    care.trips_plan(actor=SYSTEM, now=now)


def sessions_missed(now: datetime) -> None:
    """Every quarter of an hour: a session whose time passed without the patient picked up is
    flagged missed at once, to the community and the dispatcher."""
    care.trips_flag_missed(actor=SYSTEM, now=now)


def transfers_assigned(now: datetime) -> None:
    """Every quarter of an hour: crews' admissions (in an exercise), contacts' stays that ran
    out, then every waiting person given a bed and a vehicle, the overdue flagged, and the
    trips to treatment of the people picked up withdrawn (care)."""
    transfer.transfers_confirm_by_crews(actor=SYSTEM, now=now)
    with transaction.atomic():
        ended = transfer.transfers_end_stays(actor=SYSTEM, now=now)
        if ended.households:
            # Home from a contact's stay: their sessions from home planned at once, as after a
            # discharge, not left to the next daily planning.
            care.trips_plan_households(households=ended.households, actor=SYSTEM, now=now)
    transfer.transfers_assign(actor=SYSTEM, now=now)
    transfer.transfers_flag_overdue(actor=SYSTEM, now=now)
    # In an exercise the crews pick people up as the vehicle is assigned: their trips to
    # treatment from home go at once, as when a crew records the pick-up (`transfer_moved`).
    care.trips_withdraw_away(actor=SYSTEM, now=now)


def figures_recounted(now: datetime) -> None:
    """Once a day: ages move, so the elderly and infant counts are recounted (the households'
    profiles hold birth dates and stay as they are)."""
    city.figures_refresh(today=clock.local_date(now), profiles_too=False)


# --- appeals (issue 15) -------------------------------------------------------------------
# Kept in one block of its own: appeals' timer and, later, the flows that close an appeal's
# loop in other contexts (a supplier flagged, an emergency trip, a code's triggers).


@dataclass(frozen=True)
class AppealRaised:
    appeal: Appeal
    # The emergency (120) trip a medical emergency opened at once, if it named its patient.
    trip: Trip | None


def appeal_raised(
    *,
    household_id: int,
    category: str,
    urgency: str,
    resident_id: int | None = None,
    text: str = "",
    about: appeals.About | None = None,
    contact_name: str = "",
    contact_phone: str = "",
    actor: Actor,
    now: datetime,
) -> AppealRaised:
    """An appeal raised (appeals.appeal_raise), and in the same transaction the loop it opens
    elsewhere: a medical emergency that names its patient is an emergency call (120), the trip
    opened at once whatever the resident's results, zone or code, by the platform on the
    caller's behalf (a hotline operator holds no power over trips). The ticket stays open with
    its owner, who replies once the patient is taken."""
    with transaction.atomic():
        appeal = appeals.appeal_raise(
            household_id=household_id,
            category=category,
            urgency=urgency,
            resident_id=resident_id,
            text=text,
            about=about,
            contact_name=contact_name,
            contact_phone=contact_phone,
            actor=actor,
            now=now,
        )
        trip = None
        if appeal.resident_id is not None and appeals_rules.opens_emergency_trip(
            category=appeal.category, urgency=appeal.urgency
        ):
            trip = care.emergency_call(
                resident_id=appeal.resident_id,
                note=appeal.text,
                actor=replace(SYSTEM, label=f"system (appeal {appeal.pk})"),
                now=now,
            )
    return AppealRaised(appeal=appeal, trip=trip)


def appeals_swept(now: datetime) -> None:
    """Every quarter of an hour: tickets past their deadline go up a level, replied tickets
    whose resident stayed silent past the set time close."""
    appeals.appeals_sweep(actor=SYSTEM, now=now)


APPEALS_TIMERS: tuple[worker.Timer, ...] = (worker.Timer("appeals.sweep", QUARTER_HOUR, appeals_swept),)

# --- end of appeals ----------------------------------------------------------------------------


TIMERS: tuple[worker.Timer, ...] = (
    worker.Timer("zones.evaluate", QUARTER_HOUR, zones_evaluated),
    worker.Timer("cases.release_contacts", None, quarantines_released),
    worker.Timer("transfer.assign", QUARTER_HOUR, transfers_assigned),
    worker.Timer("codes.round_deadlines", QUARTER_HOUR, rounds_due),
    worker.Timer("codes.timed", QUARTER_HOUR, codes_timed),
    worker.Timer("delivery.dispatch", QUARTER_HOUR, packages_dispatched),
    worker.Timer("care.plan_trips", None, trips_planned),
    worker.Timer("care.flag_missed", QUARTER_HOUR, sessions_missed),
    worker.Timer("city.figures", None, figures_recounted),
    *APPEALS_TIMERS,
)


def day_ended(*, now: datetime, name: str = "worker") -> list[str]:
    """The end of a day: every timer once, in the playbook's order, whether due or not (the
    scenario runner calls it at 23:59:59 of each simulated day). A failing step is recorded
    on the heartbeat and does not stop the next."""
    return worker.tick(timers=TIMERS, now=now, name=name, all_due=True)
