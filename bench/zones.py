"""Cases and zones on a Chengdu-sized city (issue 3): designation per new case, daily evaluation.

    .venv/bin/python bench/zones.py --residents 21000000 [--keep]

Runs on PostgreSQL in its own database `bench_zones` on 127.0.0.1:5432: dropped, created,
migrated and filled with a city generated the way `bastion city generate` does it (seed 1),
then ANALYZEd (untimed; autovacuum would do the same within minutes). With `--keep` a database
already holding a city of the same size is reused; only its cases and zones are cleared.

1. Designation: `flows.case_reported` for residents drawn at random, end to end (open the case,
   designate its zones, count each new zone's households and residents, audit), timed call by
   call after a few untimed warm-up calls; then the same with one frequent place and one place
   stayed (under v9: a second high zone and a medium zone).
2. Evaluation: 10,000 in-force zones over real units, buildings and compounds of the city,
   bulk-inserted with their open periods and screenings, clocks spread so that about a third
   are due; `zones_evaluate` timed, its counts and every zone's new state checked against an
   expectation computed here; then run again the same day, which must find nothing due.

Figures go to stdout and bench/out/zones.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
CITY_TZ = ZoneInfo("Asia/Shanghai")
AS_OF = date(2022, 9, 1)
REPORTED = datetime(2022, 9, 5, 10, 0, tzinfo=CITY_TZ)  # designation day
EVALUATED = datetime(2022, 9, 20, 6, 0, tzinfo=CITY_TZ)  # the worker's daily run
DESIGNATION_GOAL_MS = 100.0
EVALUATION_GOAL_S = 10.0

# v9's clock, written out here so that the expectation does not come from the code under test
# (checked against protocols.toml at start): step -> (days, screening day, lowered to, next step).
V9 = {
    "high": (7, 7, "medium", "medium_after_high"),
    "medium": (7, 7, "low", None),
    "medium_after_high": (3, None, "low", None),
}


# --------------------------------------------------------------------------- set-up


def _database(name: str, residents: int, keep: bool) -> bool:
    """Create `name` unless kept; True when the city must be generated."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if keep and exists:
            with psycopg.connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}") as db:
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


def _setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    os.environ["BASTION_DEV"] = "1"
    os.environ["BASTION_PROTOCOL"] = "v9"
    os.environ["BASTION_ZONE_DESIGNATION"] = "automatic"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bastion.settings"
    os.environ.pop("BASTION_PROTOCOLS_FILE", None)
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


def _analyze(tables: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'ANALYZE "{table}"')


def _clear_cases_and_zones() -> None:
    """Cases, contacts and zones of earlier runs go; the city stays."""
    from django.apps import apps
    from django.db import connection

    tables = [
        m._meta.db_table for label in ("zones", "cases") for m in apps.get_app_config(label).get_models()
    ]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        cursor.execute("DELETE FROM core_auditentry WHERE action LIKE 'cases.%%' OR action LIKE 'zones.%%'")


# --------------------------------------------------------------------------- query log


@dataclass
class QueryLog:
    """Every statement run while `active`, with its time: where a figure's time goes."""

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
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def slowest(self, k: int) -> list[tuple[float, str, Any]]:
        return sorted(self.rows, key=lambda r: r[0], reverse=True)[:k]


def _explain(sql: str, params: Any) -> str:
    from django.db import connection, transaction

    if not sql.lstrip().upper().startswith("SELECT"):
        return "(not a SELECT: not explained)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        text = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return text


def _short(sql: str, width: int = 150) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 1),
        "p95": round(ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)], 1),
        "max": round(ordered[-1], 1),
    }


# --------------------------------------------------------------------------- designation


def _random_ids(table: str, count: int, rng: random.Random) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT min(id), max(id) FROM "{table}"')
        low, high = cursor.fetchone()
    return [rng.randint(low, high) for _ in range(count)]


