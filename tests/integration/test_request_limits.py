"""Request bodies are counted as they arrive: one over CIVICGRID_MAX_REQUEST_MB is refused
with a 413 that says the limit, before it is read when its Content-Length says so, and as
soon as it passes the limit when it comes in chunks; forms are parsed within counts and
sizes. Everything within the limits goes through as before."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.bootstrap import build_platform
from civicgrid.core.settings import Settings
from civicgrid.demo.cases import demo_photo
from tests.conftest import City, settings_for

MEGABYTE = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture
def small_app(scratch_url: str) -> Iterator[FastAPI]:
    """The app with a 1 MB limit (on an empty database: nothing gets that far)."""
    settings = settings_for(scratch_url)
    settings.max_request_mb = 1
    platform = build_platform(settings)
    yield create_app(platform)
    platform.engine.dispose()


class Upload:
    """A client sending a body to the app as ASGI messages, CHUNK bytes at a time, for as
    long as the app reads (up to 8 MB, so a server without a limit fails the test instead
    of reading forever), counting what the app pulled."""

    def __init__(self, start: bytes = b"") -> None:
        self.start = start
        self.pulled = 0
        self.status = 0
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        chunk = (self.start + b"x" * CHUNK)[:CHUNK] if not self.pulled else b"x" * CHUNK
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.pulled < 8 * MEGABYTE}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def post(self, app: FastAPI, path: str, headers: dict[str, str]) -> Upload:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("10.250.0.1", 50000),
            "server": ("testserver", 80),
        }
        asyncio.run(app(scope, self.receive, self.send))
        return self


def test_a_json_body_whose_length_is_over_the_limit_is_refused_before_it_is_read(
    small_app: FastAPI,
) -> None:
    sent = Upload().post(
        small_app,
        "/api/v1/cases",
        {
            "content-type": "application/json",
            "content-length": str(2 * MEGABYTE),
            "accept-language": "en",
        },
    )
    assert sent.status == 413
    assert sent.pulled == 0
    error = json.loads(sent.body)["error"]
    assert error["code"] == "request_too_large"
    assert "at most 1 MB" in error["message"]


def test_a_chunked_upload_is_cut_off_as_soon_as_it_passes_the_limit(small_app: FastAPI) -> None:
    # No length given: counted as it comes, to the page's form and to the API alike.
    photo = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="photos"; filename="big.png"\r\n'
        b"Content-Type: image/png\r\n\r\n"
    )
    page = Upload(photo).post(
        small_app,
        "/report",
        {"content-type": "multipart/form-data; boundary=b0undary", "accept": "text/html"},
    )
    assert page.status == 413
    assert MEGABYTE < page.pulled <= MEGABYTE + CHUNK
    assert "请求过大：一次最多提交 1 MB" in page.body.decode()
    api = Upload().post(small_app, "/api/v1/cases", {"content-type": "application/json"})
    assert api.status == 413
    assert MEGABYTE < api.pulled <= MEGABYTE + CHUNK


def test_a_body_within_the_limit_is_read(small_app: FastAPI) -> None:
    with TestClient(small_app) as client:
        answer = client.post("/api/v1/cases", content=b"x" * (MEGABYTE - 100))
    assert answer.status_code != 413  # refused for what it says, not for its size


def test_the_default_limit_takes_nine_photos_of_the_largest_size_as_json() -> None:
    assert Settings(secret_key="x" * 40).max_request_mb == 121  # 9 × 10 MB × 4/3, and 1 MB
    assert Settings(secret_key="x" * 40, max_attachment_mb=3).max_request_mb == 37
    assert Settings(secret_key="x" * 40, max_request_mb=5).max_request_mb == 5


def test_forms_with_too_many_fields_or_files_are_refused_by_name(
    city: City, city_client: TestClient
) -> None:
    fields = {f"f{n}": "x" for n in range(400)}
    many = city_client.post("/login?lang=en", data=fields, headers={"Accept": "application/json"})
    assert many.status_code == 400
    assert many.json()["error"]["code"] == "form_unreadable"
    assert "too many fields" in many.json()["error"]["message"]
    photos = [("photos", (f"{n}.png", demo_photo(), "image/png")) for n in range(25)]
    files = city_client.post("/report", files=photos, headers={"Accept": "text/html"})
    assert files.status_code == 400
    assert "表单无法读取" in files.text
    long = city_client.post("/track", files={"number": (None, "1" * 200_000)})
    assert long.status_code == 400


def test_photos_within_the_limits_are_taken(city: City, city_client: TestClient) -> None:
    # A resident's report with the most photos a report takes goes through the form as
    # before (what it says about them is the portal's business, not a 413 or a 400).
    photos = [("photos", (f"{n}.png", demo_photo(), "image/png")) for n in range(9)]
    answer = city_client.post("/report", files=photos, headers={"Accept": "text/html"})
    assert answer.status_code not in (400, 413)
