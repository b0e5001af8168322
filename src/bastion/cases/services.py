"""Every write of cases and contacts: atomic, scoped, audited.

The reactions of other contexts (zones, supply, transfer) to a new case are not here but in
flows.py; these services only keep cases and contacts right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bastion.cases import protocol as protocols
from bastion.cases import rules
from bastion.cases.models import (
    Case,
    CaseKind,
    CaseStatus,
    Contact,
    ContactKind,
    ContactStatus,
    ExposurePlace,
    FoundBy,
    PlaceType,
    ProtocolInForce,
)
from bastion.cases.selectors import OPEN_CONTACT, cases_visible, protocol_code_on, protocol_on
from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS, PlaceRef, household_place, place_by_address
from bastion.core import audit, clock
from bastion.core.errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, get_scoped


def protocol_adopt(
    *, protocol: str, since: date, reason: str, actor: Actor, now: datetime
) -> ProtocolInForce:
    """Apply `protocol` city-wide from `since` (today or later) on. Cases keep the protocol of
    their report day and zones the one they were designated under. City-wide officers only."""
    actor.require("manage_zones")
    if actor.level != ScopeLevel.CITY:
        raise Forbidden(_("Only the command centre changes the protocol of the whole city."))
    reason = reason.strip()
    if not reason:
        raise InvalidInput(_("Say why the protocol changes."), code="reason_required")
    if since < clock.local_date(now):
        raise InvalidInput(_("A protocol is adopted from today or a later day."), code="protocol_in_past")
    try:
        protocols.get(protocol)
    except protocols.ProtocolFileError:
        raise InvalidInput(
            _("Unknown protocol %(code)s.") % {"code": protocol}, code="unknown_protocol"
        ) from None
    with transaction.atomic():
        before = protocol_code_on(since)
        adopted, _created = ProtocolInForce.objects.update_or_create(
            since=since, defaults={"protocol": protocol, "reason": reason}
        )
        audit.record(
            action="cases.protocol.adopted",
            obj=adopted,
            before={"protocol": before},
            after={"protocol": protocol, "since": since.isoformat()},
            reason=reason,
            actor=actor,
            now=now,
        )
    return adopted


@dataclass(frozen=True)
class OpenedCase:
    case: Case
    residence: PlaceRef
    frequent: list[PlaceRef]
    stayed: list[PlaceRef]
    upgraded_contacts: list[Contact]


@dataclass(frozen=True)
class Stay:
    """A place of the registry a case stayed at, what kind of place, and when."""

    address: str
    place_type: str = PlaceType.OTHER
    frequent: bool = False
    from_on: date | None = None
    until_on: date | None = None


def _check_stays(stays: Sequence[Stay], today: date) -> list[tuple[Stay, PlaceRef]]:
    checked = []
    for stay in stays:
        if stay.place_type not in PlaceType.values or stay.place_type == PlaceType.HOME:
            raise InvalidInput(
                _("A place is a workplace, a shop or market, or another place (home is added by itself)."),
                code="bad_place_type",
            )
        if stay.from_on and stay.until_on and stay.from_on > stay.until_on:
            raise InvalidInput(
                _("%(address)s: the stay ends before it starts.") % {"address": stay.address},
                code="bad_stay_dates",
            )
        if (stay.until_on or stay.from_on or today) > today:
            raise InvalidInput(
                _("%(address)s: a stay cannot be in the future.") % {"address": stay.address},
                code="stay_in_future",
            )
        checked.append((stay, place_by_address(stay.address)))
    return checked


def case_open(
    *,
    resident_id: int,
    kind: str,
    found_by: str = FoundBy.COMMUNITY,
    onset_on: date | None = None,
    reported_at: datetime | None = None,
    frequent: list[str] | None = None,
    stayed: list[str] | None = None,
    places: Sequence[Stay] = (),
    actor: Actor,
    now: datetime,
) -> OpenedCase:
    """Open the case of an infected resident, with the places they stayed.

    If the resident was a contact, their quarantine ends (`became_case`), and if they were a
    close contact the case is linked to the case that exposed them; their own secondary contacts
    become close contacts of the new case (rules.secondary_upgrade), with the plan of the
    protocol in force today. Refuses a second case for one person, a report or onset dated in
    the future, an onset after the report, and stays that are not places of the registry.
    `frequent` and `stayed` are plain addresses; `places` says also the kind of place and when.
    """
    actor.require("manage_cases")
    if kind not in CaseKind.values:
        raise InvalidInput(_("A case is confirmed or asymptomatic."), code="bad_case_kind")
    if found_by not in FoundBy.values:
        raise InvalidInput(
            _("Found by must be one of: %(values)s.") % {"values": ", ".join(FoundBy.values)},
            code="bad_found_by",
        )
    reported_at = reported_at or now
    if reported_at > now:
        raise InvalidInput(_("A case cannot be reported in the future."), code="case_in_future")
    today = clock.local_date(now)
    reported_on = clock.local_date(reported_at)
    if onset_on is not None and onset_on > today:
        raise InvalidInput(_("The onset cannot be in the future."), code="onset_in_future")
    if onset_on is not None and onset_on > reported_on:
        raise InvalidInput(_("The onset cannot be after the report."), code="onset_after_report")
    stays = _check_stays(
        [
            *(Stay(address, frequent=True) for address in frequent or []),
            *(Stay(address) for address in stayed or []),
            *places,
        ],
        today,
    )
    with transaction.atomic():
        resident = get_scoped(
            Resident.objects.select_for_update().select_related("household"),
            actor,
            RESIDENT_PATHS,
            pk=resident_id,
        )
        if Case.objects.filter(resident_id=resident.pk).exists():
            raise Conflict(_("This resident is already a case."), code="already_a_case")
        protocol = protocol_code_on(reported_on)
        exposure = (
            Contact.objects.filter(resident_id=resident.pk, status__in=OPEN_CONTACT)
            .order_by("kind", "-last_exposure_on")
            .first()
        )
        try:
            case = Case.objects.create(
                resident=resident,
                household_id=resident.household_id,
                community_id=resident.community_id,
                district_id=resident.district_id,
                kind=kind,
                initial_kind=kind,
                found_by=found_by,
                onset_on=onset_on,
                reported_at=reported_at,
                reported_on=reported_on,
                protocol=protocol,
                source_id=rules.infected_by(
                    contact_kind=exposure.kind if exposure else None,
                    contact_case_id=exposure.case_id if exposure else None,
                ),
            )
        except IntegrityError:  # another officer opened the same case meanwhile
            raise Conflict(_("This resident is already a case."), code="already_a_case") from None
        residence = household_place(resident.household)
        ExposurePlace.objects.create(
            case=case,
            place_type=PlaceType.HOME,
            frequent=True,
            address=residence.address,
            compound_id=residence.compound_id,
            building_id=residence.building_id,
            unit_id=residence.unit_id,
            household_id=residence.household_id,
        )
        for stay, place in stays:
            ExposurePlace.objects.create(
                case=case,
                place_type=stay.place_type,
                frequent=stay.frequent,
                from_on=stay.from_on,
                until_on=stay.until_on,
                address=place.address,
                compound_id=place.compound_id,
                building_id=place.building_id,
                unit_id=place.unit_id,
                household_id=place.household_id,
            )
        audit.record(
            action="cases.case.opened",
            obj=case,
            after={
                "kind": kind,
                "found_by": found_by,
                "reported_on": reported_on.isoformat(),
                "protocol": protocol,
                "source": case.source_id,
            },
            district_id=case.district_id,
            actor=actor,
            now=now,
        )
        upgraded = _contacts_after_positive(case=case, actor=actor, now=now)
    return OpenedCase(
        case,
        residence,
        [place for stay, place in stays if stay.frequent],
        [place for stay, place in stays if not stay.frequent],
        upgraded,
    )


def _contacts_after_positive(*, case: Case, actor: Actor, now: datetime) -> list[Contact]:
    """The new case was a contact: that quarantine ends. Their secondary contacts are now close
    contacts of the new case, with a new plan counted from the same last exposure."""
    today = clock.local_date(now)
    for contact in Contact.objects.select_for_update().filter(
        resident_id=case.resident_id, status__in=OPEN_CONTACT
    ):
        _contact_end(contact, ContactStatus.BECAME_CASE, today, _("turned positive"), actor, now)
    upgraded = []
    # The secondary contacts of the new case (rules.secondary_upgrade).
    secondaries = Contact.objects.select_for_update().filter(
        via__resident_id=case.resident_id,
        kind=ContactKind.SECONDARY,
        status__in=[*OPEN_CONTACT, ContactStatus.RELEASED],
    )
    protocol = protocol_on(today)
    for secondary in secondaries:
        upgrade = rules.secondary_upgrade(
            status=secondary.status, last_exposure_on=secondary.last_exposure_on
        )
        if upgrade is None:
            continue
        if upgrade.ends_as is not None:
            _contact_end(
                secondary, upgrade.ends_as, today, _("their close contact turned positive"), actor, now
            )
        if upgrade.unless_listed and (
            Case.objects.filter(resident_id=secondary.resident_id).exists()
            or Contact.objects.filter(
                resident_id=secondary.resident_id, case=case, status__in=OPEN_CONTACT
            ).exists()
        ):
            continue
        upgraded.append(
            _contact_create(
                resident=secondary.resident,
                case=case,
                via=None,
                kind=upgrade.kind,
                last_exposure_on=upgrade.last_exposure_on,
                protocol=protocol,
                reason=_("upgraded from secondary contact"),
                actor=actor,
                now=now,
            )
        )
    return upgraded


def _contact_end(
    contact: Contact, status: str, today: date, reason: str, actor: Actor, now: datetime
) -> None:
    if not rules.may_move("contact", contact.status, status):
        raise InvalidTransition()
    before = contact.status
    contact.status = status
    contact.ended_on = today
    contact.save(update_fields=["status", "ended_on"])
    audit.record(
        action=f"cases.contact.{status}",
        obj=contact,
        before={"status": before},
        after={"status": status},
        reason=reason,
        district_id=contact.district_id,
        actor=actor,
        now=now,
    )


def _contact_create(
    *,
    resident: Resident,
    case: Case,
    via: Contact | None,
    kind: str,
    last_exposure_on: date,
    protocol: protocols.Protocol,
    reason: str,
    actor: Actor,
    now: datetime,
) -> Contact:
    plan = rules.quarantine_plan(protocol.contacts[kind], last_exposure_on)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                resident=resident,
                household_id=resident.household_id,
                community_id=resident.community_id,
                district_id=resident.district_id,
                case=case,
                via=via,
                kind=kind,
                last_exposure_on=last_exposure_on,
                protocol=protocol.code,
                place=plan.place,
                quarantine_until=plan.quarantine_until,
                monitoring_until=plan.monitoring_until,
                test_dates=[d.isoformat() for d in plan.test_dates],
                identified_at=now,
            )
    except IntegrityError:
        raise Conflict(
            _("This resident is already in quarantine as a contact of this case."), code="already_a_contact"
        ) from None
    audit.record(
        action="cases.contact.identified",
        obj=contact,
        after={
            "kind": kind,
            "case": case.pk,
            "via": via.pk if via else None,
            "place": plan.place,
            "quarantine_until": plan.quarantine_until.isoformat(),
            "monitoring_until": plan.monitoring_until.isoformat() if plan.monitoring_until else None,
        },
        reason=reason,
        district_id=contact.district_id,
        actor=actor,
        now=now,
    )
    return contact


def contact_add(
    *,
    resident_id: int,
    kind: str,
    last_exposure_on: date,
    case_id: int | None = None,
    via_contact_id: int | None = None,
    actor: Actor,
    now: datetime,
) -> Contact:
    """List a close contact of a case, or a secondary contact of a close contact.

    The quarantine plan (where, until when, test days) follows the protocol in force today.
    Refuses a contact who is already a case (or the case itself), one already in quarantine for
    this case, a secondary contact where the protocol identifies none or not linked to an open
    close contact within the actor's scope, and a last exposure in the future.
    """
    actor.require("manage_cases")
    today = clock.local_date(now)
    if kind not in ContactKind.values:
        raise InvalidInput(_("A contact is close or secondary."), code="bad_contact_kind")
    if last_exposure_on > today:
        raise InvalidInput(_("The last exposure cannot be in the future."), code="exposure_in_future")
    protocol = protocol_on(today)
    if kind == ContactKind.SECONDARY and not protocol.secondary_contacts:
        raise InvalidInput(
            _("The protocol in force (%(protocol)s) does not identify secondary contacts.")
            % {"protocol": protocol.code},
            code="no_secondary_contacts",
        )
    with transaction.atomic():
        resident = get_scoped(Resident.objects.select_for_update(), actor, RESIDENT_PATHS, pk=resident_id)
        if Case.objects.filter(resident_id=resident.pk).exists():
            raise Conflict(_("This resident is already a case."), code="already_a_case")
        via = None
        if kind == ContactKind.SECONDARY:
            if via_contact_id is None:
                raise InvalidInput(
                    _("A secondary contact is linked to the close contact they met."), code="via_required"
                )
            # An open close contact, of a case within the actor's scope.
            via = (
                Contact.objects.filter(
                    pk=via_contact_id,
                    kind=ContactKind.CLOSE,
                    status__in=OPEN_CONTACT,
                    case__in=cases_visible(actor),
                )
                .select_related("case")
                .first()
            )
            if via is None:
                raise NotFound(_("There is no such close contact."), code="unknown_contact")
            case = via.case
        else:
            found = cases_visible(actor).filter(pk=case_id).first() if case_id is not None else None
            if found is None:
                raise NotFound(_("There is no such case."), code="unknown_case")
            case = found
        if case.resident_id == resident.pk:
            raise InvalidInput(_("A case is not their own contact."), code="contact_is_case")
        return _contact_create(
            resident=resident,
            case=case,
            via=via,
            kind=kind,
            last_exposure_on=last_exposure_on,
            protocol=protocol,
            reason="",
            actor=actor,
            now=now,
        )


def case_convert(*, case_id: int, reason: str = "", actor: Actor, now: datetime) -> Case:
    """Reclassify an asymptomatic infection as confirmed. Counted once, as a conversion."""
    actor.require("manage_cases")
    with transaction.atomic():
        case = get_scoped(Case.objects.select_for_update(), actor, RESIDENT_PATHS, pk=case_id)
        if not rules.may_move("case_kind", case.kind, CaseKind.CONFIRMED):
            raise InvalidTransition(
                _("Only an asymptomatic infection can be converted to confirmed."), code="not_asymptomatic"
            )
        case.kind = CaseKind.CONFIRMED
        case.converted_on = clock.local_date(now)
        case.save(update_fields=["kind", "converted_on"])
        audit.record(
            action="cases.case.converted",
            obj=case,
            before={"kind": CaseKind.ASYMPTOMATIC},
            after={"kind": CaseKind.CONFIRMED, "converted_on": case.converted_on.isoformat()},
            reason=reason,
            district_id=case.district_id,
            actor=actor,
            now=now,
        )
    return case


def case_discharge(*, case_id: int, reason: str = "", actor: Actor, now: datetime) -> Case:
    """An officer discharges an active case, recovered. The protocol's test criteria for
    discharge are the officer's to check: none is checked here."""
    actor.require("manage_cases")
    with transaction.atomic():
        case = get_scoped(Case.objects.select_for_update(), actor, RESIDENT_PATHS, pk=case_id)
        if not rules.may_move("case", case.status, CaseStatus.DISCHARGED):
            raise InvalidTransition(_("This case is already discharged."), code="already_discharged")
        case.status = CaseStatus.DISCHARGED
        case.discharged_on = clock.local_date(now)
        case.save(update_fields=["status", "discharged_on"])
        audit.record(
            action="cases.case.discharged",
            obj=case,
            before={"status": CaseStatus.ACTIVE},
            after={"status": CaseStatus.DISCHARGED, "discharged_on": case.discharged_on.isoformat()},
            reason=reason,
            district_id=case.district_id,
            actor=actor,
            now=now,
        )
    return case


