"""Bad input is a 4xx naming what is wrong, never a server error: numbers beyond the
database's columns, text it cannot store, days outside the calendar, codes that name
nothing. (tests/integration/test_schemathesis.py probes every operation at random.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicgrid.accounts.services import add_api_key
from civicgrid.app import create_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.permissions import SYSTEM, Role
from civicgrid.core.types import DB_INT_MAX, is_email, is_phone
from civicgrid.open311.domain import parse_w3c_datetime
from tests.conftest import City

HUGE = "99999999999999999999"


def test_a_page_beyond_the_databases_integers_is_a_422_naming_page(
    city_client: TestClient, auth: Any
) -> None:
    for path in ("/api/v1/cases", "/api/v1/areas", "/api/v1/registry/people"):
        response = city_client.get(f"{path}?page={HUGE}", headers=auth("admin"))
        assert response.status_code == 422, (path, response.text)
        assert "page" in response.json()["error"]["message"]
    last = city_client.get(f"/api/v1/cases?page={DB_INT_MAX}", headers=auth("admin"))
    assert last.status_code == 200
    assert last.json()["items"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cases/{n}",
        "/api/v1/cases/{n}/duplicates",
        "/api/v1/registry/entities/{n}",
        "/api/v1/registry/people/{n}",
        "/api/v1/insight/warnings/{n}/history",
        "/api/v1/system/history/case/{n}",
    ],
)
def test_a_record_number_beyond_the_databases_integers_is_a_422(
    city_client: TestClient, auth: Any, path: str
) -> None:
    response = city_client.get(path.format(n=HUGE), headers=auth("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    # The largest number a record can have is asked for like any other (no such record).
    unknown = city_client.get(path.format(n=DB_INT_MAX), headers=auth("admin"))
    assert unknown.status_code in (200, 404), unknown.text


def test_every_integer_a_route_reads_from_its_path_or_query_is_bounded(city: City) -> None:
    """So a route added later cannot hand the database a number it cannot hold: ids and
    pages take core.types' RecordId / PageNumber, counts a Query(le=…)."""
    spec = create_app(city.platform).openapi()
    unbounded = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                choices = schema.get("anyOf", [schema])
                for choice in choices:
                    if choice.get("type") == "integer" and "maximum" not in choice:
                        unbounded.append(f"{method.upper()} {path} {parameter['name']}")
    assert unbounded == []


def test_pages_take_huge_or_odd_numbers_as_no_record(
    city: City, city_client: TestClient, auth: Any
) -> None:
    assert city_client.get(f"/cases/{HUGE}", headers=auth("admin")).status_code == 422
    worker = auth(city.username_of(Role.GRID_WORKER))
    for number in (HUGE, "²"):
        assert city_client.get(f"/grid?reported={number}", headers=worker).status_code == 200
        assert city_client.get(f"/report?joined={number}").status_code == 200
        queue = city_client.get(f"/dispatch?page={number}", headers=auth("dispatcher"))
        assert queue.status_code == 200


def test_open311_request_numbers_that_no_case_can_have_are_not_found(
    city_client: TestClient,
) -> None:
    for number in (HUGE, "²", "0"):
        one = city_client.get(f"/open311/v2/requests/{number}.json")
        assert one.status_code == 404, (number, one.text)
        listed = city_client.get(f"/open311/v2/requests.json?service_request_id={number}")
        assert listed.status_code == 400, (number, listed.text)
        assert number in listed.json()[0]["description"]


@pytest.mark.parametrize(
    "query",
    [
        "start_date=9999-12-31T23:59:59-05:00",
        "end_date=0001-01-01T00:00:00%2B05:00",
        "start_date=9999-12-30",
        "end_date=2300-01-01T00:00:00Z",
    ],
)
def test_open311_dates_outside_the_calendar_are_the_specs_400_naming_them(
    city_client: TestClient, query: str
) -> None:
    response = city_client.get(f"/open311/v2/requests.json?{query}&locale=en")
    assert response.status_code == 400, response.text
    field = query.split("=", 1)[0]
    message = response.json()[0]["description"]
    assert message.startswith(f"{field} must be a time between 1900 and 2199")


def test_w3c_datetimes_are_read_between_1900_and_2199() -> None:
    assert parse_w3c_datetime("2199-12-31T23:59:59Z") is not None
    assert parse_w3c_datetime("1900-01-01") is not None
    for value in ("9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2200-01-01"):
        with pytest.raises(InvalidInput) as refused:
            parse_w3c_datetime(value, "attribute[since]")
        assert refused.value.params == {"field": "attribute[since]", "value": value}


