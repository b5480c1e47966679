from fastapi.testclient import TestClient
from shapely.geometry import Point

from tests.conftest import City


def test_a_point_in_the_city_is_located_in_one_grid_with_its_ancestors(
    city: City, city_client: TestClient
) -> None:
    grid = next(a for a in city.plan.areas if a.level.value == "grid")
    inside = grid.geometry.representative_point()
    body = city_client.get(f"/api/v1/areas/locate?lat={inside.y}&lon={inside.x}").json()
    assert body["grid"]["code"] == grid.code
    assert [a["level"] for a in body["ancestors"]] == ["city", "district", "street", "community"]
    assert body["ancestors"][-1]["code"] == grid.parent_code


def test_every_grid_locates_its_own_interior_points(city: City, city_client: TestClient) -> None:
    for grid in city.plan.areas:
        if grid.level.value != "grid":
            continue
        p = grid.geometry.representative_point()
        code = city_client.get(f"/api/v1/areas/locate?lat={p.y}&lon={p.x}").json()["grid"]["code"]
        assert code == grid.code


def test_a_point_outside_the_city_gets_a_clear_answer(city_client: TestClient) -> None:
    response = city_client.get(
        "/api/v1/areas/locate?lat=10&lon=10", headers={"Accept-Language": "en"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "outside_city"
    assert "outside every grid" in response.json()["error"]["message"]


def test_swapped_coordinates_are_recognised(city: City, city_client: TestClient) -> None:
    p: Point = city.plan.areas[0].geometry.representative_point()
    response = city_client.get(f"/api/v1/areas/locate?lat={p.x}&lon={p.y}")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "lat_lon_swapped"


def test_out_of_range_coordinates_are_refused(city_client: TestClient) -> None:
    for query, code in [
        ("lat=91&lon=0", "lat_out_of_range"),
        ("lat=0&lon=181", "lon_out_of_range"),
    ]:
        response = city_client.get(f"/api/v1/areas/locate?{query}")
        assert (response.status_code, response.json()["error"]["code"]) == (422, code)


def test_a_non_number_names_the_field(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/areas/locate?lat=north&lon=1")
    assert response.status_code == 422
    assert "query.lat" in response.json()["error"]["message"]
