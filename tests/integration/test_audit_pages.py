"""The audit log's pages as the people concerned use them: the data office filters the log
by unit, person, dataset and time; a resident sees who read her records (是谁查看了我的
信息); the public transparency page shows the latest cosigned checkpoint. And the registry
and the cases log every read of personal data they show."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import select

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.areas.domain import Area, Department, Level
from civicgrid.areas.services import add_areas, add_departments
from civicgrid.audit import services
from civicgrid.audit.notes import COSIGNATURE_V1, Signer
from civicgrid.audit.witness import DatabaseLog, witness_once
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.ledger import Action, Entry, Ledger, audit_entries
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.registry import services as registry
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.identifiers import identity_check_character
from civicgrid.registry.importing import default_mapping, open_table
from tests.conftest import TEST_SECRET, City
from tests.integration.test_case_pages import as_, first_grid, point_in  # noqa: F401

NUMBER = "11010519800101003" + identity_check_character("11010519800101003")
PHONE = "13812345678"
PASSWORD = "a-long-password-1"


def setup_people(platform: Platform, tmp_path: Path) -> int:
    """One person in the registry, a data office and two residents (one whose phone is the
    person's), and the office's unit."""
    path = tmp_path / "people.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "身份证号", "联系电话", "现住址", "关怀类型"])
        writer.writerow(["张三", NUMBER, PHONE, "", ""])
    with UnitOfWork(platform.session_factory) as uow:
        city = Area("990100", "样例市", Level.CITY, None, box(116.0, 39.0, 117.0, 40.0))
        add_areas(uow, SYSTEM, [city])
        add_departments(
            uow, SYSTEM, [Department("990100-SJGLJ", "市大数据局", Level.CITY, "990100")]
        )
        add_user(uow, SYSTEM, NewUser("data.office", "data_admin", PASSWORD))
        add_user(uow, SYSTEM, NewUser("zhang.san", "resident", PASSWORD, phone=PHONE))
        add_user(uow, SYSTEM, NewUser("someone.else", "resident", PASSWORD, phone="13900001111"))
    with UnitOfWork(platform.session_factory) as uow:
        registry.import_records(
            uow,
            SYSTEM,
            RecordKind.PERSON,
            open_table(path),
            default_mapping(RecordKind.PERSON),
            secret_key=TEST_SECRET,
            source="公安",
        )
    with UnitOfWork(platform.session_factory) as uow:
        found = registry.search_records(
            uow, SYSTEM, RecordKind.PERSON, secret_key=TEST_SECRET, q="张三"
        )
    return int(found.items[0]["id"])


def read_through_the_exchange(platform: Platform, person: int) -> None:
    """What the exchange appends when a unit's system reads rows under a grant."""
    system = Actor("apikey:civil-affairs", Role.API_CLIENT, department_code="990100-SJGLJ")
    with UnitOfWork(platform.session_factory) as uow:
        Ledger(uow.session).append(
            Entry.by(
                system,
                Action.READ,
                dataset="registry.people",
                record_kind="person",
                record_ids=[person],
                fields=("name", "id_masked"),
                grant=7,
            )
        )
        uow.commit()


def logged_in(platform: Platform, username: str) -> TestClient:
    from civicgrid.app import create_app

    client = TestClient(create_app(platform))
    sent = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    return client


def test_registry_reads_are_logged_without_the_number_and_the_office_filters_them(
    scratch: Platform, tmp_path: Path
) -> None:
    person = setup_people(scratch, tmp_path)
    office = logged_in(scratch, "data.office")
    read = office.get(f"/api/v1/registry/people/{person}")
    assert read.status_code == 200, read.text
    read_through_the_exchange(scratch, person)
    page = office.get("/audit")
    assert page.status_code == 200
    assert 'id="nav-audit"' in page.text
    assert "data.office" in page.text and "查看个人信息" in page.text
    assert (
        "apikey:civil-affairs" in page.text
        and "市大数据局" in page.text
        and "依授权 7" in page.text
    )
    by_unit = office.get("/audit?unit=990100-SJGLJ").text
    assert by_unit.count("<tr class=") == 1
    assert "联系电话 (脱敏)" in page.text  # the office reads residents' phones masked
    # Looking a person up by her number: posted, resolved to her record, never logged.
    found = office.post("/audit/person", data={"identity_number": NUMBER}, follow_redirects=False)
    assert found.status_code == 303
    assert found.headers["location"] == f"/audit?person={person}"
    filtered = office.get(found.headers["location"])
    assert (
        filtered.text.count('<tr class="audit-personal_read">') == 3
    )  # the two reads, the look-up
    assert office.get("/audit?person=999999").text.count('class="audit-personal_read"') == 0
    with UnitOfWork(scratch.session_factory) as uow:
        stored = services.search_entries(uow, SYSTEM, services.EntryFilter())
    assert all(NUMBER.encode() not in e.leaf for e in stored.items)
    assert any(e.commitment is not None for e in stored.items)  # the number, committed to
    bad = office.get("/audit?from=yesterday")
    assert bad.status_code == 422 and "from: “yesterday”不是日期" in bad.text
    unknown = office.post("/audit/person", data={"identity_number": "110105198001019999"})
    assert unknown.status_code in (404, 422)


def test_a_resident_sees_who_read_her_records_and_nobody_elses(
    scratch: Platform, tmp_path: Path
) -> None:
    person = setup_people(scratch, tmp_path)
    office = logged_in(scratch, "data.office")
    office.get(f"/api/v1/registry/people/{person}")
    read_through_the_exchange(scratch, person)
    her = logged_in(scratch, "zhang.san")
    first = her.get("/my/reads")
    assert first.status_code == 200
    assert 'id="nav-my/reads"' in first.text and 'id="nav-audit"' not in first.text
    shown = her.post("/my/reads", data={"identity_number": NUMBER})
    assert shown.status_code == 200
    assert "已找到你的 1 条人口记录" in shown.text
    assert "数据管理员" in shown.text and "职责范围内查阅" in shown.text
    assert "市大数据局" in shown.text and "依授权 7" in shown.text
    assert "data.office" not in shown.text  # units and roles, not staff accounts
    assert NUMBER not in shown.text
    # The fields read are named as the pages name them, never by their codes.
    assert "姓名" in shown.text and "出生日期" in shown.text
    assert "birth_date" not in shown.text and "id_masked" not in shown.text
    # Someone who knows her number but is not her (another phone) finds nothing.
    other = logged_in(scratch, "someone.else").post("/my/reads", data={"identity_number": NUMBER})
    assert "没有找到身份证号和手机号都与你相符的人口记录" in other.text
    assert "市大数据局" not in other.text
    wrong = her.post("/my/reads", data={"identity_number": "12345"})
    assert wrong.status_code == 422 and 'id="my-reads-error"' in wrong.text
    assert office.get("/my/reads").status_code == 403


def test_a_resident_may_look_a_few_times_an_hour(scratch: Platform, tmp_path: Path) -> None:
    setup_people(scratch, tmp_path)
    her = logged_in(scratch, "zhang.san")
    answers = [
        her.post("/my/reads", data={"identity_number": NUMBER}).status_code for _ in range(11)
    ]
    assert answers[:10] == [200] * 10 and answers[10] == 429


def test_reading_a_reporters_contacts_is_logged_and_she_sees_it(
    city: City,
    city_client: TestClient,
    auth: Any,
    as_: Any,  # noqa: F811
) -> None:
    resident = as_("resident")
    lat, lon = point_in(first_grid(city))
    sent = resident.post(
        "/report",
        data={"category": "CR05", "description": "楼道灯坏了很久", "lat": lat, "lon": lon},
        follow_redirects=False,
    )
    case_id = int(sent.headers["location"].rsplit("=", 1)[1])
    assert (
        city_client.get(f"/api/v1/cases/{case_id}", headers=auth("dispatcher")).status_code == 200
    )
    with UnitOfWork(city.platform.session_factory) as uow:
        logged = uow.session.execute(
            select(audit_entries.c.actor, audit_entries.c.fields).where(
                audit_entries.c.record_kind == "case", audit_entries.c.record_ids == str(case_id)
            )
        ).all()
    assert [tuple(r) for r in logged] == [
        ("dispatcher", "reporter.name,reporter.phone,reporter.email")
    ]
    mine = resident.get("/my/reads").text
    assert "坐席员" in mine and f"事件 {case_id}" in mine


def test_the_public_page_shows_the_latest_cosigned_checkpoint(
    scratch: Platform, scratch_client: TestClient, tmp_path: Path
) -> None:
    assert "尚无见证人联署的检查点" in scratch_client.get("/transparency").text
    setup_people(scratch, tmp_path)
    with UnitOfWork(scratch.session_factory) as uow:
        services.checkpoint_now(uow, SYSTEM, scratch.audit)
    witness = Signer.generate("witness.housing.example", COSIGNATURE_V1)
    listed = scratch.audit.witnesses
    scratch.audit.witnesses = (witness.verifier,)
    try:
        log = DatabaseLog(scratch.session_factory, scratch.audit)
        done = witness_once(log, witness, tmp_path / "state.json")
    finally:
        scratch.audit.witnesses = listed
    page = scratch_client.get("/transparency").text
    assert f"最新经见证人联署的检查点：{done.checkpoint.size} 条记录" in page
    assert "witness.housing.example" in page
    assert "— witness.housing.example " in page  # the note as signed, with its cosignature


def test_only_the_data_office_and_residents_get_the_links(city: City, as_: Any) -> None:  # noqa: F811
    for role, link in (
        ("data_admin", 'id="nav-audit"'),
        ("admin", 'id="nav-audit"'),
        ("resident", 'id="nav-my/reads"'),
    ):
        assert link in as_(role).get("/").text
    for role in ("dispatcher", "cadre", "leader"):
        home = as_(role).get("/").text
        assert 'id="nav-audit"' not in home and 'id="nav-my/reads"' not in home
