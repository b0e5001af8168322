"""A Chengdu round of mass testing (issue 4): files loaded and reconciled, beside its floors.

    .venv/bin/python bench/testing_round.py --database bench_zones --keep       # 21 M, 20 M scans
    .venv/bin/python bench/testing_round.py --residents 1000000 --database bench_testing_quick

Runs on PostgreSQL on 127.0.0.1:5432, in a database holding a generated city (as
bench/zones.py: created, migrated and generated with seed 1 unless `--keep` finds a city of
that size; then ANALYZEd, untimed). Only the testing tables are cleared (rounds, sites, labs,
tubes, scans, recalls, exceptions) and the `testing.*` audit rows; the city, cases and zones
stay. The round pools every level 10:1 so that zones left by another benchmark change nothing.

1. Files, generated once and cached in bench/out/testing/ (untimed): `--scans` residents drawn
   at random (default: 20/21 of them), 10 consecutive sampled residents of a grid per tube,
   one site per grid out of `--sites`, scans within 07:00-19:00 on 2022-09-02, the sites' day
   files one after another (by site, then time); one result per tube from `--labs` labs,
   positive when a member is infected (prevalence `--prevalence`: about 1 - 0.999^10 of the
   tubes), the labs' files one after another. CSV as docs/TESTING_FORMAT.md describes; and a
   Parquet of resident id -> grid id from the registry, for DuckDB.
2. Product path, timed end to end: `round_open`, `bastion testing load-scans` and
   `load-results` (the management command, in this process, so that its statements can be
   timed), then what the command centre reads: `selectors.coverage` per grid for the whole
   round with a city actor, and the whole open recall list (`selectors.recalls_open`). Counts
   are checked: scans = lines, tubes, recalls = members of positive pools, unsampled =
   residents - scans, and coverage per grid = the floor's = DuckDB's.
3. Floor, same run, same files: server-side COPY into unindexed UNLOGGED tables, one
   hand-written SQL for coverage per grid (residents left join scans left join results,
   grouped by grid; residents -> grid in an unlogged table made beforehand, untimed) and one
   for the recall list (scans join positive tubes), with PostgreSQL's stock settings.
4. DuckDB over the same CSV files (2 threads): read them, then the same two queries.
5. Diagnosis, untimed: one chunk of scans and of results into a second round (barcodes
   renamed) with EXPLAIN (ANALYZE, BUFFERS) of the loader's slowest statements.

Figures go to stdout and bench/out/testing_round-<residents>.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
FILES = OUT / "testing"
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
CITY_TZ = ZoneInfo("Asia/Shanghai")
AS_OF = date(2022, 9, 1)
ROUND_DAY = datetime(2022, 9, 2, 7, 0, tzinfo=CITY_TZ)  # Chengdu, 2022-09-02: sampling from 07:00 to 19:00
NOW = datetime(2022, 9, 3, 12, 0, tzinfo=CITY_TZ)  # the loads run the next day
ROUND_CODE = "CD-2022-09-02"
DIAG_CODE = "CD-2022-09-02-diag"
TOTAL_GOAL_S = 120.0
RATIO_GOAL = 1.5
POOLING = {level: {"ratio": 10, "per_household": False} for level in ("high", "medium", "low")}


# --------------------------------------------------------------------------- set-up


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


def _url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = _url(name)
    os.environ["BASTION_DEV"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bastion.settings"
    os.environ.pop("BASTION_TESTING_POLICY_FILE", None)
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


def _sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])
        return list(cursor.fetchall()) if cursor.description else []


TESTING_TABLES = [
    "testing_scan",
    "testing_tube",
    "testing_recall",
    "testing_roundissue",
    "testing_roundarea",
    "testing_round",
    "testing_site",
    "testing_lab",
]


def _clear_testing() -> None:
    """The testing tables this benchmark fills, and the testing audit rows; nothing else."""
    _sql("TRUNCATE " + ", ".join(TESTING_TABLES))
    _sql("DELETE FROM core_auditentry WHERE action LIKE 'testing.%%'")
    for table in ("bench_floor_scans", "bench_floor_results", "bench_floor_residents"):
        _sql(f"DROP TABLE IF EXISTS {table}")


def _sites_and_labs(sites: int, labs: int) -> list[int]:
    """`sites` sampling sites (site i serves the grids j with j % sites == i, and is placed in
    the first of them) and `labs` labs. Returns the grid ids in order."""
    from bastion.city.models import Grid
    from bastion.testing.models import Lab, Site

    grids = list(Grid.objects.order_by("pk").values_list("pk", "district_id"))
    Site.objects.bulk_create(
        [
            Site(
                code=f"S{i:05d}",
                name=f"sampling site {i}",
                grid_id=grids[i % len(grids)][0],
                district_id=grids[i % len(grids)][1],
                samplers=4,
                capacity_per_hour=400,
            )
            for i in range(sites)
        ],
        batch_size=5000,
    )
    Lab.objects.bulk_create(
        [Lab(code=f"L{i:03d}", name=f"lab {i}", capacity_per_hour=20_000) for i in range(labs)]
    )
    return [g for g, _d in grids]


# --------------------------------------------------------------------------- files


@dataclass
class Files:
    scans: Path
    results: Path
    residents: Path  # Parquet: id, grid
    meta: dict[str, Any]


def _residents_parquet(path: Path) -> None:
    """Resident id -> grid id of the registry, as Parquet (for DuckDB and the files)."""
    import polars as pl
    from django.db import connection

    buffer = io.BytesIO()
    connection.ensure_connection()
    raw = connection.connection
    with (
        raw.cursor() as cursor,
        cursor.copy(
            "COPY (SELECT r.id, h.grid_id FROM city_resident r"
            " JOIN city_household h ON h.id = r.household_id) TO STDOUT WITH (FORMAT csv)"
        ) as copy,
    ):
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    frame = pl.read_csv(buffer, has_header=False, new_columns=["id", "grid"], schema_overrides=[pl.Int64] * 2)
    frame.write_parquet(path)


def _files(args: argparse.Namespace, grids: list[int]) -> Files:
    import numpy as np
    import polars as pl

    FILES.mkdir(parents=True, exist_ok=True)
    stem = "-".join(
        str(x) for x in (args.database, args.residents, args.scans, args.sites, args.labs, args.prevalence)
    )
    stem += f"-s{args.seed}"
    # Short file names: the loader lists exceptions and audits under the file's name, and
    # `load-results` fails on a name longer than 64 characters (core_auditentry.object_id).
    (FILES / stem).mkdir(exist_ok=True)
    scans_path, results_path = FILES / stem / "scans.csv", FILES / stem / "results.csv"
    residents_path, meta_path = (
        FILES / f"residents-{args.database}-{args.residents}.parquet",
        FILES / f"{stem}.json",
    )
    if not residents_path.exists() or args.fresh_files:
        t0 = time.perf_counter()
        _residents_parquet(residents_path)
        print(f"  residents -> grid exported to Parquet in {time.perf_counter() - t0:.1f} s", flush=True)
    if meta_path.exists() and scans_path.exists() and results_path.exists() and not args.fresh_files:
        print(f"  files kept from an earlier run: {scans_path.name}", flush=True)
        return Files(scans_path, results_path, residents_path, json.loads(meta_path.read_text()))

    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    residents = pl.read_parquet(residents_path).sort(["grid", "id"])
    if residents.height != args.residents:
        raise SystemExit(f"the registry holds {residents.height:,} residents, not {args.residents:,}")
    chosen = np.zeros(residents.height, dtype=bool)
    chosen[rng.permutation(residents.height)[: args.scans]] = True
    site_of_grid = pl.DataFrame(
        {"grid": grids, "site": [f"S{i % args.sites:05d}" for i in range(len(grids))]},
        schema={"grid": pl.Int64, "site": pl.String},
    )
    # Tubes: 10 consecutive sampled residents of one grid (the grid's last tube may hold fewer).
    sampled = (
        residents.filter(pl.Series(chosen))
        .with_columns(k=pl.int_range(pl.len()).over("grid"))
        .with_columns(new=(pl.col("k") % args.ratio == 0))
        .with_columns(tube=pl.col("new").cast(pl.Int64).cum_sum() - 1)
        .join(site_of_grid, on="grid", how="left")
    )
    tubes = int(sampled["tube"].max()) + 1
    # A tube's first scan at a random time of the day; its members one every 20 s.
    start = rng.integers(0, 12 * 3600 - 20 * args.ratio, size=tubes)
    tube = sampled["tube"].to_numpy()
    seconds = start[tube] + 20 * (sampled["k"].to_numpy() % args.ratio)
    sampled = sampled.with_columns(
        at=pl.lit(ROUND_DAY.replace(tzinfo=None)) + pl.duration(seconds=pl.Series(seconds)),
        infected=pl.Series(rng.random(sampled.height) < args.prevalence),
    )
    scans = sampled.sort(["site", "at", "tube"]).select(
        resident=pl.col("id"),
        tube=pl.format("T{}", pl.col("tube").cast(pl.String).str.zfill(9)),
        site=pl.col("site"),
        scanned_at=pl.col("at").dt.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
    )
    scans.write_csv(scans_path)
    per_tube = sampled.group_by("tube").agg(
        members=pl.len(), positive=pl.col("infected").any(), last=pl.col("at").max()
    )
    per_tube = per_tube.with_columns(
        delay=pl.Series(rng.integers(3 * 3600, 9 * 3600, size=per_tube.height)),
        ct1=pl.Series(rng.uniform(24.0, 36.0, size=per_tube.height).round(1)),
    ).with_columns(
        resulted=pl.col("last") + pl.duration(seconds=pl.col("delay")),
        lab=pl.format("L{}", (pl.col("tube") % args.labs).cast(pl.String).str.zfill(3)),
        ct=pl.when(pl.col("positive"))
        .then(pl.format("ORF1ab:{};N:{}", pl.col("ct1"), (pl.col("ct1") - 0.6).round(1)))
        .otherwise(pl.lit(None, pl.String)),
    )
    results = per_tube.sort(["lab", "resulted", "tube"]).select(
        tube=pl.format("T{}", pl.col("tube").cast(pl.String).str.zfill(9)),
        result=pl.when(pl.col("positive")).then(pl.lit("positive")).otherwise(pl.lit("negative")),
        resulted_at=pl.col("resulted").dt.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
        lab="lab",
        ct="ct",
    )
    results.write_csv(results_path)
    positive = per_tube.filter(pl.col("positive"))
    meta = {
        "lines": scans.height,
        "tubes": per_tube.height,
        "full_tubes": per_tube.filter(pl.col("members") == args.ratio).height,
        "sites_used": scans["site"].n_unique(),
        "positive_tubes": positive.height,
        "recalled": int(positive["members"].sum()),
        "result_lines": results.height,
        "scans_mb": round(scans_path.stat().st_size / 2**20, 1),
        "results_mb": round(results_path.stat().st_size / 2**20, 1),
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    print(f"  files written in {time.perf_counter() - t0:.1f} s: {meta}", flush=True)
    return Files(scans_path, results_path, residents_path, meta)


# --------------------------------------------------------------------------- timing the loader


def _label(sql: str) -> str:
    """A statement's kind: its first words (names kept, values and column lists dropped)."""
    words = " ".join(sql.split())
    if words.upper().startswith("SELECT"):
        match = re.search(r"\bFROM\s+(\"?\w+\"?)", words, re.IGNORECASE)
        return f"SELECT … FROM {match.group(1)}" if match else words.split("(")[0][:60]
    return " ".join(words.split(" (")[0].split()[:6])[:70]


