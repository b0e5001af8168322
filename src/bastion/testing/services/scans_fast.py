"""The fast way of a first pooled scan: one prepared read, then one prepared write.

Planning these small statements costs PostgreSQL several times running them, so each
connection prepares them once (`core.sql.run_prepared`). The statements are in `testing.sql`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction

from bastion.core import audit
from bastion.core import sql as core_sql
from bastion.core.scopes import Actor
from bastion.testing import rules, sql
from bastion.testing.models import Scan, Tube
from bastion.zones.models import Level

SCAN_RECORDED = "testing.scan.recorded"


def scan_audit(
    *, round_id: int, barcode: str, resident_id: int, retest: bool, sampler: str
) -> dict[str, Any]:
    """What a scan's audit row keeps besides who made it (the account, and the device acting for
    it: `audit.label_of`): the round, the tube, the person, and the sampler's name as sent."""
    return {
        "round_id": round_id,
        "tube": barcode,
        "resident_id": resident_id,
        "retest": retest,
        "sampler": sampler,
    }


@dataclass(frozen=True)
class ScanTaken:
    scan: Scan
    tube: Tube
    repeated: bool  # the same client key was taken before: nothing changed


class _NotTaken(Exception):
    """The fast way did not take the scan: its writes roll back."""


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
    actor: Actor,
    now: datetime,
) -> ScanTaken | None:
    """A first pooled scan that every rule lets through, outside per-household areas: one read,
    then one write with its audit row (PostgreSQL; three on SQLite). None for anything else,
    nothing written."""
    resident_by = "id" if resident_id is not None else "id_number"
    round_by = "id" if round_id is not None else "code"
    at = core_sql.db_datetime(scanned_at)
    sampler = sampler[:50]
    with connection.cursor() as cursor:
        core_sql.run_prepared(
            cursor,
            f"bastion_scan_facts_{resident_by}_{round_by}",
            sql.SCAN_FACTS[resident_by, round_by],
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
    if rules.outside_time(
        scanned_at=scanned_at,
        starts_at=core_sql.as_datetime(starts_at),
        closed_at=core_sql.as_datetime_or_none(closed_at),
    ):
        return None
    # The round's pooling as the database returns it (SQLite: JSON text).
    levels: dict[str, Any] = json.loads(pooling) if isinstance(pooling, str) else pooling
    ratio, per_household = rules.pooling_for(levels, level or Level.LOW)
    if per_household:  # the household rule reads the tube's scans: the step-by-step path
        return None
    tube_params = [round_pk, barcode, ratio, site_id, district_id, grid_id, at]
    scan_params = [resident_pk, household_pk, grid_id, district_id, site_id, at, sampler, client_key]
    after = scan_audit(
        round_id=round_pk, barcode=barcode, resident_id=resident_pk, retest=False, sampler=sampler
    )
    try:
        if core_sql.postgres():
            # Autocommit: the statement is its transaction. Inside a caller's transaction, a
            # savepoint keeps a failed statement from spoiling it.
            holder = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
            with holder, connection.cursor() as cursor:
                core_sql.run_prepared(
                    cursor,
                    "bastion_scan_write",
                    sql.SCAN_WRITE_POSTGRES,
                    [
                        *tube_params,
                        round_pk,
                        *scan_params,
                        actor.user_id,
                        audit.label_of(actor),
                        json.dumps(after),
                        core_sql.db_datetime(now),
                    ],
                )
                written = cursor.fetchone()
            if written is None:
                return None
            tube_pk, members, tube_grid, first_scan_at, tube_site, tube_district, scan_pk = written
        else:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql.TUBE_WRITE_SQLITE, tube_params)
                tube_row = cursor.fetchone()
                if tube_row is None:
                    raise _NotTaken
                tube_pk, members, tube_grid, first_scan_at, tube_site, tube_district = tube_row
                cursor.execute(sql.SCAN_WRITE_SQLITE, [round_pk, tube_pk, *scan_params])
                scan_row = cursor.fetchone()
                if scan_row is None:
                    raise _NotTaken
                scan_pk = scan_row[0]
                audit.record(
                    action=SCAN_RECORDED,
                    object_type="testing.scan",
                    object_id=scan_pk,
                    after=after,
                    district_id=district_id,
                    actor=actor,
                    now=now,
                )
    except (_NotTaken, IntegrityError):
        return None
    first_scan_at = core_sql.as_datetime(first_scan_at)
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
