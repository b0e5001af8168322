"""Reads of cases and contacts, each within the actor's scope; personal data masked by role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from bastion.cases import protocol as protocols
from bastion.cases import sql
from bastion.cases.models import (
    Case,
    CaseKind,
    CaseStatus,
    Contact,
    ContactKind,
    ContactStatus,
    ExposurePlace,
    ProtocolInForce,
)
from bastion.core.masking import id_number_for, name_for
from bastion.core.scopes import Actor, ScopePaths, get_scoped, scoped
from bastion.transfer import selectors as transfer_selectors

CASE_PATHS = ScopePaths(district="district_id", community="community_id", household="household_id")
OPEN_CONTACT = (ContactStatus.QUARANTINED, ContactStatus.MONITORING)


def protocol_code_on(day: date) -> str:
    """The protocol the city applies on `day`: the last one adopted on or before it."""
    adopted = ProtocolInForce.objects.filter(since__lte=day).order_by("-since").first()
    return adopted.protocol if adopted else str(settings.BASTION_PROTOCOL)


def protocol_on(day: date) -> protocols.Protocol:
    return protocols.get(protocol_code_on(day))


@dataclass(frozen=True)
class ProtocolState:
    current: protocols.Protocol
    since: date | None  # None: the configured default, never adopted
    upcoming: list[ProtocolInForce]
    history: list[ProtocolInForce]
    available: list[protocols.Protocol]


def protocol_state(*, today: date) -> ProtocolState:
    """The protocol in force today, the adoptions to come and past, and every protocol of the
    file (public rules: any signed-in role may read them)."""
    adopted = list(ProtocolInForce.objects.order_by("-since"))
    current = next((p for p in adopted if p.since <= today), None)
    return ProtocolState(
        current=protocols.get(current.protocol if current else str(settings.BASTION_PROTOCOL)),
        since=current.since if current else None,
        upcoming=[p for p in adopted if p.since > today],
        history=[p for p in adopted if p.since <= today],
        available=list(protocols.protocols().values()),
    )


def cases_visible(actor: Actor) -> QuerySet[Case]:
    actor.require("view_cases")
    return scoped(Case.objects.all(), actor, CASE_PATHS)


def case_detail(*, actor: Actor, case_id: int) -> Case:
    actor.require("view_cases")
    return get_scoped(
        Case.objects.select_related("resident", "household", "district", "community"),
        actor,
        CASE_PATHS,
        pk=case_id,
    )


@dataclass(frozen=True)
class CaseRow:
    id: int
    resident_id: int
    name: str
    id_number: str
    address: str
    district: str
    kind: str
    initial_kind: str
    found_by: str
    onset_on: date | None
    reported_on: date
    converted_on: date | None
    status: str
    source_id: int | None
    depth: int = 0


def _row(actor: Actor, case: Case, depth: int = 0, moving: frozenset[int] = frozenset()) -> CaseRow:
    resident = case.resident
    to_move = resident.pk in moving
    return CaseRow(
        id=case.pk,
        resident_id=resident.pk,
        name=name_for(actor, resident.name, to_move=to_move),
        id_number=id_number_for(actor, resident.id_number, to_move=to_move),
        address=case.household.address,
        district=case.district.code,
        kind=case.kind,
        initial_kind=case.initial_kind,
        found_by=case.found_by,
        onset_on=case.onset_on,
        reported_on=case.reported_on,
        converted_on=case.converted_on,
        status=case.status,
        source_id=case.source_id,
        depth=depth,
    )


def case_list(
    *, actor: Actor, reported_on: date | None = None, district_id: int | None = None, limit: int = 500
) -> list[CaseRow]:
    cases = cases_visible(actor).select_related("resident", "household", "district")
    if reported_on is not None:
        cases = cases.filter(Q(reported_on=reported_on) | Q(converted_on=reported_on))
    if district_id is not None:
        cases = cases.filter(district_id=district_id)
    listed = list(cases.order_by("-reported_at", "-id")[:limit])
    moving = _moving(actor, [case.resident_id for case in listed])
    return [_row(actor, case, moving=moving) for case in listed]


def case_view(*, actor: Actor, case_id: int) -> CaseRow:
    case = case_detail(actor=actor, case_id=case_id)
    return _row(actor, case, moving=_moving(actor, [case.resident_id]))


def case_chain(*, actor: Actor, case_id: int) -> list[CaseRow]:
    """The chain of transmission `case_id` belongs to: from its first case down, generation by
    generation. Cases outside the actor's scope are left out, never revealed."""
    case_detail(actor=actor, case_id=case_id)
    depths = sql.chain_depths(case_id)
    visible = (
        cases_visible(actor).filter(pk__in=list(depths)).select_related("resident", "household", "district")
    )
    listed = list(visible)
    moving = _moving(actor, [case.resident_id for case in listed])
    rows = [_row(actor, case, depths[case.pk], moving) for case in listed]
    return sorted(rows, key=lambda r: (r.depth, r.id))


