"""Health codes' own SQL: the facts of many residents at once, and the colours written back.

The facts are the other contexts' own fragments (`cases.sql`, `testing.sql`, `zones.sql`), each
an indexed lookup by resident or household, evaluated only for the residents a trigger names
(the candidates, staged in a temporary table); the colour itself is decided in Python by the one
rule (`codes.rules.colour`), once per distinct set of facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl
from django.db import connection

from bastion.cases import sql as cases_sql
from bastion.city import bulk
from bastion.city import sql as city_sql
from bastion.core import sql
from bastion.testing import sql as testing_sql
from bastion.zones import sql as zones_sql

CANDIDATES = "codes_candidate"
CHANGES = "codes_change_stage"


def candidates_stage() -> None:
    sql.scratch_table(CANDIDATES, "resident_id bigint PRIMARY KEY")


def candidates_add_ids(resident_ids: Sequence[int]) -> None:
    if resident_ids:
        frame = pl.DataFrame({"resident_id": sorted(set(resident_ids))}, schema={"resident_id": pl.Int64})
        sql.run_many(
            f"INSERT INTO {CANDIDATES} (resident_id) VALUES (%s) ON CONFLICT DO NOTHING",
            frame.rows(),
        )


def candidates_add_query(statement: str, params: Sequence[Any]) -> int:
    """The residents a query of one column (resident ids) names, e.g. a selector's queryset."""
    return sql.run(
        f"INSERT INTO {CANDIDATES} (resident_id) SELECT q.* FROM ({statement}) q"
        " WHERE true ON CONFLICT DO NOTHING",
        params,
    )


def candidates_add_coloured(rules: Sequence[str], facts: int) -> int:
    """Everyone whose colour was set by one of `rules` (facts that end by time alone), and every
    officer's correction made while one of `facts` (a bit set) held: it stands until they end."""
    if not rules:
        return 0
    marks = ", ".join(["%s"] * len(rules))
    return sql.run(
        f"INSERT INTO {CANDIDATES} (resident_id) SELECT resident_id FROM codes_healthcode"
        f" WHERE rule IN ({marks}) OR (corrected AND (facts & %s) <> 0) ON CONFLICT DO NOTHING",
        [*rules, facts],
    )


# One row per candidate: the resident, the facts in codes.policy.FACTS order (the zone's level
# gives two of them) and the code as stored (NULL when the resident was never coloured).
# Parameters: now and the earliest deadline of a missed round still counted; then, for home
# monitoring after a discharge, each protocol with the first discharge day it still monitors
# and the first day of any other protocol (`facts_query`).
def facts_statement(protocols: int) -> str:
    return f"""
SELECT r.id,
    {cases_sql.IS_CASE},
    {cases_sql.IS_CLOSE_CONTACT},
    {zones_sql.HOUSEHOLD_LEVEL},
    {cases_sql.IS_SECONDARY_CONTACT},
    {testing_sql.IS_RECALLED},
    {testing_sql.MISSED_ROUND},
    {cases_sql.is_monitored(protocols)},
    hc.colour, hc.rule, hc.facts, hc.corrected, hc.version
FROM {CANDIDATES} k
JOIN {city_sql.RESIDENTS} r ON r.id = k.resident_id
JOIN {city_sql.HOUSEHOLDS} h ON h.id = r.household_id
LEFT JOIN codes_healthcode hc ON hc.resident_id = r.id
"""


def facts_query(
    *, now: Any, missed_since: Any, monitored_since: tuple[dict[str, date], date]
) -> tuple[str, list[Any]]:
    """The facts statement and its parameters: `now`, the earliest deadline of a missed round
    still counted, and (`transfer.rules.monitored_since_by_protocol`) the first discharge day
    still monitored by protocol, and of any other protocol."""
    by_protocol, otherwise = monitored_since
    monitored: list[Any] = [value for pair in by_protocol.items() for value in pair]
    return facts_statement(len(by_protocol)), [now, missed_since, *monitored, otherwise]


