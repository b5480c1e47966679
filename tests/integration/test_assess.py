"""Assessment on a demo city with history: rankings and the cases behind every figure,
frozen months, appeals that recompute a month, a versioned rulebook changed through the
API and the pages, reports, threshold alerts, monthly reports to the cadres, and the
command centre's push."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.app import create_app
from civicgrid.assess import services
from civicgrid.assess.domain import current_month, previous_month
from civicgrid.assess.ports import find_font
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.outbox import Outbox
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import install_demo_city
from tests.conftest import SMALL_CITY, report_in_a_grid

PASSWORD = "assess-password-1"


class Town:
    """A demo city of 120 cases over the last month, on the scratch database, with the
    assessment's clock moved past the end of the months they fall in."""

    def __init__(self, platform: Platform, client: TestClient) -> None:
        self.platform = platform
        self.client = client
        self.tokens: dict[str, str] = {}
        self.cadre_area = ""

    @property
    def ports(self) -> Any:
        return self.platform.assess

    def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture
def town(scratch: Platform) -> Iterator[Town]:
    plan = DemoCityBuilder(seed=7).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=scratch.cases, cases=120)
    with UnitOfWork(scratch.session_factory) as uow:
        for name, role, area, unit in [
            ("leader1", "leader", None, None),
            ("admin1", "admin", None, None),
            ("cadre1", "cadre", plan.areas[1].code, None),
            ("unit1", "handler", None, plan.departments[0].code),
        ]:
            add_user(
                uow,
                SYSTEM,
                NewUser(
                    name, role, PASSWORD, area_code=area, department_code=unit, phone="13800000000"
                ),
            )
        services.refresh_facts(uow, SYSTEM, scratch.assess)
    # Every month with cases has ended for the assessment's clock.
    later = utcnow() + timedelta(days=35)
    scratch.assess.clock = lambda: later
    with TestClient(create_app(scratch)) as client:
        town = Town(scratch, client)
        town.cadre_area = plan.areas[1].code
        yield town


def months_of(town: Town) -> tuple[str, str]:
    """The last two months the demo's cases fall in (by the assessment's clock)."""
    now = town.ports.clock()
    last = previous_month(current_month(now, town.ports.timezone))
    return previous_month(last), last


def test_a_ranking_names_every_object_and_every_figure_leads_to_its_cases(town: Town) -> None:
    _, month = months_of(town)
    response = town.client.get(
        f"/api/v1/assess/rankings?month={month}&scheme=department",
        headers=town.headers("leader1"),
    )
    assert response.status_code == 200, response.text
    ranking = response.json()
    assert ranking["rows"] and ranking["version"] == 0 and ranking["state"] == "open"
    assert [r["rank"] for r in ranking["rows"]] == sorted(r["rank"] for r in ranking["rows"])
    top = ranking["rows"][0]
    figure = top["figures"]["closure_rate"]
    cases = town.client.get(
        "/api/v1/assess/rankings/cases",
        params={
            "month": month,
            "indicator": "closure_rate",
            "object": "unit",
            "code": top["object_code"],
            "part": "denominator",
        },
        headers=town.headers("leader1"),
    )
    assert cases.status_code == 200
    assert len(cases.json()) == figure["denominator"]


def test_a_month_in_the_future_and_an_unknown_scheme_are_refused_naming_the_field(
    town: Town,
) -> None:
    future = town.client.get(
        "/api/v1/assess/rankings?month=2999-01&scheme=department",
        headers=town.headers("leader1") | {"Accept-Language": "en"},
    )
    assert future.status_code == 422
    assert future.json()["error"]["message"].startswith("month:")
    unknown = town.client.get(
        f"/api/v1/assess/rankings?month={months_of(town)[1]}&scheme=nope",
        headers=town.headers("leader1"),
    )
    assert unknown.status_code == 422 and "scheme" in unknown.json()["error"]["message"]


