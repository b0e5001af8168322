"""Delivery's own SQL: the set-based statements of the day's dispatch (the stages of households
due and of new tasks, the orders, lines and tasks written from them, the refresh of the open
tasks) and the coverage reads. The words that differ between SQLite and PostgreSQL come from
bastion.core.sql; the statements themselves are written once, here.

No statement here reads the table it writes: what it needs is staged first (on a lockdown's
first day such a statement, planned on empty tables, rescans its own growing output for every
row).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from bastion.city import sql as city_sql
from bastion.city.selectors import household_vulnerable_sql
from bastion.core.sql import (
    analyze,
    bool_and,
    bool_or,
    db_datetime,
    drop_table,
    false,
    random_digits,
    rows,
    run,
    set_local,
    stage_table,
    time_type,
)

STANDARD_STAGE = "delivery_stage_standard"
TASK_STAGE = "delivery_stage_tasks"

# A statement that writes this many rows or more has its table's statistics taken again at once,
# so that the next statements (the lines after the orders, the tasks after the day's orders)
# are not planned on "empty" statistics: a lockdown's first day writes a million orders into
# empty tables, long before autovacuum comes by.
ANALYZE_AFTER_ROWS = 20_000


def analyze_after(written: int, table: str, at_least: int | None = None) -> None:
    if written >= (ANALYZE_AFTER_ROWS if at_least is None else at_least):
        analyze(table)


# --- the day's standard packages --------------------------------------------------------------


def stage_standard() -> None:
    """A fresh stage of the households due a standard package (one row each: the first cycle
    group that stages a household keeps it)."""
    stage_table(
        STANDARD_STAGE,
        "household_id bigint PRIMARY KEY, building_id bigint NOT NULL, community_id bigint NOT NULL,"
        " district_id bigint NOT NULL, item_id bigint NOT NULL, every_days integer NOT NULL,"
        " vulnerable boolean NOT NULL",
    )


def stage_due(
    chosen: str,
    chosen_params: list[Any],
    *,
    day: date,
    since: date,
    item_id: int,
    every_days: int,
    today: date,
) -> None:
    """Stage the households of `chosen` (a sub-select of household ids) that no standard package
    covers on `day` (rules.standard_package_due: none since `since` that was not cancelled, and
    none of `day` itself), each with its vulnerability (computed once, here)."""
    vulnerable, vulnerable_params = household_vulnerable_sql("p", today)
    run(
        f"""
        INSERT INTO {STANDARD_STAGE} (household_id, building_id, community_id, district_id, item_id,
                                      every_days, vulnerable)
        SELECT h.id, h.building_id, h.community_id, h.district_id, %s, %s, {vulnerable}
        FROM {city_sql.HOUSEHOLDS} h
        LEFT JOIN {city_sql.HOUSEHOLD_PROFILES} p ON p.household_id = h.id
        WHERE h.id IN ({chosen})
          AND NOT EXISTS (
              SELECT 1 FROM delivery_order o
              WHERE o.household_id = h.id AND o.kind = 'standard' AND o.cycle_day >= %s
                AND (o.state <> 'cancelled' OR o.cycle_day = %s))
        ON CONFLICT DO NOTHING
        """,
        [item_id, every_days, *vulnerable_params, *chosen_params, since, day],
    )


def standard_waiting(*, due_vulnerable: datetime, due_normal: datetime) -> tuple[str, list[Any]]:
    """The staged households as `waiting` for insert_tasks: a building's task is due by its
    most urgent order's deadline, and delivered to the door."""
    return (
        f"""
        SELECT s.building_id, MIN(s.community_id) AS community_id, MIN(s.district_id) AS district_id,
               MIN(CASE WHEN s.vulnerable THEN %s ELSE %s END) AS due_at,
               {bool_or()}(s.vulnerable) AS vulnerable, {false()} AS pickup
        FROM {STANDARD_STAGE} s
        """,
        [db_datetime(due_vulnerable), db_datetime(due_normal)],
    )


def insert_standard(*, day: date, placed_at: datetime, due_vulnerable: datetime, due_normal: datetime) -> int:
    """The staged households' orders, each in its building's open task of the day (`assigned`),
    or `open` when the building has none; the number written."""
    return run(
        f"""
        INSERT INTO delivery_order (household_id, building_id, community_id, district_id, kind, state,
                                    cycle_day, vulnerable, pickup, placed_at, due_at, placed_by, note,
                                    recipient_code, attempts, task_id)
        SELECT s.household_id, s.building_id, s.community_id, s.district_id, 'standard',
               CASE WHEN t.id IS NULL THEN 'open' ELSE 'assigned' END, %s,
               s.vulnerable, {false()}, %s, CASE WHEN s.vulnerable THEN %s ELSE %s END,
               'standard packages (' || CAST(s.every_days AS text) || ' days)', '', {random_digits(6)}, 0,
               t.id
        FROM {STANDARD_STAGE} s
        LEFT JOIN delivery_deliverytask t
               ON t.building_id = s.building_id AND t.day = %s AND t.state = 'open'
        ORDER BY s.building_id, s.household_id
        """,
        [day, db_datetime(placed_at), db_datetime(due_vulnerable), db_datetime(due_normal), day],
    )


