"""Loading a planned city (places + people) into the registry, set-based and all or nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl
from django.db import transaction

from bastion.city import bulk
from bastion.city import sql as city_sql
from bastion.city.generate import Places
from bastion.city.models import RESIDENT_OWN_FIELDS
from bastion.core import sql

# The registry's places, parents first: the order they are written in.
PLACE_TABLES = [
    "city_district",
    "city_subdistrict",
    "city_community",
    "city_grid",
    "city_compound",
    "city_building",
    "city_unit",
    "city_household",
]
TABLES = [*PLACE_TABLES, "city_resident"]
BIG_TABLES = ["city_household", "city_resident", "city_unit", "city_building", "city_staff"]

Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class LoadResult:
    districts: int
    subdistricts: int
    communities: int
    grids: int
    compounds: int
    buildings: int
    units: int
    households: int
    residents: int
    staff: int = 0


def registry_is_empty() -> bool:
    return city_sql.registry_empty()


def _ids(base: int, frame: pl.DataFrame) -> pl.Series:
    return pl.Series("id", np.arange(base, base + frame.height, dtype=np.int64))


def _ref(column: str, base: int) -> pl.Expr:
    return (pl.col(column) + base).alias(f"{column}_id")


People = tuple[pl.DataFrame, pl.DataFrame | None]


def load_city(
    places: Places,
    people: People | Callable[[], People],
    *,
    progress: Progress = _quiet,
) -> LoadResult:
    """Write the planned places, then the residents and staff, after whatever the registry holds.

    `people` may be a callable (a pending future's `result`): the residents are then drawn
    while the places are written, and asked for only when their turn comes.
    One transaction: a load that fails or is killed half-way leaves the registry as it was.
    Secondary indexes of the large tables are rebuilt once at the end.
    """
    total = int(places.sizes.sum())
    with transaction.atomic():
        # Index builds at the end of the load sort in memory instead of on disk.
        sql.set_local(synchronous_commit="off", maintenance_work_mem="'1GB'")
        sizes = {
            "city_district": places.districts.height,
            "city_subdistrict": places.subdistricts.height,
            "city_community": places.communities.height,
            "city_grid": places.grids.height,
            "city_compound": places.compounds.height,
            "city_building": places.buildings.height,
            "city_unit": places.units.height,
            "city_household": places.households.height,
            "city_resident": total,
        }
        base = {table: bulk.reserve_ids(table, count) for table, count in sizes.items()}
        d, s, m, g = (
            base["city_district"],
            base["city_subdistrict"],
            base["city_community"],
            base["city_grid"],
        )
        c, b, u, h = base["city_compound"], base["city_building"], base["city_unit"], base["city_household"]
        with bulk.indexes_deferred(BIG_TABLES):
            bulk.write_frame(
                "city_district", places.districts.select(_ids(d, places.districts), "code", "name")
            )
            bulk.write_frame(
                "city_subdistrict",
                places.subdistricts.select(_ids(s, places.subdistricts), "code", "name", _ref("district", d)),
            )
            bulk.write_frame(
                "city_community",
                places.communities.select(
                    _ids(m, places.communities), "code", "name", _ref("subdistrict", s), _ref("district", d)
                ),
            )
            bulk.write_frame(
                "city_grid",
                places.grids.select(
                    _ids(g, places.grids), "code", "name", _ref("community", m), _ref("district", d)
                ),
            )
            bulk.write_frame(
                "city_compound",
                places.compounds.select(
                    _ids(c, places.compounds),
                    "code",
                    "name",
                    "latitude",
                    "longitude",
                    "shared_facilities",
                    _ref("grid", g),
                    _ref("community", m),
                    _ref("district", d),
                ),
            )
            progress("places", 0, total)
            bulk.write_frame(
                "city_building",
                places.buildings.select(
                    _ids(b, places.buildings),
                    "number",
                    "floors",
                    "latitude",
                    "longitude",
                    _ref("compound", c),
                    _ref("community", m),
                    _ref("district", d),
                ),
            )
            bulk.write_frame(
                "city_unit",
                places.units.select(
                    _ids(u, places.units),
                    "number",
                    _ref("building", b),
                    _ref("compound", c),
                    _ref("community", m),
                    _ref("district", d),
                ),
            )
            bulk.write_frame(
                "city_household",
                places.households.select(
                    _ids(h, places.households),
                    "room",
                    "floor",
                    "address",
                    _ref("unit", u),
                    _ref("building", b),
                    _ref("compound", c),
                    _ref("grid", g),
                    _ref("community", m),
                    _ref("district", d),
                ),
            )
            progress("households", 0, total)
            residents, staff = people() if callable(people) else people
            r = base["city_resident"]
            step = 1_000_000
            for start in range(0, total, step):
                chunk = residents.slice(start, step)
                bulk.write_frame(
                    "city_resident",
                    chunk.select(
                        pl.Series("id", np.arange(r + start, r + start + chunk.height, dtype=np.int64)),
                        _ref("household", h),
                        _ref("community", m),
                        _ref("district", d),
                        *RESIDENT_OWN_FIELDS,
                    ),
                )
                progress("residents", start + chunk.height, total)
            staff_count = 0
            if staff is not None and staff.height:
                f = bulk.reserve_ids("city_staff", staff.height)
                staff_count = bulk.write_frame(
                    "city_staff",
                    staff.select(
                        _ids(f, staff),
                        "name",
                        "phone",
                        "role",
                        "skills",
                        "active",
                        _ref("community", m),
                        _ref("district", d),
                        _ref("grid", g),
                        _ref("building", b),
                        _ref("resident", r),
                    ),
                )
            progress("indexes", total, total)
        bulk.reset_sequences([*TABLES, "city_staff"])
        # Fresh statistics, so that the first queries after a load (a case's zones, a
        # zone's residents) are planned on the real sizes rather than on empty tables.
        sql.analyze(", ".join([*TABLES, "city_staff"]))
    return LoadResult(
        districts=places.districts.height,
        subdistricts=places.subdistricts.height,
        communities=places.communities.height,
        grids=places.grids.height,
        compounds=places.compounds.height,
        buildings=places.buildings.height,
        units=places.units.height,
        households=places.households.height,
        residents=total,
        staff=staff_count,
    )


def generated_on(as_of: date) -> str:
    return as_of.isoformat()
