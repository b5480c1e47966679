"""Tokens ended by logging out, shared by every server process.

A token is signed and carries its own expiry, so ending one before then means remembering
its id until then. The ids are kept in the database's attempt table (core.ratelimit) under
the name "session.ended": a keyed hash and a time, deleted once the window has passed. The
window is the tokens' lifetime, so an id is remembered as long as its token could be used.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.core.db import utcnow
from civicgrid.core.ratelimit import RateLimiter


class EndedTokens:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        token_lifetime_seconds: float,
        *,
        secret: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._ended = RateLimiter(
            session_factory, "session.ended", 1, token_lifetime_seconds, secret=secret, clock=clock
        )

    def end(self, token_id: str) -> None:
        """The token with TOKEN_ID stops working (in every process)."""
        self._ended.add(token_id)

    def ended(self, token_id: str) -> bool:
        return bool(token_id) and self._ended.wait(token_id) > 0
