"""Coordinate conversions and geometry checks. Pure functions, no database.

GCJ-02 ("Mars coordinates") is the obfuscated datum required for maps published in China
(AMap, Tencent, DataV boundary files). It is not in pyproj; the forward formula below is the
widely published one, and the inverse is found by fixed-point iteration (error < 1e-7°,
about 1 cm), which is far below the precision of any boundary file.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

_A = 6378245.0
_EE = 0.00669342162296594323


def _outside_china(lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.bool_]:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_offset(
    lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    """Nx2 array of (lon, lat) in WGS84 → GCJ-02. Points outside China are unchanged."""
    lon, lat = coords[:, 0], coords[:, 1]
    dlon, dlat = _gcj_offset(lon, lat)
    return np.column_stack([lon + dlon, lat + dlat])


def gcj02_to_wgs84(coords: NDArray[np.float64]) -> NDArray[np.float64]:
    """Nx2 array of (lon, lat) in GCJ-02 → WGS84, by iterating the forward formula."""
    target = np.asarray(coords, dtype=np.float64)
    guess = target.copy()
    for _ in range(30):
        error = wgs84_to_gcj02(guess) - target
        guess -= error
        if np.abs(error).max(initial=0.0) < 1e-9:
            break
    return guess


def geometry_gcj02_to_wgs84(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, gcj02_to_wgs84)


def coordinates_in_range(geometry: BaseGeometry) -> tuple[bool, str]:
    """Whether every vertex is a plausible (lon, lat); else a sample of the first bad one."""
    coords = shapely.get_coordinates(geometry)
    bad = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    if not bad.any():
        return True, ""
    x, y = coords[np.argmax(bad)]
    return False, f"{x:.6g}, {y:.6g}"


def invalidity_reason(geometry: BaseGeometry) -> str | None:
    """None for a valid geometry, else GEOS's explanation, e.g. 'Self-intersection[1 2]'."""
    if geometry.is_valid:
        return None
    return explain_validity(geometry)


def area_km2(geometry: BaseGeometry) -> float:
    """Approximate area in km² of a WGS84 geometry (equirectangular at its centroid latitude;
    within 0.5% for areas the size of a city)."""
    if geometry.is_empty:
        return 0.0
    lat0 = math.radians(geometry.centroid.y)
    km_per_degree = 111.32
    return float(geometry.area * km_per_degree * km_per_degree * math.cos(lat0))
