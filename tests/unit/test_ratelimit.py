from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from civicgrid.core.db import make_engine, make_session_factory
from civicgrid.core.ratelimit import RateLimiter, TooManyAttempts, rate_limit_attempts

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def at(second: float) -> datetime:
    return T0 + timedelta(seconds=second)


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    rate_limit_attempts.create(engine)
    return make_session_factory(engine)


@pytest.fixture
def limiter(sessions: sessionmaker[Session]) -> RateLimiter:
    return RateLimiter(sessions, "track", limit=3, window_seconds=60)


def test_attempts_over_the_limit_are_refused_until_the_window_passes(
    limiter: RateLimiter,
) -> None:
    for second in range(3):
        limiter.check("10.0.0.1", now=at(100 + second))
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("10.0.0.1", now=at(110))
    assert refused.value.status == 429 and refused.value.params["seconds"] == 51
    limiter.check("10.0.0.2", now=at(110))  # another address is not affected
    limiter.check("10.0.0.1", now=at(161))  # the first attempt has left the window


def test_the_window_slides_one_attempt_at_a_time(limiter: RateLimiter) -> None:
    for second in (0, 20, 40):
        limiter.check("10.0.0.1", now=at(second))
    limiter.check("10.0.0.1", now=at(60))  # the one at 0 left
    with pytest.raises(TooManyAttempts) as refused:
        limiter.check("10.0.0.1", now=at(61))  # those at 20, 40, 60 are still in
    assert refused.value.params["seconds"] == 20
    limiter.check("10.0.0.1", now=at(80))


def test_another_limiter_counts_apart_and_a_cleared_key_starts_again(
    sessions: sessionmaker[Session], limiter: RateLimiter
) -> None:
    other = RateLimiter(sessions, "signup", limit=1, window_seconds=60)
    for second in range(3):
        limiter.check("10.0.0.1", now=at(second))
    other.check("10.0.0.1", now=at(3))
    with pytest.raises(TooManyAttempts):
        other.check("10.0.0.1", now=at(4))
    limiter.clear("10.0.0.1")
    limiter.check("10.0.0.1", now=at(5))
    with pytest.raises(TooManyAttempts):
        other.check("10.0.0.1", now=at(5))


def test_addresses_are_stored_hashed(sessions: sessionmaker[Session], limiter: RateLimiter) -> None:
    limiter.check("203.0.113.7", now=at(0))
    with sessions() as session:
        subject = session.execute(select(rate_limit_attempts.c.subject)).scalar_one()
    assert "203.0.113.7" not in subject and len(subject) == 32
