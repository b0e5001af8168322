"""Reads of mass testing: a round's scope and progress, coverage per grid and building, who is
still to be sampled, recalls, turnaround, lab backlog and sites over capacity.

Reconciliation is set-based SQL over the round's scans and tubes; nothing loops per person.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum

from bastion.city.models import CommunityFigures, GridFigures, Household, Resident
from bastion.core import clock
from bastion.core import sql as core_sql
from bastion.core.errors import NotFound
from bastion.core.scopes import Actor, ScopePaths, scoped
from bastion.testing import policy as policies
from bastion.testing import rules, sql
from bastion.testing.models import Recall, RecallState, Result, Round, RoundArea, RoundIssue, Scan, Tube

AREA_PATHS = ScopePaths(district="district_id", community=None, household=None)


def round_get(*, actor: Actor, round_id: int | None = None, code: str | None = None) -> Round:
    """A round the actor may follow (rounds are city business: any testing role sees them)."""
    if not (actor.has("view_testing") or actor.has("record_samples") or actor.has("record_results")):
        actor.require("view_testing")
    rounds = Round.objects.all()
    found = rounds.filter(pk=round_id).first() if round_id is not None else rounds.filter(code=code).first()
    if found is None:
        raise NotFound()
    return found


def round_places(round_: Round) -> list[tuple[str, int]]:
    """Each area of the round as (household column, id) of the smallest place it names; none
    for a round of the whole city."""
    places: list[tuple[str, int]] = []
    for area in RoundArea.objects.filter(round=round_):
        for column, value in (
            ("id", area.household_id),
            ("unit_id", area.unit_id),
            ("building_id", area.building_id),
            ("compound_id", area.compound_id),
            ("district_id", area.district_id),
        ):
            if value is not None:
                places.append((column, int(value)))
                break
    return places


def round_households(round_: Round) -> QuerySet[Household]:
    """The households a round covers: its areas, or the whole city."""
    places = round_places(round_)
    if not places:
        return Household.objects.all()
    q = Q()
    for column, value in places:
        q |= Q(**{column: value})
    return Household.objects.filter(q)


def household_in_round(round_: Round, household_id: int) -> bool:
    return round_households(round_).filter(pk=household_id).exists()


def expected_residents(round_: Round) -> int:
    """How many residents the round should sample (应检尽检): from the registry's figures for
    whole districts or the city, by count for smaller areas."""
    areas = list(RoundArea.objects.filter(round=round_))
    if not areas:
        return int(CommunityFigures.objects.aggregate(n=Sum("residents"))["n"] or 0)
    districts = [a.district_id for a in areas if a.district_id and not a.compound_id]
    total = 0
    if districts:
        total += int(
            CommunityFigures.objects.filter(district_id__in=districts).aggregate(n=Sum("residents"))["n"] or 0
        )
    small = [a for a in areas if a.compound_id]
    if small:
        q = Q()
        for a in small:
            if a.household_id:
                q |= Q(household_id=a.household_id)
            elif a.unit_id:
                q |= Q(household__unit_id=a.unit_id)
            elif a.building_id:
                q |= Q(household__building_id=a.building_id)
            else:
                q |= Q(household__compound_id=a.compound_id)
        total += Resident.objects.filter(q).count()
    return total


@dataclass(frozen=True)
class Progress:
    code: str
    expected: int
    sampled: int
    unsampled: int
    tubes: int
    tubes_resulted: int
    positive_tubes: int
    invalid_tubes: int
    recalls_open: int
    recalls_closed: int
    turnaround_p50_hours: float | None
    turnaround_p95_hours: float | None
    turnaround_max_hours: float | None
    issues: int


def turnaround(round_: Round) -> tuple[float | None, float | None, float | None]:
    """Median, 95th percentile (nearest rank, as `rules.percentile`) and maximum hours from a
    tube's first scan to its result, computed by the database: a Chengdu round has 2 M tubes,
    none read into Python."""
    if core_sql.postgres():
        quantiles, top = core_sql.one(sql.TURNAROUND_POSTGRES, [round_.pk]) or (None, None)
        if not quantiles:
            return None, None, None
        return float(quantiles[0]), float(quantiles[1]), float(top)
    count, top = core_sql.one(sql.TURNAROUND_SQLITE_COUNT, [round_.pk]) or (0, None)
    if not count:
        return None, None, None
    found = []
    for q in (0.5, 0.95):
        rank = max(1, math.ceil(q * count))
        at_rank = core_sql.one(sql.TURNAROUND_SQLITE_AT_RANK, [round_.pk, rank - 1])
        found.append(float(at_rank[0]) if at_rank else 0.0)
    return found[0], found[1], float(top)


def round_progress(round_: Round) -> Progress:
    tubes = Tube.objects.filter(round=round_).aggregate(
        sampled=Sum("members", filter=Q(retest=False)),
        total=Count("id"),
        resulted=Count("id", filter=~Q(result=Result.PENDING)),
        positive=Count("id", filter=Q(result=Result.POSITIVE)),
        invalid=Count("id", filter=Q(result=Result.INVALID)),
    )
    recalls = Recall.objects.filter(round=round_).aggregate(
        open=Count("id", filter=Q(state=RecallState.OPEN)),
        closed=Count("id", filter=Q(state=RecallState.RETESTED)),
    )
    p50, p95, top = turnaround(round_)
    expected = expected_residents(round_)
    sampled = int(tubes["sampled"] or 0)
    return Progress(
        code=round_.code,
        expected=expected,
        sampled=sampled,
        unsampled=max(expected - sampled, 0),
        tubes=tubes["total"],
        tubes_resulted=tubes["resulted"],
        positive_tubes=tubes["positive"],
        invalid_tubes=tubes["invalid"],
        recalls_open=recalls["open"],
        recalls_closed=recalls["closed"],
        turnaround_p50_hours=_round2(p50),
        turnaround_p95_hours=_round2(p95),
        turnaround_max_hours=_round2(top),
        issues=RoundIssue.objects.filter(round=round_).count(),
    )


@dataclass(frozen=True)
class Lateness:
    """Tubes against the policy's turnaround targets: resulted late, and still pending past them."""

    pooled_hours: int
    single_hours: int
    late_pooled: int
    late_single: int
    overdue_pooled: int
    overdue_single: int


