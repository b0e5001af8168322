"""Every write of mass testing: rounds, scans, tube receipts and results, recalls.

A scan or a result that cannot be taken is refused with a clear error and listed in the
round's exceptions (`RoundIssue`), written in a transaction of its own so that the refusal of
the record never loses the record of the refusal. Devices retry: a scan or a result carrying a
client key that was already taken returns the first answer and changes nothing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from bastion.city.models import District, Household, Resident
from bastion.city.selectors import PlaceRef
from bastion.core import audit
from bastion.core.errors import Conflict, DomainError, InvalidInput, NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor
from bastion.testing import policy as policies
from bastion.testing import selectors
from bastion.testing.models import (
    IssueKind,
    Lab,
    Recall,
    RecallState,
    Result,
    Round,
    RoundArea,
    RoundIssue,
    RoundState,
    Scan,
    Site,
    Tube,
)
from bastion.zones.models import Level, Zone

# The bulk loads (testing.ingest) take this advisory lock exclusively for each chunk they
# classify and move; single records take it shared, so that a device's scan or a lab's result
# never lands between a chunk's classification and its writes.
INGEST_LOCK = 0x42A57200


def bulk_loads_wait() -> None:
    """Inside a transaction: wait for a bulk chunk in progress, and keep the next from starting
    until this transaction ends (PostgreSQL; SQLite serialises writers anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [INGEST_LOCK])


@dataclass(frozen=True)
class Issue:
    round_id: int | None
    kind: str
    detail: dict[str, Any]
    source: str
    at: datetime


def issue_record(issue: Issue) -> None:
    """List something a device or file sent that the round could not take. A device retrying a
    refused record with the same client key is listed once."""
    with transaction.atomic():
        if issue.detail.get("client_key"):
            listed = RoundIssue.objects.filter(kind=issue.kind, source=issue.source[:200])
            listed = (
                listed.filter(round_id=issue.round_id)
                if issue.round_id is not None
                else listed.filter(round_id__isnull=True)
            )
            if listed.exists():
                return
        RoundIssue.objects.create(
            round_id=issue.round_id,
            kind=issue.kind,
            detail=issue.detail,
            source=issue.source[:200],
            at=issue.at,
        )


def issue_of(error: BaseException) -> Issue | None:
    """The round exception a refusal carries, for a caller that rolled its transaction back."""
    return getattr(error, "issue", None)


def _refuse(
    error: type[DomainError],
    *,
    round_id: int | None,
    kind: str,
    message: str,
    detail: dict[str, Any],
    source: str,
    now: datetime,
) -> DomainError:
    refusal = error(message, code=kind)
    refusal.issue = Issue(round_id, kind, detail, source, now)  # type: ignore[attr-defined]
    return refusal


F = TypeVar("F", bound=Callable[..., Any])


