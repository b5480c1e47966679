"""Area scope is enforced by the services: what each persona can see of the city."""

from fastapi.testclient import TestClient

from tests.conftest import City


def codes(response_json: dict) -> set[str]:  # type: ignore[type-arg]
    return {item["code"] for item in response_json["items"]}


def test_a_grid_worker_sees_only_her_grid(city: City, city_client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    worker = city.plan.workers[0]
    listed = city_client.get("/api/v1/areas?page_size=500", headers=auth(worker.username)).json()
    assert codes(listed) == {worker.grid_code}
    mapped = city_client.get("/api/v1/areas/geojson", headers=auth(worker.username)).json()
    own = [f["properties"]["code"] for f in mapped["features"] if not f["properties"]["context"]]
    assert own == [worker.grid_code]
    context = {f["properties"]["level"] for f in mapped["features"] if f["properties"]["context"]}
    assert context == {"district", "street", "community"}


def test_a_street_cadre_sees_its_communities_and_grids_only(
    city: City,
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    street = next(c.scope for c in city.summary.credentials if c.username == "cadre")
    listed = city_client.get("/api/v1/areas?page_size=500", headers=auth("cadre")).json()
    expected = {a.code for a in city.plan.areas if a.code.startswith(street)}
    assert codes(listed) == expected
    assert listed["total"] == len(expected) == 1 + 2 + 2 * 3


def test_staff_cannot_open_areas_outside_their_scope(
    city: City,
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    other_grid = city.plan.workers[-1].grid_code
    response = city_client.get(f"/api/v1/areas/{other_grid}", headers=auth("cadre"))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden_area")


def test_the_public_sees_every_boundary_but_worker_names_are_masked(
    city: City, city_client: TestClient
) -> None:
    worker = city.plan.workers[0]
    detail = city_client.get(f"/api/v1/areas/{worker.grid_code}").json()
    assert detail["full_view"] is False
    assert detail["workers"] == [
        {
            "username": "",
            "name": worker.display_name[0] + "*" * (len(worker.display_name) - 1),
            "phone": "",
        }
    ]
    listed = city_client.get("/api/v1/areas?level=grid&page_size=1").json()
    assert listed["total"] == len(city.grids())


def test_a_grid_worker_sees_her_own_grid_in_full(
    city: City,
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    worker = city.plan.workers[0]
    detail = city_client.get(f"/api/v1/areas/{worker.grid_code}", headers=auth(worker.username))
    body = detail.json()
    assert body["full_view"] is True
    assert body["workers"][0]["name"] == worker.display_name
    assert body["workers"][0]["phone"] == worker.phone
    assert [a["level"] for a in body["ancestors"]] == ["city", "district", "street", "community"]


def test_the_community_above_a_grid_worker_is_shown_as_context_only(
    city: City,
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    worker = city.plan.workers[0]
    community = worker.grid_code[:-3]
    detail = city_client.get(f"/api/v1/areas/{community}", headers=auth(worker.username)).json()
    assert detail["full_view"] is False


def test_departments_listed_are_those_in_and_above_the_callers_area(
    city: City,
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    street = next(c.scope for c in city.summary.credentials if c.username == "cadre")
    units = city_client.get("/api/v1/departments", headers=auth("cadre")).json()
    street_path = next(a.path for a in city.plan.areas if a.code == street)
    allowed = {
        a.code
        for a in city.plan.areas
        if a.path.startswith(street_path) or street_path.startswith(a.path)
    }
    assert {u["area_code"] for u in units} <= allowed
    assert {"city", "district", "street", "community"} <= {u["level"] for u in units}
