"""The single-scan API under load (issue 4): POST /api/v1/testing/scans on PostgreSQL.

Goal: at least 1,000 scans/s with p99 under 200 ms, measured with a load generator on
loopback, bounded in time.

    .venv/bin/python bench/scan_api.py --database bench_scan_api --seconds 30

1. The database (PostgreSQL on 127.0.0.1:5432) is migrated, and a city of `--residents` is
   generated with seed 1 unless one of that size is there already (untimed).
2. A round of its own (API-<time>) over the whole city, 10:1 at every level; a sampler account
   (bench-sampler) and a device token for it, issued by the service; the residents shuffled
   into a file (untimed).
3. granian (`--workers` processes, `--threads` blocking threads each, one-threaded Rust
   runtime: the way README serves the platform) or gunicorn (`--server gunicorn`, of
   `--worker-class`) on 127.0.0.1, and wrk (`--connections` keep-alive connections over
   `--wrk-threads` threads, bench/scan_api.lua) posting scans of distinct residents into
   tubes of ten, each with its own client key, for `--seconds` (wrk's -d: bounded in time;
   a request slower than 5 s counts as a timeout).
4. Checked afterwards in the database: the round's scans equal the 201 answers, and its
   tubes' members add up to its scans.

wrk is Debian's package: `make bench-scan-api` installs it when missing. The round, account
and token stay for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PORT = 8099
SCRIPT = ROOT / "bench" / "scan_api.lua"


def _url(database: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"


def _env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": _url(database),
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghij",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "false",
        # Served on plain http on loopback, on purpose: no redirect to https.
        "SECURE_SSL_REDIRECT": "false",
        "BASTION_HOME": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "bastion.settings",
    }


def _city(database: str, residents: int) -> None:
    """Create and migrate the database; generate the city unless one of that size is there."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            conn.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(_env(database))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bastion.core.models import AuditEntry

    generated = (
        AuditEntry.objects.filter(action="city.registry.generated").order_by("-id").values("after").first()
    )
    if generated and int((generated["after"] or {}).get("residents", 0)) == residents:
        return
    from bastion.city import services as city
    from bastion.core.scopes import SYSTEM

    print(f"generating a city of {residents:,} residents in {database}", flush=True)
    city.city_generate(
        residents=residents, seed=1, as_of=date(2022, 9, 1), replace=True, actor=SYSTEM, now=datetime.now(UTC)
    )


def prepare(path: Path) -> tuple[str, str]:
    """Open a round, a sampler account and its device token; write the residents to `path`."""
    from django.contrib.auth import get_user_model

    from bastion.city import services as city
    from bastion.city.models import Resident
    from bastion.core import devices
    from bastion.core.scopes import SYSTEM
    from bastion.testing import services as testing

    now = datetime.now(UTC)
    code = f"API-{now:%m%d%H%M%S}"
    ten = {"ratio": 10, "per_household": False}
    testing.round_open(
        code=code,
        starts_at=now - timedelta(hours=1),
        deadline=now + timedelta(hours=23),
        pooling={"high": ten, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=now,
    )
    if not get_user_model().objects.filter(username="bench-sampler").exists():
        city.account_grant(
            username="bench-sampler", password=os.urandom(16).hex(), role="sampler", actor=SYSTEM, now=now
        )
    issued = devices.device_token_issue(username="bench-sampler", name=f"bench {code}", actor=SYSTEM, now=now)
    residents = list(Resident.objects.values_list("pk", flat=True))
    random.Random(1).shuffle(residents)
    path.write_text("\n".join(map(str, residents)) + "\n")
    return code, issued.secret


def _round_counts(code: str) -> tuple[int, int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM testing_scan s WHERE s.round_id = r.id),"
            " (SELECT count(*) FROM testing_tube t WHERE t.round_id = r.id),"
            " (SELECT coalesce(sum(members), 0) FROM testing_tube t WHERE t.round_id = r.id)"
            " FROM testing_round r WHERE r.code = %s",
            [code],
        )
        scans, tubes, members = cursor.fetchone()
    return int(scans), int(tubes), int(members)


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU of each process (Linux /proc), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / tick
    return seconds


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in found.stdout.split()]


def _backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database (the web workers')."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [database]
        ).fetchall()
    return [int(row[0]) for row in rows]


def _serve(args: argparse.Namespace) -> subprocess.Popen[bytes]:
    if args.server == "granian":
        command = [
            str(Path(sys.executable).with_name("granian")),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(PORT),
            "--workers",
            str(args.workers),
            "--blocking-threads",
            str(args.threads),
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            *args.server_args.split(),
            "bastion.wsgi:application",
        ]
        return _started(subprocess.Popen(command, env=_env(args.database), cwd=ROOT))
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "bastion.wsgi",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--bind",
        f"127.0.0.1:{PORT}",
        "--keep-alive",
        "60",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    return _started(subprocess.Popen(command, env=_env(args.database), cwd=ROOT))