def lists_refusals(func: F) -> F:
    """Write the round exception of a refusal once the refused change has rolled back. A caller
    that wraps the call in a transaction of its own loses that row when the refusal crosses its
    transaction, and writes it again after its rollback (flows.tube_resulted does)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            issue = issue_of(exc)
            if issue is not None:
                issue_record(issue)
            raise

    return wrapper  # type: ignore[return-value]


def round_open(
    *,
    code: str,
    starts_at: datetime,
    deadline: datetime,
    name: str = "",
    district_ids: Sequence[int] = (),
    zone_id: int | None = None,
    places: Sequence[PlaceRef] = (),
    pooling: dict[str, dict[str, Any]] | None = None,
    actor: Actor,
    now: datetime,
) -> Round:
    """Open a round over the city, some districts, or one zone (its full screening).

    Pooling defaults to the policy file's ratios per zone level. A district officer opens
    rounds of their own district only.
    """
    actor.require("manage_testing")
    code = code.strip()
    if not code:
        raise InvalidInput(_("A round needs a code."), code="code_required")
    if deadline <= starts_at:
        raise InvalidInput(_("The deadline must come after the start."), code="deadline_before_start")
    rules_policy = policies.policy()
    chosen = pooling or rules_policy.pooling_json()
    for level in ("high", "medium", "low"):
        ratio = (chosen.get(level) or {}).get("ratio")
        if ratio not in rules_policy.validated_ratios:
            raise InvalidInput(
                _("The pooling ratio for %(level)s must be one of %(ratios)s.")
                % {"level": Level(level).label, "ratios": ", ".join(map(str, rules_policy.validated_ratios))},
                code="bad_pooling",
            )
    zone = Zone.objects.filter(pk=zone_id).first() if zone_id is not None else None
    if zone_id is not None and zone is None:
        raise NotFound(_("There is no such zone."), code="unknown_zone")
    districts = list(District.objects.filter(pk__in=district_ids))
    if len(districts) != len(set(district_ids)):
        raise NotFound(_("There is no such district."), code="unknown_district")
    if actor.level != ScopeLevel.CITY:
        owned = (
            [d.pk for d in districts] + ([zone.district_id] if zone else []) + [p.district_id for p in places]
        )
        if not owned or any(d != actor.district_id for d in owned):
            raise NotFound(_("Open rounds of your own district only."), code="outside_scope")
    with transaction.atomic():
        try:
            round_ = Round.objects.create(
                code=code,
                name=name,
                starts_at=starts_at,
                deadline=deadline,
                pooling=chosen,
                opened_at=now,
                zone=zone,
            )
        except IntegrityError:
            raise Conflict(_("A round with this code exists."), code="round_exists") from None
        if zone is not None:
            RoundArea.objects.create(
                round=round_,
                district_id=zone.district_id,
                compound_id=zone.compound_id,
                building_id=zone.building_id,
                unit_id=zone.unit_id,
                household_id=zone.household_id,
            )
        for district in districts:
            RoundArea.objects.create(round=round_, district=district)
        for place in places:
            RoundArea.objects.create(
                round=round_,
                district_id=place.district_id,
                compound_id=place.compound_id,
                building_id=place.building_id,
                unit_id=place.unit_id,
                household_id=place.household_id,
            )
        audit.record(
            action="testing.round.opened",
            obj=round_,
            after={
                "code": code,
                "zone": zone.code if zone else None,
                "districts": [d.code for d in districts],
                "places": [p.address for p in places],
                "pooling": chosen,
                "deadline": deadline.isoformat(),
            },
            actor=actor,
            now=now,
        )
    return round_


def round_close(*, round_: Round, reason: str = "", actor: Actor, now: datetime) -> Round:
    """Close a round: scans made from now on are refused (those made before still come in from
    devices that were offline, and results keep coming). Before the deadline it takes a reason.
    A district officer closes rounds of their own district only. Audited."""
    actor.require("manage_testing")
    if actor.level != ScopeLevel.CITY:
        districts = set(RoundArea.objects.filter(round=round_).values_list("district_id", flat=True))
        if districts != {actor.district_id}:
            raise NotFound(_("Close rounds of your own district only."), code="outside_scope")
    reason = reason.strip()
    if now < round_.deadline and not reason:
        raise InvalidInput(_("Closing a round before its deadline needs a reason."), code="reason_required")
    with transaction.atomic():
        # The lock orders this against a bulk chunk (it holds the round for its whole chunk).
        bulk_loads_wait()
        locked = Round.objects.select_for_update().get(pk=round_.pk)
        if locked.state == RoundState.CLOSED:
            raise Conflict(_("This round is already closed."), code="round_closed")
        locked.state = RoundState.CLOSED
        locked.closed_at = now
        locked.save(update_fields=["state", "closed_at"])
        audit.record(
            action="testing.round.closed",
            obj=locked,
            before={"state": str(RoundState.OPEN)},
            after={"state": str(RoundState.CLOSED), "closed_at": now.isoformat(), "reason": reason},
            actor=actor,
            now=now,
        )
    return locked


def scan_time_problem(round_: Round, scanned_at: datetime) -> tuple[str, Any] | None:
    """Why a scan made at `scanned_at` is outside the round's time, as (code, message); None
    when inside. Before the start, or at or after the round's closing."""
    if scanned_at < round_.starts_at:
        return "before_start", _("This scan is earlier than the round's start.")
    if round_.closed_at is not None and scanned_at >= round_.closed_at:
        return "after_close", _("The round was closed before this scan.")
    return None


@dataclass(frozen=True)
class ScanTaken:
    scan: Scan
    tube: Tube
    repeated: bool  # the same client key was taken before: nothing changed


