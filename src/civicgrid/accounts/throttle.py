"""Wrong passwords, counted per account and per client address in the database (so all
server processes share the counts), and the lock an account gets after too many.

Asked before a password is checked, so a locked account or a guessing address costs no
argon2 hash. Only failures count: a person who logs in every hour is never throttled. An
unknown username is counted and locked like any other, so the answers do not tell which
usernames exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.accounts.domain import AccountLocked
from civicgrid.core.db import utcnow
from civicgrid.core.ratelimit import RateLimiter, TooManyAttempts


@dataclass(frozen=True)
class Lock:
    """An account locked by a failure just now: until when, after how many failures."""

    until: datetime
    failures: int


class LoginThrottle:
    """PER_ACCOUNT failures of one account within WINDOW_SECONDS lock it for
    LOCKOUT_SECONDS; PER_ADDRESS failures from one client address within the window stop
    that address from trying any account until the oldest leaves the window."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        per_account: int,
        per_address: int,
        window_seconds: float,
        lockout_seconds: float,
        timezone: str,
        secret: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        def limiter(name: str, limit: int, window: float) -> RateLimiter:
            return RateLimiter(session_factory, name, limit, window, secret=secret, clock=clock)

        self.per_account = per_account
        self.timezone = timezone
        self._clock = clock
        self._accounts = limiter("login.account", per_account, window_seconds)
        self._addresses = limiter("login.address", per_address, window_seconds)
        # A lock is one row that stays in its window for the lockout's length.
        self._locks = limiter("login.locked", 1, lockout_seconds)

    def admit(self, username: str, address: str) -> None:
        """Raise AccountLocked (429) while USERNAME is locked, TooManyAttempts (429) while
        ADDRESS has failed too often; both say when to try again."""
        left = self._locks.wait(username)
        if left > 0:
            raise self.locked(self._clock() + timedelta(seconds=left))
        left = self._addresses.wait(address)
        if left > 0:
            seconds = math.ceil(left)
            raise TooManyAttempts(
                "too_many_login_failures", seconds=seconds, minutes=math.ceil(seconds / 60)
            )

    def failed(self, username: str, address: str) -> Lock | None:
        """Count a wrong password; the Lock when this one locked the account."""
        self._addresses.add(address)
        failures = self._accounts.add(username)
        if failures < self.per_account:
            return None
        self._locks.add(username)
        self._accounts.clear(username)  # after the lock, a fresh count
        return Lock(self._clock() + timedelta(seconds=self._locks.window), failures)

    def succeeded(self, username: str) -> None:
        """The right password: the account's failures are forgotten (not the address's, so
        one account of one's own does not reset a guesser's count)."""
        self._accounts.clear(username)

    def locked(self, until: datetime) -> AccountLocked:
        seconds = max(math.ceil((until - self._clock()).total_seconds()), 1)
        return AccountLocked(until, self.timezone, seconds)
