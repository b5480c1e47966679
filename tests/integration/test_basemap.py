"""The base map on SQLite and PostgreSQL: the registry's roads, building footprints and door
addresses for a map's bounds (each role its own area, nothing personal), the address nearest
a resident's pin, the areas' label points, and the city's tiles in the pages and their policy
only when configured."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.areas.geo import wgs84_to_gcj02
from civicgrid.areas.repository import AreaRepository
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.cli import app as cli_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city, install_demo_registry
from civicgrid.registry.mapping import replace_map_features
from civicgrid.registry.repository import registry_map_features, registry_people
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, open_platform, settings_for


@dataclass
class MapCity:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    url: str

    def headers(self, role: Role) -> dict[str, str]:
        credential = next(c for c in self.summary.credentials if c.role is role)
        response = self.client.post(
            "/api/v1/auth/token",
            data={"username": credential.username, "password": credential.password},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def grid_of(self, role: Role) -> str:
        return next(c.scope for c in self.summary.credentials if c.role is role)

    def grid(self, code: str) -> Grid:
        with UnitOfWork(self.platform.session_factory) as uow:
            found = AreaRepository(uow.session).get(code)
            assert found is not None
            return Grid(found.code, found.geometry)


@dataclass(frozen=True)
class Grid:
    code: str
    geometry: BaseGeometry


@pytest.fixture(scope="module")
def map_city(
    databases: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MapCity]:
    url = databases.new("basemap")
    platform = open_platform(url)
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
        install_demo_registry(
            uow, SYSTEM, 300, secret_key=TEST_SECRET, folder=tmp_path_factory.mktemp("basemap")
        )
    with TestClient(create_app(platform)) as client:
        yield MapCity(platform, summary, client, url)
    platform.engine.dispose()


def bbox_around(area: Grid, margin: float = 0.0) -> str:
    west, south, east, north = area.geometry.bounds
    return f"{west - margin},{south - margin},{east + margin},{north + margin}"


def features(client: TestClient, bbox: str, **headers: str) -> dict:  # type: ignore[type-arg]
    response = client.get("/api/v1/registry/map", params={"bbox": bbox}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_grids_map_holds_its_road_buildings_and_doors_inside_the_bounds(
    map_city: MapCity,
) -> None:
    grid = map_city.grid(map_city.grid_of(Role.GRID_WORKER))
    west, south, east, north = grid.geometry.bounds
    found = features(map_city.client, bbox_around(grid))
    kinds = {f["properties"]["kind"] for f in found["features"]}
    assert kinds == {"road", "building", "address"}
    assert not found["too_large"] and not found["truncated"]
    box = shapely.box(west, south, east, north)
    for feature in found["features"]:
        assert shapely.geometry.shape(feature["geometry"]).intersects(box)
    mine = [f for f in found["features"] if f["properties"]["grid_code"] == grid.code]
    buildings = [f for f in mine if f["properties"]["kind"] == "building"]
    assert len(buildings) >= 8
    # Every block stands inside its grid and is named with its door: 人民路1号锦绣苑3栋.
    for building in buildings:
        shape = shapely.geometry.shape(building["geometry"])
        assert grid.geometry.contains(shape)
        assert re.fullmatch(r".+(路|街|巷)\d+号.+\d+栋", building["properties"]["address"])
    road = next(f for f in mine if f["properties"]["kind"] == "road")
    assert road["properties"]["name"].endswith(("路", "大街", "街", "巷"))
    # The registry's rooms stand on their blocks: each door address lies in a footprint.
    shapes = [shapely.geometry.shape(b["geometry"]).buffer(0.0001) for b in buildings]
    for door in (f for f in mine if f["properties"]["kind"] == "address"):
        assert any(s.contains(shapely.geometry.shape(door["geometry"])) for s in shapes)


def test_the_map_names_no_room_no_unit_and_no_person(map_city: MapCity) -> None:
    grid = map_city.grid(map_city.grid_of(Role.GRID_WORKER))
    found = features(map_city.client, bbox_around(grid, 0.02))
    assert found["features"]
    for feature in found["features"]:
        assert set(feature["properties"]) == {"kind", "name", "address", "grid_code"}
        texts = feature["properties"]["name"] + feature["properties"]["address"]
        assert "单元" not in texts and "室" not in texts
        assert not re.search(r"1\d{10}", texts)  # no mobile number
    with UnitOfWork(map_city.platform.session_factory) as uow:
        names = set(uow.session.execute(select(registry_people.c.name)).scalars())
    body = json.dumps(found, ensure_ascii=False)
    assert names and not any(name in body for name in names if len(name) >= 2)


def test_each_role_sees_the_buildings_of_its_own_area(map_city: MapCity) -> None:
    code = map_city.grid_of(Role.GRID_WORKER)
    grid = map_city.grid(code)
    bbox = bbox_around(grid, 0.02)  # her grid and its neighbours
    public = {f["properties"]["grid_code"] for f in features(map_city.client, bbox)["features"]}
    assert code in public and len(public) > 1
    worker = features(map_city.client, bbox, **map_city.headers(Role.GRID_WORKER))
    assert {f["properties"]["grid_code"] for f in worker["features"]} == {code}
    dispatcher = features(map_city.client, bbox, **map_city.headers(Role.DISPATCHER))
    assert {f["properties"]["grid_code"] for f in dispatcher["features"]} == public


def test_bounds_far_away_too_wide_or_unreadable(map_city: MapCity) -> None:
    assert features(map_city.client, "10.0,10.0,10.01,10.01")["features"] == []
    wide = features(map_city.client, "100.0,20.0,110.0,30.0")
    assert wide["too_large"] and wide["features"] == []
    for bad in ("1,2,3", "a,b,c,d", "10,10,9,11", "nan,1,2,3", "0,95,1,96"):
        response = map_city.client.get(
            "/api/v1/registry/map", params={"bbox": bad}, headers={"Accept-Language": "en"}
        )
        assert response.status_code == 422, bad
        assert "west,south,east,north" in response.json()["error"]["message"]


def test_the_pin_is_named_by_the_address_it_is_at_or_nearest(map_city: MapCity) -> None:
    with UnitOfWork(map_city.platform.session_factory) as uow:
        building = uow.session.execute(
            select(registry_map_features).where(registry_map_features.c.kind == "building")
        ).first()
    assert building is not None
    centre = shapely.geometry.shape(building.geometry).centroid

    def nearest(lat: float, lon: float) -> dict:  # type: ignore[type-arg]
        response = map_city.client.get(
            "/api/v1/registry/map/nearest", params={"lat": lat, "lon": lon}
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    inside = nearest(centre.y, centre.x)
    assert inside["address"] == building.address and inside["distance_m"] == 0
    # Just outside the block, 20 m north of its edge: the nearest door, with the distance.
    beside = nearest(building.max_lat + 20 / 111_320, centre.x)
    assert beside["address"] and 0 < beside["distance_m"] <= 250
    assert "单元" not in beside["address"] and "室" not in beside["address"]
    assert nearest(10.0, 10.0)["address"] is None
    refused = map_city.client.get("/api/v1/registry/map/nearest", params={"lat": 95, "lon": 1})
    assert refused.status_code == 422


def test_every_area_on_the_map_carries_a_point_inside_it_for_its_name(
    map_city: MapCity,
) -> None:
    response = map_city.client.get("/api/v1/areas/geojson?levels=community,grid")
    for feature in response.json()["features"]:
        x, y = feature["properties"]["label_point"]
        assert shapely.geometry.shape(feature["geometry"]).contains(shapely.Point(x, y))


# ------------------------------------------------------------------ the city's tiles


TIANDITU = "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY"


def test_without_tiles_the_pages_fetch_nothing_from_another_site(map_city: MapCity) -> None:
    page = map_city.client.get("/")
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in policy
    assert 'name="civicgrid-basemap" content="{}"' in page.text
    assert "/static/basemap.js" in page.text


def test_configured_tiles_are_on_every_map_and_only_their_hosts_in_the_policy(
    map_city: MapCity, tmp_path: Path
) -> None:
    settings = settings_for(map_city.url).model_copy(
        update={
            "basemap_url": TIANDITU,
            "basemap_subdomains": "01",
            "basemap_attribution": "天地图 GS(2024)0568号",
            "basemap_crs": "gcj02",
        }
    )
    platform = build_platform(settings)
    try:
        with TestClient(create_app(platform)) as client:
            page = client.get("/")
            api = client.get("/api/v1/areas/geojson")
    finally:
        platform.engine.dispose()
    policy = page.headers["content-security-policy"]
    images = next(p for p in policy.split("; ") if p.startswith("img-src"))
    assert images == (
        "img-src 'self' data: blob: https://t0.tianditu.gov.cn https://t1.tianditu.gov.cn"
    )
    assert "tianditu" not in policy.replace(images, "")  # scripts, connections: ours only
    assert "tianditu" in api.headers["content-security-policy"]  # one policy for everything
    meta = re.search(r'name="civicgrid-basemap" content="([^"]*)"', page.text)
    assert meta
    config = json.loads(meta.group(1).replace("&#34;", '"').replace("&amp;", "&"))
    assert config["url"] == TIANDITU and config["crs"] == "gcj02"
    assert config["subdomains"] == ["0", "1"] and config["attribution"].startswith("天地图")


# ------------------------------------------------------------------ a city's own footprints


def test_a_citys_footprints_and_roads_are_loaded_from_a_gis_file_in_gcj02(
    map_city: MapCity, tmp_path: Path
) -> None:
    code = map_city.grid_of(Role.GRID_WORKER)
    inside = map_city.grid(code).geometry.representative_point()
    x, y, d = inside.x, inside.y, 0.0002
    block = np.array(
        [[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]
    )
    road = np.array([[x - 5 * d, y - 2 * d], [x + 5 * d, y - 2 * d]])

    def feature(properties: dict[str, str], kind: str, coords: np.ndarray) -> dict:  # type: ignore[type-arg]
        shifted = wgs84_to_gcj02(coords).tolist()  # as AMap-based surveys write them
        geometry = {"type": kind, "coordinates": [shifted] if kind == "Polygon" else shifted}
        return {"type": "Feature", "properties": properties, "geometry": geometry}

    collection = {
        "type": "FeatureCollection",
        "features": [
            feature({"名称": "测试大厦1栋", "地址": "人民路88号测试大厦1栋"}, "Polygon", block),
            feature({"名称": "测试路"}, "LineString", road),
            feature({"名称": ""}, "Polygon", block),  # no name: skipped
            {"type": "Feature", "properties": {"名称": "错形"}, "geometry": None},
        ],
    }
    path = tmp_path / "buildings.geojson"
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    try:

        def load(kind: str, source: str) -> Any:
            building = ["--address-field", "地址"] if kind == "building" else []
            options = ["--name-field", "名称", "--source", source, "--gcj02", "--db", map_city.url]
            command = ["registry", "map", str(path), "--kind", kind, *building, *options]
            return runner.invoke(cli_app, command)

        built = load("building", "测绘院")
        assert built.exit_code == 0, built.output
        assert "#2" in built.output and "#3" in built.output  # a line; no name
        assert "已写入 1 个" in built.output and "跳过 3 个" in built.output
        roads = load("road", "测绘院")
        assert roads.exit_code == 0, roads.output  # the same source: the buildings give way
        load("building", "测绘院_建筑")
        found = features(map_city.client, f"{x - 0.001},{y - 0.001},{x + 0.001},{y + 0.001}")
        ours = {f["properties"]["name"]: f for f in found["features"]}
        assert {"测试大厦1栋", "测试路"} <= set(ours) and "错形" not in ours
        tower = ours["测试大厦1栋"]
        assert tower["properties"]["grid_code"] == code
        assert tower["properties"]["address"] == "人民路88号测试大厦1栋"
        # Back in WGS-84, where the grid's own data is, to well under a metre.
        corners = np.array(tower["geometry"]["coordinates"][0])
        assert np.abs(corners - block).max() < 1e-6
    finally:
        with UnitOfWork(map_city.platform.session_factory) as uow:
            replace_map_features(uow, SYSTEM, "测绘院", [])
        with UnitOfWork(map_city.platform.session_factory) as uow:
            replace_map_features(uow, SYSTEM, "测绘院_建筑", [])
