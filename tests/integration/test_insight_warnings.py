"""Hot spots and surges in a small town of our own, on SQLite and PostgreSQL: a scan raises
each once and tells the people responsible, scanning again changes figures but never
duplicates, each person sees the warnings of their area, and the API, the pages and the
command line handle them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.app import create_app
from civicgrid.areas.domain import Area, Level
from civicgrid.bootstrap import Platform
from civicgrid.cases.domain import Channel, Priority, Status
from civicgrid.cases.repository import cases
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Forbidden, NotFound
from civicgrid.core.jobs import run_due
from civicgrid.core.outbox import OutboxMessage, Transports
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city
from civicgrid.insight.warnings import services
from civicgrid.insight.warnings.domain import WarningKind, WarningState
from civicgrid.insight.warnings.repository import warnings_table
from civicgrid.system.services import deliver_messages
from tests.conftest import SMALL_CITY, actor_named

TODAY = date(2026, 11, 18)
NOW = datetime.combine(TODAY, time(15, 0), tzinfo=UTC)


@dataclass
class Town:
    platform: Platform
    summary: DemoSummary
    grids: list[Area]
    workers: dict[str, str]  # grid code → grid worker's username
    sent: list[OutboxMessage] = field(default_factory=list)

    def password(self, username: str) -> str:
        if username.startswith("gw"):
            role = Role.GRID_WORKER
            return next(c.password for c in self.summary.credentials if c.role is role)
        return next(c.password for c in self.summary.credentials if c.username == username)

    def grid(self, code: str) -> Area:
        return next(g for g in self.grids if g.code == code)

    def cadre_grids(self) -> list[Area]:
        """The grids of the demo cadre's street."""
        street = next(c.scope for c in self.summary.credentials if c.username == "cadre")
        return [g for g in self.grids if f"/{street}/" in g.path]

    def neighbours(self, grid: Area) -> list[Area]:
        return [
            g for g in self.grids if g is not grid and g.geometry.distance(grid.geometry) < 1e-6
        ]

    def add_cases(self, grid: Area, category: str, day: date, count: int) -> None:
        rows = [
            {
                "version": 1,
                "title": f"{category} {grid.code}",
                "description": "测试",
                "channel": Channel.HOTLINE,
                "category_code": category,
                "status": Status.REPORTED,
                "priority": Priority.NORMAL,
                "grid_code": grid.code,
                "area_path": grid.path,
                "handling_level": Level.STREET,
                "handling_area_code": grid.path.strip("/").split("/")[2],
                "time_limits": {},
                "created_at": datetime.combine(day, time(8), tzinfo=UTC) + timedelta(minutes=i),
            }
            for i in range(count)
        ]
        if not rows:
            return
        with UnitOfWork(self.platform.session_factory) as uow:
            uow.session.execute(cases.insert(), rows)
            uow.commit()

    def quiet_history(self, seed: int = 1, rate: float = 0.3) -> None:
        """Eight weeks of everyday rubbish reports (CR01) everywhere, a few a week per grid."""
        rng = random.Random(seed)
        for grid in self.grids:
            for back in range(0, 57):
                count = sum(1 for _ in range(6) if rng.random() < rate / 6)
                self.add_cases(grid, "CR01", TODAY - timedelta(days=back), count)

    def scan(self, day: date = TODAY) -> services.ScanReport:
        with UnitOfWork(self.platform.session_factory) as uow:
            return services.scan_warnings(uow, SYSTEM, self.platform.warnings, day)

    def deliver(self) -> int:
        with UnitOfWork(self.platform.session_factory) as uow:
            return deliver_messages(uow, SYSTEM, self.platform.outbox).sent

    def count_warnings(self) -> int:
        with UnitOfWork(self.platform.session_factory) as uow:
            return int(
                uow.session.execute(select(func.count()).select_from(warnings_table)).scalar_one()
            )

    def as_actor(self, username: str) -> Actor:

        with UnitOfWork(self.platform.session_factory) as uow:
            return actor_named(uow, username)


class RecordingSender:
    def __init__(self, sent: list[OutboxMessage]) -> None:
        self.sent = sent

    def send(self, notice: OutboxMessage) -> None:
        self.sent.append(notice)


