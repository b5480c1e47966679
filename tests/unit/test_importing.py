import json

import pytest

from civicgrid.areas.importing import Candidate, Rejection, check_feature, parse_geojson
from civicgrid.core.errors import InvalidInput

SQUARE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


def feature(geometry: object, **properties: object) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": properties, "geometry": geometry}],
        }
    )


def check(text: str, **options: object) -> Candidate | Rejection:
    (raw,) = parse_geojson(text)
    defaults = {
        "code_field": "code",
        "name_field": "name",
        "parent_field": None,
        "parent_code": None,
        "gcj02": False,
    }
    return check_feature(raw, **{**defaults, **options})  # type: ignore[arg-type]


def test_malformed_json_names_the_line_and_column() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_geojson('{"type": "FeatureCollection",\n "features": [}')
    assert caught.value.params["line"] == 2
    assert "GeoJSON" in caught.value.message("en")


def test_a_list_is_not_geojson() -> None:
    with pytest.raises(InvalidInput, match="FeatureCollection"):
        parse_geojson("[1, 2]")


def test_a_good_polygon_is_accepted() -> None:
    checked = check(feature(SQUARE, code="G1", name="第一网格"))
    assert isinstance(checked, Candidate)
    assert checked.code == "G1"


def test_a_self_intersecting_polygon_is_rejected_with_the_reason() -> None:
    checked = check(feature(BOWTIE, code="G1", name="x"))
    assert isinstance(checked, Rejection)
    assert "Self-intersection" in checked.describe("en")


def test_repair_mends_a_self_intersecting_polygon() -> None:
    checked = check(feature(BOWTIE, code="G1", name="x"), repair=True)
    assert isinstance(checked, Candidate) and checked.geometry.is_valid


def test_missing_properties_and_points_are_rejected_with_each_reason() -> None:
    checked = check(feature({"type": "Point", "coordinates": [0, 0]}, name="x"))
    assert isinstance(checked, Rejection)
    text = checked.describe("en")
    assert "missing property 'code'" in text and "expected Polygon" in text


def test_projected_coordinates_are_rejected() -> None:
    projected = {
        "type": "Polygon",
        "coordinates": [
            [[500000, 4000000], [500100, 4000000], [500100, 4000100], [500000, 4000000]]
        ],
    }
    checked = check(feature(projected, code="G1", name="x"))
    assert isinstance(checked, Rejection)
    assert "out of longitude/latitude range" in checked.describe("en")


def test_gcj02_input_is_converted_to_wgs84() -> None:
    beijing = {
        "type": "Polygon",
        "coordinates": [[[116.39, 39.90], [116.40, 39.90], [116.40, 39.91], [116.39, 39.90]]],
    }
    plain = check(feature(beijing, code="B", name="b"))
    converted = check(feature(beijing, code="B", name="b"), gcj02=True)
    assert isinstance(plain, Candidate) and isinstance(converted, Candidate)
    shift = plain.geometry.centroid.x - converted.geometry.centroid.x
    assert 0.001 < shift < 0.01
