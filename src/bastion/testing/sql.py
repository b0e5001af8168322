"""Mass testing's own SQL: the fast way of a single scan, the turnaround's percentiles, the sites
over capacity, and the lock that orders single records against the bulk loads.

Dialect words, staging tables, prepared statements and the advisory-lock registry come from
`bastion.core.sql`; where the dialects differ, a statement is written out whole for each.
"""

from __future__ import annotations

from bastion.city import sql as city_sql
from bastion.core.sql import AUDIT_INSERT, Lock, advisory_lock
from bastion.core.sql import fence as core_fence
from bastion.zones import sql as zones_sql


def bulk_loads_wait() -> None:
    """Inside a transaction: wait for a bulk chunk in progress, and keep the next from starting
    until this transaction ends (PostgreSQL; SQLite serialises writers anyway). The bulk loads
    (testing.ingest) take `Lock.INGEST` exclusively for each chunk they classify and move;
    single records take it shared, so that a device's scan or a lab's result never lands between
    a chunk's classification and its writes."""
    advisory_lock(Lock.INGEST, shared=True)


# Whether the round aliased `rd` covers the household aliased `h` (as selectors.round_households:
# the most precise place an area names; a round with no area covers the city).
ROUND_COVERS = """(
    NOT EXISTS (SELECT 1 FROM testing_roundarea a WHERE a.round_id = rd.id)
    OR EXISTS (
        SELECT 1 FROM testing_roundarea a WHERE a.round_id = rd.id AND CASE
            WHEN a.household_id IS NOT NULL THEN a.household_id = h.id
            WHEN a.unit_id IS NOT NULL THEN a.unit_id = h.unit_id
            WHEN a.building_id IS NOT NULL THEN a.building_id = h.building_id
            WHEN a.compound_id IS NOT NULL THEN a.compound_id = h.compound_id
            ELSE a.district_id = h.district_id END
    ))"""

# --- facts of a resident, for health codes (codes.sql) ------------------------------------------
# Boolean expressions over the resident row aliased `r` and their household `h`.

# A member of a positive or invalid pool awaiting the single-tube retest.
IS_RECALLED = "EXISTS (SELECT 1 FROM testing_recall rc WHERE rc.resident_id = r.id AND rc.state = 'open')"
# The round aliased `rd` covers the resident aliased `r` (household `h`) and did not sample them.
UNSAMPLED_IN_ROUND = f"""({ROUND_COVERS} AND NOT EXISTS (
    SELECT 1 FROM testing_scan s WHERE s.round_id = rd.id AND s.resident_id = r.id AND NOT s.retest
))"""
# Missed a screening they were due in (应检未检): a round whose deadline has passed (parameters:
# now, and the earliest deadline still counted) covers their household, and they were sampled
# neither in it nor in any round that started after it.
MISSED_ROUND = f"""EXISTS (
    SELECT 1 FROM testing_round rd
    WHERE rd.deadline <= %s AND rd.deadline > %s AND {UNSAMPLED_IN_ROUND}
      AND NOT EXISTS (
          SELECT 1 FROM testing_round later JOIN testing_scan s ON s.round_id = later.id
          WHERE later.starts_at > rd.starts_at AND s.resident_id = r.id AND NOT s.retest
      )
)"""


def unsampled_of_city_round() -> str:
    """The ids of the residents a round over the whole city did not sample (parameter: the round):
    the registry's primary key merged with the round's part of `scan_once_per_round`, both read
    in resident order from their indexes alone. Written as a join of a fenced subquery because
    PostgreSQL plans the NOT EXISTS form as a hash of all the round's scans against every
    resident's row (1 M city: 29,000 pages and a spilled hash; this: 8,500 pages and no hash)."""
    return f"""
SELECT r.id FROM {city_sql.RESIDENTS} r
LEFT JOIN (
    SELECT s.resident_id FROM testing_scan s WHERE s.round_id = %s AND NOT s.retest
    ORDER BY s.resident_id {core_fence()}
) s ON s.resident_id = r.id
WHERE s.resident_id IS NULL"""


def sampled_in(rounds: int, resident: str) -> str:
    """The resident whose id is the column `resident` was sampled (not a retest) in one of
    `rounds` rounds, their ids the parameters. Set-based forms of MISSED_ROUND's last part, for
    health codes' sweep and a round's deadline (codes.sql)."""
    marks = ", ".join(["%s"] * rounds)
    return (
        f"EXISTS (SELECT 1 FROM testing_scan s WHERE s.resident_id = {resident} AND NOT s.retest"
        f" AND s.round_id IN ({marks}))"
    )


