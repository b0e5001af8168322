"""Transfer (issue 14): a 1,000-case day against 500 vehicles and 50 places; the assignment
(a destination with a free bed of the right kind for each group, then every ride matched to a
vehicle by scipy's linear_sum_assignment) must take under 2 s.

    .venv/bin/python bench/transfer_assign.py            # make bench-transfer

Runs once on SQLite (var/bench_transfer.db, made afresh) and once on PostgreSQL on
127.0.0.1:5432 (database `bench_transfer`, dropped and created), each in a process of its own.
Untimed: migrate; a city of `--residents` generated (seed 1); 50 places (10 designated hospitals
with 200 ordinary and 20 intensive beds, 25 shelter hospitals with 400 beds, 15 isolation points
with 300 rooms) and 500 vehicles (400 negative-pressure ambulances, 100 buses of 30 seats);
`--cases` residents drawn at random (seed 2) made cases' transfer requests through the service,
reported over the 24 hours before now, of clinical types 60 % asymptomatic, 30 % mild, 7 %
ordinary, 2 % severe, 1 % critical (carers and households kept together as the policy says).
Timed: one `transfers_assign` (its transaction included), then the matching alone
(`rules.match`) on the same number of rides and vehicles. Checked: every bed and seat held
once, every case with a vehicle went by ambulance.

Figures go to stdout and bench/out/transfer_assign.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2022, 9, 1, 12, 0, tzinfo=UTC)


def _setup(backend: str) -> None:
    if backend == "sqlite":
        path = ROOT / "var" / "bench_transfer.db"
        path.parent.mkdir(exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "bench_transfer"')
            conn.execute('CREATE DATABASE "bench_transfer"')
        os.environ["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/bench_transfer"
    os.environ["BASTION_DEV"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bastion.settings"
    import django

    django.setup()


def run(backend: str, residents: int, cases: int) -> dict[str, object]:
    _setup(backend)
    from django.core.management import call_command

    from bastion.city import services as city
    from bastion.city.models import Resident
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM
    from bastion.transfer import rules, services
    from bastion.transfer.models import Transfer

    call_command("migrate", verbosity=0)
    with clock.use(clock.FrozenClock(NOW)):
        started = time.perf_counter()
        city.city_generate(residents=residents, seed=1, as_of=date(2022, 9, 1), actor=SYSTEM, now=NOW)
        print(f"[{backend}] city of {residents:,} in {time.perf_counter() - started:.1f} s", flush=True)
        for n in range(10):
            services.facility_create(
                code=f"H{n:02}",
                kind="designated_hospital",
                beds={"ordinary": 200, "intensive": 20},
                actor=SYSTEM,
                now=NOW,
            )
        for n in range(25):
            services.facility_create(
                code=f"S{n:02}", kind="shelter_hospital", beds={"ordinary": 400}, actor=SYSTEM, now=NOW
            )
        for n in range(15):
            services.facility_create(
                code=f"I{n:02}", kind="isolation_point", beds={"room": 300}, actor=SYSTEM, now=NOW
            )
        for n in range(400):
            services.vehicle_create(code=f"A{n:03}", kind="ambulance", trip_hours=2, actor=SYSTEM, now=NOW)
        for n in range(100):
            services.vehicle_create(
                code=f"B{n:03}", kind="bus", seats=30, trip_hours=3, actor=SYSTEM, now=NOW
            )
        rng = random.Random(2)
        ids = list(Resident.objects.values_list("pk", flat=True))
        chosen = rng.sample(ids, cases)
        types = ["asymptomatic"] * 60 + ["mild"] * 30 + ["ordinary"] * 7 + ["severe"] * 2 + ["critical"]
        started = time.perf_counter()
        for resident_id in chosen:
            if Transfer.objects.filter(resident_id=resident_id, state__in=rules.OPEN).exists():
                continue  # already going as someone's carer
            services.transfer_request(
                resident_id=resident_id,
                reason="case",
                severity=rng.choice(types),
                requested_at=NOW - timedelta(minutes=rng.randrange(24 * 60)),
                actor=SYSTEM,
                now=NOW,
            )
        waiting = Transfer.objects.count()
        print(
            f"[{backend}] {waiting:,} waiting ({cases:,} cases and their carers), "
            f"requested in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        started = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            done = profile.runcall(services.transfers_assign, actor=SYSTEM, now=NOW)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        else:
            done = services.transfers_assign(actor=SYSTEM, now=NOW)
        assign_s = time.perf_counter() - started
        print(f"[{backend}] assignment: {assign_s:.2f} s — {done}", flush=True)
        held = list(Transfer.objects.filter(holds_bed=True).values_list("pool_id", "bed"))
        seats = list(Transfer.objects.filter(on_board=True).values_list("vehicle_id", "seat"))
        if len(held) != len(set(held)) or len(seats) != len(set(seats)):
            raise SystemExit("a bed or a seat held twice")
        if Transfer.objects.filter(reason="case", on_board=True, vehicle__kind="bus").exists():
            raise SystemExit("a case on a bus")
        rides = [rules.Ride(1, 1 + (i % 7 == 0), i % 5, rng.random() * 10) for i in range(waiting)]
        fleet = [
            rules.Seat("ambulance" if i < 400 else "bus", 1 if i < 400 else 30, i % 5) for i in range(500)
        ]
        started = time.perf_counter()
        pairs = rules.match(rides, fleet)
        match_s = time.perf_counter() - started
        print(
            f"[{backend}] matching alone: {len(rides):,} rides x 500 vehicles in {match_s:.3f} s "
            f"({len(pairs)} pairs)",
            flush=True,
        )
    return {
        "backend": backend,
        "residents": residents,
        "cases": cases,
        "waiting": waiting,
        "assign_s": round(assign_s, 3),
        "destinations": done.destinations,
        "vehicles": done.vehicles,
        "without_bed": done.without_bed,
        "without_vehicle": done.without_vehicle,
        "match_s": round(match_s, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"])
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--cases", type=int, default=1_000)
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(run(args.backend, args.residents, args.cases)))
        return
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    results = []
    for backend in ("sqlite", "postgres"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--residents",
                str(args.residents),
                "--cases",
                str(args.cases),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        sys.stdout.write("\n".join(out.stdout.splitlines()[:-1]) + "\n")
        results.append(json.loads(out.stdout.splitlines()[-1]))
    report = {"machine": machine, "goal_s": 2.0, "runs": results}
    target = ROOT / "bench" / "out" / "transfer_assign.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(report, indent=2), encoding="utf-8")
    for r in results:
        verdict = "within" if float(r["assign_s"]) < 2.0 else "OVER"  # type: ignore[arg-type]
        print(
            f"{r['backend']}: assignment {r['assign_s']} s for {r['waiting']} waiting"
            f" — {verdict} the 2 s goal"
        )


if __name__ == "__main__":
    main()
