from fastapi.testclient import TestClient


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
