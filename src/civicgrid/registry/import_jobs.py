"""Imports on the page run as a job, not in the request (core.jobs): a file uploaded on the
page or through the API is queued (services.queue_import) and read by the import job, which
the server starts at once in a thread of its own and the scheduler runs every minute for
anything left queued (an upload whose process stopped, say). One job at a time in the whole
installation: it holds the job's lock while it reads, so a batch it finds running was cut
short and is read again (services.run_queued_imports)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.areas.services import LocatorCache
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.jobs import PeriodicJob, run_due
from civicgrid.registry import services

log = logging.getLogger("civicgrid.registry")

IMPORT_JOB = "registry.imports"


def read_queued(
    secret_key: str, locator_cache: LocatorCache | None = None
) -> Callable[[UnitOfWork], str]:
    """The job's run: every queued upload, and a one-line outcome ("" when none waited)."""

    def run(uow: UnitOfWork) -> str:
        done = services.run_queued_imports(uow, secret_key=secret_key, locator_cache=locator_cache)
        if not done:
            return ""
        return "; ".join(
            f"batch {b.id} {b.state.value}: {b.total} rows, {b.created} new, "
            f"{b.updated} updated, {b.rejected} rejected"
            for b in done
        )

    return run


def import_job(
    secret_key: str, locator_cache: LocatorCache | None, every: timedelta
) -> PeriodicJob:
    """The scheduler's look for queued uploads, every EVERY."""
    return PeriodicJob(IMPORT_JOB, every, read_queued(secret_key, locator_cache))


class RegistryImports:
    """Where uploads wait (FILES) and the runner that reads them now, in a background
    thread of this process: `start` after queueing a file. A start while the thread runs
    is remembered, so a file queued as the job ends is read too."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        folder: Path,
        secret_key: str,
        locator_cache: LocatorCache | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.files = services.ImportFiles(folder)
        self._session_factory = session_factory
        self._run = read_queued(secret_key, locator_cache)
        self._clock = clock
        self._lock = threading.Lock()
        self._wanted = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
            self._wanted = True
            if self._thread is not None:  # still running: it looks again before it ends
                return
            self._thread = threading.Thread(target=self._loop, name="registry-imports", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the thread has read what was queued (tests and the command line)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    self._thread = None
                    return
                self._wanted = False
            # A period of zero: claimed whenever the last run started, so it runs now; a
            # job running elsewhere holds the lock and reads this file too.
            now_job = PeriodicJob(IMPORT_JOB, timedelta(0), self._run)
            try:
                for name, outcome in run_due(self._session_factory, [now_job], self._clock()):
                    if outcome:
                        log.info("%s: %s", name, outcome)
            except Exception:  # the database is away: the scheduler's job tries again
                log.exception("registry imports failed")