def test_reply_quality_of_an_unknown_unit_is_a_422_naming_it(
    city: City, city_client: TestClient, auth: Any
) -> None:
    url = "/api/v1/insight/reply-quality"
    unknown = city_client.get(f"{url}?department=NOPE&lang=en", headers=auth("admin"))
    assert unknown.status_code == 422, unknown.text
    assert unknown.json()["error"]["message"] == "Unknown department 'NOPE' (department)"
    # A unit that exists but closed nothing in the period has no answers to score.
    idle = city.plan.departments[-1].code
    quiet = city_client.get(
        url, params={"department": idle, "since": "2199-12-31"}, headers=auth("admin")
    )
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["departments"] == []
    ancient = city_client.get(f"{url}?since=0001-01-01", headers=auth("admin"))
    assert ancient.status_code == 422
    assert "since" in ancient.json()["error"]["message"]


@pytest.mark.parametrize("wildcard", ["%", "_", "%_%"])
def test_searches_take_percent_and_underscore_as_characters(
    city_client: TestClient, auth: Any, wildcard: str
) -> None:
    admin = auth("admin")
    cases = city_client.get("/api/v1/cases", params={"q": wildcard}, headers=admin).json()
    assert cases["total"] == 0  # no demo case has a % or _ in its words
    areas = city_client.get("/api/v1/areas", params={"q": wildcard}, headers=admin).json()
    assert areas["total"] == 0
    some = city_client.get("/api/v1/cases", headers=admin).json()["items"][0]["title"]
    found = city_client.get("/api/v1/cases", params={"q": some[:3]}, headers=admin).json()
    assert found["total"] >= 1


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("13800138000", True),
        ("+86 138-0013-8000", True),
        ("010-12345678", True),
        ("123456", True),
        ("12345", False),
        ("+86 1380013800012345678", False),
        ("138 0013 800x", False),
        ("call me", False),
        ("--13800138000", False),
        ("١٣٨٠٠١٣٨٠٠٠", False),
    ],
)
def test_a_phone_is_6_to_20_digits_with_plus_spaces_and_dashes(text: str, phone: bool) -> None:
    assert is_phone(text) is phone


@pytest.mark.parametrize(
    ("text", "email"),
    [
        ("wang.fang@example.com.cn", True),
        ("a+tag@城市.中国", True),
        ("wang@", False),
        ("wang@localhost", False),
        ("wang fang@example.com", False),
        ("@example.com", False),
        ("wang@example..com", False),
        ("wang@example.c", False),
    ],
)
def test_an_email_has_a_sane_form(text: str, email: bool) -> None:
    assert is_email(text) is email


def test_reporters_contacts_are_checked_naming_the_field(
    city: City, city_client: TestClient, auth: Any
) -> None:
    point = city.area(city.grids()[2]).geometry.representative_point()
    report = {
        "description": "路口井盖缺失",
        "category": "FA03",
        "lat": point.y,
        "lon": point.x,
        "channel": "hotline",
    }
    dispatcher = {**auth("dispatcher"), "Accept-Language": "en"}
    for reporter, named in [
        ({"phone": "call me 138"}, ["The phone (phone) is 6 to 20 digits"]),
        ({"email": "wang@"}, ["The e-mail address (email) is not one: 'wang@'"]),
        ({"phone": "1", "email": "x"}, ["(phone)", "(email)"]),
    ]:
        response = city_client.post(
            "/api/v1/cases", json={**report, "reporter": reporter}, headers=dispatcher
        )
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert all(part in message for part in named), message


def test_the_report_form_names_a_wrong_phone(city: City, city_client: TestClient) -> None:
    point = city.area(city.grids()[2]).geometry.representative_point()
    page = city_client.post(
        "/report",
        data={
            "description": "井盖松动，踩上去会响",
            "category": "FA02",
            "lat": str(point.y),
            "lon": str(point.x),
            "phone": "138-0000-abcd-1234",
        },
    )
    assert page.status_code == 422
    assert 'id="error-phone" role="alert">电话号码（phone）应为 6 至 20 位数字' in page.text


def test_open311_checks_the_phone_and_email_it_is_given(
    city: City, city_client: TestClient
) -> None:
    with UnitOfWork(city.platform.session_factory) as uow:
        key = add_api_key(uow, SYSTEM, "open311-contacts")
    point = city.area(city.grids()[2]).geometry.representative_point()
    data = {
        "api_key": key,
        "service_code": "FA01",
        "lat": str(point.y),
        "long": str(point.x),
        "attribute[size]": "large",
        "phone": "call 13800001111",
        "email": "wang@localhost",
    }
    response = city_client.post("/open311/v2/requests.json?locale=en", data=data)
    assert response.status_code == 400
    messages = [e["description"] for e in response.json()]
    assert "phone is not a phone number (6 to 20 digits, optionally with +, spaces and " in (
        messages[0] + messages[1]
    )
    assert "email is not a valid e-mail address: 'wang@localhost'" in messages
