"""Reads of risk zones: lists and clocks within scope, who lives inside, and each household's
service mode, which the supply and testing capabilities read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Case, Count, Q, QuerySet, Value, When

from bastion.cases import protocol as protocols
from bastion.city.models import Household, Resident
from bastion.core import audit
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, ScopePaths, scoped
from bastion.zones import reasons, rules
from bastion.zones.models import Area, Level, Zone, ZonePeriod, ZoneScreening, ZoneState

ZONE_PATHS = ScopePaths(district="district_id", community="community_id", household=None)
ACTIVE = (ZoneState.PROPOSED, ZoneState.IN_FORCE)

DOOR_TO_DOOR = "door_to_door"
STAGGERED_PICKUP = "staggered_pickup"
NORMAL = "normal"
SERVICE_MODES = {Level.HIGH: DOOR_TO_DOOR, Level.MEDIUM: STAGGERED_PICKUP}


def place_of(zone: Zone) -> rules.Place:
    return rules.Place(
        compound=zone.compound_id, building=zone.building_id, unit=zone.unit_id, household=zone.household_id
    )


def covering_household(household: Household) -> Q:
    """Zones whose area holds `household`."""
    return (
        Q(compound_id=household.compound_id)
        & (Q(building_id__isnull=True) | Q(building_id=household.building_id))
        & (Q(unit_id__isnull=True) | Q(unit_id=household.unit_id))
        & (Q(household_id__isnull=True) | Q(household_id=household.pk))
    )


def zones_visible(actor: Actor) -> QuerySet[Zone]:
    """Staff see the zones of their scope; a resident sees the zones their household lies in."""
    if actor.level == ScopeLevel.OWN_HOUSEHOLD:
        if actor.household_id is None:
            return Zone.objects.none()
        household = Household.objects.filter(pk=actor.household_id).first()
        if household is None:
            return Zone.objects.none()
        # Residents see the zones that apply or applied to them, not an officer's drafts.
        return Zone.objects.filter(
            covering_household(household), state__in=[ZoneState.IN_FORCE, ZoneState.LIFTED]
        )
    return scoped(Zone.objects.all(), actor, ZONE_PATHS)


def zone_get(*, actor: Actor, zone_id: int) -> Zone:
    zone = zones_visible(actor).filter(pk=zone_id).first()
    if zone is None:
        raise NotFound()
    return zone


def zone_households(zone: Zone) -> QuerySet[Household]:
    households = Household.objects.filter(compound_id=zone.compound_id)
    if zone.household_id is not None:
        return households.filter(pk=zone.household_id)
    if zone.unit_id is not None:
        return households.filter(unit_id=zone.unit_id)
    if zone.building_id is not None:
        return households.filter(building_id=zone.building_id)
    return households


def zone_residents(zone: Zone) -> QuerySet[Resident]:
    return Resident.objects.filter(household__in=zone_households(zone))


def zone_counts(zone: Zone) -> tuple[int, int]:
    """(households, residents) inside the zone's area now."""
    households = zone_households(zone)
    return households.count(), Resident.objects.filter(household__in=households.values("pk")).count()


def _household_ids(zones: QuerySet[Zone]) -> QuerySet[Household, Any]:
    """The ids of the households lying in any of `zones`: one indexed lookup per kind of area,
    joined by UNION, so that no query scans every household of the city."""

    def within(area: str, column: str) -> QuerySet[Household, Any]:
        return Household.objects.filter(
            **{f"{column}__in": zones.filter(area=area).values(f"{area}_id")}
        ).values("pk")

    return within("household", "pk").union(
        within("unit", "unit_id"), within("building", "building_id"), within("compound", "compound_id")
    )


def households_of_zones(zone_ids: Iterable[int]) -> QuerySet[Household, Any]:
    """The ids of the households lying in any of the zones named, whatever their state (the
    zones a clock just lifted), as one column to filter by: set-based, one indexed lookup per
    kind of area."""
    return _household_ids(Zone.objects.filter(pk__in=list(zone_ids)))


def households_locked(level: str = Level.HIGH) -> QuerySet[Household]:
    """Every household in an in-force zone of `level` (door-to-door service for high)."""
    zones = Zone.objects.filter(state=ZoneState.IN_FORCE, level=level)
    return Household.objects.filter(pk__in=_household_ids(zones))