def _cases_to_report(
    count: int, rng: random.Random, with_places: bool, units: set[int]
) -> list[dict[str, Any]]:
    """Residents drawn at random, one per unit, each with (or without) a frequent place (a
    household elsewhere) and a place stayed (a building of another compound). `units` holds the
    units already drawn, so that each case opens new zones rather than joining earlier ones."""
    from bastion.city.models import Building, Household, Resident

    residents = Resident.objects.filter(pk__in=_random_ids("city_resident", count * 3, rng)).values_list(
        "pk", "household__unit_id", "household__compound_id"
    )
    picked: list[dict[str, Any]] = []
    households = iter(
        Household.objects.filter(pk__in=_random_ids("city_household", count * 3, rng)).values_list(
            "unit_id", "compound_id", "address"
        )
    )
    buildings = iter(
        Building.objects.filter(pk__in=_random_ids("city_building", count * 3, rng)).values_list(
            "compound_id", "compound__code", "number"
        )
    )
    for resident_id, unit_id, compound_id in residents:
        if unit_id in units:
            continue
        case: dict[str, Any] = {"resident_id": resident_id}
        if with_places:
            other_unit, _c, address = next(households)
            while other_unit in units or other_unit == unit_id:
                other_unit, _c, address = next(households)
            stayed_compound, code, number = next(buildings)
            while stayed_compound == compound_id:
                stayed_compound, code, number = next(buildings)
            case["frequent"] = [address]
            case["stayed"] = [f"{code}/{number}"]
            units.add(other_unit)
        units.add(unit_id)
        picked.append(case)
        if len(picked) == count:
            return picked
    raise SystemExit("not enough distinct residents drawn")


def _designation(
    cases: list[dict[str, Any]], warmup: int, log: QueryLog, with_places: bool
) -> dict[str, Any]:
    from bastion import flows
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM
    from bastion.zones.models import Level

    timings: list[float] = []
    queries: list[int] = []
    zones_made: Counter[str] = Counter()
    residents_counted: list[int] = []
    log.rows.clear()
    first_timed = 0
    with clock.use(clock.FrozenClock(REPORTED)):
        for i, case in enumerate(cases):
            before = len(log.rows)
            if i == warmup:
                first_timed = before
            with log.on():
                t0 = time.perf_counter()
                result = flows.case_reported(kind="confirmed", actor=SYSTEM, now=REPORTED, **case)
                elapsed = (time.perf_counter() - t0) * 1000
            if not result.zone_changes:
                raise SystemExit(f"case of resident {case['resident_id']}: no zone designated or linked")
            for change in result.zone_changes:
                zone = change.zone
                if change.what == "designated" and (zone.residents <= 0 or zone.households <= 0):
                    raise SystemExit(f"zone {zone.code} designated with {zone.residents} residents counted")
                zones_made[f"{change.what} {zone.level} {zone.area}"] += 1
                residents_counted.append(zone.residents)
            if with_places and not any(c.zone.level == Level.MEDIUM for c in result.zone_changes):
                raise SystemExit(
                    f"case of resident {case['resident_id']}: no medium zone for the place stayed"
                )
            if i >= warmup:
                timings.append(elapsed)
                queries.append(len(log.rows) - before)
    timed = log.rows[first_timed:]
    slow = sorted(timed, key=lambda r: r[0], reverse=True)
    by_statement: Counter[str] = Counter()
    for seconds, sql, _params in timed:
        by_statement[_short(sql, 90)] += seconds
    return {
        "calls": len(timings),
        "warmup": warmup,
        "ms": _percentiles(timings),
        "mean_ms": round(statistics.fmean(timings), 1),
        "queries_per_call": round(statistics.fmean(queries), 1),
        "database_ms_per_call": round(sum(r[0] for r in timed) * 1000 / max(len(timings), 1), 1),
        "zones": dict(sorted(zones_made.items())),
        "residents_per_zone": _percentiles([float(r) for r in residents_counted]),
        "slowest_query_ms": round(slow[0][0] * 1000, 1),
        "slowest_query": _short(slow[0][1]),
        "_slowest": slow[:1],
        "top_statements_ms": {
            k: round(v * 1000 / max(len(timings), 1), 2) for k, v in by_statement.most_common(5)
        },
    }


# --------------------------------------------------------------------------- evaluation


@dataclass
class Planned:
    step: str
    level: str
    area: str
    days: int  # today - clock_start
    screenings: list[tuple[int, bool]]  # (day of the clock, all negative)
    place: tuple[
        int, int | None, int | None, int, int, str
    ]  # compound, building, unit, community, district, address
    outcome: str = ""  # lowered, lifted, stays