@lists_refusals
def scan_record(
    *,
    round_id: int | None = None,
    round_code: str | None = None,
    resident_id: int | None = None,
    id_number: str | None = None,
    tube_barcode: str,
    site_code: str | None = None,
    scanned_at: datetime,
    sampler: str = "",
    client_key: str | None = None,
    retest: bool = False,
    actor: Actor,
    now: datetime,
) -> ScanTaken:
    """Bind a resident to a tube at a site.

    The tube is created by its first scan with the ratio of where that person lives (the
    round's pooling per zone level; 1 for a retest) and refuses a member over its ratio, a
    person of another pooling, or, in a per-household area, another household. One pooled scan
    per person and round; a retest needs an open recall. Idempotent by `client_key`.

    The round is named by id, or by code as a device sends it (an unknown code is refused, not
    listed). A first pooled scan goes the fast way: one read (round, resident, household, zone
    level, area, site), then the tube and the scan written under the bulk loads' shared lock by
    one statement (PostgreSQL; two on SQLite). Whatever that way does not take (a retest, a
    per-household area, a repeat, any refusal) leaves nothing written and is judged again step
    by step by `_scan_record_checked`, which gives the answer and lists a refusal.
    """
    actor.require("record_samples")
    if (round_id is None) == (round_code is None):
        raise ValueError("name the round by id or by code")
    barcode = tube_barcode.strip()
    if not retest and barcode and (resident_id is not None or (id_number or "").strip()):
        taken = _scan_fast(
            round_id=round_id,
            round_code=round_code,
            resident_id=resident_id,
            id_number=id_number,
            barcode=barcode,
            site_code=site_code or None,
            scanned_at=scanned_at,
            sampler=sampler,
            client_key=client_key,
        )
        if taken is not None:
            return taken
    if round_id is None:
        round_id = Round.objects.filter(code=round_code).values_list("pk", flat=True).first()
        if round_id is None:
            raise InvalidInput(_("There is no round with this code."), code="unknown_round")
    return _scan_record_checked(
        round_id=round_id,
        resident_id=resident_id,
        id_number=id_number,
        tube_barcode=tube_barcode,
        site_code=site_code,
        scanned_at=scanned_at,
        sampler=sampler,
        client_key=client_key,
        retest=retest,
        actor=actor,
        now=now,
    )


# What the fast way needs to know, in one statement: the round, the resident and household,
# whether the household is in the round's areas (as selectors.round_households: the most precise
# level an area names), its zone level today (as selectors.level_of_household over
# zones.selectors.covering_household: the highest in-force zone over it) and the site.
_FACTS_SQL = """
SELECT rd.id, rd.pooling, rd.starts_at, rd.closed_at, r.id, h.id, h.grid_id, h.district_id,
    NOT EXISTS (SELECT 1 FROM testing_roundarea a WHERE a.round_id = rd.id)
    OR EXISTS (
        SELECT 1 FROM testing_roundarea a WHERE a.round_id = rd.id AND CASE
            WHEN a.household_id IS NOT NULL THEN a.household_id = h.id
            WHEN a.unit_id IS NOT NULL THEN a.unit_id = h.unit_id
            WHEN a.building_id IS NOT NULL THEN a.building_id = h.building_id
            WHEN a.compound_id IS NOT NULL THEN a.compound_id = h.compound_id
            ELSE a.district_id = h.district_id END
    ),
    (
        SELECT z.level FROM zones_zone z
        WHERE z.compound_id = h.compound_id AND z.state = 'in_force'
            AND (z.building_id IS NULL OR z.building_id = h.building_id)
            AND (z.unit_id IS NULL OR z.unit_id = h.unit_id)
            AND (z.household_id IS NULL OR z.household_id = h.id)
        ORDER BY CASE z.level WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END LIMIT 1
    ),
    (SELECT s.id FROM testing_site s WHERE s.code = %s)
FROM testing_round rd
LEFT JOIN city_resident r ON r.{resident} = %s
LEFT JOIN city_household h ON h.id = r.household_id
WHERE rd.{round} = %s
"""
_FACTS = {
    (resident, round_): _FACTS_SQL.format(resident=resident, round=round_)
    for resident in ("id", "id_number")
    for round_ in ("id", "code")
}

