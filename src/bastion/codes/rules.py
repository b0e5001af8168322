"""Pure rules of health codes: a resident's colour, and why, from what is known of them.

Plain values in, plain values out: the facts a resident's state gives (codes/policy.FACTS) and
the province's rules (codes/policy.CodeRules).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bastion.codes.policy import COLOURS, FACTS, GREEN, CodeRules, Rule


@dataclass(frozen=True)
class Verdict:
    """A colour, the rule that set it (None for green: no rule holds) and the rules' version."""

    colour: str
    rule: Rule | None
    version: str

    def reason(self, language: str) -> str:
        return self.rule.said(language) if self.rule is not None else ""


def colour(rules: CodeRules, facts: Iterable[str]) -> Verdict:
    """The most severe colour among the rules whose fact holds; its reason is the first such
    rule in the file's order. Green when none holds."""
    holding = frozenset(facts)
    severity = {c: i for i, c in enumerate(COLOURS)}
    best: Rule | None = None
    for rule in rules.rules:
        if rule.fact in holding and (best is None or severity[rule.colour] < severity[best.colour]):
            best = rule
    return Verdict(colour=best.colour if best else GREEN, rule=best, version=rules.version)


# --- facts as a bit set (stored with each code) ------------------------------------------------


def bits(facts: Iterable[str]) -> int:
    held = frozenset(facts)
    return sum(1 << i for i, fact in enumerate(FACTS) if fact in held)


def facts_of(value: int) -> frozenset[str]:
    return frozenset(fact for i, fact in enumerate(FACTS) if value >> i & 1)


# The facts that end by time alone, with nobody acting: a missed round's window runs out, home
# monitoring ends, and (at the day's release) a quarantine; a resident sampled after a missed
# round. Residents coloured by them are looked at again by the codes' own timer.
TIMED_FACTS = frozenset({"missed_screening", "home_monitoring"})
# Of those, the one whose end the sweep can find without reading everyone it holds for: a missed
# round's fact ends when its window runs out (the round's deadline leaves the window) or when
# they are sampled in a later round.
LOCATED_FACT = "missed_screening"


def missed_counts(*, deadline: datetime, now: datetime, window_days: int) -> bool:
    """A round missed counts while its deadline has passed and lies within the window (the rule
    `testing.sql.MISSED_ROUND` applies set-based: deadline <= now and deadline > now - window)."""
    return now - timedelta(days=window_days) < deadline <= now


# (a round's deadline, in hours after now; whether a missed round counts), under the shipped
# 7-day window: pure here, set-based at a round's deadline, per resident in every trigger's facts.
MISSED_WINDOW_CASES: tuple[tuple[float, bool], ...] = (
    (0.0, True),  # the deadline is now
    (0.25, False),  # not yet passed
    (-24.0, True),
    (-24 * 7 + 0.25, True),  # the window's last quarter of an hour
    (-24 * 7, False),  # the window has just run out
    (-24 * 8, False),
)


@dataclass(frozen=True)
class SweepSpan:
    """Where the sweep at `now` must look again at those a missed round turned yellow: everyone
    (`full`: never swept, or the clock went back), or only those sampled since in a later round
    and those a round covers whose deadline left the window in (`ran_out_after`,
    `counted_after`]. Missed rounds with a deadline after `counted_after` still count."""

    full: bool
    ran_out_after: datetime | None
    counted_after: datetime


def sweep_span(
    *, last_at: datetime | None, last_counted_after: datetime | None, now: datetime, window_days: int
) -> SweepSpan:
    """The span of a sweep at `now`, the last sweep having run at `last_at` (None: never) when
    missed rounds counted after `last_counted_after`. However long ago the last sweep ran, every
    round whose window ended since is in the span (a sweep skipped for days misses nothing); a
    shorter window in a new rules file ends the rounds between both cuts at once."""
    counted_after = now - timedelta(days=window_days)
    if last_at is None or last_counted_after is None or now < last_at:
        return SweepSpan(full=True, ran_out_after=None, counted_after=counted_after)
    return SweepSpan(full=False, ran_out_after=last_counted_after, counted_after=counted_after)


# --- what a recolouring writes ---------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A resident's code as stored (None when they were never coloured: green)."""

    colour: str
    rule: str  # the rule's id, "" for green
    facts: int
    corrected: bool


@dataclass(frozen=True)
class Outcome:
    colour: str
    rule: str
    facts: int
    recorded: bool  # a change the resident sees: a row of history, a new `set_at`


def recolour(rules: CodeRules, stored: Stored | None, facts: Iterable[str]) -> Outcome | None:
    """What to write for a resident whose facts are now `facts`; None when nothing changes.

    Never coloured and green: nothing (a city keeps rows only for those ever coloured). An
    officer's correction stands until the facts change; then the rules take over again, and
    the resident is told. Otherwise a new colour or a new reason is a change; new facts under
    the same colour and reason are kept quietly (a later correction is judged against them).
    """
    held = frozenset(facts)
    verdict = colour(rules, held)
    rule = verdict.rule.id if verdict.rule else ""
    now = bits(held)
    if stored is None:
        return None if verdict.colour == GREEN else Outcome(verdict.colour, rule, now, recorded=True)
    if stored.corrected:
        return None if stored.facts == now else Outcome(verdict.colour, rule, now, recorded=True)
    if (stored.colour, stored.rule) == (verdict.colour, rule):
        return None if stored.facts == now else Outcome(verdict.colour, rule, now, recorded=False)
    return Outcome(verdict.colour, rule, now, recorded=True)


# (stored as (colour, rule, facts, corrected) or None, facts now, expected (colour, rule,
# recorded) or None), under the shipped rules.
RECOLOUR_CASES: tuple[
    tuple[tuple[str, str, frozenset[str], bool] | None, frozenset[str], tuple[str, str, bool] | None], ...
] = (
    (None, frozenset(), None),
    (None, frozenset({"case"}), ("red", "case", True)),
    (None, frozenset({"medium_risk_zone", "pool_retest"}), ("yellow", "pool_retest", True)),
    (("red", "high_risk_zone", frozenset({"high_risk_zone"}), False), frozenset(), ("green", "", True)),
    (("red", "high_risk_zone", frozenset({"high_risk_zone"}), False), frozenset({"high_risk_zone"}), None),
    (
        ("red", "high_risk_zone", frozenset({"high_risk_zone"}), False),
        frozenset({"high_risk_zone", "missed_screening"}),
        ("red", "high_risk_zone", False),
    ),
    (
        ("red", "high_risk_zone", frozenset({"high_risk_zone"}), False),
        frozenset({"case"}),
        ("red", "case", True),
    ),
    (("yellow", "", frozenset({"pool_retest"}), True), frozenset({"pool_retest"}), None),
    (("green", "", frozenset({"pool_retest"}), True), frozenset(), ("green", "", True)),
    (("green", "", frozenset({"case"}), True), frozenset({"case", "high_risk_zone"}), ("red", "case", True)),
    (("green", "", frozenset(), False), frozenset(), None),
    (("green", "", frozenset(), False), frozenset({"home_monitoring"}), ("yellow", "home_monitoring", True)),
)
