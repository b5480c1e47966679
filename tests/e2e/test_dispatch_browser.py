"""The dispatch centre in headless Chromium, on the demo city: the queue shows a case its
unit sent back and filters by yellow light, with every page of the queue on the map
(desktop); a case reported meanwhile arrives in the open queue without reloading (phone);
the list downloads as a spreadsheet and a case opens as a dispatch sheet to print
(desktop); a whistle summons three units chosen by typing their names, and a summoned
unit's card says it is a whistle, who leads, and 已报到 once it reports in (desktop, then
the unit on a phone)."""

from __future__ import annotations

import io
import json
import urllib.request
from typing import Any

import pytest

from tests.e2e import test_browser as browser
from tests.e2e.test_browser import PHONE_POSITION, Server, api, log_in, token_of

# The fixtures: the demo city's server and a browser tab.
server = browser.server
page = browser.page

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


def get(server: Server, path: str, token: str) -> Any:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def new_case(server: Server, description: str, **fields: Any) -> int:
    body = {
        "description": description,
        "category": "CR01",
        "lat": PHONE_POSITION["latitude"],
        "lon": PHONE_POSITION["longitude"],
        "channel": "resident_web",
        **fields,
    }
    case = api(server, "/api/v1/cases", body, token_of(server, "resident"))
    return int(str(case["id"]))


def act(server: Server, token: str, case_id: int, action: str, **body: Any) -> dict[str, Any]:
    return api(server, f"/api/v1/cases/{case_id}/actions", {"action": action, **body}, token)


def registered(server: Server, description: str) -> int:
    case_id = new_case(server, description)
    dispatcher = token_of(server, "dispatcher")
    act(server, dispatcher, case_id, "accept")
    act(server, dispatcher, case_id, "register")
    return case_id


def no_sideways_scrolling(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], width


def test_the_queue_shows_a_returned_case_and_filters_by_yellow_light(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(DESKTOP)
    handler = token_of(server, "handler")
    unit = get(server, "/api/v1/auth/me", handler)["department_code"]
    case_id = registered(server, "E2E退回：井盖缺失，行人险些踩空")
    act(server, token_of(server, "dispatcher"), case_id, "dispatch", department=unit)
    act(server, handler, case_id, "return", reason="井盖属于供水公司，不是城管的事")

    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/dispatch?q=E2E退回")
    row = page.locator(f"#case-{case_id}")
    row.wait_for()
    assert "退回" in row.locator(".badge.returned").inner_text()
    assert "井盖属于供水公司" in row.inner_text()

    # Every page of the queue is on the map, not only the 50 rows listed.
    page.goto(server.url + "/dispatch")
    page.wait_for_selector("#case-map[data-loaded]", timeout=20_000)
    listed = page.locator("#queue tr[data-id]").count()
    on_map = int(page.locator("#case-map").get_attribute("data-cases") or 0)
    assert listed == 50 and on_map > listed
    assert page.locator("#case-map .case-cluster").count() > 0  # counted per cell

    page.check("input[name=yellow]")
    page.wait_for_url("**yellow=1**")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#queue tr[data-id]')]"
        ".every(r => r.dataset.light === 'yellow')"
    )
    lights = page.locator("#queue tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.light)"
    )
    assert lights and set(lights) == {"yellow"}
    # The map shows the same cases as the filtered list.
    page.wait_for_function(
        "() => document.querySelector('#case-map').dataset.cases !== undefined"
        " && Number(document.querySelector('#case-map').dataset.cases) <= 1000"
    )


