"""The registry in headless Chromium, on the demo city: a grid worker on her phone finds a
resident by a part of her name and of her phone, and corrects her person type and a date
with the form's choices and date picker; a data administrator at her desk uploads a
department's file, follows its batch, reads the rejected rows with their reasons, downloads
them as xlsx, corrects them and uploads them again, then does the same on a phone."""

from __future__ import annotations

import csv
import io
import json
import random
import urllib.request

import pytest

from tests.e2e import test_browser
from tests.e2e.test_browser import PHONE_POSITION, Server, log_in

# The same demo-city server and browser page as the other browser tests.
server = test_browser.server
page = test_browser.page

pytestmark = pytest.mark.e2e


def no_sideways_scrolling(page, width: int) -> None:  # type: ignore[no-untyped-def]
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def phone_grid(server: Server) -> dict[str, str]:
    query = f"lat={PHONE_POSITION['latitude']}&lon={PHONE_POSITION['longitude']}"
    with urllib.request.urlopen(f"{server.url}/api/v1/areas/locate?{query}") as response:
        grid: dict[str, str] = json.load(response)["grid"]
    return grid


def identity(first17: str) -> str:
    from civicgrid.registry.identifiers import identity_check_character

    return first17 + identity_check_character(first17)


def test_a_grid_worker_finds_and_corrects_a_resident_on_her_phone(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    grid = phone_grid(server)
    password = next(pw for name, pw in server.passwords.items() if name.startswith("gw"))
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, f"gw{grid['code']}", password)
    page.goto(server.url + "/registry?kind=people")
    box = page.locator("#registry-q")
    assert "电话" in str(box.get_attribute("placeholder"))  # she may find people by phone
    no_sideways_scrolling(page, 390)
    # The placeholder is cut short on a phone: the hint is shown in full under the box.
    for tab, words in (("houses", "产权人"), ("organisations", "信用代码"), ("people", "姓名")):
        page.click(f"#kind-{tab}")
        hint = page.locator("#registry-hint")
        assert hint.is_visible() and words in hint.inner_text()
        width = hint.evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert width[0] <= width[1] <= 390
    first = page.locator("#registry-results tbody tr").first
    name = first.locator("td").nth(0).inner_text().strip()
    # Any part of her name: the last characters, as someone half-remembers them.
    box.fill(name[1:] if len(name) > 1 else name)
    page.click(".registry-search button[type=submit]")
    page.wait_for_selector("#registry-results")
    assert name in page.locator("#registry-results").inner_text()
    page.locator("#registry-results a", has_text=name).first.click()
    page.wait_for_selector("#edit-form")
    record_url = page.url
    phone = page.locator("#field-phone").inner_text().strip()
    if phone and phone != "—":
        page.goto(server.url + "/registry?kind=people")
        page.fill("#registry-q", phone[-6:])  # a part of her phone
        page.click(".registry-search button[type=submit]")
        page.wait_for_selector("#registry-results")
        assert name in page.locator("#registry-results").inner_text()
        page.goto(record_url)
    # The grid is named, not coded.
    assert grid["name"] in page.locator("#field-grid_code").inner_text()
    # Person type is a list of choices, the date a date picker.
    assert page.locator("select#edit-residence").count() == 1
    assert page.locator("#edit-registered_on").get_attribute("type") == "date"
    page.select_option("#edit-residence", "foreign")
    page.fill("#edit-registered_on", "2024-03-01")
    page.fill("#edit-reason", "入户核实为外籍人员")
    no_sideways_scrolling(page, 390)
    page.click("#edit-save")
    page.wait_for_selector("#saved")
    history = page.locator("#change-list").inner_text()
    assert "改为“外籍人员”" in history and "入户核实为外籍人员" in history
    assert "foreign" not in history and "residence" not in history
    assert page.locator("#edit-residence").input_value() == "foreign"
    no_sideways_scrolling(page, 390)


