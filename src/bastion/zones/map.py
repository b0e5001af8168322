"""The zone map: the buildings of a district or community, each with the highest level of the
in-force zones that cover it, laid out for an SVG. Reads only; within the actor's scope."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from bastion.city.models import Building, Community, District
from bastion.core.errors import NotFound
from bastion.core.roles import ScopeLevel
from bastion.core.scopes import Actor, ScopePaths, scoped
from bastion.zones import rules
from bastion.zones.models import Zone, ZoneState

# A map larger than this is refused rather than drawn: pick a community.
MAX_BUILDINGS = 5000
WIDTH = 960
CELL = 14  # a building's square in the grid layout
GAP = 4
PAD = 20

# The levels a zone in force colours a building with, ranked (low is no zone).
_RANK: dict[str, int] = {level: rank for level, rank in rules.LEVEL_RANK.items() if level != rules.LOW}
_BELOW_COMMUNITY = ScopePaths(district="district_id", community="community_id", household=None)


@dataclass
class MapBuilding:
    id: int
    address: str  # C1/2
    compound_code: str
    compound_name: str
    level: str | None = None  # high, medium, or None: no zone in force covers it
    partly: bool = False  # only a unit or household of it is in a zone
    zones: list[tuple[str, str]] = field(default_factory=list)  # (address, level)
    x: float = 0.0
    y: float = 0.0


@dataclass(frozen=True)
class MapCompound:
    code: str
    name: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class ZoneMap:
    buildings: list[MapBuilding]
    compounds: list[MapCompound]
    width: int
    height: int
    cell: int
    by_coordinates: bool  # laid out by latitude/longitude; else on a grid, compound by compound
    too_large: bool = False


def _area_scope(actor: Actor, *, district_id: int | None, community_id: int | None) -> dict[str, int]:
    """The filter of the area asked for, after checking it lies in the actor's scope (else 404)."""
    if actor.level not in (ScopeLevel.CITY, ScopeLevel.DISTRICT, ScopeLevel.COMMUNITY):
        raise NotFound()
    if community_id is not None:
        paths = ScopePaths(district="district_id", community="id", household=None)
        if not scoped(Community.objects.filter(pk=community_id), actor, paths).exists():
            raise NotFound()
        return {"community_id": community_id}
    if district_id is not None:
        paths = ScopePaths(district="id", community=None, household=None)
        if not scoped(District.objects.filter(pk=district_id), actor, paths).exists():
            raise NotFound()
        return {"district_id": district_id}
    raise NotFound()


def zone_map(*, actor: Actor, district_id: int | None = None, community_id: int | None = None) -> ZoneMap:
    """The buildings of a community (or a district) coloured by the in-force zones covering them.

    Three queries whatever the size: the scope check, the buildings with their compounds, and
    the zones in force. A compound zone covers all its buildings; a building zone its building;
    a unit or household zone colours its building as `partly` covered. An area outside the
    actor's scope answers 404; more than MAX_BUILDINGS buildings answer `too_large`.
    """
    area = _area_scope(actor, district_id=district_id, community_id=community_id)
    rows = list(
        scoped(Building.objects.filter(**area), actor, _BELOW_COMMUNITY)
        .order_by("compound__code", "number")
        .values_list(
            "id",
            "number",
            "latitude",
            "longitude",
            "compound__code",
            "compound__name",
            "compound__latitude",
            "compound__longitude",
        )[: MAX_BUILDINGS + 1]
    )
    if len(rows) > MAX_BUILDINGS:
        return ZoneMap([], [], WIDTH, 0, CELL, by_coordinates=False, too_large=True)
    buildings = [
        MapBuilding(id=pk, address=f"{code}/{number}", compound_code=code, compound_name=name)
        for pk, number, _lat, _lon, code, name, _clat, _clon in rows
    ]
    by_building = {b.id: b for b in buildings}
    by_compound: dict[str, list[MapBuilding]] = defaultdict(list)
    for b in buildings:
        by_compound[b.compound_code].append(b)

    zones = Zone.objects.filter(state=ZoneState.IN_FORCE, **area).values_list(
        "level", "area", "address", "building_id", "compound__code"
    )
    for level, kind, address, building_id, compound_code in zones:
        if level not in _RANK:
            continue
        covered = by_compound.get(compound_code, []) if building_id is None else []
        if building_id is not None and building_id in by_building:
            covered = [by_building[building_id]]
        for b in covered:
            b.zones.append((address, level))
            if b.level is None or _RANK[level] > _RANK[b.level]:
                b.level, b.partly = level, kind in ("unit", "household")
            elif level == b.level and kind not in ("unit", "household"):
                b.partly = False

    coordinates = [_position(row) for row in rows]
    if buildings and all(c is not None for c in coordinates):
        return _by_coordinates(buildings, [c for c in coordinates if c is not None])
    return _on_grid(buildings, by_compound)