# The tube: created with this first member, or locked and joined when it can take one more of
# this pooling (its round, still open, the same ratio, room left). ON CONFLICT DO UPDATE works
# on the tube's latest version and locks it even when its WHERE refuses the update; then nothing
# is returned and the step-by-step path says why. The grid stays the members' common grid, NULL
# once they differ (as `_scan_record_checked`).
_TUBE_SQL = """
INSERT INTO testing_tube AS t
    (round_id, barcode, ratio, retest, site_id, district_id, grid_id, members, first_scan_at, result)
{source}
ON CONFLICT (barcode) DO UPDATE SET
    members = t.members + 1,
    grid_id = CASE WHEN t.members = 0 THEN excluded.grid_id
                   WHEN t.grid_id = excluded.grid_id THEN t.grid_id END,
    first_scan_at = {least}(COALESCE(t.first_scan_at, excluded.first_scan_at), excluded.first_scan_at)
WHERE t.round_id = excluded.round_id AND t.result = '' AND t.sealed_at IS NULL AND t.retest = excluded.retest
    AND t.ratio = excluded.ratio AND t.members < t.ratio
RETURNING id, members, grid_id, first_scan_at, site_id, district_id
"""
_SCAN_COLUMNS = """
INSERT INTO testing_scan
    (round_id, tube_id, resident_id, household_id, grid_id, district_id, site_id, retest,
     scanned_at, sampler, client_key)
"""

# PostgreSQL: one statement, its own transaction (or a savepoint's when the caller holds one).
# It first waits for the bulk loads (bulk_loads_wait's shared lock, held to its end), then
# writes the tube and the scan, which takes the id the tube returns. No row back: the tube
# refused. A scan that breaks a unique index (the person already sampled in the round, a client
# key already taken) fails the whole statement, so the tube's change goes with it. Nothing the
# statement decides reads the registry or the round's scans through its snapshot (taken before
# the lock): the tube is its latest version, duplicates are the unique indexes' to find.
_WRITE_POSTGRES = (
    "WITH tube AS ("
    + _TUBE_SQL.format(
        source="SELECT %s::bigint, %s::varchar, %s::smallint, FALSE, %s::bigint, %s::bigint, %s::bigint, 1,"
        " %s::timestamptz, '' FROM (SELECT pg_advisory_xact_lock_shared(" + str(INGEST_LOCK) + ")) AS waited",
        least="LEAST",
    )
    + "), scan AS ("
    + _SCAN_COLUMNS
    + " SELECT %s, tube.id, %s, %s, %s, %s, %s, FALSE, %s, %s, %s FROM tube RETURNING id"
    + ") SELECT tube.*, scan.id FROM tube, scan"
)

# SQLite (writers serialised by the database): the tube, then the scan, in a transaction that
# rolls back when the scan conflicts.
_TUBE_SQLITE = _TUBE_SQL.format(source="VALUES (%s, %s, %s, FALSE, %s, %s, %s, 1, %s, '')", least="MIN")
_SCAN_SQLITE = (
    _SCAN_COLUMNS
    + "VALUES (%s, %s, %s, %s, %s, %s, %s, FALSE, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id"
)


class _NotTaken(Exception):
    """The fast way did not take the scan: its writes roll back."""


# Planning the fast way's statements costs PostgreSQL several times running them (0.28 ms
# against 0.05 ms for the read): each connection prepares them once and then only executes
# them. Prepared statements outlive a rollback and die with their connection.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _run(cursor: Any, name: str, sql: str, params: list[Any]) -> None:
    """Run `sql`: prepared once per connection on PostgreSQL, as it is on SQLite."""
    if connection.vendor != "postgresql":
        cursor.execute(sql, params)
        return
    names = _prepared.setdefault(connection.connection, set())
    if name not in names:
        numbered = iter(range(1, len(params) + 1))
        cursor.execute(f"PREPARE {name} AS " + re.sub("%s", lambda _m: f"${next(numbered)}", sql))
        names.add(name)
    cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)


