"""The SQL statements of cases, run through bastion.core.sql."""

from __future__ import annotations

from bastion.core import sql

# Up to the first case of the chain, then down to everyone infected from it: one query on both
# databases. `depth` counts generations from the first case.
CHAIN = """
WITH RECURSIVE up(id, source_id, steps) AS (
    SELECT id, source_id, 0 FROM cases_case WHERE id = %s
    UNION ALL
    SELECT c.id, c.source_id, up.steps + 1 FROM cases_case c JOIN up ON c.id = up.source_id
    WHERE up.steps < 1000
),
root AS (SELECT id FROM up ORDER BY steps DESC LIMIT 1),
down(id, depth) AS (
    SELECT id, 0 FROM root
    UNION ALL
    SELECT c.id, down.depth + 1 FROM cases_case c JOIN down ON c.source_id = down.id
    WHERE down.depth < 1000
)
SELECT id, depth FROM down ORDER BY depth, id
"""


def chain_depths(case_id: int) -> dict[int, int]:
    """Every case of the chain of transmission `case_id` belongs to, with its generation counted
    from the chain's first case (0). Scope is the caller's to apply."""
    return {case: depth for case, depth in sql.rows(CHAIN, [case_id])}


# --- facts of a resident, for health codes (codes.sql) ------------------------------------------
# Boolean expressions over the resident row aliased `r`, each by an index on the resident.

# A confirmed case or an asymptomatic infection, until discharged.
IS_CASE = "EXISTS (SELECT 1 FROM cases_case c WHERE c.resident_id = r.id AND c.status = 'active')"
# A close or secondary contact in quarantine (at home or centralised).
IS_CLOSE_CONTACT = (
    "EXISTS (SELECT 1 FROM cases_contact k WHERE k.resident_id = r.id"
    " AND k.kind = 'close' AND k.status = 'quarantined')"
)
IS_SECONDARY_CONTACT = (
    "EXISTS (SELECT 1 FROM cases_contact k WHERE k.resident_id = r.id"
    " AND k.kind = 'secondary' AND k.status = 'quarantined')"
)


def is_monitored(protocols: int) -> str:
    """Under home health monitoring: a contact after their quarantine, or a case discharged on
    or after the first discharge day still monitored under the case's protocol. Parameters: a
    protocol and its first day for each of `protocols`, then the first day of any other."""
    first_day = "%s"
    if protocols:
        first_day = f"CASE c.protocol {' '.join(['WHEN %s THEN %s'] * protocols)} ELSE %s END"
    return (
        "(EXISTS (SELECT 1 FROM cases_contact k WHERE k.resident_id = r.id AND k.status = 'monitoring')"
        " OR EXISTS (SELECT 1 FROM cases_case c WHERE c.resident_id = r.id AND c.status = 'discharged'"
        f" AND c.discharged_on >= {first_day}))"
    )
