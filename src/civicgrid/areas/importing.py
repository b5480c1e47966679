"""Reading boundary files and checking each feature before anything is written.

A feature is either accepted (a `Candidate`) or rejected with a reason naming what is wrong;
the service decides, from the whole list, whether to write anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapefile
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from civicgrid.areas.geo import coordinates_in_range, geometry_gcj02_to_wgs84, invalidity_reason
from civicgrid.areas.tiling import polygonal
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import Locale, translate


@dataclass
class Problem:
    """One reason a feature was rejected (or a warning about an accepted one)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: Locale = "zh") -> str:
        return translate(self.key, locale, self.params)


@dataclass
class RawFeature:
    index: int  # 1-based position in the file, as a person counts
    properties: dict[str, Any]
    geometry: dict[str, Any] | None
    source: dict[str, Any]  # the feature as read, to write back into the rejects file


@dataclass
class Candidate:
    index: int
    code: str
    name: str
    parent_code: str | None
    geometry: BaseGeometry
    warnings: list[Problem] = field(default_factory=list)


@dataclass
class Rejection:
    index: int
    code: str | None
    name: str | None
    problems: list[Problem]
    source: dict[str, Any]

    def describe(self, locale: Locale = "zh") -> str:
        label = f"#{self.index}"
        if self.code:
            label += f" {self.code}"
        if self.name:
            label += f" {self.name}"
        return f"{label}: " + "; ".join(p.message(locale) for p in self.problems)


def read_boundaries(path: Path) -> list[RawFeature]:
    """Features of a boundary file: GeoJSON (.geojson, .json) or Shapefile (.shp, or a .zip
    holding one)."""
    if path.suffix.lower() in (".shp", ".zip"):
        return read_shapefile(path)
    return read_geojson(path)


def read_shapefile(path: Path) -> list[RawFeature]:
    """Features of a Shapefile. The attribute encoding comes from the .cpg file when there is
    one; otherwise UTF-8 is tried, then GBK (what Chinese GIS software writes by default).
    Projected coordinates are not converted: they are rejected with the projection's name."""
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    encoding = _shapefile_encoding(path)
    try:
        with shapefile.Reader(str(path), encoding=encoding) as reader:
            fields = [f[0] for f in reader.fields[1:]]
            features = []
            for position, shape_record in enumerate(reader.iterShapeRecords(), start=1):
                properties = dict(zip(fields, shape_record.record, strict=False))
                geometry = shape_record.shape.__geo_interface__
                if not geometry.get("coordinates"):
                    geometry = None
                source = {"type": "Feature", "properties": properties, "geometry": geometry}
                features.append(RawFeature(position, properties, geometry, source))
    except shapefile.ShapefileException as exc:
        raise InvalidInput("shapefile_unreadable", path=str(path), reason=str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput("file_encoding", path=str(path)) from exc
    projection = _projection_name(path)
    if projection is not None:
        raise InvalidInput("shapefile_projected", path=str(path), projection=projection)
    return features


def _shapefile_encoding(path: Path) -> str:
    cpg = path.with_suffix(".cpg")
    if cpg.exists():
        return cpg.read_text(encoding="ascii", errors="ignore").strip() or "utf-8"
    dbf = path.with_suffix(".dbf")
    if dbf.exists():
        try:
            dbf.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return "gbk"
    return "utf-8"


def _projection_name(path: Path) -> str | None:
    """The name of a projected coordinate system in the .prj file; None for lon/lat."""
    prj = path.with_suffix(".prj")
    if not prj.exists():
        return None
    text = prj.read_text(encoding="utf-8", errors="ignore").strip()
    if not text.upper().startswith("PROJCS"):
        return None
    return text.split('"')[1] if '"' in text else text[:60]


def read_geojson(path: Path) -> list[RawFeature]:
    """Features of a GeoJSON file (FeatureCollection, Feature or bare geometry)."""
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("file_encoding", path=str(path)) from exc
    return parse_geojson(text)


def parse_geojson(text: str) -> list[RawFeature]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            "geojson_malformed", line=exc.lineno, column=exc.colno, reason=exc.msg
        ) from exc
    kind = document.get("type") if isinstance(document, dict) else type(document).__name__
    if kind == "FeatureCollection":
        items = document.get("features")
        if not isinstance(items, list):
            raise InvalidInput("geojson_not_collection", found="FeatureCollection without features")
    elif kind == "Feature":
        items = [document]
    elif kind in ("Polygon", "MultiPolygon"):
        items = [{"type": "Feature", "properties": {}, "geometry": document}]
    else:
        raise InvalidInput("geojson_not_collection", found=str(kind))
    features = []
    for position, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            item = {"type": "Feature", "properties": {}, "geometry": None, "_raw": repr(item)}
        properties = item.get("properties") or {}
        geometry = item.get("geometry")
        features.append(
            RawFeature(
                index=position,
                properties=properties if isinstance(properties, dict) else {},
                geometry=geometry if isinstance(geometry, dict) else None,
                source=item,
            )
        )
    return features


