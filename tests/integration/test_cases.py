"""Cases through the API, on SQLite and PostgreSQL: intake, the lifecycle, whistle,
duplicates, escalation, the scheduler, scoping and every kind of bad input."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicgrid.cases.attachments import Upload
from civicgrid.cases.domain import Channel
from civicgrid.cases.services import SCHEDULER, NewCase, prepare_report, store_reports, tick
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.cases import demo_photo
from tests.conftest import City, actor_named

PHOTO = base64.b64encode(demo_photo()).decode()


def grid_of(city: City, username: str) -> Any:
    worker = next(w for w in city.plan.workers if w.username == username)
    return city.area(worker.grid_code)


def first_grid(city: City) -> Any:
    return grid_of(city, city.plan.workers[0].username)


def report(client: TestClient, headers: dict[str, str], where: Any, **body: Any) -> dict[str, Any]:
    point = where.geometry.representative_point()
    payload = {
        "description": "小区门口垃圾桶满溢，好几天没人清理了",
        "category": "CR01",
        "lat": point.y,
        "lon": point.x,
        "channel": "resident_web",
        **body,
    }
    response = client.post("/api/v1/cases", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def act(
    client: TestClient,
    headers: dict[str, str],
    case_id: int,
    action: str,
    expect: int = 200,
    **body: Any,
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": action, **body}, headers=headers
    )
    assert response.status_code == expect, response.text
    return response.json()


@pytest.fixture
def street_unit(city: City) -> str:
    """The urban-management unit of the first street: the authority list sends rubbish there."""
    return f"{first_grid(city).code[:9]}-ZFD"


def test_a_resident_report_is_placed_categorised_routed_and_answered(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    grid = first_grid(city)
    case = report(
        city_client, auth("resident"), grid, reporter={"name": "王芳", "phone": "13800001111"}
    )
    assert case["status"] == "reported"
    assert case["grid_code"] == grid.code
    assert (case["handling_level"], case["suggested_department"]) == ("street", street_unit)
    assert case["deadline"] is not None and case["light"] == "green"
    detail = city_client.get(f"/api/v1/cases/{case['id']}", headers=auth("resident")).json()
    assert detail["timeline"][0]["action"] == "report"
    assert f"案件编号 {case['id']}" in detail["messages"][0]["body"]


def test_the_whole_lifecycle_through_the_api(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    resident, dispatcher = auth("resident"), auth("dispatcher")
    worker = city.plan.workers[0].username
    handler = auth.unit(street_unit)
    case_id = report(city_client, resident, first_grid(city), reporter={"phone": "13800002222"})[
        "id"
    ]
    act(city_client, dispatcher, case_id, "accept")
    act(city_client, dispatcher, case_id, "register")
    dispatched = act(city_client, dispatcher, case_id, "dispatch")
    assert dispatched["department"] == street_unit
    assert (
        "start"
        in city_client.get(f"/api/v1/cases/{case_id}", headers=handler).json()["allowed_actions"]
    )
    act(city_client, handler, case_id, "start")
    act(
        city_client,
        handler,
        case_id,
        "resolve",
        note="已清运完毕",
        attachments=[{"filename": "after.png", "data": PHOTO}],
    )
    act(city_client, auth(worker), case_id, "verify")
    act(city_client, dispatcher, case_id, "close")
    rated = act(city_client, resident, case_id, "rate", satisfaction=5, note="很快")
    assert (rated["status"], rated["satisfaction"]) == ("closed", 5)
    actions = [row["action"] for row in rated["timeline"]]
    assert actions == [
        "report",
        "accept",
        "register",
        "dispatch",
        "start",
        "resolve",
        "verify",
        "close",
        "rate",
    ]
    photo_id = rated["timeline"][5]["attachments"][0]
    photo = city_client.get(f"/api/v1/attachments/{photo_id}", headers=resident)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"
    bodies = [m["body"] for m in rated["messages"]]
    assert any("已交由" in b for b in bodies) and any("已办结：已清运完毕" in b for b in bodies)


def test_a_wrong_action_names_the_state_and_what_is_allowed(
    city: City, city_client: TestClient, auth: Any
) -> None:
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    response = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "close"},
        headers=auth("dispatcher") | {"Accept-Language": "en"},
    )
    assert response.status_code == 409
    error = response.json()["error"]
    # The message speaks the reader's words; the codes are beside it for programs.
    assert "“Reported”" in error["message"] and "“Close”" in error["message"]
    assert "Accept, Reject" in error["message"] and "reported" not in error["message"]
    assert error["state"] == "reported" and error["allowed"][:2] == ["accept", "reject"]
    unknown = city_client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": "fly"}, headers=auth("dispatcher")
    )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "case_unknown_action")


def test_a_whistle_summons_several_units_who_report_in(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher = auth("dispatcher")
    police = street_unit.replace("ZFD", "PCS")
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    act(city_client, dispatcher, case_id, "accept")
    act(city_client, dispatcher, case_id, "register")
    whistled = act(
        city_client,
        dispatcher,
        case_id,
        "whistle",
        departments=[street_unit, police],
        lead=street_unit,
        reason="占道经营引发纠纷，需城管与派出所联合处置",
        meeting_at="2030-03-02T10:15:00+08:00",
    )
    assert {(h["department"], h["lead"]) for h in whistled["handlers"]} == {
        (street_unit, True),
        (police, False),
    }
    timeline = city_client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).json()["timeline"]
    whistle = next(e for e in timeline if e["action"] == "whistle")
    assert whistle["note"] == "占道经营引发纠纷，需城管与派出所联合处置"
    assert whistle["data"]["meeting_at"] == "2030-03-02T10:15:00+08:00"
    checked = act(city_client, auth.unit(police), case_id, "check_in", note="民警已到场")
    assert next(h for h in checked["handlers"] if h["department"] == police)["checked_in_at"]
    act(city_client, auth.unit(street_unit), case_id, "start")
    act(city_client, auth.unit(police), case_id, "resolve", expect=403, note="x")
    assert (
        act(city_client, auth.unit(street_unit), case_id, "resolve", note="联合处置完毕")["status"]
        == "resolved"
    )


def test_a_unit_returns_a_case_with_a_reason(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher, handler = auth("dispatcher"), auth.unit(street_unit)
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    for action in ("accept", "register", "dispatch"):
        act(city_client, dispatcher, case_id, action)
    missing = city_client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": "return"}, headers=handler
    )
    assert missing.status_code == 422 and "请填写退回的理由" in missing.json()["error"]["message"]
    returned = act(city_client, handler, case_id, "return", reason="属于物业管理范围")
    assert (returned["status"], returned["department"]) == ("registered", None)


def test_extension_suspension_and_rework(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher, handler = auth("dispatcher"), auth.unit(street_unit)
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    for action in ("accept", "register", "dispatch"):
        act(city_client, dispatcher, case_id, action)
    started = act(city_client, handler, case_id, "start")
    act(city_client, handler, case_id, "request_extension", reason="需要采购配件", hours=24)
    extended = act(city_client, dispatcher, case_id, "approve_extension")
    assert extended["deadline"] > started["deadline"]
    assert (
        act(city_client, dispatcher, case_id, "suspend", reason="纳入改造计划")["light"] == "none"
    )
    act(city_client, dispatcher, case_id, "resume")
    act(city_client, handler, case_id, "resolve", note="已处理")
    reworked = act(
        city_client, auth("dispatcher"), case_id, "verify", passed=False, reason="现场仍有垃圾"
    )
    assert (reworked["status"], reworked["rework_count"]) == ("in_progress", 1)


def test_residents_reopen_their_closed_case(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher, handler, resident = auth("dispatcher"), auth.unit(street_unit), auth("resident")
    case_id = report(city_client, resident, first_grid(city))["id"]
    for action in ("accept", "register", "dispatch"):
        act(city_client, dispatcher, case_id, action)
    act(city_client, handler, case_id, "start")
    act(city_client, handler, case_id, "resolve", note="已清理")
    act(city_client, dispatcher, case_id, "verify")
    act(city_client, dispatcher, case_id, "close")
    reopened = act(city_client, resident, case_id, "reopen", reason="第二天又堆满了")
    assert reopened["status"] == "registered"


def test_a_grid_worker_resolves_her_own_report_on_the_spot(
    city: City, city_client: TestClient, auth: Any
) -> None:
    worker = city.plan.workers[0].username
    case = report(
        city_client, auth(worker), first_grid(city), channel="grid_worker", category="SO04"
    )
    missing = city_client.post(
        f"/api/v1/cases/{case['id']}/actions",
        json={"action": "resolve_on_spot", "note": "已清除"},
        headers=auth(worker),
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["message"] == "请为就地解决上传现场照片"
    done = act(
        city_client,
        auth(worker),
        case["id"],
        "resolve_on_spot",
        note="小广告已清除",
        attachments=[{"filename": "done.png", "data": PHOTO}],
    )
    assert (done["status"], done["resolved_on_spot"]) == ("closed", True)


def test_duplicates_are_suggested_and_merged_reporters_hear_the_answer(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    grid = city.area(city.plan.workers[1].grid_code)
    first = report(
        city_client,
        auth("dispatcher"),
        grid,
        channel="hotline",
        category="FA03",
        reporter={"phone": "13900000001"},
    )
    second = report(
        city_client,
        auth("dispatcher"),
        grid,
        channel="hotline",
        category="FA03",
        reporter={"phone": "13900000002"},
    )
    assert first["id"] in second["possible_duplicates"]
    other_kind = report(city_client, auth("dispatcher"), grid, channel="hotline", category="CR01")
    assert first["id"] not in other_kind["possible_duplicates"]
    suggested = city_client.get(
        f"/api/v1/cases/{second['id']}/duplicates", headers=auth("dispatcher")
    ).json()
    assert first["id"] in [c["id"] for c in suggested]
    merged = act(city_client, auth("dispatcher"), second["id"], "merge", into=first["id"])
    assert (merged["status"], merged["merged_into"]) == ("merged", first["id"])
    survivor = city_client.get(f"/api/v1/cases/{first['id']}", headers=auth("dispatcher")).json()
    assert {r["phone"] for r in survivor["reporters"]} == {"13900000001", "13900000002"}
    assert survivor["timeline"][-1]["action"] == "absorb"
    act(city_client, auth("dispatcher"), first["id"], "reject", reason="路灯属电力公司产权，已转告")
    answers = city_client.get(f"/api/v1/cases/{first['id']}/track?phone=13900000002").json()[
        "messages"
    ]
    assert any("不予受理" in m["body"] for m in answers)


def test_reports_stored_in_one_batch_know_each_other_as_duplicates(city: City) -> None:
    """The intake writer stores reports that arrive together in one batch; the later ones
    still learn of the earlier ones."""
    point = city.area(city.plan.workers[2].grid_code).geometry.representative_point()
    ports = city.platform.cases
    with UnitOfWork(city.platform.session_factory) as uow:
        dispatcher = actor_named(uow, "dispatcher")
        batch = [
            prepare_report(
                uow,
                dispatcher,
                NewCase(
                    description="路面塌陷，车辆无法通行",
                    channel=Channel.HOTLINE,
                    category=category,
                    lat=point.y,
                    lon=point.x,
                ),
                ports,
            )
            for category in ("FA02", "FA02", "CR01")
        ]
        store_reports(uow, batch, ports)
    first, second, other_kind = batch
    assert first.case.id in second.possible_duplicates
    assert second.case.id not in first.possible_duplicates
    assert first.case.id not in other_kind.possible_duplicates


def test_escalation_goes_one_level_up(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    escalated = act(city_client, auth("dispatcher"), case_id, "escalate", reason="需区城管局协调")
    district = first_grid(city).code[:6]
    assert (escalated["handling_level"], escalated["suggested_department"]) == (
        "district",
        f"{district}-CGJ",
    )
    assert escalated["escalation_count"] == 1


@pytest.fixture
def later(city: City) -> Iterator[Any]:
    """Move the platform's clock forward: later(hours=…)."""
    original = city.platform.cases.clock

    def move(**delta: float) -> None:
        city.platform.cases.clock = lambda: utcnow() + timedelta(**delta)

    yield move
    city.platform.cases.clock = original