def city_round_missed(rounds: int, resident: str) -> str:
    """One of `rounds` rounds over the whole city (their ids the parameters) did not sample the
    resident whose id is the column `resident`: `unsampled_in_one_of` without the registry, a
    city's round covering everyone."""
    marks = ", ".join(["%s"] * rounds)
    return (
        f"EXISTS (SELECT 1 FROM testing_round rd WHERE rd.id IN ({marks}) AND NOT EXISTS ("
        f"SELECT 1 FROM testing_scan s WHERE s.round_id = rd.id AND s.resident_id = {resident}"
        " AND NOT s.retest))"
    )


def unsampled_in_one_of(rounds: int) -> str:
    """One of `rounds` rounds (their ids the parameters) covers the resident aliased `r`
    (household `h`) and did not sample them: MISSED_ROUND's round part, for given rounds."""
    marks = ", ".join(["%s"] * rounds)
    return f"EXISTS (SELECT 1 FROM testing_round rd WHERE rd.id IN ({marks}) AND {UNSAMPLED_IN_ROUND})"


# --- the fast way of a single scan (services.scans_fast) -------------------------------------


def _scan_facts(resident_column: str, round_column: str) -> str:
    """What the fast way needs to know, in one statement: the round, the resident and household,
    whether the household is in the round's areas (as selectors.round_households: the most
    precise place an area names), its zone level today (zones.sql.HOUSEHOLD_LEVEL: the highest
    in-force zone over it; NULL for low) and the site. Parameters: site code, resident, round."""
    return f"""
SELECT rd.id, rd.pooling, rd.starts_at, rd.closed_at, r.id, h.id, h.grid_id, h.district_id,
    {ROUND_COVERS},
    {zones_sql.HOUSEHOLD_LEVEL},
    (SELECT s.id FROM testing_site s WHERE s.code = %s)
FROM testing_round rd
LEFT JOIN {city_sql.RESIDENTS} r ON r.{resident_column} = %s
LEFT JOIN {city_sql.HOUSEHOLDS} h ON h.id = r.household_id
WHERE rd.{round_column} = %s
"""


# By (how the resident is named, how the round is named): "id" or "id_number"; "id" or "code".
SCAN_FACTS = {
    (resident, round_): _scan_facts(resident, round_)
    for resident in ("id", "id_number")
    for round_ in ("id", "code")
}

# The tube: created with this first member, or locked and joined when it admits one more of this
# pooling. Its WHERE is the set-based form of `rules.tube_refusal` for a first pooled scan outside
# one-household areas (the same round, not sealed, not a retest tube, the same ratio, room left;
# held to the rule's table by tests/testing/test_admission_paths.py). ON CONFLICT DO UPDATE works
# on the tube's latest version and locks it even when its WHERE refuses the update; then nothing
# is returned and the step-by-step path says why. The grid stays the members' common grid, NULL
# once they differ (as the step-by-step path).
#
# PostgreSQL: one statement, its own transaction (or a savepoint's when the caller holds one).
# It first waits for the bulk loads (`bulk_loads_wait`'s shared lock on `Lock.INGEST`, held to
# its end), then writes the tube and the scan, which takes the id the tube returns. No row back:
# the tube refused. A scan that breaks a unique index (the person already sampled in the round, a
# client key already taken) fails the whole statement, so the tube's change goes with it. Nothing
# the statement decides reads the registry or the round's scans through its snapshot (taken
# before the lock): the tube is its latest version, duplicates are the unique indexes' to find.
# The scan's audit row is written by the same statement (a data-modifying WITH runs whether or
# not the final SELECT reads it), so that a scan is audited like every other change at no
# extra round trip.
# Parameters: round, barcode, ratio, site, district, grid, scanned at (the tube); round,
# resident, household, grid, district, site, scanned at, sampler, client key (the scan); the
# actor's user id and label, the audit row's `after` (JSON) and time (the audit row).
SCAN_WRITE_POSTGRES = f"""
WITH tube AS (
    INSERT INTO testing_tube AS t
        (round_id, barcode, ratio, retest, site_id, district_id, grid_id, members, first_scan_at, result)
    SELECT %s::bigint, %s::varchar, %s::smallint, FALSE, %s::bigint, %s::bigint, %s::bigint, 1,
        %s::timestamptz, ''
    FROM (SELECT pg_advisory_xact_lock_shared({int(Lock.INGEST)})) AS waited
    ON CONFLICT (barcode) DO UPDATE SET
        members = t.members + 1,
        grid_id = CASE WHEN t.members = 0 THEN excluded.grid_id
                       WHEN t.grid_id = excluded.grid_id THEN t.grid_id END,
        first_scan_at = LEAST(COALESCE(t.first_scan_at, excluded.first_scan_at), excluded.first_scan_at)
    WHERE t.round_id = excluded.round_id AND t.result = '' AND t.sealed_at IS NULL
        AND t.retest = excluded.retest AND t.ratio = excluded.ratio AND t.members < t.ratio
    RETURNING id, members, grid_id, first_scan_at, site_id, district_id
), scan AS (
    INSERT INTO testing_scan
        (round_id, tube_id, resident_id, household_id, grid_id, district_id, site_id, retest,
         scanned_at, sampler, client_key)
    SELECT %s, tube.id, %s, %s, %s, %s, %s, FALSE, %s, %s, %s FROM tube RETURNING id, district_id
), audit AS (
    {AUDIT_INSERT}
    SELECT 'testing.scan.recorded', %s::integer, %s::varchar, 'testing.scan', scan.id::varchar,
        %s::jsonb, '', scan.district_id, %s::timestamptz
    FROM scan
)
SELECT tube.*, scan.id FROM tube, scan
"""

