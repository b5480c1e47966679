"""Attempt limits are counted in the database, so every server process shares them: two
Platform objects on one database stand for two processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.ratelimit import RateLimiter, TooManyAttempts
from tests.conftest import settings_for

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def second_process(scratch: Platform, scratch_url: str) -> Iterator[Platform]:
    other = build_platform(settings_for(scratch_url))
    yield other
    other.engine.dispose()


def test_guessing_phones_through_two_server_processes_is_stopped_at_the_limit(
    scratch: Platform, second_process: Platform
) -> None:
    with TestClient(create_app(scratch)) as one, TestClient(create_app(second_process)) as two:
        answers = [
            (one if n % 2 else two).get(f"/api/v1/cases/1/track?phone=1380000{n:04d}")
            for n in range(12)
        ]
    assert [a.status_code for a in answers] == [404] * 10 + [429, 429]
    assert answers[-1].json()["error"]["code"] == "too_many_attempts"


def test_the_window_slides_on_every_database(scratch: Platform, second_process: Platform) -> None:
    def limiter(platform: Platform) -> RateLimiter:
        return RateLimiter(platform.session_factory, "signup", limit=2, window_seconds=3600)

    here, there = limiter(scratch), limiter(second_process)
    here.check("198.51.100.4", now=T0)
    there.check("198.51.100.4", now=T0 + timedelta(minutes=30))
    with pytest.raises(TooManyAttempts) as refused:
        here.check("198.51.100.4", now=T0 + timedelta(minutes=40))
    assert refused.value.params["seconds"] == 20 * 60 + 1
    there.check("198.51.100.4", now=T0 + timedelta(minutes=60))  # the first one left
    with pytest.raises(TooManyAttempts):
        here.check("198.51.100.4", now=T0 + timedelta(minutes=61))
    here.check("198.51.100.4", now=T0 + timedelta(hours=3))  # all expired


def test_processes_counting_at_once_never_pass_the_limit(
    scratch: Platform, second_process: Platform
) -> None:
    limiters = [
        RateLimiter(p.session_factory, "guest", limit=7, window_seconds=3600)
        for p in (scratch, second_process)
    ]
    start = threading.Barrier(8)
    allowed: list[int] = []

    def attempts(limiter: RateLimiter) -> None:
        start.wait()
        for _ in range(4):
            try:
                limiter.check("203.0.113.9")
                allowed.append(1)
            except TooManyAttempts:
                pass

    threads = [threading.Thread(target=attempts, args=(limiters[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 7