def test_the_scheduler_marks_overdue_cases_and_escalates_stalled_ones(
    city: City, city_client: TestClient, auth: Any, street_unit: str, later: Any
) -> None:
    dispatcher = auth("dispatcher")
    waiting = report(city_client, auth("resident"), first_grid(city))["id"]
    stalled = report(city_client, auth("resident"), first_grid(city))["id"]
    for action in ("accept", "register", "dispatch"):
        act(city_client, dispatcher, stalled, action)
    later(hours=30)  # past both the 2-hour accept and the 24-hour start limits
    with UnitOfWork(city.platform.session_factory) as uow:
        report_ = tick(uow, SCHEDULER, city.platform.cases)
    assert report_.marked_overdue >= 2 and report_.escalated >= 1
    overdue = city_client.get("/api/v1/cases?overdue=true&page_size=500", headers=dispatcher).json()
    assert waiting in [c["id"] for c in overdue["items"]]
    lifted = city_client.get(f"/api/v1/cases/{stalled}", headers=dispatcher).json()
    assert (lifted["status"], lifted["handling_level"]) == ("registered", "district")
    assert [e["action"] for e in lifted["timeline"]][-2:] == ["overdue", "escalate"]
    still = city_client.get(f"/api/v1/cases/{waiting}", headers=dispatcher).json()
    assert still["status"] == "reported" and still["light"] == "red"


