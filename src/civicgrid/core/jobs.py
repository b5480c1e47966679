"""Periodic jobs run by the web server's scheduler thread: the case deadlines' tick every
minute, and slower ones each domain registers (retraining the suggestions, scanning for
hot spots and surges…).

Every `civicgrid serve` process runs a scheduler, so a job is *claimed* before it runs:
one row per job in `job_runs` says when it last started, and a process runs the job only
if its conditional UPDATE moves that time forward. Two processes cannot both win, on
SQLite or PostgreSQL, and a restarted server does not run a daily job again before its day
is over. The row also keeps the last outcome for the admin pages.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, String, Table, Text, select, update
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


@dataclass(frozen=True)
class PeriodicJob:
    """NAME runs every EVERY in one server process; RUN does the work in the unit of work
    it is given (committing as it goes) and returns a one-line outcome for the log, or ""
    when there was nothing to do."""

    name: str
    every: timedelta
    run: Callable[[UnitOfWork], str]


@dataclass(frozen=True)
class JobRun:
    name: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None


def claim(uow: UnitOfWork, job: PeriodicJob, now: datetime) -> bool:
    """True when this process may run JOB now: it has never run, or its last start is at
    least EVERY ago, and no other process claimed it first. Commits the claim."""
    session = uow.session
    moved = session.execute(
        update(job_runs)
        .where(job_runs.c.name == job.name, job_runs.c.started_at <= now - job.every + SLACK)
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
    session_factory: sessionmaker[Session], jobs: Sequence[PeriodicJob], now: datetime
) -> list[tuple[str, str]]:
    """Run every job that is due and this process could claim; (name, outcome) of each.
    A failing job is logged and recorded; the others still run."""
    done: list[tuple[str, str]] = []
    for job in jobs:
        with UnitOfWork(session_factory) as uow:
            if not claim(uow, job, now):
                continue
        try:
            with UnitOfWork(session_factory) as uow:
                outcome = job.run(uow)
        except Exception as error:  # one broken job must not stop the scheduler
            log.exception("job %s failed", job.name)
            outcome = f"failed: {error}"
        with UnitOfWork(session_factory) as uow:
            record(uow, job.name, outcome)
        done.append((job.name, outcome))
    return done


class Scheduler:
    """Runs the due JOBS every INTERVAL seconds in a background thread of the web server."""

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
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                for name, outcome in run_due(self._session_factory, self._jobs, self._clock()):
                    if outcome:
                        log.info("%s: %s", name, outcome)
            except Exception:
                log.exception("scheduler run failed")
