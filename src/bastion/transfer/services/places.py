"""Facilities with their beds, and the vehicles with their crews."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bastion.core import audit
from bastion.core.errors import Conflict, InvalidInput, NotFound
from bastion.core.scopes import Actor
from bastion.transfer.models import (
    BedKind,
    BedPool,
    Facility,
    FacilityKind,
    Transfer,
    TransferVehicle,
    VehicleKind,
)


def _check_beds(beds: dict[str, int]) -> None:
    for kind, count in beds.items():
        if kind not in BedKind.values:
            raise InvalidInput(
                _("A bed is one of: %(values)s.") % {"values": ", ".join(BedKind.values)}, code="bad_bed_kind"
            )
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 1_000_000:
            raise InvalidInput(_("A number of beds is a whole number of 0 or more."), code="bad_beds")


def facility_create(
    *,
    code: str,
    name: str = "",
    kind: str,
    beds: dict[str, int],
    district_id: int | None = None,
    actor: Actor,
    now: datetime,
) -> Facility:
    """A new place of care or isolation with its beds by kind (rooms for an isolation point)."""
    actor.require("manage_transfers")
    code = code.strip()
    if not code:
        raise InvalidInput(_("A facility needs a code."), code="code_required")
    if kind not in FacilityKind.values:
        raise InvalidInput(
            _("A facility is one of: %(values)s.") % {"values": ", ".join(FacilityKind.values)},
            code="bad_facility_kind",
        )
    _check_beds(beds)
    try:
        with transaction.atomic():
            facility = Facility.objects.create(
                code=code, name=name.strip() or code, kind=kind, district_id=district_id, created_at=now
            )
            for bed_kind, capacity in beds.items():
                BedPool.objects.create(facility=facility, kind=bed_kind, capacity=capacity)
            audit.record(
                action="transfer.facility.created",
                obj=facility,
                after={"code": code, "kind": kind, "beds": beds},
                actor=actor,
                now=now,
            )
    except IntegrityError:
        raise Conflict(
            _("A facility %(code)s exists already.") % {"code": code}, code="facility_exists"
        ) from None
    return facility


def facility_beds_set(*, facility_id: int, beds: dict[str, int], actor: Actor, now: datetime) -> Facility:
    """Change a facility's beds by kind. Refuses fewer beds than are taken now: a taken bed is
    never lost by a change of figures."""
    actor.require("manage_transfers")
    _check_beds(beds)
    with transaction.atomic():
        facility = Facility.objects.select_for_update().filter(pk=facility_id).first()
        if facility is None:
            raise NotFound(_("There is no such facility."), code="unknown_facility")
        before = {}
        for bed_kind, capacity in beds.items():
            pool, _created = BedPool.objects.select_for_update().get_or_create(
                facility=facility, kind=bed_kind, defaults={"capacity": 0}
            )
            highest = (
                Transfer.objects.filter(pool=pool, holds_bed=True)
                .order_by("-bed")
                .values_list("bed", flat=True)
            ).first()
            if highest is not None and highest > capacity:
                raise Conflict(
                    _("Bed %(bed)s of this kind is taken: keep at least %(bed)s beds.") % {"bed": highest},
                    code="beds_taken",
                )
            before[bed_kind] = pool.capacity
            pool.capacity = capacity
            pool.save(update_fields=["capacity"])
        audit.record(
            action="transfer.facility.beds_changed",
            obj=facility,
            before=before,
            after=beds,
            actor=actor,
            now=now,
        )
    return facility


def vehicle_create(
    *,
    code: str,
    kind: str,
    trip_hours: object,
    seats: int | None = None,
    crew: str = "",
    district_id: int | None = None,
    actor: Actor,
    now: datetime,
) -> TransferVehicle:
    """A vehicle in service: a negative-pressure ambulance carries one patient a trip, a bus its
    seats of contacts."""
    actor.require("manage_transfers")
    code = code.strip()
    if not code:
        raise InvalidInput(_("A vehicle needs a code."), code="code_required")
    if kind not in VehicleKind.values:
        raise InvalidInput(_("A vehicle is an ambulance or a bus."), code="bad_vehicle_kind")
    if kind == VehicleKind.AMBULANCE:
        seats = 1
    if seats is None or not 1 <= seats <= 100:
        raise InvalidInput(_("A bus has 1 to 100 seats."), code="bad_seats")
    try:
        hours = Decimal(str(trip_hours))
    except (InvalidOperation, ValueError):
        hours = Decimal(0)
    if not Decimal("0.1") <= hours <= Decimal(48):
        raise InvalidInput(_("A trip takes 0.1 to 48 hours."), code="bad_trip_hours")
    try:
        with transaction.atomic():
            vehicle = TransferVehicle.objects.create(
                code=code,
                kind=kind,
                seats=seats,
                trip_hours=hours,
                crew=crew.strip(),
                district_id=district_id,
            )
            audit.record(
                action="transfer.vehicle.created",
                obj=vehicle,
                after={"code": code, "kind": kind, "seats": seats, "trip_hours": str(hours)},
                actor=actor,
                now=now,
            )
    except IntegrityError:
        raise Conflict(
            _("A vehicle %(code)s exists already.") % {"code": code}, code="vehicle_exists"
        ) from None
    return vehicle