def test_intake_refuses_bad_input_naming_the_field(
    city: City, city_client: TestClient, auth: Any
) -> None:
    resident = auth("resident")
    point = first_grid(city).geometry.representative_point()
    base = {"description": "路灯不亮", "lat": point.y, "lon": point.x, "channel": "resident_web"}
    cases = [
        ({"category": "NOPE"}, 422, "unknown_category"),
        ({"lat": 10.0, "lon": 10.0}, 422, "outside_city"),
        ({"lat": None, "lon": None}, 422, "case_needs_place"),
        ({"description": "很" * 4001}, 422, "case_description_too_long"),
        (
            {"attachments": [{"filename": "a.txt", "data": base64.b64encode(b"hello").decode()}]},
            422,
            "attachment_not_image",
        ),
        ({"attachments": [{"filename": "a.png", "data": "%%%"}]}, 422, "attachment_bad_data"),
        ({"channel": "hotline"}, 403, "channel_not_allowed"),
        ({"channel": "carrier_pigeon"}, 422, "validation_error"),
    ]
    for change, status, code in cases:
        response = city_client.post("/api/v1/cases", json={**base, **change}, headers=resident)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), change
    anonymous = city_client.post("/api/v1/cases", json=base)
    assert anonymous.status_code == 401


def test_an_oversized_photo_is_refused(city: City, city_client: TestClient, auth: Any) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(11 * 1024 * 1024)
    response = city_client.post(
        "/api/v1/cases",
        json={
            "description": "井盖缺失",
            "address": first_grid(city).name,
            "channel": "resident_web",
            "attachments": [{"filename": "big.png", "data": base64.b64encode(big).decode()}],
        },
        headers=auth("resident") | {"Accept-Language": "en"},
    )
    assert response.status_code == 422
    assert "over the limit of 10.0 MB" in response.json()["error"]["message"]