def _expected(plan: Planned) -> str:
    """What v9 does to this zone today, from the table above."""
    days, screening_day, to, _next = V9[plan.step]
    if plan.days < days:
        return "stays"
    if screening_day is not None:
        counted = [(day, negative) for day, negative in plan.screenings if screening_day <= day <= plan.days]
        if not counted or not max(counted)[1]:
            return "stays"
    return "lifted" if to == "low" else "lowered"


def _plan_zones(count: int, rng: random.Random) -> list[Planned]:
    """`count` zones over distinct real units / buildings / compounds, clocks spread."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [rng.random()])
        cursor.execute(
            "SELECT u.id, u.building_id, u.compound_id, u.community_id, u.district_id, c.code, b.number,"
            " u.number FROM city_unit u JOIN city_building b ON b.id = u.building_id"
            " JOIN city_compound c ON c.id = u.compound_id ORDER BY random() LIMIT %s",
            [count * 4],
        )
        units = cursor.fetchall()
    taken: set[tuple[str, int]] = set()
    plans: list[Planned] = []
    for unit, building, compound, community, district, code, b_number, u_number in units:
        roll = rng.random()
        if roll < 0.6:
            area, key, place = "unit", unit, (compound, building, unit)
            address = f"{code}/{b_number}/{u_number}"
        elif roll < 0.9:
            area, key, place = "building", building, (compound, building, None)
            address = f"{code}/{b_number}"
        else:
            area, key, place = "compound", compound, (compound, None, None)
            address = code
        if (area, key) in taken:
            continue
        taken.add((area, key))
        roll = rng.random()
        if roll < 0.5:
            step, level, days = "high", "high", rng.randint(0, 13)
        elif roll < 0.8:
            step, level, days = "medium_after_high", "medium", rng.randint(0, 5)
        else:
            step, level, days = "medium", "medium", rng.randint(0, 13)
        screenings: list[tuple[int, bool]] = []
        if V9[step][1] is not None:
            kind = rng.random()
            if days >= 7 and kind < 0.5:  # screened on or after day 7, all negative
                screenings.append((rng.randint(7, days), True))
            elif days >= 7 and kind < 0.625:  # a positive round after a negative one
                screenings += [(7, True), (days, False)] if days > 7 else [(7, False)]
            elif kind < 0.75 and days >= 5:  # screened too early: day 5
                screenings.append((5, True))
            # else: no screening recorded yet
        plan = Planned(step, level, area, days, screenings, (*place, community, district, address))
        plan.outcome = _expected(plan)
        plans.append(plan)
        if len(plans) == count:
            return plans
    raise SystemExit(f"the city has too few places for {count:,} distinct zones: lower --zones")


def _build_zones(plans: list[Planned], today: date) -> list[int]:
    from bastion.zones.models import Zone, ZonePeriod, ZoneScreening

    zones = []
    for i, plan in enumerate(plans):
        compound, building, unit, community, district, address = plan.place
        start = today - timedelta(days=plan.days)
        since = start - timedelta(days=7) if plan.step == "medium_after_high" else start
        zones.append(
            Zone(
                code=f"BZ-{i:05d}",
                level=plan.level,
                state="in_force",
                protocol="v9",
                step=plan.step,
                area=plan.area,
                address=address,
                compound_id=compound,
                building_id=building,
                unit_id=unit,
                community_id=community,
                district_id=district,
                proposed_at=datetime.combine(since, datetime.min.time(), CITY_TZ),
                since=since,
                clock_start=start,
                reason="bench",
            )
        )
    Zone.objects.bulk_create(zones, batch_size=2000)
    ZonePeriod.objects.bulk_create(
        (
            ZonePeriod(zone_id=z.pk, level=z.level, district_id=z.district_id, start_on=z.clock_start)
            for z in zones
        ),
        batch_size=2000,
    )
    ZoneScreening.objects.bulk_create(
        (
            ZoneScreening(
                zone_id=z.pk,
                on=z.clock_start + timedelta(days=day),
                all_negative=negative,
                recorded_at=EVALUATED - timedelta(days=1),
            )
            for z, plan in zip(zones, plans, strict=True)
            for day, negative in plan.screenings
        ),
        batch_size=2000,
    )
    _analyze(["zones_zone", "zones_zoneperiod", "zones_zonescreening"])
    return [z.pk for z in zones]


def _check_evaluated(plans: list[Planned], ids: list[int], today: date) -> None:
    """Every zone's state, level, step and clock after the run, and the periods and audit rows."""
    from bastion.core.models import AuditEntry
    from bastion.zones.models import Zone, ZonePeriod

    after = {
        row[0]: row[1:] for row in Zone.objects.values_list("id", "state", "level", "step", "clock_start")
    }
    open_periods: dict[int, list[tuple[str, date]]] = {}
    for zone_id, level, start_on in ZonePeriod.objects.filter(end_on__isnull=True).values_list(
        "zone_id", "level", "start_on"
    ):
        open_periods.setdefault(zone_id, []).append((level, start_on))
    wrong = wrong_periods = 0
    for zone_id, plan in zip(ids, plans, strict=True):
        start = today - timedelta(days=plan.days)
        want, periods = {
            "stays": (("in_force", plan.level, plan.step, start), [(plan.level, start)]),
            "lowered": (("in_force", "medium", "medium_after_high", today), [("medium", today)]),
            "lifted": (("lifted", "low", plan.step, start), []),
        }[plan.outcome]
        wrong += after[zone_id] != want
        wrong_periods += open_periods.get(zone_id, []) != periods
    outcomes = Counter(p.outcome for p in plans)
    audits = Counter(
        AuditEntry.objects.filter(at=EVALUATED, action__startswith="zones.zone.").values_list(
            "action", flat=True
        )
    )
    problems = []
    if wrong:
        problems.append(f"{wrong} zones not in the expected state")
    if wrong_periods:
        problems.append(f"{wrong_periods} zones without the expected open period")
    if audits != Counter(
        {"zones.zone.lowered": outcomes["lowered"], "zones.zone.lifted": outcomes["lifted"]}
    ):
        problems.append(f"audit rows {dict(audits)}")
    if problems:
        raise SystemExit("evaluation differs from the expectation: " + "; ".join(problems))


