"""Appeals (诉求), the 12345 way: a resident's ticket, raised on the phone page, by a hotline
operator for a caller or by a community worker; triaged to an owner (a community, a district
bureau, commerce, market regulation, the transfer desk) who signs for it and replies; closed when
the resident confirms or stays silent past a set time, reopened by a dissatisfied rating,
escalated when a deadline passes. Every move is an AppealEvent: a ticket handed back and forth
between owners shows it."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from bastion.appeals import rules
from bastion.city.models import copy_of


class Category(models.TextChoices):
    SUPPLIES = rules.SUPPLIES, _("supplies")
    MEDICAL = rules.MEDICAL, _("medical")
    CODE = rules.CODE, _("health code")
    ZONE = rules.ZONE, _("zone")
    CONDUCT = rules.CONDUCT, _("staff conduct")
    PRICE = rules.PRICE, _("price or weight")
    OTHER = rules.OTHER, _("other")


class Urgency(models.TextChoices):
    EMERGENCY = rules.EMERGENCY, _("emergency")
    URGENT = rules.URGENT, _("urgent")
    NORMAL = rules.NORMAL, _("normal")


class Channel(models.TextChoices):
    RESIDENT = rules.RESIDENT, _("resident's phone page")
    HOTLINE = rules.HOTLINE, _("12345 hotline")
    COMMUNITY = rules.COMMUNITY, _("community worker")


class AboutKind(models.TextChoices):
    ORDER = "order", _("order")
    DELIVERY = "delivery", _("delivery")
    SUPPLIER = "supplier", _("supplier")
    ZONE = "zone", _("zone")
    HEALTH_CODE = "health_code", _("health code")
    TRANSFER = "transfer", _("transfer")


class OwnerKind(models.TextChoices):
    COMMUNITY = rules.OWNER_COMMUNITY, _("community")
    DISTRICT = rules.OWNER_DISTRICT, _("district bureau")
    COMMERCE = rules.OWNER_COMMERCE, _("commerce bureau")
    MARKET = rules.OWNER_MARKET, _("market regulation")
    TRANSFER = rules.OWNER_TRANSFER, _("transfer desk")


class State(models.TextChoices):
    ACCEPTED = rules.ACCEPTED, _("accepted")
    DISPATCHED = rules.DISPATCHED, _("dispatched")
    SIGNED = rules.SIGNED, _("signed for")
    REPLIED = rules.REPLIED, _("replied")
    CLOSED = rules.CLOSED, _("closed")
    REOPENED = rules.REOPENED, _("reopened")


class Rating(models.TextChoices):
    SATISFIED = rules.SATISFIED, _("satisfied")
    DISSATISFIED = rules.DISSATISFIED, _("dissatisfied")


class Owner(models.Model):
    """Who owns tickets: a community (its workers), a district bureau (its officers), or a
    city-wide desk. Made when a ticket first goes to it; triage names the kind."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=OwnerKind.choices)
    community = models.ForeignKey(
        "city.Community", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    district = models.ForeignKey(
        "city.District", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("appeal owner")
        verbose_name_plural = _("appeal owners")
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=rules.OWNER_COMMUNITY) & Q(community__isnull=False))
                | (Q(kind=rules.OWNER_DISTRICT) & Q(district__isnull=False, community__isnull=True))
                | (
                    Q(kind__in=[rules.OWNER_COMMERCE, rules.OWNER_MARKET, rules.OWNER_TRANSFER])
                    & Q(community__isnull=True, district__isnull=True)
                ),
                name="appeal_owner_place_fits_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Appeal(models.Model):
    """One ticket (工单). `sign_by` and `reply_by` are set from policy.toml when it is dispatched
    (a hand-back gives the new owner a new `sign_by`, never a new `reply_by`: the resident's clock
    runs on); `next_escalation_at` is when the sweep raises its level if nothing happens,
    `close_at` when a replied ticket closes if the resident stays silent."""

    # Indexes are few on purpose: the sweep rewrites up to 100,000 rows at once, and each index
    # is one more write per row. The household is reached by `appeal_household`, the owner by
    # `appeal_owner_board`, the resident by `appeal_resident` (partial: most name nobody).
    household = models.ForeignKey(
        "city.Household", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # The member it is for, when one is named (a medical emergency's patient, a contested code).
    resident = models.ForeignKey(
        "city.Resident", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    community = copy_of("city.Community")
    district = copy_of("city.District", db_index=False)  # a district's tickets: through the communities'
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    urgency = models.CharField(_("urgency"), max_length=20, choices=Urgency.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    text = models.CharField(_("what the resident says"), max_length=2000, blank=True)
    contact_name = models.CharField(_("contact's name"), max_length=60, blank=True)
    contact_phone = models.CharField(_("contact's phone"), max_length=30, blank=True)
    about_kind = models.CharField(_("about"), max_length=20, choices=AboutKind.choices, blank=True)
    about_id = models.BigIntegerField(_("about (id)"), null=True, blank=True)
    vulnerable = models.BooleanField(_("vulnerable household"), default=False)
    lockdown = models.BooleanField(_("raised under lockdown"), default=False)
    owner = models.ForeignKey(Owner, on_delete=models.PROTECT, related_name="appeals", db_index=False)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.ACCEPTED)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    hand_backs = models.PositiveSmallIntegerField(_("hand-backs"), default=0)
    reopened = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    policy_version = models.CharField(_("policy version"), max_length=40)
    raised_by = models.CharField(_("raised by"), max_length=150)
    raised_at = models.DateTimeField(_("raised at"))
    dispatched_at = models.DateTimeField(_("dispatched at"))
    sign_by = models.DateTimeField(_("sign by"))
    reply_by = models.DateTimeField(_("reply by"))
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    reply = models.CharField(_("reply"), max_length=2000, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rating = models.CharField(_("rating"), max_length=20, choices=Rating.choices, blank=True)
    next_escalation_at = models.DateTimeField(_("escalates at"), null=True, blank=True)
    close_at = models.DateTimeField(_("closes if silent at"), null=True, blank=True)
    changed_at = models.DateTimeField(_("changed at"))

    class Meta:
        verbose_name = _("appeal (诉求)")
        verbose_name_plural = _("appeals")
        constraints = [
            models.CheckConstraint(condition=Q(state__in=State.values), name="appeal_state_known"),
            models.CheckConstraint(condition=Q(category__in=Category.values), name="appeal_category_known"),
            models.CheckConstraint(condition=Q(urgency__in=Urgency.values), name="appeal_urgency_known"),
            models.CheckConstraint(
                condition=Q(sign_by__gte=F("dispatched_at")), name="appeal_sign_after_dispatch"
            ),
            models.CheckConstraint(
                condition=Q(reply_by__gte=F("raised_at")), name="appeal_reply_after_raise"
            ),
            # Closed tickets say when; open ones do not.
            models.CheckConstraint(
                condition=Q(state=rules.CLOSED, closed_at__isnull=False)
                | (~Q(state=rules.CLOSED) & Q(closed_at__isnull=True)),
                name="appeal_closed_when_closed",
            ),
            # A replied or closed ticket has its reply; one awaiting it has none pending.
            models.CheckConstraint(
                condition=~Q(state__in=[rules.REPLIED, rules.CLOSED]) | Q(replied_at__isnull=False),
                name="appeal_replied_has_reply",
            ),
            models.CheckConstraint(
                condition=Q(about_kind="", about_id__isnull=True)
                | (~Q(about_kind="") & Q(about_id__isnull=False)),
                name="appeal_about_kind_and_id",
            ),
            models.CheckConstraint(condition=Q(escalation_level__lte=2), name="appeal_escalation_level_max"),
        ]
        indexes = [
            # The sweep's two questions, each answered by a small partial index.
            models.Index(
                fields=["next_escalation_at"],
                condition=Q(next_escalation_at__isnull=False),
                name="appeal_escalation_due",
            ),
            models.Index(fields=["close_at"], condition=Q(close_at__isnull=False), name="appeal_close_due"),
            # An owner's board: its open tickets by deadline.
            models.Index(fields=["owner", "state", "reply_by"], name="appeal_owner_board"),
            models.Index(fields=["household", "raised_at"], name="appeal_household"),
            models.Index(fields=["resident"], condition=Q(resident__isnull=False), name="appeal_resident"),
        ]

    def __str__(self) -> str:
        return f"appeal {self.pk}"


class EventKind(models.TextChoices):
    RAISED = "raised", _("raised")
    DISPATCHED = "dispatched", _("dispatched")
    SIGNED = "signed", _("signed for")
    HANDED_BACK = "handed_back", _("handed to another owner")
    REPLIED = "replied", _("replied")
    RATED = "rated", _("rated")
    CLOSED = "closed", _("closed")
    REOPENED = "reopened", _("reopened")
    ESCALATED = "escalated", _("escalated")


class AppealEvent(models.Model):
    """One step of a ticket's history, as the resident and the supervisor read it: who did what,
    and for a hand-back, from which owner to which."""

    # Reached by `appeal_event_history` and `appeal_event_from` only: the sweep writes up to
    # 100,000 of these at once.
    appeal = models.ForeignKey(Appeal, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(_("kind"), max_length=20, choices=EventKind.choices)
    from_owner = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    to_owner = models.ForeignKey(
        Owner, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    text = models.CharField(_("text"), max_length=2000, blank=True)
    rating = models.CharField(_("rating"), max_length=20, choices=Rating.choices, blank=True)
    level = models.PositiveSmallIntegerField(_("escalation level"), null=True, blank=True)
    actor_label = models.CharField(_("by"), max_length=150)
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("appeal event")
        verbose_name_plural = _("appeal events")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="handed_back") | Q(from_owner__isnull=False, to_owner__isnull=False),
                name="appeal_event_hand_back_names_owners",
            ),
            models.CheckConstraint(
                condition=~Q(kind="rated") | ~Q(rating=""), name="appeal_event_rating_given"
            ),
        ]
        indexes = [
            models.Index(fields=["appeal", "at"], name="appeal_event_history"),
            # A desk's tickets include those it handed on.
            models.Index(
                fields=["from_owner"], condition=Q(from_owner__isnull=False), name="appeal_event_from"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of appeal {self.appeal_id}"
