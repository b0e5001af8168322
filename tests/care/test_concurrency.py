"""Two planners at once (the daily timer and an operator's button): each session is planned
once, and audited once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections

from bastion import flows
from bastion.care import services
from bastion.care.models import MedicalNeed, Trip
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from tests.care.conftest import PATIENT, resident
from tests.conftest import NOW, TODAY


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_planners_at_once_plan_each_session_once(city: dict[str, object]) -> None:
    flows.case_reported(resident_id=resident("C1/2/1/301#1").pk, kind="confirmed", actor=SYSTEM, now=NOW)
    for address in (PATIENT, "C1/2/1/201#1", "C1/2/1/302#1"):
        # Written straight into the table: nothing is planned until the planners run.
        need = MedicalNeed.objects.create(
            resident=resident(address),
            household_id=resident(address).household_id,
            community_id=resident(address).community_id,
            district_id=resident(address).district_id,
            kind="dialysis",
            weekdays=[0, 2, 4],
            session_time="08:00",
            since=TODAY,
            created_at=NOW,
        )
        assert need.pk
    created: list[int] = []
    barrier = threading.Barrier(2)

    def plan(offset: int) -> None:
        try:
            barrier.wait()
            created.append(services.trips_plan(actor=SYSTEM, now=NOW + timedelta(seconds=offset)).created)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=plan, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(created) == [0, 9]
    assert Trip.objects.count() == 9
    assert AuditEntry.objects.filter(action="care.trip.planned").count() == 9