def lateness(round_: Round, *, now: datetime) -> Lateness:
    """One grouped query over the round's tubes, each held to its target
    (`rules.turnaround_target_hours`: single tubes, retests and high-risk areas, to the
    single-tube target; pooled tubes to the pooled one)."""
    testing_policy = policies.policy()
    targets = {"pooled_hours": testing_policy.pooled_hours, "single_hours": testing_policy.single_hours}
    pooled = timedelta(hours=rules.turnaround_target_hours(ratio=POOLED, **targets))
    single = timedelta(hours=rules.turnaround_target_hours(ratio=1, **targets))
    pending = Q(result=Result.PENDING)
    counts = Tube.objects.filter(round=round_, first_scan_at__isnull=False).aggregate(
        late_pooled=Count("id", filter=Q(ratio__gt=1, resulted_at__gt=F("first_scan_at") + pooled)),
        late_single=Count("id", filter=Q(ratio=1, resulted_at__gt=F("first_scan_at") + single)),
        overdue_pooled=Count("id", filter=pending & Q(ratio__gt=1, first_scan_at__lt=now - pooled)),
        overdue_single=Count("id", filter=pending & Q(ratio=1, first_scan_at__lt=now - single)),
    )
    return Lateness(testing_policy.pooled_hours, testing_policy.single_hours, **counts)


# Any ratio above one: a pooled tube.
POOLED = 2


