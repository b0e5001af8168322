"""Coverage: every locked household, its last delivery, and who was not reached within the cycle."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User

from bastion import flows
from bastion.city.models import Household
from bastion.city.selectors import actor_for
from bastion.core.scopes import SYSTEM, Actor
from bastion.delivery import selectors, services
from bastion.delivery.models import Order
from tests.conftest import NOW, TODAY
from tests.delivery.conftest import Places, at


def deliver_all_but(volunteer: Actor, skipped: set[str]) -> None:
    services.standard_orders_create(day=TODAY, actor=SYSTEM, now=NOW)
    services.tasks_build(day=TODAY, actor=SYSTEM, now=NOW)
    for task in services.DeliveryTask.objects.all():
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
