"""Every route declares who may call it, by the rule of the service it calls; a route
without a rule, with a rule of its own beside a service's, or whose rule lets in callers
its service then refuses by role, fails these tests."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from civicgrid.app import ROUTERS, create_app
from civicgrid.core.http import Caller
from civicgrid.core.permissions import ANONYMOUS, USER_ROLES, Actor, Role
from tests.conftest import City


def callers_of(route: APIRoute) -> list[Caller]:
    found: list[Caller] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Caller):
            found.append(dependency.call)
        stack.extend(dependency.dependencies)
    return found


def all_routes(city: City) -> list[APIRoute]:
    app = create_app(city.platform)
    everything = [*app.routes, *(route for router in ROUTERS for route in router.routes)]
    return list({id(r): r for r in everything if isinstance(r, APIRoute)}.values())


def test_every_route_declares_exactly_one_permission_rule(city: City) -> None:
    routes = all_routes(city)
    assert len(routes) > 10
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if len(callers_of(r)) != 1]
    assert missing == []


def called_names(fn: Callable[..., Any], depth: int = 3) -> set[str]:
    """The names of the functions FN calls, and those the module's own helpers it calls
    call in turn (a page renders through a helper that calls the service)."""
    module = sys.modules[fn.__module__]
    (definition,) = ast.parse(textwrap.dedent(inspect.getsource(fn))).body
    assert isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef)
    body = ast.Module(body=definition.body, type_ignores=[])  # not the rule in the signature
    names: set[str] = set()
    for node in ast.walk(body):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
            elif isinstance(node.func, ast.Name):
                names.add(node.func.id)
        # A service handed to a helper as a value (the warnings page's handlers).
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            names.add(node.attr)
    if depth:
        for name in list(names):
            helper = getattr(module, name, None)
            if inspect.isfunction(helper) and helper.__module__ == module.__name__:
                names |= called_names(helper, depth - 1)
    return names


# Calls that run a service for the route elsewhere: the intake writer (cases.intake) runs
# prepare_report for every report it stores in its batch.
DELEGATED = {"report": {"prepare_report"}}


def test_every_route_takes_the_rule_of_the_service_it_calls(city: City) -> None:
    """Declared once: a route's rule is its service's (core.http.allow), and the route
    really calls that service; only routes that call no service name a rule of their own."""
    wrong = []
    for route in all_routes(city):
        (caller,) = callers_of(route)
        where = f"{sorted(route.methods)} {route.path}"
        if not caller.sources:
            continue  # a form or a redirect, for whom it is made (NO_SERVICE, PORTAL)
        called = called_names(route.endpoint)
        called |= {name for call in called for name in DELEGATED.get(call, ())}
        for source in caller.sources:
            if source.__name__ not in called:
                wrong.append(f"{where}: takes the rule of {source.__name__} but never calls it")
    assert wrong == []


# ------------------------------------------------------------------ probing as every persona

PERSONAS: list[Role | None] = [None, *USER_ROLES]
PATH_VALUES = {
    "fmt": "json",
    "kind": "people",
    "locale": "en",
}


def probe_path(route: APIRoute, city: City) -> str | None:
    """The route's path with plausible values, or None when it cannot be filled."""
    path = route.path
    for name in re.findall(r"{(\w+)}", path):
        if name in PATH_VALUES:
            value = PATH_VALUES[name]
        elif name.endswith("id") or name == "number":
            value = "1"
        elif name == "code":
            value = city.grids()[0]
        elif name in ("token", "path"):
            value = "x"
        else:
            return None
        path = path.replace("{" + name + "}", value)
    return path


@pytest.fixture(scope="module")
def persona_headers(city: City, city_client: TestClient) -> Iterator[dict[Role, dict[str, str]]]:
    found = {}
    for role in USER_ROLES:
        username = city.username_of(role)
        response = city_client.post(
            "/api/v1/auth/token",
            data={"username": username, "password": city.password(username)},
        )
        assert response.status_code == 200, response.text
        found[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    yield found


def test_no_route_lets_in_a_caller_its_services_then_refuse_by_role(
    city: City, browser: TestClient, persona_headers: dict[Role, dict[str, str]]
) -> None:
    """Every GET route, as anonymous and as each role: when the route's rule lets the
    caller in, the answer is never "log in" nor "your role may not" — which would mean
    the route (or its service) declared a rule wider than the one really applied."""
    disagree = []
    probed = 0
    for route in all_routes(city):
        if "GET" not in route.methods:
            continue
        path = probe_path(route, city)
        if path is None:
            continue
        (caller,) = callers_of(route)
        for role in PERSONAS:
            actor = ANONYMOUS if role is None else Actor("probe", role)
            if not caller.rule.allows(actor):
                continue
            headers = {} if role is None else persona_headers[role]
            # A client of its own: the language switch sets a cookie.
            response = browser.get(
                path, headers=headers | {"Accept": "application/json"}, follow_redirects=False
            )
            probed += 1
            code = ""
            if response.headers.get("content-type", "").startswith("application/json"):
                body = response.json()
                if isinstance(body, dict) and isinstance(body.get("error"), dict):
                    code = body["error"].get("code", "")
            if code in ("forbidden_role", "not_authenticated"):
                disagree.append(f"{path} as {role}: {code}")
    assert probed > 100
    assert disagree == []


def test_anonymous_callers_are_asked_to_log_in(city_client: TestClient) -> None:
    response = city_client.get("/api/v1/departments")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_resident_may_not_register_departments(city_client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    response = city_client.post(
        "/api/v1/departments",
        json={"code": "X", "name": "x", "level": "city", "area_code": "990100"},
        headers=auth("resident") | {"Accept-Language": "en"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "The role 'resident' may not do this"


def test_an_admin_registers_a_non_government_unit_and_duplicates_conflict(
    city_client: TestClient,
    auth,  # type: ignore[no-untyped-def]
) -> None:
    body = {
        "code": "990100-VOL-T",
        "name": "蓝天志愿服务队",
        "level": "city",
        "area_code": "990100",
        "kind": "volunteer_team",
    }
    created = city_client.post("/api/v1/departments", json=body, headers=auth("admin"))
    assert created.status_code == 201
    assert created.json()["kind"] == "volunteer_team"
    again = city_client.post("/api/v1/departments", json=body, headers=auth("admin"))
    assert (again.status_code, again.json()["error"]["code"]) == (409, "department_exists")


def test_a_missing_field_is_named(city_client: TestClient, auth) -> None:  # type: ignore[no-untyped-def]
    response = city_client.post("/api/v1/departments", json={"code": "Y"}, headers=auth("admin"))
    assert response.status_code == 422
    assert "body.name" in response.json()["error"]["message"]
