"""Imports as a job, on SQLite and PostgreSQL: a data administrator uploads a department's
file (the page or POST /api/v1/registry/imports), the import job reads it while its
progress can be followed, bad rows are kept with their row, field and reason, downloaded as
xlsx, corrected and uploaded again, which adds to what was imported and loses nothing; a
batch's states and history are the workflow kernel's; a run cut short is read again."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.core.workflow import Context, EventLog
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city
from civicgrid.registry import services
from civicgrid.registry.domain import (
    BY_THE_IMPORT,
    IMPORT_BATCH,
    BatchAction,
    BatchState,
    RecordKind,
)
from civicgrid.registry.identifiers import identity_check_character
from civicgrid.registry.repository import RegistryRepository, registry_people
from tests.conftest import SMALL_CITY, DatabaseMaker, actor_named, open_platform


def identity(first17: str) -> str:
    return first17 + identity_check_character(first17)


HEADER = ["姓名", "身份证号", "出生日期", "联系电话", "人员类型", "网格编码"]


def people_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@dataclass
class ImportCity:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    grid: str
    tokens: dict[str, str]

    def username(self, role: Role) -> str:
        return next(c.username for c in self.summary.credentials if c.role is role)

    def password(self, role: Role) -> str:
        name = self.username(role)
        return next(c.password for c in self.summary.credentials if c.username == name)

    def actor(self, role: Role) -> Actor:
        with UnitOfWork(self.platform.session_factory) as uow:
            return actor_named(uow, self.username(role))

    def headers(self, role: Role = Role.DATA_ADMIN) -> dict[str, str]:
        name = self.username(role)
        if name not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/token", data={"username": name, "password": self.password(role)}
            )
            assert response.status_code == 200, response.text
            self.tokens[name] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def upload(
        self, content: bytes, name: str, source: str, kind: str = "people", **headers: str
    ) -> Any:
        return self.client.post(
            "/api/v1/registry/imports",
            headers=self.headers() | headers,
            data={"kind": kind, "source": source},
            files={"file": (name, content, "application/octet-stream")},
        )

    def finished(self, batch_id: int, timeout: float = 60) -> dict[str, Any]:
        """The batch once the job has read it, followed as the page follows it."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            body = self.client.get(
                f"/api/v1/registry/imports/{batch_id}", headers=self.headers()
            ).json()
            seen.append(body["state"])
            if body["state"] in ("done", "failed"):
                body["seen"] = seen
                return body
            time.sleep(0.1)
        raise AssertionError(f"batch {batch_id} still {seen[-1]}")


@pytest.fixture(scope="module")
def import_city(databases: DatabaseMaker) -> Iterator[ImportCity]:
    platform = open_platform(databases.new("imports"))
    plan = DemoCityBuilder(seed=3).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
    grid = next(c.scope for c in summary.credentials if c.role is Role.GRID_WORKER)
    assert grid is not None
    with TestClient(create_app(platform)) as client:
        yield ImportCity(platform, summary, client, grid, {})
    platform.engine.dispose()


def people_of(city: ImportCity, source: str) -> dict[str, int]:
    with UnitOfWork(city.platform.session_factory) as uow:
        rows = uow.session.execute(
            select(registry_people.c.name, registry_people.c.id).where(
                registry_people.c.source == source
            )
        ).all()
    return {name: record_id for name, record_id in rows}


# ------------------------------------------------------------------ the API


