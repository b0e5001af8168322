"""Mass testing endpoints: rounds and their reconciliation for officers, scans for sampling
apps, receipts and results for lab systems. Thin: parse, call one service or flow, render.

Sampling apps and lab systems retry: a scan carries a client key, and the same key again
answers the first scan (200, `repeated`) without a second row; the same result for a tube
again changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from ninja import Field, Router, Schema
from ninja.responses import Status
from ninja.security import HttpBearer, django_auth
from pydantic import ValidationError, field_validator

from bastion import flows
from bastion.city.selectors import actor_for
from bastion.core import clock, devices
from bastion.core.errors import DomainError, Forbidden, InvalidInput, UnparseableBody
from bastion.core.inputs import Count, Id, Line, Moment, explain
from bastion.core.masking import Field as MaskedField
from bastion.core.masking import record_for, shows
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.core.shedding import Gate, shed
from bastion.testing import selectors, services
from bastion.testing.models import Round

router = Router(tags=["testing"])
# Scans, from devices and from the console alike: a burst beyond what the machine serves is
# answered 503 with Retry-After, unread (core/shedding.py).
SCANS = Gate("testing.scans")
# A round's code or a tube's barcode in a path.
Code = Annotated[Line, Field(max_length=40)]


def _actor(request: HttpRequest) -> Actor:
    return actor_for(request.user)


def _or_now(value: datetime | None) -> datetime:
    """A time the client left out is now (one without a zone is the city's: `inputs.Moment`)."""
    return clock.now() if value is None else value


class PoolingIn(Schema):
    ratio: Count
    per_household: bool = False


class RoundIn(Schema):
    code: Line = Field(max_length=40)
    name: Line = Field("", max_length=100)
    starts_at: Moment | None = None
    deadline: Moment
    district_ids: list[Id] = Field([], max_length=1000)
    zone_id: Id | None = None
    pooling: dict[Literal["high", "medium", "low"], PoolingIn] | None = Field(
        None,
        description='per zone level: {"high": {"ratio": 1, "per_household": true}, "medium": …, "low": …}',
    )


class RoundOut(Schema):
    id: int
    code: str
    name: str
    starts_at: datetime
    deadline: datetime
    state: str
    closed_at: datetime | None
    pooling: dict[str, Any]
    zone_id: int | None


class CloseIn(Schema):
    reason: Line = Field("", max_length=500)


class ProgressOut(Schema):
    code: str
    expected: int
    sampled: int
    unsampled: int
    tubes: int
    tubes_resulted: int
    positive_tubes: int
    invalid_tubes: int
    recalls_open: int
    recalls_closed: int
    turnaround_p50_hours: float | None
    turnaround_p95_hours: float | None
    turnaround_max_hours: float | None
    issues: int


class RoundCoverageOut(Schema):
    id: int
    name: str
    residents: int
    sampled: int
    resulted: int
    unsampled: int


class RecallOut(Schema):
    resident_id: int
    household_id: int
    tube_id: int
    reason: str
    opened_at: datetime


class IssueOut(Schema):
    kind: str
    detail: dict[str, Any]
    source: str
    at: datetime


class ScanIn(Schema):
    round: Line = Field(max_length=40, description="the round's code")
    resident_id: Id | None = Field(None, description="the platform's resident id (the health-code payload)")
    id_number: Line | None = Field(None, max_length=18)
    tube: Line = Field(max_length=40, description="the tube's barcode")
    site: Line | None = Field(None, max_length=40, description="the sampling site's code")
    scanned_at: Moment | None = None
    sampler: Line = Field("", max_length=50)
    client_key: Line | None = Field(
        None, max_length=64, description="the device's key for this scan: retries repeat it"
    )
    retest: bool = False


class ScanOut(Schema):
    scan_id: int
    tube: str
    ratio: int
    members: int
    repeated: bool


class ReceiptIn(Schema):
    lab: Line = Field(max_length=40)
    received_at: Moment | None = None


class ReceiptOut(Schema):
    tube: str
    lab: str
    received_at: datetime


class ResultIn(Schema):
    result: Line = Field(max_length=10, description="negative, positive or invalid")
    resulted_at: Moment | None = None
    lab: Line | None = Field(None, max_length=40)
    ct_values: dict[Annotated[Line, Field(max_length=20)], float] | None = None

    @field_validator("ct_values")
    @classmethod
    def finite(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value and not all(math.isfinite(v) for v in value.values()):
            raise ValueError("Ct values are finite numbers")
        return value


class ResultOut(Schema):
    tube: str
    result: str
    repeated: bool
    recalled: int
    cases: int = Field(description="how many cases the result opened")
    cases_opened: list[int] = Field(
        description="the numbers of the cases opened, for those who see case numbers (a lab does not)"
    )
    zone_screened: bool


def _round(request: HttpRequest, code: Code) -> Round:
    return selectors.round_get(actor=_actor(request), code=code)


@router.post(
    "/rounds", response={201: RoundOut}, summary="Open a round over the city, some districts or a zone"
)
def round_open(request: HttpRequest, body: RoundIn) -> Status[Round]:
    now = clock.now()
    round_ = services.round_open(
        code=body.code,
        name=body.name,
        starts_at=_or_now(body.starts_at),
        deadline=_or_now(body.deadline),
        district_ids=body.district_ids,
        zone_id=body.zone_id,
        pooling=None if body.pooling is None else {lv: p.model_dump() for lv, p in body.pooling.items()},
        actor=_actor(request),
        now=now,
    )
    return Status(201, round_)


@router.post("/rounds/{code}/close", response=RoundOut, summary="Close a round: later scans are refused")
def round_close(request: HttpRequest, code: Code, body: CloseIn) -> Round:
    return services.round_close(
        round_=_round(request, code), reason=body.reason, actor=_actor(request), now=clock.now()
    )


@router.get("/rounds", response=list[RoundOut], summary="Testing rounds, newest first")
def round_list(request: HttpRequest) -> Any:
    return list(selectors.round_list(actor=_actor(request))[:200])


@router.get("/rounds/{code}/progress", response=ProgressOut, summary="A round's progress, reconciled")
def round_progress(request: HttpRequest, code: Code) -> selectors.Progress:
    _actor(request).require("view_testing")
    return selectors.round_progress(_round(request, code))


@router.get(
    "/rounds/{code}/coverage", response=list[RoundCoverageOut], summary="Coverage per grid or per building"
)
def round_coverage(
    request: HttpRequest, code: Code, by: Line = "grid", community_id: Id | None = None
) -> list[dict[str, Any]]:
    if by not in ("grid", "building"):
        raise InvalidInput("by is grid or building", code="bad_grouping")
    rows = selectors.coverage(
        actor=_actor(request), round_=_round(request, code), by=by, community_id=community_id
    )
    return [{**row.__dict__, "unsampled": row.unsampled} for row in rows]


@router.get(
    "/rounds/{code}/recalls", response=list[RecallOut], summary="Recalls awaiting a retest, oldest first"
)
def round_recalls(request: HttpRequest, code: Code) -> Any:
    return list(selectors.recalls_open(actor=_actor(request), round_=_round(request, code))[:5000])


@router.get("/rounds/{code}/issues", response=list[IssueOut], summary="What the round could not take")
def round_issues(request: HttpRequest, code: Code) -> Any:
    """City-level staff only (exceptions are the whole round's); ID numbers masked by role."""
    actor = _actor(request)
    if actor.level != ScopeLevel.CITY:
        raise Forbidden()
    issues = selectors.issues(actor=actor, round_=_round(request, code))[:5000]
    return [
        {
            "kind": issue.kind,
            "detail": record_for(actor, issue.detail),
            "source": issue.source,
            "at": issue.at,
        }
        for issue in issues
    ]


@router.get(
    "/issues/unattached",
    response=list[IssueOut],
    summary="Refused records that name no round (unknown tubes)",
)
def unattached_issues(request: HttpRequest) -> Any:
    actor = _actor(request)
    if actor.level != ScopeLevel.CITY:
        raise Forbidden()
    issues = selectors.unattached_issues(actor=actor)[:5000]
    return [
        {"kind": i.kind, "detail": record_for(actor, i.detail), "source": i.source, "at": i.at}
        for i in issues
    ]


class DeviceTokenAuth(HttpBearer):
    """`Authorization: Bearer <device token>`: a sampling device acting as its account, without a
    session or CSRF. An unknown or revoked token answers 401; no header falls back to the session."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        return devices.device_token_resolve(secret=token, resolve=_actor_of_user)


def _actor_of_user(user_id: int) -> Actor:
    return actor_for(get_user_model().objects.get(pk=user_id))


device_token = DeviceTokenAuth()


def _caller(request: HttpRequest) -> Actor:
    """The device's actor (resolved by its token) or the logged-in user's."""
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, Actor) else _actor(request)


@router.post(
    "/scans",
    response={200: ScanOut, 201: ScanOut},
    auth=[device_token, django_auth],
    summary="A resident sampled into a tube",
)
@shed(SCANS)
def scan(request: HttpRequest, body: ScanIn) -> HttpResponse:
    """For sampling devices (a device token) and samplers logged in to the console."""
    return _scan_answer(_caller(request), body)


def _scan_answer(actor: Actor, body: ScanIn) -> HttpResponse:
    actor.require("record_samples")
    now = clock.now()
    taken = services.scan_record(
        round_code=body.round,
        resident_id=body.resident_id,
        id_number=body.id_number,
        tube_barcode=body.tube,
        site_code=body.site,
        scanned_at=body.scanned_at or now,
        sampler=body.sampler,
        client_key=body.client_key,
        retest=body.retest,
        actor=actor,
        now=now,
    )
    # ScanOut, written directly: devices post hundreds of scans a second, and validating our
    # own five plain fields again through the schema costs a tenth of the request.
    answer = {
        "scan_id": taken.scan.pk,
        "tube": taken.tube.barcode,
        "ratio": taken.tube.ratio,
        "members": taken.tube.members,
        "repeated": taken.repeated,
    }
    return HttpResponse(
        json.dumps(answer), status=200 if taken.repeated else 201, content_type="application/json"
    )


def _json(data: dict[str, Any], status: int) -> HttpResponse:
    return HttpResponse(
        json.dumps(data, cls=DjangoJSONEncoder), status=status, content_type="application/json"
    )


def device_scans(console: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """`POST /api/v1/testing/scans` from a sampling device (a device token), answered without
    Django Ninja's machinery per request (a fifth of a scan's CPU): the same schema, the
    same service, the same answers and errors as `scan`. Anything else (a sampler logged in to
    the console, another method) goes on to `console`, the Ninja endpoint, as before."""

    @csrf_exempt  # a bearer token, not a cookie: nothing for a forged form to ride on
    def view(request: HttpRequest) -> HttpResponse:
        scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
        if request.method != "POST" or scheme.lower() != "bearer" or not secret.strip():
            return console(request)
        return _device_scan(request, secret.strip())

    return view


@shed(SCANS)
def _device_scan(request: HttpRequest, secret: str) -> HttpResponse:
    """A device's scan, past the gate: its token resolved, its body read, the scan recorded."""
    try:
        actor = devices.device_token_resolve(secret=secret, resolve=_actor_of_user)
        body = ScanIn.model_validate_json(request.body)
        return _scan_answer(actor, body)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            # As Ninja answers the same endpoint for a console session.
            return _json(UnparseableBody().as_dict(), UnparseableBody.status)
        details = explain(
            [
                {**e, "loc": ["body", "body", *e["loc"]]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
        )
        return _json(
            {"code": "invalid_input", "message": gettext("The input is not valid."), "details": details},
            422,
        )
    except DomainError as exc:
        return _json(exc.as_dict(), exc.status)


@router.post("/tubes/{barcode}/receipt", response=ReceiptOut, summary="A lab receives a tube")
def tube_receipt(request: HttpRequest, barcode: Code, body: ReceiptIn) -> dict[str, Any]:
    now = clock.now()
    tube = services.tube_receive(
        barcode=barcode,
        lab_code=body.lab,
        received_at=_or_now(body.received_at),
        actor=_actor(request),
        now=now,
    )
    return {"tube": tube.barcode, "lab": body.lab, "received_at": tube.received_at}


@router.post("/tubes/{barcode}/result", response=ResultOut, summary="A tube's result: the flows follow")
def tube_result(request: HttpRequest, barcode: Code, body: ResultIn) -> dict[str, Any]:
    now = clock.now()
    actor = _actor(request)
    outcome = flows.tube_resulted(
        barcode=barcode,
        result=body.result,
        resulted_at=_or_now(body.resulted_at),
        ct_values=body.ct_values,
        lab_code=body.lab,
        actor=actor,
        now=now,
    )
    numbers = [c.case.pk for c in outcome.cases] if shows(actor, MaskedField.CASE_NUMBER) else []
    return {
        "tube": outcome.resulted.tube.barcode,
        "result": outcome.resulted.tube.result,
        "repeated": outcome.resulted.repeated,
        "recalled": len(outcome.resulted.recalled),
        "cases": len(outcome.cases),
        "cases_opened": numbers,
        "zone_screened": outcome.zone_screened,
    }
