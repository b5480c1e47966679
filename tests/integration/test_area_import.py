"""`civicgrid areas import`: all or nothing, with every rejected feature named."""

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from civicgrid.areas.repository import AreaRepository
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork


def square(x: float, y: float, size: float = 0.01) -> dict[str, Any]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def write(tmp_path: Path, name: str, *features: tuple[dict[str, Any], dict[str, Any]]) -> Path:
    path = tmp_path / name
    collection = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def run(platform: Platform, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", platform.settings.database_url])


def import_file(platform: Platform, path: Path, level: str, *options: str) -> Any:
    """`civicgrid areas import PATH --level LEVEL` with the code and name in `code`/`name`."""
    return run(
        platform,
        "areas",
        "import",
        str(path),
        "--level",
        level,
        "--code-field",
        "code",
        "--name-field",
        "name",
        *options,
    )


def area_codes(platform: Platform) -> set[str]:
    with UnitOfWork(platform.session_factory) as uow:
        return {a.code for a in AreaRepository(uow.session).list()}


def import_city(platform: Platform, tmp_path: Path) -> None:
    city = write(tmp_path, "city.geojson", ({"code": "C1", "name": "示范市"}, square(104, 30, 0.1)))
    result = import_file(platform, city, "city")
    assert result.exit_code == 0, result.output


def test_a_hierarchy_is_imported_level_by_level(scratch: Platform, tmp_path: Path) -> None:
    import_city(scratch, tmp_path)
    # Department files name their fields their own way: the code here is `adcode`.
    districts = write(
        tmp_path,
        "districts.geojson",
        ({"adcode": "D1", "name": "东区", "up": "C1"}, square(104, 30, 0.05)),
        ({"adcode": "D2", "name": "西区", "up": "C1"}, square(104.05, 30, 0.05)),
    )
    result = run(
        scratch,
        "areas",
        "import",
        str(districts),
        "--level",
        "district",
        "--code-field",
        "adcode",
        "--name-field",
        "name",
        "--parent-field",
        "up",
    )
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    assert area_codes(scratch) == {"C1", "D1", "D2"}


def test_any_rejected_feature_means_nothing_is_written(scratch: Platform, tmp_path: Path) -> None:
    import_city(scratch, tmp_path)
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[104, 30], [104.01, 30.01], [104.01, 30], [104, 30.01], [104, 30]]],
    }
    path = write(
        tmp_path,
        "streets.geojson",
        ({"code": "S1", "name": "好街道", "parent": "C1"}, square(104, 30)),
        ({"code": "S2", "name": "自相交街道", "parent": "C1"}, bowtie),
        ({"code": "S3", "name": "无上级街道", "parent": "NOPE"}, square(104.02, 30)),
        ({"code": "S1", "name": "重复街道", "parent": "C1"}, square(104.03, 30)),
        ({"code": "C1", "name": "与市重名", "parent": "C1"}, square(104.04, 30)),
    )
    # Streets must hang under districts, so first show the level rule, then the others.
    result = import_file(scratch, path, "district", "--parent-field", "parent")
    assert result.exit_code == 1
    output = result.output
    assert "#2 S2 自相交街道" in output and "Self-intersection" in output
    assert "#3 S3 无上级街道" in output and "NOPE" in output
    assert "#4 S1 重复街道" in output and "第 1 个要素" in output
    assert "#5 C1 与市重名" in output and "--update" in output
    assert "未写入任何数据" in output
    assert area_codes(scratch) == {"C1"}
    rejected = json.loads((tmp_path / "streets.rejected.geojson").read_text(encoding="utf-8"))
    assert [f["properties"]["_feature"] for f in rejected["features"]] == [2, 3, 4, 5]
    assert all(f["properties"]["_errors"] for f in rejected["features"])


def test_partial_imports_the_good_features_and_keeps_the_bad(
    scratch: Platform, tmp_path: Path
) -> None:
    import_city(scratch, tmp_path)
    path = write(
        tmp_path,
        "d.geojson",
        ({"code": "D1", "name": "东区"}, square(104, 30)),
        ({"code": "D2"}, square(104.02, 30)),
    )
    result = import_file(scratch, path, "district", "--parent-code", "C1", "--partial")
    assert result.exit_code == 0, result.output
    assert "缺少属性“name”" in result.output
    assert area_codes(scratch) == {"C1", "D1"}


def test_a_child_must_sit_one_level_below_its_parent(scratch: Platform, tmp_path: Path) -> None:
    import_city(scratch, tmp_path)
    path = write(tmp_path, "g.geojson", ({"code": "G1", "name": "网格"}, square(104, 30)))
    result = import_file(scratch, path, "grid", "--parent-code", "C1")
    assert result.exit_code == 1
    assert "上级区域 C1 的层级是 city" in result.output


def test_malformed_geojson_is_reported_with_its_position(scratch: Platform, tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [\n  {"type": }\n]}')
    result = import_file(scratch, path, "city")
    assert result.exit_code == 1
    assert "GeoJSON 格式错误（第 2 行" in result.output


