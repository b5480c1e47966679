"""Database plumbing: one metadata, engines for SQLite and PostgreSQL, a unit of work.

Domain classes are plain Python; each domain's repository.py declares its tables on
`metadata` and maps its classes with `mapper_registry.map_imperatively`, so the rules never
import SQLAlchemy.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from types import TracebackType
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows: one server process per SQLite file there
    fcntl = None  # type: ignore[assignment]

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    Engine,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import ORMExecuteState, Session, registry, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
mapper_registry = registry(metadata=metadata)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use civicgrid.core.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)


def enum_column_type(enum: type[StrEnum], length: int = 32) -> Enum:
    """A portable VARCHAR column holding the enum's values ("grid"), not its names ("GRID")."""
    return Enum(
        enum,
        native_enum=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class GeoJSONGeometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry stored as GeoJSON text (WGS84), portable across both databases.

    Point-in-polygon work happens in the in-memory locator (areas.locator), not in SQL.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return shapely.to_geojson(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        return shapely.from_geojson(value)


# Change counters: a cheap way for long-running processes (the web server's locator) to learn
# that another process (the CLI) changed data they cache.
revisions = Table(
    "revisions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False, default=0),
    Column("changed_at", UtcDateTime(), nullable=False, default=utcnow),
)


# Change counters as last read by this process, per database: (counters, when read).
# A busy server reads them at most once a second instead of once per request, so a change
# made by another process is seen within a second; changes made here are seen at once.
REVISIONS_MAX_AGE = 1.0
_process_revisions: dict[str, tuple[dict[str, int], float]] = {}
_process_revisions_lock = threading.Lock()


def _database_key(session: Session) -> str:
    bind = session.get_bind()
    return database_key(bind if isinstance(bind, Engine) else bind.engine)


def database_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def recent_revisions(engine: Engine) -> dict[str, int] | None:
    """The change counters this process read less than a second ago, or None: lets a
    request answer from a cache without touching the database."""
    return _recent_revisions(database_key(engine))


def _recent_revisions(key: str) -> dict[str, int] | None:
    with _process_revisions_lock:
        known = _process_revisions.get(key)
    if known is None or time.monotonic() - known[1] >= REVISIONS_MAX_AGE:
        return None
    return known[0]


def read_revision(session: Session, name: str) -> int:
    """A change counter (see `revisions`), for the caches that hold data in memory."""
    cached: dict[str, int] | None = session.info.get("revisions")
    if cached is None:
        key = _database_key(session)
        cached = _recent_revisions(key)
        if cached is None:
            rows = session.execute(select(revisions.c.name, revisions.c.value))
            cached = {n: int(v) for n, v in rows}
            with _process_revisions_lock:
                _process_revisions[key] = (cached, time.monotonic())
        session.info["revisions"] = cached
    return cached.get(name, 0)


def forget_revisions(session: Session) -> None:
    session.info.pop("revisions", None)
    with _process_revisions_lock:
        _process_revisions.pop(_database_key(session), None)


def bump_revision(session: Session, name: str) -> None:
    result = session.execute(
        update(revisions)
        .where(revisions.c.name == name)
        .values(value=revisions.c.value + 1, changed_at=utcnow())
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(revisions.insert().values(name=name, value=1, changed_at=utcnow()))
    forget_revisions(session)
    session.info["bumped"] = True  # forget again at commit (others may have re-read)


def make_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> Engine:
    """An engine for URL. POOL_SIZE connections stay open: at least one per request thread,
    or the pool closes and reopens connections under load (a new server process each)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            pool_size=pool_size,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=lambda obj: json.dumps(obj, ensure_ascii=False),
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    engine = create_engine(url, pool_size=pool_size, max_overflow=10, **kwargs)
    _ping_when_idle(engine)
    return engine


# A pooled connection unused for longer than this is tested before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Test a pooled connection before handing it out only when it has lain idle, instead
    of before every use (SQLAlchemy's pool_pre_ping): under load the test was one round
    trip of the six a masked read made. A connection idle past PING_AFTER_IDLE_SECONDS (the
    database may have restarted meanwhile, or a firewall dropped it) is tested and, when
    dead, replaced by the pool without the request noticing. One that died within the last
    second fails its request, and the pool then renews every connection at once
    (SQLAlchemy invalidates the whole pool on a lost connection)."""

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise DisconnectionError("a pooled connection was lost while idle") from error

    event.listen(engine, "checkin", checked_in)
    event.listen(engine, "checkout", checked_out)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


SessionFactory = Callable[[], Session]


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":
        _take_turns_writing(factory, _write_turn(engine.url.database))
    return factory


class WriteTurn:
    """SQLite allows one writer at a time and makes the others sleep and retry, which turns
    a burst of requests into seconds of latency. Sessions take turns instead: a session
    takes the turn at its first write and gives it back when its transaction ends. Reads
    need no turn (in WAL mode they never wait).

    The turn is a lock between the threads of a process and an exclusive `flock` on a file
    beside the database between processes (the kernel wakes the next waiter at once), so
    several server processes, and the command line beside them, share one SQLite file
    without sleeping on each other."""

    def __init__(self, path: str | None) -> None:
        """PATH: the database file; None for an in-memory database (threads only)."""
        self._thread_lock = threading.Lock()
        self._file = (
            open(f"{path}.write-turn", "a+b")  # noqa: SIM115 - held for the process's life
            if path is not None and fcntl is not None
            else None
        )

    def take(self) -> None:
        self._thread_lock.acquire()
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)

    def give_back(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._thread_lock.release()


_write_turns: dict[str, WriteTurn] = {}
_write_turns_lock = threading.Lock()


def _write_turn(path: str | None) -> WriteTurn:
    """One turn per database file in a process (engines of the same file share it)."""
    key = os.path.abspath(path) if path and path != ":memory:" else ":memory:"
    with _write_turns_lock:
        if key not in _write_turns:
            _write_turns[key] = WriteTurn(key if key != ":memory:" else None)
        return _write_turns[key]


def _take_turns_writing(factory: sessionmaker[Session], turn: WriteTurn) -> None:
    def take(session: Session) -> None:
        if not session.info.get("sqlite_turn"):
            turn.take()
            session.info["sqlite_turn"] = True

    def give_back(session: Session, *_args: Any) -> None:
        if session.info.pop("sqlite_turn", False):
            turn.give_back()

    def on_execute(state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            take(state.session)

    event.listen(factory, "before_flush", lambda session, *_: take(session))
    event.listen(factory, "do_orm_execute", on_execute)
    # Only the end of the database transaction gives the turn back (not the end of the
    # sub-transactions a flush opens, while SQLite still holds the write lock).
    event.listen(factory, "after_commit", give_back)
    event.listen(factory, "after_rollback", give_back)


class UnitOfWork:
    """One business transaction: services read and write through `session` and call `commit()`;
    leaving the block without committing rolls everything back (nothing half-written)."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("UnitOfWork used outside its `with` block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self._session_factory()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self._session = None

    def each_statement_commits(self) -> None:
        """On PostgreSQL, from here on every statement commits by itself, with no
        transaction around them: for work that reads and then writes in one statement,
        where BEGIN and COMMIT were two round trips of five and the transaction protected
        nothing (the write is durable when its statement returns). SQLite keeps the
        transaction: it has no round trips to save, and a write there may take two
        statements that must commit together (core.ledger's entry and its place in the
        sequencer's queue). Call before the first statement."""
        if self.session.get_bind().dialect.name == "sqlite":
            return
        self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})

    def commit(self) -> None:
        self.session.commit()
        if self.session.info.pop("bumped", False):
            forget_revisions(self.session)
        self.session.info.pop("revisions", None)

    def rollback(self) -> None:
        self.session.rollback()


def delete_everything(session: Session) -> None:
    """Empty every CivicGrid table, children before parents (used by `demo --reset`)."""
    for table in reversed(metadata.sorted_tables):
        session.execute(table.delete())