def _scan_fast(
    *,
    round_id: int | None,
    round_code: str | None,
    resident_id: int | None,
    id_number: str | None,
    barcode: str,
    site_code: str | None,
    scanned_at: datetime,
    sampler: str,
    client_key: str | None,
) -> ScanTaken | None:
    """A first pooled scan that every rule lets through, outside per-household areas: one read,
    then one write (PostgreSQL; two on SQLite). None for anything else, nothing written."""
    resident_by = "id" if resident_id is not None else "id_number"
    round_by = "id" if round_id is not None else "code"
    at = connection.ops.adapt_datetimefield_value(scanned_at)
    sampler = sampler[:50]
    with connection.cursor() as cursor:
        _run(
            cursor,
            f"bastion_scan_facts_{resident_by}_{round_by}",
            _FACTS[resident_by, round_by],
            [
                site_code,
                resident_id if resident_id is not None else (id_number or "").strip().upper(),
                round_id if round_id is not None else round_code,
            ],
        )
        facts = cursor.fetchone()
    if facts is None:  # no such round
        return None
    round_pk, pooling, starts_at, closed_at, resident_pk, household_pk, grid_id, district_id = facts[:8]
    inside, level, site_id = facts[8:]
    if resident_pk is None or not inside or (site_code is not None and site_id is None):
        return None
    # Outside the round's time (before its start, after its closing): the step-by-step refusal.
    if scanned_at < _aware(starts_at) or (closed_at is not None and scanned_at >= _aware(closed_at)):
        return None
    ratio, per_household = _pooling(pooling, level or Level.LOW)
    if per_household:  # the household rule reads the tube's scans: the step-by-step path
        return None
    tube_params = [round_pk, barcode, ratio, site_id, district_id, grid_id, at]
    scan_params = [resident_pk, household_pk, grid_id, district_id, site_id, at, sampler, client_key]
    try:
        if connection.vendor == "postgresql":
            # Autocommit: the statement is its transaction. Inside a caller's transaction, a
            # savepoint keeps a failed statement from spoiling it.
            holder = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
            with holder, connection.cursor() as cursor:
                _run(cursor, "bastion_scan_write", _WRITE_POSTGRES, [*tube_params, round_pk, *scan_params])
                written = cursor.fetchone()
            if written is None:
                return None
            tube_pk, members, tube_grid, first_scan_at, tube_site, tube_district, scan_pk = written
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_TUBE_SQLITE, tube_params)
                tube_row = cursor.fetchone()
                if tube_row is None:
                    raise _NotTaken
                tube_pk, members, tube_grid, first_scan_at, tube_site, tube_district = tube_row
                cursor.execute(_SCAN_SQLITE, [round_pk, tube_pk, *scan_params])
                scan_row = cursor.fetchone()
                if scan_row is None:
                    raise _NotTaken
                scan_pk = scan_row[0]
    except (_NotTaken, IntegrityError):
        return None
    first_scan_at = _aware(first_scan_at)
    tube = Tube(
        pk=tube_pk,
        round_id=round_pk,
        barcode=barcode,
        ratio=ratio,
        retest=False,
        site_id=tube_site,
        district_id=tube_district,
        grid_id=tube_grid,
        members=members,
        first_scan_at=first_scan_at,
    )
    scan = Scan(
        pk=scan_pk,
        round_id=round_pk,
        tube_id=tube_pk,
        resident_id=resident_pk,
        household_id=household_pk,
        grid_id=grid_id,
        district_id=district_id,
        site_id=site_id,
        retest=False,
        scanned_at=scanned_at,
        sampler=sampler,
        client_key=client_key,
    )
    for row in (tube, scan):
        row._state.adding = False
        row._state.db = connection.alias
    return ScanTaken(scan, tube, repeated=False)


