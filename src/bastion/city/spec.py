"""A city described inline (the scenario file's `city:` block) turned into planned places."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from bastion.city.generate import Places


class SpecError(ValueError):
    """A city description is malformed; `key` names where."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass
class _Acc:
    districts: list[dict[str, Any]] = field(default_factory=list)
    subdistricts: list[dict[str, Any]] = field(default_factory=list)
    communities: list[dict[str, Any]] = field(default_factory=list)
    grids: list[dict[str, Any]] = field(default_factory=list)
    compounds: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)
    units: list[dict[str, Any]] = field(default_factory=list)
    households: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


COMPOUND_KEYS = {
    "code",
    "name",
    "buildings",
    "units",
    "floors",
    "per_floor",
    "household_size",
    "shared_facilities",
    "grid",
}


def _positive_int(value: Any, key: str, *, maximum: int = 10_000) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > maximum:
        raise SpecError(key, f"must be a whole number from 1 to {maximum}")
    return value


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SpecError(key, "must be a mapping")
    return value


def _list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise SpecError(key, "must be a non-empty list")
    return value


def _code(item: dict[str, Any], key: str, seen: set[str]) -> str:
    code = item.get("code")
    if not isinstance(code, str) or not code or "/" in code or "#" in code or " " in code:
        raise SpecError(f"{key}.code", "must be a code without '/', '#' or spaces")
    if code in seen:
        raise SpecError(f"{key}.code", f"{code!r} is used twice")
    seen.add(code)
    return code


def places_from_spec(city: Any) -> Places:
    """`districts: [{code, name, communities: [{code, compounds: [{code, buildings, units, floors,
    per_floor, household_size, shared_facilities}]}]}]` → places. Subdistricts and grids that the
    description leaves out get one per district and one per community."""
    city = _mapping(city, "city")
    unknown = set(city) - {"districts"}
    if unknown:
        raise SpecError(f"city.{sorted(unknown)[0]}", "is not a key of a city")
    acc = _Acc()
    codes: set[str] = set()
    # Grid codes are city-wide: a grid lies in one community.
    grids: dict[str, tuple[int, int]] = {}
    for di, district in enumerate(_list(city.get("districts"), "city.districts")):
        dkey = f"city.districts[{di}]"
        district = _mapping(district, dkey)
        dcode = _code(district, dkey, codes)
        d = len(acc.districts)
        acc.districts.append({"code": dcode, "name": str(district.get("name", dcode))})
        s = len(acc.subdistricts)
        acc.subdistricts.append(
            {"code": f"{dcode}-S1", "name": f"{district.get('name', dcode)}街道", "district": d}
        )
        for mi, community in enumerate(_list(district.get("communities"), f"{dkey}.communities")):
            mkey = f"{dkey}.communities[{mi}]"
            community = _mapping(community, mkey)
            mcode = _code(community, mkey, codes)
            m = len(acc.communities)
            acc.communities.append(
                {"code": mcode, "name": str(community.get("name", mcode)), "subdistrict": s, "district": d}
            )
            for ci, compound in enumerate(_list(community.get("compounds"), f"{mkey}.compounds")):
                ckey = f"{mkey}.compounds[{ci}]"
                compound = _mapping(compound, ckey)
                extra = set(compound) - COMPOUND_KEYS
                if extra:
                    raise SpecError(f"{ckey}.{sorted(extra)[0]}", "is not a key of a compound")
                ccode = _code(compound, ckey, codes)
                grid_code = str(compound.get("grid", f"{mcode}-G1"))
                if grid_code not in grids:
                    if grid_code in codes:
                        raise SpecError(f"{ckey}.grid", f"{grid_code!r} is already the code of another place")
                    grids[grid_code] = (len(acc.grids), m)
                    acc.grids.append({"code": grid_code, "name": grid_code, "community": m, "district": d})
                g, grid_community = grids[grid_code]
                if grid_community != m:
                    raise SpecError(f"{ckey}.grid", f"grid {grid_code!r} already lies in another community")
                n_buildings = _positive_int(compound.get("buildings"), f"{ckey}.buildings")
                n_units = _positive_int(compound.get("units", 1), f"{ckey}.units", maximum=20)
                floors = _positive_int(compound.get("floors", 1), f"{ckey}.floors", maximum=99)
                per_floor = _positive_int(compound.get("per_floor", 1), f"{ckey}.per_floor", maximum=99)
                size = _positive_int(compound.get("household_size", 3), f"{ckey}.household_size", maximum=20)
                shared = compound.get("shared_facilities", False)
                if not isinstance(shared, bool):
                    raise SpecError(f"{ckey}.shared_facilities", "must be true or false")
                c = len(acc.compounds)
                acc.compounds.append(
                    {
                        "code": ccode,
                        "name": str(compound.get("name", ccode)),
                        "grid": g,
                        "community": m,
                        "district": d,
                        "latitude": 30.6 + 0.01 * c,
                        "longitude": 104.0 + 0.01 * m,
                        "shared_facilities": shared,
                    }
                )
                for bn in range(1, n_buildings + 1):
                    b = len(acc.buildings)
                    acc.buildings.append(
                        {
                            "compound": c,
                            "number": bn,
                            "floors": floors,
                            "latitude": 30.6 + 0.01 * c + 0.0005 * bn,
                            "longitude": 104.0 + 0.01 * m + 0.0005 * bn,
                            "community": m,
                            "district": d,
                        }
                    )
                    for un in range(1, n_units + 1):
                        u = len(acc.units)
                        acc.units.append(
                            {"building": b, "number": un, "compound": c, "community": m, "district": d}
                        )
                        for floor in range(1, floors + 1):
                            for p in range(1, per_floor + 1):
                                room = f"{floor * 100 + p}"
                                acc.households.append(
                                    {
                                        "unit": u,
                                        "building": b,
                                        "compound": c,
                                        "grid": g,
                                        "community": m,
                                        "district": d,
                                        "room": room,
                                        "floor": floor,
                                        "address": f"{ccode}/{bn}/{un}/{room}",
                                    }
                                )
                                acc.sizes.append(size)
    return Places(
        districts=pl.DataFrame(acc.districts),
        subdistricts=pl.DataFrame(acc.subdistricts),
        communities=pl.DataFrame(acc.communities),
        grids=pl.DataFrame(acc.grids),
        compounds=pl.DataFrame(acc.compounds),
        buildings=pl.DataFrame(acc.buildings),
        units=pl.DataFrame(acc.units),
        households=pl.DataFrame(acc.households),
        sizes=np.asarray(acc.sizes, dtype=np.int16),
    )
