"""Point → grid, in memory. A shapely STRtree over every grid polygon.

Grids tile their parents, so a point strictly inside the city lies in exactly one grid; a
point exactly on a shared edge touches two, and the grid with the smaller code wins, so the
answer is always one grid and always the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True)
class GridEntry:
    code: str
    path: str
    geometry: BaseGeometry


class Locator:
    def __init__(self, grids: list[GridEntry]) -> None:
        # Sorted by code so that the lowest tree index is the lowest code (the tie-break).
        self._grids = sorted(grids, key=lambda g: g.code)
        self._codes = [g.code for g in self._grids]
        self._paths = [g.path for g in self._grids]
        geometries = np.array([g.geometry for g in self._grids], dtype=object)
        self._tree = shapely.STRtree(geometries)
        if len(self._grids):
            self._bounds = shapely.total_bounds(geometries)
        else:
            self._bounds = np.array([np.nan] * 4)

    def __len__(self) -> int:
        return len(self._grids)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of all grids."""
        return tuple(float(v) for v in self._bounds)  # type: ignore[return-value]

    def locate_indices(self, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.int64]:
        """For each point the index of its grid in `codes`, or -1 when outside every grid."""
        points = shapely.points(np.asarray(lons, dtype=np.float64), np.asarray(lats, np.float64))
        points = np.atleast_1d(points)
        result = np.full(len(points), -1, dtype=np.int64)
        if not self._grids:
            return result
        point_idx, grid_idx = self._tree.query(points, predicate="intersects")
        if len(point_idx):
            # Keep, for each point, the smallest grid index: sort by (point, grid), take firsts.
            order = np.lexsort((grid_idx, point_idx))
            point_idx, grid_idx = point_idx[order], grid_idx[order]
            first = np.ones(len(point_idx), dtype=bool)
            first[1:] = point_idx[1:] != point_idx[:-1]
            result[point_idx[first]] = grid_idx[first]
        return result

    def locate(self, lon: float, lat: float) -> tuple[str, str] | None:
        """(grid code, grid path) of the grid containing (lon, lat), or None when outside."""
        index = int(self.locate_indices([lon], [lat])[0])
        if index < 0:
            return None
        return self._codes[index], self._paths[index]

    @property
    def codes(self) -> list[str]:
        return self._codes
