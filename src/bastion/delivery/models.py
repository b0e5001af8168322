"""Orders and the last 100 metres: a household's orders (its own, a community worker's proxy
order, the standard package of a locked zone, medicine), the day's delivery task of each
building (一人一楼: one volunteer per building), each attempt to deliver, and the daily
inquiry of each locked household (一天一问)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bastion.city.models import copy_of


class OrderKind(models.TextChoices):
    RESIDENT = "resident", _("ordered by the household")
    PROXY = "proxy", _("proxy order by the community")
    STANDARD = "standard", _("standard package")
    MEDICINE = "medicine", _("medicine request")


class OrderState(models.TextChoices):
    OPEN = "open", _("awaiting a task")
    ASSIGNED = "assigned", _("in a delivery task")
    DELIVERED = "delivered", _("delivered")
    CANCELLED = "cancelled", _("cancelled")


class Order(models.Model):
    """What one household is to receive. A failed delivery puts it back to `open` for the next
    task (re-dispatch); `attempts` counts the tries."""

    household = models.ForeignKey(
        "city.Household", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Copies of the household's places, for the set-based task building and scoping. Not
    # enforced by the database, as the registry's own copies are: a lockdown's first day writes
    # a million orders, and checking three more keys of each at COMMIT was a large share of it
    # (docs/BENCHMARKS.md).
    building = copy_of("city.Building")
    community = copy_of("city.Community", db_index=False)
    district = copy_of("city.District", db_index=False)
    kind = models.CharField(_("kind"), max_length=10, choices=OrderKind.choices)
    state = models.CharField(_("state"), max_length=10, choices=OrderState.choices, default=OrderState.OPEN)
    # For a standard package: the day of its cycle (one per household and day: sent again, nothing new).
    cycle_day = models.DateField(_("cycle day"), null=True, blank=True)
    vulnerable = models.BooleanField(_("vulnerable household"), default=False)
    # Staggered pick-up (a medium-risk area) rather than delivery to the door.
    pickup = models.BooleanField(_("picked up"), default=False)
    placed_at = models.DateTimeField(_("placed at"))
    due_at = models.DateTimeField(_("due by"))
    placed_by = models.CharField(_("placed by"), max_length=150)
    note = models.CharField(_("note"), max_length=300, blank=True)
    # What the household shows the volunteer at the door (a QR code or these digits).
    recipient_code = models.CharField(_("recipient code"), max_length=8)
    # Not enforced by the database (as the place copies above): the day's dispatch writes a
    # million orders into their tasks in one statement, from the same stage, under the dispatch
    # lock, and checking each key again at COMMIT was a large share of it (docs/BENCHMARKS.md).
    # Django's own deletes still apply on_delete.
    task = models.ForeignKey(
        "delivery.DeliveryTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="orders",
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    measured_weight_kg = models.DecimalField(
        _("measured weight (kg)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    client_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(
                fields=["household", "cycle_day"],
                condition=Q(kind="standard"),
                name="standard_package_once_per_cycle_day",
            ),
            models.UniqueConstraint(
                fields=["client_key"], condition=Q(client_key__isnull=False), name="order_client_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=models.F("placed_at")), name="order_due_after_placed"
            ),
        ]
        indexes = [
            models.Index(fields=["household", "delivered_at"], name="order_household_idx"),
            models.Index(fields=["building", "state"], name="order_building_state_idx"),
        ]

    def __str__(self) -> str:
        return f"order {self.pk}"


class OrderLine(models.Model):
    # Written with their order, in the same transaction (the day's standard packages: a million
    # lines in one statement); unenforced for the reason Order.task is.
    order = models.ForeignKey(Order, on_delete=models.CASCADE, db_constraint=False, related_name="lines")
    item = models.ForeignKey("supply.Item", on_delete=models.PROTECT, db_constraint=False, related_name="+")
    quantity = models.PositiveSmallIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
            models.UniqueConstraint(fields=["order", "item"], name="order_line_once_per_item"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.item_id}"


class LastDelivery(models.Model):
    """Each household's last delivery, kept by every delivery (services.order_deliver): the
    coverage of a million locked households reads one row each here instead of grouping every
    delivered order of the cycle."""

    household = models.OneToOneField(
        "city.Household",
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="last_delivery",
    )
    delivered_at = models.DateTimeField(_("delivered at"))
    order = models.ForeignKey(
        Order, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )

    class Meta:
        verbose_name = _("last delivery")
        verbose_name_plural = _("last deliveries")

    def __str__(self) -> str:
        return f"last delivery of {self.household_id}"


class TaskState(models.TextChoices):
    OPEN = "open", _("to be claimed")
    CLAIMED = "claimed", _("claimed")
    DONE = "done", _("done")


class DeliveryTask(models.Model):
    """A building's deliveries of one day, taken by one volunteer (一人一楼). In a
    medium-risk area the building has a pick-up slot instead of door-to-door delivery."""

    building = models.ForeignKey("city.Building", on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(
        "city.Community", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    district = models.ForeignKey("city.District", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField(_("day"))
    # Several tasks a day for one building when orders keep coming after one was claimed.
    batch = models.PositiveSmallIntegerField(_("batch"), default=1)
    state = models.CharField(_("state"), max_length=10, choices=TaskState.choices, default=TaskState.OPEN)
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due by"))
    vulnerable = models.BooleanField(_("holds a vulnerable household"), default=False)
    pickup_from = models.DateTimeField(_("pick-up from"), null=True, blank=True)
    pickup_until = models.DateTimeField(_("pick-up until"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery task")
        verbose_name_plural = _("delivery tasks")
        constraints = [
            models.UniqueConstraint(fields=["building", "day", "batch"], name="task_once_per_building_batch"),
            models.CheckConstraint(
                condition=Q(state="open", volunteer__isnull=True)
                | ~Q(state="open") & Q(volunteer__isnull=False),
                name="task_claimed_has_volunteer",
            ),
        ]
        indexes = [
            models.Index(fields=["community", "day", "state"], name="task_community_day_idx"),
            models.Index(fields=["volunteer", "state"], name="task_volunteer_idx"),
            # A community's open tasks of the day, most urgent first (selectors.tasks_open): read
            # in order from the index, no sort of the community's thousands of open tasks.
            models.Index(
                "community",
                "day",
                models.F("vulnerable").desc(),
                "due_at",
                "id",
                condition=Q(state="open"),
                name="task_open_urgent_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"task {self.pk}"


class Outcome(models.TextChoices):
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("could not deliver")


class Attempt(models.Model):
    """One try at a household's door: delivered (recipient code checked, weight measured) or
    failed with a reason."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="attempts_made")
    task = models.ForeignKey(DeliveryTask, null=True, on_delete=models.PROTECT, related_name="+")
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    measured_weight_kg = models.DecimalField(
        _("measured weight (kg)"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    at = models.DateTimeField(_("at"))
    client_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        constraints = [
            models.UniqueConstraint(
                fields=["client_key"], condition=Q(client_key__isnull=False), name="attempt_client_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.outcome} {self.order_id}"


class CheckIn(models.Model):
    """The day's inquiry of a locked household by its building's volunteer (一天一问)."""

    household = models.ForeignKey(
        "city.Household", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    day = models.DateField(_("day"))
    volunteer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    needs = models.CharField(_("needs"), max_length=500, blank=True)
    at = models.DateTimeField(_("at"))
    # The needs the inquiry raised as an order, if any.
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("daily inquiry")
        verbose_name_plural = _("daily inquiries")
        constraints = [models.UniqueConstraint(fields=["household", "day"], name="checkin_once_a_day")]

    def __str__(self) -> str:
        return f"check-in {self.household_id} {self.day}"


class PackageCycle(models.Model):
    """A zone's own standard package and cycle (else the policy's): e.g. a vegetable package
    every 3 days to every household of the zone served door to door."""

    zone = models.OneToOneField("zones.Zone", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("supply.Item", on_delete=models.PROTECT, related_name="+")
    every_days = models.PositiveSmallIntegerField(_("every (days)"))
    set_at = models.DateTimeField(_("set at"))

    class Meta:
        verbose_name = _("standard package cycle")
        verbose_name_plural = _("standard package cycles")
        constraints = [models.CheckConstraint(condition=Q(every_days__gte=1), name="cycle_at_least_a_day")]

    def __str__(self) -> str:
        return f"{self.item_id} every {self.every_days} days"


class Vehicle(models.Model):
    """A supply vehicle based at a sorting centre (its pass is the passes capability's)."""

    plate = models.CharField(_("plate"), max_length=20, unique=True)
    base = models.ForeignKey("supply.Warehouse", on_delete=models.PROTECT, related_name="+")
    capacity_kg = models.DecimalField(_("capacity (kg)"), max_digits=8, decimal_places=1)
    driver = models.CharField(_("driver"), max_length=50, blank=True)
    driver_phone = models.CharField(_("driver's phone"), max_length=20, blank=True)
    active = models.BooleanField(_("in service"), default=True)

    class Meta:
        verbose_name = _("supply vehicle")
        verbose_name_plural = _("supply vehicles")
        constraints = [
            models.CheckConstraint(condition=Q(capacity_kg__gt=0), name="vehicle_capacity_positive")
        ]

    def __str__(self) -> str:
        return self.plate


class LoadStop(models.Model):
    """One compound's goods of the day on one vehicle: what a route optimiser needs (where, how
    much, by when), in the order the vehicle calls. A vehicle may call at a compound more than
    once a day (its `trip`) when the day's goods exceed its capacity."""

    day = models.DateField(_("day"))
    vehicle = models.ForeignKey(
        Vehicle, null=True, blank=True, on_delete=models.PROTECT, related_name="stops"
    )
    trip = models.PositiveSmallIntegerField(_("trip"), default=1)
    sequence = models.PositiveSmallIntegerField(_("stop"), default=1)
    compound = models.ForeignKey("city.Compound", on_delete=models.PROTECT, related_name="+")
    demand_kg = models.DecimalField(_("demand (kg)"), max_digits=10, decimal_places=1)
    orders = models.PositiveIntegerField(_("orders"))
    window_from = models.DateTimeField(_("from"))
    window_until = models.DateTimeField(_("until"))
    planned_at = models.DateTimeField(_("planned at"))

    class Meta:
        verbose_name = _("load plan stop")
        verbose_name_plural = _("load plan")
        indexes = [models.Index(fields=["day", "vehicle", "trip", "sequence"], name="load_stop_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.vehicle_id} {self.compound_id}"
