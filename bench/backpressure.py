"""A burst on the single-scan API (issue 14 §6): answered with back-pressure, never a pile-up.

    .venv/bin/python bench/backpressure.py --database bench_scan_api --seconds 30

The same city, round, device token and server as bench/scan_api.py (granian on loopback,
PostgreSQL), but served with more blocking threads than the scans' gate admits (core/shedding.py:
`SHEDDING_IN_FLIGHT` a process, waiting at most `SHEDDING_WAIT_MS`), and three phases:

1. **steady**: wrk with `--connections` (32) keep-alive connections for `--seconds`: the
   sustainable rate, as `make bench-scan-api` measures it.
2. **burst**: wrk with `--burst-connections` (ten times as many or more) for `--seconds`, a
   closed loop that sends the next request as soon as an answer comes: far more than the
   machine serves. wrk's latencies are those of every answer, 201 and 503 alike; the latency of
   the *served* requests is measured beside it by `--probes` clients of our own (each one
   connection posting scans one after another, timing each), which get their share of the
   server like any other connection.
3. **after**: the server still answers: a scan posted one at a time, `--after` times, each
   timed; the worker processes are the same ones as before the burst.

Checked afterwards in the database: the round's scans equal the 201 answers of all phases (a
refused scan wrote nothing), and its tubes' members add up to its scans. Figures as JSON.
`make bench-backpressure` runs it (installing wrk when missing).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scan_api  # bench/scan_api.py: the city, the round, the server

PORT = scan_api.PORT


def _wrk(
    wrk: str,
    connections: int,
    threads: int,
    seconds: int,
    secret: str,
    code: str,
    residents: Path,
    first: int,
    tag: str,
) -> dict[str, Any]:
    """One wrk run of bench/scan_api.lua, taking residents from line `first` of the file on; `tag`
    keeps its tubes and client keys apart from the other run's."""
    run = subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(scan_api.SCRIPT),
            f"http://127.0.0.1:{PORT}",
            "--",
            secret,
            code,
            str(residents),
            str(threads),
            str(max(1, connections // threads)),
            str(first),
            tag,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"wrk printed no result:\n{run.stdout}\n{run.stderr}")
    got: dict[str, Any] = json.loads(line[len("RESULT ") :])
    return got


class Probe(threading.Thread):
    """One client on one keep-alive connection, posting scans of its own residents one after
    another until told to stop: the latency of each answer, by status."""

    def __init__(self, secret: str, code: str, residents: list[str], name: str) -> None:
        super().__init__(daemon=True)
        self.secret, self.code, self.residents, self.tag = secret, code, residents, name
        self.stop = threading.Event()
        self.served: list[float] = []
        self.refused: list[float] = []
        self.retry_after: set[str] = set()
        self.other: dict[str, int] = {}

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
        headers = {"Authorization": f"Bearer {self.secret}", "Content-Type": "application/json"}
        for n, resident in enumerate(self.residents):
            if self.stop.is_set():
                break
            body = json.dumps(
                {
                    "round": self.code,
                    "resident_id": int(resident),
                    "tube": f"{self.code}-{self.tag}-{n // 10}",
                    "client_key": f"{self.code}-{self.tag}-{n}",
                }
            )
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/testing/scans", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except OSError as exc:
                self.other[type(exc).__name__] = self.other.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
                continue
            took = time.perf_counter() - started
            if response.status == 201:
                self.served.append(took)
            elif response.status == 503:
                self.refused.append(took)
                self.retry_after.add(response.getheader("Retry-After") or "")
            else:
                self.other[str(response.status)] = self.other.get(str(response.status), 0) + 1
        conn.close()


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000, 1)