def _started(server: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    import http.client

    for _ in range(150):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", default="bench_scan_api")
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--server", default="granian", choices=["granian", "gunicorn"])
    parser.add_argument("--server-args", default="--runtime-mode st", help="more options for granian")
    parser.add_argument("--workers", type=int, default=3, help="server worker processes")
    parser.add_argument("--worker-class", default="gthread", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (granian, gthread)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's keep-alive connections")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk's threads")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is missing: `make bench-scan-api` installs Debian's package")

    _city(args.database, args.residents)
    workdir = Path(tempfile.mkdtemp(prefix="scan-api-"))
    residents_file = workdir / "residents.txt"
    code, secret = prepare(residents_file)
    from django.db import connection

    connection.close()  # the benchmark's own connection stays idle during the run
    server = _serve(args)
    # Warm-up, not measured: each worker loads the URLconf (and the API's modules) on its
    # first request, a second or two of CPU that a long-running server pays once.
    subprocess.run(
        [wrk, "-t", "1", "-c", "32", "-d", "3s", f"http://127.0.0.1:{PORT}/api/v1/openapi.json"],
        capture_output=True,
        check=True,
    )
    warmed = resource.getrusage(resource.RUSAGE_CHILDREN)
    warm_up_cpu = warmed.ru_utime + warmed.ru_stime
    workers = [server.pid, *_children(server.pid)]
    workers_before = _cpu_seconds(workers)
    load_before = os.getloadavg()
    try:
        run = subprocess.run(
            [
                wrk,
                "-t",
                str(args.wrk_threads),
                "-c",
                str(args.connections),
                "-d",
                f"{args.seconds}s",
                "--timeout",
                "5s",
                "-s",
                str(SCRIPT),
                f"http://127.0.0.1:{PORT}",
                "--",
                secret,
                code,
                str(residents_file),
                str(args.wrk_threads),
                str(max(1, args.connections // args.wrk_threads)),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child waited for yet
        wrk_cpu_s = waited.ru_utime + waited.ru_stime - warm_up_cpu
        backends = _backends(args.database)
        workers_cpu = sum(_cpu_seconds(workers).values()) - sum(workers_before.values())
        backends_cpu = sum(_cpu_seconds(backends).values())
    finally:
        load_after = os.getloadavg()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        sys.exit(f"wrk printed no result:\n{run.stdout}\n{run.stderr}")
    got: dict[str, Any] = json.loads(line[len("RESULT ") :])
    scans, tubes, members = _round_counts(code)
    seconds = got["duration_us"] / 1e6
    rate = got["created"] / seconds
    errors = got["other_status"] + sum(got["socket_errors"].values())
    figures = {
        "round": code,
        "seconds": round(seconds, 1),
        "server": f"granian {args.workers} x {args.threads} blocking threads"
        if args.server == "granian"
        else f"gunicorn {args.workers} x {args.worker_class}"
        + (f" ({args.threads} threads)" if args.worker_class == "gthread" else ""),
        "generator": f"wrk {args.wrk_threads} thread(s), {args.connections} connections",
        "requests": got["requests"],
        "created": got["created"],
        "scans_per_s": round(rate, 1),
        "p50_ms": round(got["p50_us"] / 1000, 1),
        "p95_ms": round(got["p95_us"] / 1000, 1),
        "p99_ms": round(got["p99_us"] / 1000, 1),
        "max_ms": round(got["max_us"] / 1000, 1),
        "mean_ms": round(got["mean_us"] / 1000, 1),
        "errors": errors,
        "other_status": got["other_status"],
        "socket_errors": got["socket_errors"],
        "first_errors": got["first_errors"],
        # CPU per scan taken: what 2 free cores would allow is about 2000 ms / the total.
        "cpu_ms_per_scan": {
            "server": round(workers_cpu * 1000 / max(scans, 1), 3),
            "postgres_backends": round(backends_cpu * 1000 / max(scans, 1), 3),
            "wrk": round(wrk_cpu_s * 1000 / max(scans, 1), 3),
            "total": round((workers_cpu + backends_cpu + wrk_cpu_s) * 1000 / max(scans, 1), 3),
        },
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "checked": {"scans": scans, "tubes": tubes, "members": members},
    }
    print(json.dumps(figures, indent=1))
    # Requests still in flight when wrk stops are taken by the server but not counted by wrk.
    if not 0 <= scans - got["created"] <= args.connections or members != scans:
        sys.exit(f"the round holds {scans} scans and {members} tube members for {got['created']} answers 201")
    print(
        f"\n{rate:,.0f} scans/s (goal ≥ 1,000), p99 {figures['p99_ms']:.0f} ms (goal < 200 ms), "
        f"{errors} errors; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )


if __name__ == "__main__":
    main()
