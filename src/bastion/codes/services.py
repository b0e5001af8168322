"""Writing health codes: the colours that follow their triggers, and an officer's correction.

`codes_recolour` is called by flows.py inside the transaction of each trigger (a result, a
contact, a zone, a discharge, a quarantine's end, a round's deadline), with the residents the
trigger may have changed, never the whole city: their facts are read set-based (`codes.sql`),
the one rule decides (`codes.rules.recolour`, once per distinct set of facts), and only the
changes are written, each with a row of history naming its trigger, rule and the rules' version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils.translation import gettext as _

from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.codes import rules
from bastion.codes import sql as codes_sql
from bastion.codes.models import CodeChange, Colour, HealthCode, TimedSweep, Trigger
from bastion.codes.policy import FACTS, GREEN, CodeRules, code_rules
from bastion.core import audit, clock
from bastion.core import sql as core_sql
from bastion.core.errors import InvalidInput
from bastion.core.scopes import Actor, get_scoped
from bastion.testing import selectors as testing_selectors
from bastion.testing.models import Round
from bastion.transfer import policy as transfer_policy
from bastion.transfer import rules as transfer_rules
from bastion.zones.rules import HIGH, MEDIUM


def candidates_staged(
    *,
    residents: Sequence[int] = (),
    queries: Sequence[QuerySet[Any, Any]] = (),
    missed_round: Round | None = None,
    timed: bool = False,
    policy: CodeRules,
    now: datetime,
) -> tuple[str, list[Any]]:
    """Stage the residents to look at again (`codes_sql.CANDIDATES`); returns the statement of
    their facts and its parameters (`codes_sql.facts_query`). Inside a transaction."""
    windows = policy.windows
    codes_sql.candidates_stage()
    codes_sql.candidates_add_ids(residents)
    for query in queries:
        codes_sql.candidates_add_query(*core_sql.of_query(query))
    if missed_round is not None:
        unsampled = testing_selectors.unsampled_of_round_statement(missed_round)
        if rules.missed_counts(
            deadline=missed_round.deadline, now=now, window_days=windows.missed_screening_days
        ):
            codes_sql.candidates_add_unsampled(
                *unsampled, later_rounds=testing_selectors.rounds_started_after(missed_round.starts_at)
            )
        else:  # already out of its window: FACTS says whether another round counts
            codes_sql.candidates_add_query(*unsampled)
    if timed:
        _timed_staged(policy, now)
    return codes_sql.facts_query(
        now=core_sql.db_datetime(now),
        missed_since=core_sql.db_datetime(now - timedelta(days=windows.missed_screening_days)),
        # Home monitoring after a discharge: the discharge rule of the case's protocol, the one
        # the transfer applied (transfer/policy.toml), never a figure of ours.
        monitored_since=transfer_rules.monitored_since_by_protocol(
            today=clock.local_date(now), policy=transfer_policy.policy()
        ),
    )


def _timed_staged(policy: CodeRules, now: datetime) -> None:
    """The sweep's residents: those whose colour a fact that ends by time alone set
    (`rules.TIMED_FACTS`) and every correction made while one held, except that of those a
    missed round turned yellow (a million after a city's round) only those time can have
    changed since the last sweep: sampled since in a later round, or covered by a round whose
    window ran out since (`rules.sweep_span`, the last sweep's mark kept in `TimedSweep`)."""
    located = [r.id for r in policy.rules if r.fact == rules.LOCATED_FACT]
    others = [r.id for r in policy.rules if r.fact in rules.TIMED_FACTS and r.fact != rules.LOCATED_FACT]
    timed_bits = rules.bits(rules.TIMED_FACTS)
    mark = TimedSweep.objects.select_for_update().filter(pk=1).first()
    span = rules.sweep_span(
        last_at=mark.at if mark else None,
        last_counted_after=mark.counted_after if mark else None,
        now=now,
        window_days=policy.windows.missed_screening_days,
    )
    if span.full or span.ran_out_after is None:
        codes_sql.candidates_add_coloured([*others, *located], timed_bits)
    else:
        codes_sql.candidates_add_coloured(
            others, timed_bits, also=located, also_facts=rules.bits(rules.TIMED_FACTS - {rules.LOCATED_FACT})
        )
        first = testing_selectors.rounds_deadline_within(span.counted_after, now).aggregate(
            first=Min("starts_at")
        )["first"]
        if first is not None:
            # The rounds still counted themselves among them: a round stays open past its
            # deadline, and a scan arriving late in the missed round ends the fact too.
            codes_sql.candidates_add_sampled_since(
                located, testing_selectors.rounds_started_after(first, inclusive=True)
            )
        ran_out = list(
            testing_selectors.rounds_deadline_within(span.ran_out_after, span.counted_after)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with_areas = testing_selectors.rounds_with_areas(ran_out)
        codes_sql.candidates_add_ran_out(located, [r for r in ran_out if r in with_areas], whole_city=False)
        codes_sql.candidates_add_ran_out(
            located, [r for r in ran_out if r not in with_areas], whole_city=True
        )
    TimedSweep.objects.update_or_create(pk=1, defaults={"at": now, "counted_after": span.counted_after})


@dataclass(frozen=True)
class Recoloured:
    looked_at: int = 0
    changed: int = 0  # colours or reasons that changed (rows of history)
    to: dict[str, int] = field(default_factory=dict)  # changed, by their new colour


def codes_recolour(
    *,
    residents: Sequence[int] = (),
    queries: Sequence[QuerySet[Any, Any]] = (),
    missed_round: Round | None = None,
    timed: bool = False,
    trigger: str,
    actor: Actor,
    now: datetime,
) -> Recoloured:
    """Look again at the colours of `residents`, of the residents each query names (a queryset
    of one column of resident ids, e.g. a zone's residents), of everyone `missed_round` (a round
    whose deadline has passed) covers and did not sample, and with `timed` of those whose colour
    a fact that ends by time alone set and for whom time can have changed something since the
    last sweep (`rules.sweep_span`). Inside the caller's transaction when there is one (the
    trigger's)."""
    with transaction.atomic():
        policy = code_rules()
        staged = candidates_staged(
            residents=residents,
            queries=queries,
            missed_round=missed_round,
            timed=timed,
            policy=policy,
            now=now,
        )
        rows = codes_sql.facts(*staged)
        decided: dict[tuple[Any, ...], rules.Outcome | None] = {}
        out: list[tuple[int, str, str, str, int, bool]] = []
        to: dict[str, int] = {}
        for row in rows:
            resident_id, case, close, level, secondary, recalled, missed, monitored = row[:8]
            colour, rule, facts, corrected, _version = row[8:]
            held = (
                bool(case),
                bool(close),
                level == HIGH,
                bool(secondary),
                bool(recalled),
                level == MEDIUM,
                bool(missed),
                bool(monitored),
            )
            stored = None if colour is None else rules.Stored(colour, rule, int(facts), bool(corrected))
            key = (held, stored)
            if key not in decided:
                decided[key] = rules.recolour(
                    policy, stored, [f for f, h in zip(FACTS, held, strict=True) if h]
                )
            outcome = decided[key]
            if outcome is None:
                continue
            out.append(
                (resident_id, colour or GREEN, outcome.colour, outcome.rule, outcome.facts, outcome.recorded)
            )
            if outcome.recorded:
                to[outcome.colour] = to.get(outcome.colour, 0) + 1
        if out:
            frame = pl.DataFrame(out, schema=codes_sql.CHANGE_COLUMNS, orient="row")
            codes_sql.changes_write(
                frame,
                version=policy.version,
                trigger=trigger,
                actor_label=audit.label_of(actor),
                at=core_sql.db_datetime(now),
            )
        changed = sum(to.values())
        if changed:
            audit.record(
                action="codes.recoloured",
                object_type="codes.healthcode",
                after={
                    "trigger": trigger,
                    "looked_at": len(rows),
                    "changed": changed,
                    "to": to,
                    "version": policy.version,
                },
                actor=actor,
                now=now,
            )
        core_sql.empty_table(codes_sql.CANDIDATES)
    return Recoloured(len(rows), changed, to)


def code_correct(*, resident_id: int, colour: str, reason: str, actor: Actor, now: datetime) -> HealthCode:
    """An officer sets a resident's colour by hand, with a written reason: audited, kept in the
    code's history and shown to the resident. It stands until the resident's facts change."""
    actor.require("correct_codes")
    reason = reason.strip()
    if not reason:
        raise InvalidInput(
            _("A correction needs a written reason: the resident reads it."), code="reason_required"
        )
    if colour not in Colour.values:
        raise InvalidInput(_("Unknown colour: red, yellow or green."), code="unknown_colour")
    with transaction.atomic():
        resident = get_scoped(Resident.objects.all(), actor, RESIDENT_PATHS, pk=resident_id)
        # The facts as they are now, so that the correction lapses when they next change.
        codes_recolour(residents=[resident.pk], trigger=Trigger.TIME, actor=actor, now=now)
        code = HealthCode.objects.select_for_update().filter(pk=resident.pk).first()
        was = code.colour if code else GREEN
        policy = code_rules()
        if code is None:
            code = HealthCode(resident_id=resident.pk, facts=0)
        code.colour, code.rule, code.version, code.set_at = colour, "", policy.version, now
        code.trigger, code.corrected, code.reason = Trigger.CORRECTION, True, reason
        code.save()
        CodeChange.objects.create(
            resident_id=resident.pk,
            at=now,
            was=was,
            colour=colour,
            rule="",
            version=policy.version,
            trigger=Trigger.CORRECTION,
            actor_label=audit.label_of(actor),
            reason=reason,
        )
        audit.record(
            action="codes.corrected",
            obj=code,
            before={"colour": was},
            after={"colour": colour},
            reason=reason,
            district_id=resident.district_id,
            actor=actor,
            now=now,
        )
    return code
