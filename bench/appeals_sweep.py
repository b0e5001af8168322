"""Appeals (issue 15): the deadline sweep of 100,000 open tickets must take under 5 s.

    flock /work/notes/bench.lock .venv/bin/python bench/appeals_sweep.py [--tickets 100000]

PostgreSQL on 127.0.0.1:5432 (database `appeals_bench`, dropped and created). Untimed: migrate;
a city of `--residents` generated (seed 1); `--tickets` open tickets written straight into the
table over its households (one INSERT ... SELECT), the worst case for the sweep: every one due,
three in four past their deadline to sign (escalated) and one in four replied with the resident
silent past the set time (closed). Timed: one `appeals_sweep` (its transaction included), then a
second one with nothing due (what every quarter of an hour costs when nothing happens). Checked:
every ticket escalated or closed once, each with its history row and its audit row.

Figures go to stdout and bench/out/appeals_sweep.json; docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2022, 9, 1, 12, 0, tzinfo=UTC)

TICKETS = """
INSERT INTO appeals_appeal (
    household_id, community_id, district_id, category, urgency, channel, text, contact_name,
    contact_phone, about_kind, vulnerable, lockdown, owner_id, state, escalation_level,
    hand_backs, reopened, policy_version, raised_by, raised_at, dispatched_at, sign_by, reply_by,
    replied_at, reply, rating, next_escalation_at, close_at, changed_at)
SELECT h.id, h.community_id, h.district_id, 'other', 'normal', 'hotline', '', '', '', '', FALSE,
       FALSE, %(owner)s,
       CASE WHEN n %% 4 = 0 THEN 'replied' ELSE 'dispatched' END, 0, 0, 0, 'bench', 'bench',
       %(raised)s, %(raised)s, %(sign_by)s, %(reply_by)s,
       CASE WHEN n %% 4 = 0 THEN %(raised)s END, CASE WHEN n %% 4 = 0 THEN '已处理' ELSE '' END, '',
       CASE WHEN n %% 4 = 0 THEN NULL ELSE %(sign_by)s END,
       CASE WHEN n %% 4 = 0 THEN %(close_at)s END, %(raised)s
  FROM generate_series(1, %(tickets)s) AS n
  JOIN city_household AS h ON h.id = (SELECT min(id) FROM city_household) + n %% %(households)s
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--residents", type=int, default=20_000)
    args = parser.parse_args()
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "appeals_bench"')
        conn.execute('CREATE DATABASE "appeals_bench"')
    os.environ["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + "/appeals_bench"
    os.environ["BASTION_DEV"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bastion.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bastion.appeals import services
    from bastion.appeals.models import Appeal, AppealEvent
    from bastion.city import services as city
    from bastion.city.models import Household
    from bastion.core import clock
    from bastion.core.models import AuditEntry
    from bastion.core.scopes import SYSTEM

    call_command("migrate", verbosity=0)
    with clock.use(clock.FrozenClock(NOW)):
        city.city_generate(residents=args.residents, seed=1, as_of=date(2022, 9, 1), actor=SYSTEM, now=NOW)
        first = Household.objects.order_by("pk").first()
        if first is None:
            raise SystemExit("no household generated")
        owner = services.owner_for(kind="community", household=first)
        raised = NOW - timedelta(days=4)
        with connection.cursor() as cursor:
            cursor.execute(
                TICKETS,
                {
                    "owner": owner.pk,
                    "raised": raised,
                    "sign_by": raised + timedelta(days=1),
                    "reply_by": raised + timedelta(days=7),
                    "close_at": raised + timedelta(days=3),
                    "tickets": args.tickets,
                    "households": Household.objects.count(),
                },
            )
            cursor.execute("ANALYZE appeals_appeal")
        if Appeal.objects.count() != args.tickets:
            raise SystemExit("the tickets were not all written")
        started = time.perf_counter()
        swept = services.appeals_sweep(actor=SYSTEM, now=NOW)
        sweep_s = time.perf_counter() - started
        started = time.perf_counter()
        idle = services.appeals_sweep(actor=SYSTEM, now=NOW)
        idle_s = time.perf_counter() - started
    if swept.escalated + swept.closed != args.tickets or (idle.escalated, idle.closed) != (0, 0):
        raise SystemExit(f"swept {swept}, then {idle}")
    if AppealEvent.objects.filter(kind__in=["escalated", "closed"]).count() != args.tickets:
        raise SystemExit("a ticket without its history row")
    if AuditEntry.objects.filter(action__startswith="appeals.appeal.").count() != args.tickets:
        raise SystemExit("a ticket without its audit row")
    figures = {
        "tickets": args.tickets,
        "escalated": swept.escalated,
        "closed": swept.closed,
        "sweep_s": round(sweep_s, 2),
        "idle_sweep_ms": round(idle_s * 1000, 1),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(figures, indent=1))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "appeals_sweep.json").write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
