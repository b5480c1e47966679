"""The scheduler's periodic jobs: claimed by one process per period, outcomes recorded,
a failing job does not stop the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.jobs import PeriodicJob, claim, last_runs, run_due

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_a_job_is_claimed_once_per_period(scratch: Platform) -> None:
    job = PeriodicJob("test.hourly", timedelta(hours=1), lambda uow: "done")
    with UnitOfWork(scratch.session_factory) as first:
        assert claim(first, job, T0)
    with UnitOfWork(scratch.session_factory) as second:  # another process, same moment
        assert not claim(second, job, T0)
    with UnitOfWork(scratch.session_factory) as later:
        assert not claim(later, job, T0 + timedelta(minutes=59))
    with UnitOfWork(scratch.session_factory) as next_hour:
        assert claim(next_hour, job, T0 + timedelta(hours=1))


def test_run_due_records_outcomes_and_survives_a_failing_job(scratch: Platform) -> None:
    ran: list[str] = []

    def broken(uow: UnitOfWork) -> str:
        raise RuntimeError("disk full")

    def fine(uow: UnitOfWork) -> str:
        ran.append("fine")
        return "3 things done"

    jobs = [
        PeriodicJob("test.broken", timedelta(days=1), broken),
        PeriodicJob("test.fine", timedelta(days=1), fine),
    ]
    done = run_due(scratch.session_factory, jobs, T0)
    assert done == [("test.broken", "failed: disk full"), ("test.fine", "3 things done")]
    assert run_due(scratch.session_factory, jobs, T0 + timedelta(hours=2)) == []
    assert ran == ["fine"]
    with UnitOfWork(scratch.session_factory) as uow:
        runs = last_runs(uow.session)
    assert runs["test.fine"].outcome == "3 things done"
    assert runs["test.fine"].finished_at is not None
    assert runs["test.broken"].outcome == "failed: disk full"


def test_the_platform_ticks_cases_every_minute(scratch: Platform) -> None:
    (tick,) = [job for job in scratch.jobs if job.name == "cases.tick"]
    assert tick.every == timedelta(seconds=scratch.settings.scheduler_interval_seconds)
