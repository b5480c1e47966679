"""Retraining the category suggestions on schedule (a periodic job of the server's
scheduler) and on demand (the insight page's "retrain now", in a background thread).

Both run as the same job, named services.RETRAIN_JOB in `job_runs`, so the page shows one
history: when it last ran, how it ended, when it runs next. A retraining on demand counts
as the period's run: the next scheduled one comes a full period after it. A scheduled run
keeps a model younger than the period (a new database served with a fresh model). The model is
written atomically (services.save_atomically); the server process that retrained reloads
it at once, the others when they next check the file (TrainedSuggester.RECHECK_SECONDS).

The scheduled run holds the scheduler thread while it fits (seconds for a few thousand
closed cases, five cross-validation folds and the final fit), delaying the minute's case
deadlines by as much, once a period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import InvalidInput
from civicgrid.core.jobs import PeriodicJob, run_due
from civicgrid.core.permissions import SYSTEM
from civicgrid.insight import services
from civicgrid.insight.classifier import MODEL_FORMAT, ModelFileError, read_sidecar
from civicgrid.insight.suggester import TrainedSuggester

log = logging.getLogger("civicgrid.insight")


def retrain(
    path: Path, suggester: TrainedSuggester | None = None, *, folds: int = 5
) -> Callable[[UnitOfWork], str]:
    """Retrain from the closed cases as the system, write the model to PATH and make
    SUGGESTER (this process's) use it now; a one-line outcome. Too few closed cases is an
    outcome, not a failure."""

    def run(uow: UnitOfWork) -> str:
        try:
            done = services.retrain_suggestions(uow, SYSTEM, path, folds=folds)
        except InvalidInput as problem:
            return f"skipped: {problem.message('en')}"
        if suggester is not None:
            suggester.reload()
        e = done.evaluation
        scores = (
            f", macro-F1 {e.macro_f1:.3f}, accuracy {e.accuracy:.3f} on held-out cases "
            f"({e.folds}-fold cross-validation)"
            if e
            else ""
        )
        return f"retrained on {done.count} closed cases ({done.corrected} recategorised){scores}"

    return run


def retrain_job(
    path: Path,
    every: timedelta,
    suggester: TrainedSuggester | None = None,
    *,
    folds: int = 5,
    clock: Callable[[], datetime] = utcnow,
) -> PeriodicJob:
    """Every EVERY: retrain (see `retrain`) unless the model at PATH is younger than
    EVERY, as it is when a new database is served with a model trained a moment ago."""
    now_retrain = retrain(path, suggester, folds=folds)

    def run(uow: UnitOfWork) -> str:
        trained = model_trained_at(path)
        if trained is not None and clock() - trained < every:
            return f"skipped: the model was trained at {trained.isoformat(timespec='minutes')}"
        return now_retrain(uow)

    return PeriodicJob(services.RETRAIN_JOB, every, run)


def model_trained_at(path: Path) -> datetime | None:
    try:
        meta = read_sidecar(path)
        if meta.get("format") != MODEL_FORMAT:
            return None  # this version cannot load it: due for retraining, however young
        return datetime.fromisoformat(meta["trained_at"])
    except (ModelFileError, OSError, ValueError, KeyError, TypeError):
        return None


class Retrainer:
    """Runs RETRAIN once now, as the retrain job's run, in a background thread of this
    process; one at a time."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        retrain: Callable[[UnitOfWork], str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.retrain = retrain
        self._session_factory = session_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, requested_by: str) -> bool:
        """False when a retraining of this process is still running."""
        with self._lock:
            if self.running():
                return False
            self._thread = threading.Thread(
                target=self._run, args=(requested_by,), name="retrain", daemon=True
            )
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, requested_by: str) -> None:
        def run(uow: UnitOfWork) -> str:
            return f"{self.retrain(uow)} (requested by {requested_by})"

        # A period of zero: claimed whenever the last run started, so it runs now.
        now_job = PeriodicJob(services.RETRAIN_JOB, timedelta(0), run)
        for name, outcome in run_due(self._session_factory, [now_job], self._clock()):
            log.info("%s: %s", name, outcome)
