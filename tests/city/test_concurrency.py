"""Two operators generating (or importing) a city at the same moment: one wins, the other is told."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, connections

from bastion.city import services
from bastion.city.models import District, Resident
from bastion.core.errors import Conflict
from bastion.core.models import AuditEntry
from bastion.core.scopes import SYSTEM
from tests.conftest import NOW


@pytest.mark.django_db(transaction=True)
def test_two_generations_at_once_leave_exactly_one_city() -> None:
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith(("file:", ":memory:")):
        pytest.fail("this test needs a file database so that two connections share it")
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def generate(seed: int) -> None:
        try:
            barrier.wait()
            services.city_generate(residents=3_000, seed=seed, as_of=date(2022, 9, 1), actor=SYSTEM, now=NOW)
            outcomes.append("generated")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()  # this thread's connection, or the test database cannot be dropped

    threads = [threading.Thread(target=generate, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["generated", "registry_not_empty"]
    assert Resident.objects.count() == 3_000
    # Exactly one city: one audit row, and no place written twice.
    assert AuditEntry.objects.filter(action="city.registry.generated").count() == 1
    codes = list(District.objects.values_list("code", flat=True))
    assert len(codes) == len(set(codes)) >= 1
