"""The dispatch centre's queue on SQLite and PostgreSQL: returned cases with their reason,
the yellow-light filter, every page of the queue on the map, the queue pushed by
server-sent events (only what the reader may see), the list as a spreadsheet masked for
its reader, the dispatch sheet, the whistle with its reason and meeting, and the
confirmation after each action."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from civicgrid.app import create_app
from civicgrid.cases.repository import cases as cases_table
from civicgrid.cases.services import MAP_MAX_CELLS
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.ledger import audit_entries
from civicgrid.core.outbox import outbox
from tests.conftest import City

Persona = Callable[[str], TestClient]
HTML = {"Accept": "text/html"}
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def as_(city: City) -> Iterator[Persona]:
    """as_("dispatcher") → a client logged in through the login page, as a browser is."""
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


def grid(city: City, n: int = 0) -> Any:
    return city.area(city.plan.workers[n].grid_code)


def far_grid(city: City) -> Any:
    """A grid of the other district than the first grid's."""
    first = grid(city).code
    return next(city.area(w.grid_code) for w in city.plan.workers if w.grid_code[:6] != first[:6])


def report(city_client: TestClient, auth: Any, where: Any, **body: Any) -> dict[str, Any]:
    point = where.geometry.representative_point()
    payload = {
        "description": "小区门口垃圾桶满溢，好几天没人清理了",
        "category": "CR01",
        "lat": point.y,
        "lon": point.x,
        "channel": "resident_web",
        "reporter": {"name": "王芳", "phone": "13800001111"},
        **body,
    }
    response = city_client.post("/api/v1/cases", json=payload, headers=auth("resident"))
    assert response.status_code == 201, response.text
    return dict(response.json())


