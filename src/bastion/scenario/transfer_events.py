"""Scenario events and the observation of transfer (SCENARIOS.md, "Transfer, isolation and
health codes").

Events: `facility` (a place with its beds), `vehicle` (an ambulance or a bus with its trip
hours), `severity` (a case's clinical type: the destination follows), `discharge` (a case back
home, then home monitoring). A positive result requests the case's transfer by itself and a
close contact under a centralised plan theirs (flows); the assignment runs with the worker's
ticks. A scenario's crews confirm by themselves (the policy's switch, on for the run): the people
are picked up when the vehicle is assigned and admitted trip_hours later.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bastion import flows
from bastion.cases.models import Case
from bastion.city.selectors import resident_by_address
from bastion.core.errors import InvalidInput, NotFound
from bastion.core.scopes import SYSTEM
from bastion.scenario.runner import Context, event, observation, setup
from bastion.scenario.spec import Event
from bastion.testing.rules import percentile
from bastion.transfer import policy as transfer_policy
from bastion.transfer import selectors as transfer
from bastion.transfer import services as transfer_services
from bastion.transfer.models import Transfer

# The kind of bed `beds:` counts at each kind of place.
BEDS_OF = {
    "designated_hospital": "ordinary",
    "shelter_hospital": "ordinary",
    "isolation_point": "room",
    "yellow_code_hospital": "ordinary",
}


@setup
def crews_confirm(ctx: Context) -> None:
    """An exercise has no crews to press buttons: they confirm by themselves for the run."""
    ctx.cleanup.enter_context(transfer_policy.changed(crews_confirm_by_themselves=True))


def _count(body: dict[str, Any], key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{key} must be a whole number of 0 or more", code="bad_number")
    return value


@event("facility")
def _facility(ctx: Context, ev: Event) -> None:
    """`facility: {code, kind, beds}` (and `intensive:` beds for a hospital)."""
    body = ev.body
    kind = str(body.get("kind"))
    if kind not in BEDS_OF:
        raise InvalidInput(f"kind must be one of {', '.join(BEDS_OF)}", code="bad_facility_kind")
    beds = {BEDS_OF[kind]: _count(body, "beds")}
    if "intensive" in body:
        beds["intensive"] = _count(body, "intensive")
    transfer_services.facility_create(
        code=str(body.get("code", "")), kind=kind, beds=beds, actor=SYSTEM, now=ctx.clock.now()
    )


@event("vehicle")
def _vehicle(ctx: Context, ev: Event) -> None:
    """`vehicle: {code, kind: ambulance|bus, trip_hours, seats}` (an ambulance has one seat)."""
    body = ev.body
    seats = body.get("seats")
    transfer_services.vehicle_create(
        code=str(body.get("code", "")),
        kind=str(body.get("kind")),
        seats=None if seats is None else _count(body, "seats"),
        trip_hours=body.get("trip_hours", 2),
        actor=SYSTEM,
        now=ctx.clock.now(),
    )


@event("severity")
def _severity(ctx: Context, ev: Event) -> None:
    """`severity: {resident, level}`: a clinician's clinical type of a case."""
    resident = resident_by_address(str(ev.body.get("resident")))
    transfer_services.transfer_severity_set(
        resident_id=resident.pk, severity=str(ev.body.get("level")), actor=SYSTEM, now=ctx.clock.now()
    )


@event("discharge")
def _discharge(ctx: Context, ev: Event) -> None:
    """`discharge: {resident}`: back home, then home monitoring. The exercise's two discharge
    tests (negative, Ct 36 and 37, 24 h apart, the last an hour ago) are recorded first, so the
    protocol's rule decides as it would; `ct: [a, b]` sets their Ct values."""
    now = ctx.clock.now()
    resident = resident_by_address(str(ev.body.get("resident")))
    case = Case.objects.filter(resident=resident).first()
    if case is None:
        raise NotFound(f"{ev.body.get('resident')} is not a case", code="not_a_case")
    cts = ev.body.get("ct", [36, 37])
    if not isinstance(cts, list) or not all(isinstance(c, int | float) for c in cts):
        raise InvalidInput("ct must be a list of Ct values", code="bad_ct")
    admitted = Transfer.objects.filter(resident=resident, state="admitted").first()
    if admitted is not None:
        for i, ct in enumerate(cts):
            transfer_services.discharge_test_record(
                transfer_id=admitted.pk,
                taken_at=now - timedelta(hours=1 + 24 * (len(cts) - 1 - i)),
                negative=True,
                ct=float(ct),
                actor=SYSTEM,
                now=now,
            )
    flows.case_discharged(case_id=case.pk, reason="scenario discharge", actor=SYSTEM, now=now)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@observation("transfer")
def _observe_transfer(ctx: Context, day: int, today: date) -> dict[str, Any]:
    # Observed at the day's end (23:59:59), after its last tick.
    figures = transfer.figures(now=ctx.clock.now())
    waits = sorted(figures.wait_hours)
    return {
        "transfer": {
            "waiting": figures.waiting,
            "in_transit": figures.in_transit,
            "admitted_today": figures.admitted_today,
            "in_care": figures.in_care,
            "wait_hours_p50": _hours(percentile(waits, 50)),
            "wait_hours_p95": _hours(percentile(waits, 95)),
            "wait_hours_max": _hours(waits[-1] if waits else None),
            "overdue": figures.overdue,
            "free_beds": figures.free_beds,
            "watched": transfer.watched(ctx.watched),
        }
    }
