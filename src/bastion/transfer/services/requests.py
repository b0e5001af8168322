"""Transfer requests (a case, a contact, a group by hand), the clinical type, the moves a crew
or a dispatcher confirms, and the discharge with the way home."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS, place_by_address
from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.scopes import Actor, get_scoped, scoped
from bastion.transfer import policy as policies
from bastion.transfer import rules
from bastion.transfer.models import DischargeTest, Transfer, TransferReason, TransferState
from bastion.transfer.services.ending import end_with_carers, release_bed
from bastion.transfer.services.ending import record as _record


def _require_requester(actor: Actor) -> None:
    if not (actor.has("manage_transfers") or actor.has("manage_cases")):
        raise Forbidden()


def _household_key(resident: Resident, reason: str, now: datetime, policy: policies.Policy) -> str:
    """A household infected within a few days is kept together: the key of an open case (or
    carer) transfer of the same household requested within the policy's days, else a new one.
    Contacts of one household travel and stay together too."""
    kinds = ["contact"] if reason == TransferReason.CONTACT else ["case", "carer"]
    since = now - timedelta(days=policy.together_within_days)
    other = (
        Transfer.objects.select_for_update()
        .filter(
            household_id=resident.household_id,
            state__in=rules.OPEN,
            reason__in=kinds,
            requested_at__gte=since,
        )
        .order_by("requested_at", "id")
        .first()
    )
    if other is None:
        return ""
    if not other.group_key:
        other.group_key = f"household:{resident.household_id}:{other.pk}"
        other.save(update_fields=["group_key"])
    return other.group_key


@dataclass(frozen=True)
class Person:
    age: int
    high_risk: bool
    needs_carer: bool


def _person(resident: Resident, today: date, policy: policies.Policy) -> Person:
    age = rules.age_on(resident.birth_date, today)
    return Person(
        age=age,
        high_risk=rules.is_high_risk(
            age=age, chronic_treatment=resident.chronic_treatment, pregnant=resident.pregnant, policy=policy
        ),
        needs_carer=rules.needs_carer(age=age, disabled=resident.disabled, policy=policy),
    )


def transfer_request(
    *,
    resident_id: int,
    reason: str,
    case_id: int | None = None,
    case_kind: str | None = None,
    severity: str | None = None,
    emergency: bool = False,
    stay_until: date | None = None,
    group_key: str = "",
    requested_at: datetime | None = None,
    actor: Actor,
    now: datetime,
) -> list[Transfer]:
    """Request a person's transfer (and their carer's, if they cannot care for themselves).

    A case's clinical type follows its classification (policy) until a clinician sets it; the
    person's vulnerability is read from the registry (age, chronic treatment, pregnancy). A
    household infected within a few days shares one group, and one destination. A person with
    an open transfer already: a contact who turns positive has it changed into a case's (a
    destination given back if not yet on the way; an isolation point's stay ended and a new
    request made if already there); anything else is returned as it is (idempotent).
    """
    _require_requester(actor)
    if reason not in (TransferReason.CASE, TransferReason.CONTACT, TransferReason.GROUP):
        raise InvalidInput(_("A transfer is for a case, a contact or a group."), code="bad_transfer_reason")
    policy = policies.policy()
    if severity is not None and severity not in policies.SEVERITIES:
        raise InvalidInput(
            _("A clinical type is one of: %(values)s.") % {"values": ", ".join(policies.SEVERITIES)},
            code="bad_severity",
        )
    if reason == TransferReason.CASE and severity is None:
        severity = policy.severity_of_kind.get(case_kind or "confirmed", "mild")
    requested_at = min(requested_at or now, now)
    with transaction.atomic():
        resident = get_scoped(Resident.objects.select_for_update(), actor, RESIDENT_PATHS, pk=resident_id)
        existing = (
            Transfer.objects.select_for_update().filter(resident=resident, state__in=rules.OPEN).first()
        )
        if existing is not None:
            if (
                reason == TransferReason.CONTACT
                and existing.reason == TransferReason.CONTACT
                and stay_until is not None
                and existing.stay_until is not None
                and stay_until > existing.stay_until
            ):
                # A second exposure: the stay runs to the later plan's end, not the first's.
                was = existing.stay_until
                existing.stay_until = stay_until
                existing.save(update_fields=["stay_until"])
                audit.record(
                    action="transfer.transfer.stay_extended",
                    obj=existing,
                    before={"stay_until": was.isoformat()},
                    after={"stay_until": stay_until.isoformat()},
                    reason=_("a later exposure: the quarantine plan runs longer"),
                    district_id=existing.district_id,
                    actor=actor,
                    now=now,
                )
            if reason != TransferReason.CASE or existing.reason == TransferReason.CASE:
                return [existing]
            if existing.state in rules.WAITING:
                return [_become_case(existing, case_id, severity or "mild", requested_at, policy, actor, now)]
            # Already in a place (or on the way) as a contact: that stay ends (a ride under way is
            # cancelled, its seat and bed given back), and a case's begins; their carer's ends
            # too, and a carer goes with the case (`_carer_for`, below).
            end_with_carers(
                [existing], to=None, reason=_("turned positive: moved on as a case"), actor=actor, now=now
            )
        person = _person(resident, clock.local_date(now), policy)
        key = group_key or _household_key(resident, reason, now, policy)
        pickup_by, admit_by = rules.deadlines(reason=reason, requested_at=requested_at, policy=policy)
        try:
            with transaction.atomic():
                transfer = Transfer.objects.create(
                    resident=resident,
                    household_id=resident.household_id,
                    community_id=resident.community_id,
                    district_id=resident.district_id,
                    reason=reason,
                    case_id=case_id,
                    severity=severity or "",
                    high_risk=person.high_risk,
                    needs_carer=person.needs_carer,
                    group_key=key,
                    emergency=emergency,
                    requested_at=requested_at,
                    pickup_by=pickup_by,
                    admit_by=admit_by,
                    stay_until=stay_until,
                )
        except IntegrityError:  # requested meanwhile by another flow
            raise Conflict(
                _("This person's transfer is requested already."), code="already_requested"
            ) from None
        _record(transfer, "requested", None, "", actor, now)
        made = [transfer]
        if person.needs_carer:
            carer = _carer_for(transfer, resident, policy, actor, now)
            if carer is not None:
                made.append(carer)
    return made


def _become_case(
    transfer: Transfer,
    case_id: int | None,
    severity: str,
    requested_at: datetime,
    policy: policies.Policy,
    actor: Actor,
    now: datetime,
) -> Transfer:
    before = transfer.state
    fields = ["reason", "case", "severity", "pickup_by", "admit_by", "stay_until", "group_key", "carer_of"]
    # A carer who turns positive is a case of their own, no longer sent home with the person
    # they went with; they stay in that household's group. A contact leaves the contacts' group.
    keep_group = transfer.reason == TransferReason.CARER
    transfer.carer_of = None
    if transfer.state != TransferState.REQUESTED:
        # Not on the way yet: the contact's room is given back, a case's destination follows.
        fields += _give_back_destination(transfer, now)
    transfer.reason, transfer.case_id, transfer.severity = TransferReason.CASE, case_id, severity
    transfer.pickup_by, transfer.admit_by = rules.deadlines(
        reason="case", requested_at=requested_at, policy=policy
    )
    transfer.stay_until = None
    if not keep_group:
        transfer.group_key = ""
    transfer.save(update_fields=list(dict.fromkeys(fields)))
    _record(transfer, "became_case", before, _("turned positive"), actor, now)
    _carers_follow(transfer, _("the person they care for turned positive"), actor, now)
    return transfer


def _give_back_destination(transfer: Transfer, now: datetime) -> list[str]:
    """Back to requested, the bed and the seat given back (fields to save)."""
    transfer.state = TransferState.REQUESTED
    fields = ["state", "facility", "pool", "bed", "vehicle", "seat", *release_bed(transfer, now)]
    transfer.facility, transfer.pool, transfer.bed = None, None, None
    transfer.vehicle, transfer.seat = None, None
    return fields


def _carers_follow(transfer: Transfer, reason: str, actor: Actor, now: datetime) -> None:
    """`transfer` (still waiting) was given a new destination to find, or new deadlines: the
    carers going with it who are not on the way yet give theirs back too and share its group
    (one destination, one ride) and deadlines, instead of waiting at the old place."""
    carers = list(
        Transfer.objects.select_for_update().filter(carer_of=transfer, state__in=rules.WAITING).order_by("pk")
    )
    if not carers:
        return
    if not transfer.group_key:
        transfer.group_key = f"household:{transfer.household_id}:{transfer.pk}"
        transfer.save(update_fields=["group_key"])
    for carer in carers:
        before = carer.state
        fields = ["group_key", "pickup_by", "admit_by"]
        if carer.state != TransferState.REQUESTED:
            fields += _give_back_destination(carer, now)
        carer.group_key = transfer.group_key
        carer.pickup_by, carer.admit_by = transfer.pickup_by, transfer.admit_by
        carer.save(update_fields=list(dict.fromkeys(fields)))
        _record(carer, "destination_returned", before, reason, actor, now)


def _carer_for(
    transfer: Transfer, resident: Resident, policy: policies.Policy, actor: Actor, now: datetime
) -> Transfer | None:
    """A carer from the household goes with someone who cannot care for themselves: nobody new
    if an able adult of the household is moved with them already; else the eldest able adult
    (a contact still waiting goes as the carer instead)."""
    today = clock.local_date(now)
    members = list(
        Resident.objects.filter(household_id=resident.household_id)
        .exclude(pk=resident.pk)
        .order_by("birth_date")
    )
    able = [
        m
        for m in members
        if rules.can_care(age=rules.age_on(m.birth_date, today), disabled=m.disabled, policy=policy)
    ]
    moving = {
        t.resident_id: t
        for t in Transfer.objects.select_for_update().filter(
            resident_id__in=[m.pk for m in able], state__in=rules.OPEN
        )
    }
    if not transfer.group_key:
        transfer.group_key = f"household:{resident.household_id}:{transfer.pk}"
        transfer.save(update_fields=["group_key"])
    for member in able:
        other = moving.get(member.pk)
        if other is not None and (
            other.reason in (TransferReason.CASE, TransferReason.CARER)
            or other.group_key == transfer.group_key
        ):
            if other.state in rules.WAITING and other.group_key != transfer.group_key:
                other.group_key = transfer.group_key
                other.save(update_fields=["group_key"])
            return None
    for member in able:
        other = moving.get(member.pk)
        if other is None:
            carer = Transfer.objects.create(
                resident=member,
                household_id=member.household_id,
                community_id=member.community_id,
                district_id=member.district_id,
                reason=TransferReason.CARER,
                carer_of=transfer,
                group_key=transfer.group_key,
                emergency=transfer.emergency,
                requested_at=transfer.requested_at,
                pickup_by=transfer.pickup_by,
                admit_by=transfer.admit_by,
            )
            _record(
                carer, "requested", None, _("goes with someone who cannot care for themselves"), actor, now
            )
            return carer
        if other.state == TransferState.REQUESTED:
            before = other.state
            other.reason, other.carer_of, other.group_key = TransferReason.CARER, transfer, transfer.group_key
            other.pickup_by, other.admit_by, other.stay_until = transfer.pickup_by, transfer.admit_by, None
            other.save(
                update_fields=["reason", "carer_of", "group_key", "pickup_by", "admit_by", "stay_until"]
            )
            _record(other, "carer", before, _("goes with someone who cannot care for themselves"), actor, now)
            return other
    return None


def transfers_request_group(
    *, address: str, emergency: bool = False, actor: Actor, now: datetime
) -> list[Transfer]:
    """Move a place's residents together, by hand (a courtyard, a building, a household): one
    group, one destination, with the contacts' deadlines. People already on their way or in a
    place keep their transfer."""
    actor.require("manage_transfers")
    place = place_by_address(address.split("#")[0])
    paths = {
        "compound_id": "household__compound_id",
        "building_id": "household__building_id",
        "unit_id": "household__unit_id",
        "household_id": "household_id",
    }
    lookup = {
        path: getattr(place, field) for field, path in paths.items() if getattr(place, field) is not None
    }
    with transaction.atomic():
        residents = list(
            scoped(Resident.objects.filter(**lookup), actor, RESIDENT_PATHS).order_by(
                "household_id", "number"
            )
        )
        if not residents:
            raise NotFound(_("Nobody lives at %(address)s.") % {"address": address}, code="nobody_there")
        key = f"group:{place.address}:{now:%Y%m%d%H%M}"
        made: dict[int, Transfer] = {}
        for resident in residents:
            for t in transfer_request(
                resident_id=resident.pk,
                reason=TransferReason.GROUP,
                emergency=emergency,
                group_key=key,
                actor=actor,
                now=now,
            ):
                made[t.pk] = t  # a member requested first as someone's carer is listed once
    return list(made.values())


def transfer_severity_set(*, resident_id: int, severity: str, actor: Actor, now: datetime) -> Transfer:
    """A clinician sets a case's clinical type. A destination no longer fitting it is given back
    before the person is on the way (the next assignment finds the right bed); a person already
    in a place that no longer fits is moved on: that stay ends and an emergency transfer from
    there is requested."""
    _require_requester(actor)
    if severity not in policies.SEVERITIES:
        raise InvalidInput(
            _("A clinical type is one of: %(values)s.") % {"values": ", ".join(policies.SEVERITIES)},
            code="bad_severity",
        )
    policy = policies.policy()
    with transaction.atomic():
        transfer = (
            scoped(Transfer.objects.select_for_update(of=("self",)), actor, RESIDENT_PATHS)
            .filter(resident_id=resident_id, state__in=rules.OPEN, reason=TransferReason.CASE)
            .select_related("facility", "pool")
            .first()
        )
        if transfer is None:
            raise NotFound(_("This person has no open transfer as a case."), code="no_transfer")
        before = transfer.severity
        transfer.severity = severity
        transfer.save(update_fields=["severity"])
        audit.record(
            action="transfer.transfer.severity",
            obj=transfer,
            before={"severity": before},
            after={"severity": severity},
            district_id=transfer.district_id,
            actor=actor,
            now=now,
        )
        if transfer.facility is None:
            return transfer
        admission = rules.admission_for(
            reason=transfer.reason, severity=severity, high_risk=transfer.high_risk, policy=policy
        )
        fits = transfer.facility.kind in admission.places and (
            transfer.pool is None
            or transfer.pool.kind == rules.bed_at(facility_kind=transfer.facility.kind, admission=admission)
        )
        if fits:
            return transfer
        if transfer.state == TransferState.DESTINATION_ASSIGNED:
            state = transfer.state
            transfer.save(update_fields=_give_back_destination(transfer, now))
            _record(transfer, "destination_returned", state, _("the clinical type changed"), actor, now)
            _carers_follow(transfer, _("the clinical type of the person they care for changed"), actor, now)
            return transfer
        if transfer.state == TransferState.ADMITTED:
            # Their carer leaves with them, and goes along with the new transfer.
            end_with_carers(
                [transfer],
                to=TransferState.DISCHARGED,
                reason=_("moved on: the clinical type changed"),
                actor=actor,
                now=now,
            )
            return transfer_request(
                resident_id=resident_id,
                reason=TransferReason.CASE,
                case_id=transfer.case_id,
                severity=severity,
                emergency=True,
                actor=actor,
                now=now,
            )[0]
    return transfer


MOVES = (TransferState.PICKED_UP, TransferState.ADMITTED, TransferState.CANCELLED, TransferState.REFUSED)


def transfer_move(*, transfer_id: int, to: str, reason: str = "", actor: Actor, now: datetime) -> Transfer:
    """A crew confirms a pick-up or an admission, or a dispatcher cancels or records a refusal
    (with a reason). Refused by the transition map otherwise; a cancelled or refused transfer
    gives its bed and seat back, an admitted one its seat (the vehicle is free again)."""
    actor.require("manage_transfers")
    if to not in MOVES:
        raise InvalidInput(
            _("A transfer is picked up, admitted, cancelled or refused here."), code="bad_move"
        )
    reason = reason.strip()
    if to in (TransferState.CANCELLED, TransferState.REFUSED) and not reason:
        raise InvalidInput(_("Say why."), code="reason_required")
    with transaction.atomic():
        transfer = get_scoped(Transfer.objects.select_for_update(), actor, RESIDENT_PATHS, pk=transfer_id)
        if not rules.may_move("transfer", transfer.state, to):
            raise InvalidTransition(
                _("A transfer %(state)s cannot be %(to)s.") % {"state": transfer.state, "to": to},
                code="bad_transition",
            )
        if to in (TransferState.CANCELLED, TransferState.REFUSED):
            end_with_carers([transfer], to=to, reason=reason, actor=actor, now=now)
            return transfer
        before = transfer.state
        transfer.state = to
        if to == TransferState.PICKED_UP:
            transfer.picked_up_at = now
            fields = ["state", "picked_up_at"]
        else:
            transfer.admitted_at = now
            transfer.on_board = False
            fields = ["state", "admitted_at", "on_board"]
        transfer.save(update_fields=fields)
        _record(transfer, to, before, reason, actor, now)
    return transfer


def discharge_test_record(
    *, transfer_id: int, taken_at: datetime, negative: bool, ct: float | None, actor: Actor, now: datetime
) -> DischargeTest:
    """A test of an admitted person before discharge, with its Ct value."""
    if not (actor.has("manage_transfers") or actor.has("manage_cases")):
        raise Forbidden()
    if taken_at > now:
        raise InvalidInput(_("A test cannot be taken in the future."), code="test_in_future")
    if ct is not None and not 0 <= ct <= 50:
        raise InvalidInput(_("A Ct value lies between 0 and 50."), code="bad_ct")
    with transaction.atomic():
        transfer = get_scoped(Transfer.objects.select_for_update(), actor, RESIDENT_PATHS, pk=transfer_id)
        if transfer.state != TransferState.ADMITTED:
            raise InvalidTransition(
                _("Only an admitted person is tested for discharge."), code="not_admitted"
            )
        test = DischargeTest.objects.create(
            transfer=transfer,
            taken_at=taken_at,
            negative=negative,
            ct=None if ct is None else Decimal(str(ct)),
            recorded_at=now,
        )
        audit.record(
            action="transfer.discharge_test.recorded",
            obj=test,
            after={"negative": negative, "ct": ct, "taken_at": taken_at.isoformat()},
            district_id=transfer.district_id,
            actor=actor,
            now=now,
        )
    return test


def transfer_discharge(
    *, resident_id: int, protocol: str, override_reason: str = "", actor: Actor, now: datetime
) -> Transfer | None:
    """Discharge a person from their place, home, followed by the protocol's days of home health
    monitoring; the bed is freed. Refused unless the discharge tests meet the protocol's rule
    (v9: two negative tests ≥ 24 h apart with Ct ≥ 35), or an officer overrides it with a reason,
    which is audited. A person not yet admitted has their transfer cancelled (with the same days
    of home monitoring); nobody moved: None."""
    actor.require("manage_cases")
    override_reason = override_reason.strip()
    rule = policies.policy().discharge_rule(protocol)
    with transaction.atomic():
        transfer = (
            scoped(Transfer.objects.select_for_update(), actor, RESIDENT_PATHS)
            .filter(resident_id=resident_id, state__in=rules.OPEN)
            .exclude(reason=TransferReason.CARER)
            .first()
        )
        if transfer is None:
            return None
        if transfer.state != TransferState.ADMITTED:
            # Never moved, but discharged as a case all the same: the protocol's home monitoring
            # follows (the health code reads the same rule), and the resident's page says until when.
            transfer.home_monitoring_until = rules.home_monitoring_until(
                discharged_on=clock.local_date(now), rule=rule
            )
            transfer.save(update_fields=["home_monitoring_until"])
            end_with_carers(
                [transfer],
                to=TransferState.CANCELLED,
                reason=_("discharged before admission"),
                actor=actor,
                now=now,
            )
            return transfer
        tests = [
            rules.Test(t.taken_at, t.negative, None if t.ct is None else float(t.ct))
            for t in transfer.discharge_tests.all()
        ]
        allowed = rules.discharge_allowed(tests, rule)
        if not allowed and not override_reason:
            raise InvalidTransition(
                _(
                    "The discharge rule is not met: %(tests)s negative tests at least %(hours)s hours "
                    "apart with Ct of at least %(ct)s. An officer may override it with a reason."
                )
                % {"tests": rule.tests, "hours": rule.hours_apart, "ct": rule.ct_at_least},
                code="discharge_rule_not_met",
            )
        # The same rule colours the discharged case's health code (codes.services).
        transfer.home_monitoring_until = rules.home_monitoring_until(
            discharged_on=clock.local_date(now), rule=rule
        )
        transfer.save(update_fields=["home_monitoring_until"])
        if not allowed:
            reason = _("discharge rule overridden: %(reason)s") % {"reason": override_reason}
        elif transfer.home_monitoring_until is None:
            reason = _("discharge rule met: no home health monitoring")
        else:
            reason = _("discharge rule met: home health monitoring until %(day)s") % {
                "day": transfer.home_monitoring_until.isoformat()
            }
        # Their carers go home with them.
        end_with_carers([transfer], to=TransferState.DISCHARGED, reason=reason, actor=actor, now=now)
    return transfer
