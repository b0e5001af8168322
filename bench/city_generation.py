"""City generation beside its floor: the same rows written by a bare COPY / executemany.

    .venv/bin/python bench/city_generation.py --sqlite-residents 1000000 --postgres-residents 21000000

Each target runs in its own process on a fresh database: SQLite in bench/out/, PostgreSQL in
the database `bastion_bench` on 127.0.0.1:5432 (dropped and created). The floor writes the rows
that generation produced, read back beforehand (untimed), into unindexed tables of the same
shape in one transaction.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
TABLES = ["city_household", "city_resident"]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/bastion_bench"


def _child(target: str, residents: int) -> dict[str, object]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bastion.settings")
    os.environ["BASTION_DEV"] = "1"
    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from bastion.city import services
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM

    call_command("migrate", verbosity=0)
    stages: dict[str, float] = {}
    started = time.perf_counter()
    last = [started]

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "residents" and done < total:
            return
        now = time.perf_counter()
        stages[f"until {stage}"] = round(now - last[0], 2)
        last[0] = now

    result = services.city_generate(
        residents=residents,
        seed=1,
        as_of=date(2022, 9, 1),
        replace=True,
        progress=progress,
        actor=SYSTEM,
        now=clock.now(),
    )
    generation = time.perf_counter() - started
    stages["indexes, figures, commit"] = round(time.perf_counter() - last[0], 2)
    indexes = _index_definitions(connection)

    floor = 0.0
    floor_indexes = 0.0
    with connection.cursor() as cursor:
        for table in TABLES:
            bare = f"bench_bare_{table}"
            cursor.execute(f'DROP TABLE IF EXISTS "{bare}"')
            cursor.execute(f'CREATE TABLE "{bare}" AS SELECT * FROM "{table}" WHERE 1 = 0')
            if connection.vendor == "postgresql":
                buffer = io.BytesIO()
                with cursor.cursor.copy(f'COPY "{table}" TO STDOUT') as copy:
                    for block in copy:
                        buffer.write(block)
                data = buffer.getvalue()
                t0 = time.perf_counter()
                with (
                    transaction.atomic(),
                    connection.cursor() as c2,
                    c2.cursor.copy(f'COPY "{bare}" FROM STDIN') as copy,
                ):
                    for start in range(0, len(data), 8 << 20):
                        copy.write(data[start : start + (8 << 20)])
                floor += time.perf_counter() - t0
            else:
                cursor.execute(f'SELECT * FROM "{table}"')
                rows = cursor.fetchall()
                marks = ", ".join(["?"] * len(rows[0]))
                t0 = time.perf_counter()
                with transaction.atomic():
                    connection.connection.executemany(f'INSERT INTO "{bare}" VALUES ({marks})', rows)
                floor += time.perf_counter() - t0
                del rows
            t0 = time.perf_counter()
            with transaction.atomic(), connection.cursor() as c3:
                for definition in indexes[table]:
                    c3.execute(
                        definition.replace(f'"{table}"', f'"{bare}"').replace(f" {table} ", f" {bare} ")
                    )
            floor_indexes += time.perf_counter() - t0
            cursor.execute(f'DROP TABLE "{bare}"')
    return {
        "target": target,
        "residents": residents,
        "households": result.households,
        "communities": result.communities,
        "generation_s": round(generation, 2),
        "floor_s": round(floor, 2),
        "ratio": round(generation / floor, 2) if floor else None,
        "floor_with_indexes_s": round(floor + floor_indexes, 2),
        "ratio_to_floor_with_indexes": round(generation / (floor + floor_indexes), 2),
        "stages_s": stages,
        "rows_per_s": round(residents / generation),
    }


def _index_definitions(connection: object) -> dict[str, list[str]]:
    """The secondary indexes of the big tables, renamed so that they can be built on copies."""
    out: dict[str, list[str]] = {}
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        for table in TABLES:
            if connection.vendor == "postgresql":  # type: ignore[attr-defined]
                cursor.execute(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE tablename = %s AND indexname NOT LIKE %s",
                    [table, "%pkey"],
                )
            else:
                cursor.execute(
                    "SELECT name, sql FROM sqlite_master"
                    " WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL",
                    [table],
                )
            out[table] = [sql.replace(name, f"bench_{name}") for name, sql in cursor.fetchall()]
    return out


def _run(target: str, residents: int) -> dict[str, object]:
    env = dict(os.environ, BASTION_DEV="1")
    if target == "sqlite":
        OUT.mkdir(parents=True, exist_ok=True)
        db = OUT / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        env["DATABASE_URL"] = f"sqlite:///{db}"
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bastion_bench")
            conn.execute("CREATE DATABASE bastion_bench")
        env["DATABASE_URL"] = PG_BENCH
    done = subprocess.run(
        [sys.executable, __file__, "--child", target, str(residents)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{target} benchmark failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sqlite-residents", type=int, default=1_000_000)
    parser.add_argument("--postgres-residents", type=int, default=21_000_000)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]))))
        return
    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"city generation vs floor on {machine}")
    results = []
    for target, residents in (("sqlite", args.sqlite_residents), ("postgresql", args.postgres_residents)):
        if residents <= 0:
            continue
        figures = _run(target, residents)
        results.append(figures)
        print(
            f"{target:<10} {residents:>11,} residents: generation {figures['generation_s']:>7} s, "
            f"floor {figures['floor_s']:>7} s, ratio {figures['ratio']}x (goal ≤ 2x), "
            f"{figures['rows_per_s']:,} residents/s; floor with the same indexes "
            f"{figures['floor_with_indexes_s']} s (ratio {figures['ratio_to_floor_with_indexes']}x)"
        )
        print(f"           stages: {figures['stages_s']}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "city_generation.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1))


if __name__ == "__main__":
    main()
