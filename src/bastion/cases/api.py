"""Cases and contacts endpoints: thin — parse, call one service or flow, render.

Opening a case goes through `flows.case_reported` (the zones follow). An API module is an
interface: the layers contract lets `*.api` import the flows above its context.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from bastion import flows
from bastion.cases import batch, selectors, services
from bastion.cases.models import Contact
from bastion.city.selectors import actor_for
from bastion.core import clock, textfile
from bastion.core.errors import InvalidInput
from bastion.core.files import FileRejectedOut, checked_upload
from bastion.core.inputs import Day, Id, Line, Moment
from bastion.core.masking import name_for
from bastion.core.scopes import Actor

router = Router(tags=["cases"])


class CaseOut(Schema):
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
    depth: int


class ContactOut(Schema):
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


class ZoneChangeOut(Schema):
    what: str  # designated, proposed, raised, clock_restarted, linked
    zone_id: int
    code: str
    level: str
    state: str
    area: str
    address: str


class ReportedOut(Schema):
    case: CaseOut
    zone_changes: list[ZoneChangeOut]


class ResidentNamed(Schema):
    """A resident by id, or by address like C1/2/1/301#1."""

    resident_id: Id | None = None
    resident: Line | None = Field(None, max_length=80)


# Kinds are plain text, so that a wrong one gets the service's own code and message.
class StayIn(Schema):
    address: Line = Field(
        max_length=80, description="a place of the registry: C1, C1/2, C1/2/1 or C1/2/1/301"
    )
    type: Line = Field("other", max_length=20, description="workplace, shop or other")
    frequent: bool = Field(False, description="a place of frequent activity (counts like home)")
    from_on: Day | None = None
    until_on: Day | None = None


class CaseIn(ResidentNamed):
    kind: Line = Field(max_length=20, description="confirmed or asymptomatic")
    found_by: Line = Field(
        "community", max_length=20, description="screening, quarantine, community or hospital"
    )
    onset_on: Day | None = None
    reported_at: Moment | None = None  # without a time zone: the city's
    frequent: list[Annotated[Line, Field(max_length=200)]] = Field([], max_length=200)
    stayed: list[Annotated[Line, Field(max_length=200)]] = Field([], max_length=200)
    places: list[StayIn] = Field([], max_length=200, description="places stayed with their kind and days")


class ContactIn(ResidentNamed):
    kind: Line = Field(max_length=20, description="close, or secondary (linked through via_contact_id)")
    last_exposure_on: Day
    case_id: Id | None = None
    via_contact_id: Id | None = None


class ReasonIn(Schema):
    reason: Line = Field("", max_length=500)


class BatchCaseOut(Schema):
    row: int
    case_id: int
    resident_id: int
    kind: str


class BatchZoneChangeOut(ZoneChangeOut):
    row: int


class BatchOut(Schema):
    rows: int
    cases: list[BatchCaseOut]
    zone_changes: list[BatchZoneChangeOut]


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


def _resident_id(actor: Actor, body: ResidentNamed) -> int:
    if (body.resident_id is None) == (body.resident is None):
        raise InvalidInput(
            _("Name the resident by resident_id or by resident (an address like C1/2/1/301#1)."),
            code="resident_required",
        )
    if body.resident_id is not None:
        return body.resident_id
    assert body.resident is not None  # noqa: S101 - checked just above
    return batch.resident_at(actor=actor, address=body.resident)


def _zone_change(change: Any) -> dict[str, Any]:
    """A `zones.services.ZoneChange`, read by its attributes (zones sit above this context)."""
    zone = change.zone
    return {
        "what": change.what,
        "zone_id": zone.pk,
        "code": zone.code,
        "level": zone.level,
        "state": zone.state,
        "area": zone.area,
        "address": zone.address,
    }