def property_text(properties: dict[str, Any], field_name: str) -> str | None:
    value = properties.get(field_name)
    if value is None:
        return None
    text = str(value).strip()
    # Numeric codes read from JSON as floats ("101.0") are written the way people write them.
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    return text or None


def check_feature(
    raw: RawFeature,
    *,
    code_field: str,
    name_field: str,
    parent_field: str | None,
    parent_code: str | None,
    gcj02: bool,
    repair: bool = False,
) -> Candidate | Rejection:
    """Everything that can be known about one feature without the database. With REPAIR,
    invalid polygons (self-intersections, bow-ties) are mended by make_valid instead of
    rejected; imports never repair, since a mended boundary may not be the one meant."""
    problems: list[Problem] = []
    code = property_text(raw.properties, code_field)
    name = property_text(raw.properties, name_field)
    if code is None:
        problems.append(Problem("missing_property", {"field": code_field}))
    if name is None:
        problems.append(Problem("missing_property", {"field": name_field}))
    parent = parent_code
    if parent_field is not None:
        parent = property_text(raw.properties, parent_field)
        if parent is None:
            problems.append(Problem("missing_property", {"field": parent_field}))

    geometry: BaseGeometry | None = None
    if raw.geometry is None:
        problems.append(Problem("missing_geometry"))
    else:
        try:
            geometry = shape(raw.geometry)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            problems.append(Problem("bad_geometry", {"reason": str(exc) or type(exc).__name__}))
    if geometry is not None:
        if geometry.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem("not_polygon", {"found": geometry.geom_type}))
        elif geometry.is_empty:
            problems.append(Problem("missing_geometry"))
        else:
            in_range, sample = coordinates_in_range(geometry)
            if not in_range:
                problems.append(Problem("coordinates_out_of_range", {"sample": sample}))
            else:
                reason = invalidity_reason(geometry)
                if reason is not None and repair:
                    geometry = polygonal(shapely.make_valid(geometry))
                elif reason is not None:
                    problems.append(Problem("invalid_geometry", {"reason": reason}))
                if not problems and gcj02:
                    geometry = geometry_gcj02_to_wgs84(geometry)
    if problems or code is None or name is None or geometry is None:
        return Rejection(raw.index, code, name, problems, raw.source)
    return Candidate(raw.index, code, name, parent, shapely.normalize(geometry))


def rejects_document(rejections: list[Rejection], locale: Locale) -> dict[str, Any]:
    """The rejected features as a FeatureCollection, each with `_errors`, ready for correction."""
    features = []
    for rejection in rejections:
        feature = dict(rejection.source)
        properties = dict(feature.get("properties") or {})
        properties["_feature"] = rejection.index
        properties["_errors"] = [p.message(locale) for p in rejection.problems]
        feature["properties"] = properties
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}