def _aware(value: datetime | str) -> datetime:
    """A time read by a raw cursor: SQLite gives text in UTC."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ValueError(f"not a time: {value!r}")
    return parsed if parsed.tzinfo else timezone.make_aware(parsed, UTC)


def _pooling(pooling: dict[str, Any] | str, level: str) -> tuple[int, bool]:
    """The ratio and per-household rule of a level, from the round's pooling as the database
    returns it (as selectors.pooling_for, without building a Round)."""
    levels: dict[str, Any] = json.loads(pooling) if isinstance(pooling, str) else pooling  # SQLite: text
    entry = levels.get(level) or levels.get("low") or {"ratio": 10, "per_household": False}
    return int(entry["ratio"]), bool(entry.get("per_household", False))


def _scan_record_checked(
    *,
    round_id: int,
    resident_id: int | None = None,
    id_number: str | None = None,
    tube_barcode: str,
    site_code: str | None = None,
    scanned_at: datetime,
    sampler: str = "",
    client_key: str | None = None,
    retest: bool = False,
    actor: Actor,
    now: datetime,
) -> ScanTaken:
    """`scan_record` step by step: every check in turn, each refusal with its reason; the path
    of retests, repeats and refusals, and the judge of whatever the fast path did not take."""
    source = f"scan {client_key or ''}".strip()
    if client_key:
        earlier = Scan.objects.filter(client_key=client_key).select_related("tube").first()
        if earlier is not None:
            return ScanTaken(earlier, earlier.tube, repeated=True)
    round_ = Round.objects.filter(pk=round_id).first()
    if round_ is None:
        raise NotFound(_("There is no such round."), code="unknown_round")
    barcode = tube_barcode.strip()
    detail = {"resident_id": resident_id, "id_number": id_number, "tube": barcode, "client_key": client_key}

    def refuse(error: type[DomainError], kind: str, message: str) -> DomainError:
        return _refuse(
            error, round_id=round_.pk, kind=kind, message=message, detail=detail, source=source, now=now
        )

    if not barcode:
        raise refuse(InvalidInput, IssueKind.BAD_RECORD, _("A scan needs a tube barcode."))
    outside = scan_time_problem(round_, scanned_at)
    if outside is not None:
        raise refuse(
            Conflict if outside[0] == "after_close" else InvalidInput, IssueKind.OUTSIDE_TIME, outside[1]
        )
    residents = Resident.objects.select_related("household")
    resident = (
        residents.filter(pk=resident_id).first()
        if resident_id is not None
        else residents.filter(id_number=(id_number or "").strip().upper()).first()
    )
    if resident is None:
        raise refuse(NotFound, IssueKind.UNKNOWN_RESIDENT, _("There is no such resident."))
    household = resident.household
    if not selectors.household_in_round(round_, household.pk):
        raise refuse(
            InvalidInput, IssueKind.OUTSIDE_ROUND, _("This resident lives outside the round's area.")
        )
    site = Site.objects.filter(code=site_code).first() if site_code else None
    if site_code and site is None:
        raise refuse(NotFound, IssueKind.BAD_RECORD, _("There is no such sampling site."))
    recall = None
    if retest:
        ratio, per_household = 1, True
        recall = Recall.objects.filter(round=round_, resident=resident, state=RecallState.OPEN).first()
        if recall is None:
            raise refuse(Conflict, IssueKind.NO_RECALL, _("This resident has no recall awaiting a retest."))
    else:
        ratio, per_household = selectors.pooling_for(round_, selectors.level_of_household(household))
    try:
        with transaction.atomic():
            bulk_loads_wait()
            if recall is not None:
                recall = Recall.objects.select_for_update().get(pk=recall.pk)
                if (
                    recall.retest_tube_id is not None
                    and not Tube.objects.filter(pk=recall.retest_tube_id, barcode=barcode).exists()
                ):
                    raise _TubeRefused(
                        IssueKind.DUPLICATE_SCAN, _("This resident's retest is already at the lab.")
                    )
            tube, _created = Tube.objects.select_for_update().get_or_create(
                barcode=barcode,
                defaults={
                    "round_id": round_.pk,
                    "ratio": ratio,
                    "retest": retest,
                    "site": site,
                    "district_id": household.district_id,
                    "grid_id": household.grid_id,
                    "first_scan_at": scanned_at,
                },
            )
            problem = _tube_problem(tube, round_, ratio, per_household, retest, household)
            if problem is not None:
                raise _TubeRefused(*problem)
            try:
                with transaction.atomic():
                    scan = Scan.objects.create(
                        round_id=round_.pk,
                        tube_id=tube.pk,
                        resident_id=resident.pk,
                        household_id=household.pk,
                        grid_id=household.grid_id,
                        district_id=household.district_id,
                        site=site,
                        retest=retest,
                        scanned_at=scanned_at,
                        sampler=sampler[:50],
                        client_key=client_key,
                    )
            except IntegrityError:
                repeat = (
                    Scan.objects.filter(client_key=client_key).select_related("tube").first()
                    if client_key
                    else None
                )
                if repeat is not None:  # the same device's retry won the race
                    raise _Repeat(repeat) from None
                raise _TubeRefused(
                    IssueKind.DUPLICATE_SCAN, _("This resident was already sampled in this round.")
                ) from None
            if tube.members == 0:
                tube.grid_id = household.grid_id
            elif tube.grid_id != household.grid_id:
                tube.grid_id = None  # members of several grids: coverage counts their scans
            tube.members += 1
            tube.first_scan_at = min(tube.first_scan_at or scanned_at, scanned_at)
            tube.save(update_fields=["members", "first_scan_at", "grid"])
            if recall is not None:
                Recall.objects.filter(pk=recall.pk).update(retest_tube_id=tube.pk)
    except _Repeat as repeat:
        return ScanTaken(repeat.scan, repeat.scan.tube, repeated=True)
    except _TubeRefused as refused:
        error: type[DomainError] = InvalidInput if refused.kind == IssueKind.WRONG_POOL else Conflict
        raise refuse(error, refused.kind, refused.message) from None
    return ScanTaken(scan, tube, repeated=False)


class _TubeRefused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Repeat(Exception):
    def __init__(self, scan: Scan) -> None:
        super().__init__("repeat")
        self.scan = scan


def _tube_problem(
    tube: Tube, round_: Round, ratio: int, per_household: bool, retest: bool, household: Household
) -> tuple[str, str] | None:
    if tube.round_id != round_.pk:
        return IssueKind.WRONG_POOL, _("This tube belongs to another round.")
    if tube.result != Result.PENDING or tube.sealed_at is not None:
        return IssueKind.OVERFULL_TUBE, _("This tube is sealed.")
    if tube.retest != retest or tube.ratio != ratio:
        return IssueKind.WRONG_POOL, _("This person is sampled %(ratio)s:1; the tube is %(tube)s:1.") % {
            "ratio": ratio,
            "tube": tube.ratio,
        }
    if tube.members >= tube.ratio:
        return IssueKind.OVERFULL_TUBE, _("This tube already holds %(n)s people, its ratio.") % {
            "n": tube.members
        }
    if (
        per_household
        and tube.members
        and Scan.objects.filter(tube_id=tube.pk).exclude(household_id=household.pk).exists()
    ):
        return IssueKind.WRONG_POOL, _("In a high-risk area a tube holds one household only.")
    return None


@lists_refusals
def tube_receive(*, barcode: str, lab_code: str, received_at: datetime, actor: Actor, now: datetime) -> Tube:
    """A lab receives a tube: it is sealed from then on. Receiving it again changes nothing."""
    actor.require("record_results")
    lab = Lab.objects.filter(code=lab_code).first()
    if lab is None:
        raise NotFound(_("There is no such laboratory."), code="unknown_lab")
    with transaction.atomic():
        bulk_loads_wait()
        tube = Tube.objects.select_for_update().filter(barcode=barcode.strip()).first()
        if tube is None:
            raise _refuse(
                NotFound,
                round_id=None,
                kind=IssueKind.UNKNOWN_TUBE,
                message=_("There is no tube with this barcode."),
                detail={"tube": barcode, "lab": lab_code},
                source="receipt",
                now=now,
            )
        if tube.received_at is None:
            tube.lab_id = lab.pk
            tube.received_at = received_at
            tube.sealed_at = tube.sealed_at or received_at
            tube.save(update_fields=["lab", "received_at", "sealed_at"])
            audit.record(
                action="testing.tube.received",
                obj=tube,
                after={"lab": lab.code, "received_at": received_at.isoformat()},
                district_id=tube.district_id,
                actor=actor,
                now=now,
            )
    return tube


@dataclass(frozen=True)
class TubeResulted:
    tube: Tube
    repeated: bool
    recalled: list[int]  # residents recalled for a single-tube retest
    positives: list[int]  # residents whose own single tube is positive: cases to open
    cleared: list[int]  # recalls closed negative


@lists_refusals
def tube_result(
    *,
    barcode: str,
    result: str,
    resulted_at: datetime,
    ct_values: dict[str, float] | None = None,
    lab_code: str | None = None,
    actor: Actor,
    now: datetime,
) -> TubeResulted:
    """A tube's result. Negative clears its members. A positive or invalid pool recalls every
    member for a single-tube retest (isolated in place until then). A positive single tube names
    a case to open (the flow opens it). The same result sent again changes nothing; a different
    one for a resulted tube is refused and listed."""
    actor.require("record_results")
    if result not in (Result.NEGATIVE, Result.POSITIVE, Result.INVALID):
        raise InvalidInput(_("A result is negative, positive or invalid."), code="bad_result")
    lab = Lab.objects.filter(code=lab_code).first() if lab_code else None
    if lab_code and lab is None:
        raise NotFound(_("There is no such laboratory."), code="unknown_lab")
    # A lab system retrying the same refused result is listed once.
    detail = {"tube": barcode, "result": result, "client_key": f"{barcode.strip()}:{result}"}
    with transaction.atomic():
        bulk_loads_wait()
        tube = Tube.objects.select_for_update().filter(barcode=barcode.strip()).first()
        if tube is None:
            raise _refuse(
                NotFound,
                round_id=None,
                kind=IssueKind.UNKNOWN_TUBE,
                message=_("There is no tube with this barcode."),
                detail=detail,
                source=f"result {detail['client_key']}",
                now=now,
            )
        if tube.result != Result.PENDING:
            if tube.result == result:
                return TubeResulted(tube, True, [], [], [])
            raise _refuse(
                Conflict,
                round_id=tube.round_id,
                kind=IssueKind.ALREADY_RESULTED,
                message=_("This tube already has another result."),
                detail={**detail, "first": tube.result},
                source=f"result {detail['client_key']}",
                now=now,
            )
        tube.result = result
        tube.resulted_at = resulted_at
        tube.ct_values = ct_values
        tube.sealed_at = tube.sealed_at or resulted_at
        if lab is not None and tube.lab_id is None:
            tube.lab_id = lab.pk
            tube.received_at = tube.received_at or resulted_at
        tube.save(update_fields=["result", "resulted_at", "ct_values", "sealed_at", "lab", "received_at"])
        members = list(
            Scan.objects.filter(tube_id=tube.pk).values_list(
                "resident_id", "household_id", "grid_id", "district_id"
            )
        )
        recalled: list[int] = []
        positives: list[int] = []
        cleared: list[int] = []
        if tube.retest:
            for resident_id, *_rest in members:
                Recall.objects.filter(
                    round_id=tube.round_id, resident_id=resident_id, state=RecallState.OPEN
                ).update(state=RecallState.RETESTED, result=result, closed_at=resulted_at)
                if result == Result.POSITIVE:
                    positives.append(resident_id)
                elif result == Result.NEGATIVE:
                    cleared.append(resident_id)
                else:  # an invalid retest: sampled again, the recall stays open
                    Recall.objects.filter(round_id=tube.round_id, resident_id=resident_id).update(
                        state=RecallState.OPEN, result="", closed_at=None, retest_tube_id=None
                    )
                    recalled.append(resident_id)
        elif result == Result.POSITIVE and tube.ratio == 1:
            positives = [m[0] for m in members]
        elif result in (Result.POSITIVE, Result.INVALID):
            already = set(
                Recall.objects.filter(
                    round_id=tube.round_id, resident_id__in=[m[0] for m in members]
                ).values_list("resident_id", flat=True)
            )
            Recall.objects.bulk_create(
                [
                    Recall(
                        round_id=tube.round_id,
                        resident_id=resident_id,
                        household_id=household_id,
                        grid_id=grid_id,
                        district_id=district_id,
                        tube_id=tube.pk,
                        reason=result,
                        opened_at=resulted_at,
                    )
                    for resident_id, household_id, grid_id, district_id in members
                    if resident_id not in already
                ]
            )
            recalled = [m[0] for m in members if m[0] not in already]
        audit.record(
            action="testing.tube.resulted",
            obj=tube,
            after={
                "result": result,
                "members": len(members),
                "recalled": len(recalled),
                "positives": positives,
            },
            district_id=tube.district_id,
            actor=actor,
            now=now,
        )
    return TubeResulted(tube, False, recalled, positives, cleared)


def round_complete(round_: Round) -> bool:
    """Every tube of the round has a result and no recall awaits a retest."""
    return (
        not selectors.pending_tubes(round_).exists()
        and not Recall.objects.filter(round=round_, state=RecallState.OPEN).exists()
    )
