"""The insight page and its API: reply quality of closed cases per unit, the hot-issue
board, the suggestion model with its retraining on schedule and on demand."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Conflict
from civicgrid.core.jobs import job_runs, last_runs, run_due
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.demo.domain import DemoCityBuilder, Shape
from civicgrid.demo.services import install_demo_city
from civicgrid.insight import services
from civicgrid.insight.retraining import retrain_job
from civicgrid.insight.suggester import TrainedSuggester
from tests.conftest import City, DatabaseMaker, open_platform, settings_for
from tests.integration.test_cases import PHOTO, act, first_grid, report
from tests.unit.test_insight_replies import BOILERPLATE, CONCRETE, QUESTION, TITLE

VIEWERS = ("admin", "data_admin", "leader")


def username(city: City, role: Role) -> str:
    return city.username_of(role)


def closed_case(
    city: City, client: TestClient, auth: Any, unit: str, description: str, answer: str
) -> int:
    dispatcher, handler = auth("dispatcher"), auth.unit(unit)
    case_id: int = report(
        client, auth("resident"), first_grid(city), title=TITLE, description=description
    )["id"]
    act(client, dispatcher, case_id, "accept")
    act(client, dispatcher, case_id, "register")
    act(client, dispatcher, case_id, "dispatch", department=unit)
    act(client, handler, case_id, "start")
    photo = [{"filename": "after.png", "data": PHOTO}]
    act(client, handler, case_id, "resolve", note=answer, attachments=photo)
    act(client, auth(city.plan.workers[0].username), case_id, "verify")
    act(client, dispatcher, case_id, "close")
    return case_id


@pytest.fixture
def street_unit(city: City) -> str:
    return f"{first_grid(city).code[:9]}-ZFD"


def test_a_concrete_answer_outscores_boilerplate_in_its_units_reply_quality(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    good = closed_case(city, city_client, auth, street_unit, QUESTION, CONCRETE)
    bad = closed_case(city, city_client, auth, street_unit, QUESTION, BOILERPLATE)
    with UnitOfWork(city.platform.session_factory) as uow:
        scored = {
            s.case_id: s for s in services.scored_replies(uow, SYSTEM, department=street_unit)
        }
    assert scored[good].score.total > 60 > 30 > scored[bad].score.total
    assert scored[good].reply == CONCRETE and scored[good].department_code == street_unit
    assert scored[good].score.timeliness == 1.0  # resolved within the hour
    answer = city_client.get(
        "/api/v1/insight/reply-quality", params={"department": street_unit}, headers=auth("leader")
    )
    assert answer.status_code == 200, answer.text
    (unit,) = answer.json()["departments"]
    assert unit["department"] == street_unit and unit["count"] >= 2
    assert unit["below_60"] >= 1 and 0 <= unit["mean"] <= 100
    assert set(unit) >= {"relevance", "completeness", "concreteness", "timeliness", "weakest"}
    weakest = unit["weakest"][0]
    assert weakest["total"] <= unit["mean"] and weakest["reasons"]["concreteness"]
    everyone = city_client.get("/api/v1/insight/reply-quality", headers=auth("admin")).json()
    assert street_unit in {d["department"] for d in everyone["departments"]}
    refused = city_client.get("/api/v1/insight/reply-quality", headers=auth("dispatcher"))
    assert refused.status_code == 403
    wrong = city_client.get(
        "/api/v1/insight/reply-quality", params={"since": "yesterday"}, headers=auth("admin")
    )
    assert wrong.status_code == 422 and "since" in wrong.json()["error"]["message"]
    # A day is the city's: 18 November begins at 16:00 UTC on the 17th in Shanghai.
    from_day = city_client.get(
        "/api/v1/insight/reply-quality", params={"since": "2026-11-18"}, headers=auth("admin")
    ).json()
    assert from_day["since"] == "2026-11-17T16:00:00+00:00"


def test_reports_of_one_problem_in_one_place_form_a_hot_issue_on_the_board(
    city: City, city_client: TestClient, auth: Any
) -> None:
    title = "翠湖苑小区电梯又坏了困住老人"
    ids = {
        report(
            city_client,
            auth("dispatcher"),
            first_grid(city),
            title=title,
            description=f"翠湖苑小区3栋电梯第{n}次故障，老人被困在里面半小时",
            category="CR01",
            channel="hotline",
        )["id"]
        for n in range(1, 4)
    }
    answer = city_client.get(
        "/api/v1/insight/hot-issues", params={"days": 7}, headers=auth("leader")
    )
    assert answer.status_code == 200, answer.text
    issue = next(i for i in answer.json()["issues"] if ids <= {c["id"] for c in i["cases"]})
    assert issue["title"] == title and issue["place"].startswith("翠湖苑")
    assert issue["count"] >= 3 and issue["heat"] > 0 and issue["first"] <= issue["last"]
    board = city_client.get("/insight/hot", headers=auth("data_admin"))
    assert board.status_code == 200 and title in board.text
    assert all(f'href="/cases/{case_id}"' in board.text for case_id in ids)
    assert city_client.get("/api/v1/insight/hot-issues", headers=auth("cadre")).status_code == 403
    too_long = city_client.get("/api/v1/insight/hot-issues?days=9999", headers=auth("admin"))
    assert too_long.status_code == 422


def test_the_page_opens_for_data_admins_admins_and_leaders_only(
    city: City, city_client: TestClient, auth: Any
) -> None:
    for persona in VIEWERS:
        page = city_client.get("/insight", headers=auth(persona))
        assert page.status_code == 200, page.text
        for label in ("热点问题", "答复质量", "分类建议模型", 'id="nav-insight"'):
            assert label in page.text
        assert 'hx-trigger="every 60s"' in page.text and "/static/insight.css" in page.text
        button = 'id="retrain-now"' in page.text
        assert not button  # the test city has no model path: nothing to retrain
    english = city_client.get("/insight?lang=en&days=365&units=all", headers=auth("leader"))
    assert "Hot issues" in english.text and "Reply quality" in english.text
    assert 'id="reply-table"' in english.text and 'id="all-units"' not in english.text
    for persona in ("dispatcher", "cadre", "resident"):
        refused = city_client.get("/insight", headers={**auth(persona), "Accept": "text/html"})
        assert refused.status_code == 403
        assert 'id="nav-insight"' not in city_client.get("/", headers=auth(persona)).text
    anonymous = city_client.get("/insight", headers={"Accept": "text/html"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


# ------------------------------------------------------------------ retraining


@pytest.fixture(scope="module")
def trained_url(databases: DatabaseMaker) -> str:
    """A small city of its own with some forty closed cases (the retraining's job row and
    model must not meet the other tests')."""
    url = databases.new("retrain")
    platform = open_platform(url)
    plan = DemoCityBuilder(seed=11).synthetic(
        Shape(districts=1, streets_per_district=1, communities_per_street=2, grids_per_community=2)
    )
    with UnitOfWork(platform.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=60)
    platform.engine.dispose()
    return url


@pytest.fixture
def trained(trained_url: str, tmp_path: Path) -> Iterator[Platform]:
    settings = settings_for(trained_url).model_copy(
        update={
            "suggestion_model_path": str(tmp_path / "suggestions.joblib"),
            "retrain_every_hours": 1.0,
        }
    )
    platform = build_platform(settings)
    yield platform
    with UnitOfWork(platform.session_factory) as uow:
        uow.session.execute(job_runs.delete().where(job_runs.c.name == services.RETRAIN_JOB))
        uow.commit()
    platform.engine.dispose()


def test_the_retrain_job_runs_once_an_hour_and_intake_takes_the_new_model(
    trained: Platform,
) -> None:
    (registered,) = [j for j in trained.jobs if j.name == services.RETRAIN_JOB]
    assert registered.every == timedelta(hours=1)
    suggester = trained.cases.suggester
    assert isinstance(suggester, TrainedSuggester) and suggester.model() is None
    path = Path(trained.settings.suggestion_model_path)
    t0 = datetime.now(UTC)
    clock = [t0]
    job = retrain_job(path, timedelta(hours=1), suggester, folds=2, clock=lambda: clock[0])
    ((name, outcome),) = run_due(trained.session_factory, [job], t0)
    assert name == services.RETRAIN_JOB and outcome.startswith("retrained on "), outcome
    first = suggester.model()  # reloaded at once, without waiting for the recheck
    assert first is not None and path.exists()
    inode = os.stat(path).st_ino
    assert run_due(trained.session_factory, [job], t0 + timedelta(minutes=59)) == []
    clock[0] = t0 + timedelta(hours=1, minutes=1)
    ((_, second),) = run_due(trained.session_factory, [job], clock[0])
    assert second.startswith("retrained on "), second
    assert os.stat(path).st_ino != inode  # a new file renamed over the old one
    assert suggester.model() is not first
    assert not list(path.parent.glob(".retraining-*"))  # nothing left half-written
    with UnitOfWork(trained.session_factory) as uow:
        run = last_runs(uow.session)[services.RETRAIN_JOB]
        overview = services.model_overview(
            uow, Actor("l", Role.LEADER), str(path), job.every, datetime.now(UTC)
        )
    assert run.finished_at is not None and run.outcome == second
    assert overview.model is not None and overview.next_run_at == run.started_at + job.every
    assert not overview.running and overview.can_retrain
    # A model younger than the period (trained a moment ago, then a new database served
    # with it) is kept.
    clock[0] = datetime.now(UTC) + timedelta(minutes=10)
    ((_, third),) = run_due(trained.session_factory, [job], t0 + timedelta(hours=3))
    assert third.startswith("skipped: the model was trained at "), third


def test_no_schedule_when_the_hours_are_zero(trained_url: str, tmp_path: Path) -> None:
    settings = settings_for(trained_url).model_copy(
        update={"suggestion_model_path": str(tmp_path / "m.joblib"), "retrain_every_hours": 0}
    )
    platform = build_platform(settings)
    assert services.RETRAIN_JOB not in {j.name for j in platform.jobs}
    assert platform.retrainer is not None  # retraining now still works
    platform.engine.dispose()
    assert build_platform(settings_for(trained_url)).retrainer is None


def test_retrain_now_runs_in_the_background_and_the_page_shows_how_it_went(
    trained: Platform, tmp_path: Path
) -> None:
    with TestClient(create_app(trained)) as client:

        def login(name: str) -> dict[str, str]:
            with UnitOfWork(trained.session_factory) as uow:
                from civicgrid.accounts.services import NewUser, add_user

                add_user(uow, SYSTEM, NewUser(name, name.split("-")[0], "password-123456"))
            token = client.post(
                "/api/v1/auth/token", data={"username": name, "password": "password-123456"}
            ).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        data_admin, leader = login(f"data_admin-{tmp_path.name}"), login(f"leader-{tmp_path.name}")
        page = client.get("/insight", headers=data_admin)
        assert 'id="retrain-now"' in page.text and "尚未运行过" in page.text
        assert 'id="retrain-now"' not in client.get("/insight", headers=leader).text
        refused = client.post("/insight/retrain", headers={**leader, "HX-Request": "true"})
        assert refused.status_code == 403
        started = client.post("/insight/retrain", headers={**data_admin, "HX-Request": "true"})
        assert started.status_code == 200 and "已开始重新训练" in started.text
        assert trained.retrainer is not None
        trained.retrainer.wait(120)
        panel = client.get("/insight/model", headers=leader)
        assert (
            "retrained on" in panel.text
            and f"requested by data_admin-{tmp_path.name}" in panel.text
        )
        assert 'id="model-table"' in panel.text and "CR01" in panel.text
        # The page says how the figures were measured: on cases the model had not seen.
        assert 'id="model-measured"' in panel.text and "折交叉验证" in panel.text
        assert "held-out" in panel.text
        # Another server process is retraining: this one refuses, on the page too.
        with UnitOfWork(trained.session_factory) as uow:
            uow.session.execute(
                update(job_runs)
                .where(job_runs.c.name == services.RETRAIN_JOB)
                .values(started_at=datetime.now(UTC), finished_at=None)
            )
            uow.commit()
            with pytest.raises(Conflict):
                services.retrain_now(
                    uow, Actor("a", Role.ADMIN), trained.retrainer, datetime.now(UTC)
                )
        busy = client.post("/insight/retrain", headers={**data_admin, "HX-Request": "true"})
        assert "正在重新训练" in busy.text
        polled = client.get("/insight/model", headers=leader)
        assert 'hx-trigger="every 5s"' in polled.text
