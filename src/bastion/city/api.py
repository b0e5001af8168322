"""Registry endpoints: thin — parse, call a selector, render."""

from __future__ import annotations

import tempfile
from datetime import date
from typing import Any, Literal

from django.http import FileResponse, HttpRequest
from ninja import Field, File, Form, Router, Schema
from ninja.files import UploadedFile

from bastion.city import selectors, services
from bastion.core import clock, textfile
from bastion.core.files import FileRejectedOut, checked_upload
from bastion.core.inputs import Id, Line
from bastion.core.scopes import Actor

router = Router(tags=["city"])


class FiguresOut(Schema):
    households: int
    residents: int
    elderly: int
    elderly_alone: int
    disabled: int
    pregnant: int
    infants: int
    chronic_treatment: int
    cannot_order_online: int
    as_of: date | None


class DistrictOut(Schema):
    id: int
    code: str
    name: str
    figures: FiguresOut


class CommunityOut(Schema):
    id: int
    code: str
    name: str
    subdistrict: str
    figures: FiguresOut


class HouseholdOut(Schema):
    id: int
    address: str
    floor: int
    residents: int


class ResidentOut(Schema):
    id: int
    address: str
    name: str
    sex: str
    birth_date: date | None
    age: int
    id_number: str
    phone: str
    vulnerable: list[str]


def _actor(request: HttpRequest) -> Actor:
    return selectors.actor_for(request.user)


@router.get("/figures", response=FiguresOut, summary="The registry's figures over your scope")
def figures(request: HttpRequest) -> selectors.Figures:
    return selectors.city_figures(actor=_actor(request))


@router.get("/districts", response=list[DistrictOut])
def districts(request: HttpRequest) -> list[dict[str, object]]:
    return [
        {"id": d.pk, "code": d.code, "name": d.name, "figures": f}
        for d, f in selectors.district_list(actor=_actor(request))
    ]


@router.get("/districts/{district_id}/communities", response=list[CommunityOut])
def communities(request: HttpRequest, district_id: Id) -> list[dict[str, object]]:
    return [
        {"id": c.pk, "code": c.code, "name": c.name, "subdistrict": c.subdistrict.name, "figures": f}
        for c, f in selectors.community_list(actor=_actor(request), district_id=district_id)
    ]


class CompoundOut(Schema):
    id: int
    code: str
    name: str
    grid: str
    latitude: float | None
    longitude: float | None
    shared_facilities: bool
    buildings: int


class BuildingOut(Schema):
    id: int
    number: int
    floors: int
    latitude: float | None
    longitude: float | None
    households: int


@router.get("/communities/{community_id}/compounds", response=list[CompoundOut])
def compounds(request: HttpRequest, community_id: Id) -> list[dict[str, object]]:
    return [
        {
            "id": c.pk,
            "code": c.code,
            "name": c.name,
            "grid": c.grid.code,
            "latitude": c.latitude,
            "longitude": c.longitude,
            "shared_facilities": c.shared_facilities,
            "buildings": c.building_count,  # type: ignore[attr-defined]
        }
        for c in selectors.compound_list(actor=_actor(request), community_id=community_id)
    ]


@router.get("/compounds/{compound_id}/buildings", response=list[BuildingOut])
def buildings(request: HttpRequest, compound_id: Id) -> list[dict[str, object]]:
    return [
        {
            "id": b.pk,
            "number": b.number,
            "floors": b.floors,
            "latitude": b.latitude,
            "longitude": b.longitude,
            "households": b.household_count,  # type: ignore[attr-defined]
        }
        for b in selectors.building_list(actor=_actor(request), compound_id=compound_id)
    ]


@router.get("/buildings/{building_id}/households", response=list[HouseholdOut])
def households(request: HttpRequest, building_id: Id) -> list[dict[str, object]]:
    return [
        {"id": h.pk, "address": h.address, "floor": h.floor, "residents": h.resident_count}  # type: ignore[attr-defined]
        for h in selectors.household_list(actor=_actor(request), building_id=building_id)
    ]


@router.get("/households/{household_id}/residents", response=list[ResidentOut])
def household_residents(request: HttpRequest, household_id: Id) -> list[selectors.ResidentView]:
    return selectors.household_residents(
        actor=_actor(request), household_id=household_id, today=clock.today()
    )


class FlagsIn(Schema):
    living_alone: bool | None = None
    disabled: bool | None = None
    pregnant: bool | None = None
    chronic_treatment: Line | None = Field(None, max_length=40)
    cannot_order_online: bool | None = None
    reason: Line = Field(max_length=500)


@router.patch(
    "/residents/{resident_id}/flags",
    response=ResidentOut,
    summary="Change a resident's vulnerable flags (community workers, within scope), with a reason",
)
def resident_flags(request: HttpRequest, resident_id: Id, body: FlagsIn) -> selectors.ResidentView:
    actor = _actor(request)
    changes = body.dict(exclude={"reason"}, exclude_none=True)
    services.resident_set_flags(
        resident_id=resident_id, flags=changes, reason=body.reason, actor=actor, now=clock.now()
    )
    return selectors.resident_detail(actor=actor, resident_id=resident_id, today=clock.today())


@router.get("/residents/{resident_id}", response=ResidentOut)
def resident(request: HttpRequest, resident_id: Id) -> selectors.ResidentView:
    return selectors.resident_detail(actor=_actor(request), resident_id=resident_id, today=clock.today())


class ImportCounts(Schema):
    districts: int
    subdistricts: int
    communities: int
    grids: int
    compounds: int
    buildings: int
    units: int
    households: int
    residents: int


class ImportOut(Schema):
    rows: int
    created: ImportCounts
    updated: ImportCounts
    unchanged: ImportCounts


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.post(
    "/registry/import",
    response={200: ImportOut, 422: FileRejectedOut},
    summary="Import a registry file (CSV or XLSX), all or nothing",
)
def registry_import(
    request: HttpRequest, file: File[UploadedFile], encoding: Form[str | None] = None
) -> dict[str, Any]:
    """A CSV file is read as UTF-8 unless `encoding` says otherwise (utf-8, gb18030, gbk)."""
    actor = _actor(request)
    result = services.registry_import(
        file=checked_upload(file),
        filename=file.name or "",
        encoding=textfile.encoding_named(encoding),
        actor=actor,
        now=clock.now(),
    )
    return result.as_dict()


@router.get(
    "/registry/export",
    summary="The registry within your scope as CSV or XLSX",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment",
                "content": {
                    kind: {"schema": {"type": "string", "format": "binary"}} for kind in EXPORT_TYPES.values()
                },
            }
        }
    },
)
def registry_export(request: HttpRequest, format: Literal["csv", "xlsx"] = "csv") -> FileResponse:
    # Spooled: a community's export stays in memory, a whole city's goes to disk.
    out = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - FileResponse closes it
    try:
        services.registry_export(fmt=format, out=out, actor=_actor(request), now=clock.now())
    except BaseException:
        out.close()  # a refused export (too many rows for XLSX) leaves a file half-written
        raise
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=f"registry-{clock.today().isoformat()}.{format}",
        content_type=EXPORT_TYPES[format],
    )