def act(client: TestClient, headers: dict[str, str], case_id: int, action: str, **body: Any) -> Any:
    response = client.post(
        f"/api/v1/cases/{case_id}/actions", json={"action": action, **body}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def street_unit(city: City) -> str:
    return f"{grid(city).code[:9]}-ZFD"


def registered(city: City, city_client: TestClient, auth: Any, where: Any = None) -> int:
    case_id = int(report(city_client, auth, where or grid(city))["id"])
    for action in ("accept", "register"):
        act(city_client, auth("dispatcher"), case_id, action)
    return case_id


def row_of(page: str, case_id: int) -> str:
    return page.split(f'<tr id="case-{case_id}"', 1)[1].split("</tr>", 1)[0]


# ------------------------------------------------------------------ returned, yellow


def test_a_returned_case_comes_back_to_the_queue_with_its_unit_and_reason(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    act(city_client, auth("dispatcher"), case_id, "dispatch", department=street_unit)
    act(city_client, auth.unit(street_unit), case_id, "return", reason="不属于本单位职责范围")

    dispatcher = as_("dispatcher")
    row = row_of(dispatcher.get("/dispatch?status=registered").text, case_id)
    assert "badge returned" in row and "退回" in row
    assert "不属于本单位职责范围" in row
    detail = dispatcher.get(f"/cases/{case_id}").text
    assert "returned-note" in detail and "不属于本单位职责范围" in detail
    # Dispatched again, it is no longer "returned".
    act(city_client, auth("dispatcher"), case_id, "dispatch", department=street_unit)
    row = row_of(dispatcher.get("/dispatch").text, case_id)
    assert "badge returned" not in row


def test_the_yellow_filter_lists_the_cases_past_three_quarters_of_their_step(
    city: City,
    city_client: TestClient,
    auth: Any,
    as_: Persona,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = report(city_client, auth, grid(city))
    with UnitOfWork(city.platform.session_factory) as uow:
        warn, deadline = uow.session.execute(
            select(cases_table.c.warn_at, cases_table.c.deadline_at).where(
                cases_table.c.id == case["id"]
            )
        ).one()
    # The clock at 80 % of the accept step: the new case shows yellow, not yet red.
    later = warn + (deadline - warn) / 5
    monkeypatch.setattr(city.platform.cases, "clock", lambda: later)
    dispatcher = as_("dispatcher")
    page = dispatcher.get("/dispatch?yellow=1&status=reported").text
    assert f'id="case-{case["id"]}"' in page
    lights = {light for light in _lights(page)}
    assert lights == {"yellow"}
    assert 'name="yellow" value="1" checked' in page
    queue = dispatcher.get("/dispatch/queue?yellow=1", headers={"HX-Request": "true"})
    assert "yellow=1" in queue.headers["HX-Replace-Url"]


def _lights(page: str) -> list[str]:
    import re

    return re.findall(r'<tr id="case-\d+" data-id="\d+" data-light="(\w+)"', page)


# ------------------------------------------------------------------ the map


def open_with_points(city: City, path_prefix: str | None) -> int:
    with UnitOfWork(city.platform.session_factory) as uow:
        stmt = select(func.count()).where(
            cases_table.c.status.in_(
                [
                    "reported",
                    "accepted",
                    "registered",
                    "dispatched",
                    "in_progress",
                    "suspended",
                    "resolved",
                    "verified",
                ]
            ),
            cases_table.c.lat.is_not(None),
        )
        if path_prefix:
            stmt = stmt.where(cases_table.c.area_path.startswith(path_prefix))
        return int(uow.session.execute(stmt).scalar_one())


def test_the_map_counts_every_page_of_the_queue_in_its_view(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    centre = grid(city).geometry.representative_point()
    ids = set()
    for n in (1, 2, 3):  # some metres apart, away from other tests' cases
        at = {"lat": centre.y + n * 0.0003, "lon": centre.x + 0.0004}
        ids.add(report(city_client, auth, grid(city), **at)["id"])
    dispatcher = as_("dispatcher")
    everything = dispatcher.get("/dispatch/points?zoom=3").json()
    assert everything["total"] == open_with_points(city, None)
    assert everything["total"] == sum(c[2] for c in everything["clusters"])
    assert len(everything["clusters"]) < everything["total"]  # counted, not listed
    # Close up, each case is its own dot, named.
    box = f"{centre.x - 0.001},{centre.y - 0.001},{centre.x + 0.001},{centre.y + 0.002}"
    close = dispatcher.get(f"/dispatch/points?bbox={box}&zoom=19&status=reported").json()
    singles = {c[4]: c for c in close["clusters"] if c[2] == 1}
    assert ids <= set(singles)
    assert all(singles[i][5] and singles[i][3] in {"green", "yellow", "red"} for i in ids)


def test_the_map_of_a_street_cadre_holds_only_her_street(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    report(city_client, auth, far_grid(city))
    cadre = as_("cadre")
    street = city.area(grid(city).code[:9])
    answer = cadre.get("/dispatch/points?zoom=3").json()
    assert answer["total"] == open_with_points(city, street.path)


def test_the_map_answers_stay_bounded_and_bad_views_are_named(as_: Persona) -> None:
    dispatcher = as_("dispatcher")
    wide = dispatcher.get("/dispatch/points?bbox=-180,-90,180,90&zoom=22").json()
    assert len(wide["clusters"]) <= MAP_MAX_CELLS
    bad = dispatcher.get("/dispatch/points?bbox=104,30,103,31&zoom=12")
    assert bad.status_code == 422 and "西" in bad.json()["error"]["message"]
    zoom = dispatcher.get("/dispatch/points?zoom=99")
    assert zoom.status_code == 422 and "0 到 22" in zoom.json()["error"]["message"]
    words = dispatcher.get("/dispatch/points?bbox=a,b,c,d")
    assert words.status_code == 422


# ------------------------------------------------------------------ pushed


def events_of(body: str) -> list[tuple[str, str, Any]]:
    """(id, event, data) of each server-sent event in BODY."""
    found = []
    for block in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields.get("id", ""), fields["event"], json.loads(fields["data"])))
    return found


def feed_now(client: TestClient) -> str:
    ((event_id, name, _),) = events_of(client.get("/dispatch/stream").text)
    assert name == "ready"
    return event_id


def test_the_stream_tells_each_reader_only_of_the_cases_she_may_see(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    dispatcher, cadre = as_("dispatcher"), as_("cadre")
    after = feed_now(dispatcher)
    near = report(city_client, auth, grid(city))["id"]
    far = report(city_client, auth, far_grid(city))["id"]

    seen = events_of(dispatcher.get(f"/dispatch/stream?after={after}").text)
    (last_id, name, data) = seen[-1]
    assert name == "changes" and int(last_id) > int(after)
    assert {(c["id"], c["new"], c["matches"]) for c in data["cases"]} >= {
        (near, True, True),
        (far, True, True),
    }
    (_, _, mine) = events_of(cadre.get(f"/dispatch/stream?after={after}").text)[-1]
    assert near in {c["id"] for c in mine["cases"]}
    assert far not in {c["id"] for c in mine["cases"]}  # another street's: not even its number

    # The filters say whether a change matters to the page: a new case is not "registered".
    (_, _, filtered) = events_of(
        dispatcher.get(f"/dispatch/stream?after={after}&status=registered").text
    )[-1]
    assert not any(c["matches"] for c in filtered["cases"] if c["id"] in (near, far))
    # Reconnecting with Last-Event-ID goes on from there: nothing new, nothing said.
    again = dispatcher.get("/dispatch/stream", headers={"Last-Event-ID": last_id})
    assert [e for e in events_of(again.text) if e[1] == "changes"] == []
    # A unit's handler does not read the queue's stream at all.
    auth.unit(street_unit)
    assert as_(f"h.{street_unit}").get("/dispatch/stream").status_code == 403


def test_an_open_stream_pushes_a_new_case_within_seconds(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    dispatcher = as_("dispatcher")
    after = feed_now(dispatcher)
    arrived: list[dict[str, Any]] = []
    listening = threading.Event()

    def listen() -> None:
        headers = {"Accept": "text/event-stream"}
        with dispatcher.stream("GET", f"/dispatch/stream?after={after}", headers=headers) as s:
            listening.set()
            for line in s.iter_lines():
                if line.startswith("data: "):
                    arrived.append(json.loads(line[6:]))
                    if any(c["new"] for c in arrived[-1].get("cases", [])):
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert listening.wait(10)
    sent = time.monotonic()
    case_id = report(city_client, auth, grid(city))["id"]
    listener.join(15)
    assert not listener.is_alive(), "no push within 15 s"
    assert case_id in {c["id"] for c in arrived[-1]["cases"]}
    assert time.monotonic() - sent < 15


# ------------------------------------------------------------------ spreadsheets


def sheet_of(response: Any) -> tuple[list[str], list[list[Any]], list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml"
    )
    book = load_workbook(io.BytesIO(response.content))
    rows = [list(r) for r in book.active.iter_rows(values_only=True)]
    top = next(n for n, r in enumerate(rows) if r[0] == "案件编号")
    notes = [str(r[0]) for r in rows[:top] if r[0]]
    return [str(c) for c in rows[top]], rows[top + 1 :], notes


def test_the_export_holds_every_page_masked_for_its_reader_in_the_citys_time(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    case = report(city_client, auth, grid(city))
    dispatcher, leader = as_("dispatcher"), as_("leader")
    with UnitOfWork(city.platform.session_factory) as uow:
        before = uow.session.execute(
            select(func.count()).where(
                audit_entries.c.actor == "dispatcher", audit_entries.c.action == "export"
            )
        ).scalar_one()
    columns, rows, notes = sheet_of(dispatcher.get("/cases.xlsx?status=reported"))
    ours = next(r for r in rows if r[0] == case["id"])
    by = dict(zip(columns, ours, strict=False))
    assert by["上报人电话"] == "13800001111" and by["上报人"] == "王芳"
    assert by["状态"] == "已上报"  # in words, never "reported"
    created = datetime.fromisoformat(case["created_at"].replace("Z", "+00:00"))
    local = created.astimezone(ZONE).replace(tzinfo=None, second=0, microsecond=0)
    assert abs(by["上报时间"] - local) < timedelta(minutes=1)
    assert any("Asia/Shanghai" in n for n in notes)
    # Every page: as many rows as the queue counts for the same filter.
    total = dispatcher.get("/api/v1/cases?status=reported&page=1").json()
    assert len(rows) == total["total"] or total["total"] >= 1000
    with UnitOfWork(city.platform.session_factory) as uow:
        after = uow.session.execute(
            select(func.count()).where(
                audit_entries.c.actor == "dispatcher", audit_entries.c.action == "export"
            )
        ).scalar_one()
    assert after > before  # names and phones written out in full: logged

    columns, rows, _ = sheet_of(leader.get("/cases.xlsx?status=reported"))
    by = dict(zip(columns, next(r for r in rows if r[0] == case["id"]), strict=False))
    assert by["上报人电话"] == "138****1111" and by["上报人"] != "王芳"

    english = load_workbook(io.BytesIO(dispatcher.get("/cases.xlsx?lang=en").content)).active
    headings = [c for row in english.iter_rows(max_row=6, values_only=True) for c in row]
    assert "Reporter's phone" in headings


def test_a_unit_exports_its_own_cases_only(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    act(city_client, auth("dispatcher"), case_id, "dispatch", department=street_unit)
    auth.unit(street_unit)
    handler = as_(f"h.{street_unit}")
    columns, rows, _ = sheet_of(handler.get("/cases.xlsx"))
    ids = {r[0] for r in rows}
    assert case_id in ids
    with UnitOfWork(city.platform.session_factory) as uow:
        theirs = set(
            uow.session.execute(
                select(cases_table.c.id).where(cases_table.c.department_code == street_unit)
            ).scalars()
        )
    assert ids <= theirs
    by = dict(zip(columns, next(r for r in rows if r[0] == case_id), strict=False))
    assert by["上报人电话"] == "138****1111"


# ------------------------------------------------------------------ the sheet


def test_the_dispatch_sheet_prints_the_case_for_staff_masked_for_each(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    act(city_client, auth("dispatcher"), case_id, "dispatch", department=street_unit)
    sheet = as_("dispatcher").get(f"/cases/{case_id}/sheet").text
    assert "派遣单" in sheet and f"编号 {case_id}" in sheet
    assert "13800001111" in sheet and "签收人" in sheet
    assert "queue.css" in sheet  # its print stylesheet
    auth.unit(street_unit)
    for_unit = as_(f"h.{street_unit}").get(f"/cases/{case_id}/sheet").text
    assert "138****1111" in for_unit and "13800001111" not in for_unit
    assert as_("resident").get(f"/cases/{case_id}/sheet", headers=HTML).status_code == 403


# ------------------------------------------------------------------ the whistle


def test_a_whistle_with_a_reason_and_a_meeting_reaches_the_co_handlers(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    police = street_unit.replace("ZFD", "PCS")
    market = street_unit.replace("ZFD", "SCJ")
    units = [street_unit, police]
    if market in {d.code for d in city.plan.departments}:
        units.append(market)
    for unit in units:
        auth.unit(unit)
    case_id = registered(city, city_client, auth)
    dispatcher = as_("dispatcher")
    page = dispatcher.get(f"/cases/{case_id}").text
    assert "data-unit-picker" in page and 'name="meeting_at"' in page

    meeting = (utcnow() + timedelta(days=2)).astimezone(ZONE).replace(second=0, microsecond=0)
    no_reason = dispatcher.post(
        f"/cases/{case_id}/act",
        data={"action": "whistle", "departments": units, "lead": street_unit},
        follow_redirects=False,
    )
    assert no_reason.status_code == 422 and "data-unit-picker" in no_reason.text
    assert "请填写吹哨的理由" in no_reason.text  # the action and the field, in words
    api_no_reason = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={"action": "whistle", "departments": units, "lead": street_unit},
        headers={**auth("dispatcher"), "Accept-Language": "en"},
    )
    assert api_no_reason.status_code == 422
    assert "Give the reason for the whistle" in api_no_reason.text
    no_zone = city_client.post(
        f"/api/v1/cases/{case_id}/actions",
        json={
            "action": "whistle",
            "departments": units,
            "lead": street_unit,
            "reason": "联合",
            "meeting_at": "2030-03-02T10:15:00",
        },
        headers=auth("dispatcher"),
    )
    assert no_zone.status_code == 422  # the API's time says its offset
    done = dispatcher.post(
        f"/cases/{case_id}/act",
        data={
            "action": "whistle",
            "departments": units,
            "lead": street_unit,
            "reason": "占道经营引发纠纷，需联合处置",
            "meeting_at": meeting.strftime("%Y-%m-%dT%H:%M"),
            "next": "/dispatch",
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert "done=whistle" in done.headers["location"]
    confirmed = dispatcher.get(done.headers["location"]).text
    assert "“吹哨（多部门）”已完成" in confirmed and "收件箱" in confirmed

    view = city_client.get(f"/api/v1/cases/{case_id}", headers=auth("admin")).json()
    whistle = next(e for e in view["timeline"] if e["action"] == "whistle")
    assert whistle["note"] == "占道经营引发纠纷，需联合处置"
    assert datetime.fromisoformat(whistle["data"]["meeting_at"]) == meeting
    timeline = dispatcher.get(f"/cases/{case_id}").text
    shown = f"{meeting.year}年{meeting.month}月{meeting.day}日 {meeting:%H:%M}"
    assert f"会商时间：{shown}" in timeline

    with UnitOfWork(city.platform.session_factory) as uow:
        bodies = dict(
            uow.session.execute(
                select(outbox.c.recipient, outbox.c.body).where(
                    outbox.c.record_kind == "case", outbox.c.record_id == case_id
                )
            ).all()
        )
    told = bodies[f"user:h.{police}"]
    assert "请贵单位及时报到" in told and "占道经营引发纠纷" in told and shown in told

    helper = as_(f"h.{police}")
    card = helper.get("/inbox").text.split(f'id="case-{case_id}"', 1)[1].split("</article>")[0]
    assert "吹哨" in card and "牵头" in card and "未报到" in card
    back = helper.post(
        f"/cases/{case_id}/act",
        data={"action": "check_in", "note": "民警已到场", "next": f"/inbox#case-{case_id}"},
        follow_redirects=False,
    )
    inbox = helper.get(back.headers["location"]).text
    card = inbox.split(f'id="case-{case_id}"', 1)[1].split("</article>")[0]
    assert "已报到" in card and "check_in" not in card
    assert "“报到”已完成" in inbox and "仍在本列表" in inbox


def test_a_meeting_in_the_past_or_not_a_time_is_refused_on_the_page(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    dispatcher = as_("dispatcher")
    units = [street_unit, street_unit.replace("ZFD", "PCS")]
    for moment, words in (("2001-01-01T09:00", "会商时间已过"), ("next week", "不是有效的日期")):
        refused = dispatcher.post(
            f"/cases/{case_id}/act",
            data={
                "action": "whistle",
                "departments": units,
                "reason": "联合",
                "meeting_at": moment,
            },
        )
        assert refused.status_code == 422 and words in refused.text
        assert f'value="{moment}"' in refused.text  # what she typed stays


# ------------------------------------------------------------------ finished cases


def test_closed_cases_are_listed_by_their_state_or_with_every_state(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    dispatcher = auth("dispatcher")
    unit = auth.unit(street_unit)
    act(city_client, dispatcher, case_id, "dispatch", department=street_unit)
    act(city_client, unit, case_id, "start")
    act(city_client, unit, case_id, "resolve", note="已清运")
    act(city_client, dispatcher, case_id, "verify")
    act(city_client, dispatcher, case_id, "close", note="已办结")
    still_open = registered(city, city_client, auth)

    page = as_("dispatcher")

    # Looked up by number (the one search box), so the shared city's other cases, more
    # than a page of them by now, do not push these two off the first page.
    def listed(status: str, number: int) -> str:
        return page.get(f"/dispatch?status={status}&q={number}").text

    assert f'id="case-{case_id}"' not in listed("", case_id)  # open cases by default
    closed = listed("closed", case_id)
    assert f'id="case-{case_id}"' in closed
    assert f'id="case-{still_open}"' not in listed("closed", still_open)
    assert '<option value="closed" selected>已结案</option>' in closed
    every = listed("any", still_open)
    assert f'id="case-{still_open}"' in every and f'id="case-{case_id}"' in listed("any", case_id)
    assert "全部状态（含已结案）" in every
    unknown = page.get("/dispatch?status=finished")
    assert "没有“finished”这个状态，请从“状态”列表中选择" in unknown.text
    columns, rows, _ = sheet_of(page.get("/cases.xlsx?status=closed"))
    assert case_id in {r[0] for r in rows}
    assert {r[columns.index("状态")] for r in rows} == {"已结案"}


# ------------------------------------------------------------------ confirmations


def test_a_unit_returning_a_case_is_told_it_left_the_inbox_for_the_centre(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    act(city_client, auth("dispatcher"), case_id, "dispatch", department=street_unit)
    auth.unit(street_unit)
    handler = as_(f"h.{street_unit}")
    back = handler.post(
        f"/cases/{case_id}/act",
        data={"action": "return", "reason": "不归我们管", "next": "/inbox"},
        follow_redirects=False,
    )
    page = handler.get(back.headers["location"]).text
    assert f"案件 {case_id}：“退回”已完成" in page
    assert "在指挥中心，等待派遣" in page and "已移出本列表" in page


def test_the_queue_row_says_where_a_one_click_dispatch_sent_the_case(
    city: City, city_client: TestClient, auth: Any, as_: Persona, street_unit: str
) -> None:
    case_id = registered(city, city_client, auth)
    row = as_("dispatcher").post(
        f"/dispatch/cases/{case_id}/act",
        data={"action": "dispatch", "department": street_unit},
        headers={"HX-Request": "true"},
    )
    assert "“派遣”已完成" in row.text and "收件箱" in row.text


def test_rows_redraw_only_cases_the_reader_may_see(
    city: City, city_client: TestClient, auth: Any, as_: Persona
) -> None:
    near = report(city_client, auth, grid(city))["id"]
    far = report(city_client, auth, far_grid(city))["id"]
    rows = as_("cadre").get(f"/dispatch/rows?ids={near},{far},abc").text
    assert f'id="case-{near}"' in rows and f'id="case-{far}"' not in rows
