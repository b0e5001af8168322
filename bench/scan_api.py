"""The single-scan API under load (issue 4): POST /api/v1/testing/scans on PostgreSQL.

Goal: at least 1,000 scans/s with p99 under 200 ms, measured with a load generator on
loopback, bounded in time. The server is gunicorn (sync workers) on the benchmark's own
database holding a generated city; the load generator is `--clients` processes of
`--threads` threads, each with its own keep-alive connection and session, posting scans of
distinct residents into tubes of ten for `--seconds` seconds.

    .venv/bin/python bench/scan_api.py --database bench_testing_quick --seconds 30

The city must exist (bench/testing_round.py --residents 1000000 --database
bench_testing_quick makes one). The script opens a round of its own (API-<time>) and a
sampler account, and leaves them for inspection.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-sampler-password-2022"  # noqa: S105 - a throwaway account on a bench database
PORT = 8099


def _env(database: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "SECRET_KEY": "bench-only-secret-key-0123456789abcdefghij",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_COOKIES": "false",
        "BASTION_HOME": str(ROOT),
    }


def prepare(database: str) -> tuple[str, list[int]]:
    """Open a round and a sampler account; return the round's code and residents to scan."""
    os.environ.update(_env(database))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bastion.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bastion.city import services as city
    from bastion.city.models import Resident
    from bastion.core.scopes import SYSTEM
    from bastion.testing import services as testing

    now = datetime.now(UTC)
    code = f"API-{now:%H%M%S}"
    ten = {"ratio": 10, "per_household": False}
    testing.round_open(
        code=code,
        starts_at=now - timedelta(hours=1),
        deadline=now + timedelta(hours=23),
        pooling={"high": ten, "medium": ten, "low": ten},
        actor=SYSTEM,
        now=now,
    )
    user = get_user_model().objects.filter(username="bench-sampler").first()
    if user is None:
        city.account_grant(username="bench-sampler", password=PASSWORD, role="sampler", actor=SYSTEM, now=now)
    residents = list(Resident.objects.order_by("?").values_list("pk", flat=True)[:400_000])
    return code, residents


def _session() -> tuple[http.client.HTTPConnection, dict[str, str]]:
    """Log in through the console's form: the session and CSRF cookies for the API."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    conn.request("GET", "/login/")
    page = conn.getresponse()
    body = page.read().decode()
    csrf = re.search(r"csrftoken=([^;]+)", page.getheader("Set-Cookie") or "")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not csrf or not token:
        raise RuntimeError("no CSRF token on the login page")
    form = f"username=bench-sampler&password={PASSWORD}&csrfmiddlewaretoken={token.group(1)}"
    conn.request(
        "POST",
        "/login/",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf.group(1)}",
            "Referer": f"http://127.0.0.1:{PORT}/login/",
        },
    )
    done = conn.getresponse()
    done.read()
    session = re.search(r"sessionid=([^;]+)", done.getheader("Set-Cookie") or "")
    csrf_after = re.search(r"csrftoken=([^;]+)", done.getheader("Set-Cookie") or "")
    if not session:
        raise RuntimeError(f"login failed ({done.status})")
    token_value = csrf_after.group(1) if csrf_after else csrf.group(1)
    return conn, {
        "Cookie": f"sessionid={session.group(1)}; csrftoken={token_value}",
        "X-CSRFToken": token_value,
        "Content-Type": "application/json",
        "Referer": f"http://127.0.0.1:{PORT}/",
    }


def _client(code: str, residents: list[int], seconds: float, start_at: float, out: Any, tag: int) -> None:
    latencies: list[float] = []
    errors: dict[int, int] = {}

    def worker(part: list[int], thread_tag: int) -> None:
        conn, headers = _session()
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        for i, resident in enumerate(part):
            if time.time() >= end:
                break
            body = json.dumps(
                {
                    "round": code,
                    "resident_id": resident,
                    "tube": f"{code}-{tag}-{thread_tag}-{i // 10}",
                    "client_key": f"{code}-{tag}-{thread_tag}-{i}",
                }
            )
            began = time.perf_counter()
            conn.request("POST", "/api/v1/testing/scans", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            latencies.append(time.perf_counter() - began)
            if response.status != 201:
                errors[response.status] = errors.get(response.status, 0) + 1

    threads_count = len(residents)
    parts = residents
    threads = [threading.Thread(target=worker, args=(part, n)) for n, part in enumerate(parts)]
    del threads_count
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put((latencies, errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="bench_testing_quick")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--threads", type=int, default=8, help="connections per load generator process")
    args = parser.parse_args()

    code, residents = prepare(args.database)
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "bastion.wsgi",
            "--workers",
            str(args.workers),
            "--bind",
            f"127.0.0.1:{PORT}",
            "--keep-alive",
            "60",
            "--log-level",
            "warning",
        ],
        env=_env(args.database),
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/login/")
                break
            except OSError:
                time.sleep(0.2)
        per_connection = len(residents) // (args.clients * args.threads)
        chunks = [
            [
                residents[
                    (c * args.threads + t) * per_connection : (c * args.threads + t + 1) * per_connection
                ]
                for t in range(args.threads)
            ]
            for c in range(args.clients)
        ]
        queue: Any = multiprocessing.Queue()
        start_at = time.time() + 5
        clients = [
            multiprocessing.Process(target=_client, args=(code, chunks[c], args.seconds, start_at, queue, c))
            for c in range(args.clients)
        ]
        for client in clients:
            client.start()
        latencies: list[float] = []
        errors: dict[int, int] = {}
        for _ in clients:
            got, errs = queue.get()
            latencies += got
            for status, n in errs.items():
                errors[status] = errors.get(status, 0) + n
        for client in clients:
            client.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    latencies.sort()

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q / 100 * len(latencies)))] * 1000

    rate = len(latencies) / args.seconds
    print(
        json.dumps(
            {
                "round": code,
                "seconds": args.seconds,
                "gunicorn_workers": args.workers,
                "connections": args.clients * args.threads,
                "requests": len(latencies),
                "scans_per_s": round(rate, 1),
                "p50_ms": round(pct(50), 1),
                "p95_ms": round(pct(95), 1),
                "p99_ms": round(pct(99), 1),
                "max_ms": round(latencies[-1] * 1000, 1),
                "errors": errors,
                "mean_ms": round(statistics.fmean(latencies) * 1000, 1),
                "load_average": os.getloadavg(),
            },
            indent=1,
        )
    )
    print(
        f"\n{rate:,.0f} scans/s (goal ≥ 1,000), p99 {pct(99):.0f} ms (goal < 200 ms), "
        f"{sum(errors.values())} errors"
    )


if __name__ == "__main__":
    main()
