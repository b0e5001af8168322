"""Every write of orders and deliveries, by subject: orders (placed, delivered, failed, the
daily inquiry), tasks (building tasks and a volunteer's claim), dispatch (the day's standard
packages, set-based), cycles (a zone's own package) and load_plan (the vehicles' day). Each
service is atomic and audited; claims are exclusive under concurrency (a conditional UPDATE:
one row changed = you won). Callers import them from here."""

from __future__ import annotations

from bastion.delivery.services.cycles import package_cycle_clear, package_cycle_set
from bastion.delivery.services.dispatch import standard_orders_create
from bastion.delivery.services.load_plan import load_plan_make
from bastion.delivery.services.orders import Delivered, checkin_record, order_deliver, order_fail, order_place
from bastion.delivery.services.tasks import Dispatched, task_claim, tasks_build

__all__ = [
    "Delivered",
    "Dispatched",
    "checkin_record",
    "load_plan_make",
    "order_deliver",
    "order_fail",
    "order_place",
    "package_cycle_clear",
    "package_cycle_set",
    "standard_orders_create",
    "task_claim",
    "tasks_build",
]
