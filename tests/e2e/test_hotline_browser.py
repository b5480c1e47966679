"""The hotline agent (坐席员) in headless Chromium at a desk, on the demo city: a caller
phones, the agent types her number and sees her earlier case, types a registry address and
what happened, confirms one of the categories the form offers, and sends "register and
dispatch now"; the page says which case it became and where it went, all in under a minute.
The dispatch page's one search box then finds the case by the caller's phone and by a word
of its address. The form also fits a 390-px phone."""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

from tests.e2e import test_browser as browser
from tests.e2e.test_browser import PHONE_POSITION, Server, api, log_in, token_of

# The fixtures: the demo city's server and a browser tab.
server = browser.server
page = browser.page

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1366, "height": 800}
CALLER = "13512340000"


def earlier_case(server: Server) -> int:
    """A case the caller reported last week, taken in by the hotline."""
    body = {
        "description": "E2E热线旧案：楼下路灯不亮，晚上出门看不见",
        "category": "CR01",
        "lat": PHONE_POSITION["latitude"],
        "lon": PHONE_POSITION["longitude"],
        "channel": "hotline",
        "reporter": {"phone": CALLER, "name": "李先生"},
    }
    case = api(server, "/api/v1/cases", body, token_of(server, "dispatcher"))
    return int(str(case["id"]))


def test_a_phoned_in_report_becomes_a_dispatched_case_in_under_a_minute(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    page.set_viewport_size(DESKTOP)
    earlier = earlier_case(server)
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/dispatch")
    # A standard address of the demo registry, as the agent will spell it.
    found = page.request.get(server.url + "/hotline/addresses?q=" + urllib.parse.quote("单元"))
    address = found.json()[0]["text"]

    started = time.monotonic()
    page.click("#new-call")
    page.wait_for_url("**/hotline")
    page.fill("#hotline-phone", "135 1234 0000")
    history = page.locator(f"#caller-history .caller-case[data-id='{earlier}']")
    history.wait_for(timeout=10_000)
    assert "E2E热线旧案" in history.inner_text() or "路灯" in history.inner_text()
    assert history.locator("button.add-call").count() == 1

    page.fill("#hotline-address", address)
    page.wait_for_selector("#address-note.placed", timeout=10_000)
    page.fill("#hotline-description", "E2E热线新件：小区门口垃圾桶满溢，垃圾堆了一地没人清运")
    chips = page.locator("#hotline-suggestions .chip")
    chips.first.wait_for(timeout=10_000)
    offered = chips.evaluate_all("cs => cs.map(c => c.dataset.code)")
    assert 1 <= len(offered) <= 3
    # Offered with the suggester's confidence, never chosen for the agent: she confirms.
    assert re.search(r"\d+%", chips.first.inner_text())
    assert page.locator("#hotline-category").input_value() == ""
    chips.first.click()
    assert page.locator("#hotline-category").input_value() == offered[0]

    page.click("#register-dispatch")
    done = page.locator("#hotline-done")
    done.wait_for(timeout=15_000)
    elapsed = time.monotonic() - started
    said = done.inner_text()
    assert "已登记并派遣给" in said, said
    case_id = int(re.findall(r"案件 (\d+)", said)[0])
    assert elapsed < 60, elapsed
    print(f"hotline intake: {elapsed:.1f} s from the dispatch page to a dispatched case")

    # The one search box finds it by the caller's phone and by a word of its address.
    page.goto(server.url + "/dispatch")
    page.fill("#filter-q", CALLER)
    page.press("#filter-q", "Enter")
    page.wait_for_url(f"**q={CALLER}*", timeout=10_000)
    page.locator(f"#queue #case-{case_id}").wait_for(timeout=10_000)
    road = address.split("号")[0]
    page.fill("#filter-q", f"{road} E2E热线新件")
    page.press("#filter-q", "Enter")
    page.wait_for_url(lambda url: CALLER not in url and "q=" in url, timeout=10_000)
    page.locator(f"#queue #case-{case_id}").wait_for(timeout=10_000)
    assert page.locator(f"#queue #case-{earlier}").count() == 0


def test_the_hotline_form_fits_a_phone(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    """An agent taking a call on a phone: the form fits 390 px without sideways scrolling,
    and the caller's earlier case is there."""
    page.set_viewport_size({"width": 390, "height": 844})
    earlier = earlier_case(server)
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/hotline")
    page.fill("#hotline-phone", CALLER)
    page.locator(f"#caller-history .caller-case[data-id='{earlier}']").wait_for(timeout=10_000)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
    assert page.locator("#register-dispatch").is_visible()