def facts(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The facts of the staged candidates (`facts_query`). On PostgreSQL without JIT: the
    planner prices the per-resident lookups as if each read whole tables (a missed round's
    scans, rounds), so a zone of 2,000 residents went over the JIT thresholds and spent 2 s
    compiling a statement that runs in 20 ms. And with room for its hashes: a round's million
    unsampled join the registry through hashes of tens of MB, spilled in 8-16 batches (1.2 GB of
    temporary files) at the stock 4 MB (docs/BENCHMARKS.md, health codes). The caller's
    settings are restored after it."""
    sql.analyze(CANDIDATES)
    was = sql.one("SELECT current_setting('jit'), current_setting('work_mem')") if sql.postgres() else None
    sql.set_local(jit="off", work_mem="'96MB'")
    try:
        return sql.rows(statement, params)
    finally:
        if was is not None:
            sql.set_local(jit=str(was[0]), work_mem=f"'{was[1]}'")


# --- a venue's check ------------------------------------------------------------------------------

# The resident (no row: no such resident), their stored colour and since when (NULL: never
# coloured, green). One statement by primary key, prepared once per connection: checks come by
# the thousand a second, and planning it cost as much as running it.
CHECK = f"""
SELECT r.id, hc.colour, hc.set_at FROM {city_sql.RESIDENTS} r
LEFT JOIN codes_healthcode hc ON hc.resident_id = r.id
WHERE r.id = %s
"""


def checked(resident_id: int) -> tuple[str | None, Any] | None:
    """(colour or None when never coloured, set at) of a resident; None when there is none."""
    with connection.cursor() as cursor:
        sql.run_prepared(cursor, "bastion_code_check", CHECK, [resident_id])
        row = cursor.fetchone()
    return None if row is None else (row[1], row[2])


# --- writing the changes ------------------------------------------------------------------------

CHANGE_COLUMNS = {
    "resident_id": pl.Int64,
    "was": pl.Utf8,
    "colour": pl.Utf8,
    "rule": pl.Utf8,
    "facts": pl.Int64,
    "recorded": pl.Boolean,  # a change of colour or rule: a row of history
}


def changes_write(frame: pl.DataFrame, *, version: str, trigger: str, actor_label: str, at: Any) -> None:
    """Upsert the codes of `frame` (CHANGE_COLUMNS) and write the history of those recorded. An
    officer's correction lapses with any change written here (its facts changed)."""
    sql.scratch_table(
        CHANGES,
        "resident_id bigint PRIMARY KEY, was varchar(10), colour varchar(10), rule varchar(40),"
        f" facts bigint, recorded {sql.bool_type()}",
    )
    bulk.write_frame(CHANGES, frame)
    sql.run(
        """
        INSERT INTO codes_codechange
            (resident_id, at, was, colour, rule, version, trigger, actor_label, reason)
        SELECT c.resident_id, %s, c.was, c.colour, c.rule, %s, %s, %s, ''
        FROM codes_change_stage c WHERE c.recorded
        """,
        [at, version, trigger, actor_label],
    )
    sql.run(
        f"""
        UPDATE codes_healthcode SET
            colour = c.colour, rule = c.rule, facts = c.facts, corrected = {sql.false()}, reason = '',
            version = CASE WHEN c.recorded THEN %s ELSE codes_healthcode.version END,
            set_at = CASE WHEN c.recorded THEN %s ELSE codes_healthcode.set_at END,
            trigger = CASE WHEN c.recorded THEN %s ELSE codes_healthcode.trigger END
        FROM codes_change_stage c WHERE codes_healthcode.resident_id = c.resident_id
        """,
        [version, at, trigger],
    )
    sql.run(
        f"""
        INSERT INTO codes_healthcode
            (resident_id, colour, rule, version, set_at, trigger, facts, corrected, reason)
        SELECT c.resident_id, c.colour, c.rule, %s, %s, %s, c.facts, {sql.false()}, ''
        FROM codes_change_stage c
        WHERE NOT EXISTS (SELECT 1 FROM codes_healthcode x WHERE x.resident_id = c.resident_id)
        """,
        [version, at, trigger],
    )
    sql.empty_table(CHANGES)
