"""Attempt limits for endpoints that can be guessed at (tracking a case by number + phone).

Kept in memory, per server process and client address: a sliding window of the last
attempts. With N server processes a client gets at most N times the limit, which is still
far too few to guess a phone number.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from civicgrid.core.errors import CivicGridError


class TooManyAttempts(CivicGridError):
    status = 429
    code = "too_many_attempts"


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._lock = threading.Lock()
        self._attempts: dict[str, deque[float]] = {}

    def check(self, key: str, now: float | None = None) -> None:
        """Count one attempt by KEY, or raise TooManyAttempts (429) when over the limit."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            recent = self._attempts.setdefault(key, deque())
            while recent and moment - recent[0] >= self.window:
                recent.popleft()
            if len(recent) >= self.limit:
                wait = int(self.window - (moment - recent[0])) + 1
                raise TooManyAttempts("too_many_attempts", seconds=wait)
            recent.append(moment)
            if len(self._attempts) > 10_000:  # forget quiet clients
                self._attempts = {k: v for k, v in self._attempts.items() if v}
