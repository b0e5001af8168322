"""What storing scans costs on this machine, index by index (issue 4's round, the part no loader
can avoid): the last 1 M scans of a Chengdu round written again by COPY into `testing_scan`
beside the 19 M others, with the product's indexes and without some of them.

    .venv/bin/python bench/scan_storage.py --database bench_round --repeat 3

Needs the round `make bench-testing` leaves (`bench/testing_round.py --keep`: 20 M scans).

1. The round's last `--rows` scans (by id: the file's last lines) are kept aside in a table of
   their own and deleted from `testing_scan`, which is then vacuumed (untimed).
2. For each variant, `--repeat` times: in a transaction rolled back afterwards, the indexes the
   variant leaves out are dropped, the rows are COPYed back (text format, the file's order, or
   sorted by resident), and the time and the WAL written are measured.
3. The rows are put back and the side table dropped, whatever happens: the round is as before.

Variants: `all` (the product's table), `no tube index`, `no (round, resident) index`, `primary
key only`, and `all, sorted by resident`. The floor of issue 4 (an UNLOGGED table without any
index, COPY from a server-side file) is measured by `bench/testing_round.py`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from typing import Any

import psycopg

COLUMNS = (
    "round_id, tube_id, resident_id, household_id, grid_id, district_id, site_id, retest,"
    " scanned_at, sampler, client_key"
)
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    # name: (indexes dropped, order of the rows)
    "all indexes (the product's table)": ((), "id"),
    "without the tube index": (("scan_tube_idx",), "id"),
    "without the (round, resident) index": (("scan_once_per_round",), "id"),
    "primary key only": (("scan_tube_idx", "scan_once_per_round"), "id"),
    "all indexes, rows sorted by resident": ((), "resident_id"),
}


def _rows(conn: psycopg.Connection[Any], order: str) -> bytes:
    out = io.BytesIO()
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY (SELECT {COLUMNS} FROM bench_scans_aside ORDER BY {order}) TO STDOUT") as copy,
    ):
        for block in copy:
            out.write(block)
    return out.getvalue()


def _one(cur: psycopg.Cursor[Any], query: str, params: list[Any] | None = None) -> Any:
    row = cur.execute(query, params).fetchone()
    if row is None:
        raise SystemExit(f"no row from {query}")
    return row[0]


def _measure(conn: psycopg.Connection[Any], dropped: tuple[str, ...], payload: bytes) -> tuple[float, float]:
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        for index in dropped:
            cur.execute(f"DROP INDEX {index}")
        before = _one(cur, "SELECT pg_current_wal_insert_lsn()")
        started = time.perf_counter()
        with cur.copy(f"COPY testing_scan ({COLUMNS}) FROM STDIN") as copy:
            for start in range(0, len(payload), 1 << 20):
                copy.write(payload[start : start + (1 << 20)])
        seconds = time.perf_counter() - started
        wal = _one(cur, "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before])
        return seconds, float(wal) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_round")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    conn = psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{args.database}", autocommit=True)
    with conn.cursor() as cur:
        row = cur.execute(
            "SELECT round_id, max(id) FROM testing_scan GROUP BY round_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise SystemExit("no scans: run `make bench-testing` first")
        round_id, top = row
        total = cur.execute("SELECT count(*) FROM testing_scan").fetchone()
        cur.execute("DROP TABLE IF EXISTS bench_scans_aside")
        cur.execute(
            f"CREATE TABLE bench_scans_aside AS SELECT id, {COLUMNS} FROM testing_scan"
            " WHERE round_id = %s AND id > %s",
            [round_id, top - args.rows],
        )
        cur.execute("DELETE FROM testing_scan WHERE id IN (SELECT id FROM bench_scans_aside)")
        cur.execute("VACUUM testing_scan")
        cur.execute("CHECKPOINT")
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, (dropped, order) in VARIANTS.items():
            payload = _rows(conn, order)
            runs = [_measure(conn, dropped, payload) for _ in range(args.repeat)]
            seconds = [s for s, _w in runs]
            results[name] = {
                "seconds": [round(s, 2) for s in seconds],
                "median_s": round(statistics.median(seconds), 2),
                "us_per_scan": round(statistics.median(seconds) * 1e6 / args.rows, 2),
                "wal_mb": round(statistics.median(w for _s, w in runs), 1),
            }
            print(f"{name:40s} {results[name]}", flush=True)
    finally:
        with conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO testing_scan (id, {COLUMNS}) SELECT id, {COLUMNS} FROM bench_scans_aside"
            )
            cur.execute("DROP TABLE bench_scans_aside")
            after = cur.execute("SELECT count(*) FROM testing_scan").fetchone()
            if after != total:
                raise SystemExit(f"the round was not put back: {after} scans against {total}")
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
                "database": args.database,
                "scans_in_table": total[0] if total else None,
                "rows": args.rows,
                "variants": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
