"""The daily bulletin: published figures, readable by any signed-in user."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema

from bastion.bulletin.selectors import BulletinFigures, bulletin
from bastion.core import clock
from bastion.core.errors import InvalidInput
from bastion.core.inputs import Day

router = Router(tags=["bulletin"])


class FoundByOut(Schema):
    screening: int
    quarantine: int
    community: int
    hospital: int


class BulletinFiguresOut(Schema):
    new_confirmed: int
    new_asymptomatic: int
    conversions: int  # asymptomatic reclassified as confirmed this day: not new confirmed
    cumulative_confirmed: int
    cumulative_asymptomatic: int
    cumulative: int
    found_by: FoundByOut
    discharged: int
    cumulative_discharged: int
    zones_high: int
    zones_medium: int
    samples_current_round: int  # in the round `round` of the bulletin, by the day's end


class BulletinDistrictOut(BulletinFiguresOut):
    id: int
    code: str
    name: str


class BulletinOut(Schema):
    day: date
    round: str | None  # the current round of mass testing, if any has started
    city: BulletinFiguresOut
    districts: list[BulletinDistrictOut]


@router.get("/", response=BulletinOut, summary="The bulletin of a day (0–24 h in the city's time zone)")
def bulletin_of_day(request: HttpRequest, day: Day | None = None) -> dict[str, Any]:
    """`day` defaults to today in the city's time zone."""
    today = clock.today()
    day = day or today
    if day > today:
        raise InvalidInput(_("There is no bulletin for a day to come."), code="bulletin_in_future")
    published = bulletin(day=day)
    return {
        "day": published.day,
        "round": published.round,
        "city": _figures(published.city),
        "districts": [
            {"id": d.id, "code": d.code, "name": d.name, **_figures(d.figures)} for d in published.districts
        ],
    }


def _figures(figures: BulletinFigures) -> dict[str, Any]:
    return figures.as_dict()
