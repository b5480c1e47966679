"""Open311 as a client written by someone else sees it: the `georeport` package from PyPI
(a GeoReport v2 wrapper over `requests` and `xmltodict`) against a real server, in JSON and
XML. It does not post, so posting and tokens go through plain HTTP, as any app would."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import uvicorn
import xmltodict
from georeport import GeoReport

from civicgrid.accounts.services import add_api_key
from civicgrid.app import create_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM
from tests.conftest import City


@pytest.fixture
def served(city: City) -> Iterator[str]:
    """The city's platform served over HTTP on a free port; its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(city.platform), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def endpoint(base: str) -> str:
    """The v2 address as a client finds it: from the discovery document."""
    discovery = requests.get(f"{base}/open311/discovery.json", timeout=10).json()
    (v2,) = [e for e in discovery["endpoints"] if e["specification"].endswith("GeoReport_v2")]
    url: str = v2["url"]
    return url


def post_pothole(city: City, url: str, fmt: str) -> dict[str, Any]:
    with UnitOfWork(city.platform.session_factory) as uow:
        key = add_api_key(uow, SYSTEM, f"georeport-{fmt}")
    point = city.area(city.grids()[0]).geometry.representative_point()
    answer = requests.post(
        f"{url}/requests.{fmt}",
        data={
            "api_key": key,
            "service_code": "FA01",
            "lat": point.y,
            "long": point.x,
            "description": "路口有一个大坑",
            "attribute[size]": "large",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    if fmt == "json":
        receipt: dict[str, Any] = answer.json()[0]
        return receipt
    parsed: dict[str, Any] = xmltodict.parse(answer.content)["service_requests"]["request"]
    return parsed


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_third_party_client_lists_posts_follows_and_reads_back(
    city: City, served: str, fmt: str
) -> None:
    url = endpoint(served)
    client = GeoReport(url, output_format=fmt)

    services = client.get_service_list()
    codes = {s["service_code"] for s in services}
    assert {"FA01", "CR01"} <= codes
    definition = client.get_service_definition("FA01")
    attributes = definition["attributes"]
    if fmt == "xml":  # xmltodict: <attributes><attribute>…</attribute>…</attributes>
        attributes = attributes["attribute"]
    assert "size" in {a["code"] for a in attributes}

    receipt = post_pothole(city, url, fmt)
    # The number at once, and so no token to follow (the spec gives one or the other).
    assert "token" not in receipt
    number = str(receipt["service_request_id"])

    read = client.get_service_request(number)
    assert str(read["service_request_id"]) == number
    assert read["service_code"] == "FA01"
    assert read["status"] == "open"
    listed = client.get_service_requests(service_request_id=number)
    listed = listed if isinstance(listed, list) else [listed]
    assert [str(r["service_request_id"]) for r in listed] == [number]
