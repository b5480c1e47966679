from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from civicgrid.app import ROUTERS
from civicgrid.core.http import ApiRouter


def test_health_answers_ok(city_client: TestClient) -> None:
    response = city_client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_describes_the_api(city_client: TestClient) -> None:
    paths = city_client.get("/openapi.json").json()["paths"]
    assert "/api/v1/areas/locate" in paths and "/api/v1/auth/token" in paths


def test_unknown_paths_get_a_json_error(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No such address: /api/v1/nothing-here",
    }


def test_errors_are_in_chinese_by_default(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/areas/NOPE")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "区域编码 NOPE 不存在"


def test_api_routers_pass_over_paths_outside_their_prefix(city_client: TestClient) -> None:
    # Every API router says "no match" at once for a path outside its prefix, so a request
    # is matched against its own router's routes only; within the prefix nothing changes.
    prefixed = [r for r in ROUTERS if r.prefix]
    assert prefixed and all(isinstance(r, ApiRouter) for r in prefixed)
    app = FastAPI()
    router = ApiRouter(prefix="/api/v1/things")

    @router.get("/{thing_id}")
    def thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app.include_router(router)
    scope = {"type": "http", "method": "GET", "path": "/api/v1/other/1", "root_path": ""}
    assert router.matches(scope) == (Match.NONE, {})
    client = TestClient(app)
    assert client.get("/api/v1/things/7").json() == {"id": 7}
    assert client.get("/api/v1/other/7").status_code == 404
    assert client.post("/api/v1/things/7").status_code == 405
    # And in the platform: a route found (it asks who is calling), a method not allowed.
    assert city_client.get("/api/v1/exchange/datasets/1/rows").status_code == 401
    assert city_client.delete("/health").status_code == 405
