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


def _schema() -> set[tuple[str, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid::regclass::text LIKE 'city_%%'"
            )
            rows = cursor.fetchall()
            cursor.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'city_%%'"
            )
            return {tuple(r) for r in rows + cursor.fetchall()}
        cursor.execute("SELECT tbl_name, name, sql FROM sqlite_master WHERE tbl_name LIKE 'city_%'")
        return {tuple(r) for r in cursor.fetchall()}


@pytest.mark.django_db
def test_a_load_leaves_every_key_index_and_constraint_as_the_migrations_made_them() -> None:
    from datetime import UTC, date, datetime

    from bastion.city import services
    from bastion.core.scopes import SYSTEM

    before = _schema()
    services.city_generate(
        residents=2_000, seed=1, as_of=date(2022, 9, 1), actor=SYSTEM, now=datetime(2022, 9, 1, tzinfo=UTC)
    )
    assert _schema() == before
    assert len(before) > 30
