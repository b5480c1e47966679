"""The case pages with the login cookie, on SQLite and PostgreSQL: the dispatch centre and its
one-click actions, the case detail and its action forms, a unit's inbox, the grid worker's
phone page, and the residents' report and tracking pages."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.demo.cases import demo_photo
from tests.conftest import City

PHOTO = ("scene.png", demo_photo(), "image/png")
HTMX = {"HX-Request": "true"}
HTML = {"Accept": "text/html"}

Persona = Callable[[str], TestClient]


@pytest.fixture
def as_(city: City) -> Iterator[Persona]:
    """as_("dispatcher") → a client logged in through the login page (a cookie), as a
    browser is."""
    with ExitStack() as stack:

        def log_in(username: str) -> TestClient:
            client = stack.enter_context(TestClient(create_app(city.platform)))
            response = client.post(
                "/login",
                data={"username": username, "password": city.password(username)},
                follow_redirects=False,
            )
            assert response.status_code == 303, response.text
            return client

        yield log_in


def first_grid(city: City) -> Any:
    return city.area(city.plan.workers[0].grid_code)


def point_in(area: Any) -> tuple[float, float]:
    point = area.geometry.representative_point()
    return point.y, point.x


@pytest.fixture
def worker(city: City) -> str:
    """The grid worker of the first grid (the only worker whose password the demo prints)."""
    return city.plan.workers[0].username


@pytest.fixture
def street_unit(city: City) -> str:
    """The urban-management unit of the first street: the authority list sends rubbish there."""
    return f"{first_grid(city).code[:9]}-ZFD"


def new_case(
    city: City, city_client: TestClient, auth: Any, persona: str = "resident", **body: Any
) -> dict[str, Any]:
    lat, lon = point_in(first_grid(city))
    payload = {
        "description": "小区门口垃圾桶满溢，好几天没人清理了",
        "category": "CR01",
        "lat": lat,
        "lon": lon,
        "channel": "resident_web",
        **body,
    }
    response = city_client.post("/api/v1/cases", json=payload, headers=auth(persona))
    assert response.status_code == 201, response.text
    return dict(response.json())


def api_case(city_client: TestClient, auth: Any, case_id: int) -> dict[str, Any]:
    return dict(city_client.get(f"/api/v1/cases/{case_id}", headers=auth("admin")).json())


def act(client: TestClient, case_id: int, action: str, **fields: Any) -> Any:
    return client.post(
        f"/cases/{case_id}/act", data={"action": action, **fields}, follow_redirects=False
    )


def forms_on(page: str) -> set[str]:
    return set(re.findall(r'<form [^>]*data-action="(\w+)"', page))


def row_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="case-(\d+)"', page)]


# ------------------------------------------------------------------ the dispatch centre


def test_the_dispatch_centre_lists_open_cases_soonest_deadline_first(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    page = as_("dispatcher").get("/dispatch")
    assert page.status_code == 200
    assert "调度中心" in page.text and 'id="case-map"' in page.text
    assert "/api/v1/areas/geojson?levels=district,street" in page.text
    expected = city_client.get(
        "/api/v1/cases?status=open&page_size=50", headers=auth("dispatcher")
    ).json()
    assert row_ids(page.text) == [c["id"] for c in expected["items"]]
    first = expected["items"][0]
    assert f'data-light="{first["light"]}"' in page.text
    assert f"共 {expected['total']} 件" in page.text


def test_the_queue_filters_reload_the_list_and_keep_the_address(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case = new_case(city, city_client, auth, description="路边独特的描述词语枇杷树下有垃圾")
    dispatcher = as_("dispatcher")
    found = dispatcher.get("/dispatch/queue", params={"q": "枇杷树", "status": "reported"})
    assert found.status_code == 200
    assert row_ids(found.text) == [case["id"]]
    assert found.headers["HX-Replace-Url"] == "/dispatch?" + urlencode(
        {"status": "reported", "q": "枇杷树"}
    )
    assert "<html" not in found.text  # the partial alone
    by_group = dispatcher.get(
        "/dispatch/queue", params={"category": "CR", "grid": case["grid_code"]}
    )
    assert case["id"] in row_ids(by_group.text)
    other_group = dispatcher.get(
        "/dispatch/queue", params={"category": "FA", "grid": case["grid_code"], "q": "枇杷树"}
    )
    assert row_ids(other_group.text) == []
    assert "没有符合条件的在办案件" in other_group.text
    wrong = dispatcher.get("/dispatch/queue", params={"status": "flying"})
    assert "没有“flying”这个状态" in wrong.text


def test_one_click_accept_register_and_dispatch_rerender_the_row(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    queue = dispatcher.get("/dispatch", params={"q": "垃圾桶满溢", "status": "reported"}).text
    assert f'hx-post="/dispatch/cases/{case_id}/act"' in queue

    accepted = dispatcher.post(
        f"/dispatch/cases/{case_id}/act", data={"action": "accept"}, headers=HTMX
    )
    assert accepted.status_code == 200
    assert accepted.text.strip().startswith(f'<tr id="case-{case_id}"')
    assert "status-accepted" in accepted.text and "“受理”已完成" in accepted.text
    assert 'value="register"' in accepted.text

    dispatcher.post(f"/dispatch/cases/{case_id}/act", data={"action": "register"}, headers=HTMX)
    row = dispatcher.get("/dispatch/queue", params={"status": "registered"}).text
    assert "派遣至" in row and f'value="{street_unit}"' in row
    dispatched = dispatcher.post(
        f"/dispatch/cases/{case_id}/act",
        data={"action": "dispatch", "department": street_unit},
        headers=HTMX,
    )
    assert "status-dispatched" in dispatched.text
    assert 'class="quick"' in dispatched.text and "quick-" not in dispatched.text
    assert api_case(city_client, auth, case_id)["department"] == street_unit


def test_a_one_click_action_that_cannot_be_done_says_why_in_the_row(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    dispatcher.post(f"/dispatch/cases/{case_id}/act", data={"action": "accept"}, headers=HTMX)
    again = dispatcher.post(
        f"/dispatch/cases/{case_id}/act", data={"action": "accept"}, headers=HTMX
    )
    assert again.status_code == 200  # HTMX swaps only successful answers
    assert "当前为“已受理”，不能受理" in again.text
    assert 'role="alert"' in again.text
    odd = dispatcher.post(f"/dispatch/cases/{case_id}/act", data={"action": "void"}, headers=HTMX)
    assert "没有“void”这个选项" in odd.text


def test_without_javascript_a_queue_button_posts_the_form_and_comes_back(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    response = act(as_("dispatcher"), case_id, "accept", next="/dispatch")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/dispatch?done=accept&")  # and says so
    assert api_case(city_client, auth, case_id)["status"] == "accepted"


def test_the_leader_watches_the_queue_but_has_no_buttons(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    leader = as_("leader")
    page = leader.get("/dispatch", params={"status": "reported"})
    assert page.status_code == 200
    assert "只读视图" in page.text and "quick-accept" not in page.text
    assert case_id in row_ids(page.text)
    refused = leader.post(f"/dispatch/cases/{case_id}/act", data={"action": "accept"})
    assert refused.status_code == 403


def test_a_cadre_sees_only_her_streets_cases(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    street = next(c.scope for c in city.summary.credentials if c.username == "cadre")
    page = as_("cadre").get("/dispatch").text
    grids = re.findall(r'data-label="网格">([^<]+)<', page)
    names = {a.name for a in city.plan.areas if a.code.startswith(street)}
    assert grids and set(grids) <= names


# ------------------------------------------------------------------ the case detail


def test_the_detail_shows_fields_timeline_messages_and_exactly_the_allowed_forms(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case = new_case(
        city,
        city_client,
        auth,
        persona="dispatcher",
        channel="hotline",
        reporter={"name": "王芳", "phone": "13800001234"},
        attachments=[
            {"filename": "scene.png", "data": __import__("base64").b64encode(PHOTO[1]).decode()}
        ],
    )
    page = as_("dispatcher").get(f"/cases/{case['id']}")
    assert page.status_code == 200
    text = page.text
    assert f"案件 {case['id']}" in text and "暴露垃圾" in text and "12345 热线" in text
    assert first_grid(city).name in text
    assert "上报" in text and "已上报" in text  # the first timeline row
    photo_id = api_case(city_client, auth, case["id"])["timeline"][0]["attachments"][0]
    assert f'<img src="/api/v1/attachments/{photo_id}"' in text
    assert f"案件编号 {case['id']}" in text  # the answer sent to the reporter
    assert "13800001234" in text and "王芳" in text  # the dispatch centre sees contacts
    allowed = city_client.get(f"/api/v1/cases/{case['id']}", headers=auth("dispatcher")).json()[
        "allowed_actions"
    ]
    assert forms_on(text) == set(allowed)
    assert re.search(r'data-action="reject".*?<textarea name="reason"[^>]*required', text, re.S)


def test_each_persona_gets_the_forms_of_their_own_actions(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str, worker: str
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    for action in ("accept", "register"):
        act(dispatcher, case_id, action)
    forms = forms_on(dispatcher.get(f"/cases/{case_id}").text)
    assert {"dispatch", "whistle", "escalate", "merge", "amend"} <= forms
    detail = dispatcher.get(f"/cases/{case_id}").text
    own_units_first = r'<select name="department" required>\s*<optgroup label="本案件所在区域'
    assert re.search(own_units_first, detail)
    assert re.search(rf'<option value="{street_unit}"[^>]* selected>', detail)
    assert '<select name="departments" multiple' in detail and '<select name="lead"' in detail
    assert forms_on(as_(worker).get(f"/cases/{case_id}").text) == set()
    assert "没有可以对本案件执行的操作" in as_(worker).get(f"/cases/{case_id}").text
    assert forms_on(as_("admin").get(f"/cases/{case_id}").text) >= {"void", "dispatch"}


def test_a_missing_reason_is_shown_on_the_page_in_chinese_with_the_form_open(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    page = act(as_("dispatcher"), case_id, "reject", reason="  ")
    assert page.status_code == 422
    assert "请填写不予受理的理由" in page.text
    assert re.search(r'data-action="reject">.*?<details open>', page.text, re.S)
    assert "Traceback" not in page.text
    assert api_case(city_client, auth, case_id)["status"] == "reported"


def test_wrong_numbers_in_a_form_are_named(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    page = act(as_("dispatcher"), case_id, "merge", into="十二")
    assert page.status_code == 422
    assert "“into”应填写数字，收到的是“十二”" in page.text
    assert 'value="十二"' in page.text  # what was typed stays in the form


def test_the_detail_speaks_english_after_the_switch(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    dispatcher.get("/lang/en")
    page = dispatcher.get(f"/cases/{case_id}").text
    assert "Timeline" in page and "Exposed rubbish" in page and ">Accept<" in page
    failed = act(dispatcher, case_id, "reject")
    assert "Give the reason for the rejection" in html.unescape(failed.text)


def test_duplicates_are_offered_on_the_detail_and_merged_with_one_button(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    grid = city.area(city.plan.workers[2].grid_code)
    lat, lon = point_in(grid)
    first = new_case(
        city, city_client, auth, "dispatcher", channel="hotline", category="FA05", lat=lat, lon=lon
    )
    second = new_case(
        city, city_client, auth, "dispatcher", channel="hotline", category="FA05", lat=lat, lon=lon
    )
    dispatcher = as_("dispatcher")
    page = dispatcher.get(f"/cases/{second['id']}").text
    assert "疑似重复件" in page
    assert f'<input type="hidden" name="into" value="{first["id"]}">' in page
    merged = act(dispatcher, second["id"], "merge", into=str(first["id"]))
    assert merged.status_code == 303
    assert api_case(city_client, auth, second["id"])["merged_into"] == first["id"]
    survivor = dispatcher.get(f"/cases/{first['id']}").text
    assert f"案件 {second['id']} 并入本案" in survivor


def test_amending_only_the_priority_leaves_the_category_and_route_alone(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    form = dispatcher.get(f"/cases/{case_id}").text
    assert '<option value="">不变（暴露垃圾）</option>' in form
    assert act(dispatcher, case_id, "amend", category="", priority="urgent").status_code == 303
    amended = api_case(city_client, auth, case_id)
    assert (amended["priority"], amended["category"]) == ("urgent", "CR01")
    assert amended["timeline"][-1]["data"]["overrides"] == {"priority": ["normal", "urgent"]}
    assert "紧急" in dispatcher.get(f"/cases/{case_id}").text


def test_what_reporters_type_is_shown_as_text(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case_id = new_case(city, city_client, auth, description='<img src=x onerror="alert(1)">垃圾')[
        "id"
    ]
    dispatcher = as_("dispatcher")
    for page in (
        dispatcher.get("/dispatch/queue", params={"q": "onerror"}).text,
        dispatcher.get(f"/cases/{case_id}").text,
    ):
        assert "<img src=x" not in page and "&lt;img src=x" in page


def test_a_hidden_or_unknown_case_is_a_page_saying_so(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    far_grid = city.area(city.plan.workers[-1].grid_code)
    lat, lon = point_in(far_grid)
    far = new_case(city, city_client, auth, "dispatcher", channel="hotline", lat=lat, lon=lon)
    cadre = as_("cadre")
    hidden = cadre.get(f"/cases/{far['id']}")
    assert hidden.status_code == 403
    assert f"案件 {far['id']} 不在您的管辖范围或部门内" in hidden.text
    assert "<html" in hidden.text
    missing = cadre.get("/cases/99999999")
    assert missing.status_code == 404 and "案件 99999999 不存在" in missing.text
    acting = act(cadre, far["id"], "accept")
    assert acting.status_code == 403 and "不在您的管辖范围或部门内" in acting.text


# ------------------------------------------------------------------ the whole story on pages


def test_a_resident_report_goes_all_the_way_through_the_pages(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str, worker: str
) -> None:
    resident, dispatcher = as_("resident"), as_("dispatcher")
    auth.unit(street_unit)
    handler = as_(f"h.{street_unit}")
    lat, lon = point_in(first_grid(city))

    sent = resident.post(
        "/report",
        data={
            "category": "CR01",
            "lat": str(lat),
            "lon": str(lon),
            "description": "楼下垃圾桶满溢，气味很大",
            "phone": "13800005555",
        },
        files=[("photos", PHOTO)],
        follow_redirects=False,
    )
    assert sent.status_code == 303
    case_id = int(sent.headers["location"].rsplit("=", 1)[1])
    done = resident.get(sent.headers["location"]).text
    assert f"已收到您的反映，案件编号 {case_id}" in done
    assert f'href="/cases/{case_id}"' in done  # listed under "my reports"

    for action in ("accept", "register"):
        dispatcher.post(f"/dispatch/cases/{case_id}/act", data={"action": action}, headers=HTMX)
    dispatcher.post(
        f"/dispatch/cases/{case_id}/act",
        data={"action": "dispatch", "department": street_unit},
        headers=HTMX,
    )

    inbox = handler.get("/inbox").text
    assert f'id="case-{case_id}"' in inbox
    started = act(handler, case_id, "start", next=f"/inbox#case-{case_id}")
    assert started.headers["location"].startswith("/inbox?done=start&")
    assert started.headers["location"].endswith(f"#case-{case_id}")
    resolved = handler.post(
        f"/cases/{case_id}/act",
        data={"action": "resolve", "note": "已清运完毕", "next": "/inbox"},
        files=[("photos", ("after.png", demo_photo(), "image/png"))],
        follow_redirects=False,
    )
    assert resolved.status_code == 303, resolved.text

    grid_page = as_(worker).get("/grid").text
    assert f'id="case-{case_id}"' in grid_page
    checks = grid_page.split("待核查", 1)[1].split("我上报、待受理的事件", 1)[0]
    assert f'action="/cases/{case_id}/act"' in checks
    assert 'data-action="verify"' in checks and 'data-action="rework"' in checks
    verified = act(as_(worker), case_id, "verify", next="/grid")
    assert verified.headers["location"].startswith("/grid?done=verify&")

    act(dispatcher, case_id, "close", note="已清运，并加强巡查")
    rated = act(resident, case_id, "rate", satisfaction="5", note="很及时")
    assert rated.status_code == 303
    final = api_case(city_client, auth, case_id)
    assert (final["status"], final["satisfaction"]) == ("closed", 5)
    assert [e["action"] for e in final["timeline"]] == [
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
    assert final["timeline"][0]["attachments"] and final["timeline"][5]["attachments"]
    mine = resident.get(f"/cases/{case_id}").text
    assert "138****5555" in mine and "13800005555" not in mine  # masked for the resident
    photo = resident.get(f"/api/v1/attachments/{final['timeline'][5]['attachments'][0]}")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"


# ------------------------------------------------------------------ a unit's inbox


def test_the_inbox_offers_start_return_and_check_in_and_asks_for_what_they_need(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    police = street_unit.replace("ZFD", "PCS")
    for unit in (street_unit, police):
        auth.unit(unit)
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    for action in ("accept", "register"):
        act(dispatcher, case_id, action)
    whistled = dispatcher.post(
        f"/cases/{case_id}/act",
        data={
            "action": "whistle",
            "departments": [street_unit, police],
            "lead": street_unit,
            "reason": "占道经营需联合处置",
        },
        follow_redirects=False,
    )
    assert whistled.status_code == 303, whistled.text

    lead, helper = as_(f"h.{street_unit}"), as_(f"h.{police}")
    lead_card = lead.get("/inbox").text.split(f'id="case-{case_id}"', 1)[1].split("</article>")[0]
    assert {"start", "return", "escalate"} <= forms_on(lead_card)
    helper_card = helper.get("/inbox").text.split(f'id="case-{case_id}"', 1)[1]
    assert forms_on(helper_card.split("</article>")[0]) == {"check_in"}
    assert act(helper, case_id, "check_in", note="民警已到场").status_code == 303
    assert "已报到" in lead.get(f"/cases/{case_id}").text

    no_reason = act(lead, case_id, "return", next="/inbox")
    assert no_reason.status_code == 422 and "请填写退回的理由" in no_reason.text
    assert '<a href="/inbox">' in no_reason.text  # the way back to the inbox
    act(lead, case_id, "start")
    bad_hours = act(lead, case_id, "request_extension", hours="0", reason="等配件")
    assert bad_hours.status_code == 422 and "必须大于 0" in bad_hours.text
    assert act(lead, case_id, "request_extension", hours="24", reason="等配件").status_code == 303
    assert "待批延期" in lead.get(f"/cases/{case_id}").text
    approve = forms_on(dispatcher.get(f"/cases/{case_id}").text)
    assert {"approve_extension", "deny_extension"} <= approve


def test_a_unit_resolving_without_a_note_is_told_so(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    auth.unit(street_unit)
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher = as_("dispatcher")
    for action in ("accept", "register", "dispatch"):
        act(dispatcher, case_id, action)
    handler = as_(f"h.{street_unit}")
    act(handler, case_id, "start")
    not_an_image = handler.post(
        f"/cases/{case_id}/act",
        data={"action": "resolve", "note": "已处理"},
        files=[("photos", ("notes.txt", b"hello", "text/plain"))],
    )
    assert not_an_image.status_code == 422
    assert "附件“notes.txt”不是图片" in not_an_image.text
    empty = handler.post(
        f"/cases/{case_id}/act",
        data={"action": "resolve"},
        files=[("photos", ("", b"", "application/octet-stream"))],
    )
    assert empty.status_code == 422 and "请填写处置完成的说明" in empty.text
    assert api_case(city_client, auth, case_id)["status"] == "in_progress"


# ------------------------------------------------------------------ the grid worker's page


def test_the_grid_page_has_a_phone_report_form(as_: Persona, worker: str, city: City) -> None:
    page = as_(worker).get("/grid")
    assert page.status_code == 200
    text = page.text
    assert f'我的网格 <small class="muted">{first_grid(city).name}' in text
    camera = r'<input type="file" name="photos" accept="image/\*" capture="environment"'
    assert re.search(camera, text)
    assert 'class="btn gps"' in text and 'name="lat"' in text and 'name="lon"' in text
    assert 'data-own-grid="' + first_grid(city).code + '"' in text
    assert '<optgroup label="市容环境">' in text


def test_a_grid_worker_reports_with_a_photo_and_resolves_it_on_the_spot(
    city: City, city_client: TestClient, auth: Any, as_: Persona, worker: str
) -> None:
    me = as_(worker)
    lat, lon = point_in(first_grid(city))
    sent = me.post(
        "/grid/report",
        data={"category": "SO04", "description": "电线杆上贴满小广告", "lat": lat, "lon": lon},
        files=[("photos", PHOTO)],
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    case_id = int(sent.headers["location"].rsplit("=", 1)[1])
    page = me.get(sent.headers["location"]).text
    assert f"已上报，案件编号 {case_id}" in page
    mine = page.split("我上报、待受理的事件", 1)[1].split("网格内其他在办案件", 1)[0]
    assert f'id="case-{case_id}"' in mine and 'data-action="resolve_on_spot"' in mine
    case = api_case(city_client, auth, case_id)
    assert (case["channel"], case["grid_code"]) == ("grid_worker", first_grid(city).code)
    assert case["timeline"][0]["attachments"]

    no_photo = act(me, case_id, "resolve_on_spot", note="已清除", next="/grid")
    assert no_photo.status_code == 422 and "请为就地解决上传现场照片" in no_photo.text
    done = me.post(
        f"/cases/{case_id}/act",
        data={"action": "resolve_on_spot", "note": "小广告已清除", "next": "/grid"},
        files=[("photos", ("done.png", demo_photo(), "image/png"))],
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/grid?done=resolve_on_spot&")
    closed = api_case(city_client, auth, case_id)
    assert (closed["status"], closed["resolved_on_spot"]) == ("closed", True)
    assert "网格员已就地解决" in me.get(f"/cases/{case_id}").text


def test_a_grid_report_without_a_place_comes_back_with_the_reason_and_the_text(
    as_: Persona, worker: str
) -> None:
    page = as_(worker).post(
        "/grid/report", data={"category": "SO04", "description": "电线杆上贴满小广告"}
    )
    assert page.status_code == 422
    assert "请提供位置" in page.text
    assert "电线杆上贴满小广告</textarea>" in page.text
    assert '<details class="report-box" open>' in page.text


def test_a_grid_worker_fails_a_check_with_a_reason(
    city: City, city_client: TestClient, auth: Any, as_: Persona, worker: str, street_unit: str
) -> None:
    auth.unit(street_unit)
    case_id = new_case(city, city_client, auth)["id"]
    dispatcher, handler = as_("dispatcher"), as_(f"h.{street_unit}")
    for action in ("accept", "register", "dispatch"):
        act(dispatcher, case_id, action)
    act(handler, case_id, "start")
    act(handler, case_id, "resolve", note="已清理")
    me = as_(worker)
    assert act(me, case_id, "rework", next="/grid").status_code == 422
    failed = act(me, case_id, "rework", reason="现场仍有垃圾", next="/grid")
    assert failed.status_code == 303
    case = api_case(city_client, auth, case_id)
    assert (case["status"], case["rework_count"]) == ("in_progress", 1)


# ------------------------------------------------------------------ residents


def test_anonymous_visitors_may_report_with_a_mobile_number_or_log_in(
    city_client: TestClient,
) -> None:
    response = city_client.get("/report", headers=HTML, follow_redirects=False)
    assert response.status_code == 200
    page = response.text
    assert 'href="/login?next=/report"' in page and 'href="/signup?next=/report"' in page
    assert re.search(r'<input name="phone" type="tel"[^>]* required', page)


def test_the_report_form_has_three_steps(as_: Persona) -> None:
    page = as_("resident").get("/report").text
    for step in ("1. 遇到了什么问题", "2. 问题位置", "3. 照片和联系方式"):
        assert step in page
    assert 'data-start-step="1"' in page and "data-place-picker" in page
    assert 'accept="image/*" capture="environment"' in page


def test_a_report_that_cannot_be_placed_returns_to_the_place_step(as_: Persona) -> None:
    page = as_("resident").post(
        "/report", data={"description": "路灯不亮", "address": "火星基地", "phone": "13900001111"}
    )
    assert page.status_code == 422
    assert "无法识别地址“火星基地”" in page.text
    assert 'data-start-step="2"' in page.text
    assert 'value="火星基地"' in page.text and "路灯不亮</textarea>" in page.text


def test_a_resident_sees_only_her_own_cases(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    other = new_case(city, city_client, auth, "dispatcher", channel="hotline")
    resident = as_("resident")
    assert resident.get(f"/cases/{other['id']}").status_code == 403
    assert f'href="/cases/{other["id"]}"' not in resident.get("/report").text


def test_tracking_shows_the_state_in_plain_words_and_the_answers(
    city: City, city_client: TestClient, auth: Any
) -> None:
    reporter = {"phone": "139 1234 0000"}
    case = new_case(city, city_client, auth, "dispatcher", channel="hotline", reporter=reporter)
    assert city_client.get("/track").status_code == 200
    found = city_client.post("/track", data={"number": str(case["id"]), "phone": "13912340000"})
    assert found.status_code == 200
    assert "我们已收到您的反映，正在等待受理。" in found.text
    assert f"案件编号 {case['id']}" in found.text  # the answer it received
    assert "13912340000" not in found.text  # nor is the phone put in the page or address
    wrong = city_client.post("/track", data={"number": str(case["id"]), "phone": "13900000000"})
    assert wrong.status_code == 404 and f"案件 {case['id']} 不存在" in wrong.text
    nonsense = city_client.post("/track", data={"number": "abc", "phone": "1"})
    assert nonsense.status_code == 422 and "应填写数字" in nonsense.text


# ------------------------------------------------------------------ roles and the top bar


@pytest.mark.parametrize(
    ("persona", "links", "not_links"),
    [
        ("dispatcher", ["/dispatch"], ["/inbox", "/grid", "/report"]),
        ("leader", ["/dispatch"], ["/inbox", "/grid"]),
        ("resident", ["/report", "/track"], ["/dispatch"]),
        ("data_admin", [], ["/dispatch", "/inbox", "/grid", "/report"]),
    ],
)
def test_the_top_bar_links_to_the_pages_of_the_role(
    as_: Persona, persona: str, links: list[str], not_links: list[str]
) -> None:
    page = as_(persona).get("/").text
    for link in links:
        assert f'<a href="{link}"' in page
    for link in not_links:
        assert f'<a href="{link}"' not in page


def test_handlers_and_grid_workers_see_their_page_in_the_top_bar(
    as_: Persona, auth: Any, street_unit: str, worker: str
) -> None:
    auth.unit(street_unit)
    assert (
        '<a href="/inbox" id="nav-inbox" aria-current="page">'
        in as_(f"h.{street_unit}").get("/inbox").text
    )
    assert '<a href="/grid"' in as_(worker).get("/").text


def test_anonymous_visitors_can_report_and_track_from_the_top_bar(city_client: TestClient) -> None:
    page = city_client.get("/").text
    assert '<a href="/report"' in page and '<a href="/track"' in page


@pytest.mark.parametrize(
    ("persona", "path"),
    [
        ("handler", "/dispatch"),
        ("resident", "/inbox"),
        ("dispatcher", "/grid"),
        ("cadre", "/report"),
    ],
)
def test_each_page_refuses_the_other_roles(as_: Persona, persona: str, path: str) -> None:
    assert as_(persona).get(path).status_code == 403
