"""Pure rules of health codes: a resident's colour, and why, from what is known of them.

Plain values in, plain values out: the facts a resident's state gives (codes/policy.FACTS) and
the province's rules (codes/policy.CodeRules).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bastion.codes.policy import COLOURS, GREEN, CodeRules, Rule


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