def households_in_force_q(
    levels: tuple[str, ...] = (Level.HIGH, Level.MEDIUM),
    *,
    community_id: int | None = None,
    district_id: int | None = None,
) -> Q:
    """A filter of households: those in an in-force zone of any of `levels` (of the community or
    district given). Built from the zones' areas, read first (a few thousand ids), so that the
    database reaches the households through the compound index and checks each one once, rather
    than sorting a million ids out of a UNION. Every zone lies within one compound."""
    zones = Zone.objects.filter(state=ZoneState.IN_FORCE, level__in=levels)
    if community_id is not None:
        zones = zones.filter(community_id=community_id)
    if district_id is not None:
        zones = zones.filter(district_id=district_id)
    areas: dict[str, set[int]] = {area: set() for area in Area.values}
    compounds: set[int] = set()
    for area, compound, building, unit, household in zones.values_list(
        "area", "compound_id", "building_id", "unit_id", "household_id"
    ):
        compounds.add(compound)
        areas[area].add({"compound": compound, "building": building, "unit": unit}.get(area, household))
    if not compounds:
        return Q(pk__in=[])
    return Q(compound_id__in=sorted(compounds)) & (
        Q(compound_id__in=sorted(areas[Area.COMPOUND]))
        | Q(building_id__in=sorted(areas[Area.BUILDING]))
        | Q(unit_id__in=sorted(areas[Area.UNIT]))
        | Q(pk__in=sorted(areas[Area.HOUSEHOLD]))
    )


def households_by_service_mode(mode: str) -> QuerySet[Household]:
    """The households on `mode`: door-to-door in high zones; staggered pick-up in medium zones
    (unless also in a high one). `normal` is everyone else and is not listed."""
    if mode == DOOR_TO_DOOR:
        return households_locked(Level.HIGH)
    if mode == STAGGERED_PICKUP:
        high = Zone.objects.filter(state=ZoneState.IN_FORCE, level=Level.HIGH)
        return households_locked(Level.MEDIUM).exclude(pk__in=_household_ids(high))
    raise ValueError(f"{mode} households are not listed")


def service_mode(*, household_id: int) -> str:
    """How a household is served: door-to-door, staggered pick-up, or normal, from the highest
    level of the in-force zones it lies in."""
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        raise NotFound()
    levels = Zone.objects.filter(covering_household(household), state=ZoneState.IN_FORCE).values_list(
        "level", flat=True
    )
    return SERVICE_MODES.get(Level(rules.highest_level(levels)), NORMAL)


def locked_residents(*, actor: Actor | None = None) -> int:
    """Residents in any high or medium zone in force (within the actor's scope), each counted
    once however many zones hold them."""
    zones = (zones_visible(actor) if actor is not None else Zone.objects.all()).filter(
        state=ZoneState.IN_FORCE
    )
    return Resident.objects.filter(household_id__in=_household_ids(zones)).count()


@dataclass(frozen=True)
class Clock:
    """When a zone steps down if nothing restarts its clock, and what that needs."""

    to: str
    due_on: date
    screening_on: date | None
    screening_day: int | None  # the day-N of the full screening the step needs
    screened_negative: bool
    ready: bool


def zone_clock(zone: Zone, *, today: date) -> Clock | None:
    if zone.state not in ACTIVE:
        return None
    step = protocols.get(zone.protocol).steps[zone.step]
    screenings = [(s.on, s.all_negative) for s in zone.screenings.all()]
    required = rules.screening_due_on(step, zone.clock_start)
    due = rules.due_on(step, zone.clock_start)
    return Clock(
        to=step.to,
        due_on=due,
        screening_on=required,
        screening_day=step.screening_day,
        # The latest full round on or after the required day decides, as in the rule itself.
        screened_negative=required is not None
        and rules.step_ready(
            step, clock_start=zone.clock_start, today=max(today, due), screenings=screenings
        ),
        ready=rules.step_ready(step, clock_start=zone.clock_start, today=today, screenings=screenings),
    )


def person_days(zone: Zone, *, today: date) -> int:
    """Locked person-days of the zone so far (rules.person_days)."""
    return rules.person_days(
        residents=zone.residents, since=zone.since, lifted_on=zone.lifted_on, today=today
    )


def person_days_total(zones: Iterable[Zone], *, today: date) -> int:
    """The locked person-days of the in-force zones among `zones`, each person counted once
    although a unit's zone may lie inside its building's: only the outermost zones add up."""
    in_force = {zone.pk: zone for zone in zones if zone.state == ZoneState.IN_FORCE}
    kept = rules.outermost([(pk, place_of(zone)) for pk, zone in in_force.items()])
    return sum(person_days(in_force[pk], today=today) for pk in kept)


def zone_list(
    *, actor: Actor, states: tuple[str, ...] = ACTIVE, district_id: int | None = None
) -> QuerySet[Zone]:
    zones = zones_visible(actor).filter(state__in=states)
    if district_id is not None:
        zones = zones.filter(district_id=district_id)
    # High before medium (the level names do not sort that way), then the oldest first.
    rank = Case(
        When(level=Level.HIGH, then=Value(0)), When(level=Level.MEDIUM, then=Value(1)), default=Value(2)
    )
    return zones.prefetch_related("screenings").order_by(rank, "since", "code")


