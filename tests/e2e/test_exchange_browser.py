"""Data sharing in headless Chromium: a unit asks for another unit's data on a phone, the
owner approves it at a desk, and the asking unit reads the rows, masked as granted, back on
the phone; no JavaScript error and no sideways scrolling on the way."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.test_browser import Server, civicgrid, log_in, require_browser
from tests.e2e.test_browser import page as browser_tab  # noqa: F401 - a browser tab
from tests.serving import demo_passwords, served

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    db = f"sqlite:///{tmp_path_factory.mktemp('e2e-exchange') / 'city.db'}"
    env = {**os.environ, "CIVICGRID_DATABASE_URL": db, "CIVICGRID_ENVIRONMENT": "test"}
    demo = subprocess.run(
        civicgrid("demo", "--cases", "0", "--registry-people", "2000"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    passwords = demo_passwords(demo.stdout)
    staff = re.search(r"with the password\s+(\S+)", demo.stdout)
    assert staff, demo.stdout
    passwords["units"] = staff.group(1)
    resident = re.search(
        r"The resident (\S+) .*?identity number\s+(\d{17}[\dX])", demo.stdout, re.S
    )
    assert resident, demo.stdout
    passwords["resident_phone"], passwords["resident_number"] = resident.groups()
    log = tmp_path_factory.mktemp("e2e-exchange-log") / "server.log"
    with served(lambda port: civicgrid("serve", "--port", str(port)), env, log) as url:
        yield Server(url, passwords)


def no_sideways_scrolling(tab, width: int = PHONE["width"]) -> None:  # type: ignore[no-untyped-def]
    assert tab.evaluate("() => document.documentElement.scrollWidth") <= width


def log_out(tab, server: Server) -> None:  # type: ignore[no-untyped-def]
    tab.context.clear_cookies()
    tab.goto(server.url + "/")


def test_a_request_is_asked_on_a_phone_approved_at_a_desk_and_read_masked(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
) -> None:
    page = browser_tab
    # The district's urban management asks housing for the houses' owners, on a phone.
    page.set_viewport_size(PHONE)
    log_in(page, server, "handler", server.passwords["handler"])
    page.click("#nav-exchange")
    page.wait_for_selector("#dataset-houses")
    no_sideways_scrolling(page)
    page.click("#dataset-houses a")
    page.wait_for_selector("#ask-submit")
    no_sideways_scrolling(page)
    form = page.locator("form.ask-form")
    for name in ("address_text", "kind", "owner_phone"):
        form.locator(f"input[name=fields][value={name}]").check()
    form.locator("select[name=mask_owner_phone]").select_option("phone")
    form.locator("textarea[name=purpose]").fill("群租房消防隐患排查，联系产权人")
    page.click("#ask-submit")
    page.wait_for_selector("#done")
    assert "申请已提交" in page.locator("#done").inner_text()
    request_url = page.url.split("?")[0]
    assert "等待" in page.locator("h1").inner_text() or "待" in page.locator("h1").inner_text()
    no_sideways_scrolling(page)

    # Housing's staff approve it at a desk; both units see each step.
    log_out(page, server)
    page.set_viewport_size(DESK)
    log_in(page, server, "x.990100-zjj", server.passwords["units"])
    page.goto(server.url + "/exchange/requests?tab=owned")
    page.click(f"a[href='{request_url.replace(server.url, '')}']")
    page.wait_for_selector("#approve")
    assert "群租房消防隐患排查" in page.locator("main").inner_text()
    page.click("#approve")
    page.wait_for_selector("#done")
    assert "已批准" in page.locator("#done").inner_text()
    steps = page.locator("#history").inner_text()
    assert "提出申请" in steps and "批准" in steps and "授权生效" in steps

    # Back on the phone, the asking unit reads the rows, the owners' phones masked.
    log_out(page, server)
    page.set_viewport_size(PHONE)
    log_in(page, server, "handler", server.passwords["handler"])
    page.goto(request_url)
    page.click("#read-granted")
    page.wait_for_selector("table.granted-rows")
    no_sideways_scrolling(page)
    phones = page.locator("table.granted-rows tbody tr td:nth-child(3)").all_inner_texts()
    filled = [p for p in phones if p]
    assert filled and all(re.fullmatch(r"\d{3}\*{4}\d{4}", p) for p in filled)
    assert "138****5678" not in page.locator("#grant-note").inner_text()


def test_a_grant_is_revoked_on_a_phone_a_counter_asks_and_the_resident_sees_the_reads(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
) -> None:
    page = browser_tab
    # At a desk, market regulation looks over the catalogue and the grants it gave.
    page.set_viewport_size(DESK)
    log_in(page, server, "x.990100-sjj", server.passwords["units"])
    page.goto(server.url + "/exchange")
    page.wait_for_selector("#dataset-organisations")
    no_sideways_scrolling(page, DESK["width"])
    page.goto(server.url + "/exchange/grants?side=given")
    no_sideways_scrolling(page, DESK["width"])
    # On a phone it revokes the district's grant of its organisations, with a reason.
    page.set_viewport_size(PHONE)
    page.reload()
    no_sideways_scrolling(page)
    card = page.locator("li.request-card", has=page.locator("form.revoke-inline")).first
    card.locator("input[name=reason]").fill("单位名录正在核对，核对完成后重新授权")
    card.locator("button[type=submit]").click()
    page.wait_for_selector("#done")
    assert page.locator("#done").inner_text()
    assert "单位名录正在核对" in page.locator("main").inner_text()
    no_sideways_scrolling(page)

    # The district's urban management can no longer read them, and is told why.
    log_out(page, server)
    log_in(page, server, "x.990101-cgj", server.passwords["units"])
    page.goto(server.url + "/exchange")
    href = page.locator("#dataset-organisations a").first.get_attribute("href")
    answer = page.goto(server.url + f"{href}/rows")
    assert answer is not None and answer.status == 403
    assert "单位名录正在核对" in page.locator("body").inner_text()
    no_sideways_scrolling(page)
    # Chromium reports the page's 403 on its console: expected here, not a script's error.
    page.errors[:] = [e for e in page.errors if "status of 403" not in e]

    # The district's civil affairs asks at its counter whether a resident is 60 or older.
    log_out(page, server)
    log_in(page, server, "x.990101-mzj", server.passwords["units"])
    page.goto(server.url + "/exchange/verify")
    page.select_option("#question", "age_at_least")
    page.fill("input[name=identity_number]", server.passwords["resident_number"])
    page.fill("input[name=age]", "60")
    page.click("#ask-question")
    page.wait_for_selector("#verdict")
    assert server.passwords["resident_number"] not in page.locator("main").inner_text()
    no_sideways_scrolling(page)

    # The resident sees on her phone who read her data, under which grant.
    log_out(page, server)
    log_in(page, server, server.passwords["resident_phone"], server.passwords["units"])
    page.goto(server.url + "/my/reads")
    page.fill("input[name=identity_number]", server.passwords["resident_number"])
    page.click("#my-reads-form button[type=submit]")
    page.wait_for_selector("#my-reads-list")
    listed = page.locator("#my-reads-list").inner_text()
    assert "市民政局" in listed and "依授权" in listed
    no_sideways_scrolling(page)


def test_an_owner_on_a_phone_sees_a_late_request_in_red_and_its_decision_forms(
    server: Server,
    browser_tab,  # noqa: F811 - the tab fixture imported above  # type: ignore[no-untyped-def]
) -> None:
    page = browser_tab
    page.set_viewport_size(PHONE)
    # Public security: the district's request for people, asked eight days ago, is late.
    log_in(page, server, "x.990100-gaj", server.passwords["units"])
    page.goto(server.url + "/exchange/requests?tab=owned")
    no_sideways_scrolling(page)
    late = page.locator("li", has=page.locator(".light-red")).first
    assert "实有人口" in late.inner_text()
    late.locator("a[href^='/exchange/requests/']").first.click()
    page.wait_for_selector("#approve")
    assert page.locator("#refuse").is_visible() and page.locator("#narrow").count() == 1
    assert page.locator(".light-red").count() >= 1
    no_sideways_scrolling(page)
    # The district's urban management, owner of the vending points, has its upload form
    # and the batch kept for correction on the dataset's page.
    log_out(page, server)
    log_in(page, server, "handler", server.passwords["handler"])
    page.goto(server.url + "/exchange")
    page.click("#dataset-street-vending a")
    page.wait_for_selector("#upload")
    assert page.locator("input[type=file]").count() == 1
    no_sideways_scrolling(page)
    page.set_viewport_size(DESK)
    page.reload()
    no_sideways_scrolling(page, DESK["width"])
