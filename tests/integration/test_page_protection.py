"""Forms that change something are ours and sent from our site (CSRF), and every answer
carries the security headers: a page from another site cannot post as a logged-in
cadre, nor log a visitor into another account, nor frame our pages; photos are served as
the images they are."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.core import csrf
from civicgrid.core.http import NO_SERVICE, allow
from civicgrid.demo.cases import demo_photo
from tests.conftest import City, own_address

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "civicgrid" / "web" / "templates"
TOKEN_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
HX_HEADERS = re.compile(r"hx-headers='\{\"X-CSRF-Token\": \"([^\"]+)\"\}'")


@pytest.fixture
def visitor(city: City) -> Iterator[TestClient]:
    """A browser of its own whose posts carry only what the test puts in them."""
    with TestClient(create_app(city.platform), client=own_address()) as client:
        yield client


def form_token(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200
    found = TOKEN_FIELD.search(page.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def credentials(city: City, role: str = "cadre") -> dict[str, str]:
    return {"username": role, "password": city.password(role)}


@pytest.mark.raw_forms
def test_a_login_without_the_forms_token_is_refused_with_a_page_that_says_why(
    city: City, visitor: TestClient
) -> None:
    visitor.get("/login")
    refused = visitor.post(
        "/login", data=credentials(city), headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert "表单已过期或并非来自本站" in refused.text and "<html" in refused.text
    assert "civicgrid_token" not in refused.cookies
    english = visitor.post(
        "/login?lang=en", data=credentials(city), headers={"Accept": "application/json"}
    )
    assert english.status_code == 403
    assert english.json()["error"]["code"] == "csrf_token_invalid"
    assert "reload the page" in english.json()["error"]["message"]


@pytest.mark.raw_forms
def test_the_login_form_with_its_token_logs_in(city: City, visitor: TestClient) -> None:
    token = form_token(visitor, "/login")
    logged_in = visitor.post(
        "/login", data={**credentials(city), "csrf_token": token}, follow_redirects=False
    )
    assert logged_in.status_code == 303
    assert "civicgrid_token" in logged_in.cookies


@pytest.mark.raw_forms
def test_a_token_is_good_only_with_the_browser_it_was_drawn_for(
    city: City, visitor: TestClient
) -> None:
    other = TestClient(create_app(city.platform), client=own_address())
    stolen = form_token(other, "/login")  # the attacker's own page view
    visitor.get("/login")
    refused = visitor.post("/login", data={**credentials(city), "csrf_token": stolen})
    assert refused.status_code == 403
    # Without any cookie of ours, no token is good.
    fresh = TestClient(create_app(city.platform), client=own_address())
    assert fresh.post("/login", data={**credentials(city), "csrf_token": stolen}).status_code == 403


@pytest.mark.raw_forms
def test_a_form_sent_from_another_site_is_refused_even_with_a_good_token(
    city: City, visitor: TestClient
) -> None:
    token = form_token(visitor, "/login")
    form = {**credentials(city), "csrf_token": token}
    for headers in (
        {"Origin": "https://evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
    ):
        refused = visitor.post("/login?lang=en", data=form, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"]["code"] == "csrf_foreign_origin"
    assert "evil.example" in refused.json()["error"]["message"] or headers["Origin"] == "null"
    # Our own origin, by HTTP or by HTTPS (a proxy ending TLS), and a trusted one.
    for headers in (
        {"Origin": "http://testserver"},
        {"Origin": "https://testserver"},
        {"Referer": "http://testserver/login"},
    ):
        sent = visitor.post("/login", data=form, headers=headers, follow_redirects=False)
        assert sent.status_code == 303, headers


def test_origins_are_compared_by_scheme_host_and_port() -> None:
    ours = {"host": "gov.example.cn"}
    assert csrf.foreign_origin({**ours, "origin": "https://gov.example.cn:443"}, "http") is None
    assert csrf.foreign_origin({**ours, "origin": "http://gov.example.cn:8080"}, "http")
    # A page over HTTP may not post to the HTTPS site (a downgrade).
    assert csrf.foreign_origin({**ours, "origin": "http://gov.example.cn"}, "https")
    trusted = ["https://portal.example.cn"]
    assert (
        csrf.foreign_origin({**ours, "origin": "https://portal.example.cn"}, "http", trusted)
        is None
    )
    assert csrf.foreign_origin(ours, "http") is None  # a client that says nothing


@pytest.mark.raw_forms
def test_htmx_sends_the_pages_token_as_a_header(city: City, visitor: TestClient) -> None:
    token = form_token(visitor, "/login")
    visitor.post("/login", data={**credentials(city), "csrf_token": token})
    page = visitor.get("/")
    header = HX_HEADERS.search(page.text)
    assert header, "no hx-headers on <body>"
    assert visitor.post("/logout", follow_redirects=False).status_code == 403
    out = visitor.post("/logout", headers={"X-CSRF-Token": header.group(1)}, follow_redirects=False)
    assert out.status_code == 303


@pytest.mark.raw_forms
def test_the_api_with_the_login_cookie_needs_the_token_and_with_a_bearer_token_does_not(
    city: City, visitor: TestClient, auth: Any
) -> None:
    token = form_token(visitor, "/login")
    visitor.post("/login", data={**credentials(city, "resident"), "csrf_token": token})
    grid = city.area(city.grids()[0]).geometry.representative_point()
    report = {
        "description": "路灯不亮了",
        "category": "CR01",
        "lat": grid.y,
        "lon": grid.x,
        "channel": "resident_web",
    }
    # The login cookie alone is what a page of another site would send.
    assert visitor.post("/api/v1/cases", json=report).status_code == 403
    page_token = HX_HEADERS.search(visitor.get("/").text)
    assert page_token
    with_token = visitor.post(
        "/api/v1/cases", json=report, headers={"X-CSRF-Token": page_token.group(1)}
    )
    assert with_token.status_code == 201, with_token.text
    # API clients send a bearer token (or an API key) that no browser adds by itself.
    bare = TestClient(create_app(city.platform), client=own_address())
    api = bare.post("/api/v1/cases", json=report, headers=auth("resident"))
    assert api.status_code == 201, api.text


def test_every_form_that_posts_carries_the_token_and_no_template_runs_inline_code() -> None:
    """What the pages' Content-Security-Policy needs: scripts only from our files (no
    inline <script>, no onclick=), no style attributes, and the CSRF field in every form
    that posts (htmx's forms too: the header comes from <body>)."""
    problems = []
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        name = template.relative_to(TEMPLATES)
        for form in re.finditer(r"<form\b[^>]*>", text):
            posts = re.search(r'method="post"|hx-post=', form.group(0), re.I)
            if posts and not text[form.end() :].lstrip().startswith("{{ csrf_field() }}"):
                problems.append(f"{name}: a form without {{{{ csrf_field() }}}}: {form.group(0)}")
        for script in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in script.group(0) and 'type="application/json"' not in script.group(0):
                problems.append(f"{name}: an inline script")
        if re.search(r"\sstyle=|\son[a-z]+=", text):
            problems.append(f"{name}: a style attribute or an inline event handler")
    assert problems == []


def test_every_answer_carries_the_security_headers(city_client: TestClient) -> None:
    for path in ("/", "/login", "/api/v1/areas", "/static/app.css", "/health", "/nowhere"):
        headers = city_client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy, path
        assert "'unsafe-inline'" not in policy and "img-src 'self' data: blob:" in policy
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert "geolocation=(self)" in headers["permissions-policy"]


def test_an_unexpected_error_carries_them_too(city: City) -> None:
    app: FastAPI = create_app(city.platform)

    @app.get("/broken")
    def broken(actor: Any = allow(NO_SERVICE)) -> None:
        raise RuntimeError("broken on purpose")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_the_api_docs_may_load_swagger_from_its_cdn_and_nothing_else_may(
    city_client: TestClient,
) -> None:
    docs = city_client.get("/docs").headers["content-security-policy"]
    assert "https://cdn.jsdelivr.net" in docs and "frame-ancestors 'none'" in docs
    assert "cdn.jsdelivr.net" not in city_client.get("/").headers["content-security-policy"]


def test_the_csrf_cookie_is_set_once_httponly_and_lax(city: City) -> None:
    browser = TestClient(create_app(city.platform), client=own_address())
    first = browser.get("/login")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{csrf.COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "set-cookie" not in browser.get("/login").headers  # kept, not made again
    assert "set-cookie" not in TestClient(create_app(city.platform)).get("/api/v1/areas").headers
    # Every page masks the token afresh, for the same browser secret.
    assert form_token(browser, "/login") != form_token(browser, "/login")


def test_a_photo_is_served_as_an_image_that_cannot_run_anything(
    city: City, city_client: TestClient, auth: Any
) -> None:
    grid = city.area(city.grids()[1]).geometry.representative_point()
    photo = base64.b64encode(demo_photo()).decode()
    created = city_client.post(
        "/api/v1/cases",
        json={
            "description": "井盖缺失",
            "category": "CR01",
            "lat": grid.y,
            "lon": grid.x,
            "channel": "resident_web",
            "attachments": [{"filename": '井盖"<x>.png', "data": photo}],
        },
        headers=auth("resident"),
    )
    assert created.status_code == 201, created.text
    case = city_client.get(f"/api/v1/cases/{created.json()['id']}", headers=auth("resident"))
    photo_id = case.json()["timeline"][0]["attachments"][0]
    served = city_client.get(f"/api/v1/attachments/{photo_id}", headers=auth("resident"))
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-disposition"] == (
        "inline; filename=\"____x_.png\"; filename*=UTF-8''%E4%BA%95%E7%9B%96%22%3Cx%3E.png"
    )
    assert "sandbox" in served.headers["content-security-policy"]
