"""The registry (一标三实) on SQLite and PostgreSQL: importing department files (bad rows
reported and kept, a second run changing nothing, changed rows updated and logged), what
each role sees, corrections by the grid's grid worker, the API and the pages."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.areas.domain import Area, Level
from civicgrid.areas.repository import AreaRepository
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Forbidden, InvalidFields, InvalidInput, NotFound
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.core.workflow import events
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city, install_demo_registry
from civicgrid.registry import services
from civicgrid.registry.domain import Person, RecordKind
from civicgrid.registry.identifiers import identity_check_character
from civicgrid.registry.importing import default_mapping, open_table
from civicgrid.registry.repository import (
    RegistryRepository,
    registry_people,
    registry_rejects,
)
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, actor_named, open_platform


def identity(first17: str) -> str:
    return first17 + identity_check_character(first17)


PEOPLE_HEADER = ["姓名", "身份证号", "联系电话", "现住址", "关怀类型"]


def write_people(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PEOPLE_HEADER)
        writer.writerows(rows)
    return path


def import_people(platform: Platform, path: Path, source: str = "公安") -> services.ImportReport:
    with UnitOfWork(platform.session_factory) as uow:
        return services.import_records(
            uow,
            SYSTEM,
            RecordKind.PERSON,
            open_table(path),
            default_mapping(RecordKind.PERSON),
            secret_key=TEST_SECRET,
            source=source,
        )


# ------------------------------------------------------------------ importing (empty platform)


def test_bad_rows_are_reported_and_kept_and_good_rows_stored(
    scratch: Platform, tmp_path: Path
) -> None:
    good = identity("11010519800101003")
    mistyped = good[:-1] + ("1" if good[-1] != "1" else "2")
    path = write_people(
        tmp_path / "people.csv",
        [
            ["张三", good, "13812345678", "", ""],
            ["李四", mistyped, "", "", ""],
            ["张三", good, "13900000000", "", ""],
            ["王五", identity("11010519900101002"), "", "无名路9号", "独居老人"],
        ],
    )
    report = import_people(scratch, path)
    batch = report.batch
    assert (batch.total, batch.created, batch.rejected, batch.review) == (4, 2, 2, 1)
    reasons = {
        (row, p.column, p.key) for row, problems, _kept, _raw in report.bad_rows for p in problems
    }
    assert reasons == {
        (3, "id_number", "registry_id_check_digit"),
        (4, "id_number", "registry_duplicate_key"),
        (5, "address", "registry_address_unmatched"),
    }
    duplicate = next(p for _r, ps, _k, _raw in report.bad_rows for p in ps if p.row == 4)
    assert duplicate.params == {"first": 2}
    with UnitOfWork(scratch.session_factory) as uow:
        kept = uow.session.execute(
            select(registry_rejects.c.row, registry_rejects.c.kept, registry_rejects.c.raw)
            .where(registry_rejects.c.batch_id == batch.id)
            .order_by(registry_rejects.c.row)
        ).all()
        assert [(row, kept_) for row, kept_, _raw in kept] == [(3, False), (4, False), (5, True)]
        assert kept[0][2]["姓名"] == "李四"
        wang = uow.session.execute(
            select(Person).where(registry_people.c.name == "王五")
        ).scalar_one()
        assert wang.address_text == "无名路9号" and wang.address_id is None
        assert wang.source == "公安" and wang.batch_id == batch.id and wang.entity_id is None


def test_a_second_import_of_the_same_file_changes_nothing(
    scratch: Platform, tmp_path: Path
) -> None:
    path = write_people(
        tmp_path / "people.csv",
        [["张三", identity("11010519800101003"), "13812345678", "", ""]],
    )
    first = import_people(scratch, path).batch
    again = import_people(scratch, path).batch
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    with UnitOfWork(scratch.session_factory) as uow:
        person = uow.session.execute(select(Person)).scalar_one()
        assert person.batch_id == first.id
        changes = select(func.count()).select_from(events).where(events.c.kind == "registry.people")
        assert uow.session.execute(changes).scalar() == 0


def test_a_changed_row_is_updated_and_the_change_logged(scratch: Platform, tmp_path: Path) -> None:
    number = identity("11010519800101003")
    path = write_people(tmp_path / "people.csv", [["张三", number, "13812345678", "", ""]])
    import_people(scratch, path)
    write_people(path, [["张三", number, "13999999999", "", ""]])
    batch = import_people(scratch, path).batch
    assert (batch.created, batch.updated) == (0, 1)
    with UnitOfWork(scratch.session_factory) as uow:
        person = uow.session.execute(select(Person)).scalar_one()
        assert person.phone == "13999999999" and person.batch_id == batch.id
        changes = RegistryRepository(uow.session).changes_of(RecordKind.PERSON, person.id)
        assert [(c.field, c.old, c.new) for c in changes] == [
            ("phone", "13812345678", "13999999999")
        ]


def test_the_same_person_from_two_departments_is_two_records(
    scratch: Platform, tmp_path: Path
) -> None:
    path = write_people(
        tmp_path / "people.csv", [["张三", identity("11010519800101003"), "", "", ""]]
    )
    import_people(scratch, path, source="公安")
    import_people(scratch, path, source="网格采集")
    with UnitOfWork(scratch.session_factory) as uow:
        people = uow.session.execute(select(Person)).scalars().all()
        assert sorted(p.source for p in people) == ["公安", "网格采集"]
        assert len({p.id_hash for p in people}) == 1


def test_a_file_with_a_header_only_is_refused(scratch: Platform, tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", [])
    with pytest.raises(InvalidInput) as caught:
        import_people(scratch, path)
    assert caught.value.message_key == "registry_file_no_rows"


def test_the_command_writes_the_rejected_rows_beside_a_gbk_file(
    scratch: Platform, tmp_path: Path
) -> None:
    path = write_people(
        tmp_path / "人口.csv",
        [
            ["张三", identity("11010519800101003"), "", "", ""],
            ["李四", "110105198001010", "", "", "外星人"],
        ],
        encoding="gbk",
    )
    url = scratch.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        cli_app, ["registry", "import", "people", str(path), "--source", "公安", "--db", url]
    )
    assert result.exit_code == 1, result.output  # a row was rejected
    flat = result.output.replace("\n", "")
    assert "GB18030 (GBK)" in flat
    rejected = tmp_path / "人口.csv.rejected.csv"
    lines = rejected.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("_row,_fields,_reasons_zh,_reasons_en,_kept,姓名")
    assert lines[1].startswith("3,id_number; care_tags,")
    again = CliRunner().invoke(
        cli_app, ["registry", "import", "people", str(path), "--source", "公安", "--db", url]
    )
    assert "新增 0，更新 0，未变 1" in again.output.replace("\n", "")


def test_a_missing_column_is_named_by_the_command(scratch: Platform, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("名字,电话\n张三,13812345678\n", encoding="utf-8")
    url = scratch.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli_app, ["registry", "import", "people", str(path), "--db", url])
    flat = result.output.replace("\n", "")
    assert result.exit_code == 2  # nothing imported
    assert "公民身份号码" in flat and "名字, 电话" in flat


def _people_indexes(platform: Platform) -> list[tuple[str, str]]:
    with platform.engine.connect() as connection:
        return [
            (str(name), str(definition))
            for name, definition in connection.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes "
                    "WHERE tablename = 'registry_people' ORDER BY indexname"
                )
            )
        ]


def test_a_first_load_into_an_empty_table_builds_its_indexes_again(
    scratch: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if scratch.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL loads an empty table before indexing it")
    before = _people_indexes(scratch)
    rows = [[f"张{i}", identity(f"110105198001{i:02d}003"), "", "", ""] for i in range(1, 7)]
    path = write_people(tmp_path / "people.csv", rows)

    def failing(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("the disk is full")

    original = RegistryRepository.insert_new
    monkeypatch.setattr(RegistryRepository, "insert_new", failing)
    with pytest.raises(RuntimeError), UnitOfWork(scratch.session_factory) as uow:
        services.import_records(
            uow,
            SYSTEM,
            RecordKind.PERSON,
            open_table(path),
            default_mapping(RecordKind.PERSON),
            secret_key=TEST_SECRET,
        )
    assert _people_indexes(scratch) == before
    monkeypatch.setattr(RegistryRepository, "insert_new", original)
    batch = import_people(scratch, path).batch
    assert (batch.total, batch.created) == (6, 6)
    assert _people_indexes(scratch) == before
    # The rebuilt source-key constraint still refuses a second copy of a record.
    again = import_people(scratch, path).batch
    assert (again.created, again.unchanged) == (0, 6)


# ------------------------------------------------------------------ a city with a registry


@dataclass
class RegistryCity:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    worker_grid: str
    folder: Path
    tokens: dict[str, str]

    def password(self, username: str) -> str:
        return next(c.password for c in self.summary.credentials if c.username == username)

    def headers(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/token",
                data={"username": username, "password": self.password(username)},
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


@pytest.fixture(scope="module")
def registry_city(
    databases: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RegistryCity]:
    platform = open_platform(databases.new("registry"))
    plan = DemoCityBuilder(seed=11).synthetic(SMALL_CITY)
    folder = tmp_path_factory.mktemp("registry")
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
        install_demo_registry(uow, SYSTEM, 400, secret_key=TEST_SECRET, folder=folder)
    worker = next(c for c in summary.credentials if c.role is Role.GRID_WORKER)
    with TestClient(create_app(platform)) as client:
        yield RegistryCity(platform, summary, client, worker.scope, folder, {})
    platform.engine.dispose()


def actor_of(city: RegistryCity, role: Role) -> Actor:
    credential = next(c for c in city.summary.credentials if c.role is role)
    with UnitOfWork(city.platform.session_factory) as uow:
        return actor_named(uow, credential.username)


def username(city: RegistryCity, role: Role) -> str:
    return next(c.username for c in city.summary.credentials if c.role is role)


def test_the_demo_registry_has_three_departments(registry_city: RegistryCity) -> None:
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        batches = services.list_batches(uow, SYSTEM)
        sources = {(b.kind.value, b.source) for b in batches}
        assert {("people", "公安"), ("people", "网格采集"), ("houses", "住建")} <= sources
        assert any(b.rejected for b in batches if b.source == "网格采集")


def test_a_grid_worker_sees_her_grid_with_care_tags(registry_city: RegistryCity) -> None:
    worker = actor_of(registry_city, Role.GRID_WORKER)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        page = services.search_records(
            uow, worker, RecordKind.PERSON, secret_key=TEST_SECRET, limit=500
        )
    assert page.total > 0
    assert {p["grid_code"] for p in page.items} == {registry_city.worker_grid}
    assert all("care_tags" in p and "id_hash" not in p for p in page.items)
    assert all("source_key" not in p and len(p["id_masked"]) == 18 for p in page.items)
    assert all(len(p["phone"]) in (0, 11) and "*" not in p["phone"] for p in page.items)


def test_a_data_administrator_sees_everything_but_care_tags_and_full_phones(
    registry_city: RegistryCity,
) -> None:
    admin = actor_of(registry_city, Role.DATA_ADMIN)
    worker = actor_of(registry_city, Role.GRID_WORKER)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        everyone = services.search_records(
            uow, admin, RecordKind.PERSON, secret_key=TEST_SECRET, limit=5
        )
        mine = services.search_records(uow, worker, RecordKind.PERSON, secret_key=TEST_SECRET)
    assert everyone.total > mine.total
    assert all("care_tags" not in p for p in everyone.items)
    assert all(p["phone"] == "" or "****" in p["phone"] for p in everyone.items)


def test_a_cadre_sees_only_her_street(registry_city: RegistryCity) -> None:
    cadre = actor_of(registry_city, Role.CADRE)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        page = services.search_records(
            uow, cadre, RecordKind.HOUSE, secret_key=TEST_SECRET, limit=500
        )
        grids = {a.code for a in _grids_under(uow, cadre.area_path or "")}
    assert page.total > 0
    assert {h["grid_code"] for h in page.items} <= grids


def _grids_under(uow: UnitOfWork, path: str) -> list[Area]:
    return list(AreaRepository(uow.session).list(level=Level.GRID, within_path=path))


def test_leaders_and_handlers_read_no_records(registry_city: RegistryCity) -> None:
    for role in (Role.LEADER, Role.HANDLER, Role.RESIDENT):
        response = registry_city.client.get(
            "/api/v1/registry/people", headers=registry_city.headers(username(registry_city, role))
        )
        assert response.status_code == 403, role
    leader = actor_of(registry_city, Role.LEADER)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        summary = services.grid_summaries(uow, leader)
    assert sum(s.get("people", 0) for s in summary.values()) > 0
    assert sum(s.get("floating", 0) for s in summary.values()) > 0


def test_search_by_identity_number_hashes_it(registry_city: RegistryCity) -> None:
    worker_headers = registry_city.headers(username(registry_city, Role.GRID_WORKER))
    listed = registry_city.client.get(
        "/api/v1/registry/people", headers=worker_headers, params={"page_size": 1}
    ).json()["items"][0]
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        person = uow.session.get(Person, listed["id"])
        assert person is not None
        id_hash = person.id_hash
    # The number itself is nowhere in the database; the demo's files hold it.
    number = _number_with_hash(registry_city, id_hash)
    found = registry_city.client.get(
        "/api/v1/registry/people", headers=worker_headers, params={"q": number}
    ).json()
    assert listed["id"] in [p["id"] for p in found["items"]]
    assert all(number not in str(p) for p in found["items"])
    bad = registry_city.client.get(
        "/api/v1/registry/people", headers=worker_headers, params={"q": number[:-1] + "0"}
    )
    if number[-1] != "0":
        assert bad.status_code == 422
        assert "q" in bad.json()["error"]["message"] or "校验" in bad.json()["error"]["message"]


def _number_with_hash(city: RegistryCity, id_hash: str) -> str:
    for path in city.folder.glob("*人口.csv"):
        with path.open(encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if len(row) > 1 and services.hash_identity(TEST_SECRET, row[1]) == id_hash:
                    return row[1]
    raise AssertionError("the demo files hold every number")


def test_the_grid_worker_corrects_a_record_with_a_reason(registry_city: RegistryCity) -> None:
    worker = actor_of(registry_city, Role.GRID_WORKER)
    headers = registry_city.headers(worker.name)
    person = registry_city.client.get(
        "/api/v1/registry/people", headers=headers, params={"page_size": 1}
    ).json()["items"][0]
    url = f"/api/v1/registry/people/{person['id']}"
    missing_reason = registry_city.client.patch(
        url, headers=headers, json={"reason": " ", "changes": {"phone": "13700000001"}}
    )
    assert missing_reason.status_code == 422
    wrong = registry_city.client.patch(
        url,
        headers=headers,
        json={"reason": "上门核实", "changes": {"phone": "123", "expires_on": "2025-02-30"}},
    )
    assert wrong.status_code == 422
    message = wrong.json()["error"]["message"]
    assert "phone" in message and "expires_on" in message
    done = registry_city.client.patch(
        url,
        headers=headers,
        json={"reason": "上门核实，换了新号码", "changes": {"phone": "13700000001"}},
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["record"]["phone"] == "13700000001"
    assert body["changes"][0]["field"] == "phone"
    assert body["changes"][0]["reason"] == "上门核实，换了新号码"
    assert body["changes"][0]["actor"] == worker.name
    assert "phone" in body["editable"]


def test_only_the_grids_own_worker_may_correct(registry_city: RegistryCity) -> None:
    admin = actor_of(registry_city, Role.DATA_ADMIN)
    worker = actor_of(registry_city, Role.GRID_WORKER)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        other = next(
            p
            for p in services.search_records(
                uow, admin, RecordKind.PERSON, secret_key=TEST_SECRET, limit=500
            ).items
            if p["grid_code"] not in (None, registry_city.worker_grid)
        )
        with pytest.raises(NotFound):
            services.edit_record(
                uow, worker, RecordKind.PERSON, other["id"], {"phone": "13700000002"}, "x"
            )
        with pytest.raises(Forbidden):
            services.edit_record(
                uow, admin, RecordKind.PERSON, other["id"], {"phone": "13700000002"}, "x"
            )
        with pytest.raises(InvalidFields):
            services.check_edit(RecordKind.PERSON, {"id_masked": "x"})


def test_batches_and_their_rejects_are_for_data_administrators(
    registry_city: RegistryCity,
) -> None:
    headers = registry_city.headers(username(registry_city, Role.DATA_ADMIN))
    batches = registry_city.client.get("/api/v1/registry/batches", headers=headers).json()
    collected = next(b for b in batches if b["source"] == "网格采集" and b["kind"] == "people")
    assert collected["rejected"] > 0
    rejects = registry_city.client.get(
        f"/api/v1/registry/batches/{collected['id']}/rejects", headers=headers
    ).json()
    assert rejects["total"] >= collected["rejected"]
    first = rejects["items"][0]
    assert first["field"] == "id_number" and first["message_zh"] and first["message_en"]
    worker = registry_city.headers(username(registry_city, Role.GRID_WORKER))
    assert registry_city.client.get("/api/v1/registry/batches", headers=worker).status_code == 403


def test_the_pages_search_show_history_and_save_a_correction(
    registry_city: RegistryCity,
) -> None:
    client = registry_city.client
    worker = username(registry_city, Role.GRID_WORKER)
    client.cookies.clear()
    login = client.post(
        "/login",
        data={"username": worker, "password": registry_city.password(worker)},
        follow_redirects=False,
    )
    assert login.status_code in (302, 303)
    page = client.get("/registry?kind=people")
    assert page.status_code == 200
    assert "实有人口" in page.text and 'name="viewport"' in page.text
    assert 'id="registry-map"' in page.text
    link = page.text.split('href="/registry/people/')[1].split('"')[0]
    detail = client.get(f"/registry/people/{link}")
    assert detail.status_code == 200 and 'id="edit-form"' in detail.text
    refused = client.post(f"/registry/people/{link}", data={"phone": "13700000003"})
    assert refused.status_code == 422 and "请填写修改原因" in refused.text
    saved = client.post(
        f"/registry/people/{link}",
        data={"phone": "13700000003", "reason": "本人来电更新"},
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "本人来电更新" in saved.text and "13700000003" in saved.text
    client.cookies.clear()


def test_the_edit_form_offers_choices_and_dates_and_the_history_shows_names(
    registry_city: RegistryCity,
) -> None:
    client = registry_city.client
    worker = username(registry_city, Role.GRID_WORKER)
    client.cookies.clear()
    client.post(
        "/login",
        data={"username": worker, "password": registry_city.password(worker)},
        follow_redirects=False,
    )
    page = client.get("/registry?kind=people&residence=floating")
    link = page.text.split('href="/registry/people/')[1].split('"')[0]
    detail = client.get(f"/registry/people/{link}").text
    # Person type and care type are choices, dates are date pickers, the phone a keypad.
    assert '<select name="residence" id="edit-residence"' in detail
    assert '<option value="foreign">外籍人员</option>' in detail
    assert '<option value="floating" selected>流动人口</option>' in detail
    assert 'type="checkbox" name="care_tags" value="elderly_alone"' in detail
    assert "独居老人" in detail
    assert '<input type="date" name="registered_on"' in detail
    assert '<input type="date" name="expires_on"' in detail
    assert '<input type="tel" name="phone"' in detail
    # The grid is shown by its name, its code beside it.
    grid_name = detail.split('id="field-grid_code">')[1].split("</dd>")[0]
    assert (
        grid_name != registry_city.worker_grid and f"（{registry_city.worker_grid}）" in grid_name
    )
    saved = client.post(
        f"/registry/people/{link}",
        data={
            "residence": "foreign",
            "care_tags": ["", "elderly_alone", "low_income"],
            "registered_on": "2024-03-01",
            "reason": "入户核实",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    history = saved.text.split('id="change-list"')[1].split("</ol>")[0]
    assert "由“流动人口”改为“外籍人员”" in history
    assert "改为“独居老人、低保户”" in history
    assert "2024" in history
    for code in ("floating", "foreign", "elderly_alone", "low_income", "residence", "care_tags"):
        assert code not in history, code
    assert '<option value="foreign" selected>外籍人员</option>' in saved.text
    bad = client.post(
        f"/registry/people/{link}",
        data={"registered_on": "2024-02-30", "reason": "日期有误"},
    )
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    client.cookies.clear()


def test_the_map_page_for_leaders_has_no_search(registry_city: RegistryCity) -> None:
    client = registry_city.client
    leader = username(registry_city, Role.LEADER)
    client.cookies.clear()
    client.post("/login", data={"username": leader, "password": registry_city.password(leader)})
    page = client.get("/registry", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert 'id="registry-map"' in page.text and 'name="q"' not in page.text
    client.cookies.clear()


def test_a_corrected_address_is_matched_to_a_standard_one(registry_city: RegistryCity) -> None:
    headers = registry_city.headers(username(registry_city, Role.GRID_WORKER))
    client = registry_city.client
    addresses = client.get(
        "/api/v1/registry/addresses", headers=headers, params={"page_size": 5}
    ).json()["items"]
    target = addresses[-1]
    person = client.get("/api/v1/registry/people", headers=headers, params={"page_size": 1}).json()[
        "items"
    ][0]
    response = client.patch(
        f"/api/v1/registry/people/{person['id']}",
        headers=headers,
        json={"reason": "搬到同网格另一户", "changes": {"address_text": target["text"]}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"]["address_id"] == target["id"]
    assert body["record"]["grid_code"] == target["grid_code"]
    fields = {c["field"] for c in body["changes"] if c["reason"] == "搬到同网格另一户"}
    assert "address_text" in fields


def test_an_address_moved_on_the_map_takes_what_is_at_it_to_its_new_grid(
    registry_city: RegistryCity,
) -> None:
    worker = actor_of(registry_city, Role.GRID_WORKER)
    admin = actor_of(registry_city, Role.DATA_ADMIN)
    with UnitOfWork(registry_city.platform.session_factory) as uow:
        people = services.search_records(
            uow, worker, RecordKind.PERSON, secret_key=TEST_SECRET, limit=500
        ).items
        address_id = next(p["address_id"] for p in people if p["address_id"] is not None)
        elsewhere = next(
            a
            for a in services.search_records(
                uow, admin, RecordKind.ADDRESS, secret_key=TEST_SECRET, limit=500
            ).items
            if a["grid_code"] not in (None, registry_city.worker_grid)
        )
        nowhere = {"lat": "0.5", "lon": "0.5"}
        with pytest.raises(InvalidInput) as refused:
            services.edit_record(uow, worker, RecordKind.ADDRESS, address_id, nowhere, "核实")
        assert refused.value.params["field"] == "lat"

    with UnitOfWork(registry_city.platform.session_factory) as uow:
        assert services.get_record(uow, worker, RecordKind.ADDRESS, address_id).record[
            "grid_code"
        ] == (registry_city.worker_grid)

    # On the page: the worker sees the address she moved once more, without the form.
    client = registry_city.client
    client.cookies.clear()
    client.post(
        "/login",
        data={"username": worker.name, "password": registry_city.password(worker.name)},
        follow_redirects=False,
    )
    moved = client.post(
        f"/registry/addresses/{address_id}",
        data={
            "lat": str(elsewhere["lat"]),
            "lon": str(elsewhere["lon"]),
            "reason": "门牌坐标测错，重新定位",
        },
    )
    client.cookies.clear()
    assert moved.status_code == 200, moved.text
    assert elsewhere["grid_code"] in moved.text and 'id="edit-form"' not in moved.text

    with UnitOfWork(registry_city.platform.session_factory) as uow:
        residents = [
            p
            for p in services.search_records(
                uow, admin, RecordKind.PERSON, secret_key=TEST_SECRET, limit=100_000
            ).items
            if p["address_id"] == address_id
        ]
        assert residents
        assert {p["grid_code"] for p in residents} == {elsewhere["grid_code"]}
        history = services.get_record(uow, admin, RecordKind.PERSON, residents[0]["id"]).changes
        assert any(c.field == "grid_code" and c.reason == "门牌坐标测错，重新定位" for c in history)