@dataclass(frozen=True)
class ContactRow:
    id: int
    resident_id: int
    name: str
    address: str
    kind: str
    case_id: int
    via_id: int | None
    last_exposure_on: date
    place: str
    quarantine_until: date
    monitoring_until: date | None
    test_dates: list[str]
    status: str
    ended_on: date | None


def contact_list(*, actor: Actor, case_id: int) -> list[ContactRow]:
    """The close and secondary contacts of a case (secondaries through its close contacts)."""
    case_detail(actor=actor, case_id=case_id)
    contacts = (
        scoped(Contact.objects.all(), actor, CASE_PATHS)
        # A secondary contact carries the case of the close contact they met: one indexed lookup.
        .filter(case_id=case_id)
        .select_related("resident", "household")
        .order_by("kind", "last_exposure_on", "id")
    )
    listed = list(contacts)
    moving = _moving(actor, [c.resident_id for c in listed])
    return [
        ContactRow(
            id=c.pk,
            resident_id=c.resident_id,
            name=name_for(actor, c.resident.name, to_move=c.resident_id in moving),
            address=c.household.address,
            kind=c.kind,
            case_id=c.case_id,
            via_id=c.via_id,
            last_exposure_on=c.last_exposure_on,
            place=c.place,
            quarantine_until=c.quarantine_until,
            monitoring_until=c.monitoring_until,
            test_dates=list(c.test_dates),
            status=c.status,
            ended_on=c.ended_on,
        )
        for c in listed
    ]


# --- the people transfer dispatch moves ---------------------------------------------------------
#
# Transfer dispatch holds no registry powers: it sees in full the people it moves (those with an
# open transfer, transfer.selectors.moving) and no one else (core/masking.py, `view_transfers`).
# Its queue is the transfer context's (transfer.selectors.queue); here only the case lists ask
# which of their people it moves, so that a listing and the transfer it leads to agree.


def _moving(actor: Actor, resident_ids: list[int]) -> frozenset[int]:
    """Of `resident_ids`, those the actor moves (empty for an actor that moves nobody)."""
    return transfer_selectors.moving(actor, resident_ids)


def moves(actor: Actor, resident_id: int) -> bool:
    """Whether the actor must move this resident (masking.treatment's `to_move`)."""
    return resident_id in _moving(actor, [resident_id])


def close_contact_ids(*, actor: Actor, case_id: int) -> set[int]:
    """The ids of a case's close contacts (any status) within the actor's scope; 404 for a case
    outside it."""
    case_detail(actor=actor, case_id=case_id)
    return set(
        scoped(Contact.objects.all(), actor, CASE_PATHS)
        .filter(case_id=case_id, kind=ContactKind.CLOSE)
        .values_list("id", flat=True)
    )


def household_isolating(*, household_id: int, except_resident_id: int) -> bool:
    """Someone else in the household is already isolating at home: an active case or a
    contact in home isolation (dec2022's exception to resetting a zone's clock)."""
    others = ~Q(resident_id=except_resident_id)
    return (
        Case.objects.filter(others, household_id=household_id, status="active").exists()
        or Contact.objects.filter(
            others, household_id=household_id, status__in=OPEN_CONTACT, place="home"
        ).exists()
    )


@dataclass(frozen=True)
class CaseCounts:
    new_confirmed: int
    new_asymptomatic: int
    conversions: int
    cumulative_confirmed: int
    cumulative_asymptomatic: int
    discharged: int
    cumulative_discharged: int
    found_by: dict[str, int]

    @property
    def cumulative(self) -> int:
        return self.cumulative_confirmed + self.cumulative_asymptomatic


