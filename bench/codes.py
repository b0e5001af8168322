"""Health codes at city scale (issue 14 §6): a zone's recolouring, a 20 M round, venue checks.

    .venv/bin/python bench/codes.py --database bench_zones --keep            # 21 M residents
    .venv/bin/python bench/codes.py --residents 1000000 --database bench_codes_dev --keep

Runs on PostgreSQL on 127.0.0.1:5432 in a database holding a generated city (as bench/zones.py:
created, migrated and generated with seed 1 unless `--keep` finds a city of that size; then
ANALYZEd, untimed). Cases, contacts, zones, testing and codes tables are cleared (the city
stays), so that each part starts from a green city.

1. Zone (`--parts zone`): the compounds whose residents are nearest 5,000. For each, a case is
   reported there through `flows.case_reported` naming the compound as a frequent place (v9:
   a high-risk zone over the whole compound), with the codes step taken out of the flow; then
   that step alone, as flows runs it (`codes_recolour(queries=[zone residents .values("pk")])`
   in a transaction), timed: the first (cold: a compound never read), then the others (warm),
   p50; then the same call again (nothing left to change). Also several compounds' zones in one
   call (~5,000 residents, as zones_evaluated recolours the zones it changed), and, for context,
   the whole flow (case, zone, codes) and `flows.zone_lifted` of those zones.
2. Round (`--parts round`): bench/testing_round.py's files (cached in bench/out/testing/; 20/21
   of the residents sampled, 10:1 pools, prevalence 0.001) loaded through the product path
   (`round_open`, `bastion testing load-scans`, `bastion testing load-results`: the command
   calls `flows.results_loaded`, whose chunks recolour `chunk.touched`). Every
   `codes_recolour` call is timed (wrapped in this process), with residents looked at and
   changed. Then `flows.rounds_due` just after the round's deadline (the unsampled turn
   yellow) and one `flows.codes_timed` sweep a quarter of an hour later; the codes' statements
   of the slowest step are run again under EXPLAIN (ANALYZE, BUFFERS) with `--explain`.
3. Checks (`--parts checks`): a `code_checker` account's device token (`--auth device`, the
   venue's scanner) or its session (`--auth session`, logged in to the console), granian as
   the README serves production (3 workers x 24 blocking threads), wrk (bench/codes_check.lua)
   GETting /api/v1/codes/check/<token> for the tokens of `--tokens` random residents, a mix of
   coloured (red or yellow from parts 1-2, which must have run: the bench stops otherwise) and
   never-coloured (green) ones, for `--seconds` after 5 s of warming; then a burst of
   `--burst-connections` for as long, and 200 checks one at a time.

Figures (with the load average next to each) go to stdout and bench/out/codes-<residents>.json;
docs/BENCHMARKS.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT / "bench"))

import scan_api  # noqa: E402  (bench/ scripts, reused)
import testing_round  # noqa: E402
import zones as zones_bench  # noqa: E402

CITY_TZ = ZoneInfo("Asia/Shanghai")
REPORTED = datetime(2022, 9, 1, 10, 0, tzinfo=CITY_TZ)  # the zones' day, before the round
ZONE_GOAL_S = 1.0
ROUND_GOAL_S = 30.0
CHECKS_GOAL_PER_S = 2000.0
CHECKS_P99_GOAL_MS = 100.0
CHECK_SCRIPT = ROOT / "bench" / "codes_check.lua"


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _sql(statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return testing_round._sql(statement, params)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _clear() -> None:
    """Cases, zones, testing and codes go; the city stays."""
    zones_bench._clear_cases_and_zones()
    testing_round._clear_testing()
    _sql("TRUNCATE codes_healthcode, codes_codechange")
    _sql("DELETE FROM core_auditentry WHERE action LIKE 'codes.%%'")


# --------------------------------------------------------------------------- timing codes_recolour


@dataclass
class Recolours:
    """Every `codes_recolour` call while active: seconds, residents looked at and changed, and
    (with `log`) each statement it ran with its time."""

    active: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)
    log: bool = False
    statements: list[tuple[float, str, Any]] = field(default_factory=list)

    def install(self) -> None:
        from bastion.codes import services

        inner = services.codes_recolour

        def timed(**kwargs: Any) -> Any:
            if not self.active:
                return inner(**kwargs)
            t0 = time.perf_counter()
            result = inner(**kwargs)
            self.calls.append(
                {
                    "seconds": time.perf_counter() - t0,
                    "trigger": str(kwargs.get("trigger")),
                    "looked_at": result.looked_at,
                    "changed": result.changed,
                    "to": dict(result.to),
                }
            )
            return result

        services.codes_recolour = timed  # flows looks it up on the module at each call

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not (self.active and self.log):
            return execute(sql, params, many, context)
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - t0, sql, None if many else params))

    @contextmanager
    def on(self, log: bool = False) -> Iterator[Recolours]:
        self.calls.clear()
        self.statements.clear()
        self.active, self.log = True, log
        try:
            yield self
        finally:
            self.active = self.log = False

    def total(self) -> dict[str, Any]:
        to: dict[str, int] = {}
        for call in self.calls:
            for colour, n in call["to"].items():
                to[colour] = to.get(colour, 0) + n
        return {
            "calls": len(self.calls),
            "seconds": round(sum(c["seconds"] for c in self.calls), 2),
            "slowest_call_s": round(max((c["seconds"] for c in self.calls), default=0.0), 3),
            "looked_at": sum(c["looked_at"] for c in self.calls),
            "changed": sum(c["changed"] for c in self.calls),
            "to": to,
        }

    def top_statements(self, k: int = 6) -> list[tuple[str, float, int]]:
        by: dict[str, list[float]] = {}
        for seconds, sql, _params in self.statements:
            by.setdefault(zones_bench._short(sql, 110), []).append(seconds)
        rows = sorted(by.items(), key=lambda kv: sum(kv[1]), reverse=True)[:k]
        return [(label, round(sum(v), 3), len(v)) for label, v in rows]


@contextmanager
def _codes_off() -> Iterator[None]:
    """The flows run without their codes step (to time that step alone, as flows calls it)."""
    from bastion.codes import services

    kept = services.codes_recolour
    services.codes_recolour = lambda **kwargs: None  # type: ignore[assignment]
    try:
        yield
    finally:
        services.codes_recolour = kept


def _explain_statements(statements: list[tuple[float, str, Any]], k: int = 2) -> dict[str, str]:
    """The `k` slowest SELECT/INSERT statements of a call, run again under EXPLAIN (ANALYZE,
    BUFFERS) in a savepoint rolled back (their staging tables must still exist: call inside the
    recolouring's transaction, see _explained_recolour)."""
    from django.db import connection

    plans: dict[str, str] = {}
    for seconds, sql, params in sorted(statements, key=lambda s: s[0], reverse=True)[:k]:
        if params is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute("SAVEPOINT bench_explain")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans[f"{seconds:.2f} s: {zones_bench._short(sql, 100)}"] = "\n".join(
                r[0] for r in cursor.fetchall()
            )
            cursor.execute("ROLLBACK TO SAVEPOINT bench_explain")
    return plans


# --------------------------------------------------------------------------- 1. a zone


def _compounds_near(target: int, count: int) -> list[tuple[int, str, int]]:
    """(compound id, code, residents) of the `count` compounds whose residents are nearest
    `target`, not shared courtyards (untimed: one pass over the registry)."""
    rows = _sql(
        "SELECT c.id, c.code, n FROM (SELECT h.compound_id, count(*) AS n FROM city_resident r"
        " JOIN city_household h ON h.id = r.household_id GROUP BY h.compound_id) x"
        " JOIN city_compound c ON c.id = x.compound_id"
        " ORDER BY abs(n - %s), c.id LIMIT %s",
        [target, count],
    )
    return [(int(a), str(b), int(n)) for a, b, n in rows]


def _resident_of(compound_id: int) -> int:
    return int(
        _sql(
            # No ORDER BY: with one, PostgreSQL walks the residents' primary key (seconds).
            "SELECT r.id FROM city_household h JOIN city_resident r ON r.household_id = h.id"
            " WHERE h.compound_id = %s LIMIT 1",
            [compound_id],
        )[0][0]
    )


def _report_in(compound: tuple[int, str, int], resident_id: int) -> Any:
    """A case of a resident of the compound, the compound named as a frequent place: v9 puts the
    whole compound at high risk. Returns the compound's zone."""
    from bastion import flows
    from bastion.core.scopes import SYSTEM

    compound_id, code, _n = compound
    reported = flows.case_reported(
        resident_id=resident_id, kind="confirmed", frequent=[code], actor=SYSTEM, now=REPORTED
    )
    zones = [
        c.zone
        for c in reported.zone_changes
        if c.zone.area == "compound" and c.zone.compound_id == compound_id and c.zone.state == "in_force"
    ]
    if not zones:
        raise SystemExit(f"no zone in force over compound {code}: {reported.zone_changes}")
    return zones[0]


def _recolour_zones(zones: list[Any], recolours: Recolours) -> dict[str, Any]:
    """The codes step of flows' zone triggers, alone: one call in a transaction."""
    from django.db import transaction

    from bastion.codes import services
    from bastion.codes.models import Trigger
    from bastion.core.scopes import SYSTEM
    from bastion.zones import selectors as zones_selectors

    with recolours.on(), transaction.atomic():
        services.codes_recolour(
            queries=[zones_selectors.zone_residents(z).values("pk") for z in zones],
            trigger=Trigger.ZONE,
            actor=SYSTEM,
            now=REPORTED,
        )
    call = recolours.calls[0]
    return {k: (round(v, 3) if k == "seconds" else v) for k, v in call.items()} | {"load": _load()}


def _zone_part(args: argparse.Namespace, recolours: Recolours) -> dict[str, Any]:
    from bastion import flows
    from bastion.core import clock
    from bastion.core.scopes import SYSTEM

    t0 = time.perf_counter()
    wanted = args.zone_runs + 2 * 3 + args.zone_runs
    compounds = _compounds_near(5000, wanted)
    print(
        f"  {len(compounds)} compounds nearest 5,000 residents found in {time.perf_counter() - t0:.1f} s:"
        f" {[c[2] for c in compounds]}",
        flush=True,
    )
    figure: dict[str, Any] = {"compounds": [c[2] for c in compounds]}
    alone, again = [], []
    with clock.use(clock.FrozenClock(REPORTED)):
        for compound in compounds[: args.zone_runs]:
            with _codes_off():
                zone = _report_in(compound, _resident_of(compound[0]))
            first = _recolour_zones([zone], recolours)
            second = _recolour_zones([zone], recolours)
            alone.append(first)
            again.append(second)
            print(
                f"  compound {compound[1]} ({compound[2]:,} residents): codes step {first['seconds']} s"
                f" (looked at {first['looked_at']:,}, changed {first['changed']:,});"
                f" again {second['seconds']} s (changed {second['changed']}); load {first['load']}",
                flush=True,
            )
        # Several zones at once, ~5,000 residents in all, as zones_evaluated recolours them.
        rest = compounds[args.zone_runs :]
        grouped = []
        for k in range(2):
            group: list[tuple[int, str, int]] = []
            while rest and sum(c[2] for c in group) < 5000:
                group.append(rest.pop(0))
            if not group:
                break
            with _codes_off():
                zones = [_report_in(c, _resident_of(c[0])) for c in group]
            call = _recolour_zones(zones, recolours)
            call["zones"] = len(zones)
            grouped.append(call)
            print(
                f"  {len(zones)} zones together ({call['looked_at']:,} residents): {call['seconds']} s,"
                f" changed {call['changed']:,}; load {call['load']}",
                flush=True,
            )
            del k
        # For context: the whole flow, with its codes step, and the zone lifted again.
        flows_s, codes_in_flow, lifted_s, codes_in_lift = [], [], [], []
        for compound in rest[: args.zone_runs]:
            resident_id = _resident_of(compound[0])
            with recolours.on():
                t0 = time.perf_counter()
                zone = _report_in(compound, resident_id)
                flows_s.append(time.perf_counter() - t0)
            codes_in_flow.append(sum(c["seconds"] for c in recolours.calls))
            with recolours.on():
                t0 = time.perf_counter()
                flows.zone_lifted(
                    zone_id=zone.pk, reason="bench: lifted", override=True, actor=SYSTEM, now=REPORTED
                )
                lifted_s.append(time.perf_counter() - t0)
            codes_in_lift.append(sum(c["seconds"] for c in recolours.calls))
            print(
                f"  whole case_reported ({compound[2]:,} residents): {flows_s[-1]:.3f} s, codes"
                f" {codes_in_flow[-1]:.3f} s; zone_lifted {lifted_s[-1]:.3f} s,"
                f" codes {codes_in_lift[-1]:.3f} s;"
                f" load {_load()}",
                flush=True,
            )
    warm = [c["seconds"] for c in alone[1:]]
    figure.update(
        {
            "codes_step_cold_s": alone[0]["seconds"],
            "codes_step_warm_p50_s": round(statistics.median(warm), 3) if warm else None,
            "codes_step_warm_max_s": round(max(warm), 3) if warm else None,
            "codes_step_again_p50_s": round(statistics.median(c["seconds"] for c in again), 3),
            "runs": alone,
            "again": again,
            "grouped": grouped,
            "case_reported_p50_s": round(statistics.median(flows_s), 3) if flows_s else None,
            "codes_in_case_reported_p50_s": round(statistics.median(codes_in_flow), 3) if flows_s else None,
            "zone_lifted_p50_s": round(statistics.median(lifted_s), 3) if lifted_s else None,
            "codes_in_zone_lifted_p50_s": round(statistics.median(codes_in_lift), 3) if lifted_s else None,
        }
    )
    return figure


# --------------------------------------------------------------------------- 2. a round


def _round_part(args: argparse.Namespace, recolours: Recolours) -> dict[str, Any]:
    from django.db import connection

    from bastion.core import clock
    from bastion.core.scopes import SYSTEM
    from bastion.testing import services as testing

    targs = argparse.Namespace(
        database=args.database,
        residents=args.residents,
        scans=args.residents * 20 // 21,
        ratio=10,
        sites=10_000,
        labs=100,
        prevalence=0.001,
        seed=4,
        fresh_files=False,
    )
    if args.resume:  # a load cut short (the server's lock table full): the loader resumes
        grids = [g for (g,) in _sql("SELECT id FROM city_grid ORDER BY id")]
    else:
        testing_round._clear_testing()
        grids = testing_round._sites_and_labs(targs.sites, targs.labs)
    files = testing_round._files(targs, grids)
    figure: dict[str, Any] = {"files": files.meta}
    deadline = testing_round.ROUND_DAY + timedelta(days=2)

    with clock.use(clock.FrozenClock(testing_round.NOW)):
        if not args.resume:
            testing.round_open(
                code=testing_round.ROUND_CODE,
                name="Chengdu, 2 September 2022",
                starts_at=testing_round.ROUND_DAY,
                deadline=deadline,
                pooling=testing_round.POOLING,
                actor=SYSTEM,
                now=testing_round.NOW,
            )
        load = _load()
        t0 = time.perf_counter()
        scans = testing_round._call(
            "testing", "load-scans", str(files.scans), "--round", testing_round.ROUND_CODE
        )
        figure["load_scans_s"] = round(time.perf_counter() - t0, 1)
        print(
            f"  load-scans in {figure['load_scans_s']} s (load {load} -> {_load()}):"
            f" {scans['taken']:,} scans",
            flush=True,
        )
        load = _load()
        timer = testing_round.Timer()
        testing_round._instrument(timer)
        with recolours.on(), timer.on(), connection.execute_wrapper(timer):
            t0 = time.perf_counter()
            results = testing_round._call("testing", "load-results", str(files.results))
            figure["load_results_s"] = round(time.perf_counter() - t0, 1)
        figure["load_results_breakdown"] = timer.top(figure["load_results_s"], k=8)
        print(f"  load-results, where the time went: {figure['load_results_breakdown']}", flush=True)
        figure["codes_in_load_results"] = recolours.total() | {"load": [load, _load()]}
        print(
            f"  load-results in {figure['load_results_s']} s: {results.get('taken')} results,"
            f" {results.get('recalls_opened')} recalls; codes {figure['codes_in_load_results']}",
            flush=True,
        )

    figure.update(_deadline_part(args, recolours, deadline))
    return figure


def _deadline_part(args: argparse.Namespace, recolours: Recolours, deadline: datetime) -> dict[str, Any]:
    """`flows.rounds_due` at the deadline, then one `flows.codes_timed` sweep. Run again alone
    (`--parts deadline`), the round's deadline is first taken back, with the colours it set."""
    from django.db import connection, transaction
    from django.db.models import Count

    from bastion import flows
    from bastion.codes.models import HealthCode
    from bastion.core import clock

    figure: dict[str, Any] = {}
    _sql("UPDATE testing_round SET deadline_passed_at = NULL")
    _sql("DELETE FROM codes_healthcode WHERE trigger IN ('round_deadline', 'time')")
    _sql("DELETE FROM codes_codechange WHERE trigger IN ('round_deadline', 'time')")
    # Two days pass before the deadline: autovacuum has analysed the tables the loads filled.
    for table in ("testing_scan", "testing_tube", "testing_recall", "testing_round", "codes_healthcode"):
        _sql(f'ANALYZE "{table}"')
    due = deadline + timedelta(minutes=1)
    with clock.use(clock.FrozenClock(due)):
        load = _load()
        with recolours.on(log=True), connection.execute_wrapper(recolours):
            t0 = time.perf_counter()
            flows.rounds_due(due)
            whole = time.perf_counter() - t0
        figure["rounds_due"] = recolours.total() | {
            "whole_s": round(whole, 2),
            "load": [load, _load()],
            "statements": recolours.top_statements(),
        }
        print(f"  rounds_due at the deadline: {figure['rounds_due']}", flush=True)
    later = due + timedelta(minutes=15)
    with clock.use(clock.FrozenClock(later)):
        load = _load()
        with recolours.on(log=True), connection.execute_wrapper(recolours):
            t0 = time.perf_counter()
            flows.codes_timed(later)
            whole = time.perf_counter() - t0
        figure["codes_timed"] = recolours.total() | {
            "whole_s": round(whole, 2),
            "load": [load, _load()],
            "statements": recolours.top_statements(),
        }
        print(f"  codes_timed sweep: {figure['codes_timed']}", flush=True)
        if args.explain:
            # The sweep's statements again under EXPLAIN, in a transaction rolled back.
            from bastion.codes import policy, rules
            from bastion.codes import sql as codes_sql
            from bastion.core import sql as core_sql
            from bastion.transfer import policy as transfer_policy
            from bastion.transfer import rules as transfer_rules

            with transaction.atomic():
                codes_sql.candidates_stage()
                codes_sql.candidates_add_coloured(
                    [r.id for r in policy.code_rules().rules if r.fact in rules.TIMED_FACTS],
                    rules.bits(rules.TIMED_FACTS),
                )
                windows = policy.code_rules().windows
                statement, params = codes_sql.facts_query(  # as codes.services.codes_recolour asks it
                    now=core_sql.db_datetime(later),
                    missed_since=core_sql.db_datetime(later - timedelta(days=windows.missed_screening_days)),
                    monitored_since=transfer_rules.monitored_since_by_protocol(
                        today=clock.local_date(later), policy=transfer_policy.policy()
                    ),
                )
                core_sql.analyze(codes_sql.CANDIDATES)
                core_sql.set_local(jit="off", work_mem="'96MB'")  # as codes.sql.facts runs it
                figure["facts_plan"] = _explain_statements([(0.0, statement, params)], k=1)
                transaction.set_rollback(True)
            for plan in figure["facts_plan"].values():
                print(plan, flush=True)
    figure["colours"] = dict(
        HealthCode.objects.values_list("colour").annotate(n=Count("pk")).values_list("colour", "n")
    )
    return figure


# --------------------------------------------------------------------------- 3. checks


def _tokens(args: argparse.Namespace, path: Path) -> dict[str, int]:
    """Tokens of `--tokens` residents, a `--coloured` share of them coloured (red or yellow), the
    others never coloured; written to `path` one a line, shuffled."""
    from bastion.city.models import Resident
    from bastion.codes import tokens
    from bastion.codes.models import HealthCode

    rng = random.Random(args.seed)
    coloured = list(HealthCode.objects.exclude(colour="green").values_list("pk", flat=True)[:1_000_000])
    wanted = int(args.tokens * args.coloured)
    if len(coloured) < wanted:
        # Codes are coloured only by facts (a case, a zone, a missed round): parts 1-2 make them.
        sys.exit(f"{len(coloured)} coloured codes, {wanted} wanted: run --parts zone (or round) first")
    picked = rng.sample(coloured, min(wanted, len(coloured)))
    have = set(HealthCode.objects.values_list("pk", flat=True)[:5_000_000])
    ids = list(
        Resident.objects.order_by("pk").values_list("pk", flat=True)[
            : args.residents : max(1, args.residents // (args.tokens * 4))
        ]
    )
    green = [i for i in ids if i not in have]
    rng.shuffle(green)
    green = green[: args.tokens - len(picked)]
    chosen = picked + green
    rng.shuffle(chosen)
    path.write_text("\n".join(tokens.token_for(i) for i in chosen) + "\n")
    return {"coloured": len(picked), "green": len(green)}


def _credentials(auth: str) -> str:
    """The header a venue's scanner sends, `Name: value`: a device token of a code_checker
    account (`--auth device`) or the session cookie of one logged in (`--auth session`)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bastion.city import services as city
    from bastion.core import clock, devices
    from bastion.core.scopes import SYSTEM

    user = get_user_model().objects.filter(username="bench-checker").first()
    if user is None:
        city.account_grant(
            username="bench-checker",
            password=os.urandom(16).hex(),
            role="code_checker",
            actor=SYSTEM,
            now=clock.now(),
        )
        user = get_user_model().objects.get(username="bench-checker")
    if auth == "device":
        issued = devices.device_token_issue(
            username="bench-checker", name=f"bench gate {time.time():.0f}", actor=SYSTEM, now=clock.now()
        )
        return f"Authorization: Bearer {issued.secret}"
    client = Client()
    client.force_login(user)
    return f"Cookie: {settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _wrk(
    args: argparse.Namespace,
    credentials: str,
    tokens_file: Path,
    connections: int,
    seconds: int,
    threads: int,
) -> dict[str, Any]:
    """One wrk run of bench/codes_check.lua: its RESULT line, parsed."""
    run = subprocess.run(
        [
            str(shutil.which("wrk")),
            *("-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s"),
            *("-s", str(CHECK_SCRIPT), f"http://127.0.0.1:{scan_api.PORT}"),
            *("--", credentials, str(tokens_file), str(threads)),
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


def _answers(got: dict[str, Any]) -> dict[str, Any]:
    seconds = got["duration_us"] / 1e6
    return {
        "requests": got["requests"],
        "checks_per_s": round(got["ok"] / seconds, 1),
        "answers": got["colours"],
        "busy_503": got["busy"],
        "busy_with_retry_after": got["busy_with_retry_after"],
        "p50_ms": round(got["p50_us"] / 1000, 1),
        "p99_ms": round(got["p99_us"] / 1000, 1),
        "max_ms": round(got["max_us"] / 1000, 1),
        "errors": got["other_status"] + sum(got["socket_errors"].values()),
        "socket_errors": got["socket_errors"],
        "first_errors": got["first_errors"],
    }


def _one_at_a_time(credentials: str, tokens_file: Path, count: int) -> dict[str, Any]:
    """`count` checks one after another on one connection, each timed: the server still answers."""
    import http.client

    name, _sep, value = credentials.partition(": ")
    tokens_list = tokens_file.read_text().split()
    conn = http.client.HTTPConnection("127.0.0.1", scan_api.PORT, timeout=10)
    times, statuses = [], []
    for n in range(count):
        began = time.perf_counter()
        conn.request("GET", f"/api/v1/codes/check/{tokens_list[n % len(tokens_list)]}", headers={name: value})
        answer = conn.getresponse()
        answer.read()
        times.append(time.perf_counter() - began)
        statuses.append(answer.status)
    conn.close()
    times.sort()
    return {
        "checks": count,
        "ok": statuses.count(200),
        "p50_ms": round(times[len(times) // 2] * 1000, 1),
        "p99_ms": round(times[int(len(times) * 0.99)] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
    }


def _checks_part(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench-codes` installs Debian's package")
    workdir = Path(tempfile.mkdtemp(prefix="codes-check-"))
    tokens_file = workdir / "tokens.txt"
    mix = _tokens(args, tokens_file)
    credentials = _credentials(args.auth)
    connection.close()
    sargs = argparse.Namespace(
        server="granian",
        workers=args.workers,
        threads=args.threads,
        server_args="--runtime-mode st",
        database=args.database,
    )
    server = scan_api._serve(sargs)
    burst: dict[str, Any] = {}
    try:
        # Warmed with the checks themselves, as many connections as measured: every worker's
        # threads started, each with its database connection and prepared statement, and the
        # device's token resolved; the figures are the service's steady state, not its first
        # seconds (a fresh server's first seconds are slower: docs/BENCHMARKS.md).
        _wrk(args, credentials, tokens_file, args.connections, 5, args.wrk_threads)
        workers = [server.pid, *scan_api._children(server.pid)]
        workers_before = scan_api._cpu_seconds(workers)
        warmed = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_before = _load()
        got = _wrk(args, credentials, tokens_file, args.connections, args.seconds, args.wrk_threads)
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu = waited.ru_utime + waited.ru_stime - warmed.ru_utime - warmed.ru_stime
        backends = scan_api._backends(args.database)
        workers_cpu = sum(scan_api._cpu_seconds(workers).values()) - sum(workers_before.values())
        backends_cpu = sum(scan_api._cpu_seconds(backends).values())
        load_after = _load()
        if args.burst_connections:
            # Ten times the connections and more, each sending its next check the moment it has
            # an answer: far beyond what the machine serves. Answered 200 or 503 with
            # Retry-After, no timeouts; then the same server processes answer one at a time.
            burst_got = _wrk(args, credentials, tokens_file, args.burst_connections, args.seconds, 2)
            after = _one_at_a_time(credentials, tokens_file, 200)
            burst = {
                "burst": {
                    "generator": f"wrk 2 threads, {args.burst_connections} connections, {args.seconds} s",
                    **_answers(burst_got),
                    "load_after": _load(),
                },
                "after_the_burst": {
                    **after,
                    "same_server_processes": sorted([server.pid, *scan_api._children(server.pid)])
                    == sorted(workers),
                },
            }
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)
    ok = got["ok"]
    return {
        "tokens": mix,
        "auth": args.auth,
        "server": f"granian {args.workers} x {args.threads} blocking threads",
        "generator": f"wrk {args.wrk_threads} thread(s), {args.connections} connections, {args.seconds} s",
        **_answers(got),
        "cpu_ms_per_check": {
            "server": round(workers_cpu * 1000 / max(ok, 1), 3),
            "postgres_backends": round(backends_cpu * 1000 / max(ok, 1), 3),
            "wrk": round(wrk_cpu * 1000 / max(ok, 1), 3),
        },
        "load": [load_before, load_after],
        **burst,
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--residents", type=int, default=21_000_000)
    parser.add_argument("--database", default="bench_zones")
    parser.add_argument("--keep", action="store_true", help="reuse a database already holding this city")
    parser.add_argument("--parts", default="zone,round,checks")
    parser.add_argument("--zone-runs", type=int, default=7, help="compounds timed one by one")
    parser.add_argument(
        "--resume", action="store_true", help="round: load the same files again into the round"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the sweep's facts")
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--coloured", type=float, default=0.5, help="share of coloured residents checked")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--auth", default="device", choices=["device", "session"])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=24, help="granian's blocking threads (README: 24)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--burst-connections",
        type=int,
        default=1000,
        help="then a burst with this many connections (0: none)",
    )
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    generate = zones_bench._database(args.database, args.residents, args.keep)
    # The server's secret (bench/scan_api.py): the tokens written here must verify there.
    os.environ.update({k: v for k, v in scan_api._env(args.database).items() if k == "SECRET_KEY"})
    zones_bench._setup_django(args.database)
    from django.core.management import call_command

    machine = (
        f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"health codes on {machine}, database {args.database}, load {_load()}", flush=True)
    call_command("migrate", verbosity=0)
    figures: dict[str, Any] = {
        "machine": machine,
        "residents": args.residents,
        "started": time.strftime("%F %T"),
    }
    if generate:
        print(f"generating a city of {args.residents:,} residents…", flush=True)
        figures["generation_s"] = round(zones_bench._generate(args.residents), 1)
    zones_bench._analyze(["city_compound", "city_building", "city_unit", "city_household", "city_resident"])
    if parts & {"zone", "round"} and not args.resume:
        _clear()
    recolours = Recolours()
    recolours.install()
    if "zone" in parts:
        print("1. a zone's residents recoloured…", flush=True)
        figures["zone"] = _zone_part(args, recolours)
    if "round" in parts:
        print("2. a round's results, its deadline, a timed sweep…", flush=True)
        figures["round"] = _round_part(args, recolours)
    elif "deadline" in parts:
        print("2b. the round's deadline again, a timed sweep…", flush=True)
        figures["deadline"] = _deadline_part(args, recolours, testing_round.ROUND_DAY + timedelta(days=2))
    if "checks" in parts:
        print("3. venue checks under wrk…", flush=True)
        figures["checks"] = _checks_part(args)
        print(f"  {figures['checks']}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"codes-{args.residents}-{args.parts.replace(',', '-')}.json"
    out.write_text(json.dumps(figures, indent=1, default=str))
    print(f"figures in {out}", flush=True)


if __name__ == "__main__":
    main()