def _evaluation(count: int, rng: random.Random, log: QueryLog) -> dict[str, Any]:
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM
    from bastion.zones.services import zones_evaluate

    today = EVALUATED.date()
    _clear_cases_and_zones()
    t0 = time.perf_counter()
    plans = _plan_zones(count, rng)
    ids = _build_zones(plans, today)
    built = time.perf_counter() - t0
    outcomes = Counter(p.outcome for p in plans)
    screening_needed = [p for p in plans if V9[p.step][1] is not None and p.days >= V9[p.step][0]]
    runs = []
    with clock.use(clock.FrozenClock(EVALUATED)):
        for run in (1, 2):
            log.rows.clear()
            with log.on():
                t0 = time.perf_counter()
                result = zones_evaluate(today=today, actor=SYSTEM, now=EVALUATED)
                seconds = time.perf_counter() - t0
            want = (
                (count, outcomes["lowered"], outcomes["lifted"])
                if run == 1
                else (count - outcomes["lifted"], 0, 0)
            )
            got = (result.examined, result.lowered, result.lifted)
            if got != want:
                raise SystemExit(f"evaluation run {run}: (examined, lowered, lifted) {got}, expected {want}")
            if run == 1:
                _check_evaluated(plans, ids, today)
            slow = log.slowest(3)
            runs.append(
                {
                    "run": run,
                    "examined": result.examined,
                    "lowered": result.lowered,
                    "lifted": result.lifted,
                    "seconds": round(seconds, 3),
                    "queries": len(log.rows),
                    "slowest_ms": [[round(s * 1000, 1), _short(q)] for s, q, _p in slow],
                    "_slowest": slow[:1],
                }
            )
    return {
        "zones": count,
        "areas": dict(Counter(p.area for p in plans)),
        "steps": dict(Counter(p.step for p in plans)),
        "due": outcomes["lowered"] + outcomes["lifted"],
        "past_day_7_screening": {
            "negative_on_time": sum(1 for p in screening_needed if _expected(p) != "stays"),
            "missing_early_or_positive": sum(1 for p in screening_needed if _expected(p) == "stays"),
        },
        "build_s": round(built, 2),
        "runs": runs,
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=21_000_000)
    parser.add_argument("--keep", action="store_true", help="reuse a database already holding this city")
    parser.add_argument("--database", default="bench_zones")
    parser.add_argument("--cases", type=int, default=200, help="timed designations of each kind")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--zones", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    generate = _database(args.database, args.residents, args.keep)
    _setup_django(args.database)
    from django.core.management import call_command
    from django.db import connection

    from bastion.cases import protocol as protocols

    v9 = protocols.get("v9")
    for name, (days, screening_day, to, next_step) in V9.items():
        step = v9.steps[name]
        if (step.days, step.screening_day, step.to, step.next) != (days, screening_day, to, next_step):
            raise SystemExit(f"protocols.toml's v9 step {name} changed: update V9 in {__file__}")

    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"cases and zones on {machine}, database {args.database}", flush=True)
    call_command("migrate", verbosity=0)
    figures: dict[str, Any] = {"machine": machine, "residents": args.residents}
    if generate:
        print(f"generating a city of {args.residents:,} residents…", flush=True)
        figures["generation_s"] = round(_generate(args.residents), 1)
        print(f"  generated in {figures['generation_s']} s", flush=True)
    else:
        print("  kept the city already generated", flush=True)
    t0 = time.perf_counter()
    _analyze(["city_compound", "city_building", "city_unit", "city_household", "city_resident"])
    figures["analyze_s"] = round(time.perf_counter() - t0, 1)
    _clear_cases_and_zones()

    figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    log = QueryLog()
    rng = random.Random(args.seed)
    units: set[int] = set()
    with connection.execute_wrapper(log):
        for label, with_places in (("residence only", False), ("+ frequent + stayed", True)):
            cases = _cases_to_report(args.cases + args.warmup, rng, with_places, units)
            figure = _designation(cases, args.warmup, log, with_places)
            figures[f"designation {label}"] = figure
            ms = figure["ms"]
            print(
                f"designation ({label}): {figure['calls']} calls, median {ms['median']} ms,"
                f" p95 {ms['p95']} ms,"
                f" max {ms['max']} ms (goal < {DESIGNATION_GOAL_MS:.0f} ms);"
                f" {figure['queries_per_call']} statements/call taking {figure['database_ms_per_call']} ms;"
                f" slowest statement {figure['slowest_query_ms']} ms; zones {figure['zones']};"
                f" residents per zone {figure['residents_per_zone']}",
                flush=True,
            )
            print(f"  statements, ms per call: {figure['top_statements_ms']}", flush=True)
            if ms["p95"] >= DESIGNATION_GOAL_MS:
                _seconds, sql, params = figure["_slowest"][0]
                print(f"  slowest statement ({figure['slowest_query_ms']} ms):\n{_explain(sql, params)}")
            del figure["_slowest"]
        evaluation = _evaluation(args.zones, rng, log)
    figures["evaluation"] = evaluation
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(
        f"evaluation: {evaluation['zones']:,} zones in force ({evaluation['areas']}; {evaluation['steps']}),"
        f" {evaluation['due']} due; day-7 screening {evaluation['past_day_7_screening']};"
        f" built in {evaluation['build_s']} s",
        flush=True,
    )
    for run in evaluation["runs"]:
        print(
            f"  run {run['run']}: examined {run['examined']:,}, lowered {run['lowered']:,},"
            f" lifted {run['lifted']:,} in {run['seconds']} s (goal < {EVALUATION_GOAL_S:.0f} s),"
            f" {run['queries']} statements; slowest {run['slowest_ms']}",
            flush=True,
        )
        if run["seconds"] >= EVALUATION_GOAL_S:
            _seconds, sql, params = run["_slowest"][0]
            print(_explain(sql, params))
        del run["_slowest"]

    print(
        f"load average (1, 5, 15 min) before {figures['load_average_before']},"
        f" after {figures['load_average_after']} on {os.cpu_count()} cores"
    )
    d1, d2 = figures["designation residence only"], figures["designation + frequent + stayed"]
    r1, r2 = evaluation["runs"]
    print()
    print("| figure | median | p95 | max | goal |")
    print("|---|---:|---:|---:|---|")
    for label, d in (("case reported (residence)", d1), ("case reported (+ frequent + stayed)", d2)):
        print(f"| {label} | {d['ms']['median']} ms | {d['ms']['p95']} ms | {d['ms']['max']} ms | < 100 ms |")
    print(f"| evaluation, {r1['examined']:,} zones (1st run) | {r1['seconds']} s | | | < 10 s |")
    print(f"| evaluation, same day again | {r2['seconds']} s | | | |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "zones.json").write_text(json.dumps(figures, indent=1, default=str))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
