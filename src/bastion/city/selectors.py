"""Reads of the registry. Every selector takes the actor and answers only within its scope."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from bastion.city import rules
from bastion.city.models import (
    Account,
    Building,
    Community,
    CommunityFigures,
    Compound,
    District,
    Grid,
    Household,
    HouseholdProfile,
    Resident,
    Subdistrict,
    Unit,
)
from bastion.core import masking
from bastion.core.errors import Forbidden, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, ScopePaths, get_scoped, scoped

FIGURE_FIELDS = [
    "households",
    "residents",
    "elderly",
    "elderly_alone",
    "disabled",
    "pregnant",
    "infants",
    "chronic_treatment",
    "cannot_order_online",
]


def actor_for(user: AbstractBaseUser | AnonymousUser) -> Actor:
    """The actor a logged-in user acts as. A user without an account has no powers."""
    if not user.is_authenticated:
        raise Forbidden()
    try:
        # One query: the community's district comes with the account.
        account = Account.objects.select_related("community").get(user_id=user.pk)
    except Account.DoesNotExist:
        raise Forbidden() from None
    # The powers are the Django permissions of the user's groups (the role's group, kept by
    # `roles_sync`, plus any an administrator granted), so that the admin can change them.
    permissions = frozenset(
        Permission.objects.filter(
            Q(group__user=user.pk) | Q(user=user.pk), content_type__app_label="core"
        ).values_list("codename", flat=True)
    )
    community_district = account.community.district_id if account.community is not None else None
    return Actor(
        user_id=user.pk,
        role=account.role,
        level=account.scope,
        district_id=account.district_id or community_district,
        community_id=account.community_id,
        household_id=account.household_id,
        permissions=permissions,
        label=user.get_username(),
    )


DISTRICT_PATHS = ScopePaths(district="id", community="communities__id", household=None)
COMMUNITY_PATHS = ScopePaths(district="district_id", community="id", household=None)
BELOW_COMMUNITY_PATHS = ScopePaths(district="district_id", community="community_id", household=None)
HOUSEHOLD_PATHS = ScopePaths(district="district_id", community="community_id", household="id")
RESIDENT_PATHS = ScopePaths(district="district_id", community="community_id", household="household_id")


@dataclass(frozen=True)
class Figures:
    households: int = 0
    residents: int = 0
    elderly: int = 0
    elderly_alone: int = 0
    disabled: int = 0
    pregnant: int = 0
    infants: int = 0
    chronic_treatment: int = 0
    cannot_order_online: int = 0
    as_of: date | None = None


# The oldest count in a sum: the figures are no fresher than that.
_FIGURE_SUMS = {**{name: Sum(name) for name in FIGURE_FIELDS}, "as_of": Min("as_of")}


def _figures_of(totals: Mapping[str, Any]) -> Figures:
    return Figures(**{name: int(totals[name] or 0) for name in FIGURE_FIELDS}, as_of=totals["as_of"])


def _sum_figures(rows: QuerySet[CommunityFigures]) -> Figures:
    return _figures_of(rows.aggregate(**_FIGURE_SUMS))


def city_figures(*, actor: Actor) -> Figures:
    """The registry's counts over the actor's scope (from the per-community figures)."""
    if not (actor.has("view_city_figures") or actor.has("view_registry")):
        raise Forbidden()
    if actor.level in (ScopeLevel.OWN_HOUSEHOLD, ScopeLevel.OWN_TASKS):
        raise Forbidden()  # area figures mean nothing for one household or one's own tasks
    rows = scoped(CommunityFigures.objects.all(), actor, BELOW_COMMUNITY_PATHS)
    return _sum_figures(rows)


@dataclass(frozen=True)
class StructureCounts:
    districts: int
    subdistricts: int
    communities: int
    grids: int
    compounds: int
    buildings: int


def structure_counts(*, actor: Actor) -> StructureCounts:
    return StructureCounts(
        districts=scoped(District.objects.all(), actor, DISTRICT_PATHS).distinct().count(),
        subdistricts=scoped(
            Subdistrict.objects.all(),
            actor,
            ScopePaths(district="district_id", community="communities__id", household=None),
        )
        .distinct()
        .count(),
        communities=scoped(Community.objects.all(), actor, COMMUNITY_PATHS).count(),
        grids=scoped(Grid.objects.all(), actor, BELOW_COMMUNITY_PATHS).count(),
        compounds=scoped(Compound.objects.all(), actor, BELOW_COMMUNITY_PATHS).count(),
        buildings=scoped(Building.objects.all(), actor, BELOW_COMMUNITY_PATHS).count(),
    )


def district_list(*, actor: Actor) -> list[tuple[District, Figures]]:
    """Districts in scope with their figures (over the communities in scope): two queries in all."""
    actor.require("view_registry")
    districts = list(scoped(District.objects.all(), actor, DISTRICT_PATHS).distinct().order_by("code"))
    grouped = (
        scoped(CommunityFigures.objects.all(), actor, BELOW_COMMUNITY_PATHS)
        .values("district_id")
        .order_by()
        .annotate(**_FIGURE_SUMS)
    )
    by_district = {row["district_id"]: _figures_of(row) for row in grouped}
    return [(d, by_district.get(d.pk, Figures())) for d in districts]


def district_detail(*, actor: Actor, district_id: int) -> District:
    actor.require("view_registry")
    return get_scoped(District.objects.all(), actor, DISTRICT_PATHS, pk=district_id)


def community_list(*, actor: Actor, district_id: int) -> list[tuple[Community, Figures]]:
    district = district_detail(actor=actor, district_id=district_id)
    communities = scoped(
        Community.objects.filter(district_id=district.pk).select_related("subdistrict"),
        actor,
        COMMUNITY_PATHS,
    ).order_by("code")
    figures = {f.community_id: f for f in CommunityFigures.objects.filter(district_id=district.pk)}
    out = []
    for community in communities:
        row = figures.get(community.pk)
        out.append(
            (
                community,
                Figures(**{n: getattr(row, n) for n in FIGURE_FIELDS}, as_of=row.as_of) if row else Figures(),
            )
        )
    return out


def community_detail(*, actor: Actor, community_id: int) -> Community:
    actor.require("view_registry")
    return get_scoped(
        Community.objects.select_related("subdistrict", "district"), actor, COMMUNITY_PATHS, pk=community_id
    )


def compound_list(*, actor: Actor, community_id: int) -> QuerySet[Compound]:
    community = community_detail(actor=actor, community_id=community_id)
    return (
        Compound.objects.filter(community_id=community.pk)
        .select_related("grid")
        .annotate(building_count=Count("buildings", distinct=True))
        .order_by("code")
    )


def compound_detail(*, actor: Actor, compound_id: int) -> Compound:
    actor.require("view_registry")
    return get_scoped(
        Compound.objects.select_related("grid", "community", "district"),
        actor,
        BELOW_COMMUNITY_PATHS,
        pk=compound_id,
    )


def building_list(*, actor: Actor, compound_id: int) -> QuerySet[Building]:
    compound = compound_detail(actor=actor, compound_id=compound_id)
    return (
        Building.objects.filter(compound_id=compound.pk)
        .annotate(household_count=Count("households", distinct=True))
        .order_by("number")
    )


def building_detail(*, actor: Actor, building_id: int) -> Building:
    actor.require("view_registry")
    return get_scoped(
        Building.objects.select_related("compound", "community", "district"),
        actor,
        BELOW_COMMUNITY_PATHS,
        pk=building_id,
    )


def household_list(*, actor: Actor, building_id: int) -> QuerySet[Household]:
    building = building_detail(actor=actor, building_id=building_id)
    return (
        Household.objects.filter(building_id=building.pk)
        .select_related("unit")
        .annotate(resident_count=Count("residents"))
        .order_by("unit__number", "floor", "room")
    )


def household_detail(*, actor: Actor, household_id: int) -> Household:
    actor.require("view_registry")
    return get_scoped(
        Household.objects.select_related("unit", "building", "compound", "community", "district"),
        actor,
        HOUSEHOLD_PATHS,
        pk=household_id,
    )


@dataclass(frozen=True)
class ResidentView:
    """A resident as the actor may see them, field by field by the masking policy
    (core/masking.py): name, ID and phone masked, birth date and needs left out, unless the
    role needs them."""

    id: int
    address: str
    name: str
    sex: str
    birth_date: date | None  # None where the role sees masked data: it would unmask the ID
    age: int
    id_number: str
    phone: str
    vulnerable: list[str]
    phone_in_full: bool = False  # the console makes a full number a link to call
    number: int = 0  # in the household


def vulnerability(resident: Resident, *, household_has_infant: bool, today: date) -> list[str]:
    """The vulnerable flags that apply to a resident, as stable codes."""
    flags = []
    if rules.is_elderly(resident.birth_date, today):
        flags.append("elderly")
    if resident.living_alone:
        flags.append("living_alone")
    if resident.disabled:
        flags.append("disabled")
    if resident.pregnant:
        flags.append("pregnant")
    if household_has_infant:
        flags.append("infant_in_household")
    if resident.chronic_treatment:
        flags.append(resident.chronic_treatment)
    if resident.cannot_order_online:
        flags.append("cannot_order_online")
    return flags


def household_residents(*, actor: Actor, household_id: int, today: date) -> list[ResidentView]:
    household = household_detail(actor=actor, household_id=household_id)
    residents = list(Resident.objects.filter(household_id=household.pk).order_by("number"))
    infant = any(rules.age_on(r.birth_date, today) < rules.INFANT_AGE for r in residents)
    return [_view(actor, r, household.address, infant, today) for r in residents]


def _view(actor: Actor, r: Resident, household_address: str, infant: bool, today: date) -> ResidentView:
    return ResidentView(
        id=r.pk,
        number=r.number,
        address=f"{household_address}#{r.number}",
        name=masking.name_for(actor, r.name),
        sex=r.sex,
        birth_date=r.birth_date if masking.shows(actor, masking.Field.BIRTH_DATE) else None,
        age=rules.age_on(r.birth_date, today),
        id_number=masking.id_number_for(actor, r.id_number),
        phone=masking.phone_for(actor, r.phone),
        vulnerable=(
            vulnerability(r, household_has_infant=infant, today=today)
            if masking.shows(actor, masking.Field.VULNERABILITY)
            else []
        ),
        phone_in_full=masking.shows(actor, masking.Field.PHONE),
    )


def resident_household_id(*, actor: Actor, resident_id: int) -> int:
    """The household of a resident within the actor's scope (404 outside it)."""
    actor.require("view_registry")
    return get_scoped(
        Resident.objects.only("household_id"), actor, RESIDENT_PATHS, pk=resident_id
    ).household_id


