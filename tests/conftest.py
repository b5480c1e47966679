"""Shared fixtures: real databases (SQLite always, PostgreSQL when
CIVICGRID_TEST_POSTGRES_URL is set), a small demo city, and our personas.

Two databases per backend: `city` holds a demo city installed once per session and is only
read by tests; `scratch` starts empty (but migrated) for every test that writes.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from civicgrid.accounts.repository import UserRepository
from civicgrid.accounts.services import NewUser, actor_for_user, add_user
from civicgrid.app import create_app
from civicgrid.areas.domain import Level
from civicgrid.areas.repository import AreaRepository
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core import csrf
from civicgrid.core.db import UnitOfWork, delete_everything
from civicgrid.core.migrate import upgrade
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.core.settings import Settings
from civicgrid.demo.domain import DemoCity, DemoCityBuilder, Shape
from civicgrid.demo.services import DemoSummary, install_demo_city

POSTGRES_URL = os.environ.get("CIVICGRID_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SMALL_CITY = Shape(
    districts=2, streets_per_district=2, communities_per_street=2, grids_per_community=3
)
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def actor_named(uow: UnitOfWork, username: str) -> Actor:
    """The Actor of the account with this name, as a request of hers would see it."""
    user = UserRepository(uow.session).get(username)
    assert user is not None, username
    return actor_for_user(uow.session, user)


def settings_for(database_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key=TEST_SECRET,
        default_locale="zh",
        # Keyword suggestions, whatever model a developer has trained in var/.
        suggestion_model_path="",
    )


# ------------------------------------------------------------------ forms' CSRF tokens
# Test clients post as a browser posts a form a page drew for it: with the browser's CSRF
# cookie and its token (core.csrf), so a test need not fetch every form before sending
# it. Tests of the check itself are marked raw_forms: their clients send only what they
# are told to.

TEST_BROWSER_SECRET = "test-browser-secret-0123456789abcdefghijklm"
_raw_forms = False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "raw_forms: test clients send no CSRF cookie or token by themselves"
    )


def _with_form_token(key: str, request: Any) -> None:
    if _raw_forms or request.method in csrf.SAFE_METHODS or csrf.HEADER in request.headers:
        return
    cookie = request.headers.get("cookie", "")
    jar = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
    secret = jar.get(csrf.COOKIE)
    if secret is None:
        secret = TEST_BROWSER_SECRET
        request.headers["cookie"] = f"{cookie}; {csrf.COOKIE}={secret}".lstrip("; ")
    request.headers[csrf.HEADER] = csrf.make_token(key, secret)


@pytest.fixture(scope="session", autouse=True)
def clients_send_form_tokens() -> Iterator[None]:
    original = TestClient.__init__

    def init(self: TestClient, app: Any, *args: Any, **kwargs: Any) -> None:
        original(self, app, *args, **kwargs)
        platform = getattr(getattr(app, "state", None), "platform", None)
        if platform is not None:
            key = platform.settings.secret_key
            self.event_hooks["request"].append(lambda request: _with_form_token(key, request))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TestClient, "__init__", init)
        yield


@pytest.fixture(autouse=True)
def raw_forms(request: pytest.FixtureRequest) -> Iterator[None]:
    global _raw_forms
    _raw_forms = request.node.get_closest_marker("raw_forms") is not None
    yield
    _raw_forms = False


@pytest.fixture(scope="session", autouse=True)
def instance_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Commands and servers the tests start without a secret keep the one they generate
    here, not in the developer's var/."""
    folder = tmp_path_factory.mktemp("instance")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIVICGRID_INSTANCE_DIR", str(folder))
        yield folder


