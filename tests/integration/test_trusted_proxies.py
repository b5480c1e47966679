"""A client's address comes from X-Forwarded-For only when the request comes through a
proxy the deployment trusts (CIVICGRID_TRUSTED_PROXIES); every attempt limit counts it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.cli import app as cli
from civicgrid.core.proxies import TrustedProxies, parse_networks
from civicgrid.core.settings import Settings
from tests.conftest import TEST_SECRET, settings_for

PROXY = ("10.20.0.5", 41000)  # the reverse proxy, as the server's socket sees it


@pytest.fixture
def behind_proxy(scratch: Platform, scratch_url: str) -> Iterator[Platform]:
    settings = settings_for(scratch_url).model_copy(update={"trusted_proxies": "10.20.0.0/16"})
    platform = build_platform(settings)
    yield platform
    platform.engine.dispose()


def track(client: TestClient, n: int, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    answer = client.get(f"/api/v1/cases/1/track?phone=1390000{n:04d}", headers=headers)
    return answer.status_code


def test_two_residents_behind_one_trusted_proxy_each_have_their_own_limit(
    behind_proxy: Platform,
) -> None:
    with TestClient(create_app(behind_proxy), client=PROXY) as client:
        first = [track(client, n, "198.51.100.21") for n in range(11)]
        second = [track(client, n, "198.51.100.22") for n in range(3)]
    assert first == [404] * 10 + [429]
    assert second == [404] * 3  # not counted with her neighbour's guesses


def test_a_client_that_forges_the_header_is_counted_by_its_own_address(
    behind_proxy: Platform,
) -> None:
    # Not a trusted proxy: whatever it writes in X-Forwarded-For is ignored.
    with TestClient(create_app(behind_proxy), client=("203.0.113.50", 5000)) as client:
        answers = [track(client, n, f"198.51.100.{n}") for n in range(11)]
    assert answers == [404] * 10 + [429]


def test_without_trusted_proxies_the_header_is_never_believed(scratch: Platform) -> None:
    with TestClient(create_app(scratch), client=PROXY) as client:
        answers = [track(client, n, f"198.51.100.{100 + n}") for n in range(11)]
    assert answers == [404] * 10 + [429]


def test_the_chain_is_read_from_the_nearest_hop() -> None:
    proxies = TrustedProxies(parse_networks("10.20.0.0/16, 192.0.2.7"))
    # A client that wrote its own header before the trusted proxies added the real one.
    assert proxies.client_of("10.20.0.5", "1.2.3.4, 198.51.100.9, 192.0.2.7") == "198.51.100.9"
    assert proxies.client_of("10.20.0.5", "198.51.100.9") == "198.51.100.9"
    assert proxies.client_of("203.0.113.1", "198.51.100.9") == "203.0.113.1"
    assert proxies.client_of("10.20.0.5", None) == "10.20.0.5"
    assert proxies.client_of("::ffff:10.20.0.5", "198.51.100.9") == "198.51.100.9"
    assert proxies.client_of("testclient", "198.51.100.9") == "testclient"


def test_a_wrong_proxy_setting_is_refused_naming_the_entry() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(environment="test", secret_key=TEST_SECRET, trusted_proxies="10.0.0.1, nginx")
    assert "'nginx' is not an IP address or network" in str(refused.value)


def test_the_scheme_comes_from_a_trusted_proxy_too(behind_proxy: Platform) -> None:
    app = create_app(behind_proxy)

    @app.get("/seen")
    def seen(request: Request) -> dict[str, str]:
        return {
            "scheme": request.url.scheme,
            "client": request.client.host if request.client else "",
        }

    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.30"}
    with TestClient(app, client=PROXY) as client:
        assert client.get("/seen", headers=headers).json() == {
            "scheme": "https",
            "client": "198.51.100.30",
        }
    with TestClient(app, client=("203.0.113.50", 5000)) as client:
        assert client.get("/seen", headers=headers).json() == {
            "scheme": "http",
            "client": "203.0.113.50",
        }


def test_serve_leaves_forwarded_headers_to_the_platform(
    monkeypatch: pytest.MonkeyPatch, scratch_url: str
) -> None:
    import uvicorn

    called: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: called.update(kwargs))
    monkeypatch.setenv("CIVICGRID_SECRET_KEY", TEST_SECRET)
    result = CliRunner().invoke(cli, ["serve", "--db", scratch_url])
    assert result.exit_code == 0, result.output
    # uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS).
    assert called["proxy_headers"] is False