def case_counts(*, day: date, district_ids: list[int] | None = None) -> dict[int | None, CaseCounts]:
    """The bulletin's case figures for the day 0–24 h, per district (key) and for the city (None).

    One grouped query. Each person is counted once under their classification at the end of
    `day`: a conversion moves them from asymptomatic to confirmed and is not a new confirmed.
    """
    asym, conf = CaseKind.ASYMPTOMATIC, CaseKind.CONFIRMED
    converted_by_day = Q(initial_kind=asym, converted_on__isnull=False, converted_on__lte=day)
    rows = (
        Case.objects.filter(reported_on__lte=day)
        .values("district_id")
        .annotate(
            new_confirmed=Count("id", filter=Q(reported_on=day, initial_kind=conf)),
            new_asymptomatic=Count("id", filter=Q(reported_on=day, initial_kind=asym)),
            conversions=Count("id", filter=Q(converted_on=day)),
            cumulative_confirmed=Count("id", filter=Q(initial_kind=conf) | converted_by_day),
            cumulative_asymptomatic=Count("id", filter=Q(initial_kind=asym) & ~converted_by_day),
            discharged=Count("id", filter=Q(discharged_on=day)),
            cumulative_discharged=Count("id", filter=Q(discharged_on__lte=day)),
            by_screening=Count("id", filter=Q(reported_on=day, found_by="screening")),
            by_quarantine=Count("id", filter=Q(reported_on=day, found_by="quarantine")),
            by_community=Count("id", filter=Q(reported_on=day, found_by="community")),
            by_hospital=Count("id", filter=Q(reported_on=day, found_by="hospital")),
        )
    )
    if district_ids is not None:
        rows = rows.filter(district_id__in=district_ids)
    out: dict[int | None, CaseCounts] = {}
    totals: dict[str, Any] = {}
    for row in rows:
        figures = {key: value for key, value in row.items() if key != "district_id"}
        out[row["district_id"]] = _counts(figures)
        for key, value in figures.items():
            totals[key] = totals.get(key, 0) + value
    out[None] = _counts(totals)
    return out


def _counts(row: dict[str, Any]) -> CaseCounts:
    return CaseCounts(
        new_confirmed=row.get("new_confirmed", 0),
        new_asymptomatic=row.get("new_asymptomatic", 0),
        conversions=row.get("conversions", 0),
        cumulative_confirmed=row.get("cumulative_confirmed", 0),
        cumulative_asymptomatic=row.get("cumulative_asymptomatic", 0),
        discharged=row.get("discharged", 0),
        cumulative_discharged=row.get("cumulative_discharged", 0),
        found_by={
            "screening": row.get("by_screening", 0),
            "quarantine": row.get("by_quarantine", 0),
            "community": row.get("by_community", 0),
            "hospital": row.get("by_hospital", 0),
        },
    )


def case_places(*, actor: Actor, case_id: int) -> QuerySet[ExposurePlace]:
    """The places a case stayed (home first), for an actor who may see the case."""
    case_detail(actor=actor, case_id=case_id)
    return ExposurePlace.objects.filter(case_id=case_id).order_by("-frequent", "id")


def is_case(resident_id: int) -> bool:
    """Is the resident already a case (of any kind, in any state)? A positive retest of a case
    opens nothing more."""
    return Case.objects.filter(resident_id=resident_id).exists()


def cases_of_zone(*, actor: Actor, zone_id: int) -> QuerySet[Case]:
    """The cases linked to a zone that the actor may see, oldest report first."""
    return cases_visible(actor).filter(zone_links__zone_id=zone_id).order_by("reported_at", "id")


def case_visible(*, actor: Actor, case_id: int) -> bool:
    """Whether the case lies within the actor's scope."""
    return cases_visible(actor).filter(pk=case_id).exists()


@dataclass(frozen=True)
class OwnQuarantine:
    """What a household member is under now: a case's treatment, or a contact's quarantine or
    home monitoring, with its end and the days of its tests."""

    number: int
    what: str  # "case" | ContactStatus.QUARANTINED | ContactStatus.MONITORING
    kind: str  # a case's kind, or the contact's (close, secondary)
    place: str  # QuarantinePlace, for a contact
    until: date | None
    test_dates: list[str]


def own_quarantines(*, actor: Actor) -> list[OwnQuarantine]:
    """A resident's household: each member's open case or open quarantine (only the actor's own
    household; nothing for anyone else)."""
    if actor.household_id is None:
        return []
    rows = [
        OwnQuarantine(number=c.resident.number, what="case", kind=c.kind, place="", until=None, test_dates=[])
        for c in Case.objects.filter(
            household_id=actor.household_id, status=CaseStatus.ACTIVE
        ).select_related("resident")
    ]
    for k in (
        Contact.objects.filter(household_id=actor.household_id, status__in=OPEN_CONTACT)
        .select_related("resident")
        .order_by("resident__number", "-quarantine_until")
    ):
        monitoring = k.status == ContactStatus.MONITORING
        rows.append(
            OwnQuarantine(
                number=k.resident.number,
                what=k.status,
                kind=k.kind,
                place=k.place,
                until=k.monitoring_until if monitoring else k.quarantine_until,
                test_dates=[] if monitoring else list(k.test_dates),
            )
        )
    return sorted(rows, key=lambda row: row.number)