def zones_in_force_on(day: date) -> dict[int | None, dict[str, int]]:
    """How many zones of each level were in force at the end of `day`, per district and (None)
    for the city."""
    rows = (
        ZonePeriod.objects.filter(start_on__lte=day)
        .filter(Q(end_on__isnull=True) | Q(end_on__gt=day))
        .exclude(level=Level.LOW)
        .values("district_id", "level")
        .annotate(n=Count("zone_id", distinct=True))
    )
    out: dict[int | None, dict[str, int]] = {None: {"high": 0, "medium": 0}}
    for row in rows:
        out.setdefault(row["district_id"], {"high": 0, "medium": 0})[row["level"]] += row["n"]
        out[None][row["level"]] += row["n"]
    return out


def screenings_of(zone: Zone) -> QuerySet[ZoneScreening]:
    return zone.screenings.order_by("on", "id")


def zones_of_household(
    *, household_id: int, states: tuple[str, ...] = (ZoneState.IN_FORCE,)
) -> QuerySet[Zone]:
    household = Household.objects.filter(pk=household_id).first()
    if household is None:
        return Zone.objects.none()
    return Zone.objects.filter(covering_household(household), state__in=states)


def level_of_household(*, household_id: int) -> str:
    """The level a household lives at today: the highest in-force zone over it, else low."""
    return rules.highest_level(zones_of_household(household_id=household_id).values_list("level", flat=True))


def household_levels() -> dict[int, str]:
    """Every household in an in-force zone above low -> the highest such level (the others are
    low): one indexed read per level, for a bulk load that classifies a whole city at once."""
    levels: dict[int, str] = {}
    # Lowest first, so that a higher level over the same household overwrites it.
    for level in sorted((Level.MEDIUM, Level.HIGH), key=rules.LEVEL_RANK.__getitem__):
        for pk in households_locked(level).values_list("pk", flat=True):
            levels[pk] = str(level)
    return levels


def proposals_overdue(*, actor: Actor, now: datetime) -> list[Zone]:
    """Proposed zones still unconfirmed past their protocol's designation deadline (v9: zones
    published within 5 hours of the case), oldest first: the command centre's to-do list."""
    late = []
    for zone in zones_visible(actor).filter(state=ZoneState.PROPOSED).order_by("proposed_at"):
        deadline = zone.proposed_at + timedelta(hours=protocols.get(zone.protocol).designation_deadline_hours)
        if deadline <= now:
            late.append(zone)
    return late


def zone_in_force(zone_id: int) -> bool:
    return Zone.objects.filter(pk=zone_id, state=ZoneState.IN_FORCE).exists()


@dataclass(frozen=True)
class ZoneTotals:
    high: int  # in force at high risk
    medium: int  # in force at medium risk
    listed: int


def zone_totals(listed: QuerySet[Zone]) -> ZoneTotals:
    """The zones of a list in force at each level, and all of them (one query)."""
    in_force = Q(state=ZoneState.IN_FORCE)
    counts = listed.aggregate(
        high=Count("id", filter=in_force & Q(level=Level.HIGH)),
        medium=Count("id", filter=in_force & Q(level=Level.MEDIUM)),
        listed=Count("id"),
    )
    return ZoneTotals(**counts)


def zones_of_case(*, actor: Actor, case_id: int) -> QuerySet[Zone]:
    """The zones a case put at risk or whose clock it restarted, those the actor may see, by code."""
    return zones_visible(actor).filter(case_links__case_id=case_id).order_by("code")


def zones_over_own_household(actor: Actor) -> QuerySet[Zone]:
    """A resident's zones in force or lifted, newest first, with their screenings."""
    covering = zones_visible(actor).filter(state__in=(ZoneState.IN_FORCE, ZoneState.LIFTED))
    return covering.prefetch_related("screenings").order_by("-since", "-id")


def zone_reason(*, actor: Actor, zone: Zone) -> str:
    """Why the zone stands, as the actor may read it: the case's number only for those who
    manage cases (zones/reasons.py)."""
    return reasons.for_actor(actor, zone)


@dataclass(frozen=True)
class HistoryEntry:
    action: str
    at: datetime
    before: Any
    after: Any
    reason: str
    actor_label: str


def zone_history(*, actor: Actor, zone: Zone) -> list[HistoryEntry]:
    """The zone's audit trail, oldest first, each reason as the actor may read it."""
    entries = audit.trail(object_type="zones.zone", object_id=zone.pk).order_by("at", "id")
    return [
        HistoryEntry(
            action=e.action,
            at=e.at,
            before=e.before,
            after=e.after,
            reason=reasons.history_reason(actor, zone, e.action, e.reason, e.after),
            actor_label=e.actor_label,
        )
        for e in entries
    ]
