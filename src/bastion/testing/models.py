"""Mass testing (区域核酸检测): rounds, sites, labs, tubes, scans, recalls, and the round's
exceptions and coverage counters.

The large tables (scans: 20 M rows a round) carry copies of the resident's household, grid
and district so that coverage per grid needs no join with the registry, and have no database
foreign keys so that a bulk load is not checked row by row; the services keep them right.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def _ref(to: str, *, index: bool = False, null: bool = False) -> models.ForeignKey:  # type: ignore[type-arg]
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=index,
        null=null,
        blank=null,
        related_name="+",
    )


class RoundState(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class Round(models.Model):
    """A round of mass testing over the city, some districts, or some zones."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    deadline = models.DateTimeField(_("deadline"))
    # Ratio per zone level ("high", "medium", "low") and whether high-risk tubes hold one household.
    pooling = models.JSONField(_("pooling"))
    state = models.CharField(_("state"), max_length=10, choices=RoundState.choices, default=RoundState.OPEN)
    opened_at = models.DateTimeField(_("opened at"))
    # Scans from this moment on are refused; those made before it are still taken (a device
    # that was offline sends them later), and results keep coming in.
    closed_at = models.DateTimeField(_("round closed at"), null=True, blank=True)
    # When the platform acted on the deadline (those unsampled turn yellow): once per round.
    deadline_passed_at = models.DateTimeField(_("deadline acted on at"), null=True, blank=True)
    # A round of one zone's full screening (the zone's clock reads its result).
    zone = models.ForeignKey(
        "zones.Zone", null=True, blank=True, on_delete=models.PROTECT, related_name="rounds"
    )

    class Meta:
        verbose_name = _("testing round")
        verbose_name_plural = _("testing rounds")
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(deadline__gt=models.F("starts_at")), name="round_deadline_after_start"
            )
        ]

    def __str__(self) -> str:
        return self.code