def insert_standard_lines(*, day: date) -> None:
    """One line of each new standard order: its group's package, found by the order's
    (household, cycle day), which is unique among standard orders."""
    run(
        f"""
        INSERT INTO delivery_orderline (order_id, item_id, quantity)
        SELECT o.id, s.item_id, 1
        FROM {STANDARD_STAGE} s
        JOIN delivery_order o ON o.household_id = s.household_id AND o.kind = 'standard'
                             AND o.cycle_day = %s
        """,
        [day],
    )


def drop_standard() -> None:
    drop_table(STANDARD_STAGE)


# --- building tasks ---------------------------------------------------------------------------


def order_scope(table: str, equal: Sequence[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """`AND …` conditions on the orders of `table` (an alias or the table's name): each column
    of `equal` equal to its value. Table and columns are the callers' constants."""
    return " ".join(f"AND {table}.{column} = %s" for column, _value in equal), [value for _c, value in equal]


def open_orders_waiting(scope: str, scope_params: list[Any]) -> tuple[str, list[Any]]:
    """The open orders not in a task (within `scope`, on alias `o`) as `waiting` for
    insert_tasks: a building's task is due by its most urgent order, and is a pick-up only when
    every order is one."""
    return (
        f"""
        SELECT o.building_id, MIN(o.community_id) AS community_id, MIN(o.district_id) AS district_id,
               MIN(o.due_at) AS due_at, {bool_or()}(o.vulnerable) AS vulnerable,
               {bool_and()}(o.pickup) AS pickup
        FROM delivery_order o
        WHERE o.state = 'open' AND o.task_id IS NULL {scope}
        """,
        scope_params,
    )


def insert_tasks(waiting: str, params: list[Any], *, day: date, first_slot: tuple[datetime, datetime]) -> int:
    """A new task of the day for each building that `waiting` lists and that has no open task
    today (its next batch); the number made. `waiting` selects, for the orders to dispatch,
    building, community, district, deadline, vulnerability and pick-up, in that order, without
    GROUP BY. A pick-up task gets `first_slot` (staggered afterwards). Staged first, so that the
    INSERT does not read the tasks it writes."""
    stage_table(
        TASK_STAGE,
        "building_id bigint PRIMARY KEY, community_id bigint NOT NULL, district_id bigint NOT NULL,"
        f" batch integer NOT NULL, due_at {time_type()} NOT NULL, vulnerable boolean NOT NULL,"
        " pickup boolean NOT NULL",
    )
    staged = run(
        f"""
        INSERT INTO {TASK_STAGE}
               (building_id, community_id, district_id, due_at, vulnerable, pickup, batch)
        SELECT w.building_id, w.community_id, w.district_id, w.due_at, w.vulnerable, w.pickup,
               COALESCE(b.top, 0) + 1
        FROM ({waiting} GROUP BY 1) w
        LEFT JOIN (
            SELECT t.building_id, MAX(t.batch) AS top,
                   MAX(CASE WHEN t.state = 'open' THEN 1 ELSE 0 END) AS has_open
            FROM delivery_deliverytask t WHERE t.day = %s GROUP BY t.building_id
        ) b ON b.building_id = w.building_id
        WHERE COALESCE(b.has_open, 0) = 0
        """,
        [*params, day],
    )
    analyze_after(staged, TASK_STAGE, at_least=1_000)
    tasks = run(
        f"""
        INSERT INTO delivery_deliverytask (building_id, community_id, district_id, day, batch, state,
                                           due_at, vulnerable, pickup_from, pickup_until)
        SELECT s.building_id, s.community_id, s.district_id, %s, s.batch, 'open', s.due_at,
               s.vulnerable, CASE WHEN s.pickup THEN %s END, CASE WHEN s.pickup THEN %s END
        FROM {TASK_STAGE} s
        ORDER BY s.building_id
        """,
        [day, db_datetime(first_slot[0]), db_datetime(first_slot[1])],
    )
    drop_table(TASK_STAGE)
    analyze_after(tasks, "delivery_deliverytask", at_least=1_000)
    return tasks


def assign_open_orders(*, day: date, scope: str, scope_params: list[Any]) -> int:
    """Every open order not in a task (within `scope`, on the table's own name) into its
    building's open task of the day; the number assigned."""
    return run(
        f"""
        UPDATE delivery_order SET task_id = t.id, state = 'assigned'
        FROM delivery_deliverytask t
        WHERE delivery_order.state = 'open' AND delivery_order.task_id IS NULL
          AND t.building_id = delivery_order.building_id AND t.day = %s AND t.state = 'open'
          {scope}
        """,
        [day, *scope_params],
    )


def refresh_open_tasks(day: date) -> None:
    """An open task's deadline and vulnerability follow the orders it holds now."""
    run(
        f"""
        UPDATE delivery_deliverytask SET
            due_at = (SELECT MIN(o.due_at) FROM delivery_order o
                      WHERE o.task_id = delivery_deliverytask.id),
            vulnerable = (SELECT {bool_or()}(o.vulnerable)
                          FROM delivery_order o WHERE o.task_id = delivery_deliverytask.id)
        WHERE day = %s AND state = 'open'
          AND EXISTS (SELECT 1 FROM delivery_order o WHERE o.task_id = delivery_deliverytask.id)
        """,
        [day],
    )


def last_delivery_keep(*, household_id: int, order_id: int, at: datetime) -> None:
    """The household's last delivery is this one, unless a later one is already kept (two
    volunteers' confirmations crossing)."""
    run(
        """
        INSERT INTO delivery_lastdelivery (household_id, delivered_at, order_id) VALUES (%s, %s, %s)
        ON CONFLICT (household_id) DO UPDATE
            SET delivered_at = excluded.delivered_at, order_id = excluded.order_id
            WHERE delivery_lastdelivery.delivered_at <= excluded.delivered_at
        """,
        [household_id, db_datetime(at), order_id],
    )


# --- coverage ---------------------------------------------------------------------------------


def _tune() -> None:
    """PostgreSQL, for the coverage reads only: no JIT (compiling their plans cost more than it
    saved)."""
    set_local(jit="off")


def coverage_rows(
    served: str, served_params: list[Any], *, today_start: datetime, cycle_start: datetime, today: date
) -> list[tuple[Any, ...]]:
    """Per community of `served` (a sub-select of the households' id and community_id): its name,
    households, reached since `today_start`, not reached since `cycle_start`, and of those the
    vulnerable. Inside a transaction (the planner setting is the transaction's)."""
    vulnerable, vulnerable_params = household_vulnerable_sql("p", today)
    since_today, since_cycle = db_datetime(today_start), db_datetime(cycle_start)
    # Grouped by community id (a hash of the communities), named afterwards: grouping every
    # locked household by name sorted them on disk.
    _tune()
    return rows(
        f"""
        SELECT x.community_id, c.name, x.locked, x.reached_today, x.not_reached, x.vulnerable_not_reached
        FROM (
            SELECT h.community_id, COUNT(*) AS locked,
                   SUM(CASE WHEN d.delivered_at >= %s THEN 1 ELSE 0 END) AS reached_today,
                   SUM(CASE WHEN d.delivered_at >= %s THEN 0 ELSE 1 END) AS not_reached,
                   SUM(CASE WHEN d.delivered_at >= %s THEN 0 WHEN {vulnerable} THEN 1 ELSE 0 END)
                       AS vulnerable_not_reached
            FROM ({served}) h
            LEFT JOIN delivery_lastdelivery d ON d.household_id = h.id
            LEFT JOIN {city_sql.HOUSEHOLD_PROFILES} p ON p.household_id = h.id
            GROUP BY h.community_id
        ) x
        JOIN {city_sql.COMMUNITIES} c ON c.id = x.community_id
        ORDER BY c.name, x.community_id
        """,
        [since_today, since_cycle, since_cycle, *vulnerable_params, *served_params],
    )


def not_reached_rows(
    served: str, served_params: list[Any], *, cycle_start: datetime, today: date, limit: int | None
) -> list[tuple[Any, ...]]:
    """The households of `served` (a sub-select of id, address and building_id) with no delivery
    since `cycle_start`: id, address, building, vulnerable, last delivered at, last order;
    vulnerable first, then never reached, then the longest waiting. Inside a transaction."""
    vulnerable, vulnerable_params = household_vulnerable_sql("p", today)
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    _tune()
    return rows(
        f"""
        SELECT x.id, x.address, x.building_id, x.vulnerable, x.last, x.order_id FROM (
            SELECT h.id, h.address, h.building_id, {vulnerable} AS vulnerable,
                   d.delivered_at AS last, d.order_id
            FROM ({served}) h
            LEFT JOIN delivery_lastdelivery d ON d.household_id = h.id
            LEFT JOIN {city_sql.HOUSEHOLD_PROFILES} p ON p.household_id = h.id
        ) x
        WHERE x.last IS NULL OR x.last < %s
        ORDER BY x.vulnerable DESC, CASE WHEN x.last IS NULL THEN 0 ELSE 1 END, x.last, x.address
        {limit_sql}
        """,
        [*vulnerable_params, *served_params, db_datetime(cycle_start)],
    )
