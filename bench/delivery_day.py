"""Supplies and the last 100 metres (issue 5): a day's standard packages and building tasks for
1,000,000 locked households, the coverage board, and 50 volunteers racing for 10,000 tasks.

    .venv/bin/python bench/delivery_day.py --keep            # make bench-delivery

Runs on PostgreSQL on 127.0.0.1:5432 in a database of its own (`bench_delivery`): created,
migrated and filled with a city generated the way `bastion city generate` does it (seed 1,
3,000,000 residents: 1,147,737 households), unless `--keep` finds a city of that size there.
Each run clears the zones, cases, supply and delivery tables (and their audit rows), then,
untimed:

- locks `--locked` households exactly: high-risk zones in force (v9, step `high`) over whole
  compounds drawn at random, then buildings, units and single households of the next compounds
  to make up the count (bulk-inserted with their open periods, then ANALYZEd). The same set is
  computed here independently (households by compound/building/unit/id of the zones) into
  `bench_delivery_locked`, with each household's vulnerability (a resident living alone,
  disabled, pregnant, in regular treatment, elderly or an infant, as the city generated them);
- registers a supplier and the policy's standard package `vegetable-10kg` (supply services);
- writes `--history-cycles` earlier cycles (every 3 days before today) of standard packages
  and their building tasks, done: delivered to 97 % of the locked households at times spread
  over the 60 hours after each cycle day, so that the tables hold what a lockdown of a week
  holds; then VACUUM ANALYZE (what autovacuum does within minutes). `--history-cycles 0` is
  the first day of a lockdown on empty delivery tables (see docs/BENCHMARKS.md: it does not
  finish in reasonable time with 1 M households).

Timed, each checked against the independent set:

1. `standard_orders_create(day=today)` then `tasks_build(day=today)` with a city actor
   (`SYSTEM`), each step and each of its statements and COMMITs timed (a wrapper on Django's
   cursor and commit); auto_explain prints the plan chosen for every statement over 1 s
   (without ANALYZE: no instrumentation, nothing slowed down).
   Checked: orders = locked households (and vulnerable ones), one line each, tasks = buildings
   holding them, every order assigned to its building's task. Goal: under 60 s together.
2. Then (untimed) 60 % of today's orders are marked delivered since midnight, and
   `coverage(actor=SYSTEM, now=...)` over every community is run `--repeat` times (median), and
   `not_reached` for the community with the most locked households (its first 500, and all).
   Checked community by community: locked, reached today, not reached within the cycle and of
   those the vulnerable, against one hand-written query; `not_reached` lists the coverage's
   count, vulnerable first. Goal: coverage under 2 s.
3. The claim race: the community with the most buildings gets exactly `--tasks` open tasks
   today (the ones `tasks_build` made and further batches of its buildings, bulk-inserted),
   `--volunteers` volunteer accounts of that community (`account_grant`, role volunteer); the
   platform is served by granian (3 workers x 2 blocking threads, `--interface wsgi`, as
   bench/scan_api.py does), each client thread logs in through the console's login form (a
   session and its CSRF cookie, untimed), then all start together and each repeatedly GETs
   /api/v1/delivery/tasks/open and POSTs /api/v1/delivery/tasks/{id}/claim for one of the
   first `--pick-from` tasks listed (at random) until none is open. Checked in the database:
   every task claimed once by one volunteer, the 200 answers = tasks, each client's wins = its
   tasks, one audit row per claim; 409s counted, no 5xx, no deadlock in answers or the log.

With `--explain auto` (default) a missed goal is diagnosed: step 1 is re-run in a transaction
rolled back afterwards, with auto_explain sending every plan over 200 ms (ANALYZE, BUFFERS) to
this client (not quite the timed conditions: the day's rows deleted in that transaction are
still in the tables); the coverage statement gets an EXPLAIN (ANALYZE, BUFFERS).

Figures go to stdout and bench/out/delivery_day.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
AS_OF = date(2022, 9, 1)
PORT = 8098
PASSWORD = os.urandom(12).hex()  # this run's, set on every volunteer account (one hash)
LOCKED_TABLE = "bench_delivery_locked"
DISPATCH_GOAL_S = 60.0
COVERAGE_GOAL_S = 2.0
DELIVERED_TODAY = 0.6  # share of today's orders marked delivered before the coverage is read


# --------------------------------------------------------------------------- set-up


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _database(name: str, residents: int, keep: bool) -> bool:
    """Create `name` unless kept; True when the city must be generated."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if keep and exists:
            with psycopg.connect(_url(name)) as db:
                try:
                    row = db.execute(
                        "SELECT after->>'residents' FROM core_auditentry"
                        " WHERE action = 'city.registry.generated' ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                except psycopg.errors.UndefinedTable:
                    row = None
            if row and int(row[0]) == residents:
                return False
            print(f"{name} holds no city of {residents:,} residents: generating one", flush=True)
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def _server_env(name: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": _url(name),
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghij",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "false",
        # Served on plain http on loopback, on purpose: no redirect to https.
        "SECURE_SSL_REDIRECT": "false",
        "BASTION_HOME": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bastion.settings",
    }


def _setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = _url(name)
    os.environ["BASTION_DEV"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bastion.settings"
    os.environ.pop("BASTION_SUPPLY_POLICY_FILE", None)
    import django

    django.setup()


def _generate(residents: int) -> float:
    from bastion.city import services
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM

    started = time.perf_counter()
    services.city_generate(
        residents=residents, seed=1, as_of=AS_OF, replace=True, actor=SYSTEM, now=clock.now()
    )
    return time.perf_counter() - started


def _sql(statement: str, params: list[Any] | tuple[Any, ...] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return list(cursor.fetchall()) if cursor.description else []


def _one(statement: str, params: list[Any] | None = None) -> Any:
    return _sql(statement, params)[0][0]


def _clear() -> None:
    """Zones, cases, supplies and deliveries of earlier runs go, with their audit rows; the city
    and the volunteers' accounts stay."""
    from django.apps import apps

    tables = [
        m._meta.db_table
        for label in ("delivery", "supply", "zones", "cases")
        for m in apps.get_app_config(label).get_models()
    ]
    _sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    _sql(
        "DELETE FROM core_auditentry WHERE action LIKE 'delivery.%%' OR action LIKE 'supply.%%'"
        " OR action LIKE 'zones.%%' OR action LIKE 'cases.%%'"
    )
    _sql(f"DROP TABLE IF EXISTS {LOCKED_TABLE}")


def _analyze(*tables: str) -> None:
    for table in tables:
        _sql(f'ANALYZE "{table}"')


# --------------------------------------------------------------------------- the lockdown


def _lock(target: int, today: date, rng: random.Random) -> dict[str, Any]:
    """High zones in force holding exactly `target` households: whole compounds at random, then
    the buildings, units and households of the next compounds to make up the count."""
    from bastion.city.models import Building, Compound, Household, Unit
    from bastion.core import clock
    from bastion.zones.models import Zone, ZonePeriod

    sizes = dict(_sql("SELECT compound_id, count(*) FROM city_household GROUP BY compound_id"))
    compounds = sorted(sizes)
    rng.shuffle(compounds)
    areas: list[tuple[str, int]] = []  # (area, id)
    left = target
    for compound in compounds:
        if left == 0:
            break
        if sizes[compound] <= left:
            areas.append(("compound", compound))
            left -= sizes[compound]
            continue
        # The tail: the buildings of this compound that still fit, else their units, else
        # single households, until the count is made up.
        left = _tail(compound, left, areas)
    if left:
        raise SystemExit(f"the city holds fewer than {target:,} households: raise --residents")

    by_area: dict[str, list[int]] = defaultdict(list)
    for area, part in areas:
        by_area[area].append(part)
    places: dict[str, dict[int, dict[str, Any]]] = {
        "compound": {
            c["id"]: c
            for c in Compound.objects.filter(pk__in=by_area["compound"]).values(
                "id", "community_id", "district_id", "code"
            )
        },
        "building": {
            b["id"]: b
            for b in Building.objects.filter(pk__in=by_area["building"]).values(
                "id", "compound_id", "community_id", "district_id", "number"
            )
        },
        "unit": {
            u["id"]: u
            for u in Unit.objects.filter(pk__in=by_area["unit"]).values(
                "id", "building_id", "compound_id", "community_id", "district_id"
            )
        },
        "household": {
            h["id"]: h
            for h in Household.objects.filter(pk__in=by_area["household"]).values(
                "id", "unit_id", "building_id", "compound_id", "community_id", "district_id", "address"
            )
        },
    }
    start = today - timedelta(days=2)
    proposed = datetime.combine(start, datetime.min.time(), clock.city_zone())
    zones = []
    for i, (area, part) in enumerate(areas):
        place = places[area][part]
        zones.append(
            Zone(
                code=f"BD-{i:06d}",
                level="high",
                state="in_force",
                protocol="v9",
                step="high",
                area=area,
                address=str(place.get("address") or place.get("code") or f"{area} {part}")[:80],
                compound_id=part if area == "compound" else place["compound_id"],
                building_id=part if area == "building" else place.get("building_id"),
                unit_id=part if area == "unit" else place.get("unit_id"),
                household_id=part if area == "household" else None,
                community_id=place["community_id"],
                district_id=place["district_id"],
                proposed_at=proposed,
                since=start,
                clock_start=start,
                reason="bench: delivery day",
            )
        )
    Zone.objects.bulk_create(zones, batch_size=2000)
    ZonePeriod.objects.bulk_create(
        (ZonePeriod(zone_id=z.pk, level=z.level, district_id=z.district_id, start_on=start) for z in zones),
        batch_size=2000,
    )
    _analyze("zones_zone", "zones_zoneperiod")
    return {area: len(ids) for area, ids in by_area.items()}


def _tail(compound: int, left: int, areas: list[tuple[str, int]]) -> int:
    rows = _sql(
        "SELECT building_id, unit_id, id FROM city_household WHERE compound_id = %s"
        " ORDER BY building_id, unit_id, id",
        [compound],
    )
    buildings: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for building, unit, household in rows:
        buildings[building][unit].append(household)
    for building, units in buildings.items():
        size = sum(len(h) for h in units.values())
        if size <= left:
            areas.append(("building", building))
            left -= size
            continue
        for unit, households in units.items():
            if len(households) <= left:
                areas.append(("unit", unit))
                left -= len(households)
                continue
            for household in households[:left]:
                areas.append(("household", household))
            return 0
    return left


def _locked_table(today: date) -> tuple[int, int, int]:
    """The locked households computed here from the zones' places (not through the product's
    selectors), with their vulnerability. Returns (households, vulnerable, buildings)."""
    from bastion.city.selectors import elderly_cutoff, infant_cutoff

    _sql(
        f"""
        CREATE UNLOGGED TABLE {LOCKED_TABLE} AS
        SELECT h.id, h.building_id, h.community_id, h.district_id,
               EXISTS (SELECT 1 FROM city_resident r WHERE r.household_id = h.id AND (
                   r.living_alone OR r.disabled OR r.pregnant OR r.chronic_treatment <> ''
                   OR r.birth_date <= %s OR r.birth_date > %s)) AS vulnerable
        FROM city_household h
        WHERE h.compound_id IN (SELECT compound_id FROM zones_zone WHERE area = 'compound')
           OR h.building_id IN (SELECT building_id FROM zones_zone WHERE area = 'building')
           OR h.unit_id IN (SELECT unit_id FROM zones_zone WHERE area = 'unit')
           OR h.id IN (SELECT household_id FROM zones_zone WHERE area = 'household')
        """,
        [elderly_cutoff(today), infant_cutoff(today)],
    )
    _sql(f"ALTER TABLE {LOCKED_TABLE} ADD PRIMARY KEY (id)")
    _analyze(LOCKED_TABLE)
    row = _sql(
        f"SELECT count(*), count(*) FILTER (WHERE vulnerable), count(DISTINCT building_id)"
        f" FROM {LOCKED_TABLE}"
    )
    return int(row[0][0]), int(row[0][1]), int(row[0][2])


def _supply() -> int:
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM
    from bastion.supply import services as supply
    from bastion.supply.policy import policy

    now = clock.now()
    supply.supplier_register(
        code="BENCH-VEG",
        name="bench vegetable supplier",
        contact_name="Bench Contact",
        contact_phone="13800000000",
        actor=SYSTEM,
        now=now,
    )
    item = supply.item_add(
        code=policy().standard_item,
        name="vegetables 10 kg",
        category="vegetables",
        supplier_code="BENCH-VEG",
        price="60.00",
        package=True,
        contents="cabbage, potatoes, carrots, onions, tomatoes",
        declared_weight_kg="10",
        actor=SYSTEM,
        now=now,
    )
    return int(item.pk)


def _history(cycles: int, today: date, item_id: int, rng: random.Random) -> int:
    """Earlier cycles' standard packages (every 3 days before today) with their building tasks,
    done: delivered to 97 % of the locked households within the 60 hours after 06:00 of each
    cycle day (so some of the last cycle fall in the current cycle's window)."""
    from django.contrib.auth import get_user_model

    from bastion.city import services as city
    from bastion.city.models import Community
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM

    name = "bench-volunteer-history"
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        user = city.account_grant(
            username=name,
            password=os.urandom(12).hex(),
            role="volunteer",
            community=Community.objects.order_by("pk").first(),
            actor=SYSTEM,
            now=clock.now(),
        ).user
    written = 0
    _sql("SELECT setseed(%s)", [rng.random()])
    for cycle in range(cycles, 0, -1):
        day = today - timedelta(days=3 * cycle)
        placed = datetime.combine(day, datetime.min.time(), clock.city_zone()) + timedelta(hours=6)
        _sql(
            f"""
            INSERT INTO delivery_deliverytask (building_id, community_id, district_id, day, batch, state,
                volunteer_id, claimed_at, done_at, due_at, vulnerable)
            SELECT building_id, min(community_id), min(district_id), %s, 1, 'done', %s,
                   %s + interval '1 hour', %s + interval '60 hours', %s + interval '24 hours',
                   bool_or(vulnerable)
            FROM {LOCKED_TABLE} GROUP BY building_id
            """,
            [day, user.pk, placed, placed, placed],
        )
        _sql(
            f"""
            WITH new AS (
                INSERT INTO delivery_order (household_id, building_id, community_id, district_id, kind, state,
                    cycle_day, vulnerable, pickup, placed_at, due_at, placed_by, note, recipient_code,
                    attempts, delivered_at, measured_weight_kg, task_id)
                SELECT l.id, l.building_id, l.community_id, l.district_id, 'standard', 'delivered', %s,
                       l.vulnerable, FALSE, %s, %s + interval '24 hours', 'bench history', '',
                       lpad(CAST(CAST(floor(random() * 1000000) AS integer) AS text), 6, '0'), 1,
                       %s + random() * interval '60 hours', 10.00, t.id
                FROM {LOCKED_TABLE} l
                JOIN delivery_deliverytask t ON t.building_id = l.building_id AND t.day = %s AND t.batch = 1
                WHERE random() < 0.97
                ORDER BY l.id
                RETURNING id
            )
            INSERT INTO delivery_orderline (order_id, item_id, quantity) SELECT id, %s, 1 FROM new
            """,
            [day, placed, placed, placed, day, item_id],
        )
        written += int(_one("SELECT count(*) FROM delivery_order WHERE cycle_day = %s", [day]))
    _keep_last_deliveries()
    return written


def _keep_last_deliveries() -> None:
    """What services.order_deliver keeps delivery by delivery (each household's last delivery),
    for the deliveries this script writes by SQL; coverage's own check reads the orders."""
    _sql(
        """
        INSERT INTO delivery_lastdelivery (household_id, delivered_at, order_id)
        SELECT DISTINCT ON (household_id) household_id, delivered_at, id FROM delivery_order
        WHERE state = 'delivered' ORDER BY household_id, delivered_at DESC, id DESC
        ON CONFLICT (household_id) DO UPDATE
            SET delivered_at = excluded.delivered_at, order_id = excluded.order_id
            WHERE delivery_lastdelivery.delivered_at <= excluded.delivered_at
        """
    )
    _analyze("delivery_lastdelivery")


# --------------------------------------------------------------------------- statement timing


@dataclass
class QueryLog:
    """Every statement run while `active`, with its time: where a step's time goes."""

    active: bool = False
    rows: list[tuple[float, str, Any]] = field(default_factory=list)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not self.active:
            return execute(sql, params, many, context)
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.rows.append((time.perf_counter() - t0, sql, None if many else params))

    @contextmanager
    def on(self) -> Iterator[QueryLog]:
        self.rows = []
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def statements(self, k: int = 8) -> list[dict[str, Any]]:
        top = sorted(self.rows, key=lambda r: r[0], reverse=True)[:k]
        return [{"s": round(seconds, 3), "sql": _short(sql)} for seconds, sql, _params in top]


def _short(sql: str, width: int = 140) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= width else sql[: width - 1] + "…"


# --------------------------------------------------------------------------- 1. the day's dispatch


@contextmanager
def _plans(min_ms: int, analyze: bool) -> Iterator[list[str]]:
    """auto_explain's plans of every statement over `min_ms` sent to this client as notices.
    Without `analyze` only the plan chosen is printed (no instrumentation: nothing slows down)."""
    from django.db import connection

    plans: list[str] = []
    connection.ensure_connection()
    raw = connection.connection

    def notice(diag: Any) -> None:
        plans.append(diag.message_primary or "")

    _sql("LOAD 'auto_explain'")
    settings = {
        "auto_explain.log_min_duration": f"{min_ms}ms",
        "auto_explain.log_analyze": "on" if analyze else "off",
        "auto_explain.log_buffers": "on" if analyze else "off",
        "auto_explain.log_nested_statements": "on",
        "auto_explain.log_level": "notice",
        "client_min_messages": "notice",
    }
    for setting, value in settings.items():
        _sql(f"SET {setting} = '{value}'")
    raw.add_notice_handler(notice)
    try:
        yield plans
    finally:
        raw.remove_notice_handler(notice)
        _sql("SET auto_explain.log_min_duration = '-1'")
        _sql("RESET client_min_messages")


@contextmanager
def _commits_timed(log: QueryLog) -> Iterator[None]:
    """Each COMMIT's time in `log` too: deferred constraints (the foreign keys Django declares
    DEFERRABLE INITIALLY DEFERRED) are checked there, row by row."""
    from django.db import connection

    commit = connection._commit

    def timed() -> Any:
        t0 = time.perf_counter()
        try:
            return commit()
        finally:
            if log.active:
                log.rows.append((time.perf_counter() - t0, "COMMIT", None))

    connection._commit = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        del connection._commit


def _dispatch(today: date, now: datetime, log: QueryLog) -> dict[str, Any]:
    from bastion.core.scopes import SYSTEM
    from bastion.delivery import services

    figure: dict[str, Any] = {}
    with _plans(1000, analyze=False) as plans, _commits_timed(log):
        with log.on():
            t0 = time.perf_counter()
            packaged = services.standard_orders_create(day=today, actor=SYSTEM, now=now)
            figure["standard_orders_create_s"] = round(time.perf_counter() - t0, 2)
        figure["standard_orders_statements"] = log.statements()
        with log.on():
            t0 = time.perf_counter()
            built = services.tasks_build(day=today, actor=SYSTEM, now=now)
            figure["tasks_build_s"] = round(time.perf_counter() - t0, 2)
        figure["tasks_build_statements"] = log.statements()
    figure["plans_chosen"] = plans
    figure["total_s"] = round(figure["standard_orders_create_s"] + figure["tasks_build_s"], 2)
    # The standard packages go straight into their buildings' tasks; tasks_build then has only
    # the orders of other kinds (none here) to place.
    figure.update(
        orders=packaged.orders,
        tasks=packaged.tasks + built.tasks,
        assigned=packaged.assigned + built.assigned,
    )
    return figure


def _check_dispatch(figure: dict[str, Any], today: date, locked: tuple[int, int, int], item_id: int) -> None:
    households, vulnerable, buildings = locked
    row = _sql(
        f"""
        SELECT count(*), count(DISTINCT o.household_id), count(*) FILTER (WHERE o.vulnerable),
               count(*) FILTER (WHERE o.state = 'assigned' AND t.id IS NOT NULL
                                AND t.building_id = o.building_id AND t.day = %s AND t.state = 'open'),
               count(l.id), count(*) FILTER (WHERE o.vulnerable = l.vulnerable)
        FROM delivery_order o
        LEFT JOIN delivery_deliverytask t ON t.id = o.task_id
        LEFT JOIN {LOCKED_TABLE} l ON l.id = o.household_id
        WHERE o.kind = 'standard' AND o.cycle_day = %s
        """,
        [today, today],
    )[0]
    lines = _sql(
        "SELECT count(*), count(*) FILTER (WHERE l.item_id = %s AND l.quantity = 1)"
        " FROM delivery_orderline l JOIN delivery_order o ON o.id = l.order_id"
        " WHERE o.kind = 'standard' AND o.cycle_day = %s",
        [item_id, today],
    )[0]
    tasks = _sql(
        "SELECT count(*), count(DISTINCT building_id), count(*) FILTER (WHERE NOT EXISTS ("
        " SELECT 1 FROM delivery_order o WHERE o.task_id = t.id))"
        " FROM delivery_deliverytask t WHERE day = %s",
        [today],
    )[0]
    checks = {
        "orders = locked households": (figure["orders"], row[0], row[1], row[4], households),
        "vulnerable orders = vulnerable households": (row[2], vulnerable),
        "each order's vulnerability = the one computed here": (row[5], households),
        "one line of the standard package each": (lines[0], lines[1], households),
        "tasks = buildings holding them": (figure["tasks"], tasks[0], tasks[1], buildings),
        "every order assigned to its building's open task": (figure["assigned"], row[3], households),
        "tasks without orders": (tasks[2], 0),
    }
    figure["checks"] = {name: list(values) for name, values in checks.items()}
    failed = [name for name, values in checks.items() if len(set(values)) != 1]
    if failed:
        raise SystemExit(f"dispatch checks failed: {failed}: {figure['checks']}")


def _diagnose_dispatch(today: date, now: datetime) -> list[str]:
    """Step 1 again in a transaction rolled back, with every plan over 200 ms sent here with
    ANALYZE and BUFFERS. Not the timed run's conditions: the day's rows are deleted (dead to
    this transaction, still in the tables and indexes), and the statistics are whatever
    autovacuum left since."""
    from django.db import transaction

    from bastion.core.scopes import SYSTEM
    from bastion.delivery import services

    with transaction.atomic():
        _sql(
            "DELETE FROM delivery_orderline WHERE order_id IN (SELECT id FROM delivery_order"
            " WHERE kind = 'standard' AND cycle_day = %s)",
            [today],
        )
        _sql("DELETE FROM delivery_order WHERE kind = 'standard' AND cycle_day = %s", [today])
        _sql("DELETE FROM delivery_deliverytask WHERE day = %s", [today])
        with _plans(200, analyze=True) as plans:
            t0 = time.perf_counter()
            services.standard_orders_create(day=today, actor=SYSTEM, now=now)
            services.tasks_build(day=today, actor=SYSTEM, now=now)
            seconds = time.perf_counter() - t0
        transaction.set_rollback(True)
    return [*plans, f"(re-run under auto_explain with ANALYZE: {seconds:.1f} s)"]


# --------------------------------------------------------------------------- 2. coverage


def _deliver_today(today: date, now: datetime, rng: random.Random) -> int:
    from bastion.core import clock

    midnight = datetime.combine(today, datetime.min.time(), clock.city_zone())
    _sql("SELECT setseed(%s)", [rng.random()])
    _sql(
        "UPDATE delivery_order SET state = 'delivered', attempts = 1, measured_weight_kg = 10.00,"
        " delivered_at = %s + random() * (%s - %s)"
        " WHERE kind = 'standard' AND cycle_day = %s AND random() < %s",
        [midnight, now, midnight, today, DELIVERED_TODAY],
    )
    _analyze("delivery_order")
    _keep_last_deliveries()
    return int(
        _one("SELECT count(*) FROM delivery_order WHERE cycle_day = %s AND state = 'delivered'", [today])
    )


def _expected_coverage(now: datetime) -> dict[int, tuple[int, int, int, int]]:
    from bastion.core import clock
    from bastion.supply.policy import policy

    today = clock.local_date(now)
    start = datetime.combine(today, datetime.min.time(), clock.city_zone())
    cycle = start - timedelta(days=policy().standard_every_days - 1)
    rows = _sql(
        f"""
        SELECT l.community_id, count(*), count(*) FILTER (WHERE d.last >= %s),
               count(*) FILTER (WHERE d.last IS NULL), count(*) FILTER (WHERE d.last IS NULL AND l.vulnerable)
        FROM {LOCKED_TABLE} l
        LEFT JOIN (SELECT household_id, max(delivered_at) AS last FROM delivery_order
                   WHERE state = 'delivered' AND delivered_at >= %s GROUP BY household_id) d
               ON d.household_id = l.id
        GROUP BY l.community_id
        """,
        [start, cycle],
    )
    return {int(r[0]): (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def _coverage(now: datetime, repeat: int, log: QueryLog) -> dict[str, Any]:
    from bastion.core.scopes import SYSTEM
    from bastion.delivery import selectors

    runs, rows = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rows = selectors.coverage(actor=SYSTEM, now=now)
        runs.append(round(time.perf_counter() - t0, 3))
    expected = _expected_coverage(now)
    got = {r.community_id: (r.locked, r.reached_today, r.not_reached, r.vulnerable_not_reached) for r in rows}
    if got != expected:
        wrong = [c for c in set(got) | set(expected) if got.get(c) != expected.get(c)][:5]
        raise SystemExit(
            f"coverage differs from the hand-written query in {wrong}:"
            f" {[(got.get(c), expected.get(c)) for c in wrong]}"
        )
    totals = [sum(v[i] for v in got.values()) for i in range(4)]
    largest = max(got, key=lambda c: (got[c][0], -c))
    figure: dict[str, Any] = {
        "runs_s": runs,
        "median_s": round(statistics.median(runs), 3),
        "communities": len(rows),
        "locked": totals[0],
        "reached_today": totals[1],
        "not_reached": totals[2],
        "vulnerable_not_reached": totals[3],
        "largest_community": {"id": largest, "locked": got[largest][0], "not_reached": got[largest][2]},
    }
    for label, limit in (("not_reached_500", 500), ("not_reached_all", None)):
        times, listed = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            listed = selectors.not_reached(actor=SYSTEM, now=now, community_id=largest, limit=limit)
            times.append(round(time.perf_counter() - t0, 3))
        want = got[largest][2] if limit is None else min(limit, got[largest][2])
        flags = [u.vulnerable for u in listed]
        if len(listed) != want or flags != sorted(flags, reverse=True):
            raise SystemExit(f"not_reached({largest}, limit={limit}): {len(listed)} listed for {want}")
        if limit is None and sum(flags) != got[largest][3]:
            raise SystemExit(f"not_reached({largest}): {sum(flags)} vulnerable for {got[largest][3]}")
        figure[label] = {
            "runs_s": times,
            "median_s": round(statistics.median(times), 3),
            "listed": len(listed),
        }
    with log.on():
        selectors.coverage(actor=SYSTEM, now=now)
    figure["_statement"] = max(log.rows, key=lambda r: r[0])
    return figure


def _explain(sql: str, params: Any) -> str:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        text = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return text


# --------------------------------------------------------------------------- 3. the claim race


def _race_tasks(today: date, now: datetime, count: int, rng: random.Random) -> tuple[int, list[int], int]:
    """Exactly `count` open tasks today in the community with the most buildings: those
    tasks_build made, then further batches of its buildings. Returns (community, task ids,
    tasks made by tasks_build)."""
    from bastion.city.models import Building
    from bastion.delivery.models import DeliveryTask

    community = int(
        _one(
            "SELECT community_id FROM city_building GROUP BY community_id"
            " ORDER BY count(*) DESC, community_id LIMIT 1"
        )
    )
    buildings = list(
        Building.objects.filter(community_id=community).order_by("pk").values_list("pk", "district_id")
    )
    built = DeliveryTask.objects.filter(community_id=community, day=today, state="open").count()
    batch = dict(
        _sql(
            "SELECT building_id, max(batch) FROM delivery_deliverytask WHERE community_id = %s AND day = %s"
            " GROUP BY building_id",
            [community, today],
        )
    )
    tasks = []
    for i in range(count - built):
        building, district = buildings[i % len(buildings)]
        batch[building] = batch.get(building, 0) + 1
        tasks.append(
            DeliveryTask(
                building_id=building,
                community_id=community,
                district_id=district,
                day=today,
                batch=batch[building],
                state="open",
                due_at=now + timedelta(hours=rng.choice((12, 24))) - timedelta(minutes=rng.randrange(600)),
                vulnerable=rng.random() < 0.15,
            )
        )
    DeliveryTask.objects.bulk_create(tasks, batch_size=2000)
    _analyze("delivery_deliverytask")
    ids = list(
        DeliveryTask.objects.filter(community_id=community, day=today, state="open").values_list(
            "pk", flat=True
        )
    )
    return community, ids, built


def _volunteers(community: int, count: int) -> dict[str, int]:
    """`count` volunteer accounts of `community` (made once, moved to the community if kept),
    all with this run's password (hashed once: each hash costs a few hundred ms)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from bastion.city import services as city
    from bastion.city.models import Account, Community
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM

    place = Community.objects.get(pk=community)
    hashed = make_password(PASSWORD)
    users = {}
    for i in range(count):
        name = f"bench-volunteer-{i:02d}"
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            account = city.account_grant(
                username=name,
                password=os.urandom(12).hex(),
                role="volunteer",
                community=place,
                actor=SYSTEM,
                now=clock.now(),
            )
            users[name] = int(account.user_id)
        else:
            Account.objects.filter(user=user).update(community=place)
            users[name] = int(user.pk)
    get_user_model().objects.filter(pk__in=users.values()).update(password=hashed)
    return users


def _serve(database: str, workers: int, threads: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        str(Path(sys.executable).with_name("granian")),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(PORT),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--runtime-mode",
        "st",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
        "bastion.wsgi:application",
    ]
    log = log_path.open("wb")
    server = subprocess.Popen(
        command, env=_server_env(database), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/login/")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not answer")


@dataclass
class Client:
    """One volunteer's phone: a keep-alive connection, its session and CSRF cookies."""

    username: str
    pick_from: int
    rng: random.Random
    cookies: dict[str, str] = field(default_factory=dict)
    conn: http.client.HTTPConnection | None = None
    won: list[int] = field(default_factory=list)
    status: Counter[int] = field(default_factory=Counter)
    claim_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    listed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    finished_at: float = 0.0

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        try:
            self.conn.request(method, path, body=body, headers=sent)
            answer = self.conn.getresponse()
            data = answer.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        for header in answer.headers.get_all("Set-Cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for key, morsel in jar.items():
                self.cookies[key] = morsel.value
        return answer.status, data

    def login(self) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"login page: {status}")
        form = urllib.parse.urlencode(
            {
                "username": self.username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": token.group(1).decode(),
                "next": "",
            }
        ).encode()
        status, _page = self.request(
            "POST", "/login/", form, {"Content-Type": "application/x-www-form-urlencoded"}
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"{self.username} could not log in: {status}")

    def run(self, barrier: threading.Barrier) -> None:
        barrier.wait()
        headers = {"X-CSRFToken": self.cookies.get("csrftoken", ""), "Content-Type": "application/json"}
        while True:
            t0 = time.perf_counter()
            status, data = self.request("GET", "/api/v1/delivery/tasks/open")
            self.list_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                self.status[status] += 1
                self.errors.append(f"GET open {status}: {data[:300]!r}")
                if status >= 500 or len(self.errors) > 20:
                    break
                continue
            tasks = json.loads(data)
            self.listed.append(len(tasks))
            if not tasks:
                break
            task = self.rng.choice(tasks[: self.pick_from])["id"]
            t0 = time.perf_counter()
            status, data = self.request("POST", f"/api/v1/delivery/tasks/{task}/claim", b"", headers)
            self.claim_ms.append((time.perf_counter() - t0) * 1000)
            self.status[status] += 1
            if status == 200:
                self.won.append(task)
            elif status != 409 or b"task_taken" not in data:
                self.errors.append(f"claim {task} {status}: {data[:300]!r}")
        self.finished_at = time.perf_counter()


def _cpu_seconds(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in found.stdout.split()]


def _machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat): the web workers, the
    clients and PostgreSQL's backends, which come and go (CONN_MAX_AGE) and cannot be read one by one."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))], 1) if ordered else 0.0


def _race(args: argparse.Namespace, today: date, now: datetime, rng: random.Random) -> dict[str, Any]:
    from django.db import connection

    from bastion.core import clock

    community, task_ids, built = _race_tasks(today, now, args.tasks, rng)
    users = _volunteers(community, args.volunteers)
    connection.close()
    workdir = Path(tempfile.mkdtemp(prefix="delivery-race-"))
    server_log = workdir / "granian.log"
    server = _serve(args.database, args.workers, args.threads, server_log)
    clients = [Client(name, args.pick_from, random.Random(f"{args.seed}-{name}")) for name in users]
    started: list[float] = []
    barrier = threading.Barrier(len(clients), action=lambda: started.append(time.perf_counter()))
    failures: list[str] = []
    try:
        t0 = time.perf_counter()
        logins = [threading.Thread(target=c.login) for c in clients]
        for t in logins:
            t.start()
        for t in logins:
            t.join()
        login_s = time.perf_counter() - t0
        if any("sessionid" not in c.cookies for c in clients):
            raise SystemExit("a volunteer could not log in")
        workers = [server.pid, *_children(server.pid)]
        cpu_before = _cpu_seconds(workers)
        machine_before = _machine_busy_seconds()
        own = resource.getrusage(resource.RUSAGE_SELF)
        load_before = os.getloadavg()

        def guarded(client: Client) -> None:
            try:
                client.run(barrier)
            except Exception as exc:  # a client's crash is a figure, not a stop
                failures.append(f"{client.username}: {exc!r}")
                client.finished_at = time.perf_counter()

        threads = [threading.Thread(target=guarded, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = max(c.finished_at for c in clients) - started[0]
        workers_cpu = _cpu_seconds(workers) - cpu_before
        machine_cpu = _machine_busy_seconds() - machine_before
        used = resource.getrusage(resource.RUSAGE_SELF)
        clients_cpu = used.ru_utime + used.ru_stime - own.ru_utime - own.ru_stime
        load_after = os.getloadavg()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    log_text = server_log.read_text(errors="replace")
    if clock.today() != today:
        raise SystemExit("the city's day changed during the race: run it again")

    status: Counter[int] = Counter()
    for c in clients:
        status.update(c.status)
    won = [t for c in clients for t in c.won]
    claim_ms = [x for c in clients for x in c.claim_ms]
    list_ms = [x for c in clients for x in c.list_ms]
    listed = [x for c in clients for x in c.listed]
    errors = [e for c in clients for e in c.errors] + failures
    db = _sql(
        """
        SELECT count(*) FILTER (WHERE state = 'claimed' AND volunteer_id IS NOT NULL
                                AND claimed_at IS NOT NULL),
               count(*) FILTER (WHERE state = 'open'),
               count(*) FILTER (WHERE state NOT IN ('open', 'claimed'))
        FROM delivery_deliverytask WHERE id = ANY(%s)
        """,
        [task_ids],
    )[0]
    by_volunteer = dict(
        _sql(
            "SELECT volunteer_id, count(*) FROM delivery_deliverytask WHERE id = ANY(%s)"
            " GROUP BY volunteer_id",
            [task_ids],
        )
    )
    audit = _sql(
        "SELECT count(*), count(DISTINCT object_id) FROM core_auditentry"
        " WHERE action = 'delivery.task.claimed'"
        " AND object_id = ANY(%s)",
        [[str(t) for t in task_ids]],
    )[0]
    server_errors = sum(n for code, n in status.items() if code >= 500)
    deadlocks = sum("deadlock" in e.lower() for e in errors) + log_text.lower().count("deadlock")
    checks = {
        "claims answered 200 = tasks": (len(won), len(task_ids)),
        "tasks won by two clients": (len(won) - len(set(won)), 0),
        "tasks won = the race's tasks": (len(set(won) & set(task_ids)), len(task_ids)),
        "claimed in the database, one volunteer each": (int(db[0]), len(task_ids)),
        "still open": (int(db[1]), 0),
        "each client's wins = its tasks in the database": (
            sum(len(c.won) == by_volunteer.get(users[c.username], 0) for c in clients),
            len(clients),
        ),
        "one audit row per claim": (int(audit[0]), int(audit[1]), len(task_ids)),
        "5xx answers": (server_errors, 0),
        "deadlocks (answers and server log)": (deadlocks, 0),
        "other errors": (len(errors), 0),
    }
    figure: dict[str, Any] = {
        "community": community,
        "tasks": len(task_ids),
        "tasks_from_tasks_build": built,
        "volunteers": len(clients),
        "server": f"granian {args.workers} x {args.threads} blocking threads",
        "pick_from": args.pick_from,
        "login_s": round(login_s, 1),
        "seconds": round(wall, 2),
        "claims_per_s": round(len(won) / wall, 1),
        "requests_per_s": round((len(claim_ms) + len(list_ms)) / wall, 1),
        "status": {str(k): v for k, v in sorted(status.items())},
        "claims_200": len(won),
        "claims_409": status.get(409, 0),
        "claim_attempts": len(claim_ms),
        "list_requests": len(list_ms),
        "tasks_listed_mean": round(statistics.mean(listed), 1) if listed else 0,
        "claim_ms": {
            "p50": _percentile(claim_ms, 0.5),
            "p95": _percentile(claim_ms, 0.95),
            "p99": _percentile(claim_ms, 0.99),
            "max": round(max(claim_ms), 1) if claim_ms else 0,
        },
        "list_ms": {
            "p50": _percentile(list_ms, 0.5),
            "p95": _percentile(list_ms, 0.95),
            "p99": _percentile(list_ms, 0.99),
            "max": round(max(list_ms), 1) if list_ms else 0,
        },
        # PostgreSQL and the rest: the machine's busy time less the server's and the clients'.
        "cpu_s": {
            "server": round(workers_cpu, 1),
            "clients": round(clients_cpu, 1),
            "postgres_and_rest": round(machine_cpu - workers_cpu - clients_cpu, 1),
            "machine": round(machine_cpu, 1),
        },
        "server_cpu_ms_per_request": round(workers_cpu * 1000 / max(1, len(claim_ms) + len(list_ms)), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "first_errors": errors[:5],
        "server_log_tail": log_text[-1500:],
        "checks": {name: list(values) for name, values in checks.items()},
        "checks_passed": all(len(set(values)) == 1 for values in checks.values()),
    }
    return figure


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="bench_delivery")
    parser.add_argument("--residents", type=int, default=3_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse a database already holding this city")
    parser.add_argument(
        "--locked", type=int, default=1_000_000, help="households locked (served door to door)"
    )
    parser.add_argument("--history-cycles", type=int, default=2, help="earlier cycles of packages delivered")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the coverage reads (median)")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks of the claim race")
    parser.add_argument("--volunteers", type=int, default=50)
    parser.add_argument("--pick-from", type=int, default=10, help="a client claims one of the first N listed")
    parser.add_argument("--workers", type=int, default=3, help="granian worker processes")
    parser.add_argument("--threads", type=int, default=2, help="granian blocking threads per worker")
    parser.add_argument("--explain", default="auto", choices=["auto", "always", "never"])
    parser.add_argument("--skip-race", action="store_true")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()

    generate = _database(args.database, args.residents, args.keep)
    _setup_django(args.database)
    from django.core.management import call_command
    from django.db import connection

    from bastion.core import clock

    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"delivery day on {machine}, database {args.database}", flush=True)
    call_command("migrate", verbosity=0)
    figures: dict[str, Any] = {"machine": machine, "residents": args.residents}
    if generate:
        print(f"generating a city of {args.residents:,} residents…", flush=True)
        figures["generation_s"] = round(_generate(args.residents), 1)
        print(f"  generated in {figures['generation_s']} s", flush=True)
    else:
        print("  kept the city already generated", flush=True)
    rng = random.Random(args.seed)
    now = clock.now()
    today = clock.local_date(now)
    figures["day"] = today.isoformat()

    t0 = time.perf_counter()
    _clear()
    # A registry some days old: autovacuum has set its visibility map (index-only scans).
    _sql("VACUUM ANALYZE city_compound, city_building, city_unit, city_household, city_resident")
    zones = _lock(args.locked, today, rng)
    locked = _locked_table(today)
    item_id = _supply()
    history = _history(args.history_cycles, today, item_id, rng)
    # A lockdown some days old: autovacuum has been through the orders (hint bits, visibility map).
    _sql("VACUUM ANALYZE delivery_order, delivery_orderline, delivery_deliverytask")
    _sql("CHECKPOINT")
    figures["setup"] = {
        "households_in_city": int(_one("SELECT count(*) FROM city_household")),
        "locked_households": locked[0],
        "vulnerable_locked": locked[1],
        "buildings_locked": locked[2],
        "zones": zones,
        "history_orders": history,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"set-up (untimed, {figures['setup']['seconds']} s): {figures['setup']}", flush=True)

    log = QueryLog()
    figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    with connection.execute_wrapper(log):
        # 1. The day's standard packages and building tasks.
        dispatch = _dispatch(today, now, log)
        figures["dispatch"] = dispatch
        print(
            f"1. dispatch for {today}: standard_orders_create {dispatch['standard_orders_create_s']} s"
            f" ({dispatch['orders']:,} orders) + tasks_build {dispatch['tasks_build_s']} s"
            f" ({dispatch['tasks']:,} tasks, {dispatch['assigned']:,} orders assigned)"
            f" = {dispatch['total_s']} s (goal < {DISPATCH_GOAL_S:.0f} s)",
            flush=True,
        )
        for step in ("standard_orders_statements", "tasks_build_statements"):
            for row in dispatch[step][:6]:
                print(f"   {row['s']:8.3f} s  {row['sql']}", flush=True)
        print("   plans chosen for the statements over 1 s (auto_explain, no ANALYZE):", flush=True)
        for plan in dispatch["plans_chosen"]:
            print(plan, flush=True)
        if args.explain == "always" or (args.explain == "auto" and dispatch["total_s"] >= DISPATCH_GOAL_S):
            # Before the checks' ANALYZE, so that the statistics are the timed run's if
            # autovacuum has not come by since.
            plans = _diagnose_dispatch(today, now)
            figures["dispatch_plans"] = plans
            print("   plans of the statements over 200 ms (a re-run, rolled back):", flush=True)
            for plan in plans:
                print(plan, flush=True)
        _analyze("delivery_order", "delivery_orderline", "delivery_deliverytask")
        _check_dispatch(dispatch, today, locked, item_id)
        print("   checks passed", flush=True)

        # 2. Coverage.
        delivered = _deliver_today(today, now, rng)
        cover = _coverage(now, args.repeat, log)
        seconds, sql, params = cover.pop("_statement")
        cover["delivered_today"] = delivered
        figures["coverage"] = cover
        print(
            f"2. coverage over {cover['communities']:,} communities, {cover['locked']:,} locked households"
            f" ({cover['reached_today']:,} reached today, {cover['not_reached']:,} not reached in the cycle,"
            f" {cover['vulnerable_not_reached']:,} of them vulnerable): runs {cover['runs_s']} s,"
            f" median {cover['median_s']} s (goal < {COVERAGE_GOAL_S:.0f} s); checks passed",
            flush=True,
        )
        largest = cover["largest_community"]
        for label in ("not_reached_500", "not_reached_all"):
            print(
                f"   not_reached, community {largest['id']} ({largest['locked']} locked,"
                f" {largest['not_reached']} not reached), {label}: {cover[label]['listed']} listed,"
                f" runs {cover[label]['runs_s']} s",
                flush=True,
            )
        if args.explain == "always" or (args.explain == "auto" and cover["median_s"] >= COVERAGE_GOAL_S):
            plan = _explain(sql, params)
            figures["coverage_plan"] = plan
            print(
                f"   the coverage statement ({seconds:.2f} s), EXPLAIN (ANALYZE, BUFFERS):\n{plan}",
                flush=True,
            )

    # 3. The claim race.
    if not args.skip_race:
        race = _race(args, today, clock.now(), rng)
        figures["race"] = race
        print(
            f"3. claim race: {race['volunteers']} volunteers, {race['tasks']:,} tasks in community"
            f" {race['community']} ({race['server']}; logins {race['login_s']} s, untimed):"
            f" {race['seconds']} s, {race['claims_per_s']} claims/s, {race['requests_per_s']} requests/s;"
            f" claims p50 {race['claim_ms']['p50']} ms, p99 {race['claim_ms']['p99']} ms;"
            f" lists p50 {race['list_ms']['p50']} ms, p99 {race['list_ms']['p99']} ms;"
            f" answers {race['status']}; CPU {race['cpu_s']}",
            flush=True,
        )
        for name, values in race["checks"].items():
            print(f"   {'ok' if len(set(values)) == 1 else 'FAILED'}  {name}: {values}", flush=True)
        if race["first_errors"]:
            print(f"   first errors: {race['first_errors']}", flush=True)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    print()
    print("| goal | figure | goal | met |")
    print("|---|---:|---|---|")
    print(
        f"| 1. standard orders + tasks, {dispatch['orders']:,} households | {dispatch['total_s']} s"
        f" ({dispatch['standard_orders_create_s']} + {dispatch['tasks_build_s']}) | < 60 s"
        f" | {'met' if dispatch['total_s'] < DISPATCH_GOAL_S else 'missed'} |"
    )
    print(
        f"| 2. coverage, {cover['communities']:,} communities | {cover['median_s']} s"
        f" (median of {args.repeat})"
        f" | < 2 s | {'met' if cover['median_s'] < COVERAGE_GOAL_S else 'missed'} |"
    )
    if not args.skip_race:
        race = figures["race"]
        print(
            f"| 3. {race['volunteers']} volunteers, {race['tasks']:,} tasks |"
            f" {race['claims_200']:,} claimed once,"
            f" {race['claims_409']:,} 409, {race['status']} ; {race['claims_per_s']} claims/s,"
            f" p50 {race['claim_ms']['p50']} ms, p99 {race['claim_ms']['p99']} ms"
            " | each once, no deadlock, no 5xx"
            f" | {'met' if race['checks_passed'] else 'missed'} |"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "delivery_day.json").write_text(json.dumps(figures, indent=1, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
