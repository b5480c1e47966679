"""The registry on the map: building footprints, named roads and the standard addresses of
the doors and buildings (not of rooms) inside a map's bounds, for the base map that every
page draws when the city configures no tiles; and the standard address nearest a point,
so a resident who drops a pin reads where it is.

None of it is personal: a footprint, a road's name and a door plate are what anyone reads
in the street. Rooms and units, and who lives or works there, never leave the registry
through here. Staff see the buildings of their own area, as their maps show only their
areas; the public sees the whole city, as it sees every boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import shapely
from sqlalchemy import Select, delete, func, insert, select
from sqlalchemy.orm import Session

from civicgrid.areas.geo import gcj02_to_wgs84
from civicgrid.areas.repository import areas
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import N_
from civicgrid.core.permissions import ADMIN_ROLES, PUBLIC, Actor, permission
from civicgrid.registry.repository import registry_addresses, registry_map_features

BUILDING = "building"
ROAD = "road"
FEATURE_KINDS = (BUILDING, ROAD)
# A map wider or taller than this (about 15 km) is a view of districts, not of buildings:
# nothing is sent, and the map asks to zoom in (and nobody reads the city's door plates
# out in one request).
MAX_SPAN_DEGREES = 0.15
MAX_FEATURES = 4000
# The nearest address is looked for within this many metres of the pin.
NEAREST_RADIUS_M = 250.0
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Bounds:
    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, text: str) -> Bounds:
        """ "west,south,east,north" in WGS-84 degrees (Leaflet's toBBoxString)."""
        try:
            west, south, east, north = (float(part) for part in text.split(","))
        except ValueError:
            raise InvalidInput("registry_map_bounds", field="bbox") from None
        box = cls(west, south, east, north)
        finite = all(math.isfinite(v) for v in (west, south, east, north))
        if not finite or not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise InvalidInput("registry_map_bounds", field="bbox")
        return box

    @property
    def too_large(self) -> bool:
        widest = max(self.east - self.west, self.north - self.south)
        return widest > MAX_SPAN_DEGREES


@dataclass(frozen=True)
class MapFeature:
    kind: str  # building | road | address
    name: str
    address: str
    grid_code: str | None
    geometry: dict[str, Any]


@dataclass(frozen=True)
class MapView:
    features: list[MapFeature]
    too_large: bool  # the bounds were too wide to show buildings: zoom in
    truncated: bool  # more were there than MAX_FEATURES


@dataclass(frozen=True)
class NearestAddress:
    address: str
    building: str
    distance_m: float
    grid_code: str | None


def _scope(actor: Actor) -> str | None:
    # As areas.services.map_areas: the public sees the city, staff their own area.
    return actor.scope_path if actor.is_staff else None


def _within_scope(statement: Select[Any], grid_column: Any, scope: str | None) -> Select[Any]:
    if scope is None:
        return statement
    return statement.where(
        grid_column.in_(select(areas.c.code).where(areas.c.path.startswith(scope)))
    )


def door_label(road: str, number: str, estate: str, building: str) -> str:
    """The standard address of a door or building, without unit or room: 人民路1号锦绣苑3栋."""
    door = f"{road}{number}号" if number else road
    return f"{door}{estate}{building + '栋' if building else ''}"


@permission(PUBLIC, "Buildings, roads and door addresses on the caller's map")
def map_features(uow: UnitOfWork, actor: Actor, bounds: Bounds) -> MapView:
    """The footprints and roads crossing BOUNDS and the standard addresses inside it, down
    to the building (never a unit or a room), of the caller's area (the whole city for the
    public). Nothing when the bounds are wider than a town quarter (`too_large`)."""
    if bounds.too_large:
        return MapView([], too_large=True, truncated=False)
    scope = _scope(actor)
    f = registry_map_features.c
    shapes = _within_scope(
        select(f.kind, f.name, f.address, f.grid_code, f.geometry)
        .where(f.max_lon >= bounds.west, f.min_lon <= bounds.east)
        .where(f.max_lat >= bounds.south, f.min_lat <= bounds.north)
        .order_by(f.kind.desc(), f.id)  # roads first, then buildings
        .limit(MAX_FEATURES + 1),
        f.grid_code,
        scope,
    )
    found = [
        MapFeature(row.kind, row.name, row.address, row.grid_code, row.geometry)
        for row in uow.session.execute(shapes)
    ]
    a = registry_addresses.c
    doors = _within_scope(
        select(
            a.road,
            a.number,
            a.estate,
            a.building,
            a.grid_code,
            func.avg(a.lat).label("lat"),
            func.avg(a.lon).label("lon"),
        )
        .where(a.lat.between(bounds.south, bounds.north), a.lon.between(bounds.west, bounds.east))
        .group_by(a.road, a.number, a.estate, a.building, a.grid_code)
        .order_by(a.road, a.number, a.estate, a.building)
        .limit(MAX_FEATURES + 1),
        a.grid_code,
        scope,
    )
    for row in uow.session.execute(doors):
        label = door_label(row.road, row.number, row.estate, row.building)
        point = {"type": "Point", "coordinates": [round(row.lon, 6), round(row.lat, 6)]}
        found.append(MapFeature("address", label, label, row.grid_code, point))
    return MapView(found[:MAX_FEATURES], too_large=False, truncated=len(found) > MAX_FEATURES)


def _metres(lat: float, lon: float, other_lat: float, other_lon: float) -> float:
    # An equirectangular distance: exact enough within the few hundred metres looked at.
    dx = (other_lon - lon) * math.cos(math.radians(lat)) * _METRES_PER_DEGREE
    dy = (other_lat - lat) * _METRES_PER_DEGREE
    return math.hypot(dx, dy)


@permission(PUBLIC, "The standard address nearest a point on the map")
def nearest_address(uow: UnitOfWork, actor: Actor, lat: float, lon: float) -> NearestAddress | None:
    """The door or building address nearest (LAT, LON) within NEAREST_RADIUS_M, in the
    caller's area (the city for the public): the building the point lies in when it lies
    in one, else the nearest standard address. None when there is none so near."""
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput("registry_map_point", field="lat")
    scope = _scope(actor)
    dlat = NEAREST_RADIUS_M / _METRES_PER_DEGREE
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    f = registry_map_features.c
    buildings = _within_scope(
        select(f.name, f.address, f.grid_code, f.geometry)
        .where(f.kind == BUILDING)
        .where(f.min_lon <= lon, f.max_lon >= lon, f.min_lat <= lat, f.max_lat >= lat),
        f.grid_code,
        scope,
    )
    point = shapely.Point(lon, lat)
    for row in uow.session.execute(buildings):
        if shapely.geometry.shape(row.geometry).covers(point):
            return NearestAddress(row.address or row.name, row.name, 0.0, row.grid_code)
    a = registry_addresses.c
    doors = _within_scope(
        select(
            a.road,
            a.number,
            a.estate,
            a.building,
            a.grid_code,
            func.avg(a.lat).label("lat"),
            func.avg(a.lon).label("lon"),
        )
        .where(a.lat.between(lat - dlat, lat + dlat), a.lon.between(lon - dlon, lon + dlon))
        .group_by(a.road, a.number, a.estate, a.building, a.grid_code),
        a.grid_code,
        scope,
    )
    best: NearestAddress | None = None
    for row in uow.session.execute(doors):
        distance = _metres(lat, lon, row.lat, row.lon)
        if distance <= NEAREST_RADIUS_M and (best is None or distance < best.distance_m):
            label = door_label(row.road, row.number, row.estate, row.building)
            building = f"{row.estate}{row.building}栋" if row.building else ""
            best = NearestAddress(label, building, round(distance, 1), row.grid_code)
    return best


# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class NewFeature:
    kind: str
    name: str
    geometry: dict[str, Any]  # GeoJSON, WGS-84
    address: str = ""
    grid_code: str | None = None


def _row(feature: NewFeature, source: str, now: datetime) -> dict[str, Any]:
    if feature.kind not in FEATURE_KINDS:
        raise InvalidInput("registry_map_kind", field="kind")
    shape = shapely.geometry.shape(feature.geometry)
    if shape.is_empty:
        raise InvalidInput("registry_map_empty", field="geometry")
    west, south, east, north = shape.bounds
    return {
        "kind": feature.kind,
        "name": feature.name[:100],
        "address": feature.address[:300],
        "grid_code": feature.grid_code,
        "geometry": feature.geometry,
        "min_lon": west,
        "min_lat": south,
        "max_lon": east,
        "max_lat": north,
        "source": source,
        "updated_at": now,
    }


# What each kind's geometry must be.
_SHAPES = {BUILDING: ("Polygon", "MultiPolygon"), ROAD: ("LineString", "MultiLineString")}


@dataclass(frozen=True)
class SkippedFeature:
    index: int  # 1-based, as a person counts the features of the file
    reason: str  # a message key: registry_map_no_name, registry_map_wrong_shape, …


def read_map_features(
    features: Iterable[tuple[int, dict[str, Any], dict[str, Any] | None]],
    kind: str,
    name_field: str,
    address_field: str | None = None,
    *,
    gcj02: bool = False,
    locate: Callable[[float, float], str | None] = lambda _lon, _lat: None,
) -> tuple[list[NewFeature], list[SkippedFeature]]:
    """The buildings or roads of a GIS file's features (index, properties, GeoJSON
    geometry), in WGS-84 (converted from GCJ-02 with GCJ02), each in the grid LOCATE
    (lon, lat → grid code) finds at a point inside it; and those skipped, with why."""
    if kind not in FEATURE_KINDS:
        raise InvalidInput("registry_map_kind", field="kind")
    found: list[NewFeature] = []
    skipped: list[SkippedFeature] = []
    for index, properties, geometry in features:
        name = str(properties.get(name_field) or "").strip()
        if not name:
            skipped.append(SkippedFeature(index, N_("registry_map_no_name")))
            continue
        if not geometry or geometry.get("type") not in _SHAPES[kind]:
            skipped.append(SkippedFeature(index, N_("registry_map_wrong_shape")))
            continue
        shape = shapely.geometry.shape(geometry)
        if gcj02:
            shape = shapely.transform(shape, gcj02_to_wgs84)
        west, south, east, north = shape.bounds
        if shape.is_empty or not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            skipped.append(SkippedFeature(index, N_("registry_map_out_of_range")))
            continue
        inside = shape.representative_point()  # on a road's line, inside a footprint
        address = str(properties.get(address_field) or "").strip() if address_field else ""
        found.append(
            NewFeature(
                kind,
                name,
                shapely.geometry.mapping(shape),
                address,
                locate(inside.x, inside.y),
            )
        )
    return found, skipped


@permission(ADMIN_ROLES, "Replace a source's buildings and roads on the registry's map")
def replace_map_features(
    uow: UnitOfWork, actor: Actor, source: str, features: Iterable[NewFeature]
) -> int:
    """Put FEATURES in place of what SOURCE (a department, "demo") gave before, in one
    transaction; the number written."""
    now = utcnow()
    rows = [_row(feature, source, now) for feature in features]
    _replace(uow.session, source, rows)
    uow.commit()
    return len(rows)


def _replace(session: Session, source: str, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(delete(registry_map_features).where(registry_map_features.c.source == source))
    for start in range(0, len(rows), 1000):
        session.execute(insert(registry_map_features), list(rows[start : start + 1000]))
