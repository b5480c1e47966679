from datetime import timedelta

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from civicgrid.cli import app as cli
from civicgrid.core.security import issue_token
from tests.conftest import TEST_SECRET, City


def test_a_user_logs_in_with_the_password_flow(city: City, city_client: TestClient) -> None:
    response = city_client.post(
        "/api/v1/auth/token", data={"username": "cadre", "password": city.password("cadre")}
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = city_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["role"] == "cadre"
    cadre = next(c for c in city.summary.credentials if c.username == "cadre")
    assert me.json()["area_code"] == cadre.scope


def test_a_wrong_password_is_refused_with_a_translated_message(city_client: TestClient) -> None:
    response = city_client.post(
        "/api/v1/auth/token",
        data={"username": "cadre", "password": "not-the-password"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "wrong_credentials",
        "message": "Wrong username or password",
    }


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(
    city_client: TestClient,
) -> None:
    response = city_client.post("/api/v1/auth/token", data={"username": "x", "password": "y"})
    assert response.json()["error"]["code"] == "wrong_credentials"


def test_an_expired_token_is_refused(city_client: TestClient) -> None:
    token, _ = issue_token("cadre", TEST_SECRET, timedelta(seconds=-5))
    response = city_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"
    assert response.json()["error"]["message"] == "登录已过期，请重新登录"


def test_a_forged_token_is_refused(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_invalid")


def test_a_department_api_key_from_the_cli_authenticates(
    city: City, city_client: TestClient
) -> None:
    url = city.platform.settings.database_url
    result = CliRunner().invoke(
        cli, ["apikey", "add", "housing-sync", "--department", "990101-ZJJ", "--db", url]
    )
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert key.startswith("cg_")
    me = city_client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()
    assert me["role"] == "api_client"
    assert me["department_code"] == "990101-ZJJ"
    bearer = city_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert bearer.json()["role"] == "api_client"


def test_a_wrong_api_key_is_refused(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/auth/me", headers={"X-API-Key": "cg_wrong"})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "api_key_invalid")