def _round2(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


@dataclass(frozen=True)
class CoverageRow:
    id: int
    name: str
    residents: int
    sampled: int
    resulted: int

    @property
    def unsampled(self) -> int:
        return self.residents - self.sampled

    @property
    def share(self) -> float:
        return self.sampled / self.residents if self.residents else 1.0


def coverage(
    *, actor: Actor, round_: Round, by: str = "grid", community_id: int | None = None
) -> list[CoverageRow]:
    """Per grid (or per building) of the round's households within the actor's scope: residents,
    sampled (pooled scans) and resulted. Grouped queries; no per-person loop.

    Per grid over whole districts or the city, residents come from the registry's grid figures
    and sampled and resulted from the tubes (each knows the grid its members share): a Chengdu
    round reads 19,000 figures and 2 M tubes, not 21 M residents and 20 M scans."""
    actor.require("view_testing")
    areas = list(RoundArea.objects.filter(round=round_))
    if by == "grid" and all(a.compound_id is None for a in areas):
        figures = scoped(GridFigures.objects.all(), actor, ScopePaths(household=None))
        if areas:
            figures = figures.filter(district_id__in=[a.district_id for a in areas])
        if community_id is not None:
            figures = figures.filter(community_id=community_id)
        residents = dict(figures.values_list("grid_id", "residents"))
        done = _done_per_grid(round_, list(residents))
    else:
        residents, done = _coverage_by_households(actor, round_, by, community_id)
    names = _names(by, list(residents))
    return sorted(
        (
            CoverageRow(
                id=place,
                name=names.get(place, str(place)),
                residents=count,
                sampled=done.get(place, (0, 0))[0],
                resulted=done.get(place, (0, 0))[1],
            )
            for place, count in residents.items()
        ),
        key=lambda r: (r.share, r.name),
    )


def _done_per_grid(round_: Round, grids: list[int]) -> dict[int, tuple[int, int]]:
    """(sampled, resulted) per grid: members of the round's pooled tubes whose members share a
    grid, plus the scans of the few tubes whose members live in several grids."""
    resulted = ~Q(result=Result.PENDING)
    pooled = Tube.objects.filter(round=round_, retest=False, members__gt=0)
    done: dict[int, tuple[int, int]] = {}
    for grid, sampled, taken in (
        pooled.filter(grid__isnull=False)
        .values("grid")
        .annotate(sampled=Sum("members"), resulted=Sum("members", filter=resulted))
        .values_list("grid", "sampled", "resulted")
    ):
        done[grid] = (int(sampled), int(taken or 0))
    mixed = pooled.filter(grid__isnull=True).values("pk")
    for grid, sampled, taken in (
        Scan.objects.filter(round=round_, retest=False, tube__in=mixed)
        .values("grid_id")
        .annotate(sampled=Count("id"), resulted=Count("id", filter=~Q(tube__result=Result.PENDING)))
        .values_list("grid_id", "sampled", "resulted")
    ):
        before = done.get(grid, (0, 0))
        done[grid] = (before[0] + sampled, before[1] + taken)
    wanted = set(grids)
    return {grid: pair for grid, pair in done.items() if grid in wanted}


def _coverage_by_households(
    actor: Actor, round_: Round, by: str, community_id: int | None
) -> tuple[dict[int, int], dict[int, tuple[int, int]]]:
    """Residents and (sampled, resulted) per grid or building, counted over the round's
    households: for buildings, and for rounds of a few compounds."""
    column = {"grid": "grid_id", "building": "building_id"}[by]
    households = scoped(round_households(round_), actor, ScopePaths(household="id"))
    if community_id is not None:
        households = households.filter(community_id=community_id)
    residents = dict(
        Resident.objects.filter(household__in=households.values("pk"))
        .values_list(f"household__{column}")
        .annotate(n=Count("id"))
        .values_list(f"household__{column}", "n")
    )
    group = f"household__{column}"
    done = (
        Scan.objects.filter(round=round_, retest=False, household__in=households.values("pk"))
        .values(group)
        .annotate(sampled=Count("id"), resulted=Count("id", filter=~Q(tube__result=Result.PENDING)))
        .values_list(group, "sampled", "resulted")
    )
    return residents, {place: (sampled, taken) for place, sampled, taken in done}


def _names(by: str, ids: list[int]) -> dict[int, str]:
    from bastion.city.models import Building, Grid

    if by == "grid":
        return dict(Grid.objects.filter(pk__in=ids).values_list("pk", "code"))
    return {
        pk: f"{code}/{number}"
        for pk, code, number in Building.objects.filter(pk__in=ids).values_list(
            "pk", "compound__code", "number"
        )
    }


def unsampled_residents(*, actor: Actor, round_: Round, grid_id: int) -> QuerySet[Resident]:
    """The residents of a grid not yet sampled in the round, by address: the door-to-door list."""
    actor.require("view_testing")
    households = scoped(round_households(round_).filter(grid_id=grid_id), actor, ScopePaths(household="id"))
    sampled = Scan.objects.filter(round=round_, retest=False, resident_id=OuterRef("pk"))
    return (
        Resident.objects.filter(household__in=households.values("pk"))
        .exclude(Exists(sampled))
        .select_related("household")
        .order_by("household__address", "number")
    )


def rounds_past_deadline(*, now: datetime) -> list[Round]:
    """Rounds whose deadline has come and that the platform has not yet acted on, oldest first."""
    return list(
        Round.objects.filter(deadline__lte=now, deadline_passed_at__isnull=True).order_by("deadline", "pk")
    )


def unsampled_of_round(round_: Round) -> QuerySet[Resident]:
    """Everyone the round covers who was not sampled in it (set-based, unscoped: the platform's).
    A round over the whole city names no households: the residents anti-joined with the round's
    scans (`scan_once_per_round`, in resident order) alone, without a semi-join of every
    household (docs/BENCHMARKS.md, health codes)."""
    sampled = Scan.objects.filter(round=round_, retest=False, resident_id=OuterRef("pk"))
    covered = (
        Resident.objects.filter(household__in=round_households(round_).values("pk"))
        if round_places(round_)
        else Resident.objects.all()
    )
    return covered.exclude(Exists(sampled))


def unsampled_of_round_statement(round_: Round) -> tuple[str, list[Any]]:
    """`unsampled_of_round`'s ids as a statement, for a set-based step (health codes stage them at
    the round's deadline): for a round over the whole city, `sql.unsampled_of_city_round`."""
    if round_places(round_):
        return core_sql.of_query(unsampled_of_round(round_).values("pk"))
    return sql.unsampled_of_city_round(), [round_.pk]


def rounds_deadline_within(after: datetime, until: datetime) -> QuerySet[Round]:
    """Rounds whose deadline falls in (after, until]."""
    return Round.objects.filter(deadline__gt=after, deadline__lte=until)


def rounds_with_areas(round_ids: Iterable[int]) -> set[int]:
    """Those of the rounds that name areas (the others cover the whole city)."""
    return set(RoundArea.objects.filter(round_id__in=list(round_ids)).values_list("round_id", flat=True))


def rounds_started_after(moment: datetime, *, inclusive: bool = False) -> list[int]:
    """The ids of the rounds that started after `moment` (or at it, `inclusive`): a scan in one
    of them clears a round missed that started at `moment` (`sql.MISSED_ROUND`)."""
    started = Q(starts_at__gte=moment) if inclusive else Q(starts_at__gt=moment)
    return list(Round.objects.filter(started).order_by("pk").values_list("pk", flat=True))


def recalls_open(*, actor: Actor, round_: Round) -> QuerySet[Recall]:
    """Members of positive or invalid pools not yet retested, oldest first."""
    actor.require("view_testing")
    return scoped(
        Recall.objects.filter(round=round_, state=RecallState.OPEN),
        actor,
        ScopePaths(district="district_id", community="household__community_id", household="household_id"),
    ).order_by("opened_at", "id")


def households_isolated_in_place() -> QuerySet[Household]:
    """Households with a member awaiting a single-tube retest: served door to door until then."""
    return Household.objects.filter(
        pk__in=Recall.objects.filter(state=RecallState.OPEN).values("household_id")
    )


@dataclass(frozen=True)
class LabLoad:
    code: str
    name: str
    capacity_per_hour: int
    received: int
    resulted: int
    backlog: int

    @property
    def backlog_hours(self) -> float:
        return round(self.backlog / self.capacity_per_hour, 2) if self.capacity_per_hour else 0.0


def lab_backlog(round_: Round) -> list[LabLoad]:
    from bastion.testing.models import Lab

    counts = {
        row["lab_id"]: row
        for row in Tube.objects.filter(round=round_, lab__isnull=False)
        .values("lab_id")
        .annotate(received=Count("id"), resulted=Count("id", filter=~Q(result=Result.PENDING)))
    }
    out = []
    for lab in Lab.objects.order_by("code"):
        row = counts.get(lab.pk, {"received": 0, "resulted": 0})
        out.append(
            LabLoad(
                lab.code,
                lab.name,
                lab.capacity_per_hour,
                row["received"],
                row["resulted"],
                row["received"] - row["resulted"],
            )
        )
    return out


@dataclass(frozen=True)
class SiteLoad:
    code: str
    name: str
    hour: datetime
    scans: int
    capacity_per_hour: int


def sites_over_capacity(round_: Round) -> list[SiteLoad]:
    """The site-hours whose scans went over the site's capacity per hour (one grouped query)."""
    statement = sql.SITES_OVER_CAPACITY_POSTGRES if core_sql.postgres() else sql.SITES_OVER_CAPACITY_SQLITE
    out = []
    for code, name, hour, scans, capacity in core_sql.rows(statement, [round_.pk]):
        out.append(SiteLoad(code, name, core_sql.as_datetime(hour), scans, capacity))
    return out


def issues(*, actor: Actor, round_: Round) -> QuerySet[RoundIssue]:
    actor.require("view_testing")
    return RoundIssue.objects.filter(round=round_).order_by("at", "id")


def unattached_issues(*, actor: Actor) -> QuerySet[RoundIssue]:
    """Refused records that name no round of ours (a result or receipt for an unknown tube),
    newest first: for city staff, who chase the lab that sent them."""
    actor.require("view_testing")
    return RoundIssue.objects.filter(round__isnull=True).order_by("-at", "-id")


def round_list(*, actor: Actor) -> QuerySet[Round]:
    actor.require("view_testing")
    return Round.objects.order_by("-starts_at", "-id")


def pending_tubes(round_: Round) -> QuerySet[Tube]:
    return Tube.objects.filter(round=round_, result=Result.PENDING)


def round_is_complete(round_: Round) -> bool:
    """Every tube of the round has a result and no recall awaits a retest."""
    return (
        not pending_tubes(round_).exists()
        and not Recall.objects.filter(round=round_, state=RecallState.OPEN).exists()
    )


def observation(round_: Round) -> dict[str, Any]:
    """SCENARIOS.md's `testing` figures of one round."""
    progress = round_progress(round_)
    return {
        "code": progress.code,
        "sampled": progress.sampled,
        "unsampled": progress.unsampled,
        "tubes": progress.tubes,
        "positive_tubes": progress.positive_tubes,
        "recalls_open": progress.recalls_open,
        "recalls_closed": progress.recalls_closed,
        "turnaround_p95_hours": progress.turnaround_p95_hours,
    }


def found_positive(round_: Round) -> bool:
    """Did the round find anyone positive (a positive single tube or retest)?"""
    return Tube.objects.filter(round=round_, ratio=1, result=Result.POSITIVE).exists()


def sampled_from(round_: Round) -> datetime | None:
    """When the round's first pooled sample was taken."""
    return Scan.objects.filter(round=round_, retest=False).aggregate(first=Min("scanned_at"))["first"]


@dataclass(frozen=True)
class RoundSamples:
    """The round current on a day, and the samples taken in it by the day's end."""

    code: str | None
    by_district: dict[int, int]
    total: int


def samples_in_current_round(*, day: date) -> RoundSamples:
    """For the daily bulletin ("samples taken in the current round"): the latest round started
    by the end of `day` (city time), and its samples by then per district and for the city. The
    members of the tubes opened by then are added up (2 M tubes in a Chengdu round, not 20 M
    scans); a tube opened before midnight counts whole."""
    end = datetime.combine(day + timedelta(days=1), time(), clock.city_zone())
    current = Round.objects.filter(starts_at__lt=end).order_by("-starts_at", "-pk").first()
    if current is None:
        return RoundSamples(None, {}, 0)
    rows = (
        Tube.objects.filter(round_id=current.pk, first_scan_at__lt=end)
        .values("district_id")
        .annotate(n=Sum("members"))
    )
    by_district = {int(r["district_id"]): int(r["n"] or 0) for r in rows if r["district_id"] is not None}
    total = sum(int(r["n"] or 0) for r in rows)
    return RoundSamples(current.code, by_district, total)


def zone_rounds(round_ids: Iterable[int]) -> list[Round]:
    """Of the rounds given, those of one zone (a zone's screening), in the order they opened."""
    return list(Round.objects.filter(pk__in=list(round_ids), zone__isnull=False).order_by("pk"))


def round_district_names(round_: Round) -> list[str]:
    """The names of the districts a round covers whole (none: a zone's round or the city's)."""
    areas = RoundArea.objects.filter(round=round_, compound__isnull=True).select_related("district")
    return [area.district.name for area in areas if area.district is not None]


@dataclass(frozen=True)
class OwnTest:
    """A household member's sample in a recent round, or their retest after a recall."""

    number: int  # the member's number in the household
    round_code: str
    scanned_at: datetime
    retest: bool
    result: str  # Result: "" while pending
    resulted_at: datetime | None


@dataclass(frozen=True)
class OwnRecall:
    number: int
    round_code: str
    opened_at: datetime
    reason: str


def own_tests(*, actor: Actor, since: datetime) -> tuple[list[OwnTest], list[OwnRecall]]:
    """A resident's household: each member's samples in the rounds started since `since`, with
    their tubes' results (newest first), and the recalls still awaiting a retest. Only the
    actor's own household; scans are read by (round, resident), the unique index, so that the
    page never reads a 20 M round to find three people."""
    if actor.household_id is None:
        return [], []
    numbers = dict(Resident.objects.filter(household_id=actor.household_id).values_list("pk", "number"))
    rounds = list(Round.objects.filter(starts_at__gte=since).values_list("pk", flat=True))
    scans = (
        Scan.objects.filter(round_id__in=rounds, resident_id__in=list(numbers))
        .select_related("round", "tube")
        .order_by("-scanned_at")
    )
    tests = [
        OwnTest(
            number=numbers[s.resident_id],
            round_code=s.round.code,
            scanned_at=s.scanned_at,
            retest=s.retest,
            result=s.tube.result,
            resulted_at=s.tube.resulted_at,
        )
        for s in scans
    ]
    recalls = [
        OwnRecall(
            number=numbers[r.resident_id], round_code=r.round.code, opened_at=r.opened_at, reason=r.reason
        )
        for r in Recall.objects.filter(resident_id__in=list(numbers), state=RecallState.OPEN)
        .select_related("round")
        .order_by("opened_at")
    ]
    return tests, recalls