@pytest.fixture
def town(scratch: Platform) -> Iterator[Town]:
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
    grids = sorted((a for a in plan.areas if a.level is Level.GRID), key=lambda a: a.code)
    town = Town(scratch, summary, grids, {w.grid_code: w.username for w in plan.workers})
    scratch.warnings.clock = lambda: NOW
    scratch.outbox.clock = lambda: NOW
    scratch.outbox.transports = Transports(fallback=RecordingSender(town.sent))
    yield town


# ------------------------------------------------------------------ scanning


def test_a_surge_is_raised_and_sent_to_the_cadre_and_the_grid_worker(town: Town) -> None:
    town.quiet_history()
    grid = town.cadre_grids()[0]
    town.add_cases(grid, "EP01", TODAY, 10)
    report = town.scan()
    (warning,) = report.raised
    assert (warning.kind, warning.grid_code, warning.category_code) == (
        WarningKind.SURGE,
        grid.code,
        "EP01",
    )
    assert warning.observed == 10 and warning.expected < 1
    assert "噪声污染 10 件" in warning.explanation_zh and "10 Noise cases" in warning.explanation_en
    assert town.deliver() == 2
    by_person = {n.recipient.removeprefix("user:"): n for n in town.sent}
    assert set(by_person) == {"cadre", town.workers[grid.code]}
    assert by_person[town.workers[grid.code]].channel == "sms"  # grid workers have phones
    assert by_person["cadre"].channel == "web"
    assert (
        f"#{warning.id}" in by_person["cadre"].body and "噪声污染 10 件" in by_person["cadre"].body
    )
    assert town.deliver() == 0  # sent once


def test_scanning_the_same_day_again_never_duplicates(town: Town) -> None:
    town.quiet_history()
    grid = town.cadre_grids()[1]
    town.add_cases(grid, "EP01", TODAY, 8)
    assert len(town.scan().raised) == 1
    again = town.scan()
    assert (again.raised, again.updated, town.count_warnings()) == ([], 0, 1)
    town.add_cases(grid, "EP01", TODAY, 3)  # more reports come in later that day
    later = town.scan()
    assert (later.raised, later.updated, later.notices) == ([], 1, 0)
    with UnitOfWork(town.platform.session_factory) as uow:
        (warning,) = services.list_warnings(uow, SYSTEM)
        assert warning.observed == 11 and "11 件" in warning.explanation_zh


def test_a_cluster_of_neighbouring_grids_is_one_hot_spot_until_it_fades(town: Town) -> None:
    town.quiet_history()
    centre = town.cadre_grids()[2]
    cluster = [centre, *town.neighbours(centre)[:3]]
    for grid in cluster:
        for back in range(5):
            town.add_cases(grid, "SO01", TODAY - timedelta(days=back), 1)
    report = town.scan()
    (hot,) = [w for w in report.raised if w.kind is WarningKind.HOTSPOT]
    # Of the four grids, those whose neighbourhoods stand out in a town of 24 form the hot
    # spot (a grid without vending never joins one).
    assert hot.category_code == "SO01" and len(hot.cluster) >= 2
    assert set(hot.cluster) <= {g.code for g in cluster}
    assert hot.observed == 5 * len(hot.cluster)
    assert "占道经营聚集" in hot.explanation_zh and "Gi* z=" in hot.explanation_en
    # The next day the same cluster is still in the window: the same warning, seen again.
    tomorrow = town.scan(TODAY + timedelta(days=1))
    assert [w for w in tomorrow.raised if w.kind is WarningKind.HOTSPOT] == []
    with UnitOfWork(town.platform.session_factory) as uow:
        (seen,) = services.list_warnings(
            uow, SYSTEM, services.WarningQuery(kind=WarningKind.HOTSPOT)
        )
        assert seen.last_seen == TODAY + timedelta(days=1)


def test_a_quiet_town_raises_nothing(town: Town) -> None:
    town.quiet_history(seed=2)
    for back in range(7):
        report = town.scan(TODAY - timedelta(days=back))
        assert (report.hotspots, report.surges) == (0, 0), back
    assert town.count_warnings() == 0