def _explainable(label: str) -> bool:
    return label.startswith(("INSERT", "UPDATE", "DELETE", "SELECT")) or " AS" in label


@dataclass
class Timer:
    """Seconds per statement kind and per patched Python step while `active`; with `explain`,
    every statement whose kind is listed is first run under EXPLAIN (ANALYZE, BUFFERS) in a
    savepoint rolled back, and its plan kept."""

    active: bool = False
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    explain: set[str] = field(default_factory=set)
    plans: dict[str, str] = field(default_factory=dict)

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not self.active:
            return execute(sql, params, many, context)
        label = _label(sql)
        if label in self.explain and _explainable(label) and not many:
            cursor = context["cursor"]
            execute("SAVEPOINT bench_explain", None, False, context)
            execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params, False, context)
            self.plans[label] = "\n".join(row[0] for row in cursor.fetchall())
            execute("ROLLBACK TO SAVEPOINT bench_explain", None, False, context)
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add("sql: " + label, time.perf_counter() - t0)

    def add(self, label: str, seconds: float) -> None:
        self.seconds[label] += seconds
        self.calls[label] += 1

    def wrap(self, owner: Any, name: str, label: str) -> None:
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return inner(*args, **kwargs)
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.add(label, time.perf_counter() - t0)

        setattr(owner, name, timed)

    @contextmanager
    def on(self) -> Iterator[Timer]:
        self.seconds.clear()
        self.calls.clear()
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def top(self, total: float, k: int = 12) -> list[tuple[str, float, int]]:
        """The `k` largest kinds, the other kinds together, and the rest of `total` (Python
        between the timed steps: reading the file, the report, audit rows)."""
        rows = sorted(self.seconds.items(), key=lambda kv: kv[1], reverse=True)
        out = [(label, round(s, 2), self.calls[label]) for label, s in rows[:k]]
        others = rows[k:]
        if others:
            out.append(
                (
                    "other statements",
                    round(sum(s for _l, s in others), 2),
                    sum(self.calls[name] for name, _s in others),
                )
            )
        out.append(("rest (untimed Python)", round(total - sum(self.seconds.values()), 2), 0))
        return out


