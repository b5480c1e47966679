"""The real pages in headless Chromium: the map loads, a grid opens, a user logs in, a
resident signs up, reports and follows a case on a phone, and no JavaScript error happens
on the way. Needs Debian's chromium (/usr/bin/chromium); CI sets
CIVICGRID_REQUIRE_BROWSER=1 so a missing browser fails instead of skipping."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import DemoCity
from tests.serving import served

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CIVICGRID_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_browser() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"headless Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CIVICGRID_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Server:
    url: str
    passwords: dict[str, str] = field(default_factory=dict)


def civicgrid(*args: str) -> list[str]:
    return [sys.executable, "-m", "civicgrid", *args]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, demo_city: DemoCity) -> Iterator[Server]:
    """A server of this module's own copy of the demo city (tests/e2e/conftest.py builds
    it once), so no module sees another's changes."""
    folder = tmp_path_factory.mktemp("e2e")
    for suffix in ("", "-wal", "-shm"):
        made = demo_city.database.with_name(demo_city.database.name + suffix)
        if made.exists():
            shutil.copyfile(made, folder / made.name)
    db = f"sqlite:///{folder / demo_city.database.name}"
    env = {**os.environ, "CIVICGRID_DATABASE_URL": db, "CIVICGRID_ENVIRONMENT": "test"}
    log = tmp_path_factory.mktemp("e2e-log") / "server.log"
    with served(lambda port: civicgrid("serve", "--port", str(port)), env, log) as url:
        yield Server(url, dict(demo_city.passwords))


# Somewhere inside the demo city (its centre), where the phone says it is.
PHONE_POSITION = {"latitude": 30.66, "longitude": 104.06}