def test_the_scheduler_runs_the_scan_and_sends_the_notices(town: Town) -> None:
    town.quiet_history()
    town.add_cases(town.cadre_grids()[0], "EP01", TODAY, 9)
    (job,) = [j for j in town.platform.jobs if j.name == "insight.warnings"]
    (outbox,) = [j for j in town.platform.jobs if j.name == "outbox.deliver"]
    assert job.every == timedelta(minutes=60)
    done = dict(run_due(town.platform.session_factory, [job, outbox], NOW))
    assert done["insight.warnings"] == "1 warnings raised, 0 updated, 2 notices written"
    assert done["outbox.deliver"] == "2 sent, 0 to retry, 0 failed"
    assert len(town.sent) == 2


# ------------------------------------------------------------------ who sees and handles what


@pytest.fixture
def surge(town: Town) -> int:
    town.quiet_history()
    town.add_cases(town.cadre_grids()[0], "EP01", TODAY, 10)
    (warning,) = town.scan().raised
    assert warning.id is not None
    return warning.id


def test_each_person_sees_the_warnings_of_their_area(town: Town, surge: int) -> None:
    grid = town.cadre_grids()[0]
    other_street = next(g for g in town.grids if g not in town.cadre_grids())
    street_code = other_street.path.strip("/").split("/")[2]
    with UnitOfWork(town.platform.session_factory) as uow:
        add_user(uow, SYSTEM, NewUser("cadre2", "cadre", "cadre-password-2", area_code=street_code))
    seen = {}
    for username in ("cadre", "cadre2", "leader", "dispatcher", town.workers[grid.code]):
        with UnitOfWork(town.platform.session_factory) as uow:
            seen[username] = [w.id for w in services.list_warnings(uow, town.as_actor(username))]
    assert seen == {
        "cadre": [surge],
        "cadre2": [],
        "leader": [surge],
        "dispatcher": [surge],
        town.workers[grid.code]: [surge],
    }
    with UnitOfWork(town.platform.session_factory) as uow, pytest.raises(Forbidden):
        services.acknowledge_warning(uow, town.as_actor("cadre2"), surge)
    with UnitOfWork(town.platform.session_factory) as uow, pytest.raises(NotFound):
        services.get_warning(uow, town.as_actor("cadre"), surge + 1000)


@pytest.fixture
def client(town: Town) -> Iterator[TestClient]:
    with TestClient(create_app(town.platform)) as client:
        yield client


def bearer(client: TestClient, town: Town, username: str) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/token", data={"username": username, "password": town.password(username)}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_the_api_lists_filters_and_handles_warnings(
    town: Town, surge: int, client: TestClient
) -> None:
    cadre = bearer(client, town, "cadre")
    listed = client.get("/api/v1/insight/warnings?kind=surge&state=open", headers=cadre).json()
    assert [w["id"] for w in listed] == [surge]
    assert listed[0]["explanation"]["zh"] and listed[0]["explanation"]["en"]
    assert listed[0]["category"] == "EP01" and listed[0]["state"] == "new"
    assert client.get("/api/v1/insight/warnings?kind=hotspot", headers=cadre).json() == []
    assert (
        client.get("/api/v1/insight/warnings?category=EP", headers=cadre).json()[0]["id"] == surge
    )
    assert client.get("/api/v1/insight/warnings?since=2026-11-19", headers=cadre).json() == []
    wrong = client.get("/api/v1/insight/warnings?kind=fire", headers=cadre)
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (422, "warning_unknown_kind")
    bad_day = client.get("/api/v1/insight/warnings?since=yesterday", headers=cadre)
    assert bad_day.status_code == 422 and "YYYY-MM-DD" in bad_day.json()["error"]["message"]

    mapped = client.get("/api/v1/insight/warnings/map?state=open", headers=cadre).json()
    (feature,) = mapped["features"]
    assert feature["properties"]["id"] == surge and feature["geometry"]["type"] == "Polygon"

    done = client.post(
        f"/api/v1/insight/warnings/{surge}/acknowledge",
        json={"note": "已通知城管夜查"},
        headers=cadre,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["handled_by"], done.json()["note"]) == (
        "acknowledged",
        "cadre",
        "已通知城管夜查",
    )
    again = client.post(f"/api/v1/insight/warnings/{surge}/acknowledge", headers=cadre)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "warning_wrong_state")
    assert "已确认" in again.json()["error"]["message"]  # the state in words
    assert again.json()["error"]["state"] == "acknowledged"  # and its code for programs
    closed = client.post(f"/api/v1/insight/warnings/{surge}/close", headers=cadre)
    assert closed.json()["state"] == WarningState.CLOSED.value
    assert client.get("/api/v1/insight/warnings?state=open", headers=cadre).json() == []
    missing = client.post("/api/v1/insight/warnings/99999/close", headers=cadre)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "warning_not_found")


