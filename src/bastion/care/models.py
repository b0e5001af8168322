"""Medical care under lockdown: a resident's standing medical needs (part of the registry's
picture of its vulnerable members, kept by community workers) and the point-to-point trips
to treatment the platform plans for residents of risk zones, raises for the yellow-code
hospital, and opens at once for an emergency call (120)."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bastion.care import rules
from bastion.city.models import copy_of


class NeedKind(models.TextChoices):
    DIALYSIS = rules.DIALYSIS, _("dialysis")
    CHEMOTHERAPY = rules.CHEMOTHERAPY, _("chemotherapy")
    PREGNANCY = rules.PREGNANCY, _("pregnancy")
    OXYGEN = rules.OXYGEN, _("oxygen")
    INSULIN = rules.INSULIN, _("insulin")
    OTHER = rules.OTHER, _("other medical need")


class MedicalNeed(models.Model):
    """A resident's standing need: what, on which days and at what time, where, since when and
    until when. Ended, not deleted (`ended_at`, with the reason): its trips stay on record."""

    resident = models.ForeignKey("city.Resident", on_delete=models.PROTECT, related_name="+")
    household = copy_of("city.Household")
    community = copy_of("city.Community")
    district = copy_of("city.District", db_index=False)
    kind = models.CharField(_("kind"), max_length=20, choices=NeedKind.choices)
    # 0 = Monday … 6 = Sunday (rules.WEEKDAYS).
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True)
    # Days of a chemotherapy cycle or obstetric visits, ISO dates.
    dates = models.JSONField(_("dates"), default=list, blank=True)
    session_time = models.TimeField(_("session time"), null=True, blank=True)
    place = models.CharField(_("place of treatment"), max_length=100, blank=True)
    due_on = models.DateField(_("due date"), null=True, blank=True)
    since = models.DateField(_("since"))
    until = models.DateField(_("until"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("recorded at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("reason for ending"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("standing medical need")
        verbose_name_plural = _("standing medical needs")
        constraints = [
            models.CheckConstraint(
                condition=Q(until__isnull=True) | Q(until__gte=models.F("since")),
                name="need_until_after_since",
            ),
        ]
        indexes = [models.Index(fields=["community", "kind"], name="need_community_kind")]

    def __str__(self) -> str:
        return f"{self.kind} of resident {self.resident_id}"

    def as_rule(self) -> rules.Need:
        return rules.Need(
            kind=self.kind,
            since=self.since,
            until=self.until,
            weekdays=tuple(self.weekdays or ()),
            dates=tuple(date.fromisoformat(d) for d in self.dates or ()),
            session_time=self.session_time,
            due_on=self.due_on,
        )


class Purpose(models.TextChoices):
    SESSION = rules.SESSION, _("session of treatment")
    YELLOW_CODE = rules.YELLOW_CODE, _("to the yellow-code hospital")
    EMERGENCY = rules.EMERGENCY, _("emergency (120)")


class TripState(models.TextChoices):
    PLANNED = "planned", _("planned")
    DISPATCHED = "dispatched", _("vehicle dispatched")
    PICKED_UP = "picked_up", _("picked up")
    AT_TREATMENT = "at_treatment", _("at treatment")
    RETURNED = "returned", _("returned home")
    MISSED = "missed", _("missed")
    CANCELLED = "cancelled", _("cancelled")


class Trip(models.Model):
    """A point-to-point trip of one patient: from home to treatment and back, in a dedicated
    vehicle (closed loop). `at` is the session's time (the call's, for an emergency)."""

    need = models.ForeignKey(
        MedicalNeed, null=True, blank=True, on_delete=models.PROTECT, related_name="trips"
    )
    resident = models.ForeignKey("city.Resident", on_delete=models.PROTECT, related_name="+")
    household = copy_of("city.Household")
    community = copy_of("city.Community")
    district = copy_of("city.District", db_index=False)
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    kind = models.CharField(_("kind"), max_length=20, blank=True)  # the need's kind, if any
    emergency = models.BooleanField(_("emergency"), default=False)
    at = models.DateTimeField(_("due at"))
    pickup_address = models.CharField(_("pick-up address"), max_length=80)
    destination = models.CharField(_("destination"), max_length=100)
    state = models.CharField(_("state"), max_length=20, choices=TripState.choices, default=TripState.PLANNED)
    # The vehicle dispatched: its code in the transfer context's fleet, null until one is sent
    # (the merge may turn it into a key of that fleet; null is what a foreign key would hold).
    vehicle_code = models.CharField(_("vehicle"), max_length=30, null=True, blank=True)  # noqa: DJ001
    missed_at = models.DateTimeField(_("missed at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    raised_by = models.CharField(_("raised by"), max_length=150)
    created_at = models.DateTimeField(_("created at"))
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("trip to treatment")
        verbose_name_plural = _("trips to treatment")
        constraints = [
            # One trip per need and session time, however often the planning runs.
            models.UniqueConstraint(
                fields=["need", "at"], condition=Q(need__isnull=False), name="trip_one_per_session"
            ),
            models.CheckConstraint(
                condition=Q(emergency=False) | Q(purpose=rules.EMERGENCY), name="trip_emergency_is_a_call"
            ),
        ]
        indexes = [
            models.Index(fields=["at", "state"], name="trip_at_state"),
            models.Index(fields=["community", "at"], name="trip_community_at"),
        ]

    def __str__(self) -> str:
        return f"{self.purpose} trip of resident {self.resident_id} at {self.at:%Y-%m-%d %H:%M}"
