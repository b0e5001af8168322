"""Cases, the places they stayed, and their close and secondary contacts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CaseKind(models.TextChoices):
    CONFIRMED = "confirmed", _("confirmed (确诊)")
    ASYMPTOMATIC = "asymptomatic", _("asymptomatic (无症状感染者)")


class FoundBy(models.TextChoices):
    SCREENING = "screening", _("mass screening")
    QUARANTINE = "quarantine", _("in quarantine")
    COMMUNITY = "community", _("in the community")
    HOSPITAL = "hospital", _("at a hospital")


class CaseStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("case status", "active")
    DISCHARGED = "discharged", _("discharged")


class ProtocolInForce(models.Model):
    """Which national protocol the city applies from a given day (v9, nov2022, dec2022)."""

    protocol = models.CharField(_("protocol"), max_length=20)
    since = models.DateField(_("since"), unique=True)
    reason = models.TextField(_("reason"), blank=True)

    class Meta:
        verbose_name = _("protocol in force")
        verbose_name_plural = _("protocols in force")
        ordering = ["-since"]

    def __str__(self) -> str:
        return f"{self.protocol} since {self.since}"


class Case(models.Model):
    """One infected resident. `kind` is the current classification; `initial_kind` what was
    first reported, so that the bulletin counts a conversion once and never twice."""

    resident = models.OneToOneField(
        "city.Resident", on_delete=models.PROTECT, related_name="case", verbose_name=_("resident")
    )
    household = models.ForeignKey("city.Household", on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey("city.Community", on_delete=models.PROTECT, related_name="+")
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("classification"), max_length=20, choices=CaseKind.choices)
    initial_kind = models.CharField(_("first reported as"), max_length=20, choices=CaseKind.choices)
    found_by = models.CharField(_("found by"), max_length=20, choices=FoundBy.choices)
    onset_on = models.DateField(_("onset"), null=True, blank=True)
    reported_at = models.DateTimeField(_("reported at"))
    reported_on = models.DateField(_("report day"), db_index=True)
    converted_on = models.DateField(_("converted to confirmed on"), null=True, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.ACTIVE
    )
    discharged_on = models.DateField(_("discharged on"), null=True, blank=True, db_index=True)
    protocol = models.CharField(_("protocol"), max_length=20)
    # The case whose contact this person was: the chain of transmission.
    source = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="infected",
        verbose_name=_("infected by"),
    )

    class Meta:
        verbose_name = _("case (病例)")
        verbose_name_plural = _("cases")
        ordering = ["-reported_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="confirmed") | Q(converted_on__isnull=True),
                name="case_converted_is_confirmed",
            ),
            models.CheckConstraint(
                condition=Q(initial_kind="asymptomatic") | Q(converted_on__isnull=True),
                name="case_only_asymptomatic_converts",
            ),
            models.CheckConstraint(
                condition=~Q(status="discharged") | Q(discharged_on__isnull=False),
                name="case_discharged_has_day",
            ),
        ]

    def __str__(self) -> str:
        return f"case {self.pk} ({self.kind})"


class PlaceType(models.TextChoices):
    HOME = "home", _("home")
    WORKPLACE = "workplace", _("workplace")
    SHOP = "shop", _("shop or market")
    OTHER = "other", _("other place")


class ExposurePlace(models.Model):
    """A place of the registry where a case stayed, from one day to another.

    `frequent` places (home, workplace) are the case's places of frequent activity; the others
    are places the case only stayed at.
    """

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="places")
    place_type = models.CharField(_("type"), max_length=20, choices=PlaceType.choices)
    frequent = models.BooleanField(_("frequent activity"), default=False)
    address = models.CharField(_("address"), max_length=80)
    compound = models.ForeignKey("city.Compound", on_delete=models.PROTECT, related_name="+")
    building = models.ForeignKey("city.Building", null=True, on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey("city.Unit", null=True, on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey("city.Household", null=True, on_delete=models.PROTECT, related_name="+")
    from_on = models.DateField(_("from"), null=True, blank=True)
    until_on = models.DateField(_("until"), null=True, blank=True)

    class Meta:
        verbose_name = _("exposure place")
        verbose_name_plural = _("exposure places")

    def __str__(self) -> str:
        return f"{self.address} ({self.place_type})"


class ContactKind(models.TextChoices):
    CLOSE = "close", _("close contact (密接)")
    SECONDARY = "secondary", _("secondary contact (次密接)")


class ContactStatus(models.TextChoices):
    QUARANTINED = "quarantined", _("in quarantine")
    MONITORING = "monitoring", _("home health monitoring")
    RELEASED = "released", _("released")
    UPGRADED = "upgraded", _("upgraded to close contact")
    BECAME_CASE = "became_case", _("became a case")


class QuarantinePlace(models.TextChoices):
    CENTRALISED = "centralised", _("centralised quarantine")
    HOME = "home", _("home isolation")


class Contact(models.Model):
    """A close contact of a case, or a secondary contact linked to a close contact (`via`)."""

    resident = models.ForeignKey("city.Resident", on_delete=models.PROTECT, related_name="contacts")
    household = models.ForeignKey("city.Household", on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey("city.Community", on_delete=models.PROTECT, related_name="+")
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="contacts")
    via = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="secondaries"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=ContactKind.choices)
    last_exposure_on = models.DateField(_("last exposure"))
    protocol = models.CharField(_("protocol"), max_length=20)
    place = models.CharField(_("quarantined at"), max_length=20, choices=QuarantinePlace.choices)
    quarantine_until = models.DateField(_("quarantine until"))
    monitoring_until = models.DateField(_("home monitoring until"), null=True, blank=True)
    test_dates = models.JSONField(_("test days"), default=list)
    status = models.CharField(
        _("status"), max_length=20, choices=ContactStatus.choices, default=ContactStatus.QUARANTINED
    )
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    identified_at = models.DateTimeField(_("identified at"))

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["last_exposure_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="close", via__isnull=True) | Q(kind="secondary", via__isnull=False),
                name="contact_secondary_has_close_contact",
            ),
            # One open quarantine per person and case.
            models.UniqueConstraint(
                fields=["resident", "case"],
                condition=Q(status__in=["quarantined", "monitoring"]),
                name="contact_open_once_per_case",
            ),
        ]
        indexes = [models.Index(fields=["status", "quarantine_until"], name="contact_release_idx")]

    def __str__(self) -> str:
        return f"{self.kind} contact {self.pk} of case {self.case_id}"