def test_bad_rows_are_kept_with_their_reasons_and_fixed_rows_uploaded_again(
    import_city: ImportCity,
) -> None:
    g = import_city.grid
    good = [
        ["张伟", identity("11010519800101003"), "1980-01-01", "13800000001", "户籍", g],
        ["李娜", identity("11010519810202004"), "", "13800000002", "流动", g],
        ["Anna Müller", identity("11010519820303005"), "", "", "外籍", g],
        ["王芳", identity("11010519830404006"), "", "", "", g],
    ]
    mistyped = identity("11010519900505007")
    mistyped = mistyped[:-1] + ("0" if mistyped[-1] != "0" else "1")
    bad = [
        ["刘洋", mistyped, "", "", "户籍", g],  # the check character
        ["陈静", identity("11010519910606008"), "1991-02-30", "", "", g],  # no such day
        ["杨磊", identity("11010519920707009"), "", "12345", "外籍人员", g],  # not a phone
    ]
    sent = import_city.upload(people_csv(good + bad), "网格人口.csv", "网格采集")
    assert sent.status_code == 202, sent.text
    queued = sent.json()
    assert queued["state"] == "queued" and queued["estimated_rows"] == 7
    body = import_city.finished(queued["id"])
    assert body["state"] == "done" and body["progress"] == 1.0
    assert (body["total"], body["created"], body["rejected"]) == (7, 4, 3)
    problems = {(r["row"], r["field"], r["reason"]) for r in body["rejects"]}
    assert problems == {
        (6, "id_number", "registry_id_check_digit"),
        (7, "birth_date", "registry_bad_date"),
        (8, "phone", "registry_phone_format"),
    }
    assert all(r["message_zh"] and r["message_en"] and not r["kept"] for r in body["rejects"])
    assert body["rejects"][0]["raw"]["姓名"] == "刘洋"  # the row as sent
    imported = people_of(import_city, "网格采集")
    assert set(imported) == {"张伟", "李娜", "Anna Müller", "王芳"}

    # The rows to correct, as Excel: the columns as sent, the problems in the reader's language.
    download = import_city.client.get(body["rejected_xlsx"], headers=import_city.headers())
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(download.content)).worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == [*HEADER, "原行号", "问题", "处理结果"]
    assert [r[0] for r in rows[1:]] == ["刘洋", "陈静", "杨磊"]
    assert rows[1][1] == mistyped and isinstance(rows[1][1], str)  # as text, as written
    assert rows[1][6] == 6 and "校验" in rows[1][7] and rows[1][8] == "未导入"
    english = import_city.client.get(
        body["rejected_xlsx"], headers=import_city.headers() | {"Accept-Language": "en"}
    )
    header = [c.value for c in next(load_workbook(io.BytesIO(english.content)).worksheets[0].rows)]
    assert header[-3:] == ["Row in the file", "Problems", "Outcome"]

    # Corrected in the workbook itself and uploaded again under the same source.
    book = load_workbook(io.BytesIO(download.content))
    fixed = book.worksheets[0]
    fixed.cell(2, 2).value = identity("11010519900505007")
    fixed.cell(3, 3).value = "1991-06-06"
    fixed.cell(4, 4).value = "13800000009"
    corrected = io.BytesIO()
    book.save(corrected)
    again = import_city.upload(corrected.getvalue(), "网格人口.rejected.xlsx", "网格采集")
    assert again.status_code == 202, again.text
    second = import_city.finished(again.json()["id"])
    assert (second["total"], second["created"], second["rejected"]) == (3, 3, 0)
    after = people_of(import_city, "网格采集")
    assert set(after) == {"张伟", "李娜", "Anna Müller", "王芳", "刘洋", "陈静", "杨磊"}
    # Nothing imported before is lost or written again.
    assert all(after[name] == record_id for name, record_id in imported.items())
    with UnitOfWork(import_city.platform.session_factory) as uow:
        kinds = dict(
            uow.session.execute(
                select(registry_people.c.name, registry_people.c.residence).where(
                    registry_people.c.source == "网格采集"
                )
            ).all()
        )
    assert str(kinds["Anna Müller"]) in ("foreign", "Residence.FOREIGN")
    assert str(kinds["杨磊"]) in ("foreign", "Residence.FOREIGN")


def test_a_batchs_states_are_its_history(import_city: ImportCity) -> None:
    sent = import_city.upload(
        people_csv([["赵强", identity("11010519700101001"), "", "", "", import_city.grid]]),
        "one.csv",
        "民政",
    )
    body = import_city.finished(sent.json()["id"])
    assert body["state"] == "done"
    view = _status(import_city, body["id"])
    assert view.history == [
        ("upload", None, "queued", import_city.username(Role.DATA_ADMIN)),
        ("start", "queued", "running", "system"),
        ("finish", "running", "done", "system"),
    ]
    # The change rows the file made are in the uploader's name.
    assert view.actor == import_city.username(Role.DATA_ADMIN)


