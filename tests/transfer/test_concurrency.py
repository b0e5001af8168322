"""Two dispatchers assigning at the same moment: each bed and each seat is taken once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections

from bastion.core.scopes import SYSTEM
from bastion.transfer import services
from bastion.transfer.models import Transfer
from tests.conftest import NOW
from tests.transfer.helpers import ambulance, bus, facility, report


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_take_each_bed_and_seat_once(city: dict[str, Any]) -> None:
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:", ":memory:")):
        pytest.fail("this test needs a file database so that two connections share it")
    facility("F1", "shelter_hospital", ordinary=3)
    for code in ("V1", "V2", "V3", "V4"):
        ambulance(code)
    bus("B1", seats=2)
    for address in ("C1/1/1/101#1", "C1/1/1/102#1", "C1/1/1/201#1", "C1/1/1/202#1", "C1/1/1/301#1"):
        report(address)
    barrier = threading.Barrier(2)
    outcomes: list[services.Assignment] = []
    failures: list[BaseException] = []

    def dispatch() -> None:
        try:
            barrier.wait()
            outcomes.append(services.transfers_assign(actor=SYSTEM, now=NOW))
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    # Between them the two dispatchers gave the three beds, once each, and a seat to each.
    assert sorted(o.destinations for o in outcomes) == [0, 3]
    held = list(Transfer.objects.filter(holds_bed=True).values_list("pool_id", "bed"))
    assert len(held) == len(set(held)) == 3
    seats = Counter(Transfer.objects.filter(on_board=True).values_list("vehicle_id", "seat"))
    assert len(seats) == 3 and set(seats.values()) == {1}
    assert Transfer.objects.filter(state="requested").count() == 2
