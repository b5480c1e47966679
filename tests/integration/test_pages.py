"""The map page, the area panel, login and the language switch."""

import pytest
from fastapi.testclient import TestClient

from civicgrid.core.permissions import Role
from tests.conftest import City


def test_the_home_page_shows_the_city_map_in_chinese(city: City, city_client: TestClient) -> None:
    page = city_client.get("/")
    assert page.status_code == 200
    assert 'id="map"' in page.text
    assert city.plan.name in page.text
    assert "登录" in page.text
    assert "/static/vendor/leaflet/leaflet.js" in page.text


def test_the_language_switch_turns_the_pages_to_english(browser: TestClient) -> None:
    switched = browser.get("/lang/en?next=/", follow_redirects=False)
    assert switched.status_code == 303
    page = browser.get("/")
    assert "Log in" in page.text and "Whole city" in page.text


def test_a_wrong_password_on_the_login_page_says_so(city_client: TestClient) -> None:
    page = city_client.post("/login", data={"username": "cadre", "password": "nope-nope"})
    assert page.status_code == 401
    assert "用户名或密码错误" in page.text


def test_logging_in_keeps_a_cookie_and_shows_the_scope(city: City, browser: TestClient) -> None:
    response = browser.post(
        "/login",
        data={"username": "cadre", "password": city.password("cadre"), "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert "civicgrid_token" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]
    page = browser.get("/")
    street = next(c.scope for c in city.summary.credentials if c.username == "cadre")
    street_name = next(a.name for a in city.plan.areas if a.code == street)
    assert f"管辖范围：{street_name}" in page.text
    geojson = browser.get("/api/v1/areas/geojson").json()
    own = {f["properties"]["code"] for f in geojson["features"] if not f["properties"]["context"]}
    assert all(code.startswith(street) for code in own)


def test_the_login_form_never_redirects_off_site(city: City, browser: TestClient) -> None:
    response = browser.post(
        "/login",
        data={
            "username": "cadre",
            "password": city.password("cadre"),
            "next": "https://evil.example",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/command"  # the cadre's own landing page


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.DISPATCHER, "/dispatch"),
        (Role.HANDLER, "/inbox"),
        (Role.GRID_WORKER, "/grid"),
        (Role.LEADER, "/command"),
        (Role.CADRE, "/command"),
        (Role.DATA_ADMIN, "/registry"),
        (Role.ADMIN, "/admin/rules"),
        (Role.RESIDENT, "/"),
    ],
)
def test_staff_land_on_their_daily_work_after_logging_in(
    city: City, browser: TestClient, role: Role, landing: str
) -> None:
    username = city.username_of(role)
    response = browser.post(
        "/login",
        data={"username": username, "password": city.password(username)},
        follow_redirects=False,
    )
    assert response.headers["location"] == landing
    assert browser.get(landing).status_code == 200


def test_a_login_that_asked_for_a_page_goes_there(city: City, browser: TestClient) -> None:
    username = city.username_of(Role.DISPATCHER)
    response = browser.post(
        "/login",
        data={"username": username, "password": city.password(username), "next": "/warnings"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/warnings"


def test_the_language_switch_keeps_the_page_and_its_filters(browser: TestClient) -> None:
    page = browser.get("/transparency?days=30&category=x")
    assert "/lang/en?next=/transparency%3Fdays%3D30%26category%3Dx" in page.text
    switched = browser.get(
        "/lang/en", params={"next": "/transparency?days=30&category=x"}, follow_redirects=False
    )
    assert switched.headers["location"] == "/transparency?days=30&category=x"
    assert '<script src="/static/lang.js" defer></script>' in page.text


def test_the_grid_panel_shows_code_name_worker_and_counts(
    city: City, city_client: TestClient
) -> None:
    worker = city.plan.workers[0]
    panel = city_client.get(f"/partials/area/{worker.grid_code}")
    assert panel.status_code == 200
    assert worker.grid_code in panel.text
    assert worker.display_name[0] + "*" in panel.text
    assert "网格员" in panel.text


def test_the_panel_of_an_unknown_area_says_so(city_client: TestClient) -> None:
    panel = city_client.get("/partials/area/NOPE")
    assert panel.status_code == 404
    assert "区域编码 NOPE 不存在" in panel.text


def test_search_finds_areas_by_name(city: City, city_client: TestClient) -> None:
    district = next(a for a in city.plan.areas if a.level.value == "district")
    found = city_client.get("/partials/search", params={"q": district.name})
    assert district.code in found.text


def test_a_stale_cookie_falls_back_to_the_public_view(browser: TestClient) -> None:
    browser.cookies.set("civicgrid_token", "stale")
    page = browser.get("/")
    assert page.status_code == 200


def test_a_grid_worker_sees_the_city_name_and_no_counts_above_her_grid(
    city: City, browser: TestClient
) -> None:
    worker = city.plan.workers[0]
    browser.post(
        "/login", data={"username": worker.username, "password": city.password(worker.username)}
    )
    page = browser.get("/")
    assert city.plan.name in page.text
    assert 'class="counts"' in page.text
    assert '<span class="label">区</span>' not in page.text


def test_an_empty_platform_explains_how_to_get_areas(scratch_client: TestClient) -> None:
    page = scratch_client.get("/")
    assert "civicgrid demo" in page.text


def test_a_page_refused_to_a_role_is_a_page_not_json(city: City, browser: TestClient) -> None:
    browser.post("/login", data={"username": "resident", "password": city.password("resident")})
    page = browser.get("/dispatch", headers={"Accept": "text/html"})
    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")
    assert "无法打开此页面" in page.text and "居民" in page.text
    api = browser.get("/api/v1/departments")
    assert api.headers["content-type"].startswith("application/json")
