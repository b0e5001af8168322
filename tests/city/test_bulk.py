from __future__ import annotations

import pytest
from django.db import transaction

from bastion.city import bulk
from bastion.city.models import District


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_orm_insert_after_a_reservation_takes_an_id_after_the_block() -> None:
    District.objects.create(code="D0", name="before")
    with transaction.atomic():
        first = bulk.reserve_ids("city_district", 1_000)
    # A console action commits a district while the bulk load is still writing its block.
    other = District.objects.create(code="DX", name="meanwhile")
    assert other.pk >= first + 1_000


@pytest.mark.django_db
def test_ids_written_by_a_load_are_followed_by_the_next_orm_insert() -> None:
    with transaction.atomic():
        first = bulk.reserve_ids("city_district", 3)
        for offset in range(3):
            District.objects.create(id=first + offset, code=f"B{offset}", name="bulk")
        bulk.reset_sequences(["city_district"])
    assert District.objects.create(code="NEXT", name="orm").pk == first + 3
