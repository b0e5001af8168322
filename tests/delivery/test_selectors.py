"""Coverage: every locked household, its last delivery, and who was not reached within the cycle."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Household
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import selectors, services
from bastion.delivery.models import DeliveryTask, Order
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import Places, at


def deliver_all_but(volunteer: Actor, skipped: set[str]) -> None:
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    for task in DeliveryTask.objects.all():
        services.task_claim(task_id=task.pk, actor=volunteer, now=at(hours=1))
    for order in Order.objects.select_related("household").order_by("pk"):
        if order.household.address not in skipped:
            flows.order_delivered(
                order_id=order.pk,
                recipient_code=order.recipient_code,
                weight_kg="10",
                actor=volunteer,
                now=at(hours=2),
            )


def test_coverage_counts_who_was_reached_and_lists_the_vulnerable_first(
    locked: list[Household], volunteers: list[Actor], city: Places, make_user: Callable[..., User]
) -> None:
    deliver_all_but(volunteers[0], {"C1/2/1/101", "C1/2/1/202"})
    worker = actor_for(make_user("community_worker", community=city["M1"]))
    [m1] = selectors.coverage(actor=worker, now=at(hours=3))
    assert (m1.name, m1.locked, m1.reached_today, m1.not_reached, m1.vulnerable_not_reached) == (
        city["M1"].name,
        6,
        4,
        2,
        1,
    )
    left = selectors.not_reached(actor=worker, now=at(hours=3), community_id=city["M1"].pk)
    assert [(u.address, u.vulnerable, u.last_delivered_at) for u in left] == [
        ("C1/2/1/202", True, None),
        ("C1/2/1/101", False, None),
    ]
    # Four days on, the cycle (3 days) has passed for everyone: the reached ones come after
    # the never-reached, in the order they were last reached.
    later = selectors.not_reached(actor=worker, now=at(4), community_id=city["M1"].pk)
    assert [u.address for u in later][:2] == ["C1/2/1/202", "C1/2/1/101"]
    assert len(later) == 6 and later[2].last_delivered_at == at(hours=2)
    assert later[2].last_delivery == "1 × 蔬菜包 10 kg"
    outsider = actor_for(make_user("community_worker", community=city["M3"]))
    assert selectors.coverage(actor=outsider, now=at(hours=3)) == []


def test_the_last_delivery_of_each_household_is_kept_as_it_is_made(
    locked: list[Household], volunteers: list[Actor]
) -> None:
    from bastion.delivery.models import LastDelivery

    deliver_all_but(volunteers[0], skipped={"C1/2/1/202"})
    kept = {row.household_id: row for row in LastDelivery.objects.all()}
    delivered = Order.objects.filter(state="delivered")
    assert set(kept) == {o.household_id for o in delivered} and len(kept) == 5
    assert all(kept[o.household_id].order_id == o.pk for o in delivered)
    assert all(row.delivered_at == at(hours=2) for row in kept.values())
    # A proxy order delivered later replaces it; the failed attempt at the other door adds nothing.
    checkin, _ = services.checkin_record(
        household_id=locked[0].pk, lines=[("rice-5kg", 1)], actor=volunteers[0], now=at(hours=5)
    )
    services.tasks_build(day=TODAY, actor=SYSTEM, now=at(hours=5))
    proxy = Order.objects.get(pk=checkin.order_id)
    assert proxy.task is not None
    services.task_claim(task_id=proxy.task.pk, actor=volunteers[0], now=at(hours=5))
    flows.order_delivered(
        order_id=proxy.pk, recipient_code=proxy.recipient_code, actor=volunteers[0], now=at(hours=6)
    )
    again = LastDelivery.objects.get(household_id=locked[0].pk)
    assert (again.order_id, again.delivered_at) == (proxy.pk, at(hours=6))
    assert not LastDelivery.objects.filter(household__address="C1/2/1/202").exists()


def test_the_locked_households_are_those_served_at_the_door_or_by_pick_up(city: Places) -> None:
    """The filter that coverage reads (built from the zones' areas) holds exactly the households
    that the service modes list, for zones of every kind of area and level, and an isolated
    household; and a community's own holds that community's."""
    from bastion.lockdown import selectors as lockdown
    from bastion.testing.models import Recall
    from bastion.zones.models import Zone

    def zone(code: str, level: str, address: str, **area: Any) -> None:
        household = Household.objects.filter(address__startswith=address).first()
        assert household is not None
        Zone.objects.create(
            code=code,
            level=level,
            state="in_force",
            protocol="v9",
            step=level,
            address=address,
            compound_id=household.compound_id,
            community_id=household.community_id,
            district_id=household.district_id,
            proposed_at=NOW,
            since=TODAY,
            clock_start=TODAY,
            reason="test",
            **{
                f"{key}_id": household.pk if key == "household" else getattr(household, f"{key}_id")
                for key in area
            },
            area=next(iter(area), "compound"),
        )

    zone("Z1", "high", "C1/2/1/301", household=True)
    zone("Z2", "high", "C1/1/2", unit=True)
    zone("Z3", "medium", "C3/1", building=True)
    zone("Z4", "medium", "C4")  # a whole compound, in the other district
    zone("Z5", "high", "C1/1/2/101", household=True)  # inside Z2: counted once
    Zone.objects.create(  # lifted: nobody locked by it
        **{
            f.attname: getattr(Zone.objects.get(code="Z4"), f.attname)
            for f in Zone._meta.concrete_fields
            if not f.primary_key and f.attname not in ("code", "state", "lifted_on")
        },
        code="Z6",
        state="lifted",
        lifted_on=TODAY,
    )
    isolated = Household.objects.get(address="C2/1/1/101")
    Recall.objects.create(
        round_id=1,
        resident_id=isolated.residents.first().pk,  # type: ignore[union-attr]
        household=isolated,
        grid_id=isolated.grid_id,
        district_id=isolated.district_id,
        tube_id=1,
        reason="positive",
        opened_at=NOW,
    )
    expected = set(lockdown.households_on(lockdown.DOOR_TO_DOOR).values_list("pk", flat=True)) | set(
        lockdown.households_on(lockdown.STAGGERED_PICKUP).values_list("pk", flat=True)
    )
    got = list(Household.objects.filter(lockdown.served_at_home_q()).values_list("pk", flat=True))
    assert len(got) == len(set(got)) and set(got) == expected
    assert isolated.pk in expected
    # Every zone but the lifted one locks someone.
    places = {
        a.rsplit("/", 1)[0]
        for a in Household.objects.filter(pk__in=expected).values_list("address", flat=True)
    }
    assert {"C1/2/1", "C1/1/2", "C2/1/1"} <= places and any(p.startswith("C3/1/") for p in places)
    assert any(p.startswith("C4/") for p in places)
    m1 = city["M1"].pk
    mine = set(
        Household.objects.filter(lockdown.served_at_home_q(community_id=m1), community_id=m1).values_list(
            "pk", flat=True
        )
    )
    assert mine == set(
        Household.objects.filter(pk__in=expected, community_id=m1).values_list("pk", flat=True)
    )
