"""Pure rules of supply: days of supply, markup and gouging (and the baseline it is judged by),
short weight. Plain values in and out, no ORM."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal


def days_of_supply(stock_kg: Decimal, population: int, per_person_kg: Decimal | None) -> Decimal | None:
    """stock / (population x daily consumption per person), to one decimal; None when there
    is nobody to feed or no consumption is set for the category."""
    if per_person_kg is None or per_person_kg <= 0 or population <= 0:
        return None
    return (stock_kg / (population * per_person_kg)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def markup_ratio(sale: Decimal, purchase: Decimal) -> Decimal:
    """(sale - purchase) / purchase."""
    if purchase <= 0:
        raise ValueError("a purchase price is positive")
    return (sale - purchase) / purchase


def baseline_window(
    *, reported_at: datetime, frozen_at: datetime | None, days: int
) -> tuple[datetime, datetime]:
    """[start, end) of the price reports whose markups are the baseline of a report made at
    `reported_at`: the `days` before prices were frozen (`frozen_at`, the policy's baseline
    date), else the `days` before the report. A report made before `end` is itself part of a
    baseline, not judged."""
    end = reported_at if frozen_at is None else frozen_at
    return end - timedelta(days=days), end


def gouging(
    *, sale: Decimal, purchase: Decimal | None, baseline_ratio: Decimal | None, cap: Decimal
) -> tuple[str, Decimal] | None:
    """("markup", ratio) when the markup exceeds the highest ratio of the baseline window;
    ("price_cap", ratio) when there is no baseline and it exceeds the cap; None otherwise or
    when the purchase price is unknown (nothing to judge by)."""
    if purchase is None:
        return None
    ratio = markup_ratio(sale, purchase)
    if baseline_ratio is not None:
        return ("markup", ratio) if ratio > baseline_ratio else None
    return ("price_cap", ratio) if ratio > cap else None


def short_weight(*, declared_kg: Decimal, measured_kg: Decimal, tolerance: Decimal) -> bool:
    """Lighter than declared by more than the tolerance (a share of the declared weight)."""
    return measured_kg < declared_kg * (1 - tolerance)