def test_freezing_keeps_the_month_and_an_accepted_appeal_recomputes_it_with_the_change_logged(
    town: Town,
) -> None:
    _, month = months_of(town)
    frozen = town.client.post(
        f"/api/v1/assess/months/{month}/freeze", headers=town.headers("leader1")
    )
    assert frozen.status_code == 200, frozen.text
    assert frozen.json()["state"] == "frozen" and frozen.json()["revision"] == 1
    again = town.client.post(
        f"/api/v1/assess/months/{month}/freeze", headers=town.headers("leader1")
    )
    assert again.status_code == 409
    stored = town.client.get(
        f"/api/v1/assess/months/{month}/results?scheme=department", headers=town.headers("leader1")
    ).json()
    assert stored
    # The unit appeals one of its late cases.
    unit = town.platform.assess
    with UnitOfWork(town.platform.session_factory) as uow:
        from sqlalchemy import select

        from civicgrid.assess.repository import facts

        row = uow.session.execute(
            select(facts.c.case_id, facts.c.department_code)
            .where(
                facts.c.snapshot == month,
                facts.c.department_code.is_not(None),
                facts.c.dispatched.is_(True),
            )
            .limit(1)
        ).first()
        assert row is not None
    case_id, department = row
    with UnitOfWork(town.platform.session_factory) as uow:
        add_user(uow, SYSTEM, NewUser("unit2", "handler", PASSWORD, department_code=department))
    filed = town.client.post(
        "/api/v1/assess/appeals",
        json={"month": month, "case_id": case_id, "reason": "暴雨期间无法施工，已报备"},
        headers=town.headers("unit2"),
    )
    assert filed.status_code == 201, filed.text
    appeal = filed.json()
    assert appeal["object_code"] == department and appeal["state"] == "filed"
    twice = town.client.post(
        "/api/v1/assess/appeals",
        json={"month": month, "case_id": case_id, "reason": "again"},
        headers=town.headers("unit2"),
    )
    assert twice.status_code == 409
    not_theirs = town.client.post(
        "/api/v1/assess/appeals",
        json={"month": month, "case_id": case_id, "reason": "x"},
        headers=town.headers("unit1"),
    )
    assert not_theirs.status_code in (409, 422)
    decided = town.client.post(
        f"/api/v1/assess/appeals/{appeal['id']}/decision",
        json={"accept": True, "note": "情况属实"},
        headers=town.headers("leader1"),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["revision"] == 2
    history = town.client.get(
        f"/api/v1/assess/months/{month}/history", headers=town.headers("leader1")
    ).json()
    assert [h["action"] for h in history] == ["freeze", "recompute"]
    assert history[1]["data"]["appeal"] == appeal["id"]
    cases = town.client.get(
        "/api/v1/assess/rankings/cases",
        params={"month": month, "indicator": "closure_rate", "object": "unit", "code": department},
        headers=town.headers("leader1"),
    ).json()
    assert case_id not in [c["id"] for c in cases]
    decided_again = town.client.post(
        f"/api/v1/assess/appeals/{appeal['id']}/decision",
        json={"accept": False, "note": "x"},
        headers=town.headers("leader1"),
    )
    assert decided_again.status_code == 409
    # Past the window, appeals are refused naming the month.
    unit.clock = lambda: utcnow() + timedelta(days=80)
    late = town.client.post(
        "/api/v1/assess/appeals",
        json={"month": month, "case_id": case_id, "reason": "late"},
        headers=town.headers("unit2") | {"Accept-Language": "en"},
    )
    assert late.status_code == 422 and late.json()["error"]["message"].startswith("month:")


def test_deriving_every_fact_again_leaves_a_frozen_month_as_it_was(town: Town) -> None:
    from sqlalchemy import select

    from civicgrid.assess.repository import facts

    _, month = months_of(town)
    columns = [c for c in facts.c if c.name not in ("refreshed_seq",)]

    def frozen_rows() -> list[Any]:
        with UnitOfWork(town.platform.session_factory) as uow:
            return [
                tuple(row)
                for row in uow.session.execute(
                    select(*columns).where(facts.c.snapshot == month).order_by(facts.c.case_id)
                )
            ]

    with UnitOfWork(town.platform.session_factory) as uow:
        services.freeze_month(uow, SYSTEM, town.ports, month)
        stored = services.stored_results(uow, SYSTEM, town.ports, month, "hotline")
    before = frozen_rows()
    # A case's answer has one score, in the month's rows as in the live ones.
    with UnitOfWork(town.platform.session_factory) as uow:
        live = dict(
            uow.session.execute(
                select(facts.c.case_id, facts.c.reply_quality).where(facts.c.snapshot == "live")
            ).all()
        )
    quality = {
        row[columns.index(facts.c.case_id)]: row[columns.index(facts.c.reply_quality)]
        for row in before
    }
    assert any(quality.values())
    assert {c: q for c, q in quality.items() if q is not None} == {
        c: live[c] for c, q in quality.items() if q is not None
    }
    with UnitOfWork(town.platform.session_factory) as uow:
        services.refresh_facts(uow, SYSTEM, town.ports, rebuild=True)
    assert frozen_rows() == before
    with UnitOfWork(town.platform.session_factory) as uow:
        ranking = services.rankings(uow, SYSTEM, town.ports, month, "hotline")
    assert {r.object_code: r.score for r in ranking.rows} == {
        r["object_code"]: r["score"] for r in stored
    }


def test_a_weight_changed_through_the_api_makes_a_new_version_and_bad_weights_are_refused(
    town: Town,
) -> None:
    book = town.client.get("/api/v1/assess/rulebook", headers=town.headers("admin1")).json()
    department = next(s for s in book["schemes"] if s["code"] == "department")
    items = department["items"]
    items[0]["weight"] += 5
    bad = town.client.put(
        "/api/v1/assess/schemes/department",
        json={"definition": {**department, "items": items}, "reason": "加重结案率"},
        headers=town.headers("admin1") | {"Accept-Language": "en"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("weights:")
    items[1]["weight"] -= 5
    good = town.client.put(
        "/api/v1/assess/schemes/department",
        json={"definition": {**department, "items": items}, "reason": "加重结案率"},
        headers=town.headers("admin1"),
    )
    assert good.status_code == 200, good.text
    assert good.json()["version"] == 1
    zero = town.client.put(
        "/api/v1/assess/indicators/closure_rate",
        json={"definition": {**book["indicators"][0], "on_zero": None}, "reason": "x"},
        headers=town.headers("admin1"),
    )
    assert zero.status_code == 422 and "on_zero" in zero.json()["error"]["message"]
    leader = town.client.put(
        "/api/v1/assess/schemes/department",
        json={"definition": {**department, "items": items}, "reason": "x"},
        headers=town.headers("leader1"),
    )
    assert leader.status_code == 403
    ranking = town.client.get(
        f"/api/v1/assess/rankings?month={months_of(town)[1]}&scheme=department",
        headers=town.headers("leader1"),
    ).json()
    assert ranking["version"] == 1


def test_reports_open_with_chinese_text_and_charts(town: Town) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    _, month = months_of(town)
    city = town.platform.assess
    with UnitOfWork(town.platform.session_factory) as uow:
        from civicgrid.areas import services as areas
        from civicgrid.areas.domain import Level

        code = areas.list_areas(uow, SYSTEM, level=Level.CITY)[0].code
        excel = services.monthly_report(uow, SYSTEM, city, code, month, "xlsx")
    book = openpyxl.load_workbook(io.BytesIO(excel.content))
    assert "部门考核" in book.sheetnames and "说明" in book.sheetnames
    assert book["部门考核"]["A5"].value == "排名"
    assert book["部门考核"]._charts
    if find_font(city.pdf_font) is None:
        pytest.skip("no CJK font on this machine: install fonts-noto-cjk (Debian) for the PDF")
    response = town.client.get(
        f"/api/v1/assess/report?area={code}&month={month}&format=pdf",
        headers=town.headers("leader1"),
    )
    assert response.status_code == 200
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert re.search(rb"/FontFile[23]", pdf) and b"CJK" in pdf  # the font is embedded
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 8  # a page per scheme at least


def test_a_cadre_sees_her_area_and_monthly_reports_go_to_the_cadres(town: Town) -> None:
    _, month = months_of(town)
    with UnitOfWork(town.platform.session_factory) as uow:
        services.freeze_month(uow, SYSTEM, town.ports, month)
        sent = services.send_monthly_reports(uow, town.ports, month)
        bodies = [m.body for m in Outbox(uow.session).listing(record_kind="assess_month")]
    assert sent >= 1
    assert any("/assess/report?area=" in body for body in bodies)
    cadre = town.client.get(
        f"/api/v1/assess/rankings?month={month}&scheme=region_grid", headers=town.headers("cadre1")
    ).json()
    assert cadre["rows"]
    scope = town.cadre_area
    assert all(r["object_code"].startswith(scope) for r in cadre["rows"])


def test_an_alert_fires_once_per_object_and_window(town: Town) -> None:
    created = town.client.post(
        "/api/v1/assess/alerts",
        json={
            "name": "结案率过低",
            "indicator": "closure_rate",
            "object": "street",
            "comparison": "below",
            "threshold": 100,
            "window": "month",
            "min_cases": 1,
        },
        headers=town.headers("leader1"),
    )
    assert created.status_code == 201, created.text
    bad = town.client.post(
        "/api/v1/assess/alerts",
        json={"name": "x", "indicator": "closure_rate", "object": "planet", "threshold": 90},
        headers=town.headers("leader1"),
    )
    assert bad.status_code == 422 and "object" in bad.json()["error"]["message"]
    town.platform.assess.clock = utcnow  # this month's cases
    with UnitOfWork(town.platform.session_factory) as uow:
        first = services.check_alerts(uow, SYSTEM, town.ports)
        second = services.check_alerts(uow, SYSTEM, town.ports)
    assert first >= 1 and second == 0


def test_the_pages_draw_and_confirm_what_they_did(town: Town) -> None:
    client = town.client
    login = client.post(
        "/login", data={"username": "admin1", "password": PASSWORD}, follow_redirects=False
    )
    assert login.status_code in (302, 303)
    _, month = months_of(town)
    page = client.get(f"/assess?month={month}&scheme=department")
    assert page.status_code == 200 and 'id="ranking"' in page.text
    for path in (
        "/assess/rulebook",
        "/assess/indicators/closure_rate",
        "/assess/schemes/department",
        "/assess/appeals",
        "/assess/alerts",
        "/command",
    ):
        assert client.get(path).status_code == 200, path
    frozen = client.post("/assess/freeze", data={"month": month, "scheme": "department"})
    assert frozen.status_code == 200 and 'id="done"' in frozen.text
    form = {
        "name_zh": "部门考核",
        "name_en": "Departments",
        "object": "unit",
        "reason": "调整",
        "items.0.indicator": "closure_rate",
        "items.0.weight": "50",
        "items.0.kind": "linear",
        "items.1.indicator": "rework_rate",
        "items.1.weight": "40",
        "items.1.kind": "complement",
        "grades.0.grade": "A",
        "grades.0.min_score": "90",
        "grades.1.grade": "E",
        "grades.1.min_score": "0",
    }
    refused = client.post("/assess/schemes/department", data=form)
    assert refused.status_code == 422 and "weights" in refused.text and "90" in refused.text
    saved = client.post("/assess/schemes/department", data=form | {"items.1.weight": "50"})
    assert saved.status_code == 200 and 'id="done"' in saved.text


def test_the_command_centre_pushes_a_new_case_within_five_seconds(town: Town) -> None:
    town.platform.assess.clock = utcnow
    headers = town.headers("leader1") | {"Accept": "text/event-stream"}
    first: dict[str, Any] = {}
    arrived: list[float] = []
    started = threading.Event()
    sent_at: list[float] = []

    def listen() -> None:
        import json

        with town.client.stream("GET", "/command/stream", headers=headers) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                summary = json.loads(line[6:])
                if not first:
                    first.update(summary)
                    started.set()
                    continue
                if summary["stamp"] > first["stamp"]:
                    arrived.append(time.monotonic())
                    first["after"] = summary
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert started.wait(10)
    sent_at.append(time.monotonic())
    report_in_a_grid(town.platform, town.client, town.headers("admin1"), "路灯不亮，晚上很黑")
    listener.join(10)
    assert arrived, "no push after the new case"
    assert arrived[0] - sent_at[0] < 5
    assert first["after"]["tiles"]["reported_today"] == first["tiles"]["reported_today"] + 1


def test_bad_input_is_a_4xx_naming_the_field_and_recomputes_nothing(town: Town) -> None:
    """The issue's list: a denominator that can be zero with no rule for it, weights that
    do not add up to 100 %, an unknown object type, a month in the future, an appeal past a
    frozen month's deadline — each a 4xx whose message starts with the field, in both
    languages, and neither the rulebook nor the month changes."""
    _, month = months_of(town)
    admin = town.headers("admin1")
    with UnitOfWork(town.platform.session_factory) as uow:
        services.freeze_month(uow, SYSTEM, town.ports, month)
        from sqlalchemy import select

        from civicgrid.assess.repository import facts

        case_id = uow.session.execute(
            select(facts.c.case_id).where(facts.c.snapshot == month).limit(1)
        ).scalar_one()
    book = town.client.get("/api/v1/assess/rulebook", headers=admin).json()
    closure = next(i for i in book["indicators"] if i["code"] == "closure_rate")
    department = next(s for s in book["schemes"] if s["code"] == "department")
    heavy = [dict(item) for item in department["items"]]
    heavy[0]["weight"] += 10
    town.ports.clock = lambda: utcnow() + timedelta(days=35 + town.ports.appeal_days + 2)
    attempts: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
        (
            "PUT",
            "/api/v1/assess/indicators/closure_rate",
            "",
            {"definition": {**closure, "on_zero": None}, "reason": "无案件时不计"},
            "on_zero",
        ),
        (
            "PUT",
            "/api/v1/assess/schemes/department",
            "",
            {"definition": {**department, "items": heavy}, "reason": "加重结案率"},
            "weights",
        ),
        (
            "GET",
            "/api/v1/assess/rankings/cases",
            f"?month={month}&indicator=closure_rate&object=planet&code=x",
            None,
            "object",
        ),
        (
            "POST",
            "/api/v1/assess/alerts",
            "",
            {"name": "x", "indicator": "closure_rate", "object": "planet", "threshold": 90},
            "object",
        ),
        ("GET", "/api/v1/assess/rankings", "?month=2999-01&scheme=department", None, "month"),
        ("POST", "/api/v1/assess/months/2999-01/freeze", "", None, "month"),
        (
            "POST",
            "/api/v1/assess/appeals",
            "",
            {"month": month, "case_id": case_id, "reason": "上级审批延误"},
            "month",
        ),
    ]
    for method, path, query, body, field_name in attempts:
        for language in ("en", "zh"):
            answer = town.client.request(
                method,
                path + query,
                json=body,
                headers=admin | {"Accept-Language": language},
            )
            assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text)
            message = answer.json()["error"]["message"]
            assert message.startswith((f"{field_name}:", f"{field_name}：")), (path, message)
    versions = town.client.get("/api/v1/assess/versions", headers=admin).json()
    assert versions == []  # the presets still rule: no version was written
    record = town.client.get(f"/api/v1/assess/months/{month}", headers=admin).json()
    assert record["revision"] == 1
    history = town.client.get(f"/api/v1/assess/months/{month}/history", headers=admin).json()
    assert [h["action"] for h in history] == ["freeze"]


def test_the_command_centre_shows_only_the_viewers_area(town: Town) -> None:
    town.platform.assess.clock = utcnow
    with UnitOfWork(town.platform.session_factory) as uow:
        from civicgrid.accounts.services import actor_for_username

        cadre = actor_for_username(uow, "cadre1")
        city = services.command_summary(uow, SYSTEM, town.ports)
        mine = services.command_summary(uow, cadre, town.ports)
        from sqlalchemy import select

        from civicgrid.cases.views import case_rows

        paths = dict(uow.session.execute(select(case_rows.c.id, case_rows.c.area_path)).all())
    scope = str(cadre.scope_path)
    assert city["points"] and mine["points"]
    assert all(paths[p[0]].startswith(scope) for p in mine["points"])
    assert any(not paths[p[0]].startswith(scope) for p in city["points"])
    assert all(paths[o["id"]].startswith(scope) for o in mine["overdue"])
    assert mine["tiles"]["open_now"] < city["tiles"]["open_now"]
    inside = sum(1 for p in city["points"] if paths[p[0]].startswith(scope))
    assert len(mine["points"]) == inside


def test_each_cadre_is_sent_her_own_areas_monthly_report(town: Town) -> None:
    from civicgrid.accounts.repository import UserRepository
    from civicgrid.areas import services as areas
    from civicgrid.areas.domain import Level

    _, month = months_of(town)
    with UnitOfWork(town.platform.session_factory) as uow:
        communities = areas.list_areas(uow, SYSTEM, level=Level.COMMUNITY)
        outside = next(c for c in communities if town.cadre_area not in c.path.split("/"))
        add_user(
            uow,
            SYSTEM,
            NewUser("cadre2", "cadre", PASSWORD, area_code=outside.code, phone="13800000001"),
        )
    with UnitOfWork(town.platform.session_factory) as uow:
        services.freeze_month(uow, SYSTEM, town.ports, month)
        services.send_monthly_reports(uow, town.ports, month)
        users = UserRepository(uow.session)
        messages = [
            (m.recipient, m.body) for m in Outbox(uow.session).listing(record_kind="assess_month")
        ]
        area_of = {
            to: users.get(to.removeprefix("user:")).area_code  # type: ignore[union-attr]
            for to, _ in messages
        }
    assert {"user:cadre1", "user:cadre2"} <= set(area_of)
    for to, body in messages:
        linked = re.search(r"/assess/report\?area=([^&]+)&month=([0-9-]+)", body)
        assert linked is not None, body
        assert linked.groups() == (area_of[to], month), to


def test_a_case_event_redraws_the_wall_without_regrouping_the_hot_issues(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civicgrid.insight import views as insight_views

    town.platform.assess.clock = utcnow
    grouped: list[str | None] = []
    group = insight_views.hot_issues_of

    def counted(session: Any, scope: str | None, *args: Any, **kwargs: Any) -> Any:
        grouped.append(scope)
        return group(session, scope, *args, **kwargs)

    monkeypatch.setattr(insight_views, "hot_issues_of", counted)
    services._hot.clear()
    with UnitOfWork(town.platform.session_factory) as uow:
        before = services.command_summary(uow, SYSTEM, town.ports)
    report_in_a_grid(
        town.platform, town.client, town.headers("admin1"), "小区门口垃圾桶满了没人清运"
    )
    with UnitOfWork(town.platform.session_factory) as uow:
        after = services.command_summary(uow, SYSTEM, town.ports)
    assert after["stamp"] > before["stamp"]
    assert after["tiles"]["reported_today"] == before["tiles"]["reported_today"] + 1
    assert grouped == [None]  # grouped once, for the first picture
    services._hot.clear()  # a minute later
    with UnitOfWork(town.platform.session_factory) as uow:
        services._summaries.clear()
        services.command_summary(uow, SYSTEM, town.ports)
    assert grouped == [None, None]


def test_the_month_end_job_freezes_the_month_and_sends_the_reports_once(town: Town) -> None:
    _, month = months_of(town)
    job = services.month_end_job(town.ports)
    with UnitOfWork(town.platform.session_factory) as uow:
        outcome = job.run(uow)
    assert outcome.startswith(f"{month} frozen, ") and outcome.endswith("reports sent")
    assert not outcome.startswith(f"{month} frozen, 0 ")
    with UnitOfWork(town.platform.session_factory) as uow:
        record = services.month_record(uow, SYSTEM, town.ports, month)
        state, revision = record.state.value, record.revision
        sent = len(Outbox(uow.session).listing(record_kind="assess_month"))
        again = job.run(uow)
    assert state == "frozen" and revision == 1
    assert sent >= 1 and again == ""
