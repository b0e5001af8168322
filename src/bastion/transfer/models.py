"""Places of care and isolation with their beds, the vehicles that move people there, and each
person's transfer from the request to the bed and back home.

Free beds are not a counter: a transfer holds a numbered bed of its facility's pool from the
moment a destination is assigned until it is cancelled, refused or discharged (`bed_from`,
`bed_until`), so the free beds of any moment are read from the transfers themselves, and a
unique constraint on the beds held makes a bed taken twice impossible whatever the code does.
Seats likewise: a transfer on board holds a numbered seat of its vehicle.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class FacilityKind(models.TextChoices):
    DESIGNATED_HOSPITAL = "designated_hospital", _("designated hospital (定点医院)")
    SHELTER_HOSPITAL = "shelter_hospital", _("shelter hospital (方舱医院)")
    ISOLATION_POINT = "isolation_point", _("centralised isolation point (集中隔离点)")
    YELLOW_CODE_HOSPITAL = "yellow_code_hospital", _("yellow-code hospital (黄码医院)")


class BedKind(models.TextChoices):
    ORDINARY = "ordinary", _("ordinary bed")
    INTENSIVE = "intensive", _("intensive care bed")
    ROOM = "room", _("isolation room")


class Facility(models.Model):
    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=30, choices=FacilityKind.choices)
    district = models.ForeignKey(
        "city.District", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    active = models.BooleanField(_("receiving"), default=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("facility (收治点)")
        verbose_name_plural = _("facilities")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class BedPool(models.Model):
    """The beds of one kind at a facility: beds 1..capacity."""

    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="pools")
    kind = models.CharField(_("bed kind"), max_length=20, choices=BedKind.choices)
    capacity = models.PositiveIntegerField(_("beds"))

    class Meta:
        verbose_name = _("beds of a kind")
        verbose_name_plural = _("beds")
        constraints = [models.UniqueConstraint(fields=["facility", "kind"], name="bedpool_one_per_kind")]

    def __str__(self) -> str:
        return f"{self.facility_id}:{self.kind}"


class VehicleKind(models.TextChoices):
    AMBULANCE = "ambulance", _("negative-pressure ambulance (负压救护车)")
    BUS = "bus", _("transfer bus")


class TransferVehicle(models.Model):
    """A negative-pressure ambulance (one patient a trip) or a bus (its seats, for contacts)."""

    code = models.CharField(_("code"), max_length=30, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=VehicleKind.choices)
    seats = models.PositiveSmallIntegerField(_("seats"))
    trip_hours = models.DecimalField(_("hours a trip"), max_digits=4, decimal_places=1)
    crew = models.CharField(_("crew"), max_length=200, blank=True)
    district = models.ForeignKey(
        "city.District", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    active = models.BooleanField(_("in service"), default=True)

    class Meta:
        verbose_name = _("transfer vehicle")
        verbose_name_plural = _("transfer vehicles")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(seats__gte=1), name="transfer_vehicle_has_a_seat"),
            models.CheckConstraint(
                condition=~Q(kind="ambulance") | Q(seats=1), name="transfer_ambulance_one_patient"
            ),
            models.CheckConstraint(condition=Q(trip_hours__gt=0), name="transfer_vehicle_trip_positive"),
        ]

    def __str__(self) -> str:
        return self.code


class TransferState(models.TextChoices):
    REQUESTED = "requested", _("requested")
    DESTINATION_ASSIGNED = "destination_assigned", _("destination assigned")
    VEHICLE_ASSIGNED = "vehicle_assigned", _("vehicle assigned")
    PICKED_UP = "picked_up", _("picked up")
    ADMITTED = "admitted", _("admitted")
    DISCHARGED = "discharged", _("discharged")
    CANCELLED = "cancelled", pgettext_lazy("transfer", "cancelled")
    REFUSED = "refused", _("refused")


class TransferReason(models.TextChoices):
    CASE = "case", _("case")
    CONTACT = "contact", _("close contact under a centralised plan")
    CARER = "carer", _("carer of someone who cannot care for themselves")
    GROUP = "group", _("moved with their group")


class Transfer(models.Model):
    """One person's way from home to a bed (and back): the request, the destination and its
    bed, the vehicle and its seat, the pick-up and the admission, the discharge."""

    resident = models.ForeignKey("city.Resident", on_delete=models.PROTECT, related_name="transfers")
    household = models.ForeignKey("city.Household", on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey("city.Community", on_delete=models.PROTECT, related_name="+")
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("why"), max_length=20, choices=TransferReason.choices)
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(_("clinical type"), max_length=20, blank=True)
    high_risk = models.BooleanField(_("high risk"), default=False)
    needs_carer = models.BooleanField(_("cannot care for themselves"), default=False)
    # The person a carer goes with.
    carer_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carers"
    )
    # People moved together (a household infected within a few days, a courtyard) share a key,
    # and one destination.
    group_key = models.CharField(_("moved with"), max_length=60, blank=True, db_index=True)
    emergency = models.BooleanField(_("emergency"), default=False)
    state = models.CharField(
        _("state"), max_length=30, choices=TransferState.choices, default=TransferState.REQUESTED
    )
    requested_at = models.DateTimeField(_("requested at"))
    pickup_by = models.DateTimeField(_("to be picked up by"))
    admit_by = models.DateTimeField(_("to be admitted by"), null=True, blank=True)
    # The last day of a contact's centralised plan: the stay ends by itself after it.
    stay_until = models.DateField(_("stay until"), null=True, blank=True)
    facility = models.ForeignKey(
        Facility, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    # Moved on from one place to another (the clinical type changed while admitted, a contact in
    # a room turned positive): the place they wait in, away from home, until picked up.
    moved_from = models.ForeignKey(
        Facility,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("moved on from"),
    )
    pool = models.ForeignKey(BedPool, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    bed = models.PositiveIntegerField(_("bed"), null=True, blank=True)
    holds_bed = models.BooleanField(default=False)
    bed_from = models.DateTimeField(null=True, blank=True)
    bed_until = models.DateTimeField(null=True, blank=True)
    why_there = models.CharField(_("why this place"), max_length=200, blank=True)
    vehicle = models.ForeignKey(
        TransferVehicle, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    seat = models.PositiveSmallIntegerField(_("seat"), null=True, blank=True)
    on_board = models.BooleanField(default=False)
    destination_at = models.DateTimeField(null=True, blank=True)
    vehicle_at = models.DateTimeField(null=True, blank=True)
    picked_up_at = models.DateTimeField(_("picked up at"), null=True, blank=True)
    admitted_at = models.DateTimeField(_("admitted at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("reason"), max_length=500, blank=True)
    home_monitoring_until = models.DateField(_("home health monitoring until"), null=True, blank=True)
    overdue_since = models.DateTimeField(_("overdue since"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer (转运)")
        verbose_name_plural = _("transfers")
        ordering = ["requested_at", "id"]
        constraints = [
            # A bed is taken once, a seat is taken once.
            models.UniqueConstraint(
                fields=["pool", "bed"], condition=Q(holds_bed=True), name="transfer_bed_taken_once"
            ),
            models.UniqueConstraint(
                fields=["vehicle", "seat"], condition=Q(on_board=True), name="transfer_seat_taken_once"
            ),
            # One open transfer per person.
            models.UniqueConstraint(
                fields=["resident"],
                condition=Q(
                    state__in=[
                        "requested",
                        "destination_assigned",
                        "vehicle_assigned",
                        "picked_up",
                        "admitted",
                    ]
                ),
                name="transfer_open_once_per_person",
            ),
            models.CheckConstraint(
                condition=Q(holds_bed=False) | Q(pool__isnull=False, bed__isnull=False),
                name="transfer_held_bed_is_numbered",
            ),
            models.CheckConstraint(
                condition=Q(on_board=False) | Q(vehicle__isnull=False, seat__isnull=False),
                name="transfer_seat_is_numbered",
            ),
        ]
        indexes = [models.Index(fields=["state", "requested_at"], name="transfer_queue_idx")]

    def __str__(self) -> str:
        return f"transfer {self.pk} ({self.state})"


class DischargeTest(models.Model):
    """A test taken before discharge, with its Ct value (the lowest of the gene targets)."""

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="discharge_tests")
    taken_at = models.DateTimeField(_("taken at"))
    negative = models.BooleanField(_("negative"))
    ct = models.DecimalField(_("Ct value"), max_digits=4, decimal_places=1, null=True, blank=True)
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        verbose_name = _("discharge test")
        verbose_name_plural = _("discharge tests")
        ordering = ["taken_at", "id"]

    def __str__(self) -> str:
        return f"{self.transfer_id} {self.taken_at:%Y-%m-%d %H:%M}"
