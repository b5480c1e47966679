"""Intake suggests categories with a model trained on the city's closed cases, and matches
keywords while there is none."""

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from civicgrid.cases.domain import Channel, Status
from civicgrid.cases.services import NewCase, prepare_report
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Forbidden
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.insight import services
from civicgrid.insight.classifier import Settings, TextClassifier, read_sidecar, save_model
from civicgrid.insight.suggester import TrainedSuggester
from tests.conftest import City, actor_named

PARKING = [
    "小区门口被私家车堵死了，救护车都进不来",
    "人行道上全是汽车，行人只能走马路",
    "消防通道天天有车占着，物业不管",
    "电动车摩托车横七竖八放在楼道口",
]
RUBBISH = [
    "垃圾箱满了好几天没人清运，臭气熏天",
    "路边堆了一大堆生活垃圾，苍蝇很多",
    "小区垃圾站周边脏乱，垃圾散落一地",
    "垃圾没人收，野狗翻得到处都是",
]


def suggest_from(city: City, suggester: TrainedSuggester, text: str) -> str:
    point = city.area(city.plan.workers[0].grid_code).geometry.representative_point()
    ports = replace(city.platform.cases, suggester=suggester)
    with UnitOfWork(city.platform.session_factory) as uow:
        dispatcher = actor_named(uow, "dispatcher")
        reported = prepare_report(
            uow,
            dispatcher,
            NewCase(description=text, channel=Channel.HOTLINE, lat=point.y, lon=point.x),
            ports,
        )
        uow.rollback()
    suggested = reported.event.data["suggestions"]
    assert not suggested or suggested[0][0] == reported.case.category_code
    return reported.case.category_code


def test_intake_takes_the_category_the_trained_model_suggests(city: City, tmp_path: Path) -> None:
    path = tmp_path / "suggestions.joblib"
    suggester = TrainedSuggester(path)
    # "堵" is no keyword of illegal parking (SO03): without a model the fallback is used.
    text = "楼下车子堵在小区门口好几天"
    assert suggest_from(city, suggester, text) != "SO03"
    model = TextClassifier(Settings(min_df=1, char_min_df=1)).fit(
        [("", t) for t in PARKING + RUBBISH], ["SO03"] * 4 + ["CR01"] * 4
    )
    save_model(model, path, counts={"SO03": 4, "CR01": 4}, evaluation=None)
    suggester = TrainedSuggester(path)  # a fresh one reads the file at once
    assert suggest_from(city, suggester, text) == "SO03"
    assert suggest_from(city, suggester, "垃圾堆在路边没人管") == "CR01"


def test_retraining_learns_from_closed_cases_and_keeps_accuracy_per_category(
    city: City, tmp_path: Path
) -> None:
    path = tmp_path / "suggestions.joblib"
    with UnitOfWork(city.platform.session_factory) as uow:
        history = services.closed_case_history(uow)
        done = services.retrain_suggestions(uow, SYSTEM, path, folds=2, min_cases=5)
        info = services.suggestion_model(uow, SYSTEM, path)
    # Other tests close cases of the same city: count what is closed now.
    closed = len(history.labels)
    assert done.count == closed >= city.summary.case_states.get(Status.CLOSED, 0) >= 5
    assert info is not None and info == read_sidecar(path)
    assert set(info["evaluation"]["per_label"]) >= set(history.labels)
    assert sum(info["counts"].values()) == closed
    assert TrainedSuggester(path).model() is not None


class Memoriser(TextClassifier):
    """Answers the category of any message it was trained on, and "OT01" for the rest: its
    scores are perfect on its own training data and poor on anything else."""

    def fit(self, messages: Any, labels: Any, **options: Any) -> "Memoriser":
        super().fit(messages, labels, **options)
        self.seen = dict(zip(messages, labels, strict=True))
        return self

    def predict(self, messages: Any) -> list[tuple[str, float]]:
        return [(self.seen.get(m, "OT01"), 1.0) for m in messages]


