"""Roads and buildings for the demo city, so its maps are readable without any tile server:
in each grid, an estate of apartment blocks in rows on both sides of the road its door
addresses name (人民路1号锦绣苑3栋), every block a footprint the registry keeps and the
standard addresses of its rooms placed on it.

Plain shapes in WGS-84 degrees, laid out in metres around a point inside each grid and kept
only where they fit inside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import shapely
from shapely.geometry import LineString, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

from civicgrid.demo.registry import grid_door
from civicgrid.registry.mapping import BUILDING, ROAD, NewFeature

# A slab of flats: its length along the road and its depth, in metres; the gap between two
# along the road; the distance of the first row from the road and between rows.
BLOCK_LENGTH_M = 50.0
BLOCK_DEPTH_M = 15.0
BLOCK_STEP_M = 66.0
FIRST_ROW_M = 30.0
ROW_STEP_M = 38.0
ROAD_HALF_LENGTH_M = 700.0
# The estate lies this far south of the point where the grid's name is written.
ESTATE_OFFSET_M = 120.0
# Each grid has at least this many blocks, so a map of it looks like a neighbourhood even
# where the registry's rooms fill fewer.
MIN_BLOCKS = 14
_METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class DemoBuilding:
    grid_code: str
    door: str  # 人民路1号
    estate: str
    number: int
    footprint: Polygon

    @property
    def name(self) -> str:
        return f"{self.estate}{self.number}栋"

    @property
    def address(self) -> str:
        return f"{self.door}{self.name}"


@dataclass(frozen=True)
class DemoRoad:
    grid_code: str
    name: str
    line: BaseGeometry


@dataclass
class DemoStreets:
    roads: list[DemoRoad]
    buildings: list[DemoBuilding]

    def places(self) -> dict[tuple[str, int], tuple[float, float]]:
        """(grid code, building number) → (lon, lat) of the block's centre."""
        found = {}
        for b in self.buildings:
            centre = b.footprint.centroid
            found[(b.grid_code, b.number)] = (centre.x, centre.y)
        return found

    def features(self) -> list[NewFeature]:
        """What the registry's map keeps of them."""
        return [
            NewFeature(ROAD, r.name, mapping(r.line), grid_code=r.grid_code) for r in self.roads
        ] + [
            NewFeature(BUILDING, b.name, mapping(b.footprint), b.address, b.grid_code)
            for b in self.buildings
        ]


def lay_out(grids: Sequence[tuple[str, BaseGeometry]], blocks_per_grid: int) -> DemoStreets:
    """The road and at least BLOCKS_PER_GRID blocks of each grid (code, outline), grids in
    the order demo.registry.standard_addresses numbers their doors."""
    streets = DemoStreets([], [])
    for index, (code, outline) in enumerate(grids):
        road, door, estate = grid_door(index)
        named = outline.representative_point()
        kx = 1 / (_METRES_PER_DEGREE * math.cos(math.radians(named.y)))
        ky = 1 / _METRES_PER_DEGREE
        south = shapely.Point(named.x, named.y - ESTATE_OFFSET_M * ky)
        centre = south if outline.contains(south) else named
        line = outline.intersection(
            LineString(
                [
                    (centre.x - ROAD_HALF_LENGTH_M * kx, centre.y),
                    (centre.x + ROAD_HALF_LENGTH_M * kx, centre.y),
                ]
            )
        )
        piece = _piece_through(line, centre)
        if piece is not None:
            streets.roads.append(DemoRoad(code, road, piece))
        blocks = _blocks(outline, centre.x, centre.y, kx, ky, max(blocks_per_grid, MIN_BLOCKS))
        for number, footprint in enumerate(blocks, start=1):
            building = DemoBuilding(code, f"{road}{door}号", estate, number, footprint)
            streets.buildings.append(building)
    return streets


def _piece_through(line: BaseGeometry, point: shapely.Point) -> BaseGeometry | None:
    # The part of the road inside the grid that passes its centre (a grid's outline may
    # cut the line into several).
    parts = list(getattr(line, "geoms", [line]))
    parts = [p for p in parts if isinstance(p, LineString) and not p.is_empty]
    if not parts:
        return None
    return min(parts, key=lambda p: p.distance(point))


def _blocks(
    outline: BaseGeometry, x0: float, y0: float, kx: float, ky: float, wanted: int
) -> list[Polygon]:
    """WANTED blocks nearest the centre that fit in the outline, numbered as a visitor
    reads them: the row north of the road first, west to east."""
    inside = outline.buffer(0)
    candidates = []
    for row in range(1, 6):
        for side in (1, -1):
            offset = side * (FIRST_ROW_M + (row - 1) * ROW_STEP_M)
            for column in range(-8, 9):
                x = column * BLOCK_STEP_M
                distance = math.hypot(x, offset)
                candidates.append((distance, offset, x))
    candidates.sort()
    chosen: list[tuple[float, float, Polygon]] = []
    for _distance, offset, x in candidates:
        half_length, half_depth = BLOCK_LENGTH_M / 2, BLOCK_DEPTH_M / 2
        footprint = box(
            x0 + (x - half_length) * kx,
            y0 + (offset - half_depth) * ky,
            x0 + (x + half_length) * kx,
            y0 + (offset + half_depth) * ky,
        )
        if inside.contains(footprint):
            chosen.append((-offset, x, _rounded(footprint)))
            if len(chosen) == wanted:
                break
    chosen.sort(key=lambda c: (c[0], c[1]))
    return [footprint for _row, _x, footprint in chosen]


def _rounded(polygon: Polygon) -> Polygon:
    # Seven decimals are a centimetre: what a footprint needs, and shorter to send.
    return Polygon([(round(x, 7), round(y, 7)) for x, y in polygon.exterior.coords])
