"""`civicgrid worker`: the periodic jobs in a process of their own, beside servers that
then run none (CIVICGRID_EMBEDDED_WORKER=false)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select
from typer.testing import CliRunner

from civicgrid.app import create_served_app
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.jobs import job_runs, last_runs
from tests.conftest import TEST_SECRET


def test_worker_once_runs_the_due_jobs_and_exits(
    scratch: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICGRID_SUGGESTION_MODEL_PATH", "")
    url = scratch.settings.database_url
    result = CliRunner().invoke(cli, ["worker", "--once", "--db", url])
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        runs = last_runs(uow.session)
    assert {"cases.tick", "insight.warnings"} <= set(runs)
    assert all(run.finished_at is not None for run in runs.values())
    again = CliRunner().invoke(cli, ["worker", "--once", "--db", url])  # nothing due yet
    assert again.exit_code == 0, again.output
    with UnitOfWork(scratch.session_factory) as uow:
        assert last_runs(uow.session)["cases.tick"].started_at == runs["cases.tick"].started_at


def test_sigterm_stops_a_waiting_worker_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    env = {
        **os.environ,
        "CIVICGRID_DATABASE_URL": url,
        "CIVICGRID_SECRET_KEY": TEST_SECRET,
        "CIVICGRID_SUGGESTION_MODEL_PATH": "",
        "CIVICGRID_SCHEDULER_INTERVAL_SECONDS": "60",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "civicgrid", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    engine = create_engine(url)
    try:
        deadline = time.monotonic() + 60
        while not ticked(engine):  # then it sleeps until the next minute
            assert worker.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
        assert time.monotonic() - asked < 5
    finally:
        if worker.poll() is None:
            worker.kill()
        engine.dispose()
    log = worker.stderr.read() if worker.stderr else ""
    assert "worker started: cases.tick every 0:01:00" in log
    assert "SIGTERM: stopping after the job in hand" in log and "worker stopped" in log


def ticked(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            query = select(job_runs.c.finished_at).where(job_runs.c.name == "cases.tick")
            return connection.execute(query).scalar() is not None
    except Exception:  # not migrated yet
        return False


def scheduler_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "scheduler")


def test_a_server_runs_the_jobs_only_with_the_embedded_worker(scratch: Platform) -> None:
    without = replace(
        scratch, settings=scratch.settings.model_copy(update={"embedded_worker": False})
    )
    before = scheduler_threads()
    with TestClient(create_served_app(without)) as client:
        assert client.get("/health").status_code == 200
        assert scheduler_threads() == before
    with TestClient(create_served_app(scratch)):  # the default: the server runs them
        assert scheduler_threads() == before + 1
