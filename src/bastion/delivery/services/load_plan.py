"""The day's load plan of a sorting centre's vehicles: each compound's goods still to deliver,
packed into trips (rules.load_plan), with what a route optimiser needs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, DecimalField, F, Min, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from bastion.core import audit, clock
from bastion.core.errors import Conflict, NotFound
from bastion.core.scopes import Actor
from bastion.delivery import rules
from bastion.delivery.models import LoadStop, OrderLine, OrderState, Vehicle
from bastion.supply.models import Warehouse


def load_plan_make(*, day: date, base_code: str, actor: Actor, now: datetime) -> list[LoadStop]:
    """The day's load plan from a sorting centre to the compounds of its district: each
    compound's demand (the declared weight of the day's orders still to deliver), its time
    window (from the first pick-up slot or now, until the earliest deadline), packed into the
    base's vehicles heaviest first (rules.load_plan). Made again, it replaces the day's plan of
    the base. The stops keep what a route optimiser needs: places, demands, capacities and
    windows."""
    actor.require("manage_supply")
    base = Warehouse.objects.filter(code=base_code).first()
    if base is None:
        raise NotFound(_("There is no such warehouse."), code="unknown_warehouse")
    vehicles = list(Vehicle.objects.filter(base=base, active=True).order_by("plate"))
    weight = Coalesce(F("item__declared_weight_kg"), Value(Decimal(0))) * F("quantity")
    rows = (
        OrderLine.objects.filter(
            order__district_id=base.district_id,
            order__state__in=(OrderState.OPEN, OrderState.ASSIGNED),
            order__placed_at__lt=datetime.combine(day + timedelta(days=1), time(), clock.city_zone()),
        )
        .values("order__household__compound_id")
        .annotate(
            kg=Sum(weight, output_field=DecimalField(max_digits=12, decimal_places=2)),
            orders=Count("order_id", distinct=True),
            due=Min("order__due_at"),
            pickup=Min("order__task__pickup_from"),
        )
    )
    demands = {int(r["order__household__compound_id"]): r for r in rows if r["kg"]}
    try:
        trips = rules.load_plan(
            [rules.Demand(compound, Decimal(r["kg"])) for compound, r in demands.items()],
            [v.capacity_kg for v in vehicles],
        )
    except ValueError:
        raise Conflict(_("This sorting centre has no vehicle in service."), code="no_vehicle") from None
    with transaction.atomic():
        LoadStop.objects.filter(day=day, vehicle__base=base).delete()
        stops = []
        for trip in trips:
            for sequence, (compound_id, kg) in enumerate(trip.loads, start=1):
                row = demands[compound_id]
                stops.append(
                    LoadStop(
                        day=day,
                        vehicle=vehicles[trip.vehicle],
                        trip=trip.number,
                        sequence=sequence,
                        compound_id=compound_id,
                        demand_kg=kg,
                        orders=row["orders"],
                        window_from=max(row["pickup"], now) if row["pickup"] else now,
                        window_until=max(row["due"], now),
                        planned_at=now,
                    )
                )
        LoadStop.objects.bulk_create(stops)
        audit.record(
            action="delivery.load_plan.made",
            object_type="delivery.day",
            object_id=day.isoformat(),
            after={
                "base": base.code,
                "vehicles": len(vehicles),
                "trips": len(trips),
                "stops": len(stops),
                "kg": str(sum((s.demand_kg for s in stops), Decimal(0))),
            },
            district_id=base.district_id,
            actor=actor,
            now=now,
        )
    return stops
