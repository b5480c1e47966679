"""Cutting a polygon into N pieces that cover it without gaps or overlaps.

Voronoi cells of N seed points, relaxed a few times towards their centroids (Lloyd) so the
pieces are compact, then clipped to the parent. Used to generate plausible grids for the
demo city and inside real district boundaries.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPoint, Polygon
from shapely.geometry.base import BaseGeometry


def blob(center: tuple[float, float], radius: float, rng: np.random.Generator) -> Polygon:
    """An irregular, city-like outline around CENTER (lon, lat); RADIUS in degrees."""
    n = 48
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    noise = rng.normal(0, 0.12, n)
    # Smooth the noise so the outline wobbles rather than zigzags.
    noise = np.convolve(np.r_[noise[-3:], noise, noise[:3]], np.ones(7) / 7, "valid")
    radii = radius * (1 + noise)
    # Longitude degrees are shorter than latitude degrees away from the equator.
    stretch = 1 / math.cos(math.radians(center[1]))
    xs = center[0] + radii * np.cos(angles) * stretch
    ys = center[1] + radii * np.sin(angles)
    return Polygon(np.column_stack([xs, ys]))


def random_points_inside(polygon: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    min_x, min_y, max_x, max_y = polygon.bounds
    shapely.prepare(polygon)
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        xy = rng.uniform((min_x, min_y), (max_x, max_y), size=(max(4 * n, 16), 2))
        inside = xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]
        found.append(inside)
        count += len(inside)
    return np.vstack(found)[:n]


def tile(
    polygon: BaseGeometry, n: int, rng: np.random.Generator, relax: int = 3
) -> list[BaseGeometry]:
    """N polygonal pieces whose union is POLYGON and whose interiors do not overlap, in
    reading order (north to south, then west to east), so codes read across the map."""
    if n <= 1:
        return [polygon]
    seeds = random_points_inside(polygon, n, rng)
    cells: list[BaseGeometry] = []
    for round_ in range(relax + 1):
        diagram = shapely.voronoi_polygons(
            MultiPoint(seeds), extend_to=polygon.envelope.buffer(1.0), ordered=True
        )
        cells = [polygonal(cell.intersection(polygon)) for cell in diagram.geoms]
        if round_ < relax:
            seeds = np.array(
                [
                    (c.centroid.x, c.centroid.y) if not c.is_empty else tuple(s)
                    for c, s in zip(cells, seeds, strict=True)
                ]
            )
    cells = [c for c in cells if not c.is_empty]
    cells.sort(key=lambda c: (-round(c.centroid.y, 3), c.centroid.x))
    return cells


def polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Only the polygon parts of a geometry (drops the stray lines and points that
    intersections and make_valid can leave)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry
    parts = [
        g for g in getattr(geometry, "geoms", []) if g.geom_type in ("Polygon", "MultiPolygon")
    ]
    if not parts:
        return Polygon()
    return shapely.union_all(parts)