class DatabaseMaker:
    """Fresh databases for one backend, dropped at the end of the session."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.created: list[str] = []

    def new(self, label: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite:///{self.tmp / f'{label}.db'}"
        assert POSTGRES_URL is not None
        name = f"civicgrid_test_{label}_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.created.append(name)
        url = make_url(POSTGRES_URL).set(database=name)
        return url.render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.created:
            return
        assert POSTGRES_URL is not None
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for name in self.created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseMaker]:
    maker = DatabaseMaker(request.param, tmp_path_factory.mktemp(request.param))
    yield maker
    maker.drop_all()


def open_platform(url: str) -> Platform:
    platform = build_platform(settings_for(url))
    upgrade(platform.engine)
    return platform


# ------------------------------------------------------------------ the read-only demo city


@dataclass
class City:
    platform: Platform
    plan: DemoCity
    summary: DemoSummary

    passwords: dict[str, str] = field(default_factory=dict)

    def password(self, username: str) -> str:
        if username in self.passwords:
            return self.passwords[username]
        return next(c.password for c in self.summary.credentials if c.username == username)

    def username_of(self, role: Role) -> str:
        return next(c.username for c in self.summary.credentials if c.role is role)

    def grids(self) -> list[str]:
        return [a.code for a in self.plan.areas if a.level.value == "grid"]

    def area(self, code: str) -> Any:
        return next(a for a in self.plan.areas if a.code == code)


@pytest.fixture(scope="session")
def city(databases: DatabaseMaker) -> Iterator[City]:
    platform = open_platform(databases.new("city"))
    plan = DemoCityBuilder(seed=7).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=30)
    yield City(platform, plan, summary)
    platform.engine.dispose()


@pytest.fixture(scope="session")
def city_client(city: City) -> Iterator[TestClient]:
    with TestClient(create_app(city.platform)) as client:
        yield client


_addresses = itertools.count(1)


def own_address() -> tuple[str, int]:
    """A client address no other test client uses: attempt limits are counted per address
    in the database, so a test's attempts must not count against another's."""
    n = next(_addresses)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", 50000


def report_in_a_grid(
    platform: Platform,
    client: TestClient,
    headers: dict[str, str],
    description: str,
    channel: str = "hotline",
) -> dict[str, Any]:
    """A case reported through the API (category CR01) at a point inside the city's first
    grid; the answer, a 201 checked."""
    with UnitOfWork(platform.session_factory) as uow:
        grid = AreaRepository(uow.session).list(level=Level.GRID)[0]
        point = grid.geometry.representative_point()
    reported = client.post(
        "/api/v1/cases",
        json={
            "description": description,
            "category": "CR01",
            "lat": point.y,
            "lon": point.x,
            "channel": channel,
        },
        headers=headers,
    )
    assert reported.status_code == 201, reported.text
    answer: dict[str, Any] = reported.json()
    return answer


@pytest.fixture
def browser(city: City) -> Iterator[TestClient]:
    """A client of its own (cookies, address), for tests that keep cookies (login,
    language) or count attempts."""
    with TestClient(create_app(city.platform), client=own_address()) as client:
        yield client


_tokens: dict[tuple[int, str], str] = {}


_unit_users: set[tuple[int, str]] = set()


@pytest.fixture
def auth(city: City, city_client: TestClient):  # type: ignore[no-untyped-def]
    """auth("cadre") → headers with a bearer token for that persona of the demo city;
    auth.unit("990101001-ZFD") → headers of a handler of that unit (created on first use)."""

    def unit(department: str) -> dict[str, str]:
        username = f"h.{department}"
        if (id(city), username) not in _unit_users:
            with UnitOfWork(city.platform.session_factory) as uow:
                add_user(
                    uow,
                    SYSTEM,
                    NewUser(username, "handler", "handler-password", department_code=department),
                )
            _unit_users.add((id(city), username))
            city.passwords[username] = "handler-password"
        return headers(username)

    def headers(username: str) -> dict[str, str]:
        key = (id(city), username)
        if key not in _tokens:
            response = city_client.post(
                "/api/v1/auth/token",
                data={"username": username, "password": city.password(username)},
            )
            assert response.status_code == 200, response.text
            _tokens[key] = response.json()["access_token"]
        return {"Authorization": f"Bearer {_tokens[key]}"}

    headers.unit = unit  # type: ignore[attr-defined]
    return headers


# ------------------------------------------------------------------ an empty database per test


@pytest.fixture(scope="session")
def scratch_url(databases: DatabaseMaker) -> str:
    url = databases.new("scratch")
    open_platform(url).engine.dispose()
    return url


@pytest.fixture
def scratch(scratch_url: str) -> Iterator[Platform]:
    platform = build_platform(settings_for(scratch_url))
    yield platform
    with UnitOfWork(platform.session_factory) as uow:
        delete_everything(uow.session)
        uow.commit()
    platform.engine.dispose()


@pytest.fixture
def scratch_client(scratch: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(scratch)) as client:
        yield client


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"needs the shared data folder at {SHARED_DATA} (not in this checkout)")
    return SHARED_DATA
