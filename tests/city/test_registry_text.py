"""A registry file's codes and names are printable: a NUL or another control character in a
name was imported and shown in every list."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from django.utils.translation import override

from bastion.city import services
from bastion.city.models import Resident
from bastion.city.registry_io import RegistryFileRejected
from bastion.core.scopes import SYSTEM


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with override("en"):
        yield


def _rows(now: datetime) -> list[dict[str, str]]:
    out = io.BytesIO()
    services.registry_export(fmt="csv", out=out, actor=SYSTEM, now=now)
    return list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))


def _csv(rows: list[dict[str, str]]) -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("name", "张\x00三"),
        ("community_name", "锦华\x1b社区"),
        ("district_name", "新城\u202e区"),
        ("compound_code", "C\x001"),
    ],
)
def test_a_code_or_name_with_control_characters_is_refused(
    city: dict[str, Any], now: datetime, column: str, value: str
) -> None:
    rows = _rows(now)
    names = sorted(Resident.objects.values_list("name", flat=True))
    rows[0][column] = value
    with pytest.raises(RegistryFileRejected) as caught:
        services.registry_import(file=_csv(rows), filename="city.csv", actor=SYSTEM, now=now)
    [problem] = [p for p in caught.value.details if p["column"] == column]
    assert (problem["row"], problem["code"]) == (2, "control_characters")
    assert problem["message"] == "A code or name cannot hold control characters."
    assert sorted(Resident.objects.values_list("name", flat=True)) == names
