"""Transfer's own statements: the assignment's writes, one row of parameters per person (an
ORM bulk_update of a thousand rows spent seconds building its CASE expressions). Each is
conditional on the state the assignment read, under its lock."""

from __future__ import annotations

from datetime import datetime

from bastion.core import sql

DESTINATION_GIVEN = """
UPDATE transfer_transfer
   SET state = 'destination_assigned', facility_id = %s, pool_id = %s, bed = %s, holds_bed = %s,
       bed_from = %s, destination_at = %s, why_there = %s
 WHERE id = %s AND state = 'requested'
"""

VEHICLE_GIVEN = """
UPDATE transfer_transfer
   SET state = %s, vehicle_id = %s, seat = %s, on_board = %s, vehicle_at = %s, picked_up_at = %s
 WHERE id = %s AND state = 'destination_assigned'
"""


# PostgreSQL: one statement over arrays (a thousand single UPDATEs cost a second of round
# trips and index upkeep); SQLite runs the single statement per row, in-process.
DESTINATION_GIVEN_PG = """
UPDATE transfer_transfer AS t
   SET state = 'destination_assigned', facility_id = v.facility, pool_id = v.pool, bed = v.bed,
       holds_bed = TRUE, bed_from = %s, destination_at = %s, why_there = v.why
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::bigint[])
       AS v(facility, pool, bed, why, id)
 WHERE t.id = v.id AND t.state = 'requested'
"""

VEHICLE_GIVEN_PG = """
UPDATE transfer_transfer AS t
   SET state = v.state, vehicle_id = v.vehicle, seat = v.seat, on_board = TRUE, vehicle_at = %s,
       picked_up_at = %s
  FROM unnest(%s::text[], %s::bigint[], %s::int[], %s::bigint[]) AS v(state, vehicle, seat, id)
 WHERE t.id = v.id AND t.state = 'destination_assigned'
"""


def destinations_given(rows: list[tuple[int | None, int | None, int | None, str, int]], at: datetime) -> None:
    """(facility, pool, bed, why there, transfer) of each person given a bed at `at`."""
    if not rows:
        return
    moment = sql.db_datetime(at)
    if sql.postgres():
        sql.run(DESTINATION_GIVEN_PG, [moment, moment, *(list(column) for column in zip(*rows, strict=True))])
        return
    sql.run_many(
        DESTINATION_GIVEN,
        [(facility, pool, bed, True, moment, moment, why, pk) for facility, pool, bed, why, pk in rows],
    )


def vehicles_given(
    rows: list[tuple[str, int | None, int | None, int]], at: datetime, picked_up: bool
) -> None:
    """(state, vehicle, seat, transfer) of each person given a seat at `at` (and picked up at
    once, where the crews confirm by themselves)."""
    if not rows:
        return
    moment = sql.db_datetime(at)
    if sql.postgres():
        columns = [list(column) for column in zip(*rows, strict=True)]
        sql.run(VEHICLE_GIVEN_PG, [moment, moment if picked_up else None, *columns])
        return
    sql.run_many(
        VEHICLE_GIVEN,
        [
            (state, vehicle, seat, True, moment, moment if picked_up else None, pk)
            for state, vehicle, seat, pk in rows
        ],
    )
