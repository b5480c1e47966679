"""Maps people can read, in headless Chromium on the demo city without any tile server: the
grid map names its districts, streets, communities and grids and, close in, draws the roads
and buildings with their names, on a phone and at a desk; the resident's report form shows
her pin over them and names the address it is at; the page's datum shift gives the
published GCJ-02 values."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import shapely

from tests.e2e.test_browser import Server, civicgrid, require_browser
from tests.e2e.test_browser import page as browser_tab  # noqa: F401 - a browser tab
from tests.serving import served

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    db = f"sqlite:///{tmp_path_factory.mktemp('e2e-map') / 'city.db'}"
    env = {**os.environ, "CIVICGRID_DATABASE_URL": db, "CIVICGRID_ENVIRONMENT": "test"}
    subprocess.run(
        civicgrid("demo", "--cases", "0", "--registry-people", "1200"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    log = tmp_path_factory.mktemp("e2e-map-log") / "server.log"
    with served(lambda port: civicgrid("serve", "--port", str(port)), env, log) as url:
        yield Server(url, {})


def get_json(server: Server, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(server.url + path, timeout=10) as response:
        return json.load(response)  # type: ignore[no-any-return]


def a_building(server: Server) -> tuple[str, float, float]:
    """(address, lat, lon) of a block of the first grid, from the registry's map."""
    grid = get_json(server, "/api/v1/areas/geojson?levels=grid")["features"][0]
    x, y = grid["properties"]["label_point"]
    bbox = f"{x - 0.01},{y - 0.01},{x + 0.01},{y + 0.01}"
    found = get_json(server, "/api/v1/registry/map?" + urllib.parse.urlencode({"bbox": bbox}))
    building = next(
        f
        for f in found["features"]
        if f["properties"]["kind"] == "building"
        and f["properties"]["grid_code"] == grid["properties"]["code"]
    )
    centre = shapely.geometry.shape(building["geometry"]).centroid
    return building["properties"]["address"], centre.y, centre.x


def no_sideways_scrolling(tab) -> None:  # type: ignore[no-untyped-def]
    width = tab.viewport_size["width"]
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= width


def visible_texts(tab, selector: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.strip() for t in tab.locator(selector).all_inner_texts() if t.strip()]


@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
def test_the_grid_map_names_its_areas_and_close_in_shows_roads_and_buildings(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
    size: dict[str, int],
) -> None:
    page = browser_tab
    page.set_viewport_size(size)
    page.goto(server.url + "/")
    page.wait_for_selector("#map[data-ready='true']", timeout=20_000)
    # The whole city: its districts are named on it, no tiles are fetched.
    assert int(page.locator("#map").get_attribute("data-area-labels") or 0) > 600
    assert any(n.endswith("区") for n in visible_texts(page, "#map .map-label-district"))
    assert page.locator("#map .leaflet-tile").count() == 0
    no_sideways_scrolling(page)

    # Nearer, the communities; close in on a block, the grid's name, its road, its
    # buildings and their names.
    address, lat, lon = a_building(server)
    page.evaluate(f"CivicMap.maps[0].setView([{lat}, {lon}], 13.5)")
    page.wait_for_selector("#map .map-label-community", timeout=10_000)
    assert any(n.endswith("社区") for n in visible_texts(page, "#map .map-label-community"))
    page.evaluate(f"CivicMap.maps[0].setView([{lat}, {lon}], 17.5)")
    page.wait_for_function("() => Number(document.querySelector('#map').dataset.buildings) > 0")
    page.wait_for_selector("#map .map-label-building", timeout=10_000)
    buildings = visible_texts(page, "#map .map-label-building")
    assert any(address.endswith(name) for name in buildings), (address, buildings)
    assert visible_texts(page, "#map .map-label-grid")
    assert any(r.endswith(("路", "街", "巷")) for r in visible_texts(page, "#map .map-label-road"))
    assert page.locator("#map .leaflet-civicBase-pane path").count() > 3
    no_sideways_scrolling(page)


def test_the_resident_sees_her_pin_on_the_map_and_the_address_it_is_at(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
) -> None:
    page = browser_tab
    address, lat, lon = a_building(server)
    page.set_viewport_size(PHONE)
    page.context.set_geolocation({"latitude": lat, "longitude": lon})
    page.goto(server.url + "/report")
    form = page.locator("#resident-report")
    form.locator("textarea[name=description]").fill("楼下的路灯坏了，晚上很黑")
    form.locator("[data-step='1'] .step-next").click()
    picker = form.locator("[data-place-picker]")
    page.wait_for_selector(".mini-map[data-ready='true']", timeout=20_000)
    page.wait_for_timeout(800)  # the map's zoom to the city ends (Leaflet's animation)
    form.locator("button.gps").click()
    # The pin, on the map over the named community, the road and the buildings...
    page.wait_for_selector(".mini-map .leaflet-marker-icon", timeout=10_000)
    page.wait_for_function(
        "() => Number(document.querySelector('.mini-map').dataset.buildings) > 0", timeout=10_000
    )
    assert int(page.locator(".mini-map").get_attribute("data-area-labels") or 0) > 0
    assert picker.locator(".leaflet-civicBase-pane path").count() > 3
    # ...and in words: the building it is in.
    place = picker.locator(".place-address")
    place.wait_for(state="visible", timeout=10_000)
    assert address in place.inner_text()
    assert picker.locator(".place-status").inner_text().strip()  # the grid, named
    no_sideways_scrolling(page)

    # A tap beside the estate names the nearest door, with how far it is.
    page.evaluate(
        "() => { const m = CivicMap.maps[CivicMap.maps.length - 1];"
        f" m.fire('click', {{latlng: L.latLng({lat} + 0.0006, {lon})}}); }}"
    )
    page.wait_for_function(
        "() => document.querySelector('.place-address').textContent.includes('米')",
        timeout=10_000,
    )
    assert "最近的地址" in place.inner_text()


def test_the_pages_datum_shift_gives_the_published_gcj02_values(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
) -> None:
    page = browser_tab
    page.goto(server.url + "/")
    shifted = page.evaluate("CivicMap.wgs84ToGcj02(39.915, 116.404)")
    assert shifted[0] == pytest.approx(39.916404281501065, abs=1e-9)
    assert shifted[1] == pytest.approx(116.41024449916938, abs=1e-9)
    back = page.evaluate("CivicMap.gcj02ToWgs84(39.916404281501065, 116.41024449916938)")
    assert back == pytest.approx([39.915, 116.404], abs=1e-7)