@dataclass
class Status:
    history: list[tuple[str, str | None, str | None, str]]
    actor: str
    stored_file: str


def _status(city: ImportCity, batch_id: int) -> Status:
    admin = city.actor(Role.DATA_ADMIN)
    with UnitOfWork(city.platform.session_factory) as uow:
        view = services.import_status(uow, admin, batch_id)
        steps = [(e.action, e.from_state, e.to_state, e.actor_name) for e in view.history]
        return Status(steps, view.batch.actor, view.batch.stored_file)


def test_a_file_without_a_needed_column_is_refused_at_once(import_city: ImportCity) -> None:
    with UnitOfWork(import_city.platform.session_factory) as uow:
        before = len(RegistryRepository(uow.session).batches(1000))
    refused = import_city.upload(
        "名字,电话\n张三,13800000000\n".encode(),
        "wrong.csv",
        "公安",
        **{"Accept-Language": "en"},
    )
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "名字, 电话" in message  # the columns it has
    wrong_kind = import_city.upload(b"x", "photo.jpg", "公安")
    assert wrong_kind.status_code == 422 and "file" in wrong_kind.json()["error"]["message"]
    empty = import_city.upload("姓名,身份证号\n".encode(), "empty.csv", "公安")
    assert empty.status_code == 422
    with UnitOfWork(import_city.platform.session_factory) as uow:
        assert len(RegistryRepository(uow.session).batches(1000)) == before
    leftovers = list(import_city.platform.registry_imports.files.folder.glob("upload-*"))
    assert leftovers == []


def test_only_data_administrators_and_administrators_import(import_city: ImportCity) -> None:
    for role in (Role.GRID_WORKER, Role.CADRE, Role.LEADER):
        headers = import_city.headers(role)
        refused = import_city.client.post(
            "/api/v1/registry/imports",
            headers=headers,
            data={"kind": "people"},
            files={"file": ("a.csv", b"a,b\n1,2\n", "text/csv")},
        )
        assert refused.status_code == 403, role
        assert (
            import_city.client.get("/api/v1/registry/imports/1", headers=headers).status_code == 403
        )
        assert (
            import_city.client.get(
                "/api/v1/registry/imports/1/rejected.xlsx", headers=headers
            ).status_code
            == 403
        )


def test_a_failed_batch_says_why(import_city: ImportCity) -> None:
    """The stored file went missing before the job read it: the batch fails with a reason
    in the reader's language, and nothing is half written."""
    imports = import_city.platform.registry_imports
    path = imports.files.upload_path(".csv")
    path.write_bytes(people_csv([["孙丽", identity("11010519600101002"), "", "", "", ""]]))
    with UnitOfWork(import_city.platform.session_factory) as uow:
        batch = services.queue_import(
            uow,
            import_city.actor(Role.DATA_ADMIN),
            RecordKind.PERSON,
            path,
            "gone.csv",
            imports.files,
            source="卫健",
        )
        Path(batch.stored_file).unlink()
        batch_id = batch.id
    imports.start()
    assert batch_id is not None
    body = import_city.finished(batch_id)
    assert body["state"] == "failed" and body["error_code"] == "registry_import_file_gone"
    assert "gone.csv" in body["error"]
    english = import_city.client.get(
        f"/api/v1/registry/imports/{batch_id}",
        headers=import_city.headers() | {"Accept-Language": "en"},
    ).json()
    assert english["error"].startswith("The uploaded file")
    assert people_of(import_city, "卫健") == {}


