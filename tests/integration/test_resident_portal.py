"""The residents' portal on SQLite and PostgreSQL: an account of one's own, reporting with or
without one (anonymous to the public if she wishes), categories suggested while typing,
"someone already reported this — add your voice", following a case in plain words, and its
reporter confirming, rating and reopening it from the tracking page with her phone."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from civicgrid.app import create_app
from civicgrid.cases.domain import GUEST_NAME
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.demo.cases import demo_photo
from tests.conftest import City, own_address
from tests.integration.test_case_pages import (  # noqa: F401  (fixtures)
    PHOTO,
    Persona,
    api_case,
    as_,
    first_grid,
    point_in,
    street_unit,
    worker,
)

PASSWORD = "rain-on-the-tiles"


@pytest.fixture
def visitor(city: City) -> Iterator[TestClient]:
    """Someone without an account, on a phone of her own (own cookies, own address limits)."""
    with TestClient(create_app(city.platform), client=own_address()) as client:
        yield client


def unique_phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


def sign_up(client: TestClient, name: str = "李梅", **fields: str) -> str:
    phone = fields.pop("phone", unique_phone())
    sent = client.post(
        "/signup",
        data={
            "display_name": name,
            "phone": phone,
            "password": PASSWORD,
            "password_again": PASSWORD,
            "next": "/report",
            **fields,
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    return phone


def grid_point(city: City, n: int) -> tuple[float, float]:
    """A point inside the Nth grid: each test places its cases in a grid of its own."""
    return point_in(city.area(city.grids()[n]))


def case_reporter_phone(city_client: TestClient, auth: Any, case_id: int) -> str:
    detail = city_client.get(f"/api/v1/cases/{case_id}", headers=auth("dispatcher")).json()
    phone: str = detail["reporters"][0]["phone"]
    return phone


def hotline_case(
    city_client: TestClient, auth: Any, point: tuple[float, float], **fields: Any
) -> dict[str, Any]:
    body = {
        "description": "小区健身器材损坏，单杠松动",
        "category": "FA05",
        "lat": point[0],
        "lon": point[1],
        "channel": "hotline",
        "reporter": {"name": "陈先生", "phone": unique_phone()},
        **fields,
    }
    response = city_client.post("/api/v1/cases", json=body, headers=auth("dispatcher"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def act_api(client: TestClient, headers: dict[str, str], case_id: int, action: str, **body: Any):  # type: ignore[no-untyped-def]
    response = client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": action, **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def unit_name(city: City, code: str) -> str:
    return next(d.name for d in city.plan.departments if d.code == code)


def guest_report(client: TestClient, city: City, phone: str, **fields: Any) -> int:
    lat, lon = point_in(first_grid(city))
    data = {
        "category": "CR03",
        "description": "路面有大片油污，骑车容易滑倒",
        "lat": str(lat),
        "lon": str(lon),
        "name": "赵先生",
        "phone": phone,
        "address": "幸福小区 3 号楼 302 室门口",
        **fields,
    }
    sent = client.post("/report", data=data, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    return int(sent.headers["location"].rsplit("=", 1)[1])


# ------------------------------------------------------------------ an account of one's own


def test_a_resident_signs_up_with_her_mobile_number_and_is_logged_in(
    visitor: TestClient,
) -> None:
    login = visitor.get("/login?next=/report").text
    assert 'href="/signup?next=/report"' in login
    form = visitor.get("/signup?next=/report")
    assert form.status_code == 200
    for field in ("display_name", "phone", "username", "password", "password_again"):
        assert f'name="{field}"' in form.text

    phone = unique_phone()
    sign_up(visitor, "李梅", phone=f"{phone[:3]} {phone[3:7]}-{phone[7:]}")

    page = visitor.get("/report").text
    assert "李梅 · 居民" in page
    assert f'name="phone" type="tel" maxlength="40" value="{phone}"' in page  # filled in
    me = visitor.get("/api/v1/auth/me").json()
    assert (me["username"], me["role"], me["area_code"]) == (phone, "resident", None)


def test_a_resident_may_choose_a_username_and_logs_in_with_it(
    visitor: TestClient, city: City
) -> None:
    username = f"mei.{uuid.uuid4().hex[:6]}"
    sign_up(visitor, "Li Mei", username=username)
    with TestClient(create_app(city.platform)) as later:
        logged_in = later.post(
            "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
        )
        assert logged_in.status_code == 303
        assert later.get("/api/v1/auth/me").json()["display_name"] == "Li Mei"


def test_a_taken_name_is_named_beside_its_field_and_the_rest_is_kept(
    visitor: TestClient,
) -> None:
    page = visitor.post(
        "/signup",
        data={
            "display_name": "王芳",
            "phone": "13800001111",
            "username": "resident",  # a demo account
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert page.status_code == 409
    assert '<p class="field-error" id="error-username" role="alert">用户名 resident 已存在' in (
        page.text
    )
    assert 'name="username"' in page.text and 'aria-describedby="error-username"' in page.text
    assert 'value="王芳"' in page.text and 'value="13800001111"' in page.text
    assert PASSWORD not in page.text  # passwords are never sent back


def test_every_wrong_sign_up_field_is_named_at_once(visitor: TestClient) -> None:
    page = visitor.post(
        "/signup",
        data={"display_name": "王", "phone": "12ab", "password": "short", "password_again": ""},
    )
    assert page.status_code == 422
    errors = dict(re.findall(r'id="error-(\w+)" role="alert">([^<]+)<', page.text))
    assert set(errors) == {"display_name", "phone", "password"}
    assert "密码至少需要 8 个字符" in errors["password"]
    assert "手机号：手机号“12ab”无效" in page.text  # the summary names the field too
    english = visitor.post(
        "/signup?lang=en",
        data={
            "display_name": "Wang Fang",
            "phone": "13800002222",
            "password": PASSWORD,
            "password_again": PASSWORD + "!",
        },
    )
    assert "The two passwords differ" in english.text
    assert 'id="error-password_again"' in english.text


def test_sign_ups_are_limited_per_address(visitor: TestClient, city: City) -> None:
    two_an_hour = RateLimiter(city.platform.session_factory, "signup", 2, window_seconds=3600)
    visitor.app.state.limiters["signup"] = two_an_hour  # type: ignore[attr-defined]
    sign_up(visitor)
    visitor.post("/logout")
    sign_up(visitor)
    visitor.post("/logout")
    third = visitor.post(
        "/signup",
        data={
            "display_name": "第三位",
            "phone": unique_phone(),
            "password": PASSWORD,
            "password_again": PASSWORD,
        },
    )
    assert third.status_code == 429 and "尝试次数过多" in third.text


# ------------------------------------------------------------------ suggestions while typing


def test_categories_are_suggested_from_what_a_resident_types(city_client: TestClient) -> None:
    found = city_client.get(
        "/api/v1/categories/suggest", params={"text": "小区门口垃圾桶满溢，好几天没人清理"}
    )
    assert found.status_code == 200
    items = found.json()
    assert 1 <= len(items) <= 3
    assert items[0]["code"] == "CR01" and items[0]["name"] == "暴露垃圾"
    assert items[0]["name_en"] == "Exposed rubbish" and 0 < items[0]["confidence"] <= 1
    assert city_client.get("/api/v1/categories/suggest", params={"text": " "}).json() == []
    too_long = city_client.get("/api/v1/categories/suggest", params={"text": "字" * 4001})
    assert too_long.status_code == 422


def test_a_suggestion_is_chosen_for_her_only_when_the_suggester_is_sure(
    city_client: TestClient,
) -> None:
    def suggest(text: str) -> list[dict[str, object]]:
        found: list[dict[str, object]] = city_client.get(
            "/api/v1/categories/suggest", params={"text": text}
        ).json()
        return found

    clear = suggest("小区门口垃圾桶满溢，垃圾好几天没人清理，臭气熏天")
    assert clear[0]["code"] == "CR01" and clear[0]["sure"] is True
    # A damaged road that mentions an old man: one word of elderly care is no proof.
    vague = suggest("路面坏了个坑，老人差点摔倒")
    assert vague and not any(item["sure"] for item in vague)
    assert all(item["sure"] is False for item in clear[1:])


def test_the_report_form_offers_suggestions_while_typing(visitor: TestClient) -> None:
    page = visitor.get("/report").text
    assert 'data-suggest="/api/v1/categories/suggest"' in page
    assert '<div class="suggestions"' in page and 'id="nearby"' in page


# ------------------------------------------------------------------ reporting without an account


def test_a_guest_reports_with_her_phone_and_stays_anonymous_to_the_public(
    visitor: TestClient,
    city: City,
    city_client: TestClient,
    auth: Any,
    as_: Persona,  # noqa: F811
    worker: str,  # noqa: F811
) -> None:
    phone = unique_phone()
    case_id = guest_report(visitor, city, phone, hidden="1")
    notice = visitor.get(f"/report?sent={case_id}").text
    assert f"案件编号 {case_id}" in notice and f'href="/track?number={case_id}"' in notice

    case = api_case(city_client, auth, case_id)
    assert case["reporter_hidden"] is True and case["channel"] == "resident_web"
    assert case["reporters"] == [
        {"channel": "resident_web", "name": "赵先生", "phone": phone, "email": "", "hidden": True}
    ]
    assert case["timeline"][0]["actor"] == GUEST_NAME
    assert case["timeline"][0]["actor_role"] == "resident"

    centre = as_("dispatcher").get(f"/cases/{case_id}").text
    assert "赵先生" in centre and phone in centre and "公开时匿名" in centre
    grid_view = as_(worker).get(f"/cases/{case_id}").text
    assert "赵先生" not in grid_view and "赵*" not in grid_view and "匿名" in grid_view
    assert phone not in grid_view
    public = city_client.get(f"/open311/v2/requests/{case_id}.json")
    assert "赵" not in public.text and phone not in public.text
    request = public.json()[0]
    assert request["description"] is None and request["address"] is None  # her words stay out
    assert request["lat"] == case["lat"] and request["service_code"] == "CR03"
    tracked = visitor.post("/track", data={"number": str(case_id), "phone": phone}).text
    assert "赵先生" not in tracked and phone not in tracked


def test_a_guest_without_a_mobile_number_is_asked_for_one_and_keeps_what_she_typed(
    visitor: TestClient, city: City
) -> None:
    lat, lon = point_in(first_grid(city))
    page = visitor.post(
        "/report",
        data={
            "description": "路灯整晚不亮",
            "category": "FA03",
            "lat": str(lat),
            "lon": str(lon),
            "hidden": "1",
        },
    )
    assert page.status_code == 422
    assert 'id="error-phone" role="alert">未登录时请留下手机号' in page.text
    assert "手机号：未登录时请留下手机号" in page.text  # named in the summary
    assert 'data-start-step="3"' in page.text
    assert "路灯整晚不亮</textarea>" in page.text
    assert '<option value="FA03" selected>' in page.text
    assert f'name="lat" value="{lat}"' in page.text
    assert 'name="hidden" value="1" checked' in page.text


@pytest.mark.parametrize(
    ("fields", "photo", "field", "step", "message"),
    [
        ({"description": ""}, None, "description", 1, "请描述遇到的问题"),
        ({"lat": "31.9", "lon": "121.5"}, None, "place", 2, "不在本市任何网格内"),
        ({"lat": "北纬"}, None, "place", 2, "应填写数字"),
        ({}, ("notes.txt", b"just words", "text/plain"), "photos", 3, "不是图片"),
        ({}, ("cut.png", demo_photo()[:-40], "image/png"), "photos", 3, "已损坏或不完整"),
        (
            {},
            ("huge.png", demo_photo() + bytes(10_600_000), "image/png"),
            "photos",
            3,
            "超过上限 10.0 MB",
        ),
    ],
)
def test_each_report_form_error_is_shown_at_its_field_and_the_rest_is_kept(
    as_: Persona,  # noqa: F811
    city: City,
    fields: dict[str, str],
    photo: tuple[str, bytes, str] | None,
    field: str,
    step: int,
    message: str,
) -> None:
    lat, lon = point_in(first_grid(city))
    data = {
        "description": "井盖松动，踩上去会响",
        "category": "FA02",
        "lat": str(lat),
        "lon": str(lon),
        "phone": "13700001234",
        "address": "幸福小区 3 号楼",
        **fields,
    }
    page = as_("resident").post("/report", data=data, files=[("photos", photo)] if photo else [])
    assert page.status_code == 422, page.text[:500]
    assert re.search(rf'id="error-{field}" role="alert">[^<]*{re.escape(message)}', page.text)
    assert f'data-start-step="{step}"' in page.text
    assert 'value="13700001234"' in page.text and 'value="幸福小区 3 号楼"' in page.text
    if fields.get("description", "x"):
        assert "井盖松动，踩上去会响</textarea>" in page.text
    if photo:
        assert "请重新选择照片" in page.text


# ------------------------------------------------------------------ someone already reported this


def test_open_cases_nearby_are_shown_without_anything_about_their_reporters(
    city: City, city_client: TestClient, auth: Any
) -> None:
    point = grid_point(city, 11)
    near = hotline_case(city_client, auth, point, description="护栏断了，电话 139 1234 5678")
    hidden = hotline_case(
        city_client,
        auth,
        (point[0] + 0.0001, point[1]),
        reporter={"name": "钱女士", "phone": unique_phone(), "hidden": True},
    )
    other_kind = hotline_case(city_client, auth, point, category="FA03")
    far = hotline_case(city_client, auth, grid_point(city, 23))

    found = city_client.get(
        "/api/v1/cases/nearby", params={"category": "FA05", "lat": point[0], "lon": point[1]}
    )
    assert found.status_code == 200
    by_id = {c["id"]: c for c in found.json()}
    assert near["id"] in by_id and hidden["id"] in by_id
    assert other_kind["id"] not in by_id and far["id"] not in by_id
    mine = by_id[near["id"]]
    assert set(mine) == {
        "id",
        "category",
        "title",
        "status",
        "created_at",
        "distance_m",
        "supporters",
    }
    assert mine["title"] == "护栏断了，电话 ***" and mine["distance_m"] < 1
    assert (mine["status"], mine["supporters"]) == ("reported", 0)
    assert by_id[hidden["id"]]["title"] == ""  # her words stay off public pages
    assert 8 < by_id[hidden["id"]]["distance_m"] < 15

    partial = city_client.get(
        "/report/nearby", params={"category": "FA05", "lat": point[0], "lon": point[1]}
    ).text
    assert f'formaction="/cases/{near["id"]}/support"' in partial
    assert "附近已有人反映了同样的问题" in partial and "约 0 米" in partial
    assert "公共设施损坏" in partial  # the hidden one is shown by its category
    assert "陈先生" not in partial and "钱女士" not in partial
    empty = city_client.get(
        "/report/nearby", params={"category": "FA05", "lat": "x", "lon": point[1]}
    )
    assert empty.status_code == 200 and "nearby-box" not in empty.text
    unknown = city_client.get(
        "/api/v1/cases/nearby", params={"category": "NOPE", "lat": point[0], "lon": point[1]}
    )
    assert unknown.status_code == 422


def test_adding_her_voice_makes_a_resident_one_of_the_reporters_who_hears_the_answers(
    city: City,
    city_client: TestClient,
    auth: Any,
    visitor: TestClient,
    as_: Persona,  # noqa: F811
) -> None:
    marker = f"mk{uuid.uuid4().hex[:6]}"  # letters: a number would be searched as one
    where = grid_point(city, 12)
    case = hotline_case(city_client, auth, where, description=f"篮球架倒了 {marker}")
    phone = sign_up(visitor, "孙丽")
    joined = visitor.post(
        f"/cases/{case['id']}/support",
        data={
            "description": "我也看到了，很危险",
            "phone": phone,
            "name": "孙丽",
            "lat": str(where[0]),
            "lon": str(where[1]),
        },
        files=[("photos", PHOTO)],
        follow_redirects=False,
    )
    assert joined.status_code == 303
    assert joined.headers["location"] == f"/cases/{case['id']}?joined=1"
    page = visitor.get(joined.headers["location"]).text
    assert f"您已附议案件 {case['id']}" in page
    assert "又有一位居民附议（共 1 人）" in page  # her own row, in plain words
    assert "陈先生" not in page and "陈*" not in page  # the other reporter stays hidden
    # She sees what the public sees (the public title) and her own words, not the place.
    assert "我也看到了，很危险" in page and f"{where[0]:.6f}" not in page
    assert f'href="/cases/{case["id"]}"' in visitor.get("/report").text  # "my reports"
    assert visitor.get(f"/api/v1/cases/{case['id']}").status_code == 403
    seen = visitor.get(f"/api/v1/cases/{case['id']}/supported").json()
    assert (seen["my_words"], seen["supporters"], seen["category"]) == (
        ["我也看到了，很危险"],
        1,
        "FA05",
    )
    assert marker in seen["title"]  # the hotline's title, public as the nearby list shows it

    full = api_case(city_client, auth, case["id"])
    assert full["supporters"] == 1
    join = full["timeline"][-1]
    assert (join["action"], join["note"]) == ("join", "我也看到了，很危险")
    assert join["attachments"] and join["data"] == {"supporters": 1}
    assert f"已附议案件 {case['id']}" in full["messages"][-1]["body"]

    act_api(city_client, auth("dispatcher"), case["id"], "accept")
    answers = api_case(city_client, auth, case["id"])["messages"]
    accepted = [m["recipient"] for m in answers if "已受理" in m["body"]]
    assert phone in accepted and len(accepted) == 2  # the first reporter and her

    again = visitor.post(
        f"/cases/{case['id']}/support",
        data={"phone": phone, "lat": str(where[0]), "lon": str(where[1])},
    )
    assert again.status_code == 409 and "已经反映或附议过" in again.text  # her own account
    queue = as_("dispatcher").get("/dispatch", params={"q": marker}).text
    assert "1 人附议" in queue
    detail = as_("dispatcher").get(f"/cases/{case['id']}").text
    assert re.search(r'<dd class="supporters">1</dd>', detail)


def test_without_an_account_a_mobile_number_is_enough_to_add_a_voice(
    city: City, city_client: TestClient, auth: Any, visitor: TestClient
) -> None:
    where = grid_point(city, 13)
    here = {"lat": where[0], "lon": where[1]}
    case = hotline_case(city_client, auth, where)
    url = f"/api/v1/cases/{case['id']}/supporters"
    missing = visitor.post(url, json={"name": "周", **here})
    assert missing.status_code == 422 and "手机号" in missing.json()["error"]["message"]
    garbled = visitor.post(url, json={"phone": "139-abc-0000-1111", **here})
    assert garbled.status_code == 422 and garbled.json()["error"]["code"] == "case_bad_phone"
    phone = unique_phone()
    nowhere = visitor.post(url, json={"phone": phone})
    assert nowhere.status_code == 422
    far = visitor.post(url, json={"phone": phone, "lat": where[0] + 0.01, "lon": where[1]})
    assert far.status_code == 422 and "米" in far.json()["error"]["message"]
    added = visitor.post(url, json={"phone": phone, "hidden": True, **here})
    assert added.status_code == 201
    assert added.json() == {"case": case["id"], "supporters": 1, "status": "reported"}
    # A number is never compared with the reporters': the reporter's own phone adds a
    # voice like any other, so nobody learns from the answer whether it reported the case.
    reporters_phone = case_reporter_phone(city_client, auth, case["id"])
    same = visitor.post(url, json={"phone": reporters_phone, **here})
    assert same.status_code == 201 and same.json()["supporters"] == 2
    tracked = visitor.post("/track", data={"number": str(case["id"]), "phone": phone}).text
    assert "您已附议案件" in tracked  # the answer she got
    assert "最先反映的人" in tracked and 'action="/track/act"' not in tracked

    staff = city_client.post(url, json={"phone": phone, **here}, headers=auth("dispatcher"))
    assert staff.status_code == 403
    form = visitor.post(
        f"/cases/{case['id']}/support", data={"description": "同样的问题", "phone": ""}
    )
    assert form.status_code == 422 and 'id="error-phone"' in form.text
    assert "同样的问题</textarea>" in form.text


def test_a_closed_case_takes_no_more_voices(
    city: City, city_client: TestClient, auth: Any, visitor: TestClient
) -> None:
    where = grid_point(city, 14)
    case = hotline_case(city_client, auth, where)
    act_api(city_client, auth("dispatcher"), case["id"], "reject", reason="不属于本平台受理范围")
    closed = visitor.post(
        f"/api/v1/cases/{case['id']}/supporters",
        json={"phone": unique_phone(), "lat": where[0], "lon": where[1]},
    )
    assert closed.status_code == 409
    assert "已不在办理中" in closed.json()["error"]["message"]


# ------------------------------------------------------------------ following a case


def test_the_timeline_is_told_in_plain_words_with_the_deadline_and_the_answers(
    city: City,
    city_client: TestClient,
    auth: Any,
    visitor: TestClient,
    street_unit: str,  # noqa: F811
) -> None:
    phone = unique_phone()
    case = hotline_case(city_client, auth, point_in(first_grid(city)), reporter={"phone": phone})
    centre = auth("dispatcher")
    act_api(city_client, centre, case["id"], "accept")
    act_api(city_client, centre, case["id"], "register")
    act_api(city_client, centre, case["id"], "dispatch", department=street_unit)
    act_api(city_client, auth.unit(street_unit), case["id"], "start")
    name = unit_name(city, street_unit)

    page = visitor.post("/track", data={"number": str(case["id"]), "phone": phone}).text
    sentences = re.findall(r'<span class="text">([^<]+)</span>', page)
    assert sentences == ["收到反映", "已受理", "已立案", f"已交给{name}处理", f"{name}已接单"]
    # The city's clock (the default zone, Asia/Shanghai), not UTC; machines still read UTC.
    stamp, shown = re.findall(r'<time datetime="([^"]+)">(\d+月\d+日 \d\d:\d\d)</time>', page)[-1]
    local = datetime.fromisoformat(stamp).astimezone(ZoneInfo("Asia/Shanghai"))
    assert stamp.endswith("Z") and shown == f"{local.month}月{local.day}日 {local:%H:%M}"
    assert "UTC" not in page
    assert "处理时限：" in page and 'class="light light-green"' in page
    assert f"案件 {case['id']} 已交由{name}办理" in page  # an answer she received
    assert phone not in page

    english = visitor.get("/track?lang=en").text  # the same lookup, kept for a while
    assert f"{name} took the case" in english and "Report received" in english


def test_a_reporter_without_an_account_confirms_rates_and_reopens_from_the_tracking_page(
    city: City,
    city_client: TestClient,
    auth: Any,
    visitor: TestClient,
    street_unit: str,  # noqa: F811
) -> None:
    phone = unique_phone()
    case_id = guest_report(visitor, city, phone)
    centre, unit = auth("dispatcher"), auth.unit(street_unit)
    for action in ("accept", "register"):
        act_api(city_client, centre, case_id, action)
    act_api(city_client, centre, case_id, "dispatch", department=street_unit)
    act_api(city_client, unit, case_id, "start")
    act_api(city_client, unit, case_id, "resolve", note="已清洗路面")

    page = visitor.post("/track", data={"number": str(case_id), "phone": "139" + phone[3:]})
    assert "问题真的解决了吗？" in page.text and "处理单位说：已清洗路面" in page.text
    assert page.cookies.get("civicgrid_track") or visitor.cookies.get("civicgrid_track")
    not_fixed = visitor.post(
        "/track/act", data={"action": "rework", "reason": "还有油污"}, follow_redirects=False
    )
    assert not_fixed.status_code == 303 and not_fixed.headers["location"] == "/track?done=rework"
    assert "已提交，谢谢！" in visitor.get("/track?done=rework").text
    after = api_case(city_client, auth, case_id)
    assert after["status"] == "in_progress"
    rework = after["timeline"][-1]
    assert rework["actor"].startswith("reporter:") and rework["actor_role"] == "resident"
    assert rework["note"] == "还有油污"

    act_api(city_client, unit, case_id, "resolve", note="已用清洗剂再次清洗")
    visitor.post("/track/act", data={"action": "verify"})
    act_api(city_client, centre, case_id, "close", note="路面已清洁")
    closed = visitor.get("/track").text
    assert "您对处理结果满意吗？" in closed and "可申请重新办理，截至" in closed
    assert "反映人说问题还在，已退回重新处理" in closed and "反映人确认问题已解决" in closed

    missing = visitor.post("/track/act", data={"action": "rate"})
    assert missing.status_code == 422 and "满意度" in missing.text
    visitor.post("/track/act", data={"action": "rate", "satisfaction": "4", "note": "处理及时"})
    rated = visitor.get("/track").text
    assert "您的评价：4 分（满分 5 分）" in rated and "反映人评价：4 分" in rated
    final = api_case(city_client, auth, case_id)
    assert (final["satisfaction"], final["rating_comment"]) == (4, "处理及时")

    # A week later the problem is back: reopening is no longer possible, and the page says so.
    with UnitOfWork(city.platform.session_factory) as uow:
        uow.session.execute(
            text("UPDATE cases SET closed_at = :at WHERE id = :id"),
            {"at": utcnow() - timedelta(days=8), "id": case_id},
        )
        uow.commit()
    late = visitor.get("/track").text
    assert "办结已超过 7 天，不能再申请重新办理" in late and 'href="/report"' in late
    refused = visitor.post("/track/act", data={"action": "reopen", "reason": "又脏了"})
    assert refused.status_code == 403 and "7" in refused.text

    with UnitOfWork(city.platform.session_factory) as uow:
        uow.session.execute(
            text("UPDATE cases SET closed_at = :at WHERE id = :id"),
            {"at": utcnow() - timedelta(days=6), "id": case_id},
        )
        uow.commit()
    visitor.post("/track/act", data={"action": "reopen", "reason": "又有油污了"})
    reopened = api_case(city_client, auth, case_id)
    assert reopened["status"] == "registered"
    assert reopened["timeline"][-1]["action"] == "reopen"


def test_only_the_pass_of_a_lookup_lets_someone_act_as_the_reporter(
    city: City, city_client: TestClient, auth: Any, visitor: TestClient
) -> None:
    case = hotline_case(city_client, auth, grid_point(city, 15))
    nobody = visitor.post("/track/act", data={"action": "rate", "satisfaction": "1"})
    assert nobody.status_code == 401 and "查询无效" in nobody.text
    visitor.cookies.set("civicgrid_track", "forged.token.value", path="/track")
    forged = visitor.post("/track/act", data={"action": "rate", "satisfaction": "1"})
    assert forged.status_code == 401
    assert api_case(city_client, auth, case["id"])["timeline"][-1]["action"] == "report"
    forgotten = visitor.post("/track/forget", follow_redirects=False)
    assert forgotten.status_code == 303
    assert 'action="/track"' in visitor.get("/track").text


def test_a_resident_with_an_account_sees_her_case_in_plain_words(
    city: City,
    city_client: TestClient,
    auth: Any,
    as_: Persona,  # noqa: F811
) -> None:
    resident = as_("resident")
    lat, lon = point_in(first_grid(city))
    sent = resident.post(
        "/report",
        data={"category": "CR05", "description": "绿化带里堆满落叶", "lat": lat, "lon": lon},
        follow_redirects=False,
    )
    case_id = int(sent.headers["location"].rsplit("=", 1)[1])
    act_api(city_client, auth("dispatcher"), case_id, "accept")
    page = resident.get(f"/cases/{case_id}").text
    assert "办理进展" in page and "已受理" in page
    assert '<section class="timeline">' not in page and 'class="act-panel"' not in page
