"""The scheduler's periodic jobs: claimed by one process per period and held by it for the
whole run, outcomes recorded, a failing job does not stop the others, a killed runner's job
runs again."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.jobs import (
    PeriodicJob,
    Scheduler,
    claim,
    job_runs,
    last_runs,
    lock_key,
    run_due,
)
from tests.conftest import settings_for

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


# ------------------------------------------------------------------ one run at a time

# Two Platform objects on one database stand for two processes (each its own engine,
# connections and session factory).


def another_process(url: str) -> Platform:
    return build_platform(settings_for(url))


def test_two_processes_racing_for_a_job_run_it_once(scratch: Platform, scratch_url: str) -> None:
    other = another_process(scratch_url)
    runs: list[str] = []

    def slow(uow: UnitOfWork) -> str:
        runs.append(threading.current_thread().name)
        time.sleep(0.5)  # long enough for the other to try while this one runs
        return "done"

    job = PeriodicJob("test.race", timedelta(minutes=1), slow)
    start = threading.Barrier(2)
    done: dict[str, list[tuple[str, str]]] = {}

    def race(platform: Platform) -> None:
        start.wait()
        done[threading.current_thread().name] = run_due(platform.session_factory, [job], T0)

    threads = [
        threading.Thread(target=race, args=(p,), name=n)
        for p, n in ((scratch, "first"), (other, "second"))
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        other.engine.dispose()
    assert len(runs) == 1
    assert sorted(len(d) for d in done.values()) == [0, 1]


def test_a_long_job_that_commits_as_it_goes_is_not_run_again_meanwhile(
    scratch: Platform, scratch_url: str
) -> None:
    other = another_process(scratch_url)
    started, finish = threading.Event(), threading.Event()
    batches: list[int] = []

    def long_tick(uow: UnitOfWork) -> str:
        for batch in range(3):
            uow.session.execute(
                job_runs.insert().values(name=f"batch {len(batches)}", started_at=T0)
            )
            uow.commit()  # a transaction-level lock would be gone here
            batches.append(batch)
            started.set()
            finish.wait(timeout=30)
        return "3 batches"

    job = PeriodicJob("test.long", timedelta(minutes=1), long_tick)
    first = threading.Thread(target=run_due, args=(scratch.session_factory, [job], T0))
    first.start()
    try:
        assert started.wait(timeout=30)
        # Its period is long over for the other process, but the run still holds the job.
        assert run_due(other.session_factory, [job], T0 + timedelta(hours=2)) == []
        finish.set()
        first.join(timeout=30)
        assert batches == [0, 1, 2]
        done = run_due(other.session_factory, [job], T0 + timedelta(hours=2))
        assert done == [("test.long", "3 batches")]
    finally:
        finish.set()
        other.engine.dispose()


DYING_RUNNER = """
import sys, time
from datetime import datetime, timedelta
from civicgrid.bootstrap import build_platform
from civicgrid.core.jobs import PeriodicJob, run_due
from tests.conftest import settings_for

def hang(uow):
    print("running", flush=True)
    time.sleep(600)
    return "never"

platform = build_platform(settings_for(sys.argv[1]))
job = PeriodicJob("test.weekly", timedelta(days=7), hang)
run_due(platform.session_factory, [job], datetime.fromisoformat(sys.argv[2]))
"""


def test_a_job_whose_process_was_killed_runs_again_after_an_hour(scratch: Platform) -> None:
    job = PeriodicJob("test.weekly", timedelta(days=7), lambda uow: "retrained")
    url = scratch.engine.url.render_as_string(hide_password=False)
    runner = subprocess.Popen(
        [sys.executable, "-c", DYING_RUNNER, url, T0.isoformat()],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert runner.stdout is not None and runner.stdout.readline() == "running\n"
        # Alive, it holds the job even when its week is over.
        assert run_due(scratch.session_factory, [job], T0 + timedelta(days=8)) == []
    finally:
        runner.kill()
        runner.wait(timeout=30)
    with UnitOfWork(scratch.session_factory) as uow:
        assert last_runs(uow.session)["test.weekly"].finished_at is None
    # Killed, its run is retried an hour after it started, not a week.
    assert run_due(scratch.session_factory, [job], T0 + timedelta(minutes=30)) == []
    deadline = time.monotonic() + 10  # PostgreSQL drops the lock as it notices the loss
    while not (done := run_due(scratch.session_factory, [job], T0 + timedelta(hours=1))):
        assert time.monotonic() < deadline, "the dead runner's lock was never released"
        time.sleep(0.1)
    assert done == [("test.weekly", "retrained")]


def test_the_job_lock_key_is_stable_and_fits_64_bits() -> None:
    assert lock_key("cases.tick") == lock_key("cases.tick") != lock_key("insight.warnings")
    assert -(2**63) <= lock_key("cases.tick") < 2**63


# ------------------------------------------------------------------ the scheduler's loop


def test_the_scheduler_wakes_when_the_next_job_is_due(scratch: Platform) -> None:
    often = PeriodicJob("test.often", timedelta(seconds=5), lambda uow: "")
    hourly = PeriodicJob("test.hourly", timedelta(hours=1), lambda uow: "")
    assert 3 <= Scheduler(scratch.session_factory, [often, hourly], 60).run_pending() <= 5
    assert Scheduler(scratch.session_factory, [hourly], 60).run_pending() == 60


def test_a_stopped_scheduler_finishes_the_job_in_hand_and_starts_no_other(
    scratch: Platform,
) -> None:
    started, finish = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow(uow: UnitOfWork) -> str:
        started.set()
        finish.wait(timeout=30)
        ran.append("slow")
        return "finished"

    def next_one(uow: UnitOfWork) -> str:
        ran.append("next")
        return ""

    jobs = [
        PeriodicJob("test.slow", timedelta(minutes=1), slow),
        PeriodicJob("test.next", timedelta(minutes=1), next_one),
    ]
    scheduler = Scheduler(scratch.session_factory, jobs, 60)
    scheduler.start()
    assert started.wait(timeout=30)
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    while not scheduler.stopping:
        time.sleep(0.01)
    finish.set()
    stopper.join(timeout=30)
    assert not stopper.is_alive() and ran == ["slow"]
    with UnitOfWork(scratch.session_factory) as uow:
        runs = last_runs(uow.session)
    assert runs["test.slow"].outcome == "finished" and "test.next" not in runs