@pytest.fixture
def page(server: Server):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            locale="zh-CN", geolocation=PHONE_POSITION, permissions=["geolocation"]
        )
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
        tab.on(
            "console",
            lambda message: (
                errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        tab.errors = errors  # type: ignore[attr-defined]
        yield tab
        context.close()
        browser.close()
        assert errors == [], "JavaScript errors on the page"


def open_a_grid(page) -> str:  # type: ignore[no-untyped-def]
    page.wait_for_selector("#map[data-ready='true']", timeout=20_000)
    grid = page.locator("path.area-grid").nth(5)
    box = grid.bounding_box()
    assert box is not None
    # Tap the middle of the grid's bounding box, then read which grid answered.
    grid.click(position={"x": box["width"] / 2, "y": box["height"] / 2}, force=True)
    page.wait_for_selector("#detail article.area", timeout=10_000)
    return str(page.locator("#detail article.area").get_attribute("data-code"))


def test_the_home_page_shows_the_map_and_a_grid_opens(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/")
    page.wait_for_selector("#map[data-ready='true']", timeout=20_000)
    assert page.locator("path.area-district").count() == 3
    assert page.locator("path.area-grid").count() == 600
    code = open_a_grid(page)
    assert len(code) == 15
    detail = page.locator("#detail").inner_text()
    assert code in detail and "网格员" in detail


def test_a_cadre_logs_in_and_sees_only_her_street(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/")
    page.click("#login-link")
    page.fill("input[name=username]", "cadre")
    page.fill("input[name=password]", server.passwords["cadre"])
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/command")  # a cadre's daily work: her area's screen
    page.goto(server.url + "/")
    page.wait_for_selector("#map[data-ready='true']", timeout=20_000)
    assert page.locator("path.area-grid").count() == 50  # 5 communities × 10 grids
    code = open_a_grid(page)
    assert code.startswith("990101001")
    assert "· " in page.locator("#detail .workers").inner_text()  # a phone number is shown


def test_the_language_switch_and_a_phone_screen(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    page.click("#lang-switch")
    page.wait_for_selector("text=Whole city")
    open_a_grid(page)
    assert "Grid workers" in page.locator("#detail").inner_text()
    panel = page.locator(".panel").bounding_box()
    assert panel is not None and panel["width"] <= 390


def test_the_language_switch_keeps_the_page_its_filters_and_what_was_typed(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/report")
    form = page.locator("#resident-report")
    form.locator("textarea[name=description]").fill("楼道里的灯坏了三天")
    page.click("#lang-switch")
    page.wait_for_url(server.url + "/report")
    assert page.locator("html").get_attribute("lang") == "en"
    assert form.locator("textarea[name=description]").input_value() == "楼道里的灯坏了三天"
    # The English top bar fits the phone's width.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.goto(server.url + "/dispatch?status=reported")
    page.click("#lang-switch")
    page.wait_for_url(server.url + "/dispatch?status=reported")
    assert page.locator("select[name=status]").input_value() == "reported"
    assert page.locator("html").get_attribute("lang") == "zh-CN"


def test_find_my_grid_opens_the_grid_the_phone_is_in(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    page.wait_for_selector("#map[data-ready='true']", timeout=20_000)
    page.click("button.locate-me")
    page.wait_for_selector("#detail article.area", timeout=10_000)
    code = page.locator("#detail article.area").get_attribute("data-code")
    query = f"lat={PHONE_POSITION['latitude']}&lon={PHONE_POSITION['longitude']}"
    with urllib.request.urlopen(f"{server.url}/api/v1/areas/locate?{query}") as response:
        located = json.load(response)
    assert code == located["grid"]["code"]


def log_in(page, server: Server, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(server.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # Staff land on their daily work (web.pages.LANDING), residents on the map.
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_dispatcher_accepts_a_case_with_one_click(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    log_in(page, server, "dispatcher", server.passwords["dispatcher"])
    page.click("#nav-dispatch")
    page.wait_for_selector("#case-map[data-ready='true']", timeout=20_000)
    page.wait_for_selector("#case-map[data-loaded]", timeout=20_000)  # its points came
    assert int(page.locator("#case-map").get_attribute("data-cases") or 0) > 0
    page.select_option("select[name=status]", "reported")
    # A function, not an expression: Playwright evaluates an expression with eval in the
    # page, which the pages' Content-Security-Policy forbids.
    page.wait_for_function(
        "() => [...document.querySelectorAll('#queue tr[data-id] .status')]"
        ".every(s => s.classList.contains('status-reported'))"
    )
    row = page.locator("#queue tr[data-id]").filter(has=page.locator(".quick-accept")).first
    case_id = row.get_attribute("data-id")
    row.locator(".quick-accept").click()
    accepted = page.locator(f"tr#case-{case_id}")
    accepted.locator(".status-accepted").wait_for(timeout=10_000)
    assert "已完成" in accepted.inner_text()
    assert accepted.locator(".quick-register").count() == 1  # the next step, one click away
    assert page.url.startswith(server.url + "/dispatch?status=reported")  # HTMX, no reload
    page.goto(f"{server.url}/cases/{case_id}")
    timeline = page.locator(".timeline").inner_text()
    assert "受理" in timeline and "dispatcher" in timeline


def test_a_grid_worker_reports_with_a_photo_and_gps_on_a_phone(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    from civicgrid.demo.cases import demo_photo

    # The worker of the grid the phone is in (all grid workers share the printed password).
    query = f"lat={PHONE_POSITION['latitude']}&lon={PHONE_POSITION['longitude']}"
    with urllib.request.urlopen(f"{server.url}/api/v1/areas/locate?{query}") as response:
        grid = json.load(response)["grid"]
    password = next(pw for name, pw in server.passwords.items() if name.startswith("gw"))
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, f"gw{grid['code']}", password)
    page.click("#nav-grid")
    page.click(".report-box summary")
    form = page.locator("#grid-report")
    form.locator("select[name=category]").select_option("SO04")
    form.locator("textarea[name=description]").fill("路口电线杆上贴满小广告")
    form.locator("input[name=photos]").set_input_files(
        files=[{"name": "scene.png", "mimeType": "image/png", "buffer": demo_photo()}]
    )
    page.wait_for_selector(".mini-map[data-ready='true']", timeout=20_000)
    form.locator("button.gps").click()
    page.wait_for_selector("[data-place-picker][data-grid]", timeout=10_000)
    assert form.locator("input[name=lat]").input_value().startswith("30.66")
    status = form.locator(".place-status").inner_text()
    assert grid["name"] in status and "不在您的网格内" not in status
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    form.locator("button[type=submit]").click()
    page.wait_for_url(server.url + "/grid?reported=*")
    case_id = page.url.rsplit("=", 1)[1]
    assert f"已上报，案件编号 {case_id}" in page.locator(".notice").inner_text()
    mine = page.locator(f"#case-{case_id}")
    assert mine.locator("form[data-action='resolve_on_spot']").count() == 1
    page.goto(f"{server.url}/cases/{case_id}")
    photo = page.locator(".timeline .photos img").first
    photo.wait_for()
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=photo.element_handle())
    assert "网格员上报" in page.locator(".case-facts").inner_text()


def api(server: Server, path: str, body: dict[str, object], token: str = "") -> dict[str, object]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        server.url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request) as response:
        answer: dict[str, object] = json.load(response)
        return answer


def test_every_page_keeps_to_the_content_security_policy(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    """The pages of each role load and run without a JavaScript error; a script, a style
    or an eval the policy refuses is one (the page fixture fails on any)."""
    visits = [
        (None, ["/", "/transparency", "/report", "/track", "/signup", "/login"]),
        ("dispatcher", ["/dispatch", "/warnings"]),
        ("data_admin", ["/insight", "/registry"]),
        ("admin", ["/admin/rules", "/admin/outbox"]),
    ]
    for username, paths in visits:
        page.context.clear_cookies()
        if username:
            log_in(page, server, username, server.passwords[username])
        for path in paths:
            answer = page.goto(server.url + path)
            assert answer is not None and answer.ok, path
            policy = answer.headers["content-security-policy"]
            assert "script-src 'self';" in policy, path
            page.wait_for_load_state("networkidle")


def token_of(server: Server, username: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": server.passwords[username]})
    with urllib.request.urlopen(server.url + "/api/v1/auth/token", data=form.encode()) as response:
        return str(json.load(response)["access_token"])


def test_a_resident_signs_up_on_her_phone_and_adds_her_voice_to_a_case_nearby(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    # Someone called the hotline about the same overflowing bins, right where she stands.
    called = api(
        server,
        "/api/v1/cases",
        {
            "description": "垃圾桶满溢，垃圾散落一地",
            "category": "CR01",
            "lat": PHONE_POSITION["latitude"],
            "lon": PHONE_POSITION["longitude"],
            "channel": "hotline",
            "reporter": {"name": "陈先生", "phone": "13800009999"},
        },
        token_of(server, "dispatcher"),
    )
    case_id = called["id"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/report")
    page.click("#signup-link")
    page.fill("input[name=display_name]", "刘芳")
    page.fill("input[name=phone]", "139 0000 7788")
    page.fill("input[name=password]", "rain-on-the-tiles")
    page.fill("input[name=password_again]", "rain-on-the-tiles")
    page.click("form.signup-form button[type=submit]")
    page.wait_for_url(server.url + "/report")
    assert "退出" in page.locator(".topbar").inner_text()  # logged in (the name hides on phones)

    form = page.locator("#resident-report")
    form.locator("textarea[name=description]").fill("小区门口垃圾桶满溢，好几天没人清理")
    chosen = form.locator(".suggestions .chip[aria-pressed='true']")
    chosen.wait_for(timeout=10_000)
    assert chosen.inner_text() == "暴露垃圾"
    assert form.locator("select[name=category]").input_value() == "CR01"
    assert form.locator(".suggestions .chip").count() <= 3
    form.locator("[data-step='1'] .step-next").click()

    page.wait_for_selector(".mini-map[data-ready='true']", timeout=20_000)
    form.locator("button.gps").click()
    page.wait_for_selector("[data-place-picker][data-grid]", timeout=10_000)
    form.locator("[data-step='2'] .step-next").click()

    nearby = form.locator(f".nearby-case[data-id='{case_id}']")
    nearby.wait_for(timeout=10_000)
    assert "附近已有人反映了同样的问题" in form.locator(".nearby-box").inner_text()
    assert "陈" not in nearby.inner_text() and "约 0 米" in nearby.inner_text()
    assert form.locator("input[name=phone]").input_value() == "13900007788"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    nearby.locator(".support-button").click()

    page.wait_for_url(f"{server.url}/cases/{case_id}?joined=1")
    assert f"您已附议案件 {case_id}" in page.locator(".notice").inner_text()
    progress = page.locator(".progress").inner_text()
    assert "收到反映" in progress and "又有一位居民附议（共 1 人）" in progress
    assert "您已附议案件" in page.locator(".answers").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Later, from any phone: the case number and her mobile number.
    page.click("#nav-track")
    page.fill("input[name=number]", str(case_id))
    page.fill("input[name=phone]", "13900007788")
    page.click("form.track-form button[type=submit]")
    page.wait_for_selector(".plain-timeline")
    sentences = page.locator(".plain-timeline .text").all_inner_texts()
    assert sentences == ["收到反映", "又有一位居民附议（共 1 人）"]
    first = page.locator(".plain-timeline time").first.inner_text()
    assert "月" in first and "日" in first and "UTC" not in first  # the city's clock


def test_a_resident_without_an_account_reports_anonymously_and_follows_it(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    from civicgrid.demo.cases import demo_photo

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/report")
    form = page.locator("#resident-report")
    form.locator("textarea[name=description]").fill("路灯不亮，晚上很黑")
    form.locator(".suggestions .chip").first.wait_for(timeout=10_000)
    assert form.locator("select[name=category]").input_value() == "FA03"
    form.locator("[data-step='1'] .step-next").click()
    page.wait_for_selector(".mini-map[data-ready='true']", timeout=20_000)
    box = form.locator(".mini-map").bounding_box()
    assert box is not None
    form.locator(".mini-map").click(position={"x": box["width"] / 2, "y": box["height"] / 2})
    page.wait_for_selector("[data-place-picker][data-grid]", timeout=10_000)
    form.locator("[data-step='2'] .step-next").click()
    form.locator("input[name=photos]").set_input_files(
        files=[{"name": "night.png", "mimeType": "image/png", "buffer": demo_photo()}]
    )
    form.locator("input[name=hidden]").check()
    form.locator("#send-report").click()

    # A mobile number is needed without an account: the form says so at the field.
    error = page.locator("#error-phone")
    error.wait_for()
    assert "手机号" in error.inner_text()
    # The form comes back as a 422, which Chromium logs; that one is expected.
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]
    assert form.locator("textarea[name=description]").input_value() == "路灯不亮，晚上很黑"
    assert form.locator("input[name=hidden]").is_checked()
    assert page.locator(".report-form [data-step='3']").is_visible()
    form.locator("input[name=phone]").fill("13600005566")
    form.locator("input[name=photos]").set_input_files(
        files=[{"name": "night.png", "mimeType": "image/png", "buffer": demo_photo()}]
    )
    form.locator("#send-report").click()
    page.wait_for_url(server.url + "/report?sent=*")
    case_id = page.url.rsplit("=", 1)[1]
    assert f"案件编号 {case_id}" in page.locator(".notice").inner_text()

    page.click(".notice a[href^='/track']")
    assert page.locator("input[name=number]").input_value() == case_id
    page.fill("input[name=phone]", "136 0000 5566")
    page.click("form.track-form button[type=submit]")
    page.wait_for_selector(".plain-timeline")
    assert "我们已收到您的反映" in page.locator(".plain-state").inner_text()
    assert "处理时限" in page.locator(".progress").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_transparency_page_on_a_phone(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/")
    page.click("#nav-transparency")
    page.wait_for_url(server.url + "/transparency")
    page.wait_for_selector("#tp-map[data-ready='true']", timeout=20_000)
    assert "透明治理" in page.locator("h1").inner_text()
    reported = int(page.locator("#fig-reported .value").inner_text())
    assert reported > 0
    assert "%" in page.locator("#fig-on-time .value").inner_text()
    # Recent cases are on the map; those about a person only at their grid's centre.
    assert int(page.locator("#tp-map").get_attribute("data-markers") or 0) > 0
    assert int(page.locator("#tp-map").get_attribute("data-grid-markers") or 0) > 0
    assert page.locator("#tp-map path.leaflet-interactive").count() > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # Down to a district: its streets, and the figures of that district only.
    district = page.locator("#by-area a[data-area]").first
    name = district.inner_text()
    district.click()
    page.wait_for_url("**/transparency?area=*")
    page.wait_for_selector("#tp-map[data-ready='true']", timeout=20_000)
    assert name in page.locator(".tp-trail").inner_text()
    assert int(page.locator("#fig-reported .value").inner_text()) < reported
    assert page.locator("#by-area a[data-area]").count() > 0

    # A wrong date is named, and the page stays usable.
    page.fill("input[name=from]", "2020-01-01")
    page.fill("input[name=to]", "2025-01-01")
    page.click("#tp-filters button[type=submit]")
    page.wait_for_selector("#tp-error")
    assert "最长 731 天" in page.locator("#tp-error").inner_text()
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]

    # The language switch keeps the filters: the same wrong dates, named in English.
    page.click("#lang-switch")
    page.wait_for_selector("text=Transparency: open figures")
    assert "Authority list" in page.locator("#authority h2").inner_text()
    assert "731" in page.locator("#tp-error").inner_text()
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]


def test_the_command_map_shows_the_demo_warnings_and_a_cadre_acknowledges_one_on_a_phone(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    log_in(page, server, "cadre", server.passwords["cadre"])
    page.goto(server.url + "/dispatch")
    page.wait_for_selector("#case-map[data-warning-count]", timeout=20_000)
    # The demo city has a surge and a hot spot in the cadre's street.
    assert int(page.locator("#case-map").get_attribute("data-warning-count") or 0) >= 2
    shapes = page.locator("#case-map path[fill='#e8590c'], #case-map path[fill='#c2255c']")
    assert shapes.count() >= 2
    shapes.first.dispatch_event("click")
    page.wait_for_selector(".warning-popup")
    assert "#" in page.locator(".warning-popup strong").inner_text()
    page.uncheck("#warnings-toggle")
    assert shapes.count() == 0
    page.check("#warnings-toggle")
    assert shapes.count() >= 2

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/warnings")
    card = page.locator(".warning-card").first
    assert "q<0.001" in card.locator(".warning-explanation").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    card.locator("input[name=note]").fill("已安排夜查")
    card.locator("button.primary").click()
    page.wait_for_url("**/warnings*")
    assert "已安排夜查" in page.locator(".warning-card").first.inner_text()


def test_a_data_administrator_opens_a_persons_entity_and_splits_a_record_on_a_phone(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, "data_admin", server.passwords["data_admin"])
    page.goto(server.url + "/registry?kind=people")
    links = page.locator("a[href^='/registry/people/']")
    records = [links.nth(i).get_attribute("href") for i in range(min(links.count(), 15))]
    # The first people listed are public security's; about half were also met by a grid
    # worker, so their entity holds two departments' records.
    for href in records:
        page.goto(server.url + str(href))
        page.click("#entity-link")
        page.wait_for_selector("#entity-table")
        if page.locator("th.entity-record").count() >= 2:
            break
    else:
        raise AssertionError("no linked person among the first records")
    assert "采信值" in page.locator("#entity-table").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls
    entity_url = page.url
    split_off = page.locator("th.entity-record").nth(1).get_attribute("data-record")
    page.select_option("#decide-record", str(split_off))
    page.fill("#decide-reason", "上门核实，不是同一人")
    # Splitting is not the highlighted button, and it is asked again before it is kept.
    assert "primary" not in str(page.locator("#decide-split").get_attribute("class"))
    assert "primary" in str(page.locator("#decide-confirm").get_attribute("class"))
    page.click("#decide-split")
    page.wait_for_selector("#confirm-split")
    assert page.locator("th.entity-record").count() >= 2  # nothing split yet
    page.click("#split-confirmed")
    page.wait_for_selector("#decided")
    assert page.url.startswith(entity_url.split("?")[0])
    assert page.locator("th.entity-record").count() == 1
    assert "上门核实，不是同一人" in page.locator("#decision-list").inner_text()
    # The split record has an entity of its own, reached from its record page.
    page.goto(f"{server.url}/registry/people/{split_off}")
    page.click("#entity-link")
    page.wait_for_selector("#entity-table")
    assert page.url.split("?")[0] != entity_url.split("?")[0]
    assert page.locator("th.entity-record").count() == 1


def test_an_administrator_disables_and_enables_an_account_on_a_phone(
    server: Server,
    page,  # type: ignore[no-untyped-def]
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, "admin", server.passwords["admin"])
    page.goto(server.url + "/admin/rules")
    page.click("#tab-accounts")
    page.fill("input[name=q]", "leader")
    page.locator("form.admin-search button").click()
    row = page.locator("#user-leader")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # rows are cards
    row.locator("summary").click()
    row.locator("input[name=reason]").fill("调岗")
    row.locator("button.danger").click()
    page.wait_for_selector(".notice")
    assert "已停用账号 leader" in page.locator(".notice").inner_text()
    assert "已停用" in page.locator("#user-leader").inner_text()
    page.locator("#user-leader button").click()
    page.wait_for_selector(".notice")
    assert "已启用账号 leader" in page.locator(".notice").inner_text()
    page.click("#tab-apikeys")
    page.wait_for_selector("table.keys-table")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