def _contact(actor: Actor, contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "resident_id": contact.resident_id,
        "name": name_for(actor, contact.resident.name, to_move=selectors.moves(actor, contact.resident_id)),
        "address": contact.household.address,
        "kind": contact.kind,
        "case_id": contact.case_id,
        "via_id": contact.via_id,
        "last_exposure_on": contact.last_exposure_on,
        "place": contact.place,
        "quarantine_until": contact.quarantine_until,
        "monitoring_until": contact.monitoring_until,
        "test_dates": list(contact.test_dates),
        "status": contact.status,
        "ended_on": contact.ended_on,
    }


class StepOut(Schema):
    name: str
    to: str
    days: int
    screening_day: int | None


class ContactPlanOut(Schema):
    kind: str
    centralised_days: int
    home_days: int
    test_days: list[int]
    home_test_days: list[int]


class ProtocolOut(Schema):
    code: str
    title: str
    title_zh: str
    levels: list[str]
    high_minimum: str
    medium_for_places_stayed: bool
    secondary_contacts: bool
    steps: list[StepOut]
    contacts: list[ContactPlanOut]


class AdoptionOut(Schema):
    protocol: str
    since: date
    reason: str


class ProtocolStateOut(Schema):
    current: ProtocolOut
    since: date | None
    upcoming: list[AdoptionOut]
    history: list[AdoptionOut]
    available: list[ProtocolOut]


class AdoptIn(Schema):
    protocol: Line = Field(max_length=40)
    since: Day
    reason: Line = Field(max_length=500)


def _protocol(p: Any) -> dict[str, Any]:
    return {
        "code": p.code,
        "title": p.title,
        "title_zh": p.title_zh,
        "levels": list(p.levels),
        "high_minimum": p.high_minimum,
        "medium_for_places_stayed": p.medium_for_places_stayed,
        "secondary_contacts": p.secondary_contacts,
        "steps": [s.__dict__ for s in p.steps.values()],
        "contacts": [
            {
                "kind": kind,
                **{
                    **plan.__dict__,
                    "test_days": list(plan.test_days),
                    "home_test_days": list(plan.home_test_days),
                },
            }
            for kind, plan in p.contacts.items()
        ],
    }


def _protocol_state() -> dict[str, Any]:
    state = selectors.protocol_state(today=clock.today())
    return {
        "current": _protocol(state.current),
        "since": state.since,
        "upcoming": state.upcoming,
        "history": state.history,
        "available": [_protocol(p) for p in state.available],
    }


@router.get(
    "/protocol", response=ProtocolStateOut, summary="The protocol in force, its rules, and its changes"
)
def protocol_get(request: HttpRequest) -> dict[str, Any]:
    return _protocol_state()


@router.post("/protocol", response=ProtocolStateOut, summary="Adopt a protocol city-wide from a day on")
def protocol_adopt(request: HttpRequest, body: AdoptIn) -> dict[str, Any]:
    services.protocol_adopt(
        protocol=body.protocol, since=body.since, reason=body.reason, actor=_actor(request), now=clock.now()
    )
    return _protocol_state()


@router.get("/", response=list[CaseOut], summary="Cases within your scope, newest first")
def case_list(
    request: HttpRequest, day: Day | None = None, district_id: Id | None = None
) -> list[selectors.CaseRow]:
    """`day`: the cases reported, or converted to confirmed, that day."""
    return selectors.case_list(actor=_actor(request), reported_on=day, district_id=district_id)