def resident_detail(*, actor: Actor, resident_id: int, today: date) -> ResidentView:
    actor.require("view_registry")
    resident = get_scoped(Resident.objects.select_related("household"), actor, RESIDENT_PATHS, pk=resident_id)
    infant = Resident.objects.filter(
        household_id=resident.household_id, birth_date__gt=_years_before(today, rules.INFANT_AGE)
    ).exists()
    return _view(actor, resident, resident.household.address, infant, today)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def elderly_cutoff(today: date) -> date:
    """Residents born on or before this day are elderly today."""
    return _years_before(today, rules.ELDERLY_AGE)


def infant_cutoff(today: date) -> date:
    """Residents born after this day are infants today."""
    return _years_before(today, rules.INFANT_AGE)


def household_vulnerable_sql(profile: str, today: date) -> tuple[str, list[Any]]:
    """An SQL expression, true when the household whose profile (city_householdprofile, LEFT
    JOINed as `profile`) makes it vulnerable today: a member living alone, disabled, pregnant or
    in regular treatment, elderly or an infant. False without a profile (nobody lives there)."""
    return (
        f"COALESCE({profile}.flagged OR {profile}.eldest_born <= %s OR {profile}.youngest_born > %s, FALSE)",
        [elderly_cutoff(today), infant_cutoff(today)],
    )


