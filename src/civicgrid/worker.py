"""`civicgrid worker`: the platform's periodic jobs in a process of their own.

A deployment with several server processes sets CIVICGRID_EMBEDDED_WORKER=false and runs
one (or more, for failover: each job is locked for its run) worker beside them, so the
jobs' work does not take a server's threads, and a job's period does not depend on
whether a server is up. It is the same Scheduler the servers would run.
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from civicgrid.bootstrap import Platform
from civicgrid.core.jobs import FAILED, Scheduler

log = logging.getLogger("civicgrid.worker")


def scheduler_of(platform: Platform) -> Scheduler:
    return Scheduler(
        platform.session_factory,
        platform.jobs,
        platform.settings.scheduler_interval_seconds,
        platform.cases.clock,
    )


def run_once(platform: Platform) -> bool:
    """Run whatever is due now (for cron); False when a job failed."""
    done = scheduler_of(platform).run_once()
    return not any(outcome.startswith(FAILED) for _, outcome in done)


def run_until_stopped(platform: Platform) -> None:
    """Run the jobs as they fall due until SIGTERM or SIGINT; then finish the job in hand
    (its lock is released as it ends) and return."""
    scheduler = scheduler_of(platform)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the job in hand", signal.Signals(signum).name)
        scheduler.stop()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    names = ", ".join(f"{job.name} every {job.every}" for job in platform.jobs)
    log.info("worker started: %s", names or "no jobs")
    try:
        scheduler.run_forever()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("worker stopped")