def test_a_new_case_arrives_in_the_open_queue_without_reloading(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size(PHONE)
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/dispatch?q=E2E推送")
    page.wait_for_selector("#queue-live[data-connected='true']", timeout=20_000)
    page.evaluate("() => { window.stillTheSamePage = true; }")
    assert page.locator("#queue tr[data-id]").count() == 0

    case_id = new_case(server, "E2E推送：路灯不亮，晚上一片漆黑")
    news = page.locator("#queue-live .live-news")
    news.wait_for(state="visible", timeout=15_000)
    assert "1 件新案件" in news.inner_text()
    news.locator("button.live-show").click()
    page.locator(f"#queue #case-{case_id}").wait_for(timeout=10_000)
    assert page.evaluate("() => window.stillTheSamePage === true")  # no reload
    assert news.is_hidden()
    no_sideways_scrolling(page)

    # A change to a row on screen is drawn in place.
    act(server, token_of(server, "dispatcher"), case_id, "accept")
    page.locator(f"#case-{case_id} .status-accepted").wait_for(timeout=15_000)
    assert page.evaluate("() => window.stillTheSamePage === true")


def test_the_list_exports_to_xlsx_and_a_case_prints_as_a_dispatch_sheet(
    server: Server, page
) -> None:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    page.set_viewport_size(DESKTOP)
    case_id = registered(server, "E2E导出：小区门口垃圾桶满溢")
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/dispatch?status=registered")
    with page.expect_download() as waiting:
        page.click("#export-xlsx")
    download = waiting.value
    assert download.suggested_filename.endswith(".xlsx")
    path = download.path()
    assert path is not None
    sheet = load_workbook(io.BytesIO(open(path, "rb").read())).active  # noqa: SIM115
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(r for r in rows if r[0] == "案件编号")
    body = rows[rows.index(header) + 1 :]
    assert {"状态", "上报人电话", "本环节时限"} <= set(header)
    assert case_id in {r[0] for r in body}
    assert {r[header.index("状态")] for r in body} == {"已立案"}  # the filter, all pages

    page.goto(f"{server.url}/cases/{case_id}")
    page.click("#print-sheet")
    page.wait_for_url(f"**/cases/{case_id}/sheet")
    assert "派遣单" in page.locator("h1").inner_text()
    assert "E2E导出" in page.locator(".sheet-table").first.inner_text()
    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden() and page.locator("#print-now").is_hidden()
    page.emulate_media(media="screen")


def test_a_whistle_summons_three_units_typed_by_name_and_one_reports_in(
    server: Server, page
) -> None:  # type: ignore[no-untyped-def]
    admin = token_of(server, "admin")
    case_id = registered(server, "E2E吹哨：夜市占道经营，噪音扰民还堵了消防通道")
    dispatcher = token_of(server, "dispatcher")
    case = get(server, f"/api/v1/cases/{case_id}", dispatcher)
    lead = case["suggested_department"]
    street = lead.split("-")[0]
    units = [u for u in get(server, "/api/v1/departments", dispatcher) if u["area_code"] == street]
    others = [u for u in units if u["code"] != lead][:2]
    chosen = [next(u for u in units if u["code"] == lead), *others]
    helper = others[0]
    api(
        server,
        "/api/v1/users",
        {
            "username": "e2e.helper",
            "password": "helper-password-1",
            "role": "handler",
            "department_code": helper["code"],
        },
        admin,
    )

    page.set_viewport_size(DESKTOP)
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(f"{server.url}/cases/{case_id}")
    form = page.locator("form[data-action='whistle']")
    form.locator("summary").click()
    search = form.locator("input.unit-search")
    # Over two hundred units, no native list to Ctrl-click: typing narrows them.
    assert form.locator("select[name=departments]").is_hidden()
    assert form.locator("select[name=departments] option").count() > 200
    search.fill(chosen[0]["name"])
    shown = form.locator(".unit-option")
    shown.first.wait_for()
    assert 0 < shown.count() < 20
    # The suggested unit is chosen already; the two others are typed in.
    assert form.locator(f".chip.chosen-unit[data-code='{lead}']").count() == 1
    for unit in others:
        search.fill(f"{unit['name']} {unit['code']}")
        form.locator(f".unit-option[data-code='{unit['code']}']").wait_for()
        search.press("Enter")
    assert form.locator(".chip.chosen-unit").count() == 3
    form.locator("select[name=lead]").select_option(lead)
    form.locator("textarea[name=reason]").fill("夜市占道且堵塞消防通道，需执法、公安等联合处置")
    form.locator("input[name=meeting_at]").fill("2030-03-02T10:15")
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/cases/{case_id}?done=whistle*")
    assert "“吹哨（多部门）”已完成" in page.locator(".done-notice").inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "会商时间：2030年3月2日 10:15" in timeline and "夜市占道且堵塞消防通道" in timeline

    # The summoned unit, on a phone: its card says whistle, who leads, and asks it to report in.
    page.context.clear_cookies()
    page.set_viewport_size(PHONE)
    log_in(page, server, "e2e.helper", "helper-password-1")
    page.goto(server.url + "/inbox")
    card = page.locator(f"#case-{case_id}")
    box = card.locator(".whistle-box")
    assert "吹哨" in box.inner_text() and "牵头" in box.inner_text()
    assert "夜市占道" in box.inner_text() and "2030年3月2日" in box.inner_text()
    assert "未报到" in box.locator("li.mine").inner_text()
    card.locator("form[data-action='check_in'] summary").click()
    card.locator("form[data-action='check_in'] textarea[name=note]").fill("民警已到场")
    card.locator("form[data-action='check_in'] button[type=submit]").click()
    page.wait_for_url("**/inbox?done=check_in*")
    card = page.locator(f"#case-{case_id}")
    assert "已报到" in card.locator(".whistle-box li.mine").inner_text()
    assert card.locator("form[data-action='check_in']").count() == 0
    assert "“报到”已完成" in page.locator(".done-notice").inner_text()
    no_sideways_scrolling(page)
