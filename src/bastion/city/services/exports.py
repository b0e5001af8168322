"""Export of the registry file (layout: docs/REGISTRY_FORMAT.md), within the actor's scope,
personal data masked unless the role needs it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from bastion.city import registry_io
from bastion.city.models import Resident
from bastion.city.selectors import RESIDENT_PATHS
from bastion.city.services.imports import CHUNK
from bastion.core import audit, masking
from bastion.core.errors import InvalidInput
from bastion.core.scopes import Actor, scoped

EXPORT_FIELDS = (
    "district__code",
    "district__name",
    "community__subdistrict__code",
    "community__subdistrict__name",
    "community__code",
    "community__name",
    "household__grid__code",
    "household__compound__code",
    "household__compound__name",
    "household__compound__latitude",
    "household__compound__longitude",
    "household__compound__shared_facilities",
    "household__building__number",
    "household__building__latitude",
    "household__building__longitude",
    "household__building__floors",
    "household__unit__number",
    "household__room",
    "household__floor",
    "number",
    "name",
    "id_number",
    "sex",
    "birth_date",
    "phone",
    "living_alone",
    "disabled",
    "pregnant",
    "chronic_treatment",
    "cannot_order_online",
)
_NAME = registry_io.COLUMNS.index("name")
_ID = registry_io.COLUMNS.index("id_number")
_PHONE = registry_io.COLUMNS.index("phone")
_BIRTH = registry_io.COLUMNS.index("birth_date")
_COORDINATES = [i for i, name in enumerate(registry_io.COLUMNS) if name.endswith(("latitude", "longitude"))]


def registry_export(*, fmt: str, out: IO[bytes], actor: Actor, now: datetime) -> int:
    """Write the residents within the actor's scope to `out` as CSV or XLSX; return how many.

    Names, ID and phone numbers are masked, and birth dates left out, as the masking policy
    says for the actor (core/masking.py), so that a masked export can never be imported back
    over the real numbers (the import refuses them).
    Audited as `city.registry.exported`. Reads outside any transaction: on SQLite an atomic
    block takes the write lock at BEGIN and would hold every writer off for the whole
    export. Raises `TooManyRowsForXlsx` for an XLSX export beyond one sheet's rows.
    """
    actor.require("export_registry")
    if fmt not in registry_io.FORMATS:
        raise InvalidInput(
            _("Unknown format %(format)s; use csv or xlsx.") % {"format": fmt}, code="unknown_format"
        )
    residents = (
        scoped(Resident.objects.all(), actor, RESIDENT_PATHS)
        .order_by(
            "district__code",
            "community__code",
            "household__compound__code",
            "household__building__number",
            "household__unit__number",
            "household__floor",
            "household__room",
            "number",
        )
        .values_list(*EXPORT_FIELDS)
    )

    birth_dates = masking.shows(actor, masking.Field.BIRTH_DATE)

    def rows() -> Iterator[list[Any]]:
        for values in residents.iterator(chunk_size=CHUNK):
            row = list(values)
            row[_NAME] = masking.name_for(actor, row[_NAME])
            row[_ID] = masking.id_number_for(actor, row[_ID])
            row[_PHONE] = masking.phone_for(actor, row[_PHONE])
            if not birth_dates:
                row[_BIRTH] = None  # with the address, it would give the masked digits back
            for index in _COORDINATES:
                row[index] = registry_io.coordinate(row[index])
            yield row

    if fmt == "xlsx" and residents.count() > registry_io.XLSX_MAX_ROWS:
        raise registry_io.TooManyRowsForXlsx()
    count = registry_io.write_registry(rows(), out, fmt=fmt)
    with transaction.atomic():
        audit.record(
            action="city.registry.exported",
            object_type="city.registry",
            object_id="city",
            after={"format": fmt, "rows": count, "masked": not masking.shows(actor, masking.Field.ID_NUMBER)},
            actor=actor,
            now=now,
        )
    return count