def test_an_address_alone_is_placed_by_the_area_it_names(
    city: City, city_client: TestClient, auth: Any
) -> None:
    grid = first_grid(city)
    response = city_client.post(
        "/api/v1/cases",
        json={
            "description": "楼道灯坏了",
            "address": f"{grid.name}3号楼",
            "channel": "hotline",
            "reporter": {"phone": "13900001111"},
        },
        headers=auth("dispatcher"),
    )
    assert response.status_code == 201, response.text
    assert response.json()["grid_code"] == grid.code
    unknown = city_client.post(
        "/api/v1/cases",
        json={"description": "x", "address": "火星基地", "channel": "hotline"},
        headers=auth("dispatcher"),
    )
    assert unknown.json()["error"]["code"] == "case_address_unknown"


def test_a_missing_category_is_suggested_from_the_words(
    city: City, city_client: TestClient, auth: Any
) -> None:
    case = report(
        city_client,
        auth("resident"),
        first_grid(city),
        category=None,
        description="楼下路灯不亮好几天了",
    )
    assert case["category"] == "FA03"
    assert case["suggested_categories"][0]["category"] == "FA03"


def test_each_persona_sees_only_the_cases_of_their_area_department_or_own(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    mine = report(city_client, auth("resident"), first_grid(city))["id"]
    far_grid = city.area(city.plan.workers[-1].grid_code)
    far = report(city_client, auth("dispatcher"), far_grid, channel="hotline")["id"]

    def ids(persona: dict[str, str], query: str = "") -> set[int]:
        body = city_client.get(f"/api/v1/cases?page_size=500{query}", headers=persona).json()
        return {c["id"] for c in body["items"]}

    assert {mine, far} <= ids(auth("dispatcher"))
    cadre_street = next(c.scope for c in city.summary.credentials if c.username == "cadre")
    cadre_cases = city_client.get("/api/v1/cases?page_size=500", headers=auth("cadre")).json()[
        "items"
    ]
    assert all(c["grid_code"].startswith(cadre_street) for c in cadre_cases)
    assert mine in {c["id"] for c in cadre_cases} and far not in {c["id"] for c in cadre_cases}
    assert mine in ids(auth("resident")) and far not in ids(auth("resident"))
    worker = city.plan.workers[0]
    assert all(
        c["grid_code"] == worker.grid_code
        for c in city_client.get(
            "/api/v1/cases?page_size=500", headers=auth(worker.username)
        ).json()["items"]
    )
    hidden = city_client.get(f"/api/v1/cases/{far}", headers=auth("cadre"))
    assert (hidden.status_code, hidden.json()["error"]["code"]) == (403, "case_hidden")
    outsider = city_client.post(
        f"/api/v1/cases/{far}/actions", json={"action": "accept"}, headers=auth("cadre")
    )
    assert outsider.status_code == 403
    act(city_client, auth("dispatcher"), mine, "accept")
    act(city_client, auth("dispatcher"), mine, "register")
    act(city_client, auth("dispatcher"), mine, "dispatch")
    assert ids(auth.unit(street_unit)) >= {mine}
    assert far not in ids(auth.unit(street_unit))


def test_the_list_filters(city: City, city_client: TestClient, auth: Any) -> None:
    dispatcher = auth("dispatcher")
    case = report(city_client, auth("resident"), first_grid(city), description="独特的描述词语樱桃")
    by_text = city_client.get("/api/v1/cases?q=樱桃", headers=dispatcher).json()
    assert [c["id"] for c in by_text["items"]] == [case["id"]]
    by_group = city_client.get(
        "/api/v1/cases?category=CR&status=reported&page_size=500", headers=dispatcher
    ).json()
    assert case["id"] in {c["id"] for c in by_group["items"]}
    assert all(
        c["category"].startswith("CR") and c["status"] == "reported" for c in by_group["items"]
    )
    paged = city_client.get("/api/v1/cases?page=2&page_size=3", headers=dispatcher).json()
    assert paged["page"] == 2 and len(paged["items"]) <= 3
    bad = city_client.get("/api/v1/cases?status=flying", headers=dispatcher)
    assert bad.json()["error"]["code"] == "unknown_status"


def test_unknown_departments_are_named(city: City, city_client: TestClient, auth: Any) -> None:
    dispatcher = auth("dispatcher")
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    act(city_client, dispatcher, case_id, "accept")
    act(city_client, dispatcher, case_id, "register")
    response = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "whistle", "departments": ["990100-CGJ", "NOPE"]},
        headers=dispatcher,
    )
    assert (response.status_code, response.json()["error"]["code"]) == (422, "unknown_department")
    assert "departments" in response.json()["error"]["message"]


