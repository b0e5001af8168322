"""The city's playbook: what happens next when something happens.

One function per trigger, each calling the services of the contexts involved, so that the
whole chain (a positive test → a case → contacts → zones → door-to-door supply) reads on one
page. Contexts never import each other's services; they meet here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction

from bastion.cases import services as cases
from bastion.cases.models import Case, FoundBy
from bastion.core.scopes import Actor
from bastion.zones import services as zones


@dataclass(frozen=True)
class CaseReported:
    case: Case
    zone_changes: list[zones.ZoneChange]


def case_reported(
    *,
    resident_id: int,
    kind: str,
    found_by: str = FoundBy.COMMUNITY,
    onset_on: date | None = None,
    reported_at: datetime | None = None,
    frequent: list[str] | None = None,
    stayed: list[str] | None = None,
    actor: Actor,
    now: datetime,
) -> CaseReported:
    """A resident tested positive.

    1. The case is opened with the places they stayed; if they were a contact, their
       quarantine ends and their secondary contacts become close contacts (cases).
    2. The zones are designated, or proposed to an officer, and the clocks of the zones the
       case lies in restart (zones) — within the same transaction, well inside the 5 hours
       the 9th edition allows.
    (Transfer to a bed and door-to-door supply follow the zones as those capabilities arrive:
    supply reads each household's service mode from the zones.)
    """
    with transaction.atomic():
        opened = cases.case_open(
            resident_id=resident_id,
            kind=kind,
            found_by=found_by,
            onset_on=onset_on,
            reported_at=reported_at,
            frequent=frequent,
            stayed=stayed,
            actor=actor,
            now=now,
        )
        changes = zones.zones_designate_for_case(
            case=opened.case,
            residence=opened.residence,
            frequent=opened.frequent,
            stayed=opened.stayed,
            actor=actor,
            now=now,
        )
    return CaseReported(opened.case, changes)
