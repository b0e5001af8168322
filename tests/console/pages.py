"""A city with something on every console page: a chain of two cases, their zones, a testing
round with one household sampled, the day's standard packages and their tasks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.templatetags.static import static

from bastion import flows
from bastion.cases import services as cases
from bastion.city.models import Grid, Resident
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM
from bastion.delivery import services as delivery
from bastion.testing import services as testing
from bastion.zones.models import Zone
from tests.conftest import NOW, TODAY
from tests.factories import supply_catalogue


def build_scene(city: dict[str, Any], login_user: Callable[..., User]) -> dict[str, Any]:
    first = Resident.objects.get(household__address="C1/2/1/301", number=1)
    opened = flows.case_reported(resident_id=first.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    second = Resident.objects.get(household__address="C1/1/1/101", number=1)
    officer = actor_for(login_user("district_officer", district=city["D1"]))
    cases.contact_add(
        resident_id=second.pk,
        kind="close",
        last_exposure_on=TODAY,
        case_id=opened.case.pk,
        actor=officer,
        now=NOW,
    )
    flows.case_reported(resident_id=second.pk, kind="confirmed", actor=SYSTEM, now=NOW)
    round_ = testing.round_open(
        code="R-D1",
        starts_at=NOW,
        deadline=NOW + timedelta(days=1),
        district_ids=[city["D1"].pk],
        actor=SYSTEM,
        now=NOW,
    )
    sampler = actor_for(login_user("sampler"))
    for resident in Resident.objects.filter(household__address="C1/1/2/101"):
        testing.scan_record(
            round_id=round_.pk,
            resident_id=resident.pk,
            tube_barcode="T1",
            scanned_at=NOW,
            actor=sampler,
            now=NOW,
        )
    commerce = actor_for(login_user("commerce_supply"))
    supply_catalogue(commerce)
    delivery.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    delivery.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    return {
        "case": opened.case,
        "round": round_,
        "grid": Grid.objects.get(code="M1-G1"),
        "community": city["M1"],
        "centre": login_user("command_centre"),
    }


def console_pages(scene: dict[str, Any]) -> list[str]:
    """The console's pages a command centre opens, the print pages among them."""
    round_, grid, community = scene["round"].pk, scene["grid"].pk, scene["community"].pk
    zone = Zone.objects.order_by("pk").first()
    pages = [
        "/",
        "/registry/",
        f"/registry/communities/{community}/",
        "/zones/",
        "/zones/map/",
        f"/zones/map/?community={community}",
        "/cases/",
        "/cases/new/",
        "/cases/batch/",
        "/protocol/",
        f"/cases/{scene['case'].pk}/",
        "/bulletin/",
        "/bulletin/print/",
        "/testing/",
        f"/testing/{round_}/",
        f"/testing/{round_}/coverage/",
        f"/testing/{round_}/exceptions/",
        f"/testing/{round_}/recalls/",
        f"/testing/{round_}/grids/{grid}/",
        f"/testing/{round_}/grids/{grid}/print/",
        "/deliveries/",
        f"/deliveries/?community={community}",
        f"/deliveries/print/?community={community}",
        "/supply/",
    ]
    if zone is not None:
        pages.append(f"/zones/{zone.pk}/")
    return pages


def print_css(html: str, name: str) -> str:
    """The stylesheet `name` that the page links to, as served from the static files."""
    assert f'<link rel="stylesheet" href="{static(name)}">' in html
    found = finders.find(name)
    assert isinstance(found, str)
    with open(found, encoding="utf-8") as css:
        return css.read()