@router.post("/contacts", response={201: ContactOut}, summary="List a close or secondary contact")
def contact_add(request: HttpRequest, body: ContactIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    actor.require("manage_cases")
    contact = flows.contact_added(
        resident_id=_resident_id(actor, body),
        kind=body.kind,
        last_exposure_on=body.last_exposure_on,
        case_id=body.case_id,
        via_contact_id=body.via_contact_id,
        actor=actor,
        now=clock.now(),
    )
    return Status(201, _contact(actor, contact))


class PlaceOut(Schema):
    address: str
    type: str = Field(alias="place_type")
    frequent: bool
    from_on: date | None
    until_on: date | None


@router.get("/{int:case_id}/places", response=list[PlaceOut], summary="The places a case stayed, home first")
def case_places(request: HttpRequest, case_id: Id) -> Any:
    return list(selectors.case_places(actor=_actor(request), case_id=case_id))


@router.get("/{int:case_id}", response=CaseOut)
def case_view(request: HttpRequest, case_id: Id) -> selectors.CaseRow:
    return selectors.case_view(actor=_actor(request), case_id=case_id)


@router.get(
    "/{int:case_id}/chain",
    response=list[CaseOut],
    summary="The chain of transmission the case belongs to, generation by generation",
)
def case_chain(request: HttpRequest, case_id: Id) -> list[selectors.CaseRow]:
    return selectors.case_chain(actor=_actor(request), case_id=case_id)


@router.get("/{int:case_id}/contacts", response=list[ContactOut])
def case_contacts(request: HttpRequest, case_id: Id) -> list[selectors.ContactRow]:
    return selectors.contact_list(actor=_actor(request), case_id=case_id)


@router.post("/{int:case_id}/convert", response=CaseOut, summary="Asymptomatic → confirmed, counted once")
def case_convert(request: HttpRequest, case_id: Id, body: ReasonIn) -> selectors.CaseRow:
    actor = _actor(request)
    services.case_convert(case_id=case_id, reason=body.reason, actor=actor, now=clock.now())
    return selectors.case_view(actor=actor, case_id=case_id)


@router.post("/{int:case_id}/discharge", response=CaseOut)
def case_discharge(request: HttpRequest, case_id: Id, body: ReasonIn) -> selectors.CaseRow:
    actor = _actor(request)
    flows.case_discharged(case_id=case_id, reason=body.reason, actor=actor, now=clock.now())
    return selectors.case_view(actor=actor, case_id=case_id)


@router.post(
    "/",
    response={201: ReportedOut},
    summary="Report a case: the case is opened and the zones follow",
)
def case_report(request: HttpRequest, body: CaseIn) -> Status[dict[str, Any]]:
    actor = _actor(request)
    actor.require("manage_cases")
    reported = flows.case_reported(
        resident_id=_resident_id(actor, body),
        kind=body.kind,
        found_by=body.found_by,
        onset_on=body.onset_on,
        reported_at=body.reported_at,
        frequent=body.frequent,
        stayed=body.stayed,
        places=[services.Stay(p.address, p.type, p.frequent, p.from_on, p.until_on) for p in body.places],
        actor=actor,
        now=clock.now(),
    )
    return Status(
        201,
        {
            "case": selectors.case_view(actor=actor, case_id=reported.case.pk),
            "zone_changes": [_zone_change(change) for change in reported.zone_changes],
        },
    )


@router.post(
    "/batch",
    response={200: BatchOut, 422: FileRejectedOut},
    summary="Report a batch file of cases (CSV or XLSX), all or nothing",
)
def case_batch(
    request: HttpRequest, file: File[UploadedFile], encoding: Form[str | None] = None
) -> dict[str, Any]:
    """A CSV file is read as UTF-8 unless `encoding` says otherwise (utf-8, gb18030, gbk)."""
    actor = _actor(request)
    now = clock.now()
    rows = batch.read_batch(
        checked_upload(file),
        filename=file.name or "",
        encoding=textfile.encoding_named(encoding),
        actor=actor,
        now=now,
    )
    reported = flows.cases_reported_batch(rows=rows, actor=actor, now=now)
    return {
        "rows": len(rows),
        "cases": [
            {"row": row.line, "case_id": r.case.pk, "resident_id": row.resident_id, "kind": row.kind}
            for row, r in reported
        ],
        "zone_changes": [
            {"row": row.line, **_zone_change(change)} for row, r in reported for change in r.zone_changes
        ],
    }
