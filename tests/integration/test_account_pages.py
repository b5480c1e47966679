"""The administrators' pages for accounts and API keys: disable and enable accounts, revoke
keys and give them an expiry, each confirmed on the list; only for administrators."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civicgrid.accounts.services import NewUser, add_api_key, add_user, list_api_keys
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM
from tests.conftest import own_address

PASSWORD = "the-right-password"


@pytest.fixture
def office(scratch: Platform) -> Platform:
    with UnitOfWork(scratch.session_factory) as uow:
        add_user(uow, SYSTEM, NewUser("chen.admin", "admin", PASSWORD, display_name="陈管理"))
        add_user(uow, SYSTEM, NewUser("wang.fang", "resident", PASSWORD, display_name="王芳"))
    return scratch


def browser_of(platform: Platform, username: str) -> TestClient:
    client = TestClient(create_app(platform), client=own_address())
    client.post("/login", data={"username": username, "password": PASSWORD})
    assert client.cookies.get("civicgrid_token"), username
    return client


@pytest.fixture
def admin(office: Platform) -> Iterator[TestClient]:
    with browser_of(office, "chen.admin") as client:
        yield client


def test_the_admin_area_links_to_accounts_and_keys(admin: TestClient) -> None:
    page = admin.get("/admin/rules").text
    assert 'href="/admin/accounts"' in page and 'href="/admin/apikeys"' in page


def test_an_administrator_disables_and_enables_an_account(
    admin: TestClient, office: Platform
) -> None:
    listed = admin.get("/admin/accounts")
    assert listed.status_code == 200
    assert 'id="user-wang.fang"' in listed.text and "王芳" in listed.text
    with browser_of(office, "wang.fang") as resident:
        done = admin.post("/admin/accounts/wang.fang/disable", data={"reason": "账号被盗"})
        assert done.status_code == 200
        assert "已停用账号 wang.fang，其登录已全部失效" in done.text
        assert done.url.query == b"done=disabled&user=wang.fang&q=wang.fang"
        # Her page session ended with it: she is a visitor again.
        assert 'id="login-link"' in resident.get("/").text
    enabled = admin.post("/admin/accounts/wang.fang/enable")
    assert "已启用账号 wang.fang" in enabled.text


def test_a_missing_reason_is_said_on_the_row(admin: TestClient) -> None:
    refused = admin.post("/admin/accounts/wang.fang/disable", data={"reason": ""})
    assert refused.status_code == 422
    assert "wang.fang: reason: 请填写原因" in refused.text
    assert 'id="user-wang.fang"' in refused.text


def test_an_administrator_revokes_a_key_and_sets_an_expiry(
    admin: TestClient, office: Platform
) -> None:
    with UnitOfWork(office.session_factory) as uow:
        key = add_api_key(uow, SYSTEM, "housing-sync")
        (listed,) = list_api_keys(uow, SYSTEM)
    page = admin.get("/admin/apikeys")
    assert page.status_code == 200
    assert "housing-sync" in page.text and f"{key[:8]}…" in page.text
    assert key not in page.text

    dated = admin.post(f"/admin/apikeys/{listed.id}/expiry", data={"expires_on": "2099-03-01"})
    assert f"已设置密钥 {listed.id} 的失效日期" in dated.text
    assert "2099年3月1日 00:00" in dated.text
    past = admin.post(f"/admin/apikeys/{listed.id}/expiry", data={"expires_on": "2001-03-01"})
    assert past.status_code == 422
    assert "失效时间已经过去；要立即停用，请吊销该密钥" in past.text
    assert 'value="2001-03-01"' in past.text  # what was typed is kept
    wrong = admin.post(f"/admin/apikeys/{listed.id}/expiry", data={"expires_on": "next week"})
    assert "日期“next week”无效" in wrong.text
    cleared = admin.post(f"/admin/apikeys/{listed.id}/expiry", data={"expires_on": ""})
    assert f"密钥 {listed.id} 已设为永不失效" in cleared.text

    assert admin.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 200
    revoked = admin.post(f"/admin/apikeys/{listed.id}/revoke", data={"reason": "泄露"})
    assert f"已吊销密钥 {listed.id}，它已立即停止使用" in revoked.text
    assert "已吊销" in revoked.text
    assert admin.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401


def test_only_administrators_see_the_pages(office: Platform) -> None:
    with browser_of(office, "wang.fang") as resident:
        for path in ("/admin/accounts", "/admin/apikeys"):
            assert resident.get(path).status_code == 403
        refused = resident.post("/admin/accounts/chen.admin/disable", data={"reason": "x"})
        assert refused.status_code == 403


def test_the_pages_fit_a_phone(admin: TestClient) -> None:
    # Narrow screens turn the rows into cards (cases.css), each cell named by data-label.
    for path in ("/admin/accounts", "/admin/apikeys"):
        page = admin.get(path).text
        assert 'class="queue-table' in page
        assert 'name="viewport" content="width=device-width' in page
