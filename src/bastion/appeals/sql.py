"""Appeals' own statements: the sweep's two set-based changes (escalate the tickets past their
deadline, close the replied ones whose resident stayed silent), each with the ticket's history
and the audit rows written by the same pass. 100,000 open tickets are swept by index
(appeal_escalation_due, appeal_close_due): only those due are touched.

PostgreSQL: one statement each (data-modifying CTEs: the UPDATE's RETURNING feeds both
INSERTs). SQLite: the UPDATE ... RETURNING, then the rows written by executemany (writers are
serialised by the database, so nothing lands between them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from bastion.core import sql
from bastion.core.sql import AUDIT_INSERT

EVENT_INSERT = "INSERT INTO appeals_appealevent (appeal_id, kind, text, rating, level, actor_label, at)"


def _in(values: Sequence[str]) -> str:
    return ", ".join(["%s"] * len(values))


def _escalate(states: Sequence[str]) -> str:
    return f"""
UPDATE appeals_appeal
   SET escalation_level = escalation_level + 1,
       next_escalation_at = CASE WHEN escalation_level + 1 >= %s THEN NULL ELSE %s END,
       changed_at = %s
 WHERE next_escalation_at <= %s AND escalation_level < %s AND state IN ({_in(states)})
RETURNING id, escalation_level, district_id
"""


def _close(sources: Sequence[str]) -> str:
    return f"""
UPDATE appeals_appeal
   SET state = 'closed', closed_at = %s, close_at = NULL, changed_at = %s
 WHERE close_at <= %s AND state IN ({_in(sources)})
RETURNING id, escalation_level, district_id
"""


def _with_history(update: str, *, event: str, action: str, after: str, level: str) -> str:
    """PostgreSQL: `update` (RETURNING id, escalation_level, district_id), its history rows and
    its audit rows in one statement. Parameters: the update's, then label, now, actor id, label,
    now."""
    return f"""
WITH changed AS ({update}),
history AS (
    {EVENT_INSERT}
    SELECT id, '{event}', '', '', {level}, %s::varchar, %s::timestamptz FROM changed
)
{AUDIT_INSERT}
SELECT '{action}', %s::integer, %s::varchar, 'appeals.appeal', id::varchar, {after}, '', district_id,
       %s::timestamptz
  FROM changed
"""


def _sqlite(
    update: str,
    params: list[object],
    *,
    event: str,
    action: str,
    after: str,
    label: str,
    actor_id: int | None,
    now: datetime,
) -> int:
    rows = sql.rows(update, params)
    moment = sql.db_datetime(now)
    sql.run_many(
        f"{EVENT_INSERT} VALUES (%s, %s, '', '', %s, %s, %s)",
        [
            (pk, event, level if event == "escalated" else None, label, moment)
            for pk, level, _district in rows
        ],
    )
    sql.run_many(
        f"{AUDIT_INSERT} VALUES (%s, %s, %s, 'appeals.appeal', %s, %s, '', %s, %s)",
        [
            (
                action,
                actor_id,
                label,
                str(pk),
                json.dumps({after: level if after == "escalation_level" else "closed"}),
                district,
                moment,
            )
            for pk, level, district in rows
        ],
    )
    return len(rows)


def escalate_due(
    *, now: datetime, step: timedelta, top: int, states: Sequence[str], actor_label: str, actor_id: int | None
) -> int:
    """Every ticket in `states` whose escalation is due at `now` goes up a level (the next one
    `step` later, none past `top`). Returns how many."""
    sql.require_transaction("the escalation sweep")
    moment, later = sql.db_datetime(now), sql.db_datetime(now + step)
    params: list[object] = [top, later, moment, moment, top, *states]
    if sql.postgres():
        statement = _with_history(
            _escalate(states),
            event="escalated",
            action="appeals.appeal.escalated",
            after="jsonb_build_object('escalation_level', escalation_level)",
            level="escalation_level",
        )
        return sql.run(statement, [*params, actor_label, moment, actor_id, actor_label, moment])
    return _sqlite(
        _escalate(states),
        params,
        event="escalated",
        action="appeals.appeal.escalated",
        after="escalation_level",
        label=actor_label,
        actor_id=actor_id,
        now=now,
    )


def close_silent(*, now: datetime, sources: Sequence[str], actor_label: str, actor_id: int | None) -> int:
    """Every replied ticket whose resident stayed silent until its `close_at` closes. Returns
    how many."""
    sql.require_transaction("the closing sweep")
    moment = sql.db_datetime(now)
    params: list[object] = [moment, moment, moment, *sources]
    if sql.postgres():
        statement = _with_history(
            _close(sources),
            event="closed",
            action="appeals.appeal.closed_silent",
            after="jsonb_build_object('state', 'closed')",
            level="NULL::smallint",
        )
        return sql.run(statement, [*params, actor_label, moment, actor_id, actor_label, moment])
    return _sqlite(
        _close(sources),
        params,
        event="closed",
        action="appeals.appeal.closed_silent",
        after="state",
        label=actor_label,
        actor_id=actor_id,
        now=now,
    )
