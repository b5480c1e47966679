"""Every operation of /openapi.json probed by Schemathesis, as a visitor without an account
and as an administrator, with valid and with invalid input: bad input is a 4xx, never a
5xx. A bounded, repeatable run (a fixed number of examples per operation and mode, a fixed
seed, a time budget) against a small demo city of its own, as the administrator's probes
change it; on SQLite always and on PostgreSQL when configured (NUL bytes, integers beyond
its columns and dates past its calendar fail only there)."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python.asgi import shutdown_lifespans

from civicgrid.app import create_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import install_demo_city
from tests.conftest import SMALL_CITY, DatabaseMaker, open_platform

# Examples per operation, persona and mode: small enough for the whole run (some 120
# operations, two personas, two modes) to take about a minute a database, and still enough
# to find the ids, pages, NUL bytes and codes that used to fail.
EXAMPLES = 4
# Past this (per persona), the operations left are not probed and a warning names them: a
# slow or busy machine keeps the suite within its minutes instead of hanging.
BUDGET_SECONDS = 60.0


@dataclass
class Probe:
    schema: Any
    personas: dict[str, dict[str, str]]
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def probe(databases: DatabaseMaker) -> Iterator[Probe]:
    platform = open_platform(databases.new("schemathesis"))
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=12)
    admin = next(c for c in summary.credentials if c.role is Role.ADMIN)
    app = create_app(platform)
    with TestClient(app) as client:
        login = {"username": admin.username, "password": admin.password}
        token = client.post("/api/v1/auth/token", data=login).json()["access_token"]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    personas = {"anonymous": {}, "administrator": {"Authorization": f"Bearer {token}"}}
    yield Probe(schema, personas)
    shutdown_lifespans()
    platform.engine.dispose()


def _probe(operation: Any, mode: GenerationMode, headers: dict[str, str], who: str) -> list[str]:
    """EXAMPLES requests to OPERATION, valid or not as MODE says; those answered with 5xx."""
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case: Any) -> None:
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised: its 500, with the reason
            failures.append(f"{who} {mode.value}: {exc!r}\n  {case.as_curl_command()}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{who} {mode.value}: {response.status_code} {response.text[:200]}\n"
                f"  {case.as_curl_command()}"
            )

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to send: no parameters
        call()
    return failures


@pytest.mark.parametrize("persona", ["anonymous", "administrator"])
def test_no_operation_answers_a_server_error(probe: Probe, persona: str) -> None:
    started = time.monotonic()
    failures: dict[str, list[str]] = {}
    left_out: list[str] = []
    for result in probe.schema.get_all_operations():
        operation = result.ok()
        if time.monotonic() - started > BUDGET_SECONDS:
            left_out.append(operation.label)
            continue
        headers = probe.personas[persona]
        found = [
            failure
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            for failure in _probe(operation, mode, headers, persona)
        ]
        if found:
            failures[operation.label] = found
    report = "\n".join(f"{label}:\n" + "\n".join(found[:3]) for label, found in failures.items())
    assert not failures, f"server errors in {len(failures)} operations:\n{report}"
    if left_out:
        warnings.warn(f"time budget spent; not probed: {', '.join(left_out)}", stacklevel=1)