def test_tracking_needs_the_reporters_phone(city: City, city_client: TestClient, auth: Any) -> None:
    case = report(
        city_client,
        auth("dispatcher"),
        first_grid(city),
        channel="hotline",
        reporter={"phone": "138-0000-7777"},
    )
    assert city_client.get(f"/api/v1/cases/{case['id']}/track?phone=13800007777").status_code == 200
    assert city_client.get(f"/api/v1/cases/{case['id']}/track?phone=13800008888").status_code == 404


def test_the_authority_list_is_published_and_replaced_by_admins(
    city: City, city_client: TestClient, auth: Any
) -> None:
    published = city_client.get("/api/v1/authority-rules").json()
    assert {
        "category": "CR",
        "level": "street",
        "function": "urban_management",
    }.items() <= published[0].items() or published
    bad = city_client.put(
        "/api/v1/authority-rules",
        json=[*published, {"category": "ZZ99", "level": "street", "function": "housing"}],
        headers=auth("admin") | {"Accept-Language": "en"},
    )
    assert bad.status_code == 422
    assert f"row {len(published) + 1}, 'category'" in bad.json()["error"]["message"]
    again = city_client.put("/api/v1/authority-rules", json=published, headers=auth("admin"))
    assert again.status_code == 200 and len(again.json()["rules"]) == len(published)
    # The same list again changes nothing: no new version, every line keeps its number.
    assert (again.json()["version"], again.json()["kept"]) == (None, len(published))
    assert [r["id"] for r in again.json()["rules"]] == [r["id"] for r in published]
    refused = city_client.put("/api/v1/authority-rules", json=published, headers=auth("dispatcher"))
    assert refused.status_code == 403
    assert len(city_client.get("/api/v1/categories").json()) > 50


