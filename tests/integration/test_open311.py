"""Open311 GeoReport v2 as an Open311 client sees it, on SQLite and PostgreSQL: discovery,
services and definitions, posting requests, tokens, reading requests back, in JSON and XML,
every answer checked against JSON schemas written from the spec (XML by parsing it), and
every error path of the spec."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator, FormatChecker
from typer.testing import CliRunner

from civicgrid.accounts.services import NewUser, add_api_key, add_user
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.cases.domain import Category
from civicgrid.cases.services import replace_categories
from civicgrid.cases.taxonomy import DEFAULT_CATEGORIES, parse_categories
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.cases import demo_photo
from civicgrid.open311.repository import Open311Repository
from tests.conftest import City

# ------------------------------------------------------------------ the spec as JSON schemas

CHECKER = FormatChecker()


@CHECKER.checks("date-time", raises=ValueError)
def _w3c_datetime(value: object) -> bool:
    """The spec's datetimes: ISO 8601 with a zone (Z or an offset)."""
    if not isinstance(value, str):
        return True
    return datetime.fromisoformat(value).tzinfo is not None


@CHECKER.checks("uri")
def _uri(value: object) -> bool:
    return not isinstance(value, str) or bool(urlsplit(value).scheme and urlsplit(value).netloc)


def text_or_null(**extra: Any) -> dict[str, Any]:
    return {"anyOf": [{"type": "string", **extra}, {"type": "null"}]}


SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": text_or_null(),
        "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": text_or_null(),
        "group": text_or_null(),
    },
    "additionalProperties": False,
}
SERVICES = {"type": "array", "items": SERVICE}
DEFINITION = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variable", "code", "datatype", "required", "order", "description"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {
                        "enum": [
                            "string",
                            "number",
                            "datetime",
                            "text",
                            "singlevaluelist",
                            "multivaluelist",
                        ]
                    },
                    "required": {"type": "boolean"},
                    "datatype_description": text_or_null(),
                    "order": {"type": "integer", "minimum": 1},
                    "description": {"type": "string"},
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "name"],
                            "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"enum": ["open", "closed"]},
        "status_notes": text_or_null(),
        "service_name": text_or_null(),
        "service_code": {"type": "string"},
        "description": text_or_null(maxLength=4000),
        "agency_responsible": text_or_null(),
        "service_notice": text_or_null(),
        "requested_datetime": {"type": "string", "format": "date-time"},
        "updated_datetime": text_or_null(format="date-time"),
        "expected_datetime": text_or_null(format="date-time"),
        "address": text_or_null(),
        "address_id": text_or_null(),
        "zipcode": text_or_null(),
        "lat": {"type": ["number", "null"]},
        "long": {"type": ["number", "null"]},
        "media_url": text_or_null(format="uri"),
    },
    "additionalProperties": False,
}
REQUESTS = {"type": "array", "items": REQUEST}
RECEIPT = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        # The spec: service_request_id or, when the number comes later, a token; never both.
        "oneOf": [{"required": ["service_request_id"]}, {"required": ["token"]}],
        "properties": {
            "service_request_id": {"type": "string"},
            "token": {"type": "string"},
            "service_notice": text_or_null(),
            "account_id": text_or_null(),
        },
        "additionalProperties": False,
    },
}
TOKEN = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}},
        "additionalProperties": False,
    },
}
DISCOVERY = {
    "type": "object",
    "required": ["changeset", "contact", "key_service", "endpoints"],
    "properties": {
        "changeset": {"type": "string"},
        "contact": {"type": "string"},
        "key_service": {"type": "string"},
        "endpoints": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["specification", "url", "changeset", "type", "formats"],
                "properties": {
                    "specification": {"type": "string", "format": "uri"},
                    "url": {"type": "string", "format": "uri"},
                    "changeset": {"type": "string"},
                    "type": {"enum": ["production", "test"]},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "additionalProperties": False,
    },
}


def valid(schema: dict[str, Any], response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of RESPONSE, checked against SCHEMA and its media type and status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    data = response.json()
    Draft202012Validator(schema, format_checker=CHECKER).validate(data)
    return data


def xml_of(response: httpx.Response, root: str, status: int = 200) -> ET.Element:
    """The XML body of RESPONSE, parsed; its root element must be ROOT."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    element = ET.fromstring(response.content)
    assert element.tag == root
    return element


def fields_of(element: ET.Element) -> list[str]:
    return [child.tag for child in element]


def spec_error(response: httpx.Response, status: int) -> list[str]:
    """The descriptions of a spec error answer (JSON or XML) with STATUS."""
    if response.headers["content-type"].startswith("text/xml"):
        root = xml_of(response, "errors", status)
        errors = root.findall("error")
        assert errors and all(fields_of(e) == ["code", "description"] for e in errors)
        assert {e.findtext("code") for e in errors} == {str(status)}
        return [e.findtext("description") or "" for e in errors]
    items = valid(ERRORS, response, status)
    assert {item["code"] for item in items} == {status}
    return [item["description"] for item in items]


# ------------------------------------------------------------------ fixtures

_keys: dict[int, str] = {}


@pytest.fixture
def api_key(city: City) -> str:
    """The key of a department system posting Open311 requests (created on first use)."""
    if id(city) not in _keys:
        with UnitOfWork(city.platform.session_factory) as uow:
            _keys[id(city)] = add_api_key(uow, SYSTEM, "open311-app")
    return _keys[id(city)]


def point_of(city: City, index: int = 0) -> tuple[float, float]:
    grid = city.area(city.grids()[index])
    point = grid.geometry.representative_point()
    return point.y, point.x


def post(
    client: TestClient,
    fmt: str,
    data: dict[str, Any],
    files: Any = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(f"/open311/v2/requests.{fmt}", data=data, files=files, headers=headers)


def pothole(city: City, api_key: str, **fields: Any) -> dict[str, Any]:
    lat, lon = point_of(city)
    return {
        "api_key": api_key,
        "service_code": "FA01",
        "lat": f"{lat}",
        "long": f"{lon}",
        "description": "路口有一个大坑，电动车差点摔倒",
        "attribute[size]": "large",
        **fields,
    }


def submit(client: TestClient, data: dict[str, Any]) -> dict[str, Any]:
    receipt: dict[str, Any] = valid(RECEIPT, post(client, "json", data))[0]
    return receipt


# ------------------------------------------------------------------ discovery


def test_discovery_names_the_v2_endpoint_without_a_trailing_slash(
    city_client: TestClient,
) -> None:
    document = valid(DISCOVERY, city_client.get("/open311/discovery.json"))
    (endpoint,) = document["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert (endpoint["type"], endpoint["formats"]) == (
        "production",
        ["text/xml", "application/json"],
    )
    root = xml_of(city_client.get("/open311/discovery.xml"), "discovery")
    assert fields_of(root) == ["changeset", "contact", "key_service", "endpoints"]
    xml_endpoint = root.find("endpoints/endpoint")
    assert xml_endpoint is not None
    assert fields_of(xml_endpoint) == ["specification", "url", "changeset", "type", "formats"]
    assert [f.text for f in xml_endpoint.findall("formats/format")] == [
        "text/xml",
        "application/json",
    ]


def test_a_client_joining_the_url_with_a_slash_is_understood(city_client: TestClient) -> None:
    url = city_client.get("/open311/discovery.json").json()["endpoints"][0]["url"]
    path = urlsplit(url).path
    assert valid(SERVICES, city_client.get(f"{path}//services.json"))
    assert valid(DEFINITION, city_client.get(f"{path}//services/FA01.json"))


# ------------------------------------------------------------------ services


def leaf_categories(city: City) -> dict[str, Category]:
    with UnitOfWork(city.platform.session_factory) as uow:
        found = city.platform.cases.routing.fresh(uow).categories
    return {c.code: c for c in found.values() if c.parent_code is not None and c.active}


def test_every_category_is_a_service_with_its_group(city: City, city_client: TestClient) -> None:
    services = valid(SERVICES, city_client.get("/open311/v2/services.json"))
    leaves = leaf_categories(city)
    assert {s["service_code"] for s in services} == set(leaves)
    pothole = next(s for s in services if s["service_code"] == "FA01")
    assert pothole == {
        "service_code": "FA01",
        "service_name": "道路破损",
        "description": leaves["FA01"].description,
        "metadata": True,
        "type": "realtime",
        "keywords": "坑洼, 路面破损, 塌陷, 道路, 裂缝",
        "group": "市政设施",
    }
    assert next(s for s in services if s["service_code"] == "CN01")["metadata"] is False


def test_services_speak_english_when_asked(city_client: TestClient) -> None:
    by_query = valid(SERVICES, city_client.get("/open311/v2/services.json?locale=en"))
    by_header = city_client.get(
        "/open311/v2/services.json", headers={"Accept-Language": "en-US,en;q=0.9"}
    ).json()
    assert by_query == by_header
    pothole = next(s for s in by_query if s["service_code"] == "FA01")
    assert (pothole["service_name"], pothole["group"]) == ("Damaged road", "Municipal facilities")


def test_services_in_xml(city: City, city_client: TestClient) -> None:
    root = xml_of(city_client.get("/open311/v2/services.xml"), "services")
    services = root.findall("service")
    assert len(services) == len(leaf_categories(city))
    first = services[0]
    assert fields_of(first) == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert first.findtext("metadata") in ("true", "false") and first.findtext("type") == "realtime"


def test_a_service_definition_lists_its_attributes_in_order(city_client: TestClient) -> None:
    definition = valid(DEFINITION, city_client.get("/open311/v2/services/FA01.json"))
    assert definition["service_code"] == "FA01"
    assert [a["code"] for a in definition["attributes"]] == ["size", "depth_cm", "hazard"]
    size = definition["attributes"][0]
    assert (size["datatype"], size["required"], size["order"]) == ("singlevaluelist", True, 1)
    assert size["values"][0] == {"key": "small", "name": "小于 30 厘米"}
    english = city_client.get("/open311/v2/services/FA01.json?locale=en").json()
    assert english["attributes"][0]["description"] == "How big is the damage?"
    assert english["attributes"][0]["values"][0]["name"] == "Under 30 cm"
    informs = city_client.get("/open311/v2/services/FA02.json").json()["attributes"][0]
    assert (informs["code"], informs["variable"]) == ("warning", False)


def test_a_service_definition_in_xml(city_client: TestClient) -> None:
    root = xml_of(city_client.get("/open311/v2/services/SO03.xml"), "service_definition")
    assert fields_of(root) == ["service_code", "attributes"]
    attributes = root.findall("attributes/attribute")
    assert [a.findtext("code") for a in attributes] == ["plate", "blocking", "since"]
    assert fields_of(attributes[1]) == [
        "variable",
        "code",
        "datatype",
        "required",
        "datatype_description",
        "order",
        "description",
        "values",
    ]
    assert [v.findtext("key") for v in attributes[1].findall("values/value")] == [
        "fire_lane",
        "driveway",
        "sidewalk",
        "bus_stop",
    ]
    assert attributes[0].find("values") is not None and not attributes[0].findall("values/value")


@pytest.mark.parametrize("code", ["NOPE", "FA"])  # unknown, and a level-1 group
def test_an_unknown_service_is_404(city_client: TestClient, code: str) -> None:
    for fmt in ("json", "xml"):
        response = city_client.get(f"/open311/v2/services/{code}.{fmt}")
        assert code in spec_error(response, 404)[0]


# ------------------------------------------------------------------ posting requests


def test_a_posted_request_is_a_case_with_its_number_at_once(
    city: City, city_client: TestClient, api_key: str, auth: Any
) -> None:
    data = pothole(
        city,
        api_key,
        **{
            "attribute[hazard][]": ["vehicles", "cyclists"],
            "attribute[depth_cm]": "12",
            "account_id": "acct-778",
            "media_url": "https://photos.example.org/pothole/1.jpg",
        },
    )
    receipt = submit(city_client, data)
    assert receipt["account_id"] == "acct-778"
    assert receipt["service_notice"] and "token" not in receipt
    case_id = int(receipt["service_request_id"])
    case = city_client.get(f"/api/v1/cases/{case_id}", headers=auth("admin")).json()
    assert (case["channel"], case["category"], case["status"]) == ("open311", "FA01", "reported")
    assert case["description"] == data["description"]
    assert case["timeline"][0]["action"] == "report"
    with UnitOfWork(city.platform.session_factory) as uow:
        answers = Open311Repository(uow.session).answers(case_id)
        assert sorted((a.code, a.value) for a in answers) == [
            ("depth_cm", "12"),
            ("hazard", "cyclists"),
            ("hazard", "vehicles"),
            ("size", "large"),
        ]
        (record,) = Open311Repository(uow.session).records_for([case_id]).values()
        token_of_request = record.token
    # A token handed out before answers were the number alone still leads to it.
    token = valid(TOKEN, city_client.get(f"/open311/v2/tokens/{token_of_request}.json"))
    assert token == [{"service_request_id": str(case_id), "token": token_of_request}]
    tokens = city_client.get(f"/open311/v2/tokens/{token_of_request}.xml")
    root = xml_of(tokens, "service_requests")
    assert root.findtext("request/service_request_id") == str(case_id)
    assert fields_of(root.findall("request")[0]) == ["service_request_id", "token"]


def test_a_request_reads_back_in_json_and_xml(
    city: City, city_client: TestClient, api_key: str
) -> None:
    data = pothole(city, api_key, media_url="https://photos.example.org/2.jpg")
    case_id = submit(city_client, data)["service_request_id"]
    (request,) = valid(REQUESTS, city_client.get(f"/open311/v2/requests/{case_id}.json"))
    assert request["service_request_id"] == case_id
    assert (request["status"], request["status_notes"]) == ("open", "已上报 Reported")
    assert (request["service_code"], request["service_name"]) == ("FA01", "道路破损")
    assert request["media_url"] == "https://photos.example.org/2.jpg"
    assert (request["lat"], request["long"]) == (float(data["lat"]), float(data["long"]))
    assert request["agency_responsible"] and request["expected_datetime"]
    requested = datetime.fromisoformat(request["requested_datetime"])
    assert abs(requested - datetime.now(UTC)) < timedelta(minutes=5)
    root = xml_of(city_client.get(f"/open311/v2/requests/{case_id}.xml"), "service_requests")
    (element,) = root.findall("request")
    assert fields_of(element) == list(REQUEST["properties"])  # type: ignore[call-overload]
    assert element.findtext("status") == "open" and element.findtext("address_id") == ""


def test_a_request_posted_for_xml_is_answered_in_xml(
    city: City, city_client: TestClient, api_key: str
) -> None:
    root = xml_of(post(city_client, "xml", pothole(city, api_key)), "service_requests")
    (request,) = root.findall("request")
    assert fields_of(request) == ["service_request_id", "service_notice", "account_id"]
    assert (request.findtext("service_request_id") or "").isdigit()


def test_multipart_requests_may_carry_photos(
    city: City, city_client: TestClient, api_key: str, auth: Any
) -> None:
    files = [("media", ("hole.png", demo_photo(), "image/png"))]
    receipt = valid(RECEIPT, post(city_client, "json", pothole(city, api_key), files=files))
    case_id = receipt[0]["service_request_id"]
    case = city_client.get(f"/api/v1/cases/{case_id}", headers=auth("admin")).json()
    assert len(case["timeline"][0]["attachments"]) == 1


def test_a_request_may_be_placed_by_its_address(
    city: City, city_client: TestClient, api_key: str
) -> None:
    grid = city.area(city.grids()[2])
    data = {
        "api_key": api_key,
        "service_code": "CR01",
        "address_string": f"{grid.name}东门",
        "attribute[amount]": "pile",
    }
    case_id = submit(city_client, data)["service_request_id"]
    (request,) = city_client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert request["address"] == f"{grid.name}东门" and request["lat"] is not None


def test_the_api_key_may_come_as_a_header(
    city: City, city_client: TestClient, api_key: str
) -> None:
    data = pothole(city, api_key)
    del data["api_key"]
    response = post(city_client, "json", data, headers={"X-API-Key": api_key})
    assert valid(RECEIPT, response)[0]["service_request_id"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_missing_or_wrong_api_key_is_403(
    city: City, city_client: TestClient, api_key: str, auth: Any, fmt: str
) -> None:
    data = pothole(city, api_key)
    missing = {k: v for k, v in data.items() if k != "api_key"}
    assert "api_key" in spec_error(post(city_client, fmt, missing), 403)[0]
    wrong = post(city_client, fmt, {**data, "api_key": "cg_not-a-real-key"})
    assert spec_error(wrong, 403) == ["无效的 API 密钥"]
    # A person's login is not an API key.
    resident = post(city_client, fmt, missing, headers=auth("resident"))
    assert spec_error(resident, 403)
    english = city_client.post(
        f"/open311/v2/requests.{fmt}", data=missing, headers={"Accept-Language": "en"}
    )
    assert spec_error(english, 403) == ["An API key (api_key) is required to submit a request"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"service_code": None}, ["The parameter service_code is required"]),
        (
            {"lat": None, "long": None},
            ["Give a location: lat and long, address_string or address_id"],
        ),
        ({"long": None}, ["lat and long must be given together"]),
        (
            {"description": "长" * 4001},
            ["The description may have at most 4000 characters; it has 4001"],
        ),
        (
            {"attribute[size]": "huge"},
            [
                "The attribute attribute[size] does not offer 'huge'; "
                "it offers: small, medium, large"
            ],
        ),
        ({"attribute[size]": None}, ["The attribute attribute[size] is required"]),
        (
            {"attribute[hazard][]": ["vehicles", "boats"]},
            [
                "The attribute attribute[hazard] does not offer 'boats'; "
                "it offers: vehicles, cyclists, pedestrians"
            ],
        ),
        (
            {"attribute[depth_cm]": "deep"},
            ["The attribute attribute[depth_cm] must be a number, not 'deep'"],
        ),
        (
            {"attribute[colour]": "red"},
            ["The service has no attribute attribute[colour]; it has: size, depth_cm, hazard"],
        ),
        (
            {"media_url": "ftp://x/y.jpg"},
            ["media_url must be an http or https URL: 'ftp://x/y.jpg'"],
        ),
        (
            {"lat": None, "long": None, "attribute[size]": None},
            [
                "Give a location: lat and long, address_string or address_id",
                "The attribute attribute[size] is required",
            ],
        ),
    ],
)
def test_bad_requests_are_400_naming_the_field(
    city: City,
    city_client: TestClient,
    api_key: str,
    change: dict[str, Any],
    expected: list[str],
) -> None:
    data = pothole(city, api_key)
    for name, value in change.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    for fmt in ("json", "xml"):
        response = city_client.post(
            f"/open311/v2/requests.{fmt}", data=data, headers={"Accept-Language": "en"}
        )
        assert spec_error(response, 400) == expected


def test_datetime_attributes_must_be_iso_8601(
    city: City, city_client: TestClient, api_key: str
) -> None:
    lat, lon = point_of(city, 1)
    data = {
        "api_key": api_key,
        "service_code": "SO03",
        "lat": lat,
        "long": lon,
        "attribute[blocking][]": "fire_lane",
        "attribute[since]": "last tuesday",
    }
    response = post(city_client, "json", data)
    assert spec_error(response, 400) == [
        "属性 attribute[since] 须为 ISO 8601 时间，收到“last tuesday”"
    ]
    data["attribute[since]"] = "2024-05-01T08:00:00+08:00"
    assert submit(city_client, data)["service_request_id"]


def test_an_unknown_service_or_a_place_outside_the_city_is_refused(
    city: City, city_client: TestClient, api_key: str
) -> None:
    unknown = post(city_client, "json", pothole(city, api_key, service_code="ZZ99"))
    assert spec_error(unknown, 404) == ["没有服务代码为“ZZ99”的服务（service_code）"]
    far = post(city_client, "xml", pothole(city, api_key, lat="10.0", long="10.0"))
    assert "不在本市任何网格内" in spec_error(far, 400)[0]


# ------------------------------------------------------------------ reading requests


def test_no_personal_data_of_reporters_is_ever_shown(
    city: City, city_client: TestClient, api_key: str
) -> None:
    personal = {
        "first_name": "芳菲",
        "last_name": "欧阳",
        "phone": "13912345678",
        "email": "ouyang.fangfei@example.org",
        "account_id": "acct-private-991",
        "device_id": "device-private-7",
    }
    case_id = submit(city_client, pothole(city, api_key, **personal))["service_request_id"]
    answers = [
        city_client.get(f"/open311/v2/requests/{case_id}.json"),
        city_client.get(f"/open311/v2/requests/{case_id}.xml"),
        city_client.get("/open311/v2/requests.json"),
        city_client.get("/open311/v2/requests.xml"),
        city_client.get(f"/open311/v2/requests.json?service_request_id={case_id}"),
    ]
    for response in answers:
        assert response.status_code == 200 and case_id in response.text
        for value in personal.values():
            assert value not in response.text
        assert "欧阳芳菲" not in response.text


def test_a_case_about_a_person_shows_neither_words_nor_an_exact_point(
    city: City, city_client: TestClient, api_key: str
) -> None:
    lat, lon = point_of(city, 5)
    case_id = submit(
        city_client,
        {
            "api_key": api_key,
            "service_code": "SC01",  # elderly care: someone's home and life
            "lat": f"{lat}",
            "long": f"{lon}",
            "description": "独居老人王秀兰家中无人照看，住3号楼2单元501室",
            "address_string": "幸福里3号楼2单元501室",
        },
    )["service_request_id"]
    (request,) = city_client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert request["description"] is None and request["address"] is None
    assert (request["lat"], request["long"]) == (round(lat, 3), round(lon, 3))
    assert "王秀兰" not in city_client.get("/open311/v2/requests.xml").text


def test_requests_are_filtered_by_number_service_status_and_dates(
    city: City, city_client: TestClient, api_key: str, auth: Any
) -> None:
    lat, lon = point_of(city, 3)
    base = {"api_key": api_key, "lat": lat, "long": lon}
    light = submit(
        city_client, {**base, "service_code": "FA03", "attribute[lights_out]": "several"}
    )["service_request_id"]
    noise = submit(city_client, {**base, "service_code": "EP01", "description": "广场舞音响太吵"})[
        "service_request_id"
    ]
    void = city_client.post(
        f"/api/v1/cases/{noise}/actions",
        json={"action": "void", "reason": "重复测试"},
        headers=auth("admin"),
    )
    assert void.status_code == 200, void.text

    def ids(**params: str) -> list[str]:
        found = valid(REQUESTS, city_client.get("/open311/v2/requests.json", params=params))
        return [r["service_request_id"] for r in found]

    both = f"{noise},{light}"
    assert ids(service_request_id=both) == [noise, light]  # newest first
    assert ids(service_request_id=both, service_code="CR01") == [noise, light]  # overrides
    assert light in ids(service_code="FA03,CR01") and noise not in ids(service_code="FA03")
    assert noise in ids(status="closed") and noise not in ids(status="open")
    assert light in ids(status="open") and light not in ids(status="closed")
    assert {light, noise} <= set(ids(status="open,closed"))
    (closed,) = city_client.get(f"/open311/v2/requests/{noise}.json").json()
    assert (closed["status"], closed["status_notes"]) == ("closed", "已作废 Voided")
    assert closed["service_notice"] is None and closed["updated_datetime"]
    now = datetime.now(UTC)
    window = {
        "start_date": (now - timedelta(hours=1)).isoformat(),
        "end_date": (now + timedelta(hours=1)).isoformat(),
    }
    assert {light, noise} <= set(ids(**window))
    earlier = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-03-01T00:00:00Z"}
    assert ids(**earlier) == []
    only_start = ids(start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert {light, noise} <= set(only_start)
    everything = ids()
    assert everything[:2] == [noise, light] or everything.index(noise) < everything.index(light)


def test_a_merged_request_names_the_one_it_joined(
    city: City, city_client: TestClient, api_key: str, auth: Any
) -> None:
    data = pothole(city, api_key)
    first = submit(city_client, data)["service_request_id"]
    second = submit(city_client, data)["service_request_id"]
    merged = city_client.post(
        f"/api/v1/cases/{second}/actions",
        json={"action": "merge", "into": int(first)},
        headers=auth("admin"),
    )
    assert merged.status_code == 200, merged.text
    (request,) = city_client.get(f"/open311/v2/requests/{second}.json").json()
    assert request["status"] == "closed"
    assert request["status_notes"] == f"已合并到请求 {first} merged into request {first}"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-06-01T00:00:00Z"},
            "start_date and end_date may be at most 90 days apart",
        ),
        (
            {"start_date": "2024-02-01T00:00:00Z", "end_date": "2024-01-01T00:00:00Z"},
            "end_date is before start_date",
        ),
        (
            {"start_date": "Christmas"},
            "The parameter start_date is not a W3C datetime "
            "(e.g. 2010-01-01T00:00:00Z): 'Christmas'",
        ),
        ({"status": "pending"}, "Unknown status 'pending' (status); expected open or closed"),
        ({"service_request_id": "12,abc"}, "'abc' is not a request number (service_request_id)"),
    ],
)
def test_bad_filters_are_400(
    city_client: TestClient, params: dict[str, str], expected: str
) -> None:
    for fmt in ("json", "xml"):
        response = city_client.get(
            f"/open311/v2/requests.{fmt}", params=params, headers={"Accept-Language": "en"}
        )
        assert spec_error(response, 400) == [expected]


@pytest.mark.parametrize(
    "path",
    [
        "/open311/v2/requests/99999999.json",
        "/open311/v2/requests/99999999.xml",
        "/open311/v2/requests/abc.json",
        "/open311/v2/tokens/no-such-token.json",
        "/open311/v2/tokens/no-such-token.xml",
        "/open311/v2/services/NOPE.xml",
        "/open311/v2/services.csv",
        "/open311/v2/services/FA01.html",
        "/open311/v2/requests.yaml",
        "/open311/v2/requests/1.txt",
        "/open311/v2/tokens/abc.rss",
        "/open311/discovery.html",
        "/open311/v2/services",
        "/open311/v3/services.json",
    ],
)
def test_what_does_not_exist_is_404_in_the_specs_format(city_client: TestClient, path: str) -> None:
    response = city_client.get(path)
    descriptions = spec_error(response, 404)
    expected_type = "application/json" if path.endswith(".json") else "text/xml"
    assert response.headers["content-type"].startswith(expected_type)
    assert descriptions[0]


def test_posting_to_an_unknown_format_is_404(
    city: City, city_client: TestClient, api_key: str
) -> None:
    response = post(city_client, "html", pothole(city, api_key))
    assert spec_error(response, 404) == ["不支持格式“html”，可用 json 或 xml"]


# ------------------------------------------------------------------ every route has its rule


def test_the_open311_routes_are_public_reads_and_keyed_posts(city_client: TestClient) -> None:
    schema = city_client.get("/openapi.json").json()
    paths = [p for p in schema["paths"] if p.startswith("/open311/")]
    assert sorted(paths) == [
        "/open311/discovery.{fmt}",
        "/open311/v2/requests.{fmt}",
        "/open311/v2/requests/{service_request_id}.{fmt}",
        "/open311/v2/services.{fmt}",
        "/open311/v2/services/{service_code}.{fmt}",
        "/open311/v2/tokens/{token}.{fmt}",
    ]


# ------------------------------------------------------------------ the attribute list


@pytest.fixture
def taxonomy(scratch: Platform) -> Iterator[TestClient]:
    """An empty city with the built-in taxonomy and an administrator, "root"."""
    with UnitOfWork(scratch.session_factory) as uow:
        text = DEFAULT_CATEGORIES.read_text(encoding="utf-8")
        replace_categories(uow, SYSTEM, parse_categories(text))
        add_user(uow, SYSTEM, NewUser("root", "admin", "root-password"))
    with TestClient(create_app(scratch)) as client:
        yield client


def admin_headers(client: TestClient) -> dict[str, str]:
    login = {"username": "root", "password": "root-password"}
    token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_administrators_replace_the_attribute_list(taxonomy: TestClient) -> None:
    shipped = taxonomy.get("/api/v1/open311/attributes").json()
    assert len(shipped) == 15 and {a["service_code"] for a in shipped} >= {"FA01", "HS04"}
    new = [
        {
            "service_code": "CR02",
            "code": "trucks",
            "order": 1,
            "datatype": "number",
            "required": True,
            "description": "几车渣土？",
            "description_en": "How many truckloads?",
        }
    ]
    response = taxonomy.put("/api/v1/open311/attributes", json=new, headers=admin_headers(taxonomy))
    assert response.status_code == 200, response.text
    assert [(a["service_code"], a["code"]) for a in response.json()] == [("CR02", "trucks")]
    services = {s["service_code"]: s for s in taxonomy.get("/open311/v2/services.json").json()}
    assert services["CR02"]["metadata"] is True and services["FA01"]["metadata"] is False
    assert taxonomy.get("/open311/v2/services/FA01.json").json()["attributes"] == []
    (trucks,) = taxonomy.get("/open311/v2/services/CR02.json?locale=en").json()["attributes"]
    assert (trucks["description"], trucks["datatype"]) == ("How many truckloads?", "number")
    cleared = taxonomy.put("/api/v1/open311/attributes", json=[], headers=admin_headers(taxonomy))
    assert cleared.json() == []  # an empty list is a list: the shipped one no longer applies


def test_a_wrong_attribute_list_changes_nothing(taxonomy: TestClient) -> None:
    bad = [
        {"service_code": "ZZ01", "code": "a", "order": 1, "datatype": "string", "description": "x"},
        {"service_code": "CR", "code": "b", "order": 1, "datatype": "string", "description": "x"},
        {
            "service_code": "CR01",
            "code": "c",
            "order": 1,
            "datatype": "singlevaluelist",
            "description": "x",
        },
    ]
    response = taxonomy.put(
        "/api/v1/open311/attributes",
        json=bad,
        headers=admin_headers(taxonomy) | {"Accept-Language": "en"},
    )
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert "row 1, 'service_code': 'ZZ01' is not an active level-2 category" in message
    assert "row 2, 'service_code': 'CR' is not an active level-2 category" in message
    assert "row 3, 'values': singlevaluelist and multivaluelist need options" in message
    assert len(taxonomy.get("/api/v1/open311/attributes").json()) == 15
    anonymous = taxonomy.put("/api/v1/open311/attributes", json=[])
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"


def test_the_attribute_list_by_command(
    scratch: Platform, taxonomy: TestClient, tmp_path: Path
) -> None:
    url = scratch.settings.database_url

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, [*args, "--db", url])

    exported = run("open311", "attributes", "export")
    assert exported.exit_code == 0 and exported.output.startswith("service_code,code,order,")
    bad = tmp_path / "attributes.csv"
    bad.write_text(
        "service_code,code,order,datatype,description\nFA01,size,1,colour,多大？\n"
        "NOPE,x,1,string,问题\n",
        encoding="utf-8",
    )
    refused = run("open311", "attributes", "import", str(bad))
    assert refused.exit_code == 1
    assert "第 2 行“datatype”：“colour”不是数据类型" in refused.output
    rejected = (tmp_path / "attributes.rejected.csv").read_text(encoding="utf-8-sig")
    assert "colour" in rejected and "_errors" in rejected
    good = tmp_path / "good.csv"
    good.write_text(
        "service_code,code,order,datatype,required,description,values\n"
        "FA03,lamp,1,singlevaluelist,yes,哪种灯？,led=LED 灯=LED|sodium=钠灯=Sodium\n",
        encoding="utf-8",
    )
    installed = run("open311", "attributes", "import", str(good))
    assert installed.exit_code == 0 and "1 attributes installed" in installed.output
    (lamp,) = taxonomy.get("/open311/v2/services/FA03.json").json()["attributes"]
    assert lamp["values"] == [{"key": "led", "name": "LED 灯"}, {"key": "sodium", "name": "钠灯"}]
    assert run("open311", "attributes", "import").exit_code == 0  # the shipped list again
    assert len(taxonomy.get("/open311/v2/services/FA01.json").json()["attributes"]) == 3