def people_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["姓名", "身份证号", "出生日期", "联系电话", "人员类型", "网格编码"])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def test_a_data_administrator_imports_a_file_and_uploads_its_corrected_rows(
    server: Server,
    page,  # type: ignore[no-untyped-def]
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    from openpyxl import load_workbook

    grid = phone_grid(server)["code"]
    page.set_viewport_size({"width": 1366, "height": 900})
    log_in(page, server, "data_admin", server.passwords["data_admin"])
    page.goto(server.url + "/registry?kind=organisations")
    # At a desk the box is wide enough for its whole hint.
    assert not page.locator("#registry-hint").is_visible()
    box = page.locator("#registry-q").evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert box[0] <= box[1]
    page.click("#imports-link")
    page.wait_for_selector("#upload-form")
    page.select_option("#upload-kind", "people")
    page.fill("#upload-source", "出入境管理")
    # Numbers of their own, so the file is new to the registry however often the test runs.
    first, second = random.sample(range(100, 1000), 2)
    good = identity(f"11010519800101{first}")
    content = people_file(
        [
            ["Anna Müller", good, "", "13800001111", "外籍", grid],
            ["Pierre Dubois", "11010519800101", "", "13800002222", "外籍", grid],
        ]
    )
    page.set_input_files(
        "#upload-file", files=[{"name": "境外人员.csv", "mimeType": "text/csv", "buffer": content}]
    )
    page.click("#upload-submit")
    page.wait_for_url("**/registry/imports/*")
    assert "已上传“境外人员.csv”" in page.locator("#uploaded, #batch-summary").first.inner_text()
    assert page.locator("#batch-progress").count() == 1
    # The page follows the job and shows the batch's summary once it is done.
    page.wait_for_selector("#batch-summary", timeout=30_000)
    assert page.locator("#count-created").inner_text() == "1"
    assert page.locator("#count-rejected").inner_text() == "1"
    rejects = page.locator("#rejects-table").inner_text()
    assert "身份证号" in rejects and "未导入" in rejects
    with page.expect_download() as download:
        page.click("#download-rejected")
    saved = tmp_path / "rejected.xlsx"
    download.value.save_as(saved)
    assert download.value.suggested_filename.endswith(".xlsx")
    book = load_workbook(saved)
    sheet = book.active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    row = [c.value for c in sheet[2]]
    assert row[header.index("姓名")] == "Pierre Dubois"
    # Corrected: the whole identity number, then uploaded again under the same source.
    sheet.cell(
        row=2, column=header.index("身份证号") + 1, value=identity(f"11010519800101{second}")
    )
    corrected = tmp_path / "境外人员-更正.xlsx"
    book.save(corrected)
    assert page.locator("#upload-source").input_value() == "出入境管理"
    page.select_option("#upload-kind", "people")
    page.set_input_files("#upload-file", str(corrected))
    first_batch = page.url.split("?")[0]
    page.click("#upload-submit")
    page.wait_for_url(lambda url: url.split("?")[0] != first_batch)
    page.wait_for_selector("#batch-summary", timeout=30_000)
    assert page.locator("#count-created").inner_text() == "1"
    assert page.locator("#count-rejected").inner_text() == "0"
    assert page.locator("#rejects-table").count() == 0
    # Both people are now found in the registry, as foreign residents.
    page.goto(server.url + "/registry?kind=people&residence=foreign&q=Pierre")
    assert "Pierre Dubois" in page.locator("#registry-results").inner_text()
    assert "外籍人员" in page.locator("#registry-results").inner_text()

    # The same pages on a phone: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/registry/imports")
    page.wait_for_selector("#batch-table")
    no_sideways_scrolling(page, 390)
    page.goto(first_batch)
    page.wait_for_selector("#rejects-table")
    no_sideways_scrolling(page, 390)


def test_a_bad_file_is_refused_naming_the_file(server: Server, page) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, server, "data_admin", server.passwords["data_admin"])
    page.goto(server.url + "/registry/imports")
    page.select_option("#upload-kind", "people")
    page.set_input_files(
        "#upload-file",
        files=[
            {"name": "名单.csv", "mimeType": "text/csv", "buffer": "姓名,电话\n张三,1\n".encode()}
        ],
    )
    page.click("#upload-submit")
    page.wait_for_selector("#upload-error")
    # The refusal is a 422, which Chromium reports on its console: expected here.
    page.errors[:] = [e for e in page.errors if "status of 422" not in e]
    assert "身份证号" in page.locator("#upload-error").inner_text()
    no_sideways_scrolling(page, 390)