def test_the_models_scores_come_from_cases_it_was_not_trained_on(
    city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "TextClassifier", Memoriser)
    with UnitOfWork(city.platform.session_factory) as uow:
        history = services.closed_case_history(uow)
        done = services.retrain_suggestions(
            uow, SYSTEM, tmp_path / "m.joblib", folds=2, min_cases=5
        )
    assert done.evaluation is not None and done.evaluation.folds == 2
    # Judged on its training data the memoriser would be right every time; judged on the
    # held-out fold it knows none of them (only cases written alike in both folds count).
    held_out = sum(
        1
        for m, label in zip(history.messages, history.labels, strict=True)
        if history.messages.count(m) == 1 and label != "OT01"
    )
    assert held_out > 0.5 * len(history.messages)
    assert done.evaluation.accuracy <= 1 - held_out / len(history.messages) + 0.01
    assert sum(s.support for s in done.evaluation.per_label.values()) == len(history.labels)


def test_only_administrators_retrain(city: City, tmp_path: Path) -> None:
    with UnitOfWork(city.platform.session_factory) as uow, pytest.raises(Forbidden):
        services.retrain_suggestions(uow, Actor("d", Role.DISPATCHER), tmp_path / "m.joblib")


def test_the_retrain_command_prints_the_accuracy_per_category(city: City, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from civicgrid.cli import app as cli

    path = tmp_path / "m.joblib"
    db = city.platform.settings.database_url
    result = CliRunner().invoke(
        cli, ["insight", "retrain", "--db", db, "--out", str(path), "--folds", "2"]
    )
    assert result.exit_code == 0, result.output
    assert path.exists() and str(path) in result.output.replace("\n", "")
    assert "recall" in result.output


def test_a_report_that_reads_urgent_is_taken_in_as_urgent_with_its_reasons(city: City) -> None:
    from civicgrid.cases.domain import Priority

    point = city.area(city.plan.workers[0].grid_code).geometry.representative_point()
    ports = city.platform.cases
    with UnitOfWork(city.platform.session_factory) as uow:
        dispatcher = actor_named(uow, "dispatcher")

        def take(text: str) -> Any:
            new = NewCase(
                description=text, channel=Channel.HOTLINE, category="CR01", lat=point.y, lon=point.x
            )
            return prepare_report(uow, dispatcher, new, ports)

        urgent = take("垃圾堆里着火了，旁边就是幼儿园，孩子们在操场上")
        calm = take("垃圾箱满了没人清运")
        uow.rollback()
    assert urgent.case.priority is Priority.URGENT
    assert {"着火", "孩子"} <= set(urgent.event.data["urgency"]["reasons"])
    assert calm.case.priority is Priority.NORMAL
    assert calm.event.data["urgency"] == {"score": 0.0, "reasons": []}
    assert calm.event.data["sentiment"] == {"score": 0.0, "label": "neutral", "words": []}
    assert urgent.event.data["sentiment"]["label"] in ("negative", "neutral")


def test_staff_see_how_a_report_reads_on_the_case_page(
    city: City, city_client: Any, auth: Any
) -> None:
    point = city.area(city.plan.workers[0].grid_code).geometry.representative_point()
    answer = city_client.post(
        "/api/v1/cases",
        json={
            "description": "楼道里燃气泄漏，家里有老人，投诉多次无人管，忍无可忍！！",
            "category": "CR01",
            "lat": point.y,
            "lon": point.x,
            "channel": "hotline",
        },
        headers=auth("dispatcher"),
    )
    assert answer.status_code == 201, answer.text
    page = city_client.get(f"/cases/{answer.json()['id']}", headers=auth("dispatcher"))
    assert page.status_code == 200
    assert "紧急程度" in page.text and "燃气泄漏、老人" in page.text
    assert "情感倾向 负面" in page.text and "忍无可忍" in page.text


def test_administrators_see_the_suggestion_model_dispatchers_do_not(
    city_client: Any, auth: Any
) -> None:
    answer = city_client.get("/api/v1/insight/suggestion-model", headers=auth("admin"))
    assert answer.status_code == 200 and answer.json() == {"model": None}
    refused = city_client.get("/api/v1/insight/suggestion-model", headers=auth("dispatcher"))
    assert refused.status_code == 403
