"""Periodic jobs: the case deadlines' tick every minute, and slower ones each domain
registers (retraining the suggestions, scanning for hot spots and surges…). They run in
`civicgrid worker`, or in a scheduler thread of each `civicgrid serve` process; both are
the `Scheduler` below.

Several processes may run the scheduler, so a job is run under two guards:

- **A lock held for the whole run**, which no other process can take meanwhile: a
  session-level advisory lock on a connection of its own on PostgreSQL, an exclusive
  `flock` on a file beside the database on SQLite (all processes that share a SQLite file
  are on one machine). A job that commits as it goes is therefore never run twice at once,
  and a killed process's lock goes with it (the kernel closes the file or the server's
  connection), so nothing waits for a lease to expire and no slow run outlives one.
- **A claim of the period**: one row per job in `job_runs` says when it last started, and
  the job runs only if its conditional UPDATE moves that time forward, so a restarted
  process does not run a daily job again before its day is over. The row also keeps the
  last outcome for the admin pages.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

try:
    import fcntl
except ImportError:  # not on Windows: one process per SQLite file there
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Column, Engine, String, Table, Text, and_, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from civicgrid.core.db import UnitOfWork, UtcDateTime, metadata, utcnow

log = logging.getLogger("civicgrid.jobs")

job_runs = Table(
    "job_runs",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("outcome", Text),
)


# A wake-up a little early still counts: without it a one-minute job could skip a minute.
SLACK = timedelta(seconds=1)
# A run that never finished (its process was killed) is due again this long after it
# started, when its period is longer: a weekly retraining cut short by a restart should
# not wait a week, and one that kills its process each time is tried once an hour.
RETRY_INTERRUPTED = timedelta(hours=1)
# The scheduler never polls more often than this, even for a job that is due but running
# elsewhere.
MIN_WAIT_SECONDS = 1.0
FAILED = "failed: "


@dataclass(frozen=True)
class PeriodicJob:
    """NAME runs every EVERY in one process at a time; RUN does the work in the unit of
    work it is given (committing as it goes) and returns a one-line outcome for the log,
    or "" when there was nothing to do."""

    name: str
    every: timedelta
    run: Callable[[UnitOfWork], str]


@dataclass(frozen=True)
class JobRun:
    name: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


# ------------------------------------------------------------------ the lock held for a run


def lock_key(name: str) -> int:
    """A stable signed 64-bit number for job NAME (PostgreSQL's advisory lock key)."""
    digest = hashlib.blake2b(f"civicgrid.job:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Try to take job NAME's lock without waiting: yields True while this process holds
    it (until the block ends), False when another run holds it."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, lock_key(name)) as held:
            yield held
        return
    path = engine.url.database
    if path and path != ":memory:" and not path.startswith("file:") and fcntl is not None:
        with _file_lock(f"{path}.job-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}") as held:
            yield held
        return
    with _thread_lock(f"{path}:{name}") as held:  # an in-memory database: this process only
        yield held


@contextmanager
def _advisory_lock(engine: Engine, key: int) -> Iterator[bool]:
    # A session-level lock survives the job's commits (a transaction-level one would not),
    # on a connection outside any transaction so the run does not hold one open.
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        held = bool(
            connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
        )
        try:
            yield held
        finally:
            if held:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except Exception:
                    # Closing the connection for good releases the lock on the server;
                    # returned to the pool, it would keep it.
                    log.exception("could not release job lock %s", key)
                    connection.invalidate()
    finally:
        connection.close()


@contextmanager
def _file_lock(path: str) -> Iterator[bool]:
    # flock locks belong to an open file, so threads of one process exclude each other
    # too, and the kernel drops the lock when the process dies.
    with open(path, "a+b") as file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)


_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def _thread_lock(key: str) -> Iterator[bool]:
    with _thread_locks_guard:
        lock = _thread_locks.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


# ------------------------------------------------------------------ the claim of a period


def claim(uow: UnitOfWork, job: PeriodicJob, now: datetime) -> bool:
    """True when JOB may run now: it has never run, or its last start is at least EVERY
    ago (or RETRY_INTERRUPTED, when that run never finished), and no other process claimed
    it first. Commits the claim. Call it holding the job's lock (`exclusive`): an
    unfinished run is then one whose process died."""
    session = uow.session
    moved = session.execute(
        update(job_runs)
        .where(
            job_runs.c.name == job.name,
            or_(
                job_runs.c.started_at <= now - job.every + SLACK,
                and_(
                    job_runs.c.finished_at.is_(None),
                    job_runs.c.started_at <= now - min(job.every, RETRY_INTERRUPTED) + SLACK,
                ),
            ),
        )
        .values(started_at=now, finished_at=None)
    )
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        uow.commit()
        return True
    if session.execute(select(job_runs.c.name).where(job_runs.c.name == job.name)).first():
        uow.rollback()
        return False
    try:
        session.execute(job_runs.insert().values(name=job.name, started_at=now))
        uow.commit()
    except IntegrityError:  # another process inserted it a moment ago
        uow.rollback()
        return False
    return True


def record(uow: UnitOfWork, name: str, outcome: str) -> None:
    uow.session.execute(
        update(job_runs)
        .where(job_runs.c.name == name)
        .values(finished_at=utcnow(), outcome=outcome[:2000])
    )
    uow.commit()


def last_runs(session: Session) -> dict[str, JobRun]:
    """When each job last ran and how it ended."""
    rows = session.execute(select(job_runs)).all()
    return {r.name: JobRun(r.name, r.started_at, r.finished_at, r.outcome) for r in rows}


def run_due(
    session_factory: sessionmaker[Session],
    jobs: Sequence[PeriodicJob],
    now: datetime,
    stopping: Callable[[], bool] = lambda: False,
) -> list[tuple[str, str]]:
    """Run every job that is due and this process could lock and claim, one after the
    other; (name, outcome) of each. A failing job is logged and recorded with an outcome
    starting with FAILED; the others still run. Once STOPPING() is true no further job
    starts."""
    engine = _engine_of(session_factory)
    done: list[tuple[str, str]] = []
    for job in jobs:
        if stopping():
            break
        with exclusive(engine, job.name) as held:
            if not held:
                continue  # running in another process (or thread) right now
            with UnitOfWork(session_factory) as uow:
                if not claim(uow, job, now):
                    continue
            try:
                with UnitOfWork(session_factory) as uow:
                    outcome = job.run(uow)
            except Exception as error:  # one broken job must not stop the scheduler
                log.exception("job %s failed", job.name)
                outcome = f"{FAILED}{error}"
            with UnitOfWork(session_factory) as uow:
                record(uow, job.name, outcome)
        done.append((job.name, outcome))
    return done


def _engine_of(session_factory: sessionmaker[Session]) -> Engine:
    with session_factory() as session:  # no connection is made for this
        bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def next_due(
    session_factory: sessionmaker[Session], jobs: Sequence[PeriodicJob]
) -> datetime | None:
    """When the first of JOBS is due next, by their last starts; None when one has never
    run (it is due now)."""
    with session_factory() as session:
        runs = last_runs(session)
    due = [runs[job.name].started_at + job.every - SLACK for job in jobs if job.name in runs]
    return min(due) if len(due) == len(jobs) and due else None


class Scheduler:
    """Runs the due JOBS, waking when the next one is due and at least every INTERVAL
    seconds: in a background thread of a server (`start`/`stop`) or as the whole of
    `civicgrid worker` (`run_forever`, until `stop`)."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        jobs: Sequence[PeriodicJob],
        interval: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._session_factory = session_factory
        self._jobs = list(jobs)
        self._interval = interval
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._interval <= 0 or not self._jobs or self._thread is not None:
            return
        self._thread = threading.Thread(target=self.run_forever, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Start no further job; the one running finishes (run_forever then returns)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run_forever(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.run_pending())

    def run_once(self) -> list[tuple[str, str]]:
        """Run what is due now and log each outcome; (name, outcome) of each job run."""
        done = run_due(self._session_factory, self._jobs, self._clock(), self._stop.is_set)
        for name, outcome in done:
            if outcome.startswith(FAILED):
                continue  # run_due logged it with its traceback
            if outcome:
                log.info("%s: %s", name, outcome)
            else:
                log.debug("%s: nothing to do", name)
        return done

    def run_pending(self) -> float:
        """Run what is due now; seconds until the next job is due (at most INTERVAL, at
        least MIN_WAIT_SECONDS)."""
        try:
            self.run_once()
            due = next_due(self._session_factory, self._jobs)
            wait = 0.0 if due is None else (due - self._clock()).total_seconds()
        except Exception:  # the database is away, say: try again in a while
            log.exception("scheduler run failed")
            wait = self._interval
        return max(MIN_WAIT_SECONDS, min(wait, self._interval))
