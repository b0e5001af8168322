"""Health codes: each resident's colour, the rule that set it and when, and every change.

A resident with no row is green and always has been (no rule ever held): a city of 21 million
keeps rows only for those whose colour ever changed. The history is the audit of colours: one
row per change, with its trigger, its rule and the rules' version; an officer's correction adds
the officer and the written reason.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bastion.codes.policy import GREEN, RED, YELLOW


class Colour(models.TextChoices):
    RED = RED, _("red")
    YELLOW = YELLOW, _("yellow")
    GREEN = GREEN, _("green")


class Trigger(models.TextChoices):
    """What made the platform look at a resident's colour again."""

    CASE = "case", _("a positive result")
    CONTACT = "contact", _("traced as a contact")
    TEST_RESULT = "test_result", _("a test result")
    ZONE = "zone", _("a risk zone drawn, changed or lifted")
    QUARANTINE_END = "quarantine_end", _("the end of a quarantine or monitoring")
    DISCHARGE = "discharge", _("a discharge")
    ROUND_DEADLINE = "round_deadline", _("a screening round's deadline")
    TIME = "time", _("a period ran out, or a test taken since a missed round")
    RULES = "rules", _("the code rules changed")
    CORRECTION = "correction", _("corrected by an officer")


class HealthCode(models.Model):
    resident = models.OneToOneField(
        "city.Resident", primary_key=True, on_delete=models.CASCADE, db_constraint=False, related_name="+"
    )
    colour = models.CharField(_("colour"), max_length=10, choices=Colour.choices)
    rule = models.CharField(_("rule"), max_length=40, blank=True)  # the rule's id; "" for green
    version = models.CharField(_("rules version"), max_length=40)
    set_at = models.DateTimeField(_("set at"))
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    # The facts that held when the platform last derived the colour, as a bit set over
    # codes.policy.FACTS: an officer's correction stands until they change.
    facts = models.IntegerField(_("facts"), default=0)
    corrected = models.BooleanField(_("corrected by an officer"), default=False)
    reason = models.TextField(_("officer's reason"), blank=True)

    class Meta:
        verbose_name = _("health code")
        verbose_name_plural = _("health codes")
        indexes = [
            models.Index(fields=["rule"], name="code_rule_idx", condition=~Q(rule="")),
        ]

    def __str__(self) -> str:
        return f"{self.resident_id}: {self.colour}"


class CodeChange(models.Model):
    resident = models.ForeignKey(
        "city.Resident", on_delete=models.CASCADE, db_constraint=False, related_name="+", db_index=False
    )
    at = models.DateTimeField(_("at"))
    was = models.CharField(_("was"), max_length=10, choices=Colour.choices)
    colour = models.CharField(_("colour"), max_length=10, choices=Colour.choices)
    rule = models.CharField(_("rule"), max_length=40, blank=True)
    version = models.CharField(_("rules version"), max_length=40)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices)
    actor_label = models.CharField(_("by"), max_length=150)
    reason = models.TextField(_("officer's reason"), blank=True)

    class Meta:
        verbose_name = _("health code change")
        verbose_name_plural = _("health code changes")
        indexes = [models.Index(fields=["resident", "at"], name="code_change_resident_idx")]

    def __str__(self) -> str:
        return f"{self.resident_id}: {self.was} → {self.colour}"


class TimedSweep(models.Model):
    """Where the codes' quarter-hourly sweep (`flows.codes_timed`) last stopped, one row: the
    next sweep looks only where time can have changed something since (`rules.sweep_span`). Kept
    in the sweep's own transaction, so that a sweep that fails or is skipped loses nothing: the
    next one starts from the last that was written."""

    at = models.DateTimeField(_("swept at"))
    # Missed rounds whose deadline was at or before this had left the window at that sweep.
    counted_after = models.DateTimeField(_("missed rounds counted after"))

    class Meta:
        verbose_name = _("timed sweep")
        verbose_name_plural = _("timed sweeps")

    def __str__(self) -> str:
        return f"swept at {self.at}"
