"""Text as clients send it (core.textinput): raw UTF-8 in a form body or a query string is
read as UTF-8, as browsers' escaped forms are; text no database can store (NUL, a lone
surrogate) is a 422 naming its field wherever it comes, never a server error on
PostgreSQL."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from civicgrid.accounts.services import add_api_key
from civicgrid.app import create_app
from civicgrid.bootstrap import build_platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Role
from civicgrid.core.textinput import Utf8Forms
from tests.conftest import City, settings_for

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
_keys: dict[int, str] = {}


@pytest.fixture
def open311_key(city: City) -> str:
    if id(city) not in _keys:
        with UnitOfWork(city.platform.session_factory) as uow:
            _keys[id(city)] = add_api_key(uow, SYSTEM, "open311-curl")
    return _keys[id(city)]


def _point(city: City) -> tuple[float, float]:
    point = city.area(city.grids()[1]).geometry.representative_point()
    return point.y, point.x


def test_a_raw_utf8_form_body_is_stored_as_sent(
    city: City, city_client: TestClient, open311_key: str, auth: Any
) -> None:
    """The README's own `curl -d description=路面塌陷`: curl sends the bytes unescaped."""
    lat, lon = _point(city)
    body = (
        f"api_key={open311_key}&service_code=FA01&lat={lat}&long={lon}"
        "&description=路面塌陷&attribute[size]=large"
    )
    response = city_client.post(
        "/open311/v2/requests.json", content=body.encode("utf-8"), headers=FORM
    )
    assert response.status_code == 200, response.text
    case_id = response.json()[0]["service_request_id"]
    case = city_client.get(f"/api/v1/cases/{case_id}", headers=auth("admin")).json()
    assert case["description"] == "路面塌陷"


def test_the_track_form_reads_raw_utf8(city_client: TestClient) -> None:
    page = city_client.post("/track", content="number=一二三&phone=138".encode(), headers=FORM)
    assert 'value="一二三"' in page.text


def test_raw_utf8_in_a_query_string_is_read_as_utf8() -> None:
    """Clients that send the query's bytes unescaped (percent-escaped ones are untouched)."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"q": request.query_params.get("q")})

    app = Utf8Forms(Starlette(routes=[Route("/", echo)]))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for query in ("q=路面&x=1".encode(), b"q=%E8%B7%AF%E9%9D%A2&x=1"):
        sent.clear()
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "raw_path": b"/",
            "query_string": query,
            "headers": [],
        }
        anyio.run(app, scope, receive, send)
        assert sent[-1]["body"] == '{"q":"路面"}'.encode()


# ------------------------------------------------------------------ what cannot be stored


def _message(response: Any) -> str:
    message: str = response.json()["error"]["message"]
    return message


def test_a_nul_in_a_query_or_path_parameter_is_a_422_naming_it(
    city_client: TestClient, auth: Any
) -> None:
    cases = city_client.get("/api/v1/cases?q=a%00b", headers=auth("admin"))
    assert cases.status_code == 422
    assert _message(cases).startswith("query.q:")
    area = city_client.get("/api/v1/areas/99%00", headers=auth("admin"))
    assert area.status_code == 422
    assert _message(area).startswith("path.code:")
    english = city_client.get("/api/v1/transparency/summary?area=%00&lang=en")
    assert english.status_code == 422
    assert "cannot be stored" in _message(english)


@pytest.mark.parametrize(
    "text", ['"a\\u0000b"', '"\\ud800"', '"\\uDFFF x"'], ids=["nul", "surrogate", "low"]
)
def test_a_json_string_that_cannot_be_stored_is_a_422_naming_its_place(
    city: City, city_client: TestClient, auth: Any, text: str
) -> None:
    resident = auth(city.username_of(Role.RESIDENT))
    body = '{"category": "FA01", "title": "t", "lat": 1, "lon": 1, "description": ' + text + "}"
    response = city_client.post(
        "/api/v1/cases",
        content=body.encode(),
        headers={**resident, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert _message(response).startswith("body.description:")
    listed = city_client.put(
        "/api/v1/categories",
        content=('[{"code": "A", "name": "x"}, {"code": "B", "name": ' + text + "}]").encode(),
        headers={**auth("admin"), "Content-Type": "application/json"},
    )
    assert listed.status_code == 422
    assert _message(listed).startswith("body.1.name:")


def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    city: City, city_client: TestClient, auth: Any
) -> None:
    """'\\\\u0000' in JSON is a backslash and 'u0000', which is storable."""
    response = city_client.get("/api/v1/cases", params={"q": "\\u0000"}, headers=auth("admin"))
    assert response.status_code == 200


def test_a_nul_in_a_form_is_a_422_or_the_specs_400_naming_the_field(
    city: City, city_client: TestClient, open311_key: str
) -> None:
    lat, lon = _point(city)
    fields = {
        "api_key": open311_key,
        "service_code": "FA01",
        "lat": f"{lat}",
        "long": f"{lon}",
        "description": "坑\x00",
    }
    encoded = city_client.post("/open311/v2/requests.json", data=fields)
    assert encoded.status_code == 400
    assert encoded.json()[0]["description"].startswith("body.description:")
    multipart = city_client.post(
        "/open311/v2/requests.json",
        data=fields,
        files={"media": ("a.txt", b"\x00\x01", "text/plain")},
    )
    assert multipart.status_code == 400
    assert multipart.json()[0]["description"].startswith("body.description:")
    page = city_client.post("/track", data={"number": "1\x00", "phone": "138"})
    assert page.status_code == 422


def test_a_body_is_limited_by_its_bytes_as_sent_not_as_escaped(city: City) -> None:
    """Escaping raw UTF-8 triples its bytes; the body limit counts them as they came."""
    settings = settings_for(city.platform.settings.database_url).model_copy(
        update={"max_request_mb": 0.01}
    )
    small = build_platform(settings)
    body = ("number=" + "一" * 1700 + "&phone=138").encode()  # 5 KB sent, 15 KB escaped
    assert len(body) < 0.01 * 1024 * 1024 < 3 * len(body)
    with TestClient(create_app(small)) as client:
        page = client.post("/track", content=body, headers=FORM)
        assert page.status_code == 422  # read whole: not a case number
        assert "一" * 1700 in page.text
        too_big = client.post("/track", content=body * 3, headers=FORM)
        assert too_big.status_code == 413
    small.engine.dispose()