def test_the_api_asks_who_is_calling(town: Town, surge: int, client: TestClient) -> None:
    anonymous = client.get("/api/v1/insight/warnings")
    assert anonymous.status_code == 401
    resident = client.get("/api/v1/insight/warnings", headers=bearer(client, town, "resident"))
    assert resident.status_code == 403
    worker = bearer(client, town, town.workers[town.cadre_grids()[0].code])
    assert client.get("/api/v1/insight/warnings", headers=worker).json()[0]["id"] == surge
    refused = client.post(f"/api/v1/insight/warnings/{surge}/acknowledge", headers=worker)
    assert refused.status_code == 403
    english = client.post(
        f"/api/v1/insight/warnings/{surge}/close",
        headers={**worker, "Accept-Language": "en"},
    )
    assert "may not" in english.json()["error"]["message"]


# ------------------------------------------------------------------ pages and command line


def log_in(client: TestClient, town: Town, username: str) -> None:
    response = client.post(
        "/login",
        data={"username": username, "password": town.password(username)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def test_the_warnings_page_explains_and_acknowledges(
    town: Town, surge: int, client: TestClient
) -> None:
    log_in(client, town, "cadre")
    page = client.get("/warnings").text
    assert 'href="/warnings"' in page  # in the top bar
    assert f'id="warning-{surge}"' in page and "噪声污染 10 件" in page
    assert f'action="/warnings/{surge}/acknowledge"' in page
    assert 'name="viewport"' in page  # laid out for a phone
    acted = client.post(
        f"/warnings/{surge}/acknowledge", data={"note": "派人核查"}, follow_redirects=False
    )
    assert acted.status_code == 303 and acted.headers["location"] == f"/warnings#warning-{surge}"
    page = client.get("/warnings").text
    assert "已确认" in page and "派人核查" in page and f'action="/warnings/{surge}/close"' in page
    twice = client.post(f"/warnings/{surge}/acknowledge", headers={"Accept": "text/html"})
    assert twice.status_code == 409 and "只能变为" in twice.text
    english = client.get("/warnings?lang=en&state=all").text
    assert "Risk warnings" in english and "10 Noise cases" in english


def test_a_grid_worker_reads_the_warnings_of_her_grid_without_handling_them(
    town: Town, surge: int, client: TestClient
) -> None:
    log_in(client, town, town.workers[town.cadre_grids()[0].code])
    page = client.get("/warnings").text
    assert "噪声污染 10 件" in page and "/acknowledge" not in page
    assert "确认和关闭由干部、坐席员和领导处理" in page


def test_the_command_map_draws_the_open_warnings(
    town: Town, surge: int, client: TestClient
) -> None:
    log_in(client, town, "dispatcher")
    page = client.get("/dispatch").text
    assert 'data-warnings="/api/v1/insight/warnings/map?state=open"' in page
    assert 'data-label-surge="突增"' in page and "/static/warnings.css" in page
    assert client.get("/api/v1/insight/warnings/map?state=open").json()["features"]


def test_the_command_line_scans_and_lists(town: Town) -> None:
    town.quiet_history()
    town.add_cases(town.cadre_grids()[0], "EP01", TODAY, 10)
    url = town.platform.settings.database_url
    runner = CliRunner()
    scanned = runner.invoke(
        cli, ["insight", "warnings", "scan", "--db", url, "--date", "2026-11-18"]
    )
    assert scanned.exit_code == 0, scanned.output
    assert "新预警 1 条" in scanned.output and "噪声污染 10 件" in scanned.output
    again = runner.invoke(cli, ["insight", "warnings", "scan", "--db", url, "--date", "2026-11-18"])
    assert "新预警 0 条" in again.output
    listed = runner.invoke(cli, ["insight", "warnings", "list", "--db", url])
    assert listed.exit_code == 0 and "EP01" in listed.output
    wrong = runner.invoke(cli, ["insight", "warnings", "scan", "--db", url, "--date", "18/11"])
    assert wrong.exit_code == 1 and "YYYY-MM-DD" in wrong.output
