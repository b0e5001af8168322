"""Health codes as the province's rules say (codes/policy.toml): one table of what is known of a
resident against the colour and the reason they read. Pure: no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.codes import policy, rules
from bastion.codes.policy import FACTS, RulesFileError

SHIPPED = policy.parse(policy.DEFAULT_FILE.read_text(encoding="utf-8"))

# facts that hold → (colour, the rule that gives the reason)
CASES = [
    ((), ("green", None)),
    (("case",), ("red", "case")),
    (("close_contact",), ("red", "close_contact")),
    (("high_risk_zone",), ("red", "high_risk_zone")),
    (("secondary_contact",), ("yellow", "secondary_contact")),
    (("pool_retest",), ("yellow", "pool_retest")),
    (("medium_risk_zone",), ("yellow", "medium_risk_zone")),
    (("missed_screening",), ("yellow", "missed_screening")),
    (("home_monitoring",), ("yellow", "home_monitoring")),
    # The most severe colour wins, whatever the order the facts come in …
    (("missed_screening", "high_risk_zone"), ("red", "high_risk_zone")),
    (("home_monitoring", "close_contact", "pool_retest"), ("red", "close_contact")),
    # … and among rules of one colour, the file's first gives the reason.
    (("high_risk_zone", "case"), ("red", "case")),
    (("missed_screening", "medium_risk_zone", "pool_retest"), ("yellow", "pool_retest")),
    (tuple(FACTS), ("red", "case")),
]


@pytest.mark.parametrize(("facts", "expected"), CASES)
def test_a_residents_colour_and_reason_follow_the_rules(facts: tuple[str, ...], expected: tuple) -> None:
    verdict = rules.colour(SHIPPED, facts)
    assert (verdict.colour, verdict.rule.id if verdict.rule else None) == expected
    assert verdict.version == "2022-v9-1"
    if verdict.rule is None:
        assert verdict.reason("zh-hans") == ""
    else:
        assert verdict.reason("zh-hans") and verdict.reason("en") != verdict.reason("zh-hans")


def test_the_shipped_rules_cover_every_fact_and_speak_plainly() -> None:
    assert sorted(r.fact for r in SHIPPED.rules) == sorted(FACTS)
    lifted = rules.colour(SHIPPED, ["high_risk_zone"]).reason("zh-hans")
    assert lifted == "您居住在高风险区，高风险区解除前为红码。"
    assert rules.colour(SHIPPED, ["pool_retest"]).reason("fr") == rules.colour(
        SHIPPED, ["pool_retest"]
    ).reason("zh-hans")  # a language the file lacks reads the city's


def test_an_operators_file_changes_the_colours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A province where a missed screening is red: the rules are data."""
    text = (
        policy.DEFAULT_FILE.read_text(encoding="utf-8")
        .replace('fact = "missed_screening"\ncolour = "yellow"', 'fact = "missed_screening"\ncolour = "red"')
        .replace('version = "2022-v9-1"', 'version = "province-2022-12"')
    )
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("BASTION_CODES_POLICY_FILE", str(path))
    verdict = rules.colour(policy.code_rules(), ["missed_screening", "pool_retest"])
    assert (verdict.colour, verdict.rule and verdict.rule.id, verdict.version) == (
        "red",
        "missed_screening",
        "province-2022-12",
    )


RULE = '[[rule]]\nid = "a"\nfact = "case"\ncolour = "red"\nwords."zh-hans" = "x"\nwords.en = "x"\n'
HEAD = 'version = "v"\n'


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("version = \n", "Invalid"),
        (RULE, "version is missing"),
        (HEAD, "no rule"),
        (HEAD + RULE.replace('"case"', '"sneezed"'), "fact must be one of"),
        (HEAD + RULE.replace('"red"', '"green"'), "colour must be red or yellow"),
        (HEAD + RULE.replace('words."zh-hans" = "x"\n', ""), "zh-hans and en"),
        (HEAD + RULE * 2, "used twice"),
    ],
)
def test_a_bad_rules_file_is_refused_saying_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(RulesFileError, match=said):
        policy.parse(text)