def test_the_timeline_is_never_rewritten(city: City, city_client: TestClient, auth: Any) -> None:
    dispatcher = auth("dispatcher")
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    first = city_client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).json()["timeline"]
    act(city_client, dispatcher, case_id, "accept")
    act(city_client, dispatcher, case_id, "amend", category="CR02", priority="urgent")
    after = city_client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).json()
    assert after["timeline"][: len(first)] == first
    assert after["timeline"][-1]["data"]["overrides"]["category"] == ["CR01", "CR02"]
    assert after["priority"] == "urgent"


def test_uploads_are_checked_in_the_service_too(city: City) -> None:
    from civicgrid.cases.attachments import check_upload
    from civicgrid.core.errors import InvalidInput

    with pytest.raises(InvalidInput):
        check_upload(Upload("x.gif", b"GIF89a" + bytes(2 * 1024 * 1024)), 1, SYSTEM.name, utcnow())


def test_a_grid_worker_keeps_sight_of_her_report_that_landed_next_door(
    city: City, city_client: TestClient, auth: Any
) -> None:
    worker = city.plan.workers[0]
    neighbour = city.area(city.plan.workers[1].grid_code)
    case = report(city_client, auth(worker.username), neighbour, channel="grid_worker")
    assert case["grid_code"] != worker.grid_code
    seen = city_client.get(f"/api/v1/cases/{case['id']}", headers=auth(worker.username))
    assert seen.status_code == 200
    listed = city_client.get("/api/v1/cases?page_size=500", headers=auth(worker.username)).json()
    assert case["id"] in {c["id"] for c in listed["items"]}


def test_guessing_phones_on_the_tracking_page_is_stopped(city: City, browser: TestClient) -> None:
    statuses = [
        browser.get(f"/api/v1/cases/1/track?phone=1380000{n:04d}").status_code for n in range(12)
    ]
    assert statuses[:10] == [404] * 10
    assert statuses[10:] == [429, 429]
    page = browser.post("/track", data={"number": "1", "phone": "13800000000"})
    assert page.status_code == 429 and "尝试次数过多" in page.text


def test_an_acknowledged_case_is_already_stored(
    city: City, city_client: TestClient, auth: Any
) -> None:
    """The 201 goes out only after the commit: a server that died right after answering
    would find the case when it starts again (here: a second engine on the same database)."""
    from civicgrid.bootstrap import build_platform
    from civicgrid.cases.repository import CaseRepository

    case = report(city_client, auth("resident"), first_grid(city))
    restarted = build_platform(city.platform.settings)
    try:
        with UnitOfWork(restarted.session_factory) as uow:
            stored = CaseRepository(uow.session).get(case["id"])
            assert stored is not None and stored.description == case["description"]
            assert [e.action for e in CaseRepository(uow.session).timeline(case["id"])] == [
                "report"
            ]
    finally:
        restarted.engine.dispose()


# ------------------------------------------------------------------ administrators' mistakes


