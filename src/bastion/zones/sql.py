"""Zones' SQL that other contexts compose into their own statements (they read zones' tables
only through here or through zones' selectors)."""

from __future__ import annotations

from bastion.zones import rules

# The highest level of the in-force zones over the household row aliased `h` (it needs h.id,
# h.compound_id, h.building_id and h.unit_id); NULL when none lies over it (low). A scalar
# subquery, by the zones' compound index: the set-based form of `rules.highest_level`.
HOUSEHOLD_LEVEL = f"""(
        SELECT z.level FROM zones_zone z
        WHERE z.compound_id = h.compound_id AND z.state = 'in_force'
            AND (z.building_id IS NULL OR z.building_id = h.building_id)
            AND (z.unit_id IS NULL OR z.unit_id = h.unit_id)
            AND (z.household_id IS NULL OR z.household_id = h.id)
        ORDER BY CASE z.level WHEN '{rules.HIGH}' THEN 0 WHEN '{rules.MEDIUM}' THEN 1 ELSE 2 END LIMIT 1
    )"""