def _position(row: tuple[object, ...]) -> tuple[float, float] | None:
    """A building's latitude and longitude, else its compound's nudged by its number."""
    _pk, number, lat, lon, _code, _name, clat, clon = row
    if isinstance(lat, float) and isinstance(lon, float):
        return lat, lon
    if isinstance(clat, float) and isinstance(clon, float) and isinstance(number, int):
        # About 20 m apart around the compound's point, so its buildings do not stack.
        angle = number * 2.4
        return clat + 0.0002 * math.sin(angle), clon + 0.0002 * math.cos(angle)
    return None


def _by_coordinates(buildings: list[MapBuilding], points: list[tuple[float, float]]) -> ZoneMap:
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    # Longitude degrees shrink with latitude: keep the map's proportions true.
    x_span = max((east - west) * math.cos(math.radians((north + south) / 2)), 1e-6)
    y_span = max(north - south, 1e-6)
    scale = (WIDTH - 2 * PAD) / max(x_span, y_span)
    height = int(y_span * scale + 2 * PAD + CELL)
    cos_lat = math.cos(math.radians((north + south) / 2))
    boxes: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for b, (lat, lon) in zip(buildings, points, strict=True):
        b.x = round(PAD + (lon - west) * cos_lat * scale, 1)
        b.y = round(PAD + (north - lat) * scale, 1)
        boxes[b.compound_code].append((b.x, b.y))
    compounds = []
    names = {b.compound_code: b.compound_name for b in buildings}
    for code, xy in boxes.items():
        x0, y0 = min(p[0] for p in xy), min(p[1] for p in xy)
        x1, y1 = max(p[0] for p in xy) + CELL, max(p[1] for p in xy) + CELL
        compounds.append(
            MapCompound(code, names[code], x0 - GAP, y0 - GAP, x1 - x0 + 2 * GAP, y1 - y0 + 2 * GAP)
        )
    return ZoneMap(buildings, compounds, WIDTH, height, CELL, by_coordinates=True)


def _on_grid(buildings: list[MapBuilding], by_compound: dict[str, list[MapBuilding]]) -> ZoneMap:
    """Compounds as boxes in rows across the map, their buildings in a square grid inside."""
    compounds: list[MapCompound] = []
    x = y = float(PAD)
    row_height = 0.0
    label = 16  # room above each box for the compound's code
    for code, members in by_compound.items():
        side = max(math.ceil(math.sqrt(len(members))), 1)
        rows = math.ceil(len(members) / side)
        width = side * (CELL + GAP) + GAP
        height = rows * (CELL + GAP) + GAP
        if x + width > WIDTH - PAD and x > PAD:
            x = float(PAD)
            y += row_height + label + 2 * GAP
            row_height = 0.0
        compounds.append(MapCompound(code, members[0].compound_name, x, y + label, width, height))
        for i, b in enumerate(members):
            b.x = x + GAP + (i % side) * (CELL + GAP)
            b.y = y + label + GAP + (i // side) * (CELL + GAP)
        x += width + 3 * GAP
        row_height = max(row_height, height)
    total = int(y + row_height + label + 2 * PAD) if buildings else 2 * PAD
    return ZoneMap(buildings, compounds, WIDTH, total, CELL, by_coordinates=False)