def _summary(got: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {
        "answers": got["requests"],
        "answers_per_s": round(got["requests"] / seconds, 1),
        "created": got["created"],
        "created_per_s": round(got["created"] / seconds, 1),
        "refused_503": got["status_503"],
        "refused_503_without_retry_after": got["status_503_without_retry_after"],
        "other_status": got["other_status"] - got["status_503"],
        "socket_errors": got["socket_errors"],
        "all_answers_ms": {
            "p50": round(got["p50_us"] / 1000, 1),
            "p99": round(got["p99_us"] / 1000, 1),
            "max": round(got["max_us"] / 1000, 1),
        },
        "first_errors": got["first_errors"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_scan_api")
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3, help="server worker processes")
    parser.add_argument("--threads", type=int, default=24, help="granian blocking threads a worker")
    parser.add_argument("--server-args", default="--runtime-mode st", help="more options for granian")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections, steady phase")
    parser.add_argument("--burst-connections", type=int, default=1000, help="wrk's connections, burst")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk's threads in the burst")
    parser.add_argument("--probes", type=int, default=4, help="clients timing served scans in the burst")
    parser.add_argument("--after", type=int, default=200, help="scans posted one at a time afterwards")
    parser.add_argument("--skip-steady", action="store_true")
    args = parser.parse_args()
    args.server = "granian"
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is missing: `make bench-backpressure` installs Debian's package")

    scan_api._city(args.database, args.residents)
    workdir = Path(tempfile.mkdtemp(prefix="backpressure-"))
    residents_file = workdir / "residents.txt"
    code, secret = scan_api.prepare(residents_file)
    residents = residents_file.read_text().split()
    # The probes and the phase after take residents of their own; wrk the rest: the steady phase
    # from the file's start, the burst from line 100,000 on (wrapping round if it runs out).
    spare = residents[-(args.probes + 1) * 20_000 :]
    residents_file.write_text("\n".join(residents[: -len(spare)]) + "\n")
    from django.conf import settings
    from django.db import connection

    def settings_value(name: str) -> int:
        value: int = getattr(settings, name)
        return value

    connection.close()
    server = scan_api._serve(args)
    figures: dict[str, Any] = {
        "round": code,
        "server": f"granian {args.workers} x {args.threads} blocking threads",
        "gate": {name: settings_value(name) for name in ("SHEDDING_IN_FLIGHT", "SHEDDING_WAIT_MS")},
    }
    try:
        subprocess.run(
            [wrk, "-t", "1", "-c", "32", "-d", "3s", f"http://127.0.0.1:{PORT}/api/v1/openapi.json"],
            capture_output=True,
            check=True,
        )
        workers_before = sorted(scan_api._children(server.pid))
        created = 0
        if not args.skip_steady:
            steady = _wrk(wrk, args.connections, 1, args.seconds, secret, code, residents_file, 0, "s")
            figures["steady"] = {
                "generator": f"wrk 1 thread, {args.connections} connections",
                **_summary(steady, steady["duration_us"] / 1e6),
            }
            created += steady["created"]
        probes = [
            Probe(secret, code, spare[i * 20_000 : (i + 1) * 20_000], f"probe{i}") for i in range(args.probes)
        ]
        for probe in probes:
            probe.start()
        burst = _wrk(
            wrk,
            args.burst_connections,
            args.wrk_threads,
            args.seconds,
            secret,
            code,
            residents_file,
            100_000,
            "b",
        )
        for probe in probes:
            probe.stop.set()
        for probe in probes:
            probe.join(timeout=30)
        served = [x for p in probes for x in p.served]
        refused = [x for p in probes for x in p.refused]
        created += burst["created"] + len(served)
        figures["burst"] = {
            "generator": f"wrk {args.wrk_threads} threads, {args.burst_connections} connections"
            f" + {args.probes} probe connections",
            **_summary(burst, burst["duration_us"] / 1e6),
            "probes": {
                "served": len(served),
                "refused_503": len(refused),
                "other": {k: sum(p.other.get(k, 0) for p in probes) for p in probes for k in p.other},
                "served_ms": {q: _percentile(served, n) for q, n in (("p50", 50), ("p95", 95), ("p99", 99))}
                | {"max": _percentile(served, 100)},
                "refused_ms": {"p50": _percentile(refused, 50), "p99": _percentile(refused, 99)},
                "retry_after": sorted(r for p in probes for r in p.retry_after),
            },
        }
        # After the burst: the same workers answer scans one at a time, promptly.
        time.sleep(1)
        after = Probe(secret, code, spare[args.probes * 20_000 :][: args.after], "after")
        after.run()
        created += len(after.served)
        figures["after"] = {
            "scans": args.after,
            "served": len(after.served),
            "refused_503": len(after.refused),
            "other": after.other,
            "served_ms": {"p50": _percentile(after.served, 50), "max": _percentile(after.served, 100)},
            "same_workers": sorted(scan_api._children(server.pid)) == workers_before,
            "server_running": server.poll() is None,
        }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    scans, _tubes, members = scan_api._round_counts(code)
    figures["checked"] = {"scans": scans, "answers_201": created, "members": members}
    print(json.dumps(figures, indent=1))
    # Requests in flight when wrk stops are taken by the server but not counted by wrk.
    in_flight = args.connections + args.burst_connections
    if not 0 <= scans - created <= in_flight or members != scans:
        sys.exit(f"the round holds {scans} scans and {members} tube members for {created} answers 201")


if __name__ == "__main__":
    main()