def test_update_replaces_an_existing_area(scratch: Platform, tmp_path: Path) -> None:
    import_city(scratch, tmp_path)
    path = write(
        tmp_path, "city2.geojson", ({"code": "C1", "name": "新名字市"}, square(104, 30, 0.2))
    )
    result = import_file(scratch, path, "city", "--update")
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        city = AreaRepository(uow.session).get("C1")
        assert city is not None and city.name == "新名字市"
        assert city.max_lon == 104.2


def test_gcj02_boundaries_are_stored_in_wgs84(scratch: Platform, tmp_path: Path) -> None:
    path = write(
        tmp_path, "bj.geojson", ({"code": "110000", "name": "北京市"}, square(116.3, 39.8, 0.2))
    )
    result = import_file(scratch, path, "city", "--gcj02")
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        city = AreaRepository(uow.session).get("110000")
        assert city is not None and 116.29 < city.min_lon < 116.2995


def test_the_locator_sees_areas_imported_by_another_process(
    scratch: Platform, scratch_client: Any, tmp_path: Path
) -> None:
    assert scratch_client.get("/api/v1/areas/locate?lat=30.005&lon=104.005").status_code == 404
    import_city(scratch, tmp_path)
    levels = [
        ("district", "D1", "C1"),
        ("street", "S1", "D1"),
        ("community", "K1", "S1"),
        ("grid", "G1", "K1"),
    ]
    for level, code, parent in levels:
        path = write(tmp_path, f"{code}.geojson", ({"code": code, "name": code}, square(104, 30)))
        result = import_file(scratch, path, level, "--parent-code", parent)
        assert result.exit_code == 0, result.output
    located = scratch_client.get("/api/v1/areas/locate?lat=30.005&lon=104.005").json()
    assert located["grid"]["code"] == "G1"


def write_shapefile(tmp_path: Path, encoding: str, prj: str | None = None) -> Path:
    import shapefile

    base = tmp_path / "districts"
    with shapefile.Writer(str(base), shapeType=shapefile.POLYGON, encoding=encoding) as shp:
        shp.field("CODE", "C", size=12)
        shp.field("NAME", "C", size=40)
        shp.poly([square(104, 30)["coordinates"][0]])
        shp.record("D1", "锦江区")
    if prj is not None:
        base.with_suffix(".prj").write_text(prj)
    return base.with_suffix(".shp")


def test_a_gbk_shapefile_from_a_department_imports(scratch: Platform, tmp_path: Path) -> None:
    import_city(scratch, tmp_path)
    path = write_shapefile(tmp_path, "gbk")
    result = run(
        scratch,
        "areas",
        "import",
        str(path),
        "--level",
        "district",
        "--code-field",
        "CODE",
        "--name-field",
        "NAME",
        "--parent-code",
        "C1",
    )
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        district = AreaRepository(uow.session).get("D1")
        assert district is not None and district.name == "锦江区"


def test_a_projected_shapefile_is_refused_by_name(scratch: Platform, tmp_path: Path) -> None:
    path = write_shapefile(tmp_path, "utf-8", prj='PROJCS["CGCS2000_3_Degree_GK_CM_117E",GEOGCS[]]')
    result = run(
        scratch,
        "areas",
        "import",
        str(path),
        "--level",
        "city",
        "--code-field",
        "CODE",
        "--name-field",
        "NAME",
    )
    assert result.exit_code == 1
    assert "CGCS2000_3_Degree_GK_CM_117E" in result.output


def test_overlapping_areas_and_areas_outside_their_parent_are_refused_by_name(
    scratch: Platform, tmp_path: Path
) -> None:
    import_city(scratch, tmp_path)
    districts = write(
        tmp_path,
        "districts.geojson",
        ({"code": "D1", "name": "东区"}, square(104, 30, 0.05)),
        # Half of it lies over 东区: points there would land in either district.
        ({"code": "D2", "name": "西区"}, square(104.025, 30, 0.05)),
        # A touching neighbour shares a border, which is no overlap.
        ({"code": "D3", "name": "北区"}, square(104, 30.05, 0.05)),
        # A third of it lies outside the city.
        ({"code": "D4", "name": "外区"}, square(104.09, 30.09, 0.03)),
    )
    result = import_file(scratch, districts, "district", "--parent-code", "C1")
    assert result.exit_code == 1
    assert "D2" in result.output and "东区" in result.output and "重叠" in result.output
    assert "平方米" in result.output
    assert "D4" in result.output and "C1" in result.output
    assert area_codes(scratch) == {"C1"}  # all or nothing
    partial = import_file(scratch, districts, "district", "--parent-code", "C1", "--partial")
    assert partial.exit_code == 0, partial.output
    assert area_codes(scratch) == {"C1", "D1", "D3"}
    # A later file overlapping what is stored is refused too.
    later = write(
        tmp_path, "later.geojson", ({"code": "D5", "name": "新区"}, square(104.01, 30.01))
    )
    again = import_file(scratch, later, "district", "--parent-code", "C1")
    assert again.exit_code == 1 and "D1" in again.output
