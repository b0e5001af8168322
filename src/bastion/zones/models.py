"""Risk zones (风险区): an area of the registry at a risk level, with the clock that lowers it."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Level(models.TextChoices):
    HIGH = "high", _("high risk (高风险区)")
    MEDIUM = "medium", _("medium risk (中风险区)")
    LOW = "low", _("low risk (低风险区)")


class ZoneState(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    IN_FORCE = "in_force", _("in force")
    LIFTED = "lifted", _("lifted")
    REJECTED = "rejected", _("rejected")


class Area(models.TextChoices):
    HOUSEHOLD = "household", _("household")
    UNIT = "unit", _("unit")
    BUILDING = "building", _("building")
    COMPOUND = "compound", _("compound")


class Zone(models.Model):
    """An area at high or medium risk. `clock_start` is the day of its last infection or of its
    last step down; `step` names the protocol's step the clock runs for."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    level = models.CharField(_("level"), max_length=10, choices=Level.choices)
    state = models.CharField(_("state"), max_length=10, choices=ZoneState.choices)
    protocol = models.CharField(_("protocol"), max_length=20)
    step = models.CharField(_("clock step"), max_length=40)
    area = models.CharField(_("area"), max_length=10, choices=Area.choices)
    address = models.CharField(_("address"), max_length=80)
    compound = models.ForeignKey("city.Compound", on_delete=models.PROTECT, related_name="+")
    building = models.ForeignKey(
        "city.Building", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey("city.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        "city.Household", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    community = models.ForeignKey("city.Community", on_delete=models.PROTECT, related_name="+")
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(_("proposed at"))
    since = models.DateField(_("in force since"), null=True, blank=True)
    clock_start = models.DateField(_("clock counts from"))
    lifted_on = models.DateField(_("lifted on"), null=True, blank=True)
    reason = models.TextField(_("reason"))
    # The same reason without the case's number, written with it (zones/reasons.py).
    public_reason = models.TextField(_("reason without case numbers"), blank=True, default="")
    residents = models.IntegerField(_("residents"), default=0)
    households = models.IntegerField(_("households"), default=0)
    counted_on = models.DateField(_("counted on"), null=True, blank=True)
    cases = models.ManyToManyField("cases.Case", through="ZoneCase", related_name="zones")

    class Meta:
        verbose_name = _("risk zone (风险区)")
        verbose_name_plural = _("risk zones")
        ordering = ["-proposed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="in_force") | Q(since__isnull=False), name="zone_in_force_has_since"
            ),
            models.CheckConstraint(
                condition=~Q(state="lifted") | Q(lifted_on__isnull=False), name="zone_lifted_has_day"
            ),
            models.CheckConstraint(
                condition=~Q(area="household") | Q(household__isnull=False), name="zone_household_area"
            ),
            models.CheckConstraint(condition=~Q(area="unit") | Q(unit__isnull=False), name="zone_unit_area"),
            models.CheckConstraint(
                condition=~Q(area="building") | Q(building__isnull=False), name="zone_building_area"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "district"], name="zone_state_idx"),
            models.Index(fields=["compound", "state"], name="zone_compound_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.level} {self.address}"


class ZoneCase(models.Model):
    """A case that put a zone at risk or restarted its clock."""

    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="case_links")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="zone_links")
    at = models.DateTimeField()
    restarted_clock = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["zone", "case"], name="zone_case_once")]

    def __str__(self) -> str:
        return f"case {self.case_id} in zone {self.zone_id}"


class ZonePeriod(models.Model):
    """A stretch of days a zone spent at one level: the bulletin's zones in force on any day."""

    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="periods")
    level = models.CharField(max_length=10, choices=Level.choices)
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    start_on = models.DateField()
    end_on = models.DateField(null=True, blank=True)  # the day it changed; null while it lasts

    class Meta:
        indexes = [models.Index(fields=["start_on", "end_on"], name="zone_period_days_idx")]

    def __str__(self) -> str:
        return f"zone {self.zone_id} {self.level} from {self.start_on}"


class ZoneScreening(models.Model):
    """A full screening round of a zone and whether it was all negative."""

    zone = models.ForeignKey(Zone, on_delete=models.CASCADE, related_name="screenings")
    on = models.DateField(_("day"))
    all_negative = models.BooleanField(_("all negative"))
    sampled = models.IntegerField(_("sampled"), null=True, blank=True)
    recorded_at = models.DateTimeField()

    class Meta:
        verbose_name = _("zone screening")
        verbose_name_plural = _("zone screenings")
        ordering = ["on", "id"]

    def __str__(self) -> str:
        return f"zone {self.zone_id} screened {self.on}"
