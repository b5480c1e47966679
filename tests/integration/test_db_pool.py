"""PostgreSQL connections from the pool: tested before use only after lying idle, and a
dead one replaced without the request noticing (core.db.make_engine)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from civicgrid.core import db
from civicgrid.core.db import make_engine
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(
    POSTGRES_URL is None, reason="needs PostgreSQL: set CIVICGRID_TEST_POSTGRES_URL"
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    assert POSTGRES_URL is not None
    made = make_engine(POSTGRES_URL, pool_size=1)
    yield made
    made.dispose()


@pytest.fixture
def pings(engine: Engine) -> list[int]:
    """Each test of a pooled connection, counted."""
    counted: list[int] = []
    test = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        counted.append(1)
        return test(dbapi_connection)

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    return counted


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_used_a_moment_ago_is_handed_out_untested(
    engine: Engine, pings: list[int]
) -> None:
    first = backend_pid(engine)
    assert [backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_a_connection_that_lay_idle_is_tested_and_a_dead_one_replaced_unnoticed(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = backend_pid(engine)
    assert POSTGRES_URL is not None
    other = make_engine(POSTGRES_URL, pool_size=1)
    with other.connect() as connection:  # the database ends it, as a restart would
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    other.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)

    replaced = backend_pid(engine)

    assert replaced != first
    assert len(pings) == 1
