"""Import of the registry file (layout: docs/REGISTRY_FORMAT.md).

An import is an upsert by natural keys: district, subdistrict, community, grid and compound
codes; (compound, building number); (building, unit number); the household address; the
resident's ID number. It never deletes. It is all or nothing: the file is checked whole
(`registry_io`), then against the registry, and only a file without a single problem is
written — new rows set-based through `bulk`, changed rows with `bulk_update`.

The plan gives new rows placeholder ids (-1, -2, … per table), so that rows can refer to
new parents before any id is taken; `_apply` reserves one block of ids per table from the
sequence and turns each placeholder into an id of its block.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypeVar

import polars as pl
from django.db import models, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from bastion.city import bulk, load, registry_io
from bastion.city.models import (
    RESIDENT_OWN_FIELDS,
    Building,
    Community,
    Compound,
    District,
    Grid,
    Household,
    Resident,
    Subdistrict,
    Unit,
)
from bastion.city.registry_io import RegistryFileRejected, Row
from bastion.city.services.registry import figures_refresh
from bastion.core import audit, clock
from bastion.core.errors import Forbidden
from bastion.core.files import Problem
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor

K = TypeVar("K")
T = TypeVar("T")

CHUNK = 2000
# A resident who changes place is parked at number + MOVE_OFFSET first, so that swapping two
# residents' places never trips the (household, number) unique constraint half-way.
MOVE_OFFSET = 10_000

LEVELS = (
    "districts",
    "subdistricts",
    "communities",
    "grids",
    "compounds",
    "buildings",
    "units",
    "households",
    "residents",
)

# The resident's id number is the key they are matched by; everything else may change.
RESIDENT_FIELDS = (
    "household_id",
    "community_id",
    "district_id",
    *(name for name in RESIDENT_OWN_FIELDS if name != "id_number"),
)


@dataclass(frozen=True)
class ImportResult:
    """How many places and people of each level the file created, updated or left unchanged."""

    rows: int
    created: dict[str, int]
    updated: dict[str, int]
    unchanged: dict[str, int]

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }


@dataclass
class _Plan:
    problems: list[Problem] = field(default_factory=list)
    new: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    changed: list[tuple[type[models.Model], list[models.Model], list[str]]] = field(default_factory=list)
    movers: list[int] = field(default_factory=list)
    communities: set[int] = field(default_factory=set)  # placeholders for new communities
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))


def registry_import(
    *, file: IO[bytes] | bytes, filename: str, encoding: str = "utf-8", actor: Actor, now: datetime
) -> ImportResult:
    """Import a registry file (CSV or XLSX) all or nothing, audited as `city.registry.imported`.

    A CSV file is read strictly in `encoding` (one of `core.textfile.ENCODINGS`), streamed
    from `file` rather than read whole.

    Raises `RegistryFileRejected` (422) listing every problem of the file; then nothing is
    written. Importing the same file again changes nothing. Only a city-wide actor may
    import: a file names every level above its residents, and its report speaks of the
    whole registry.
    """
    actor.require("import_registry")
    if actor.level != ScopeLevel.CITY:
        raise Forbidden(_("Only a city-wide role may import the registry."))
    today = clock.local_date(now)
    rows = registry_io.read_registry(file, filename=filename, today=today, encoding=encoding)
    with transaction.atomic():
        bulk.lock_registry()
        plan = _plan(rows)
        if plan.problems:
            raise RegistryFileRejected(plan.problems)
        communities = _apply(plan)
        result = ImportResult(
            rows=len(rows), created=plan.created, updated=plan.updated, unchanged=plan.unchanged
        )
        if result.changed:
            figures_refresh(today=today, community_ids=sorted(communities))
        audit.record(
            action="city.registry.imported",
            object_type="city.registry",
            object_id="city",
            after={"file": filename, **result.as_dict()},
            actor=actor,
            now=now,
        )
    return result


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fetch(
    model: type[models.Model], lookup: str, keys: Collection[Any], names: Sequence[str]
) -> list[dict[str, Any]]:
    """Rows of `model` whose `lookup` is one of `keys`, in chunks that every database accepts."""
    found: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(keys)):
        found.extend(model._default_manager.filter(**{f"{lookup}__in": chunk}).values(*names))
    return found


def _first(rows: Sequence[Row], key: Callable[[Row], K]) -> dict[K, Row]:
    first: dict[K, Row] = {}
    for row in rows:
        first.setdefault(key(row), row)
    return first


@dataclass(frozen=True)
class _Level:
    name: str  # as in LEVELS
    what: str  # as in registry_io.level_label
    model: type[models.Model]
    attributes: tuple[str, ...]  # compared, and updated when they differ
    parent: str | None = None  # a place cannot change parent through a file
    parent_model: type[models.Model] | None = None
    parent_column: str = ""


def _upsert(
    plan: _Plan,
    level: _Level,
    wanted: dict[K, tuple[Row, dict[str, Any]]],
    existing: dict[K, dict[str, Any]],
    label: Callable[[K], str],
) -> dict[K, int]:
    """Decide, for each place the file names, whether it is new, changed or unchanged.

    `wanted` maps a natural key to its first row and the column values it should have.
    Returns the id of every key: existing ids, and placeholders for the new rows.
    """
    table = level.model._meta.db_table
    ids: dict[K, int] = {}
    new = plan.new.setdefault(table, [])
    changed: list[models.Model] = []
    for key, (row, values) in wanted.items():
        old = existing.get(key)
        if old is None:
            ids[key] = _placeholder(new)
            new.append({"id": ids[key], **values})
            plan.created[level.name] += 1
            continue
        ids[key] = old["id"]
        if level.parent and old[level.parent] != values[level.parent]:
            plan.problems.append(_moved(level, label(key), row, old[level.parent]))
            continue
        if any(not _same(old[name], values[name]) for name in level.attributes):
            changed.append(level.model(pk=old["id"], **{name: values[name] for name in level.attributes}))
            plan.updated[level.name] += 1
        else:
            plan.unchanged[level.name] += 1
    if changed:
        plan.changed.append((level.model, changed, list(level.attributes)))
    return ids


def _placeholder(new: list[dict[str, Any]]) -> int:
    """The id a new row carries until `_apply` reserves real ones: -1 for the first, -2…"""
    return -len(new) - 1


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, float):
        return registry_io.coordinate(stored) == wanted
    return bool(stored == wanted)


def _moved(level: _Level, code: str, row: Row, old_parent: int) -> Problem:
    assert level.parent_model is not None  # noqa: S101 - only levels with a parent move
    old_code = (
        level.parent_model._default_manager.filter(pk=old_parent).values_list("code", flat=True).first()
    )
    return Problem(
        row.line,
        level.parent_column,
        "moved_place",
        _("%(what)s %(code)s is under %(parent)s in the registry; a file cannot move it under %(here)s.")
        % {
            "what": registry_io.level_label(level.what),
            "code": code,
            "parent": old_code or "?",
            "here": getattr(row, level.parent_column),
        },
    )


def _plan(rows: Sequence[Row]) -> _Plan:
    """Compare the file with the registry: what to create, what to update, what is refused."""
    plan = _Plan()

    districts = _first(rows, lambda r: r.district_code)
    d_ids = _upsert(
        plan,
        _Level("districts", "district", District, ("name",)),
        {code: (r, {"code": code, "name": r.district_name}) for code, r in districts.items()},
        {d["code"]: d for d in _fetch(District, "code", districts, ["id", "code", "name"])},
        str,
    )

    subdistricts = _first(rows, lambda r: r.subdistrict_code)
    s_ids = _upsert(
        plan,
        _Level(
            "subdistricts", "subdistrict", Subdistrict, ("name",), "district_id", District, "district_code"
        ),
        {
            code: (r, {"code": code, "name": r.subdistrict_name, "district_id": d_ids[r.district_code]})
            for code, r in subdistricts.items()
        },
        {
            s["code"]: s
            for s in _fetch(Subdistrict, "code", subdistricts, ["id", "code", "name", "district_id"])
        },
        str,
    )

    communities = _first(rows, lambda r: r.community_code)
    m_ids = _upsert(
        plan,
        _Level(
            "communities",
            "community",
            Community,
            ("name",),
            "subdistrict_id",
            Subdistrict,
            "subdistrict_code",
        ),
        {
            code: (
                r,
                {
                    "code": code,
                    "name": r.community_name,
                    "subdistrict_id": s_ids[r.subdistrict_code],
                    "district_id": d_ids[r.district_code],
                },
            )
            for code, r in communities.items()
        },
        {
            m["code"]: m
            for m in _fetch(
                Community, "code", communities, ["id", "code", "name", "subdistrict_id", "district_id"]
            )
        },
        str,
    )

    grids = _first(rows, lambda r: r.grid_code)
    g_ids = _upsert(
        plan,
        _Level("grids", "grid", Grid, (), "community_id", Community, "community_code"),
        {
            code: (
                r,
                {
                    "code": code,
                    "name": code,
                    "community_id": m_ids[r.community_code],
                    "district_id": d_ids[r.district_code],
                },
            )
            for code, r in grids.items()
        },
        {g["code"]: g for g in _fetch(Grid, "code", grids, ["id", "code", "community_id"])},
        str,
    )

    compounds = _first(rows, lambda r: r.compound_code)
    compound_attributes = ("name", "latitude", "longitude", "shared_facilities")
    existing_compounds = {
        c["code"]: c
        for c in _fetch(Compound, "code", compounds, ["id", "code", "grid_id", *compound_attributes])
    }
    c_ids = _upsert(
        plan,
        _Level("compounds", "compound", Compound, compound_attributes, "grid_id", Grid, "grid_code"),
        {
            code: (
                r,
                {
                    "code": code,
                    "name": r.compound_name,
                    "latitude": r.compound_latitude,
                    "longitude": r.compound_longitude,
                    "shared_facilities": r.compound_shared_facilities,
                    "grid_id": g_ids[r.grid_code],
                    "community_id": m_ids[r.community_code],
                    "district_id": d_ids[r.district_code],
                },
            )
            for code, r in compounds.items()
        },
        existing_compounds,
        str,
    )
    # Buildings, units and households are keyed under their compound: only the compounds
    # that already exist can hold existing ones.
    old_compounds = [c["id"] for c in existing_compounds.values()]

    def above(r: Row) -> dict[str, int]:
        return {
            "compound_id": c_ids[r.compound_code],
            "community_id": m_ids[r.community_code],
            "district_id": d_ids[r.district_code],
        }

    buildings = _first(rows, lambda r: (c_ids[r.compound_code], r.building_number))
    building_attributes = ("floors", "latitude", "longitude")
    b_ids = _upsert(
        plan,
        _Level("buildings", "building", Building, building_attributes),
        {
            key: (
                r,
                {
                    "number": r.building_number,
                    "floors": r.building_floors,
                    "latitude": r.building_latitude,
                    "longitude": r.building_longitude,
                    **above(r),
                },
            )
            for key, r in buildings.items()
        },
        {
            (b["compound_id"], b["number"]): b
            for b in _fetch(
                Building, "compound_id", old_compounds, ["id", "compound_id", "number", *building_attributes]
            )
        },
        str,
    )

    def building_of(r: Row) -> int:
        return b_ids[(c_ids[r.compound_code], r.building_number)]

    units = _first(rows, lambda r: (building_of(r), r.unit_number))
    u_ids = _upsert(
        plan,
        _Level("units", "unit", Unit, ()),
        {key: (r, {"number": r.unit_number, "building_id": key[0], **above(r)}) for key, r in units.items()},
        {
            (u["building_id"], u["number"]): u
            for u in _fetch(Unit, "compound_id", old_compounds, ["id", "building_id", "number"])
        },
        str,
    )

    households = _first(rows, lambda r: r.household_address)
    existing_households = {
        h["address"]: h for h in _fetch(Household, "compound_id", old_compounds, ["id", "address", "floor"])
    }
    h_ids = _upsert(
        plan,
        _Level("households", "household", Household, ("floor",)),
        {
            address: (
                r,
                {
                    "room": r.room,
                    "floor": r.floor,
                    "address": address,
                    "unit_id": u_ids[(building_of(r), r.unit_number)],
                    "building_id": building_of(r),
                    "grid_id": g_ids[r.grid_code],
                    **above(r),
                },
            )
            for address, r in households.items()
        },
        existing_households,
        str,
    )

    plan.communities.update(m_ids[r.community_code] for r in rows)
    in_file = {r.id_number for r in rows}
    changed: list[models.Model] = []
    # A chunk of rows at a time: the registry's residents are compared with the file's without
    # holding a whole city's of them at once.
    for chunk in _chunks(rows):
        _plan_residents(
            plan, chunk, in_file, changed, household_ids=h_ids, community_ids=m_ids, district_ids=d_ids
        )
    if changed:
        plan.changed.append((Resident, changed, list(RESIDENT_FIELDS)))
    return plan


def _plan_residents(
    plan: _Plan,
    rows: Sequence[Row],
    in_file: set[str],
    changed: list[models.Model],
    *,
    household_ids: dict[str, int],
    community_ids: dict[str, int],
    district_ids: dict[str, int],
) -> None:
    """Plan the residents of `rows`, a part of the file (`in_file`: every ID number in it)."""
    existing = {
        r["id_number"]: r
        for r in _fetch(
            Resident, "id_number", {r.id_number for r in rows}, ["id", "id_number", *RESIDENT_FIELDS]
        )
    }
    homes = {h for h in (household_ids[r.household_address] for r in rows) if h > 0}  # not new ones
    occupants = {
        (r["household_id"], r["number"]): r
        for r in _fetch(Resident, "household_id", homes, ["id", "id_number", "household_id", "number"])
    }
    new = plan.new.setdefault("city_resident", [])
    for row in rows:
        values: dict[str, Any] = {
            "household_id": household_ids[row.household_address],
            "community_id": community_ids[row.community_code],
            "district_id": district_ids[row.district_code],
            "number": row.resident_number,
            "name": row.name,
            "sex": row.sex,
            "birth_date": row.birth_date,
            "phone": row.phone,
            "living_alone": row.living_alone,
            "disabled": row.disabled,
            "pregnant": row.pregnant,
            "chronic_treatment": row.chronic_treatment,
            "cannot_order_online": row.cannot_order_online,
        }
        place = (values["household_id"], values["number"])
        occupant = occupants.get(place)
        if (
            occupant is not None
            and occupant["id_number"] != row.id_number
            and occupant["id_number"] not in in_file
        ):
            plan.problems.append(
                Problem(
                    row.line,
                    "resident_number",
                    "resident_number_taken",
                    _("%(address)s is held in the registry by another resident, who is not in this file.")
                    % {"address": row.resident_address},
                )
            )
        old = existing.get(row.id_number)
        if old is None:
            new.append({"id": _placeholder(new), "id_number": row.id_number, **values})
            plan.created["residents"] += 1
            continue
        moved = (old["household_id"], old["number"]) != place
        if moved and old["name"] != row.name:
            # Whoever holds the number stays unnamed: the report goes to whoever uploaded.
            plan.problems.append(
                Problem(
                    row.line,
                    "id_number",
                    "id_number_taken",
                    _("The ID number is registered to another person in the registry."),
                )
            )
            continue
        if all(old[name] == values[name] for name in RESIDENT_FIELDS):
            plan.unchanged["residents"] += 1
            continue
        changed.append(Resident(pk=old["id"], **values))
        plan.updated["residents"] += 1
        plan.communities.add(old["community_id"])
        if moved:
            plan.movers.append(old["id"])


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    # Every row carries every column; infer_schema over all rows so that a column that is
    # empty at the top (a coordinate, a phone) still gets its type.
    return pl.DataFrame(rows, infer_schema_length=None)


# The tables a plan's foreign keys point to, for turning placeholders into ids.
REFERENCES = {
    "district_id": "city_district",
    "subdistrict_id": "city_subdistrict",
    "community_id": "city_community",
    "grid_id": "city_grid",
    "compound_id": "city_compound",
    "building_id": "city_building",
    "unit_id": "city_unit",
    "household_id": "city_household",
}


def _apply(plan: _Plan) -> set[int]:
    """Write the plan: new places parents first, then changes, then new residents.

    Reserves the ids of the new rows from each table's sequence, so that an ordinary insert
    committed meanwhile never takes one of them. Returns the ids of the communities touched.
    """
    first = {table: bulk.reserve_ids(table, len(new)) for table, new in plan.new.items() if new}

    def real(column: str, value: int) -> int:
        return first[REFERENCES[column]] - value - 1 if value < 0 else value

    def resolved(table: str) -> pl.DataFrame:
        frame = _frame(plan.new[table])
        return frame.with_columns(
            (pl.lit(first[table]) - pl.col("id") - 1).alias("id"),
            *(
                pl.when(pl.col(name) < 0)
                .then(pl.lit(first[REFERENCES[name]]) - pl.col(name) - 1)
                .otherwise(pl.col(name))
                .alias(name)
                for name in frame.columns
                if name in REFERENCES and REFERENCES[name] in first
            ),
        )

    for table in load.PLACE_TABLES:
        if plan.new.get(table):
            bulk.write_frame(table, resolved(table))
    for chunk in _chunks(plan.movers):
        Resident.objects.filter(pk__in=chunk).update(number=F("number") + MOVE_OFFSET)
    for model, objects, names in plan.changed:
        if not names:
            continue
        for obj in objects:  # a resident may move into a new household
            for name in names:
                if name in REFERENCES and getattr(obj, name) < 0:
                    setattr(obj, name, real(name, getattr(obj, name)))
        model._default_manager.bulk_update(objects, names, batch_size=500)
    if plan.new.get("city_resident"):
        bulk.write_frame("city_resident", resolved("city_resident"))
    return {real("community_id", community) for community in plan.communities}
