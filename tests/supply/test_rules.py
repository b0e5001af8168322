"""The pure rules of supply: days of supply, the markup ratio, gouging and short weight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.supply import rules

D = Decimal

kg = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False, allow_infinity=False)
people = st.integers(min_value=1, max_value=25_000_000)
per_person = st.decimals(min_value=D("0.01"), max_value=5, places=2, allow_nan=False, allow_infinity=False)
prices = st.decimals(min_value=D("0.01"), max_value=100_000, places=2, allow_nan=False, allow_infinity=False)
shares = st.decimals(min_value=0, max_value=5, places=3, allow_nan=False, allow_infinity=False)


def test_it_gives_days_of_supply_as_stock_over_what_the_population_eats_a_day() -> None:
    # 1,000 kg of vegetables for 100 people eating 0.5 kg a day: 20 days.
    assert rules.days_of_supply(D("1000"), 100, D("0.5")) == D("20.0")
    # 105 kg of grain for 100 people at 0.4 kg: 2.625 days, shown as 2.6.
    assert rules.days_of_supply(D("105"), 100, D("0.4")) == D("2.6")
    assert rules.days_of_supply(D("0"), 100, D("0.4")) == D("0.0")


def test_it_rounds_days_of_supply_half_up_to_one_decimal() -> None:
    assert rules.days_of_supply(D("1.25"), 1, D("1")) == D("1.3")
    assert rules.days_of_supply(D("11.25"), 10, D("0.5")) == D("2.3")
    assert rules.days_of_supply(D("11.24"), 10, D("0.5")) == D("2.2")
    assert rules.days_of_supply(D("7"), 3, D("1")).as_tuple().exponent == -1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("population", "consumption"),
    [(0, D("0.4")), (-5, D("0.4")), (100, None), (100, D("0")), (0, None)],
)
def test_it_gives_no_days_of_supply_with_nobody_to_feed_or_no_consumption_set(
    population: int, consumption: Decimal | None
) -> None:
    assert rules.days_of_supply(D("500"), population, consumption) is None


@given(a=kg, b=kg, population=people, consumption=per_person)
def test_more_stock_never_gives_fewer_days(
    a: Decimal, b: Decimal, population: int, consumption: Decimal
) -> None:
    low, high = sorted((a, b))
    fewer = rules.days_of_supply(low, population, consumption)
    more = rules.days_of_supply(high, population, consumption)
    assert fewer is not None and more is not None
    assert fewer <= more


@given(stock=kg, a=people, b=people, consumption=per_person)
def test_more_people_never_give_more_days(stock: Decimal, a: int, b: int, consumption: Decimal) -> None:
    few, many = sorted((a, b))
    for_few = rules.days_of_supply(stock, few, consumption)
    for_many = rules.days_of_supply(stock, many, consumption)
    assert for_few is not None and for_many is not None
    assert for_many <= for_few


@given(stock=kg, population=people, consumption=per_person)
def test_days_of_supply_are_within_a_rounding_of_the_exact_quotient(
    stock: Decimal, population: int, consumption: Decimal
) -> None:
    days = rules.days_of_supply(stock, population, consumption)
    assert days is not None
    assert abs(days - stock / (population * consumption)) <= D("0.05")


def test_it_gives_the_markup_ratio_of_sale_over_purchase() -> None:
    assert rules.markup_ratio(D("13.50"), D("10")) == D("0.35")
    assert rules.markup_ratio(D("10"), D("10")) == 0
    assert rules.markup_ratio(D("8"), D("10")) == D("-0.2")
    assert rules.markup_ratio(D("30"), D("10")) == 2


@pytest.mark.parametrize("purchase", [D("0"), D("-1")])
def test_it_refuses_a_markup_ratio_without_a_positive_purchase_price(purchase: Decimal) -> None:
    with pytest.raises(ValueError, match="positive"):
        rules.markup_ratio(D("10"), purchase)


def test_without_a_baseline_a_markup_above_the_cap_is_gouging_and_at_the_cap_is_not() -> None:
    cap = D("0.35")
    assert rules.gouging(sale=D("13.50"), purchase=D("10"), baseline_ratio=None, cap=cap) is None
    assert rules.gouging(sale=D("13.51"), purchase=D("10"), baseline_ratio=None, cap=cap) == (
        "price_cap",
        D("0.351"),
    )
    assert rules.gouging(sale=D("9"), purchase=D("10"), baseline_ratio=None, cap=cap) is None


def test_with_a_baseline_its_highest_ratio_is_the_limit_rather_than_the_cap() -> None:
    cap = D("0.35")
    # The baseline allows more than the cap: 40 % is fine under a 50 % baseline, 50.1 % is not.
    assert rules.gouging(sale=D("14"), purchase=D("10"), baseline_ratio=D("0.5"), cap=cap) is None
    assert rules.gouging(sale=D("15"), purchase=D("10"), baseline_ratio=D("0.5"), cap=cap) is None
    assert rules.gouging(sale=D("15.01"), purchase=D("10"), baseline_ratio=D("0.5"), cap=cap) == (
        "markup",
        D("0.501"),
    )
    # The baseline allows less than the cap: 20 % is too much after a 10 % baseline.
    assert rules.gouging(sale=D("12"), purchase=D("10"), baseline_ratio=D("0.1"), cap=cap) == (
        "markup",
        D("0.2"),
    )


def test_a_baseline_of_zero_is_a_baseline_not_the_absence_of_one() -> None:
    judged = rules.gouging(sale=D("10.50"), purchase=D("10"), baseline_ratio=D("0"), cap=D("0.35"))
    assert judged == ("markup", D("0.05"))


def test_without_a_purchase_price_there_is_nothing_to_judge() -> None:
    assert rules.gouging(sale=D("999"), purchase=None, baseline_ratio=None, cap=D("0.35")) is None
    assert rules.gouging(sale=D("999"), purchase=None, baseline_ratio=D("0"), cap=D("0.35")) is None


@given(sale=prices, purchase=prices, headroom=shares, cap=shares)
def test_a_markup_at_or_under_the_baseline_is_never_flagged(
    sale: Decimal, purchase: Decimal, headroom: Decimal, cap: Decimal
) -> None:
    baseline = rules.markup_ratio(sale, purchase) + headroom
    assert rules.gouging(sale=sale, purchase=purchase, baseline_ratio=baseline, cap=cap) is None


@given(sale=prices, purchase=prices, baseline=st.none() | shares, cap=shares)
def test_gouging_is_flagged_exactly_when_the_markup_passes_the_limit(
    sale: Decimal, purchase: Decimal, baseline: Decimal | None, cap: Decimal
) -> None:
    ratio = rules.markup_ratio(sale, purchase)
    limit = cap if baseline is None else baseline
    judged = rules.gouging(sale=sale, purchase=purchase, baseline_ratio=baseline, cap=cap)
    if ratio > limit:
        assert judged == ("price_cap" if baseline is None else "markup", ratio)
    else:
        assert judged is None


def test_a_package_lighter_than_declared_beyond_the_tolerance_is_short() -> None:
    tolerance = D("0.02")
    assert not rules.short_weight(declared_kg=D("10"), measured_kg=D("9.80"), tolerance=tolerance)
    assert rules.short_weight(declared_kg=D("10"), measured_kg=D("9.79"), tolerance=tolerance)
    assert not rules.short_weight(declared_kg=D("10"), measured_kg=D("10.40"), tolerance=tolerance)
    # With no tolerance, one gram short is short.
    assert rules.short_weight(declared_kg=D("10"), measured_kg=D("9.999"), tolerance=D("0"))
    assert not rules.short_weight(declared_kg=D("10"), measured_kg=D("10"), tolerance=D("0"))


@given(declared=kg, lighter=kg, heavier=kg, tolerance=st.decimals(min_value=0, max_value=D("0.99"), places=2))
def test_a_heavier_package_is_never_shorter(
    declared: Decimal, lighter: Decimal, heavier: Decimal, tolerance: Decimal
) -> None:
    lighter, heavier = sorted((lighter, heavier))
    if rules.short_weight(declared_kg=declared, measured_kg=heavier, tolerance=tolerance):
        assert rules.short_weight(declared_kg=declared, measured_kg=lighter, tolerance=tolerance)
    assert not rules.short_weight(declared_kg=declared, measured_kg=declared, tolerance=tolerance)


def test_the_baseline_is_the_window_before_prices_were_frozen_else_before_the_report() -> None:
    report = datetime(2022, 9, 10, 9, 0, tzinfo=UTC)
    frozen = datetime(2022, 9, 1, tzinfo=UTC)
    assert rules.baseline_window(reported_at=report, frozen_at=None, days=7) == (
        report - timedelta(days=7),
        report,
    )
    assert rules.baseline_window(reported_at=report, frozen_at=frozen, days=7) == (
        frozen - timedelta(days=7),
        frozen,
    )
