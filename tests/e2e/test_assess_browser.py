"""Assessment and the command centre in headless Chromium, on the demo city with its
three months of history: a leader ranks, drills down to the cases and downloads the
reports on a desktop and a phone; an editor changes a weight (refused naming the field,
then saved as a version); a unit appeals and the leader accepts; the wall screen redraws
by push within five seconds of a new case."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.e2e import test_browser
from tests.e2e.test_browser import PHONE_POSITION, Server, api, log_in, token_of

# The same demo-city server and browser page as the other browser tests.
server = test_browser.server
page = test_browser.page

pytestmark = pytest.mark.e2e


def get(server: Server, path: str, token: str) -> object:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def last_frozen(server: Server, token: str) -> str:
    from datetime import date

    today = date.today()
    month = f"{today.year - (today.month == 1):04d}-{(today.month - 2) % 12 + 1:02d}"
    answer = get(server, f"/api/v1/assess/months/{month}", token)
    assert isinstance(answer, dict) and answer["state"] == "frozen"
    return month


def no_sideways_scrolling(page, width: int) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def test_a_leader_ranks_drills_down_and_downloads_the_reports(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, server, "leader", server.passwords["leader"])  # she lands on her wall
    page.click("#command-assess")
    page.wait_for_selector("#ranking tbody tr")
    month = last_frozen(server, token_of(server, "leader"))
    page.goto(f"{server.url}/assess?month={month}&scheme=region_street")
    rows = page.locator("#ranking tbody tr")
    assert rows.count() >= 10
    assert page.locator(".badge.state-frozen").count() == 1
    assert page.locator("#ranking .trend").count() == rows.count()
    first = rows.first.locator("td.figure small a").nth(1)  # a denominator
    expected = int(first.inner_text())
    first.click()
    page.wait_for_selector("#case-lines li, .empty")
    assert page.locator("#case-lines li").count() == expected
    page.go_back()
    with page.expect_download() as excel:
        page.click("#download-xlsx")
    assert excel.value.suggested_filename.endswith(".xlsx")
    with page.expect_download() as pdf:
        page.click("#download-pdf")
    assert pdf.value.suggested_filename.endswith(".pdf")


def test_the_rankings_on_a_phone_and_in_english(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, "cadre", server.passwords["cadre"])
    page.goto(server.url + "/assess?scheme=region_grid")
    page.wait_for_selector("#ranking tbody tr")
    # Her street's grids only.
    codes = page.locator("#ranking tbody tr").evaluate_all("rows => rows.map(r => r.dataset.code)")
    assert codes and all(code.startswith("990101001") for code in codes)
    no_sideways_scrolling(page, 390)
    page.click("#lang-switch")
    page.wait_for_selector("text=Rankings")
    assert "Score" in page.locator("#ranking thead").inner_text()
    page.goto(server.url + "/assess/indicators/ontime_closure_rate")
    assert "On-time closure rate" in page.locator("h1").inner_text()
    assert "of those" in page.locator("#def-numerator").inner_text()
    no_sideways_scrolling(page, 390)


def test_an_editor_changes_a_weight_refused_first_naming_the_field(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    log_in(page, server, "admin", server.passwords["admin"])
    page.goto(server.url + "/assess/schemes/hotline")
    page.fill("#weight-0", "40")  # 40 + 30 + 40: 110 %
    page.fill("#reason", "响应率更重要")
    page.click("#save-scheme")
    error = page.locator("#error")
    error.wait_for()
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]  # the refusal's page
    assert "weights" in error.inner_text() and "110" in error.inner_text()
    assert page.locator("#weight-0").input_value() == "40"  # what she typed is kept
    page.fill("#weight-2", "30")
    page.click("#save-scheme")
    page.wait_for_selector("#done")
    assert "第 1 版" in page.locator("#done").inner_text()
    assert "40%" in page.locator(".scheme-items").inner_text()


def test_a_unit_appeals_and_the_leader_accepts(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    leader = token_of(server, "leader")
    month = last_frozen(server, leader)
    unit = "990101-CGJ"  # the demo handler's unit
    cases = get(
        server,
        f"/api/v1/assess/rankings/cases?month={month}&indicator=closure_rate&object=unit"
        f"&code={unit}&part=denominator",
        leader,
    )
    assert isinstance(cases, list) and cases
    case_id = cases[-1]["id"]
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, "handler", server.passwords["handler"])
    page.goto(server.url + "/assess/appeals")
    page.fill("#appeal-month", month)
    page.fill("#appeal-case", str(case_id))
    page.fill("#appeal-reason", "该案因上级部门审批延误，非本单位原因")
    page.click("#file-appeal")
    page.wait_for_selector("#done")
    appeal = page.locator(".appeal").first
    assert str(case_id) in appeal.inner_text()
    no_sideways_scrolling(page, 390)
    page.context.clear_cookies()
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, server, "leader", server.passwords["leader"])
    page.goto(server.url + "/assess/appeals?state=filed")
    mine = page.locator(".appeal", has_text=str(case_id)).first
    mine.locator("input[name=note]").fill("经核实属实")
    mine.locator("button[value=accept]").click()
    page.wait_for_selector("#done")
    assert "重算" in page.locator("#done").inner_text()


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768), (390, 844)])
def test_the_command_centre_redraws_by_push_within_five_seconds(
    server: Server,
    page,  # type: ignore[no-untyped-def]
    size: tuple[int, int],
) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})
    log_in(page, server, "leader", server.passwords["leader"])
    page.goto(server.url + "/command")
    page.wait_for_selector("#live.on", timeout=10_000)
    tile = page.locator('[data-tile="reported_today"]')
    before = int(tile.inner_text())
    page.wait_for_selector("#command-map[data-points]")
    assert int(page.locator("#command-map").get_attribute("data-points") or 0) > 0
    no_sideways_scrolling(page, size[0])
    sent = time.monotonic()
    api(
        server,
        "/api/v1/cases",
        {
            "description": "井盖缺失，行人容易踩空",
            "category": "CR01",
            "lat": PHONE_POSITION["latitude"],
            "lon": PHONE_POSITION["longitude"],
            "channel": "hotline",
        },
        token_of(server, "dispatcher"),
    )
    page.wait_for_function(
        "(before) => Number(document.querySelector('[data-tile=\"reported_today\"]')"
        ".textContent) > before",
        arg=before,
        timeout=5_000,
    )
    assert time.monotonic() - sent < 5
