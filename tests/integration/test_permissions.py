"""Every route declares who may call it; a route without a rule fails this test."""

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from civicgrid.app import ROUTERS, create_app
from civicgrid.core.http import Caller
from tests.conftest import City


def callers_of(route: APIRoute) -> list[Caller]:
    found: list[Caller] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Caller):
            found.append(dependency.call)
        stack.extend(dependency.dependencies)
    return found


def test_every_route_declares_exactly_one_permission_rule(city: City) -> None:
    app = create_app(city.platform)
    everything = [*app.routes, *(route for router in ROUTERS for route in router.routes)]
    routes = [r for r in everything if isinstance(r, APIRoute)]
    assert len(routes) > 10
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if len(callers_of(r)) != 1]
    assert missing == []


def test_anonymous_callers_are_asked_to_log_in(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/departments")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_resident_may_not_register_departments(city_client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    response = city_client.post(
        "/api/v1/departments",
        json={"code": "X", "name": "x", "level": "city", "area_code": "990100"},
        headers=auth("resident") | {"Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "The role 'resident' may not do this"


def test_an_admin_registers_a_non_government_unit_and_duplicates_conflict(
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    body = {
        "code": "990100-VOL-T",
        "name": "蓝天志愿服务队",
        "level": "city",
        "area_code": "990100",
        "kind": "volunteer_team",
    }
    created = city_client.post("/api/v1/departments", json=body, headers=auth("admin"))
    assert created.status_code == 201
    assert created.json()["kind"] == "volunteer_team"
    again = city_client.post("/api/v1/departments", json=body, headers=auth("admin"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "department_exists")


def test_a_missing_field_is_named(city_client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    response = city_client.post("/api/v1/departments", json={"code": "Y"}, headers=auth("admin"))
    assert response.status_code == 422
    assert "body.name" in response.json()["error"]["message"]
