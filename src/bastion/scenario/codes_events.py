"""The scenario observation of health codes (SCENARIOS.md, "Transfer, isolation and health
codes"): residents by colour at the end of each day, and the watched residents' colour and
reason (in the platform's language, as the resident reads it)."""

from __future__ import annotations

from datetime import date
from typing import Any

from bastion.codes import selectors as codes
from bastion.core.scopes import SYSTEM
from bastion.scenario.runner import Context, observation


@observation("codes")
def _observe_codes(ctx: Context, day: int, today: date) -> dict[str, Any]:
    counts = codes.colour_counts(actor=SYSTEM)
    watched = {}
    for address, resident_id in ctx.watched.items():
        view = codes.code_of(actor=SYSTEM, resident_id=resident_id, history=0)
        watched[address] = {"colour": view.colour, "reason": view.reason}
    return {"codes": {**counts, "watched": watched}}
