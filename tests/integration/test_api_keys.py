"""API keys are listed (never the key), revoked at once, and given an expiry, by the
command line and the API; an expired key answers 401 saying so; each change is in the
key's history."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from typer.testing import CliRunner

from civicgrid.accounts.services import (
    NewUser,
    add_api_key,
    add_user,
    api_key_history,
    list_api_keys,
    set_api_key_expiry,
)
from civicgrid.app import create_app
from civicgrid.areas.domain import Area, Department, Level
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.cli import app as cli
from civicgrid.core.db import REVISIONS_MAX_AGE, UnitOfWork
from civicgrid.core.i18n import day_start
from civicgrid.core.permissions import SYSTEM
from tests.conftest import own_address, settings_for


@pytest.fixture
def city_hall(scratch: Platform) -> Platform:
    """A city with its housing bureau, and an administrator."""
    with UnitOfWork(scratch.session_factory) as uow:
        AreaRepository(uow.session).add(
            Area(
                code="990100",
                name="示范市",
                level=Level.CITY,
                parent_code=None,
                geometry=box(104.0, 30.6, 104.1, 30.7),
                path="/990100/",
            )
        )
        uow.session.flush()
        DepartmentRepository(uow.session).add(
            Department(code="990100-ZJJ", name="住建局", level=Level.CITY, area_code="990100")
        )
        uow.commit()
        add_user(uow, SYSTEM, NewUser("chen.admin", "admin", "admin-password"))
    return scratch


def run(platform: Platform, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", platform.settings.database_url])


def key_of(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return str(result.output.strip().splitlines()[-1])


@pytest.fixture
def client(city_hall: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(city_hall), client=own_address()) as client:
        yield client


def me(client: TestClient, key: str) -> Any:
    return client.get("/api/v1/auth/me", headers={"X-API-Key": key})


def test_keys_are_listed_with_their_unit_use_and_expiry_never_the_key(
    city_hall: Platform, client: TestClient
) -> None:
    key = key_of(
        run(
            city_hall,
            "apikey",
            "add",
            "housing-sync",
            "--department",
            "990100-ZJJ",
            "--expires",
            "2099-01-31",
        )
    )
    other = key_of(run(city_hall, "apikey", "add", "hotline"))
    assert me(client, key).status_code == 200
    listed = run(city_hall, "apikey", "list")
    assert listed.exit_code == 0, listed.output
    assert key not in listed.output and other not in listed.output
    rows = [line.split("\t") for line in listed.output.splitlines()]
    assert rows[0] == ["id", "name", "unit", "prefix", "created", "last used", "expires", "state"]
    housing = next(row for row in rows if row[1] == "housing-sync")
    assert housing[2:4] == ["990100-ZJJ", f"{key[:8]}…"]
    assert housing[6:] == ["2099年1月31日 00:00", "active"]
    hotline = next(row for row in rows if row[1] == "hotline")
    assert hotline[5:] == ["never", "never", "active"]
    with UnitOfWork(city_hall.session_factory) as uow:
        (found,) = [k for k in list_api_keys(uow, SYSTEM) if k.name == "housing-sync"]
        assert found.department_name == "住建局"
        assert found.last_used_at is not None
        # The city's midnight that begins the day, in UTC.
        assert found.expires_at == day_start(date(2099, 1, 31), "Asia/Shanghai")
        assert found.expires_at == datetime(2099, 1, 30, 16, 0, tzinfo=UTC)


def test_a_revoked_key_stops_at_once_in_every_process(
    city_hall: Platform, client: TestClient, scratch_url: str
) -> None:
    key = key_of(run(city_hall, "apikey", "add", "housing-sync"))
    other = build_platform(settings_for(scratch_url))
    try:
        with TestClient(create_app(other), client=own_address()) as second:
            assert me(client, key).status_code == 200
            assert me(second, key).status_code == 200  # remembered there now
            with UnitOfWork(city_hall.session_factory) as uow:
                (listed,) = list_api_keys(uow, SYSTEM)
            revoked = run(city_hall, "apikey", "revoke", str(listed.id), "--reason", "泄露")
            assert revoked.exit_code == 0, revoked.output
            time.sleep(REVISIONS_MAX_AGE)
            for process in (client, second):
                refused = me(process, key)
                assert (refused.status_code, refused.json()["error"]["code"]) == (
                    401,
                    "api_key_invalid",
                )
    finally:
        other.engine.dispose()
    again = run(city_hall, "apikey", "revoke", str(listed.id))
    assert again.exit_code == 1 and "已被吊销" in again.output
    assert "revoked" in run(city_hall, "apikey", "list").output


def test_an_expired_key_answers_401_saying_when(city_hall: Platform, client: TestClient) -> None:
    with UnitOfWork(city_hall.session_factory) as uow:
        key = add_api_key(uow, SYSTEM, "short-lived")
        (listed,) = list_api_keys(uow, SYSTEM)
    assert me(client, key).status_code == 200
    soon = datetime.now(UTC) + timedelta(seconds=1.5)
    with UnitOfWork(city_hall.session_factory) as uow:
        set_api_key_expiry(uow, SYSTEM, listed.id, soon)
    assert me(client, key).status_code == 200  # remembered, but not past its expiry
    time.sleep(1.6)
    refused = client.get("/api/v1/auth/me", headers={"X-API-Key": key, "Accept-Language": "en"})
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert error["code"] == "api_key_expired"
    at = soon.isoformat(timespec="minutes")
    assert error["message"] == (
        f"API key {key[:8]}… expired at {at} (UTC); ask an administrator for a new key or a "
        "later expiry"
    )


def test_an_expiry_is_set_later_or_removed_and_never_in_the_past(city_hall: Platform) -> None:
    key = key_of(run(city_hall, "apikey", "add", "housing-sync"))
    with UnitOfWork(city_hall.session_factory) as uow:
        (listed,) = list_api_keys(uow, SYSTEM)
    key_id = str(listed.id)
    past = run(city_hall, "apikey", "expire", key_id, "--on", "2020-01-01")
    assert past.exit_code == 1
    assert "expires_at: 失效时间已经过去；要立即停用，请吊销该密钥" in past.output
    assert run(city_hall, "apikey", "expire", key_id, "--on", "2099-06-01").exit_code == 0
    assert run(city_hall, "apikey", "expire", key_id, "--never").exit_code == 0
    neither = run(city_hall, "apikey", "expire", key_id)
    assert neither.exit_code == 2
    revoked = run(city_hall, "apikey", "revoke", key_id)
    assert revoked.exit_code == 0
    with UnitOfWork(city_hall.session_factory) as uow:
        history = [(e.action, e.data["changes"]) for e in api_key_history(uow, SYSTEM, listed.id)]
    assert [action for action, _ in history] == ["create", "expiry", "expiry", "revoke"]
    assert history[0][1]["prefix"] == [None, key[:8]]
    assert history[1][1]["expires_at"] == [None, "2099-05-31T16:00:00+00:00"]
    assert history[2][1]["expires_at"] == ["2099-05-31T16:00:00+00:00", None]
    assert history[3][1]["active"] == [True, False]


def test_administrators_manage_keys_through_the_api(
    city_hall: Platform, client: TestClient
) -> None:
    login = client.post(
        "/api/v1/auth/token", data={"username": "chen.admin", "password": "admin-password"}
    )
    admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
    created = client.post(
        "/api/v1/apikeys",
        json={
            "name": "housing-sync",
            "department_code": "990100-ZJJ",
            "expires_at": "2099-01-01T00:00:00+08:00",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    (listed,) = client.get("/api/v1/apikeys", headers=admin).json()
    assert key not in str(listed)
    assert listed["prefix"] == key[:8]
    assert listed["expires_at"].startswith("2098-12-31T16:00")
    assert (listed["active"], listed["expired"]) == (True, False)
    moved = client.put(
        f"/api/v1/apikeys/{listed['id']}/expiry",
        json={"expires_at": None, "reason": "长期对接"},
        headers=admin,
    )
    assert moved.status_code == 204, moved.text
    assert (
        client.post(
            f"/api/v1/apikeys/{listed['id']}/revoke", json={"reason": "停用"}, headers=admin
        ).status_code
        == 204
    )
    assert me(client, key).status_code == 401
    history = client.get(f"/api/v1/apikeys/{listed['id']}/history", headers=admin).json()
    assert [h["action"] for h in history] == ["create", "expiry", "revoke"]
    # Only administrators: a department system cannot list its peers' keys.
    with UnitOfWork(city_hall.session_factory) as uow:
        system = add_api_key(uow, SYSTEM, "peer")
    assert client.get("/api/v1/apikeys", headers={"X-API-Key": system}).status_code == 403
