"""The city registry: every place and person, down to the household and its vulnerable members.

Large tables (households, residents) carry their ancestors' ids (`district`, `community`, …)
so that scope filters and per-area counts need no joins, and so that a distributed engine can
shard them by district. Those copies are kept by the services and the bulk loaders; they have
no foreign-key constraint so that a 21-million-row COPY is not checked row by row.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bastion.core.roles import DEFAULT_SCOPE, SCOPE_ORDER, Role, ScopeLevel


def copy_of(
    to: str, related_name: str = "+", verbose_name: str = "", *, db_index: bool = True
) -> models.ForeignKey:  # type: ignore[type-arg]
    """A denormalised ancestor: joinable, not enforced by the database, indexed unless told."""
    return models.ForeignKey(
        to,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=db_index,
        related_name=related_name,
        verbose_name=verbose_name or None,
    )


class District(models.Model):
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("district (区/县)")
        verbose_name_plural = _("districts")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Subdistrict(models.Model):
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="subdistricts")
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("subdistrict (街道/乡镇)")
        verbose_name_plural = _("subdistricts")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Community(models.Model):
    subdistrict = models.ForeignKey(Subdistrict, on_delete=models.PROTECT, related_name="communities")
    district = copy_of("city.District", "communities")
    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("community (社区/村)")
        verbose_name_plural = _("communities")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Grid(models.Model):
    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="grids")
    district = copy_of("city.District")
    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        verbose_name = _("grid (网格)")
        verbose_name_plural = _("grids")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Compound(models.Model):
    grid = models.ForeignKey(Grid, on_delete=models.PROTECT, related_name="compounds")
    community = copy_of("city.Community", "compounds")
    district = copy_of("city.District")
    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)
    shared_facilities = models.BooleanField(
        _("shared facilities (大杂院)"),
        default=False,
        help_text=_("Households share a toilet or water point: the whole courtyard is one exposure unit."),
    )

    class Meta:
        verbose_name = _("compound (小区/院)")
        verbose_name_plural = _("compounds")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Building(models.Model):
    compound = models.ForeignKey(Compound, on_delete=models.PROTECT, related_name="buildings")
    community = copy_of("city.Community")
    district = copy_of("city.District")
    number = models.PositiveIntegerField(_("building number"))
    floors = models.PositiveSmallIntegerField(_("floors"), default=1)
    latitude = models.FloatField(_("latitude"), null=True, blank=True)
    longitude = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("building (栋)")
        verbose_name_plural = _("buildings")
        ordering = ["compound_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["compound", "number"], name="building_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="building_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.compound_id}/{self.number}"


class Unit(models.Model):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="units")
    compound = copy_of("city.Compound")
    community = copy_of("city.Community")
    district = copy_of("city.District")
    number = models.PositiveIntegerField(_("unit number"))

    class Meta:
        verbose_name = _("unit (单元)")
        verbose_name_plural = _("units")
        ordering = ["building_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["building", "number"], name="unit_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="unit_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.building_id}/{self.number}"


class Household(models.Model):
    # Indexed by the (unit, room) constraint; a second index would only slow loads.
    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="households", db_index=False)
    building = copy_of("city.Building", "households")
    compound = copy_of("city.Compound", "households")
    grid = copy_of("city.Grid", "households")
    community = copy_of("city.Community", "households")
    # For sharding by district, not for lookups: district counts come from CommunityFigures.
    district = copy_of("city.District", "households", db_index=False)
    room = models.CharField(_("room"), max_length=12)
    floor = models.SmallIntegerField(_("floor"), default=1)
    # "compound/building/unit/room", kept for search and for the scenario addresses.
    address = models.CharField(_("address"), max_length=80)

    class Meta:
        verbose_name = _("household (户)")
        verbose_name_plural = _("households")
        # Named constraints rather than unique=True so that bulk loads can drop and rebuild them.
        constraints = [
            # Operator classes make Django build these as separate unique indexes on SQLite too,
            # which a bulk load can drop and rebuild; on PostgreSQL they are the default ones.
            models.UniqueConstraint(
                fields=["unit", "room"],
                name="household_room_unique",
                opclasses=["int8_ops", "text_pattern_ops"],
            ),
            # text_pattern_ops: byte order, much cheaper to build on PostgreSQL than the collation's.
            models.UniqueConstraint(
                fields=["address"], name="household_address_unique", opclasses=["text_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        return self.address


class ChronicTreatment(models.TextChoices):
    NONE = "", _("none")
    DIALYSIS = "dialysis", _("dialysis")
    CHEMOTHERAPY = "chemotherapy", _("chemotherapy")
    OTHER = "other", _("other regular treatment")


class Sex(models.TextChoices):
    FEMALE = "F", _("female")
    MALE = "M", _("male")


class Resident(models.Model):
    # Indexed by the (household, number) constraint.
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="residents", db_index=False
    )
    community = copy_of("city.Community", "residents")
    district = copy_of("city.District", "residents", db_index=False)
    number = models.PositiveSmallIntegerField(_("number in household"))
    name = models.CharField(_("name"), max_length=50)
    id_number = models.CharField(_("resident ID number"), max_length=18)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    birth_date = models.DateField(_("birth date"))
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    living_alone = models.BooleanField(_("living alone"), default=False)
    disabled = models.BooleanField(_("disabled"), default=False)
    pregnant = models.BooleanField(_("pregnant"), default=False)
    chronic_treatment = models.CharField(
        _("chronic illness needing regular treatment"),
        max_length=20,
        choices=ChronicTreatment.choices,
        default=ChronicTreatment.NONE,
        blank=True,
    )
    cannot_order_online = models.BooleanField(_("cannot order online"), default=False)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        constraints = [
            models.UniqueConstraint(
                fields=["household", "number"],
                name="resident_number_unique",
                opclasses=["int8_ops", "int2_ops"],
            ),
            models.UniqueConstraint(
                fields=["id_number"], name="resident_id_number_unique", opclasses=["text_pattern_ops"]
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="resident_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.number}"


# The vulnerable flags a community worker keeps, and every column of a resident that is the
# person's own (not where they live): what loads write and imports compare.
RESIDENT_FLAGS = ("living_alone", "disabled", "pregnant", "chronic_treatment", "cannot_order_online")
RESIDENT_OWN_FIELDS = ("number", "name", "id_number", "sex", "birth_date", "phone", *RESIDENT_FLAGS)


class StaffRole(models.TextChoices):
    GRID_WORKER = "grid_worker", _("grid worker (网格员)")
    BUILDING_HEAD = "building_head", _("building head (楼长)")
    COMMUNITY_WORKER = "community_worker", _("community worker")
    VOLUNTEER = "volunteer", _("volunteer (党员志愿者)")


class Staff(models.Model):
    """A person who works the community: grid worker, building head, community worker, volunteer."""

    name = models.CharField(_("name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=StaffRole.choices)
    community = models.ForeignKey(Community, on_delete=models.PROTECT, related_name="staff")
    district = copy_of("city.District")
    grid = models.ForeignKey(Grid, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    building = models.ForeignKey(
        Building, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    resident = models.ForeignKey(
        Resident,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("residence"),
    )
    skills = models.JSONField(_("skills"), default=list, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff"
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("staff member or volunteer")
        verbose_name_plural = _("staff and volunteers")
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="grid_worker") | Q(grid__isnull=False), name="grid_worker_has_grid"
            ),
            models.CheckConstraint(
                condition=~Q(role="building_head") | Q(building__isnull=False),
                name="building_head_has_building",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"


class Account(models.Model):
    """A console user's role and scope. The role is also the user's Django group."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account")
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    scope = models.CharField(_("scope"), max_length=20, choices=ScopeLevel.choices)
    district = models.ForeignKey(District, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(
        Community, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    household = models.ForeignKey(
        Household, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(
                condition=~Q(scope="district") | Q(district__isnull=False),
                name="district_scope_names_district",
            ),
            models.CheckConstraint(
                condition=~Q(scope="community") | Q(community__isnull=False),
                name="community_scope_names_community",
            ),
            models.CheckConstraint(
                condition=~Q(scope="own_household") | Q(household__isnull=False),
                name="household_scope_names_household",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()}"

    def clean(self) -> None:
        """A scope is never wider than the role's (a resident never sees the whole city)."""
        if self.role not in DEFAULT_SCOPE or self.scope not in SCOPE_ORDER:
            return
        widest = SCOPE_ORDER.index(ScopeLevel(DEFAULT_SCOPE[self.role]))
        if SCOPE_ORDER.index(ScopeLevel(self.scope)) < widest:
            raise ValidationError(
                {"scope": _("A %(role)s cannot have a scope that wide.") % {"role": self.get_role_display()}},
                code="scope_too_wide",
            )


class CommunityFigures(models.Model):
    """Per-community registry counts, refreshed set-based after loads and imports.

    The command centre's figures add these up instead of counting 21 M residents per page.
    """

    community = models.OneToOneField(
        Community, primary_key=True, on_delete=models.CASCADE, related_name="figures"
    )
    district = copy_of("city.District")
    households = models.IntegerField(default=0)
    residents = models.IntegerField(default=0)
    elderly = models.IntegerField(default=0)
    elderly_alone = models.IntegerField(default=0)
    disabled = models.IntegerField(default=0)
    pregnant = models.IntegerField(default=0)
    infants = models.IntegerField(default=0)
    chronic_treatment = models.IntegerField(default=0)
    cannot_order_online = models.IntegerField(default=0)
    as_of = models.DateField()

    class Meta:
        verbose_name = _("community figures")
        verbose_name_plural = _("community figures")

    def __str__(self) -> str:
        return f"figures of {self.community_id} as of {self.as_of}"


class HouseholdProfile(models.Model):
    """What makes a household vulnerable, kept with the registry's figures (refreshed with them,
    set-based): whether a member lives alone, is disabled, pregnant or in regular treatment,
    and the birth dates of its eldest and youngest. Whether it is vulnerable *today* follows from
    the dates and today's cut-offs (selectors.household_vulnerable_sql), so the profile does not
    age. Supplies read it for a million locked households at once instead of looking through
    every household's residents."""

    household = models.OneToOneField(
        Household,
        primary_key=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="profile",
    )
    community = copy_of("city.Community", db_index=True)
    flagged = models.BooleanField(default=False)
    eldest_born = models.DateField(null=True)
    youngest_born = models.DateField(null=True)

    class Meta:
        verbose_name = _("household profile")
        verbose_name_plural = _("household profiles")

    def __str__(self) -> str:
        return f"profile of {self.household_id}"


class GridFigures(models.Model):
    """Households and residents per grid, refreshed with the community figures: coverage of a
    testing round per grid reads 19,000 rows instead of grouping 21 M residents."""

    grid = models.OneToOneField(Grid, primary_key=True, on_delete=models.CASCADE, related_name="figures")
    community = copy_of("city.Community")
    district = copy_of("city.District")
    households = models.IntegerField(default=0)
    residents = models.IntegerField(default=0)

    class Meta:
        verbose_name = _("grid figures")
        verbose_name_plural = _("grid figures")

    def __str__(self) -> str:
        return f"figures of grid {self.grid_id}"
