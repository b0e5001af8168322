"""Reading health codes: a resident's colour and why, its history, the facts behind it (what a
code appeal lists), a venue's check by token, and the city's counts by colour."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS, city_figures
from bastion.codes import rules, tokens
from bastion.codes import sql as codes_sql
from bastion.codes.models import CodeChange, HealthCode, Trigger
from bastion.codes.policy import GREEN, RED, YELLOW, code_rules
from bastion.core import sql as core_sql
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import SYSTEM, Actor, get_scoped, scoped


def _language() -> str:
    return "en" if (get_language() or "").startswith("en") else "zh-hans"


def _reason(rule_id: str, corrected: bool, officer_reason: str) -> str:
    if corrected:
        return _("Set by an officer: %(reason)s") % {"reason": officer_reason}
    rule = code_rules().rule(rule_id) if rule_id else None
    if rule is not None:
        return rule.said(_language())
    if rule_id:  # a rule of an earlier version of the file
        return _("Set by the rule %(rule)s of an earlier version of the code rules.") % {"rule": rule_id}
    return _("No rule holds for you: green.")


@dataclass(frozen=True)
class HistoryLine:
    at: datetime
    was: str
    colour: str
    reason: str
    trigger: str  # in words
    by: str


@dataclass(frozen=True)
class CodeView:
    resident_id: int
    colour: str
    set_at: datetime | None  # None: green, never coloured
    reason: str
    trigger: str  # in words; "" when never coloured
    corrected: bool
    version: str
    token: str
    history: list[HistoryLine]


def code_of(*, actor: Actor, resident_id: int, history: int = 20) -> CodeView:
    """A resident's code as they see it: colour, since when, why in plain words, and its last
    changes. Within the actor's scope (a resident: their own household)."""
    actor.require("view_codes")
    resident = get_scoped(Resident.objects.all(), actor, RESIDENT_PATHS, pk=resident_id)
    code = HealthCode.objects.filter(pk=resident.pk).first()
    lines = [
        HistoryLine(
            c.at,
            c.was,
            c.colour,
            _reason(c.rule, c.trigger == Trigger.CORRECTION, c.reason),
            str(Trigger(c.trigger).label),
            c.actor_label if c.trigger == Trigger.CORRECTION else "",
        )
        for c in CodeChange.objects.filter(resident_id=resident.pk).order_by("-at", "-pk")[:history]
    ]
    if code is None:
        return CodeView(
            resident.pk,
            GREEN,
            None,
            _reason("", False, ""),
            "",
            False,
            code_rules().version,
            tokens.token_for(resident.pk),
            lines,
        )
    return CodeView(
        resident.pk,
        code.colour,
        code.set_at,
        _reason(code.rule, code.corrected, code.reason),
        str(Trigger(code.trigger).label),
        code.corrected,
        code.version,
        tokens.token_for(resident.pk),
        lines,
    )


@dataclass(frozen=True)
class Holding:
    rule: str
    colour: str
    reason: str


def code_explained(*, actor: Actor, resident_id: int) -> list[Holding]:
    """Every rule that holds for the resident now, most severe first (not only the one that gives
    the colour): what an officer reads when a resident contests their code (issue 15's appeals
    build on it)."""
    actor.require("view_codes")
    resident = get_scoped(Resident.objects.all(), actor, RESIDENT_PATHS, pk=resident_id)
    code = HealthCode.objects.filter(pk=resident.pk).first()
    held = rules.facts_of(code.facts) if code else frozenset()
    policy = code_rules()
    holding = [r for r in policy.rules if r.fact in held]
    order = {RED: 0, YELLOW: 1}
    holding.sort(key=lambda r: order[r.colour])
    return [Holding(r.id, r.colour, r.said(_language())) for r in holding]


@dataclass(frozen=True)
class Check:
    colour: str
    set_at: datetime | None


def code_check(*, actor: Actor, token: str) -> Check:
    """A venue's or checkpoint's check: the colour and when it was set, nothing more (one
    statement: `codes.sql.checked`)."""
    actor.require("check_codes")
    resident_id = tokens.resident_of(token)
    if resident_id is None:
        raise NotFound(_("This is not a valid health code."), code="unknown_code")
    found = codes_sql.checked(resident_id)
    if found is None:
        raise NotFound(_("This is not a valid health code."), code="unknown_code")
    colour, set_at = found
    if colour is None:
        return Check(GREEN, None)
    return Check(colour, core_sql.as_datetime(set_at))


def colour_counts(*, actor: Actor) -> dict[str, int]:
    """Residents by colour within the actor's scope (green: everyone else). City-wide, the codes
    are counted alone and the residents come from the registry's per-community figures, so that
    the command centre's count never reads the 21 M residents."""
    coloured = HealthCode.objects.exclude(colour=GREEN)
    if actor.level == ScopeLevel.CITY:
        total = city_figures(actor=SYSTEM).residents
    else:
        residents = scoped(Resident.objects.all(), actor, RESIDENT_PATHS)
        coloured = coloured.filter(resident_id__in=residents.values("pk"))
        total = residents.count()
    by = dict(coloured.values_list("colour").annotate(n=Count("pk")).values_list("colour", "n"))
    red, yellow = by.get(RED, 0), by.get(YELLOW, 0)
    return {RED: red, YELLOW: yellow, GREEN: max(total - red - yellow, 0)}