def _instrument(timer: Timer) -> None:
    """Time the loader's Python steps without changing it: parsing the CSV, checking values,
    the staging COPY, and each chunk's commit."""
    from django.db import connections

    from bastion.city import bulk
    from bastion.testing.ingest import known, reading, results, scans

    timer.wrap(reading, "_csv_frame", "python: parse CSV chunk (polars)")
    timer.wrap(scans, "_scan_stage", "python: check scan values (polars)")
    timer.wrap(known, "_ints", "copy: registry and round snapshot (binary COPY TO + numpy)")
    timer.wrap(scans, "_classify", "python: classify scans (polars)")
    timer.wrap(results, "_result_stage", "python: check result values (polars + Ct loop)")
    timer.wrap(bulk, "write_frame", "copy: COPY FROM STDIN (staging, tubes, scans)")
    timer.wrap(connections["default"], "commit", "commit")


def _call(*args: str) -> dict[str, Any]:
    from django.core.management import call_command

    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


# --------------------------------------------------------------------------- product path


def _product(files: Files, args: argparse.Namespace, timer: Timer) -> dict[str, Any]:
    from bastion.core.roles import ROLE_PERMISSIONS, Role, ScopeLevel
    from bastion.core.scopes import SYSTEM, Actor
    from bastion.testing import selectors, services

    city = Actor(
        user_id=1,
        role=Role.COMMAND_CENTRE,
        level=ScopeLevel.CITY,
        permissions=frozenset(ROLE_PERMISSIONS[Role.COMMAND_CENTRE]),
        label="command centre",
    )
    steps: dict[str, float] = {}
    breakdown: dict[str, Any] = {}
    started = time.perf_counter()
    t0 = started
    round_ = services.round_open(
        code=ROUND_CODE,
        name="Chengdu, 2 September 2022",
        starts_at=ROUND_DAY,
        deadline=ROUND_DAY + timedelta(days=2),
        pooling=POOLING,
        actor=SYSTEM,
        now=NOW,
    )
    steps["open the round"] = time.perf_counter() - t0
    print(f"  round opened in {steps['open the round']:.2f} s", flush=True)

    t0 = time.perf_counter()
    with timer.on():
        scans = _call("testing", "load-scans", str(files.scans), "--round", ROUND_CODE)
    steps["load-scans"] = time.perf_counter() - t0
    breakdown["load-scans"] = timer.top(steps["load-scans"])
    print(f"  load-scans in {steps['load-scans']:.1f} s: {scans}", flush=True)

    t0 = time.perf_counter()
    with timer.on():
        results = _call("testing", "load-results", str(files.results))
    steps["load-results"] = time.perf_counter() - t0
    breakdown["load-results"] = timer.top(steps["load-results"])
    print(f"  load-results in {steps['load-results']:.1f} s: {results}", flush=True)

    t0 = time.perf_counter()
    coverage = selectors.coverage(actor=city, round_=round_, by="grid")
    steps["coverage per grid"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    recalls = list(
        selectors.recalls_open(actor=city, round_=round_).values_list(
            "resident_id", "household_id", "grid_id", "tube_id", "opened_at"
        )
    )
    steps["open recall list"] = time.perf_counter() - t0
    total = time.perf_counter() - started
    print(
        f"  coverage ({len(coverage):,} grids) in {steps['coverage per grid']:.1f} s,"
        f" recalls ({len(recalls):,}) in {steps['open recall list']:.1f} s; total {total:.1f} s",
        flush=True,
    )
    t0 = time.perf_counter()
    progress = selectors.round_progress(round_)
    progress_s = time.perf_counter() - t0

    meta = files.meta
    checks = {
        "scans = lines": (scans["taken"], meta["lines"]),
        "records read": (scans["records"], meta["lines"]),
        "scans refused": (sum(scans["refused"].values()), 0),
        "tubes": (scans["tubes_created"], meta["tubes"]),
        "results taken": (results["taken"], meta["tubes"]),
        "recalls = members of positive pools": (results["recalls_opened"], meta["recalled"]),
        "open recall list": (len(recalls), meta["recalled"]),
        "coverage: residents": (sum(r.residents for r in coverage), args.residents),
        "coverage: sampled": (sum(r.sampled for r in coverage), meta["lines"]),
        "coverage: resulted": (sum(r.resulted for r in coverage), meta["lines"]),
        "unsampled = residents - scans": (sum(r.unsampled for r in coverage), args.residents - meta["lines"]),
        "progress: unsampled": (progress.unsampled, args.residents - meta["lines"]),
        "progress: positive tubes": (progress.positive_tubes, meta["positive_tubes"]),
    }
    return {
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
        "total_s": round(total, 1),
        "scans_per_s": round(meta["lines"] / steps["load-scans"]),
        "scans_report": scans,
        "results_report": results,
        "breakdown": breakdown,
        "round_progress_s (not in the total)": round(progress_s, 1),
        "checks": checks,
        "_coverage": {r.id: (r.residents, r.sampled, r.resulted) for r in coverage},
        "_recalls": len(recalls),
    }


# --------------------------------------------------------------------------- floor


def _floor(files: Files) -> dict[str, Any]:
    import psycopg
    from django.db import connection

    dsn = connection.settings_dict
    url = _url(dsn["NAME"])
    steps: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        # Untimed: the registry's residents -> grid, the counterpart of DuckDB's Parquet.
        t0 = time.perf_counter()
        conn.execute(
            "CREATE UNLOGGED TABLE bench_floor_residents AS"
            " SELECT r.id, h.grid_id FROM city_resident r JOIN city_household h ON h.id = r.household_id"
        )
        prepared = time.perf_counter() - t0
        conn.execute(
            "CREATE UNLOGGED TABLE bench_floor_scans"
            " (resident bigint, tube text, site text, scanned_at timestamptz)"
        )
        conn.execute(
            "CREATE UNLOGGED TABLE bench_floor_results"
            " (tube text, result text, resulted_at timestamptz, lab text, ct text)"
        )
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        t0 = started
        conn.execute(f"COPY bench_floor_scans FROM '{files.scans}' WITH (FORMAT csv, HEADER true)")
        steps["COPY scans"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        conn.execute(f"COPY bench_floor_results FROM '{files.results}' WITH (FORMAT csv, HEADER true)")
        steps["COPY results"] = time.perf_counter() - t0
        # Statistics, as any load leaves them (autovacuum would): without them the planner
        # expects 10^11 rows from the join, compiles it with JIT and takes twice as long.
        t0 = time.perf_counter()
        conn.execute("ANALYZE bench_floor_scans")
        conn.execute("ANALYZE bench_floor_results")
        conn.execute("ANALYZE bench_floor_residents")
        steps["ANALYZE"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        coverage = conn.execute(
            """
            SELECT r.grid_id, count(*), count(s.resident), count(x.tube)
            FROM bench_floor_residents r
            LEFT JOIN bench_floor_scans s ON s.resident = r.id
            LEFT JOIN bench_floor_results x ON x.tube = s.tube
            GROUP BY r.grid_id
            """
        ).fetchall()
        steps["coverage per grid"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        recalls = conn.execute(
            """
            SELECT s.resident, s.tube, x.resulted_at
            FROM bench_floor_scans s JOIN bench_floor_results x ON x.tube = s.tube
            WHERE x.result = 'positive'
            ORDER BY x.resulted_at, s.resident
            """
        ).fetchall()
        steps["recall list"] = time.perf_counter() - t0
        total = time.perf_counter() - started
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                """
                EXPLAIN SELECT r.grid_id, count(*), count(s.resident), count(x.tube)
                FROM bench_floor_residents r
                LEFT JOIN bench_floor_scans s ON s.resident = r.id
                LEFT JOIN bench_floor_results x ON x.tube = s.tube
                GROUP BY r.grid_id
                """
            ).fetchall()
        )
        for table in ("bench_floor_scans", "bench_floor_results", "bench_floor_residents"):
            conn.execute(f"DROP TABLE {table}")
    return {
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
        "total_s": round(total, 1),
        "residents_table_s (untimed)": round(prepared, 1),
        "coverage_plan": plan,
        "_coverage": {g: (n, s, x) for g, n, s, x in coverage},
        "_recalls": len(recalls),
    }


# --------------------------------------------------------------------------- DuckDB


def _duckdb(files: Files) -> dict[str, Any]:
    import duckdb

    steps: dict[str, float] = {}
    con = duckdb.connect()
    con.execute("SET threads = 2")
    started = time.perf_counter()
    t0 = started
    con.execute(
        f"CREATE TABLE scans AS SELECT * FROM read_csv('{files.scans}', header = true,"
        " columns = {'resident': 'BIGINT', 'tube': 'VARCHAR', 'site': 'VARCHAR',"
        " 'scanned_at': 'TIMESTAMPTZ'})"
    )
    con.execute(
        f"CREATE TABLE results AS SELECT * FROM read_csv('{files.results}', header = true,"
        " columns = {'tube': 'VARCHAR', 'result': 'VARCHAR', 'resulted_at': 'TIMESTAMPTZ',"
        " 'lab': 'VARCHAR', 'ct': 'VARCHAR'})"
    )
    steps["read the CSV files"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    coverage = con.execute(
        f"""
        SELECT r.grid, count(*), count(s.resident), count(x.tube)
        FROM read_parquet('{files.residents}') r
        LEFT JOIN scans s ON s.resident = r.id
        LEFT JOIN results x ON x.tube = s.tube
        GROUP BY r.grid
        """
    ).fetchall()
    steps["coverage per grid"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    recalls = con.execute(
        """
        SELECT s.resident, s.tube, CAST(x.resulted_at AS TIMESTAMP)  -- (no pytz here)
        FROM scans s JOIN results x ON x.tube = s.tube
        WHERE x.result = 'positive'
        ORDER BY x.resulted_at, s.resident
        """
    ).fetchall()
    steps["recall list"] = time.perf_counter() - t0
    total = time.perf_counter() - started
    con.close()
    return {
        "steps_s": {k: round(v, 2) for k, v in steps.items()},
        "total_s": round(total, 1),
        "_coverage": {g: (n, s, x) for g, n, s, x in coverage},
        "_recalls": len(recalls),
    }


# --------------------------------------------------------------------------- diagnosis


def _diagnose(files: Files, timer: Timer, product: dict[str, Any], lines: int) -> dict[str, str]:
    """One chunk of scans and its results into a second round (barcodes renamed, so that the
    tubes are new), the loader's slowest statements of the timed run explained as they run."""
    import polars as pl

    from bastion.core.scopes import SYSTEM
    from bastion.testing import services

    services.round_open(
        code=DIAG_CODE,
        starts_at=ROUND_DAY,
        deadline=ROUND_DAY + timedelta(days=2),
        pooling=POOLING,
        actor=SYSTEM,
        now=NOW,
    )
    scans = pl.read_csv(files.scans, n_rows=lines, infer_schema=False).with_columns(
        tube=pl.lit("X") + pl.col("tube")
    )
    tubes = scans["tube"].unique()
    results = (
        pl.read_csv(files.results, infer_schema=False)
        .with_columns(tube=pl.lit("X") + pl.col("tube"))
        .filter(pl.col("tube").is_in(tubes.implode()))
    )
    scans_path, results_path = FILES / "diag-scans.csv", FILES / "diag-results.csv"
    scans.write_csv(scans_path)
    results.write_csv(results_path)
    plans: dict[str, str] = {}
    for step, args in (
        ("load-scans", ("testing", "load-scans", str(scans_path), "--round", DIAG_CODE)),
        ("load-results", ("testing", "load-results", str(results_path))),
    ):
        slow = [
            label[5:]
            for label, _s, _c in product["breakdown"][step]
            if label.startswith("sql: ") and _explainable(label[5:])
        ][:2]
        timer.explain = set(slow)
        timer.plans.clear()
        with timer.on():
            _call(*args)
        for label in slow:
            plans[f"{step}: {label}"] = timer.plans.get(label, "(not run)")
    timer.explain = set()
    return plans


# --------------------------------------------------------------------------- main


def _same(name: str, got: dict[Any, Any], want: dict[Any, Any]) -> None:
    if got != want:
        diff = [k for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
        raise SystemExit(
            f"coverage per grid differs between {name}: {[(k, got.get(k), want.get(k)) for k in diff]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=21_000_000)
    parser.add_argument("--database", default="bench_zones")
    parser.add_argument("--keep", action="store_true", help="reuse a database already holding this city")
    parser.add_argument("--scans", type=int, default=None, help="default: 20/21 of the residents")
    parser.add_argument("--ratio", type=int, default=10)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--labs", type=int, default=100)
    parser.add_argument("--prevalence", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--fresh-files", action="store_true", help="write the files again")
    parser.add_argument("--no-diagnosis", action="store_true", help="skip the EXPLAIN ANALYZE chunk")
    args = parser.parse_args()
    if args.scans is None:
        args.scans = args.residents * 20 // 21

    generate = _database(args.database, args.residents, args.keep)
    _setup_django(args.database)
    from django.core.management import call_command
    from django.db import connection

    from bastion.core import clock

    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"testing round on {machine}, database {args.database}", flush=True)
    call_command("migrate", verbosity=0)
    figures: dict[str, Any] = {"machine": machine, "residents": args.residents, "scans": args.scans}
    if generate:
        print(f"generating a city of {args.residents:,} residents…", flush=True)
        figures["generation_s"] = round(_generate(args.residents), 1)
        print(f"  generated in {figures['generation_s']} s", flush=True)
    else:
        print("  kept the city already generated", flush=True)
    for table in ("city_household", "city_resident", "city_grid"):
        _sql(f'ANALYZE "{table}"')
    _clear_testing()
    grids = _sites_and_labs(args.sites, args.labs)
    files = _files(args, grids)
    figures["files"] = files.meta
    figures["postgres"] = dict(
        _sql(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
            " ('shared_buffers', 'work_mem', 'max_wal_size', 'max_parallel_workers_per_gather',"
            " 'synchronous_commit', 'server_version', 'jit')"
        )
    )

    timer = Timer()
    _instrument(timer)
    figures["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    print("product path…", flush=True)
    with clock.use(clock.FrozenClock(NOW)), connection.execute_wrapper(timer):
        product = _product(files, args, timer)
    figures["load_average_after_product"] = [round(x, 2) for x in os.getloadavg()]
    print("floor (COPY into unlogged tables, hand-written SQL)…", flush=True)
    floor = _floor(files)
    print(f"  {floor['steps_s']} total {floor['total_s']} s", flush=True)
    print("DuckDB…", flush=True)
    duck = _duckdb(files)
    print(f"  {duck['steps_s']} total {duck['total_s']} s", flush=True)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    _same("the product and the floor", product["_coverage"], floor["_coverage"])
    _same("the product and DuckDB", product["_coverage"], duck["_coverage"])
    checks = product["checks"]
    checks["floor recall list"] = (floor["_recalls"], files.meta["recalled"])
    checks["DuckDB recall list"] = (duck["_recalls"], files.meta["recalled"])
    failed = {k: v for k, v in checks.items() if v[0] != v[1]}
    for part in (product, floor, duck):
        for key in [k for k in part if k.startswith("_")]:
            del part[key]
    figures["product"], figures["floor"], figures["duckdb"] = product, floor, duck

    if not args.no_diagnosis:
        print("diagnosis: one chunk under EXPLAIN ANALYZE (untimed)…", flush=True)
        with clock.use(clock.FrozenClock(NOW)), connection.execute_wrapper(timer):
            figures["plans"] = _diagnose(files, timer, product, 200_000)

    print()
    print(
        f"load average (1, 5, 15 min): before {figures['load_average_before']},"
        f" after the product path {figures['load_average_after_product']},"
        f" at the end {figures['load_average_after']} on {os.cpu_count()} cores"
    )
    print("checks:", "all passed" if not failed else f"FAILED {failed}")
    for step in ("load-scans", "load-results"):
        print(f"\nwhere {step}'s time goes (seconds, calls):")
        for label, seconds, calls in product["breakdown"][step]:
            print(f"  {seconds:8.2f}  {calls:5d}  {label}")
    for name, plan in figures.get("plans", {}).items():
        print(f"\nEXPLAIN (ANALYZE, BUFFERS), one chunk of the diagnosis round — {name}:\n{plan}")
    ratio = product["total_s"] / floor["total_s"]
    figures["ratio_product_floor"] = round(ratio, 2)
    figures["ratio_product_duckdb"] = round(product["total_s"] / duck["total_s"], 1)
    print()
    print(
        f"A round of {files.meta['lines']:,} scans in {files.meta['tubes']:,} tubes,"
        f" {args.residents:,} residents"
    )
    print("| path | steps (s) | total | goal |")
    print("|---|---|---:|---|")
    ps = product["steps_s"]
    print(
        f"| product | {', '.join(f'{k} {v}' for k, v in ps.items())} | **{product['total_s']} s** |"
        f" < {TOTAL_GOAL_S:.0f} s: {'met' if product['total_s'] < TOTAL_GOAL_S else 'MISSED'} |"
    )
    print(
        f"| floor (PostgreSQL) | {', '.join(f'{k} {v}' for k, v in floor['steps_s'].items())} |"
        f" {floor['total_s']} s | |"
    )
    print(
        f"| product / floor | | **{ratio:.2f}x** |"
        f" ≤ {RATIO_GOAL}x: {'met' if ratio <= RATIO_GOAL else 'MISSED'} |"
    )
    print(f"| DuckDB | {', '.join(f'{k} {v}' for k, v in duck['steps_s'].items())} | {duck['total_s']} s | |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"testing_round-{args.residents}.json").write_text(json.dumps(figures, indent=1, default=str))
    sys.stdout.flush()
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
