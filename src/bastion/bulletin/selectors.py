"""The daily bulletin for any day, per district and for the city (DOMAIN.md, "The daily bulletin").

Reads only: the cases' grouped counts, the zones' periods and the current round's tubes.
Published figures, so any signed-in role may read them; they hold no personal data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from bastion.cases.selectors import CaseCounts, case_counts
from bastion.city.models import District
from bastion.testing.selectors import samples_in_current_round
from bastion.zones.selectors import zones_in_force_on


@dataclass(frozen=True)
class BulletinFigures:
    new_confirmed: int
    new_asymptomatic: int
    conversions: int
    cumulative_confirmed: int
    cumulative_asymptomatic: int
    cumulative: int
    found_by: dict[str, int]
    discharged: int
    cumulative_discharged: int
    zones_high: int
    zones_medium: int
    # Samples taken in the current round of mass testing by the day's end (Bulletin.round).
    samples_current_round: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DistrictBulletin:
    id: int
    code: str
    name: str
    figures: BulletinFigures


@dataclass(frozen=True)
class Bulletin:
    day: date
    city: BulletinFigures
    districts: list[DistrictBulletin]
    # The code of the current round of mass testing, if any has started.
    round: str | None = None


_EMPTY = CaseCounts(0, 0, 0, 0, 0, 0, 0, {"screening": 0, "quarantine": 0, "community": 0, "hospital": 0})


def _figures(counts: CaseCounts, zones: dict[str, int], samples: int) -> BulletinFigures:
    return BulletinFigures(
        new_confirmed=counts.new_confirmed,
        new_asymptomatic=counts.new_asymptomatic,
        conversions=counts.conversions,
        cumulative_confirmed=counts.cumulative_confirmed,
        cumulative_asymptomatic=counts.cumulative_asymptomatic,
        cumulative=counts.cumulative,
        found_by=dict(counts.found_by),
        discharged=counts.discharged,
        cumulative_discharged=counts.cumulative_discharged,
        zones_high=zones.get("high", 0),
        zones_medium=zones.get("medium", 0),
        samples_current_round=samples,
    )


def bulletin(*, day: date) -> Bulletin:
    """The bulletin for `day` (0–24 h in the city's time zone): a few grouped queries (the
    cases, the zones in force, the samples of the current round) and the list of districts,
    whatever the city's size.

    Every district is listed, those without cases with zeros, so that a printed bulletin
    shows the whole city.
    """
    counts = case_counts(day=day)
    zones = zones_in_force_on(day)
    samples = samples_in_current_round(day=day)
    no_zones = {"high": 0, "medium": 0}
    districts = [
        DistrictBulletin(
            id=d.pk,
            code=d.code,
            name=d.name,
            figures=_figures(
                counts.get(d.pk, _EMPTY), zones.get(d.pk, no_zones), samples.by_district.get(d.pk, 0)
            ),
        )
        for d in District.objects.order_by("code")
    ]
    return Bulletin(
        day=day,
        city=_figures(counts[None], zones[None], samples.total),
        districts=districts,
        round=samples.code,
    )