def household_is_vulnerable(*, household_id: int, today: date) -> bool:
    """The household's profile makes it vulnerable today (household_vulnerable_sql)."""
    profile = HouseholdProfile.objects.filter(pk=household_id).first()
    if profile is None:
        return False
    return bool(
        profile.flagged
        or (profile.eldest_born is not None and profile.eldest_born <= elderly_cutoff(today))
        or (profile.youngest_born is not None and profile.youngest_born > infant_cutoff(today))
    )


def resident_by_address(address: str, *, actor: Actor | None = None) -> Resident:
    """The resident at `C1/2/1/301#1` (platform use: scenarios, imports), or, given an `actor`,
    within the actor's scope: a resident outside it does not exist for them, in the same words
    as an address with nobody at it."""
    try:
        parsed: rules.Address | None = rules.parse_address(address)
    except ValueError:
        parsed = None
    if parsed is None or parsed.number is None:
        raise NotFound(
            _("%(address)s is not a resident's address like C1/2/1/301#1.") % {"address": address},
            code="not_a_resident_address",
        )
    residents = (
        Resident.objects.all() if actor is None else scoped(Resident.objects.all(), actor, RESIDENT_PATHS)
    )
    try:
        return residents.get(household__address=parsed.household, number=parsed.number)
    except Resident.DoesNotExist:
        raise NotFound(
            _("There is no resident %(address)s.") % {"address": address}, code="unknown_resident"
        ) from None


def unit_of(household: Household) -> Unit:
    return household.unit


@dataclass(frozen=True)
class PlaceRef:
    """A place of the registry by address, down to any level, with the ids of its path."""

    address: str
    level: str
    compound_id: int
    building_id: int | None
    unit_id: int | None
    household_id: int | None
    community_id: int
    district_id: int
    shared_facilities: bool