def test_a_run_cut_short_is_read_again_from_its_start(import_city: ImportCity) -> None:
    imports = import_city.platform.registry_imports
    path = imports.files.upload_path(".csv")
    path.write_bytes(
        people_csv(
            [
                ["周杰", identity("11010519650101004"), "", "", "", import_city.grid],
                ["吴敏", identity("11010519660101005"), "", "", "", import_city.grid],
            ]
        )
    )
    admin = import_city.actor(Role.DATA_ADMIN)
    with UnitOfWork(import_city.platform.session_factory) as uow:
        batch = services.queue_import(
            uow, admin, RecordKind.PERSON, path, "cut.csv", imports.files, source="人社"
        )
        # The job started it, and its process died: the batch is left running.
        now = batch.started_at
        proven = frozenset({BY_THE_IMPORT.name})
        started = IMPORT_BATCH.apply(
            batch, BatchAction.START, Context(SYSTEM, now, proven), lambda: {}
        )
        EventLog(uow.session).add(started)
        batch.total = 1
        uow.commit()
        batch_id = batch.id
    imports.start()
    imports.wait(60)
    assert batch_id is not None
    body = import_city.finished(batch_id)
    assert body["state"] == "done" and (body["total"], body["created"]) == (2, 2)
    status = _status(import_city, batch_id)
    assert [step[0] for step in status.history] == ["upload", "start", "retry", "start", "finish"]
    assert status.stored_file == "" and list(imports.files.folder.glob("batch-*")) == []


def test_the_command_records_its_batch_as_done(import_city: ImportCity, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from civicgrid.cli import app as cli_app

    path = tmp_path / "cmd.csv"
    path.write_bytes(people_csv([["郑华", identity("11010519550101006"), "", "", "", ""]]))
    url = import_city.platform.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli_app, ["registry", "import", "people", str(path), "--source", "档案", "--db", url]
    )
    assert result.exit_code == 0, result.output
    with UnitOfWork(import_city.platform.session_factory) as uow:
        batch = RegistryRepository(uow.session).batches(1)[0]
        assert batch.state is BatchState.DONE and batch.source == "档案"
        batch_id = batch.id or 0
    steps = [step[0] for step in _status(import_city, batch_id).history]
    assert steps == ["create", "finish"]


# ------------------------------------------------------------------ the pages


def test_a_data_administrator_uploads_on_the_page_and_follows_the_batch(
    import_city: ImportCity,
) -> None:
    client = import_city.client
    client.cookies.clear()
    login = client.post(
        "/login",
        data={
            "username": import_city.username(Role.DATA_ADMIN),
            "password": import_city.password(Role.DATA_ADMIN),
        },
        follow_redirects=False,
    )
    assert login.status_code in (302, 303)
    page = client.get("/registry/imports")
    assert page.status_code == 200 and 'id="upload-form"' in page.text
    assert 'enctype="multipart/form-data"' in page.text
    registry = client.get("/registry")
    assert 'href="/registry/imports"' in registry.text

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["XX街道实有人口登记表"])
    sheet.append(HEADER)
    sheet.append(["钱进", identity("11010519450101007"), "", "", "外籍", import_city.grid])
    sheet.append(["冯晓", "110105", "", "", "", import_city.grid])
    content = io.BytesIO()
    book.save(content)
    sent = client.post(
        "/registry/imports",
        data={"kind": "people", "source": "出入境"},
        files={"file": ("出入境人员.xlsx", content.getvalue(), "application/octet-stream")},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    assert location.endswith("?done=uploaded")
    batch_id = int(location.split("/")[-1].split("?")[0])
    first = client.get(location)
    assert "已上传“出入境人员.xlsx”" in first.text and 'id="batch-progress"' in first.text
    import_city.finished(batch_id)
    done = client.get(f"/registry/imports/{batch_id}")
    assert "导入完成：共 2 行，新增 1" in done.text
    assert 'id="rejects-table"' in done.text and "身份证号" in done.text
    assert f'href="/api/v1/registry/imports/{batch_id}/rejected.xlsx' in done.text
    assert 'value="出入境"' in done.text  # the upload form again, for the corrected rows
    english = client.get(f"/registry/imports/{batch_id}?lang=en")
    assert "Imported: 2 rows, 1 new" in english.text and "Identity number" in english.text
    missing = client.post("/registry/imports", data={"kind": "people", "source": "x"}, files={})
    assert missing.status_code == 422 and "请选择要上传的文件" in missing.text
    client.cookies.clear()


def test_nothing_is_left_in_the_upload_folder(import_city: ImportCity) -> None:
    folder = import_city.platform.registry_imports.files.folder
    import_city.platform.registry_imports.wait(30)
    assert [p.name for p in folder.iterdir()] == []  # every file deleted once read
