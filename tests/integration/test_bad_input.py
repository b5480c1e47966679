"""Bad input is a 4xx naming what is wrong, never a server error: numbers beyond the
database's columns, text it cannot store, days outside the calendar, codes that name
nothing. (tests/integration/test_schemathesis.py probes every operation at random.)"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.core.permissions import Role
from civicgrid.core.types import DB_INT_MAX
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
