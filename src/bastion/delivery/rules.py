"""Pure rules of deliveries: the day's load plan as first-fit decreasing bin packing of the
compounds' demands into vehicle trips. No ORM."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Demand:
    compound_id: int
    kg: Decimal


@dataclass
class Trip:
    vehicle: int  # index into the vehicles given
    number: int  # 1 for the vehicle's first trip of the day
    capacity: Decimal
    loads: list[tuple[int, Decimal]] = field(default_factory=list)  # (compound id, kg)

    @property
    def used(self) -> Decimal:
        return sum((kg for _c, kg in self.loads), Decimal(0))


def load_plan(demands: list[Demand], capacities: list[Decimal]) -> list[Trip]:
    """Every demand loaded, the heaviest first, whole into the first trip with room for it;
    each vehicle's first trip comes before any second one. A compound larger than the largest
    vehicle is split across trips. Every kilogram is placed exactly once."""
    if not capacities or any(c <= 0 for c in capacities):
        if any(d.kg > 0 for d in demands):
            raise ValueError("no vehicle to carry the day's goods")
        return []
    largest = max(capacities)
    trips: list[Trip] = []

    def another_round() -> None:
        number = max((t.number for t in trips), default=0) + 1
        trips.extend(Trip(vehicle=i, number=number, capacity=c) for i, c in enumerate(capacities))

    another_round()
    for demand in sorted(demands, key=lambda d: (-d.kg, d.compound_id)):
        left = demand.kg
        while left > 0:
            whole = next((t for t in trips if t.capacity - t.used >= left), None)
            if whole is not None:
                whole.loads.append((demand.compound_id, left))
                break
            if left <= largest:
                another_round()
                continue
            part = next((t for t in trips if t.capacity - t.used > 0), None)
            if part is None:
                another_round()
                continue
            taken = part.capacity - part.used
            part.loads.append((demand.compound_id, taken))
            left -= taken
    return [t for t in trips if t.loads]