class RoundArea(models.Model):
    """Where a round applies: whole districts, or compounds (a zone's area is copied in). A
    round with no area covers the city."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="areas")
    district = models.ForeignKey(
        "city.District", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    compound = models.ForeignKey(
        "city.Compound", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    building = models.ForeignKey(
        "city.Building", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey("city.Unit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        "city.Household", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"area of {self.round_id}"


class Site(models.Model):
    """A sampling point, or a mobile team that samples door to door."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    grid = models.ForeignKey(
        "city.Grid", on_delete=models.PROTECT, related_name="+", verbose_name=_("grid served")
    )
    district = _ref("city.District")
    compound = models.ForeignKey(
        "city.Compound", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    opens = models.TimeField(_("opens"), null=True, blank=True)
    closes = models.TimeField(_("closes"), null=True, blank=True)
    samplers = models.PositiveIntegerField(_("samplers"), default=1)
    capacity_per_hour = models.PositiveIntegerField(_("capacity per hour"), default=300)
    mobile = models.BooleanField(_("mobile team (door to door)"), default=False)

    class Meta:
        verbose_name = _("sampling site")
        verbose_name_plural = _("sampling sites")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Lab(models.Model):
    code = models.CharField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    capacity_per_hour = models.PositiveIntegerField(_("capacity in tubes per hour"), default=1000)

    class Meta:
        verbose_name = _("laboratory")
        verbose_name_plural = _("laboratories")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Result(models.TextChoices):
    PENDING = "", _("pending")
    NEGATIVE = "negative", _("negative")
    POSITIVE = "positive", _("positive")
    INVALID = "invalid", _("invalid")


class Tube(models.Model):
    """A sampling tube: `ratio` people at most; single tubes (ratio 1) decide for one person."""

    round = _ref("testing.Round", index=False)
    barcode = models.CharField(_("barcode"), max_length=40)
    ratio = models.PositiveSmallIntegerField(_("pooling ratio"))
    retest = models.BooleanField(_("single-tube retest of a recall"), default=False)
    site = _ref("testing.Site", null=True)
    district = _ref("city.District", null=True)
    # The grid of every member while they share one (NULL when empty or mixed): coverage per
    # grid adds up tubes (2 M a Chengdu round) instead of counting scans (20 M).
    grid = _ref("city.Grid", null=True)
    members = models.PositiveSmallIntegerField(_("members"), default=0)
    first_scan_at = models.DateTimeField(_("first scan"), null=True, blank=True)
    sealed_at = models.DateTimeField(_("sealed at"), null=True, blank=True)
    lab = _ref("testing.Lab", null=True)
    received_at = models.DateTimeField(_("received by the lab"), null=True, blank=True)
    result = models.CharField(
        _("result"), max_length=10, choices=Result.choices, default=Result.PENDING, blank=True
    )
    resulted_at = models.DateTimeField(_("result at"), null=True, blank=True)
    ct_values = models.JSONField(_("Ct values"), null=True, blank=True)

    class Meta:
        verbose_name = _("tube")
        verbose_name_plural = _("tubes")
        constraints = [
            models.UniqueConstraint(
                fields=["barcode"], name="tube_barcode_unique", opclasses=["text_pattern_ops"]
            ),
            models.CheckConstraint(
                condition=Q(members__lte=models.F("ratio")), name="tube_members_within_ratio"
            ),
        ]
        # No index names the result or the times a lab writes: a result then updates the tube in
        # place (a HOT update on PostgreSQL, with the room the table's fillfactor leaves),
        # without new entries in every index; 2 M results a round.
        indexes = [models.Index(fields=["round"], name="tube_round_idx")]

    def __str__(self) -> str:
        return self.barcode


class Scan(models.Model):
    """A resident sampled into a tube. One pooled scan per resident and round, and one per
    retest tube."""

    round = _ref("testing.Round")
    tube = _ref("testing.Tube")
    resident = _ref("city.Resident")
    household = _ref("city.Household")
    grid = _ref("city.Grid")
    district = _ref("city.District")
    site = _ref("testing.Site", null=True)
    retest = models.BooleanField(default=False)
    scanned_at = models.DateTimeField()
    sampler = models.CharField(max_length=50, blank=True)
    # NULL when the device sent no key: the unique index then leaves the row alone.
    client_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        verbose_name = _("scan")
        verbose_name_plural = _("scans")
        constraints = [
            # One pooled scan per person and round; retests one per retest tube (an invalid
            # retest is sampled again into a new tube).
            models.UniqueConstraint(
                fields=["round", "resident"], condition=Q(retest=False), name="scan_once_per_round"
            ),
            models.UniqueConstraint(
                fields=["round", "resident", "tube"], condition=Q(retest=True), name="retest_once_per_tube"
            ),
            models.UniqueConstraint(
                fields=["client_key"], condition=Q(client_key__isnull=False), name="scan_client_key_unique"
            ),
        ]
        indexes = [models.Index(fields=["tube"], name="scan_tube_idx")]

    def __str__(self) -> str:
        return f"scan {self.pk}"


class RecallState(models.TextChoices):
    OPEN = "open", _("awaiting retest")
    RETESTED = "retested", _("retested")


class Recall(models.Model):
    """A member of a positive or invalid pool, isolated in place until a single-tube retest."""

    round = _ref("testing.Round", index=False)
    resident = _ref("city.Resident", index=True)
    household = _ref("city.Household", index=True)
    grid = _ref("city.Grid")
    district = _ref("city.District")
    tube = _ref("testing.Tube")
    reason = models.CharField(_("reason"), max_length=10, choices=Result.choices)
    opened_at = models.DateTimeField(_("recalled at"))
    state = models.CharField(_("state"), max_length=10, choices=RecallState.choices, default=RecallState.OPEN)
    retest_tube = _ref("testing.Tube", null=True)
    result = models.CharField(
        _("retest result"), max_length=10, choices=Result.choices, blank=True, default=""
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recall")
        verbose_name_plural = _("recalls")
        constraints = [
            models.UniqueConstraint(fields=["round", "resident"], name="recall_once_per_round"),
        ]
        indexes = [models.Index(fields=["round", "state", "opened_at"], name="recall_open_idx")]

    def __str__(self) -> str:
        return f"recall of {self.resident_id} in round {self.round_id}"


class IssueKind(models.TextChoices):
    OVERFULL_TUBE = "overfull_tube", _("tube over its ratio")
    UNKNOWN_RESIDENT = "unknown_resident", _("unknown resident")
    DUPLICATE_SCAN = "duplicate_scan", _("duplicate scan")
    UNKNOWN_TUBE = "unknown_tube", _("result for an unknown tube")
    ALREADY_RESULTED = "already_resulted", _("tube already resulted")
    OUTSIDE_ROUND = "outside_round", _("resident outside the round")
    WRONG_POOL = "wrong_pool", _("tube of another pooling")
    NO_RECALL = "no_recall", _("retest without a recall")
    BAD_RECORD = "bad_record", _("unreadable record")
    OUTSIDE_TIME = "outside_time", _("scanned outside the round's time")


class RoundIssue(models.Model):
    """Something a device or a file sent that the round could not take: listed, never lost."""

    round = _ref("testing.Round", index=True, null=True)
    kind = models.CharField(_("kind"), max_length=20, choices=IssueKind.choices)
    detail = models.JSONField(_("detail"))
    source = models.CharField(_("source"), max_length=200, blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("round exception")
        verbose_name_plural = _("round exceptions")
        ordering = ["at", "id"]
        # A record is listed once per source (a file's line, a device's client key).
        indexes = [models.Index(fields=["round", "source"], name="roundissue_source_idx")]

    def __str__(self) -> str:
        return f"{self.kind} in round {self.round_id}"
