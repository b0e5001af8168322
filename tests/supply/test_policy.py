"""The supply policy file: what ships, what an operator may change, and what a bad file says."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from bastion.supply import policy as policies
from bastion.supply.policy import Policy, PolicyFileError, parse
from tests.supply.conftest import SHIPPED


def changed(*changes: tuple[str, str]) -> str:
    text = SHIPPED
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_the_shipped_policy_parses_to_its_numbers() -> None:
    shipped = parse(SHIPPED)
    assert shipped.consumption_kg == {
        "grain_oil": Decimal("0.40"),
        "vegetables": Decimal("0.50"),
        "meat": Decimal("0.10"),
        "eggs": Decimal("0.05"),
        "milk": Decimal("0.25"),
        "fruit": Decimal("0.20"),
        "infant": Decimal("0.01"),
    }
    # Medicine is counted by requests: it has no days of supply.
    assert "medicine" not in shipped.consumption_kg
    assert shipped.alert_days == {
        "grain_oil": Decimal(7),
        "vegetables": Decimal(3),
        "meat": Decimal(3),
        "eggs": Decimal(2),
    }
    assert (shipped.baseline_days, shipped.baseline_date, shipped.cap) == (7, None, Decimal("0.35"))
    assert shipped.weight_tolerance == Decimal("0.02")
    assert (shipped.standard_item, shipped.standard_every_days) == ("vegetable-10kg", 3)
    assert (shipped.normal_hours, shipped.vulnerable_hours) == (24, 12)


def test_the_platform_runs_on_the_shipped_policy_unless_an_operator_points_elsewhere(
    monkeypatch: pytest.MonkeyPatch, local_policy: Callable[..., Policy]
) -> None:
    monkeypatch.delenv("BASTION_SUPPLY_POLICY_FILE", raising=False)
    assert policies.policy() == parse(SHIPPED)
    local = local_policy(("cap = 0.35", "cap = 0.2"), ("every_days = 3", "every_days = 2"))
    assert policies.policy() is local
    assert (local.cap, local.standard_every_days) == (Decimal("0.2"), 2)


@pytest.mark.parametrize(
    "line",
    ["baseline_date = 2022-09-01", 'baseline_date = "2022-09-01"'],
)
def test_a_baseline_date_may_be_a_toml_date_or_an_iso_string(line: str) -> None:
    local = parse(changed(("cap = 0.35", f"cap = 0.35\n{line}")))
    assert local.baseline_date == date(2022, 9, 1)


def test_an_empty_baseline_date_means_the_days_before_each_report() -> None:
    assert parse(changed(("cap = 0.35", 'cap = 0.35\nbaseline_date = ""'))).baseline_date is None


def test_no_tolerance_and_a_cap_of_a_whole_markup_are_allowed() -> None:
    assert parse(changed(("tolerance = 0.02", "tolerance = 0"))).weight_tolerance == 0
    assert parse(changed(("cap = 0.35", "cap = 1"))).cap == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        # A category the platform does not know.
        ((("grain_oil = 0.40", "rice = 0.40"),), "consumption_kg.rice: not a category"),
        ((("eggs = 2", "eggs = 2\nbread = 2"),), "alert_days.bread: not a category"),
        # Negative or non-numeric amounts.
        ((("meat = 0.10", "meat = -0.10"),), "consumption_kg.meat must be a number, 0 or more"),
        ((("meat = 0.10", 'meat = "0.10"'),), "consumption_kg.meat must be a number, 0 or more"),
        ((("grain_oil = 7", "grain_oil = -1"),), "alert_days.grain_oil must be a number, 0 or more"),
        ((("[consumption_kg]", "[consumption]"),), "[consumption_kg] is missing"),
        ((("[alert_days]", "[alert_x]"),), "[alert_days] is missing"),
        # The cap is a share (0.35), not a percentage (35).
        ((("cap = 0.35", "cap = 35"),), "prices.cap must be a share"),
        ((("cap = 0.35", "cap = -0.1"),), "prices.cap must be a share"),
        ((("cap = 0.35", 'cap = "35%"'),), "prices.cap must be a share"),
        ((("cap = 0.35", "cap = nan"),), "prices.cap must be a share"),
        ((("cap = 0.35", "cap = true"),), "prices.cap must be a share"),
        ((("tolerance = 0.02", "tolerance = false"),), "weight.tolerance must be a share"),
        ((("meat = 0.10", "meat = true"),), "consumption_kg.meat must be a number, 0 or more"),
        ((("meat = 0.10", "meat = nan"),), "consumption_kg.meat must be a number, 0 or more"),
        ((("grain_oil = 7", "grain_oil = inf"),), "alert_days.grain_oil must be a number, 0 or more"),
        ((("cap = 0.35\n", ""),), "prices.cap must be a share"),
        ((("tolerance = 0.02", "tolerance = 2"),), "weight.tolerance must be a share"),
        ((("tolerance = 0.02", "tolerance = 1"),), "weight.tolerance must be a share"),
        ((("tolerance = 0.02", "tolerance = -0.02"),), "weight.tolerance must be a share"),
        # The standard package must name an item.
        ((('item = "vegetable-10kg"\n', ""),), "standard.item must name a catalogue item"),
        ((('item = "vegetable-10kg"', 'item = "   "'),), "standard.item must name a catalogue item"),
        ((('item = "vegetable-10kg"', "item = 7"),), "standard.item must name a catalogue item"),
        # Whole numbers, 1 or more.
        ((("baseline_days = 7", "baseline_days = 0"),), "prices.baseline_days must be a whole number"),
        ((("baseline_days = 7", "baseline_days = 1.5"),), "prices.baseline_days must be a whole number"),
        ((("baseline_days = 7", "baseline_days = true"),), "prices.baseline_days must be a whole number"),
        ((("every_days = 3\n", ""),), "standard.every_days must be a whole number"),
        ((("normal_hours = 24", "normal_hours = 0"),), "deadlines.normal_hours must be a whole number"),
        ((("vulnerable_hours = 12", "vulnerable_hours = -12"),), "deadlines.vulnerable_hours must be"),
        # The baseline date is a calendar date.
        (
            (("cap = 0.35", 'cap = 0.35\nbaseline_date = "2022-13-01"'),),
            "prices.baseline_date must be a date",
        ),
        (
            (("cap = 0.35", 'cap = 0.35\nbaseline_date = "1 September"'),),
            "prices.baseline_date must be a date",
        ),
        (
            (("cap = 0.35", "cap = 0.35\nbaseline_date = 2022-09-01T00:00:00"),),
            "prices.baseline_date must be",
        ),
        ((("cap = 0.35", "cap = 0.35\nbaseline_date = 20220901"),), "prices.baseline_date must be a date"),
    ],
)
def test_a_bad_policy_file_says_what_is_wrong(changes: tuple[tuple[str, str], ...], message: str) -> None:
    with pytest.raises(PolicyFileError) as bad:
        parse(changed(*changes))
    assert message in str(bad.value)


def test_a_file_that_is_not_toml_is_a_policy_file_error() -> None:
    with pytest.raises(PolicyFileError, match="line"):
        parse(SHIPPED + "\n[prices\n")


def test_an_operators_bad_file_stops_the_supply_policy_from_loading(
    local_policy: Callable[..., Policy],
) -> None:
    with pytest.raises(PolicyFileError, match=r"prices\.cap"):
        local_policy(("cap = 0.35", "cap = 35"))