# SQLite (writers serialised by the database): the tube, then the scan, in a transaction that
# rolls back when the scan conflicts. Parameters: as SCAN_WRITE_POSTGRES's, the scan's round
# replaced by the round and the tube's id.
TUBE_WRITE_SQLITE = """
INSERT INTO testing_tube AS t
    (round_id, barcode, ratio, retest, site_id, district_id, grid_id, members, first_scan_at, result)
VALUES (%s, %s, %s, FALSE, %s, %s, %s, 1, %s, '')
ON CONFLICT (barcode) DO UPDATE SET
    members = t.members + 1,
    grid_id = CASE WHEN t.members = 0 THEN excluded.grid_id
                   WHEN t.grid_id = excluded.grid_id THEN t.grid_id END,
    first_scan_at = MIN(COALESCE(t.first_scan_at, excluded.first_scan_at), excluded.first_scan_at)
WHERE t.round_id = excluded.round_id AND t.result = '' AND t.sealed_at IS NULL
    AND t.retest = excluded.retest AND t.ratio = excluded.ratio AND t.members < t.ratio
RETURNING id, members, grid_id, first_scan_at, site_id, district_id
"""
SCAN_WRITE_SQLITE = """
INSERT INTO testing_scan
    (round_id, tube_id, resident_id, household_id, grid_id, district_id, site_id, retest,
     scanned_at, sampler, client_key)
VALUES (%s, %s, %s, %s, %s, %s, %s, FALSE, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id
"""


# --- turnaround (selectors.turnaround) --------------------------------------------------------

# The tubes of a round with a turnaround (parameter: the round).
_SPANS = "round_id = %s AND resulted_at IS NOT NULL AND first_scan_at IS NOT NULL"

# PostgreSQL: the nearest-rank median and 95th percentile (`percentile_disc`, as
# `rules.percentile`) and the maximum, in hours, in one pass.
TURNAROUND_POSTGRES = f"""
SELECT percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY h), max(h) FROM (
    SELECT EXTRACT(EPOCH FROM resulted_at - first_scan_at) / 3600 AS h FROM testing_tube WHERE {_SPANS}
) spans
"""
# SQLite has no percentile: the count and the maximum, then the value at each nearest rank.
TURNAROUND_SQLITE_COUNT = f"""
SELECT COUNT(*), MAX((julianday(resulted_at) - julianday(first_scan_at)) * 24)
FROM testing_tube WHERE {_SPANS}
"""
# Parameters: the round, the rank less one.
TURNAROUND_SQLITE_AT_RANK = f"""
SELECT (julianday(resulted_at) - julianday(first_scan_at)) * 24 AS h FROM testing_tube WHERE {_SPANS}
ORDER BY h LIMIT 1 OFFSET %s
"""


# --- sites over capacity (selectors.sites_over_capacity) -------------------------------------

# The site-hours of a round (parameter) whose scans went over the site's capacity per hour.
SITES_OVER_CAPACITY_POSTGRES = """
SELECT site.code, site.name, date_trunc('hour', s.scanned_at) AS hour, COUNT(*) AS scans,
    site.capacity_per_hour
FROM testing_scan s JOIN testing_site site ON site.id = s.site_id
WHERE s.round_id = %s
GROUP BY site.code, site.name, hour, site.capacity_per_hour
HAVING COUNT(*) > site.capacity_per_hour
ORDER BY hour, site.code
"""
SITES_OVER_CAPACITY_SQLITE = """
SELECT site.code, site.name, strftime('%%Y-%%m-%%d %%H:00:00', s.scanned_at) AS hour, COUNT(*) AS scans,
    site.capacity_per_hour
FROM testing_scan s JOIN testing_site site ON site.id = s.site_id
WHERE s.round_id = %s
GROUP BY site.code, site.name, hour, site.capacity_per_hour
HAVING COUNT(*) > site.capacity_per_hour
ORDER BY hour, site.code
"""
