"""Logging out (one login, or everywhere), a new password and disabling an account end the
sessions they concern at once, in every server process (two Platform objects on one
database stand for two)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from civicgrid.accounts.services import NewUser, account_history, add_user
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.cli import app as cli
from civicgrid.core.db import REVISIONS_MAX_AGE, UnitOfWork
from civicgrid.core.permissions import SYSTEM
from civicgrid.core.security import issue_token
from tests.conftest import TEST_SECRET, own_address, settings_for

PASSWORD = "the-right-password"


@pytest.fixture
def people(scratch: Platform) -> Platform:
    with UnitOfWork(scratch.session_factory) as uow:
        add_user(uow, SYSTEM, NewUser("chen.admin", "admin", PASSWORD, display_name="陈管理"))
        for name in ("wang.fang", "li.na"):
            add_user(uow, SYSTEM, NewUser(name, "resident", PASSWORD, display_name=name))
    return scratch


@pytest.fixture
def one(people: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(people), client=own_address()) as client:
        yield client


@pytest.fixture
def two(people: Platform, scratch_url: str) -> Iterator[TestClient]:
    """A second server process on the same database."""
    other = build_platform(settings_for(scratch_url))
    with TestClient(create_app(other), client=own_address()) as client:
        yield client
    other.engine.dispose()


def token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def me(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/auth/me", headers=headers)


def test_logging_out_ends_the_token_at_once_in_every_process(
    one: TestClient, two: TestClient
) -> None:
    mine = token(one, "wang.fang")
    assert me(one, mine).status_code == 200
    assert me(two, mine).status_code == 200  # the other process knows her now
    assert one.post("/api/v1/auth/logout", headers=mine).status_code == 204
    refused = me(one, mine)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "session_ended"
    # The other process reads the change counters at most a second old.
    time.sleep(REVISIONS_MAX_AGE)
    assert me(two, mine).status_code == 401


def test_logging_out_ends_this_login_and_everywhere_ends_all(
    one: TestClient, two: TestClient
) -> None:
    phone, desk, script = (token(one, "wang.fang") for _ in range(3))
    assert one.post("/api/v1/auth/logout", headers=phone).status_code == 204
    assert me(one, phone).status_code == 401
    assert me(one, desk).status_code == 200  # her other logins go on
    assert me(two, script).status_code == 200
    everywhere = one.post("/api/v1/auth/logout?everywhere=true", headers=desk)
    assert everywhere.status_code == 204
    time.sleep(REVISIONS_MAX_AGE)
    for client in (one, two):
        assert me(client, desk).status_code == 401
        assert me(client, script).status_code == 401
    assert me(one, token(one, "wang.fang")).status_code == 200  # a new login works


def test_the_logout_button_ends_the_session_not_only_the_cookie(one: TestClient) -> None:
    elsewhere = token(one, "li.na")
    one.post("/login", data={"username": "li.na", "password": PASSWORD})
    cookie = one.cookies.get("civicgrid_token")
    assert cookie
    assert one.post("/logout", follow_redirects=False).status_code == 303
    stolen = {"Authorization": f"Bearer {cookie}"}
    assert me(one, stolen).status_code == 401
    assert me(one, elsewhere).status_code == 200  # her login on another device goes on
    # On pages the old cookie is only a visitor's: the page shows the login link.
    one.cookies.set("civicgrid_token", cookie)
    assert 'id="login-link"' in one.get("/").text


def test_a_new_password_ends_every_session(one: TestClient, two: TestClient) -> None:
    old = token(one, "li.na")
    assert me(two, old).status_code == 200
    assert (
        CliRunner()
        .invoke(cli, ["user", "passwd", "li.na", "--password", "a-new-password", "--db", url(one)])
        .exit_code
        == 0
    )
    time.sleep(REVISIONS_MAX_AGE)
    assert me(one, old).status_code == 401
    assert me(two, old).status_code == 401
    assert me(one, token(one, "li.na", "a-new-password")).status_code == 200


def url(client: TestClient) -> str:
    app: Any = client.app
    return str(app.state.platform.settings.database_url)


def test_disabling_an_account_ends_its_tokens_and_refuses_its_logins(
    one: TestClient, two: TestClient, people: Platform
) -> None:
    admin, hers = token(one, "chen.admin"), token(one, "wang.fang")
    assert me(two, hers).status_code == 200
    answer = one.post("/api/v1/users/wang.fang/disable", json={"reason": "离职"}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    time.sleep(REVISIONS_MAX_AGE)
    for client in (one, two):
        refused = me(client, hers)
        assert (refused.status_code, refused.json()["error"]["code"]) == (401, "account_disabled")
    login = one.post("/api/v1/auth/token", data={"username": "wang.fang", "password": PASSWORD})
    assert (login.status_code, login.json()["error"]["code"]) == (401, "account_disabled")

    assert one.post("/api/v1/users/wang.fang/enable", json={}, headers=admin).status_code == 200
    assert me(one, hers).status_code == 401  # her old tokens stay ended
    assert me(one, token(one, "wang.fang")).status_code == 200
    with UnitOfWork(people.session_factory) as uow:
        history = [
            (e.action, e.actor_name, e.note) for e in account_history(uow, SYSTEM, "wang.fang")
        ]
    assert history[-2:] == [("disable", "chen.admin", "离职"), ("enable", "chen.admin", "")]


def test_disabling_needs_a_reason_and_never_ones_own_account(one: TestClient) -> None:
    admin = token(one, "chen.admin")
    no_reason = one.post(
        "/api/v1/users/li.na/disable",
        json={"reason": " "},
        headers={**admin, "Accept-Language": "en"},
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["error"]["message"] == "reason: Please give a reason"
    herself = one.post("/api/v1/users/chen.admin/disable", json={"reason": "x"}, headers=admin)
    assert (herself.status_code, herself.json()["error"]["code"]) == (
        409,
        "cannot_disable_yourself",
    )
    resident = token(one, "li.na")
    forbidden = one.post("/api/v1/users/wang.fang/disable", json={"reason": "x"}, headers=resident)
    assert forbidden.status_code == 403


def test_the_command_line_disables_and_enables(one: TestClient, people: Platform) -> None:
    hers = token(one, "li.na")
    database = people.settings.database_url
    disabled = CliRunner().invoke(
        cli, ["user", "disable", "li.na", "--reason", "账号被盗", "--db", database]
    )
    assert disabled.exit_code == 0, disabled.output
    assert me(one, hers).status_code == 401
    listed = CliRunner().invoke(cli, ["user", "list", "--db", database])
    row = next(line for line in listed.output.splitlines() if "li.na" in line)
    assert row.split()[-2:] == ["no", "│"]
    again = CliRunner().invoke(cli, ["user", "disable", "li.na", "--reason", "x", "--db", database])
    assert again.exit_code == 1
    assert "账号 li.na 已是停用状态" in again.output
    enabled = CliRunner().invoke(cli, ["user", "enable", "li.na", "--db", database])
    assert enabled.exit_code == 0, enabled.output
    assert me(one, token(one, "li.na")).status_code == 200


def test_an_old_token_without_a_generation_works_until_the_first_logout(
    one: TestClient,
) -> None:
    # Tokens issued before sessions had generations and ids count as the first generation;
    # logging one out ends all of them.
    issued, _ = issue_token("li.na", TEST_SECRET, timedelta(minutes=5))
    claims = jwt.decode(issued, TEST_SECRET, algorithms=["HS256"])
    del claims["gen"], claims["jti"]
    legacy = {"Authorization": f"Bearer {jwt.encode(claims, TEST_SECRET, algorithm='HS256')}"}
    other = token(one, "li.na")
    assert me(one, legacy).status_code == 200
    one.post("/api/v1/auth/logout", headers=legacy)
    assert me(one, legacy).status_code == 401
    assert me(one, other).status_code == 401
