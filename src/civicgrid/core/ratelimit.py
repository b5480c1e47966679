"""Attempt limits for what can be guessed at or flooded (tracking a case by number + phone,
sign-ups, reports without an account), shared by every server process.

Each allowed attempt is a row in `rate_limit_attempts`: the limiter's name, a keyed hash of
what is counted (a client address, an account…) and the time. An attempt is allowed while
fewer than LIMIT rows of the same name and key lie within the last WINDOW seconds: a true
sliding window, with the wait until the oldest one leaves it. Refused attempts are not
stored, so a client who keeps trying gets in again as soon as the window allows.

Counting and adding are one transaction that holds the key for its length (a transaction
advisory lock on PostgreSQL; on SQLite the first write takes the database's one write
turn), so two processes counting the same key never both get the last slot. Rows that left
the window are deleted as their key is counted again, and all of a limiter's old rows once
per window.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from civicgrid.core.db import UnitOfWork, UtcDateTime, metadata, utcnow
from civicgrid.core.errors import CivicGridError

rate_limit_attempts = Table(
    "rate_limit_attempts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("limiter", String(32), nullable=False),
    Column("subject", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_rate_limit_attempts_limiter_subject_at", "limiter", "subject", "at"),
)


class TooManyAttempts(CivicGridError):
    status = 429
    code = "too_many_attempts"


class RateLimiter:
    """At most LIMIT attempts per key in any WINDOW_SECONDS, counted in the database under
    NAME (one name per kind of attempt: "track", "signup", a login throttle's "login.account"
    and "login.address"…). SECRET keys the hash under which keys are stored."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        name: str,
        limit: int,
        window_seconds: float,
        *,
        secret: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.name = name
        self.limit = limit
        self.window = window_seconds
        self._session_factory = session_factory
        self._hash_key = hashlib.sha256(f"civicgrid.ratelimit:{secret}".encode()).digest()
        self._clock = clock
        self._pruned_at = 0.0  # time.monotonic() of this process's last sweep
        self._prune_lock = threading.Lock()

    def check(self, key: str, now: datetime | None = None) -> None:
        """Count one attempt by KEY, or raise TooManyAttempts (429, with the seconds to wait)
        when KEY already made LIMIT attempts in the window."""
        moment = self._clock() if now is None else now
        since = moment - timedelta(seconds=self.window)
        subject = self._subject(key)
        mine = (rate_limit_attempts.c.limiter == self.name) & (
            rate_limit_attempts.c.subject == subject
        )
        with UnitOfWork(self._session_factory) as uow:
            session = uow.session
            self._hold(session, subject)
            session.execute(
                delete(rate_limit_attempts).where(mine, rate_limit_attempts.c.at <= since)
            )
            if self._sweep_due():
                session.execute(
                    delete(rate_limit_attempts).where(
                        rate_limit_attempts.c.limiter == self.name,
                        rate_limit_attempts.c.at <= since,
                    )
                )
            count, oldest = session.execute(
                select(func.count(), func.min(rate_limit_attempts.c.at)).where(mine)
            ).one()
            if count >= self.limit:
                uow.commit()  # keep what was pruned
                left = (
                    self.window
                    if oldest is None
                    else self.window - (moment - oldest).total_seconds()
                )
                raise TooManyAttempts("too_many_attempts", seconds=int(left) + 1)
            session.execute(
                rate_limit_attempts.insert().values(limiter=self.name, subject=subject, at=moment)
            )
            uow.commit()

    def wait(self, key: str, now: datetime | None = None) -> float:
        """Seconds until KEY may make an attempt (0: now), counting nothing: for a
        throttle that counts only failures, asked before the attempt is made."""
        moment = self._clock() if now is None else now
        since = moment - timedelta(seconds=self.window)
        mine = self._rows_of(key) & (rate_limit_attempts.c.at > since)
        with UnitOfWork(self._session_factory) as uow:
            count = uow.session.execute(select(func.count()).where(mine)).scalar_one()
            if count < self.limit:
                return 0.0
            # The attempt whose leaving the window brings KEY under the limit.
            freeing = uow.session.execute(
                select(rate_limit_attempts.c.at)
                .where(mine)
                .order_by(rate_limit_attempts.c.at)
                .offset(count - self.limit)
                .limit(1)
            ).scalar_one()
        return max(self.window - (moment - freeing).total_seconds(), 0.0)

    def add(self, key: str, now: datetime | None = None) -> int:
        """Count one attempt by KEY whatever the limit (a failure already made), and
        return how many KEY has in the window now."""
        moment = self._clock() if now is None else now
        since = moment - timedelta(seconds=self.window)
        subject = self._subject(key)
        mine = self._rows_of(key)
        with UnitOfWork(self._session_factory) as uow:
            session = uow.session
            self._hold(session, subject)
            session.execute(
                delete(rate_limit_attempts).where(mine, rate_limit_attempts.c.at <= since)
            )
            session.execute(
                rate_limit_attempts.insert().values(limiter=self.name, subject=subject, at=moment)
            )
            count = int(session.execute(select(func.count()).where(mine)).scalar_one())
            uow.commit()
        return count

    def _rows_of(self, key: str) -> ColumnElement[bool]:
        return (rate_limit_attempts.c.limiter == self.name) & (
            rate_limit_attempts.c.subject == self._subject(key)
        )

    def clear(self, key: str) -> None:
        """Forget KEY's attempts (a login throttle, after a successful login)."""
        with UnitOfWork(self._session_factory) as uow:
            uow.session.execute(
                delete(rate_limit_attempts).where(
                    rate_limit_attempts.c.limiter == self.name,
                    rate_limit_attempts.c.subject == self._subject(key),
                )
            )
            uow.commit()

    def _subject(self, key: str) -> str:
        # Client addresses are personal data; the table needs only to tell them apart.
        return hashlib.blake2b(key.encode(), key=self._hash_key, digest_size=16).hexdigest()

    def _hold(self, session: Session, subject: str) -> None:
        """Hold NAME and SUBJECT until the transaction ends. On SQLite the DELETE that
        follows takes the write turn, which does the same for the whole database."""
        if session.get_bind().dialect.name == "postgresql":
            digest = hashlib.blake2b(f"{self.name}:{subject}".encode(), digest_size=8).digest()
            session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": int.from_bytes(digest, "big", signed=True)},
            )

    def _sweep_due(self) -> bool:
        """True once per window in this process: time to delete every key's old rows."""
        with self._prune_lock:
            if time.monotonic() - self._pruned_at < min(self.window, 3600):
                return False
            self._pruned_at = time.monotonic()
            return True
