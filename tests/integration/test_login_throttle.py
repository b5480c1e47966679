"""Wrong passwords are counted per account and per client address, in the database (so
every server process shares the counts): too many lock the account for a while, even for
the right password, and the answer says when to try again."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from civicgrid.accounts import services
from civicgrid.accounts.services import NewUser, account_history, add_user
from civicgrid.accounts.throttle import LoginThrottle
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import format_datetime
from civicgrid.core.permissions import SYSTEM
from tests.conftest import own_address, settings_for

PASSWORD = "the-right-password"


@pytest.fixture
def people(scratch: Platform) -> Platform:
    with UnitOfWork(scratch.session_factory) as uow:
        for name in ("wang.fang", "li.na", "zhao.lei"):
            add_user(uow, SYSTEM, NewUser(name, "resident", PASSWORD, display_name=name))
    return scratch


def client_of(platform: Platform) -> TestClient:
    return TestClient(create_app(platform), client=own_address())


def log_in(client: TestClient, username: str, password: str, lang: str = "en") -> Any:
    return client.post(
        "/api/v1/auth/token",
        data={"username": username, "password": password},
        headers={"Accept-Language": lang},
    )


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(people: Platform) -> None:
    with client_of(people) as client:
        wrong = [log_in(client, "wang.fang", f"guess-{n}").status_code for n in range(4)]
        locking = log_in(client, "wang.fang", "guess-5")
        right = log_in(client, "wang.fang", PASSWORD)
    assert wrong == [401] * 4
    assert locking.status_code == 429
    assert right.status_code == 429
    error = right.json()["error"]
    assert error["code"] == "account_locked"
    seconds = int(right.headers["Retry-After"])
    assert 14 * 60 < seconds <= 15 * 60
    # She is told when, in the city's time zone and her language.
    until = datetime.now(UTC) + timedelta(seconds=seconds)
    shown = format_datetime(until, "en", people.settings.timezone, year=False)
    assert error["message"] == (
        f"Too many wrong passwords: the account is locked for now; try again at {shown} "
        "(in about 15 min)"
    )


def test_the_lock_is_logged_and_kept_in_the_accounts_history(
    people: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    with client_of(people) as client, caplog.at_level(logging.WARNING, "civicgrid.accounts"):
        for n in range(5):
            log_in(client, "li.na", f"guess-{n}")
    assert any("li.na locked until" in r.getMessage() for r in caplog.records)
    with UnitOfWork(people.session_factory) as uow:
        history = account_history(uow, SYSTEM, "li.na")
        locked = [(e.actor_name, e.data["failures"]) for e in history if e.action == "locked"]
    assert locked == [("login-throttle", 5)]


def test_a_locked_account_costs_no_password_hash(
    people: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client_of(people) as client:
        for n in range(5):
            log_in(client, "zhao.lei", f"guess-{n}")
        checked: list[str] = []
        real = services.verify_password
        monkeypatch.setattr(
            services, "verify_password", lambda h, p: checked.append(p) or real(h, p)
        )
        answers = [log_in(client, "zhao.lei", PASSWORD).status_code for _ in range(20)]
    assert answers == [429] * 20
    assert checked == []


def test_the_right_password_forgets_the_failures(people: Platform) -> None:
    with client_of(people) as client:
        first = [log_in(client, "wang.fang", f"guess-{n}").status_code for n in range(4)]
        assert log_in(client, "wang.fang", PASSWORD).status_code == 200
        again = [log_in(client, "wang.fang", f"again-{n}").status_code for n in range(5)]
    assert first == [401] * 4
    assert again == [401] * 4 + [429]  # counted afresh from the successful login


def test_two_server_processes_count_the_same_failures(people: Platform, scratch_url: str) -> None:
    other = build_platform(settings_for(scratch_url))
    address = own_address()
    try:
        with (
            TestClient(create_app(people), client=address) as one,
            TestClient(create_app(other), client=address) as two,
        ):
            answers = [
                log_in(one if n % 2 else two, "li.na", f"guess-{n}").status_code for n in range(6)
            ]
    finally:
        other.engine.dispose()
    assert answers == [401] * 4 + [429, 429]


def test_an_unknown_username_is_locked_like_a_real_one(people: Platform) -> None:
    # The answers must not tell which usernames exist.
    with client_of(people) as client:
        real = [log_in(client, "wang.fang", f"guess-{n}") for n in range(6)]
        unknown = [log_in(client, "wang.fang2", f"guess-{n}") for n in range(6)]
    assert [a.status_code for a in real] == [a.status_code for a in unknown]
    assert [a.status_code for a in unknown] == [401] * 4 + [429, 429]
    assert [a.json()["error"]["code"] for a in real] == [a.json()["error"]["code"] for a in unknown]


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(people: Platform) -> Iterator[tuple[TestClient, Clock]]:
    clock = Clock()
    app: FastAPI = create_app(people)
    app.state.login_throttle = LoginThrottle(
        people.session_factory,
        per_account=5,
        per_address=8,
        window_seconds=15 * 60,
        lockout_seconds=15 * 60,
        timezone=people.settings.timezone,
        clock=clock,
    )
    with TestClient(app, client=own_address()) as client:
        yield client, clock


def test_the_lock_ends_after_its_time(clocked: tuple[TestClient, Clock]) -> None:
    client, clock = clocked
    for n in range(5):
        log_in(client, "wang.fang", f"guess-{n}")
    clock.now += timedelta(minutes=14)
    assert log_in(client, "wang.fang", PASSWORD).status_code == 429
    clock.now += timedelta(minutes=1, seconds=1)
    assert log_in(client, "wang.fang", PASSWORD).status_code == 200


def test_one_address_trying_many_accounts_is_stopped(clocked: tuple[TestClient, Clock]) -> None:
    client, clock = clocked
    names = ["wang.fang", "li.na", "zhao.lei", "someone", "nobody", "x1", "x2", "x3"]
    spraying = [log_in(client, name, "123456").status_code for name in names]
    refused = log_in(client, "li.na", PASSWORD)
    assert spraying == [401] * 8  # no account reached its own limit
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_login_failures"
    assert int(refused.headers["Retry-After"]) == 15 * 60
    clock.now += timedelta(minutes=15, seconds=1)
    assert log_in(client, "li.na", PASSWORD).status_code == 200


def test_the_login_page_says_until_when(people: Platform) -> None:
    with client_of(people) as browser:
        answers = [
            browser.post("/login", data={"username": "wang.fang", "password": f"guess-{n}"})
            for n in range(5)
        ]
        page = browser.post("/login", data={"username": "wang.fang", "password": PASSWORD})
    assert [a.status_code for a in answers] == [401] * 4 + [429]
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) > 14 * 60
    assert "登录失败次数过多，账号已暂时锁定，请于" in page.text
    assert "（约 15 分钟后）再试" in page.text
    assert browser.cookies.get("civicgrid_token") is None
