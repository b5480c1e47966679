"""Every stateful record keeps its history in the one event log, and the authority list its
versions: replacing or editing the list never re-points an open case at another rule nor
stops its escalation; accounts, units and registry corrections say who changed what."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicgrid.accounts.services import set_password
from civicgrid.areas.domain import Area, Level
from civicgrid.bootstrap import Platform
from civicgrid.cases import services
from civicgrid.cases.repository import CaseRepository, TaxonomyRepository
from civicgrid.cases.services import ActionRequest, NewCase
from civicgrid.cases.taxonomy import DEFAULT_RULES, parse_rules
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.core.rows import read_csv_text
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city
from tests.conftest import SMALL_CITY, City


class Town:
    def __init__(self, platform: Platform, summary: DemoSummary, grid: Area) -> None:
        self.platform = platform
        self.summary = summary
        self.grid = grid

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.platform.session_factory)

    def report(self, category: str = "CR01") -> int:
        point = self.grid.geometry.representative_point()
        new = NewCase(
            description="小区门口垃圾桶满溢",
            channel=services.Channel.HOTLINE,
            category=category,
            lat=point.y,
            lon=point.x,
        )
        dispatcher = Actor("dispatcher", Role.DISPATCHER)
        with self.uow() as uow:
            return services.report_case(uow, dispatcher, new, self.platform.cases).case.id or 0

    def act(self, case_id: int, action: str, **fields: Any) -> None:
        with self.uow() as uow:
            request = ActionRequest(action=action, **fields)
            services.act_on_case(uow, SYSTEM, case_id, request, self.platform.cases)

    def case(self, case_id: int) -> SimpleNamespace:
        """What the tests look at of a case, read while its session is open."""
        with self.uow() as uow:
            case = CaseRepository(uow.session).get(case_id)
            assert case is not None
            return SimpleNamespace(
                rule_id=case.rule_id,
                rule_version=case.rule_version,
                handling_level=case.handling_level,
                suggested_department_code=case.suggested_department_code,
            )

    def replace_rules(self, text: str, reason: str) -> None:
        with self.uow() as uow:
            services.replace_rules(uow, SYSTEM, parse_rules(text), reason)


@pytest.fixture
def town(scratch: Platform) -> Iterator[Town]:
    plan = DemoCityBuilder(seed=11).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
    grid = next(a for a in plan.areas if a.level is Level.GRID)
    yield Town(scratch, summary, grid)


def test_replacing_the_list_leaves_open_cases_with_the_rule_they_were_routed_by(
    town: Town,
) -> None:
    case_id = town.report()
    routed = town.case(case_id)
    first = routed.rule_version  # the demo's list (numbers are not reset between tests)
    assert first is not None and routed.handling_level is Level.STREET
    with town.uow() as uow:
        old_rule = TaxonomyRepository(uow.session).rule(routed.rule_id)
        assert old_rule is not None and old_rule.category_code == "CR"
        assert old_rule.level is Level.STREET
    # The new list drops the street's line for CR and lists other categories first, so
    # reused numbers would point the case at another category's rule.
    lines = read_csv_text(DEFAULT_RULES).splitlines()
    header, body = lines[0], lines[1:]
    shuffled = [line for line in reversed(body) if not line.startswith("CR,street")]
    town.replace_rules("\n".join([header, *shuffled]), "机构改革后调整")
    kept = town.case(case_id)
    assert (kept.rule_id, kept.rule_version) == (routed.rule_id, first)
    with town.uow() as uow:
        taxonomy = TaxonomyRepository(uow.session)
        same = taxonomy.rule(kept.rule_id)
        second = taxonomy.current_version()
        assert second > first
        assert same is not None and same.category_code == "CR" and same.version_to == second
        # The lines the new list repeats are kept as they were; only the dropped one ended.
        assert all(r.version_from <= first for r in taxonomy.rules())
    # A new report follows the new list: with no street line, the district handles it.
    fresh = town.case(town.report())
    assert (fresh.rule_version, fresh.handling_level) == (second, Level.DISTRICT)


def test_an_open_case_still_escalates_by_its_rule_after_the_list_changed(town: Town) -> None:
    case_id = town.report()
    routed = town.case(case_id)
    street_unit = routed.suggested_department_code
    for action in ("accept", "register"):
        town.act(case_id, action)
    town.act(case_id, "dispatch", department=street_unit)
    # Now nothing escalates automatically in the list in force.
    lines = read_csv_text(DEFAULT_RULES).splitlines()
    no_escalation = [lines[0], *(line.replace(",yes", ",no") for line in lines[1:])]
    town.replace_rules("\n".join(no_escalation), "试行不自动上报")
    late = utcnow() + timedelta(days=5)
    town.platform.cases.clock = lambda: late
    with town.uow() as uow:
        done = services.tick(uow, services.SCHEDULER, town.platform.cases)
    assert done.escalated >= 1
    escalated = town.case(case_id)
    assert escalated.handling_level is Level.DISTRICT
    assert escalated.rule_version == routed.rule_version
    with town.uow() as uow:
        rule = TaxonomyRepository(uow.session).rule(escalated.rule_id)
        assert rule is not None and (rule.category_code, rule.level) == ("CR", Level.DISTRICT)
        # A line of the list the case was routed by, which the new list ended.
        assert rule.version_from <= routed.rule_version < (rule.version_to or 0)


def test_an_administrator_adds_changes_and_removes_one_line_with_a_reason(
    city: City, city_client: TestClient, auth: Any
) -> None:
    admin = auth("admin")
    line = {
        "category": "ED01",
        "level": "street",
        "function": "education",
        "limits": {"handle": 96},
        "reason": "新增教育服务条目",
    }
    added = city_client.post("/api/v1/authority-rules", json=line, headers=admin)
    assert added.status_code == 201, added.text
    rule = added.json()
    assert (rule["category"], rule["limits"]["handle"], rule["limits"]["accept"]) == (
        "ED01",
        96,
        2,
    )
    changed = city_client.put(
        f"/api/v1/authority-rules/{rule['id']}",
        json={**line, "limits": {"handle": 48}, "reason": "压缩办理时限"},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["id"] != rule["id"] and changed.json()["limits"]["handle"] == 48
    gone = city_client.put(f"/api/v1/authority-rules/{rule['id']}", json=line, headers=admin)
    assert gone.status_code == 404  # the old line is no longer in force
    removed = city_client.delete(
        f"/api/v1/authority-rules/{changed.json()['id']}?reason=并入社区条目", headers=admin
    )
    assert removed.status_code == 204
    published = city_client.get("/api/v1/authority-rules").json()
    assert all(r["id"] not in (rule["id"], changed.json()["id"]) for r in published)
    versions = city_client.get("/api/v1/authority-rules/versions", headers=admin).json()
    assert [v["change"] for v in versions[:3]] == ["remove", "change", "add"]
    assert versions[1]["reason"] == "压缩办理时限" and versions[1]["created_by"] == "admin"
    assert versions[1]["details"]["old"]["limits"]["handle"] == 96
    assert versions[1]["details"]["new"]["limits"]["handle"] == 48


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limits": {"handle": 0}}, "handle_h"),
        ({"limits": {"handle": 100000}}, "handle_h"),
        ({"limits": {"lunch": 1}}, "lunch"),
        ({"category": "NOPE"}, "category"),
        ({"level": "grid"}, "level"),
        ({"level": "planet"}, "level"),
        ({"function": None}, "function"),
        ({"reason": ""}, "reason"),
    ],
)
def test_a_wrong_line_is_refused_naming_its_field(
    city_client: TestClient, auth: Any, change: dict[str, Any], field: str
) -> None:
    line = {"category": "ED01", "level": "street", "function": "education", "reason": "试"}
    response = city_client.post(
        "/api/v1/authority-rules",
        json={**line, **change},
        headers=auth("admin") | {"Accept-Language": "en"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"].startswith(f"{field}: ")


def test_only_administrators_change_the_list(city_client: TestClient, auth: Any) -> None:
    line = {"category": "ED01", "level": "street", "function": "education", "reason": "试"}
    refused = city_client.post("/api/v1/authority-rules", json=line, headers=auth("dispatcher"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden_role")
    assert city_client.post("/api/v1/authority-rules", json=line).status_code == 401


def test_the_administrators_page_edits_the_list(city: City, browser: TestClient, auth: Any) -> None:
    admin = auth("admin")
    page = browser.get("/admin/rules", headers=admin)
    assert page.status_code == 200 and "事权清单" in page.text and "历次版本" in page.text
    form = {"category": "ED01", "level": "community", "function": "education", "reason": ""}
    refused = browser.post("/admin/rules", data=form, headers=admin)
    assert refused.status_code == 422 and "请填写修改事权清单的理由" in refused.text
    added = browser.post(
        "/admin/rules",
        data={**form, "reason": "社区教育服务", "handle_h": "60", "auto_escalate": "on"},
        headers=admin,
        follow_redirects=False,
    )
    assert added.status_code == 303 and "done=added" in added.headers["location"]
    shown = browser.get(added.headers["location"], headers=admin)
    assert "已新增第" in shown.text and "社区教育服务" in shown.text
    assert browser.get("/admin/rules", headers=auth("dispatcher")).status_code == 403


def test_accounts_keep_their_history_without_secrets(
    city: City, city_client: TestClient, auth: Any
) -> None:
    admin = auth("admin")
    created = city_client.post(
        "/api/v1/users",
        json={
            "username": "hist.worker",
            "role": "dispatcher",
            "password": "a-long-password",
            "phone": "13800009999",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    with UnitOfWork(city.platform.session_factory) as uow:
        set_password(uow, SYSTEM, "hist.worker", "another-password")
    history = city_client.get("/api/v1/users/hist.worker/history", headers=admin).json()
    assert [h["action"] for h in history] == ["create", "password"]
    made = history[0]["data"]["changes"]
    assert made["role"] == [None, "dispatcher"] and made["phone"] == [None, "138****9999"]
    assert "a-long-password" not in str(history) and "another-password" not in str(history)
    assert history[1]["data"]["changes"] == {}
    refused = city_client.get("/api/v1/users/hist.worker/history", headers=auth("cadre"))
    assert refused.status_code == 403