def place_by_address(address: str) -> PlaceRef:
    """`C1`, `C1/2`, `C1/2/1` or `C1/2/1/301`: the place it names (a resident's tail is dropped).

    Raises NotFound(`unknown_place`) naming the address when any part does not exist.
    """
    try:
        parsed = rules.parse_address(address)
    except ValueError:
        raise NotFound(
            _("%(address)s is not an address like C1/2/1/301.") % {"address": address}, code="bad_address"
        ) from None
    missing = NotFound(_("There is no place %(address)s.") % {"address": address}, code="unknown_place")
    compound = Compound.objects.filter(code=parsed.compound).first()
    if compound is None:
        raise missing
    ids: dict[str, int | None] = {"building_id": None, "unit_id": None, "household_id": None}
    level = "compound"
    if parsed.building is not None:
        building = Building.objects.filter(compound=compound, number=parsed.building).first()
        if building is None:
            raise missing
        ids["building_id"], level = building.pk, "building"
        if parsed.unit is not None:
            unit = Unit.objects.filter(building=building, number=parsed.unit).first()
            if unit is None:
                raise missing
            ids["unit_id"], level = unit.pk, "unit"
            if parsed.room is not None:
                household = Household.objects.filter(unit=unit, room=parsed.room).first()
                if household is None:
                    raise missing
                ids["household_id"], level = household.pk, "household"
    text = str(parsed) if parsed.number is None else parsed.household
    return PlaceRef(
        address=text,
        level=level,
        compound_id=compound.pk,
        community_id=compound.community_id,
        district_id=compound.district_id,
        shared_facilities=compound.shared_facilities,
        **ids,
    )


def household_place(household: Household) -> PlaceRef:
    shared = Compound.objects.filter(pk=household.compound_id).values_list("shared_facilities", flat=True)
    return PlaceRef(
        address=household.address,
        level="household",
        compound_id=household.compound_id,
        building_id=household.building_id,
        unit_id=household.unit_id,
        household_id=household.pk,
        community_id=household.community_id,
        district_id=household.district_id,
        shared_facilities=bool(shared.first()),
    )


def households_within(
    *, compound_id: int, building_id: int | None, unit_id: int | None, household_id: int | None
) -> QuerySet[Household]:
    """The households of an area given by its path of ids (for zones, rounds, deliveries)."""
    households = Household.objects.filter(compound_id=compound_id)
    if household_id is not None:
        return households.filter(pk=household_id)
    if unit_id is not None:
        return households.filter(unit_id=unit_id)
    if building_id is not None:
        return households.filter(building_id=building_id)
    return households


def place_address(
    *, compound_id: int, building_id: int | None, unit_id: int | None, household_id: int | None
) -> str:
    if household_id is not None:
        return Household.objects.values_list("address", flat=True).get(pk=household_id)
    code = Compound.objects.values_list("code", flat=True).get(pk=compound_id)
    if building_id is None:
        return code
    text = f"{code}/{Building.objects.values_list('number', flat=True).get(pk=building_id)}"
    if unit_id is None:
        return text
    return f"{text}/{Unit.objects.values_list('number', flat=True).get(pk=unit_id)}"


def household_by_address(*, address: str, community_id: int) -> Household | None:
    """The household at `address` (C1/2/1/301) if it lies in the community, else None."""
    return Household.objects.filter(address=address, community_id=community_id).first()


def community_by_id(community_id: int) -> Community | None:
    """The community with this id, whoever asks (callers check the actor's scope)."""
    return Community.objects.filter(pk=community_id).first()


def buildings_by_id(building_ids: set[int]) -> dict[int, Building]:
    """The buildings with these ids, with their compound, by id."""
    return {b.pk: b for b in Building.objects.select_related("compound").filter(pk__in=building_ids)}


def district_choices(*, actor: Actor) -> QuerySet[District]:
    """The districts an actor may pick for a round (all for the city, their own for a district), by code."""
    return scoped(
        District.objects.order_by("code"), actor, ScopePaths(district="id", community=None, household=None)
    )


def grid_detail(*, actor: Actor, grid_id: int) -> Grid:
    """A grid within the actor's scope, with its community (404 outside it)."""
    paths = ScopePaths(district="community__district_id", community="community_id", household=None)
    return get_scoped(Grid.objects.select_related("community"), actor, paths, pk=grid_id)


def grid_community_names(grid_ids: list[int]) -> dict[int, str]:
    """The name of each grid's community, by grid id."""
    return dict(Grid.objects.filter(pk__in=grid_ids).values_list("pk", "community__name"))


def building_ids_of_grid(grid_id: int) -> set[int]:
    """The ids of the buildings whose compound lies in the grid."""
    return set(Building.objects.filter(compound__grid_id=grid_id).values_list("pk", flat=True))


def households_with_infant(household_ids: set[int], *, today: date) -> set[int]:
    """Those of the households where an infant lives (one query)."""
    return set(
        Resident.objects.filter(
            household_id__in=household_ids, birth_date__gt=infant_cutoff(today)
        ).values_list("household_id", flat=True)
    )