@dataclass(frozen=True)
class Released:
    moved: dict[str, int]  # contacts by the status they moved to
    residents: list[int]  # whose quarantine or monitoring changed (their codes follow)


def contacts_release_due(*, today: date, actor: Actor, now: datetime) -> Released:
    """End the quarantines whose days have run out (rules.status_after_plan): centralised →
    home monitoring → released, home isolation → released.

    Set-based: per move, the rows locked and read, one UPDATE and one batch of audit rows;
    safe to run twice the same day.
    """
    moved: dict[str, int] = {}
    residents: list[int] = []
    with transaction.atomic():
        steps = [
            # Centralised quarantine over, home monitoring follows.
            (
                Contact.objects.filter(
                    status=ContactStatus.QUARANTINED, quarantine_until__lt=today, monitoring_until__gte=today
                ),
                ContactStatus.MONITORING,
            ),
            (
                Contact.objects.filter(status=ContactStatus.QUARANTINED, quarantine_until__lt=today).exclude(
                    monitoring_until__gte=today
                ),
                ContactStatus.RELEASED,
            ),
            (
                Contact.objects.filter(status=ContactStatus.MONITORING, monitoring_until__lt=today),
                ContactStatus.RELEASED,
            ),
        ]
        for queryset, status in steps:
            rows = list(
                queryset.select_for_update().values_list("id", "status", "district_id", "resident_id")
            )
            if not rows:
                continue
            residents.extend(r[3] for r in rows)
            ended = today if status == ContactStatus.RELEASED else None
            Contact.objects.filter(pk__in=[r[0] for r in rows]).update(status=status, ended_on=ended)
            audit.record_many(
                action=f"cases.contact.{status}",
                object_type="cases.contact",
                changes=[
                    audit.Change(pk, {"status": old}, {"status": status}, district_id)
                    for pk, old, district_id, _resident in rows
                ],
                reason=audit.city_text(gettext_noop("The quarantine plan ran its course.")),
                actor=actor,
                now=now,
            )
            moved[status] = moved.get(status, 0) + len(rows)
    return Released(moved, residents)
