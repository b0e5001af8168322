"""The registry's own statements: the per-community and per-grid figures, the households'
profiles, emptying the registry. Other contexts read the registry through `city.selectors`.

Each statement is written once, for the whole city or for the communities staged in
`SCOPE_STAGE` (a refresh after an import or a flag touches only those).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bastion.city.models import Community, Household, HouseholdProfile, Resident
from bastion.core import sql

SCOPE_STAGE = "city_stage_scope"


@dataclass(frozen=True)
class _Figures:
    communities: str
    grids: str
    profiles_clear: str
    profiles: str


def _figures(*, community: str, grid: str, rows: str) -> _Figures:
    """The figures' statements with the given filters (fixed fragments below, never input)."""
    return _Figures(
        communities=f"""
        INSERT INTO city_communityfigures (
            community_id, district_id, households, residents, elderly, elderly_alone, disabled,
            pregnant, infants, chronic_treatment, cannot_order_online, as_of)
        SELECT c.id, c.district_id,
               COALESCE(h.households, 0), COALESCE(r.residents, 0), COALESCE(r.elderly, 0),
               COALESCE(r.elderly_alone, 0), COALESCE(r.disabled, 0), COALESCE(r.pregnant, 0),
               COALESCE(r.infants, 0), COALESCE(r.chronic, 0), COALESCE(r.offline, 0), %(today)s
        FROM city_community c
        LEFT JOIN (SELECT community_id, COUNT(*) AS households FROM city_household {rows}
                   GROUP BY community_id) h
               ON h.community_id = c.id
        LEFT JOIN (
            SELECT community_id,
                   COUNT(*) AS residents,
                   SUM(CASE WHEN birth_date <= %(old)s THEN 1 ELSE 0 END) AS elderly,
                   SUM(CASE WHEN birth_date <= %(old)s AND living_alone THEN 1 ELSE 0 END) AS elderly_alone,
                   SUM(CASE WHEN disabled THEN 1 ELSE 0 END) AS disabled,
                   SUM(CASE WHEN pregnant THEN 1 ELSE 0 END) AS pregnant,
                   SUM(CASE WHEN birth_date > %(young)s THEN 1 ELSE 0 END) AS infants,
                   SUM(CASE WHEN chronic_treatment <> '' THEN 1 ELSE 0 END) AS chronic,
                   SUM(CASE WHEN cannot_order_online THEN 1 ELSE 0 END) AS offline
            FROM city_resident {rows} GROUP BY community_id) r
               ON r.community_id = c.id
        {community}
        """,
        # Residents counted per household first, so that the join with households reads one
        # grouped row per household, not one per resident.
        grids=f"""
        INSERT INTO city_gridfigures (grid_id, community_id, district_id, households, residents)
        SELECT g.id, g.community_id, g.district_id, COUNT(h.id), COALESCE(SUM(r.n), 0)
        FROM city_grid g
        LEFT JOIN city_household h ON h.grid_id = g.id
        LEFT JOIN (SELECT household_id, COUNT(*) AS n FROM city_resident {rows} GROUP BY household_id) r
               ON r.household_id = h.id
        {grid}
        GROUP BY g.id, g.community_id, g.district_id
        """,
        profiles_clear=f"DELETE FROM city_householdprofile {rows}",
        # What makes a household vulnerable, without today's cut-offs (birth dates, not ages).
        profiles=f"""
        INSERT INTO city_householdprofile (household_id, community_id, flagged, eldest_born, youngest_born)
        SELECT household_id, MIN(community_id),
               MAX(CASE WHEN living_alone OR disabled OR pregnant OR chronic_treatment <> ''
                        THEN 1 ELSE 0 END) = 1,
               MIN(birth_date), MAX(birth_date)
        FROM city_resident {rows} GROUP BY household_id
        """,
    )


_IN_SCOPE = f"IN (SELECT community_id FROM {SCOPE_STAGE})"
CITY_WIDE = _figures(community="", grid="", rows="")
SCOPED = _figures(
    community=f"WHERE c.id {_IN_SCOPE}",
    grid=f"WHERE g.community_id {_IN_SCOPE}",
    rows=f"WHERE community_id {_IN_SCOPE}",
)


def figures_write(
    *, today: date, old: date, young: date, community_ids: list[int] | None, profiles_too: bool
) -> int:
    """Write the figures (and profiles) of the city, or of `community_ids`, whose old rows the
    caller has removed; the number of communities written."""
    statements = CITY_WIDE
    if community_ids is not None:
        statements = SCOPED
        sql.stage_table(SCOPE_STAGE, "community_id bigint PRIMARY KEY")
        scope = [[community_id] for community_id in set(community_ids)]
        sql.run_many(f"INSERT INTO {SCOPE_STAGE} (community_id) VALUES (%s)", scope)
    dates = {"today": today, "old": old, "young": young}
    if profiles_too:
        sql.run(statements.profiles_clear)
        sql.run(statements.profiles)
    sql.run(statements.grids)
    written = sql.run_named(statements.communities, dates)
    if community_ids is not None:
        sql.drop_table(SCOPE_STAGE)
    return written


def registry_empty() -> bool:
    found = sql.one("SELECT EXISTS (SELECT 1 FROM city_district)")
    return not (found and found[0])


def tables_empty(tables: list[str]) -> bool:
    """Empty the registry's `tables` (children first); True when rows referencing them (the
    accounts tied to places) went too and must be put back (PostgreSQL's TRUNCATE … CASCADE)."""
    if not sql.postgres():
        for table in tables:
            sql.run(f'DELETE FROM "{table}"')
        return False
    # Deferred foreign-key checks of earlier writes in this transaction must fire before
    # TRUNCATE, which refuses to run with trigger events pending.
    sql.run("SET CONSTRAINTS ALL IMMEDIATE")
    sql.run("TRUNCATE " + ", ".join(tables) + " CASCADE")
    return True


# The registry's tables, for the set-based statements of other contexts: their joins with the
# registry name its tables through here (or read it through `city.selectors`), so that the
# registry's layout is read through its own module (tests/test_house.py holds every context to it).
HOUSEHOLDS = Household._meta.db_table
RESIDENTS = Resident._meta.db_table
HOUSEHOLD_PROFILES = HouseholdProfile._meta.db_table
COMMUNITIES = Community._meta.db_table
