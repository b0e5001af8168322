"""The fast way of a first pooled scan: one prepared read, then one prepared write.

Planning these small statements costs PostgreSQL several times running them, so each
connection prepares them once (`core.sql.run_prepared`). The statements are in `testing.sql`.
"""

from __future__ import annotations

import contextlib
import json
import re
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from bastion.core.sql import Lock
from bastion.testing.models import Scan, Tube
from bastion.zones.models import Level


@dataclass(frozen=True)
class ScanTaken:
    scan: Scan
    tube: Tube
    repeated: bool  # the same client key was taken before: nothing changed


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
        " %s::timestamptz, '' FROM (SELECT pg_advisory_xact_lock_shared("
        + str(int(Lock.INGEST))
        + ")) AS waited",
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


def scan_fast(
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