def test_an_extension_is_bounded_by_the_cases_handling_time(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher, handler = auth("dispatcher"), auth.unit(street_unit)
    case_id = report(city_client, auth("resident"), first_grid(city))["id"]
    for action in ("accept", "register", "dispatch"):
        act(city_client, dispatcher, case_id, action)
    act(city_client, handler, case_id, "start")
    refused = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "request_extension", "reason": "等配件", "hours": 100000},
        headers=handler | {"Accept-Language": "en"},
    )
    assert refused.status_code == 422
    assert "at most 72 hours" in refused.json()["error"]["message"]  # CR's street handle_h
    endless = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        content='{"action": "request_extension", "reason": "等配件", "hours": NaN}',
        headers=handler | {"Content-Type": "application/json"},
    )
    assert endless.status_code == 422
    act(city_client, handler, case_id, "request_extension", reason="等配件", hours=72)


def test_work_goes_outside_the_cases_area_only_with_a_reason(
    city: City, city_client: TestClient, auth: Any, street_unit: str
) -> None:
    dispatcher = auth("dispatcher")
    grid = first_grid(city)
    far_unit = next(
        d.code
        for d in city.plan.departments
        if d.code.endswith("-ZFD") and not grid.path.count(f"/{d.area_code}/")
    )
    case_id = report(city_client, auth("resident"), grid)["id"]
    for action in ("accept", "register"):
        act(city_client, dispatcher, case_id, action)
    refused = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "dispatch", "department": far_unit},
        headers=dispatcher,
    )
    assert refused.status_code == 422 and far_unit in refused.json()["error"]["message"]
    sent = act(
        city_client, dispatcher, case_id, "dispatch", department=far_unit, reason="对方单位产权"
    )
    assert sent["status"] == "dispatched"
    row = city_client.get(f"/api/v1/cases/{case_id}", headers=dispatcher).json()["timeline"][-1]
    assert (row["note"], row["data"]["outside_area"]) == ("对方单位产权", [far_unit])
    # A unit of the case's own street needs no reason.
    near = report(city_client, auth("resident"), grid)["id"]
    for action in ("accept", "register"):
        act(city_client, dispatcher, near, action)
    act(city_client, dispatcher, near, "dispatch", department=street_unit)


def test_merging_cases_that_are_no_duplicates_needs_a_reason(
    city: City, city_client: TestClient, auth: Any
) -> None:
    dispatcher = auth("dispatcher")
    grids = [city.area(w.grid_code) for w in city.plan.workers]
    here = report(city_client, dispatcher, grids[2], channel="hotline", category="FA03")
    elsewhere = report(city_client, dispatcher, grids[-1], channel="hotline", category="CR01")
    refused = city_client.post(
        f"/api/v1/cases/{elsewhere['id']}/actions",
        json={"action": "merge", "into": here["id"]},
        headers=dispatcher | {"Accept-Language": "en"},
    )
    assert refused.status_code == 422 and "reason" in refused.json()["error"]["message"]
    merged = act(
        city_client,
        dispatcher,
        elsewhere["id"],
        "merge",
        into=here["id"],
        reason="同一来电人重复反映",
    )
    assert merged["status"] == "merged"
    row = city_client.get(f"/api/v1/cases/{elsewhere['id']}", headers=dispatcher).json()
    unlike = row["timeline"][-1]["data"]["unlike"]
    assert unlike["category"] == ["CR01", "FA03"] and unlike["metres"] > 50


def test_an_authority_list_that_leaves_categories_unrouted_needs_saying_so(
    city: City, city_client: TestClient, auth: Any
) -> None:
    admin = auth("admin") | {"Accept-Language": "en"}
    published = city_client.get("/api/v1/authority-rules").json()
    without_rubbish = [r for r in published if r["category"] != "CR"]
    refused = city_client.put("/api/v1/authority-rules", json=without_rubbish, headers=admin)
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "CR01" in message and "allow" in message
    negative = [{**published[0], "limits": {**published[0]["limits"], "handle": -5}}]
    bad = city_client.put("/api/v1/authority-rules", json=negative + published[1:], headers=admin)
    assert bad.status_code == 422 and "handle_h" in bad.json()["error"]["message"]
    unchanged = city_client.get("/api/v1/authority-rules").json()
    assert [r["id"] for r in unchanged] == [r["id"] for r in published]
