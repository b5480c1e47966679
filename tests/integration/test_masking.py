"""People's identifiers go through one masking rule (core.masking) wherever they are shown.

A city with cases, reporters who left phones and e-mails, a resident named by her mobile
number who added her voice to a case, and a registry: every GET answer and page is
fetched as anonymous and as every role, and searched for a phone, e-mail or identity
number that role may not read in full."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from civicgrid.accounts.domain import NewResident
from civicgrid.accounts.repository import users
from civicgrid.accounts.services import sign_up
from civicgrid.app import ROUTERS, create_app
from civicgrid.bootstrap import Platform
from civicgrid.cases.repository import case_reporters, cases
from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork
from civicgrid.core.masking import Whose
from civicgrid.core.permissions import ANONYMOUS, SYSTEM, USER_ROLES, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city, install_demo_registry
from civicgrid.registry.entities import registry_entities
from civicgrid.registry.repository import (
    registry_houses,
    registry_organisations,
    registry_people,
)
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, open_platform

RESIDENT_PHONE = "13912345678"  # her login name too
REPORTER_EMAIL = "wang.fang.reporter@example.com"


@dataclass
class Town:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    folder: Path
    case_id: int = 0
    corrected: int = 0  # a person whose phone a grid worker corrected
    old_phone: str = ""  # and what it was before, kept in the record's history
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    def headers(self, username: str, password: str) -> dict[str, str]:
        if username not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
        return self.tokens[username]

    def persona(self, role: Role) -> dict[str, str]:
        credential = next(c for c in self.summary.credentials if c.role is role)
        return self.headers(credential.username, credential.password)


@pytest.fixture(scope="module")
def town(databases: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    platform = open_platform(databases.new("masking"))
    plan = DemoCityBuilder(seed=13).synthetic(SMALL_CITY)
    folder = tmp_path_factory.mktemp("masking-registry")
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=25)
        install_demo_registry(uow, SYSTEM, 150, secret_key=TEST_SECRET, folder=folder)
    with TestClient(create_app(platform)) as client:
        town = Town(platform, summary, client, folder)
        grid = next(a for a in plan.areas if a.level.value == "grid")
        point = grid.geometry.representative_point()
        dispatcher = town.persona(Role.DISPATCHER)
        # A hotline caller who left an e-mail, and a resident named by her mobile number
        # who adds her voice: both must stay hidden from whoever may not reach them.
        case = client.post(
            "/api/v1/cases",
            json={
                "description": "路口井盖缺失，晚上很危险",
                "category": "FA03",
                "lat": point.y,
                "lon": point.x,
                "channel": "hotline",
                "reporter": {"name": "王芳", "phone": "13700001234", "email": REPORTER_EMAIL},
            },
            headers=dispatcher,
        )
        assert case.status_code == 201, case.text
        town.case_id = case.json()["id"]
        with UnitOfWork(platform.session_factory) as uow:
            sign_up(
                uow,
                ANONYMOUS,
                NewResident("李娜", RESIDENT_PHONE, "a-long-password", "a-long-password"),
                TEST_SECRET,
                timedelta(hours=1),
            )
        resident = town.headers(RESIDENT_PHONE, "a-long-password")
        joined = client.post(
            f"/api/v1/cases/{town.case_id}/supporters",
            json={"note": "我也看到了", "lat": point.y, "lon": point.x},
            headers=resident,
        )
        assert joined.status_code == 201, joined.text
        client.post(
            f"/api/v1/cases/{town.case_id}/actions",
            json={"action": "accept"},
            headers=dispatcher,
        )
        # A grid worker corrects a resident's phone: the old and new numbers are in the
        # record's history, which the data office reads masked.
        worker = next(c for c in summary.credentials if c.role is Role.GRID_WORKER)
        with UnitOfWork(platform.session_factory) as uow:
            person, town.old_phone = uow.session.execute(
                select(registry_people.c.id, registry_people.c.phone)
                .where(registry_people.c.grid_code == worker.scope, registry_people.c.phone != "")
                .limit(1)
            ).one()
        town.corrected = int(person)
        corrected = client.patch(
            f"/api/v1/registry/people/{person}",
            json={"changes": {"phone": "13611112222"}, "reason": "本人来电更正"},
            headers=town.persona(Role.GRID_WORKER),
        )
        assert corrected.status_code == 200, corrected.text
        yield town
    platform.engine.dispose()


def secrets_of(town: Town) -> dict[Whose, set[str]]:
    """Every phone and e-mail the town holds, by whose they are."""
    found: dict[Whose, set[str]] = {whose: set() for whose in Whose}
    with UnitOfWork(town.platform.session_factory) as uow:
        session = uow.session
        for phone, email in session.execute(select(case_reporters.c.phone, case_reporters.c.email)):
            found[Whose.REPORTER] |= {v for v in (phone, email) if v}
        for (name,) in session.execute(select(users.c.username).where(users.c.role == "resident")):
            if re.fullmatch(r"\+?\d{7,}", name):
                found[Whose.REPORTER].add(name)
        for table, columns in (
            (registry_people, ("phone",)),
            (registry_houses, ("owner_phone",)),
            (registry_organisations, ("contact_phone",)),
        ):
            for column in columns:
                for (value,) in session.execute(select(table.c[column])):
                    if value and len(re.sub(r"\D", "", value)) >= 7:
                        found[Whose.RESIDENT].add(value)
        found[Whose.RESIDENT].add(town.old_phone)  # in the record's history only
        for (phone,) in session.execute(select(users.c.phone).where(users.c.role != "resident")):
            if phone:
                found[Whose.STAFF].add(phone)
    return found


def identity_numbers(folder: Path) -> set[str]:
    """The identity numbers in the departments' files: the registry keeps only their mask
    and a keyed hash, so the full number is shown to nobody."""
    numbers: set[str] = set()
    for path in folder.glob("*.csv"):
        with path.open(encoding="utf-8") as handle:
            for row in csv.reader(handle):
                numbers |= {cell for cell in row if re.fullmatch(r"\d{17}[\dXx]", cell)}
    return numbers


def paths(town: Town) -> list[str]:
    app_routes = [r for r in create_app(town.platform).routes if isinstance(r, APIRoute)]
    everything = [*app_routes, *(r for router in ROUTERS for r in router.routes)]
    with UnitOfWork(town.platform.session_factory) as uow:
        session = uow.session
        case_ids = [town.case_id] + [
            int(i) for (i,) in session.execute(select(cases.c.id).order_by(cases.c.id).limit(2))
        ]
        person = town.corrected
        entity = session.execute(
            select(registry_entities.c.id).where(registry_entities.c.records > 1).limit(1)
        ).scalar()
        resident_username = RESIDENT_PHONE
    values: dict[str, list[str]] = {
        "case_id": [str(i) for i in case_ids],
        "record_id": [str(person)],
        "entity_id": [str(entity)],
        "kind": ["people"],
        "username": [resident_username, "dispatcher"],
        "fmt": ["json"],
        "id": [str(case_ids[0])],
    }
    found: list[str] = []
    for route in everything:
        if "GET" not in route.methods or (
            "{" in route.path
            and not all(name in values for name in re.findall(r"{(\w+)", route.path))
        ):
            continue
        names = re.findall(r"{(\w+)", route.path)
        choices: list[str] = [route.path]
        for name in names:
            choices = [
                c.replace("{" + name + "}", v).replace("{" + name + ":path}", v)
                for c in choices
                for v in values[name]
            ]
        found += choices
    extra = [
        f"/registry/people/{person}",
        "/registry?kind=people&q=1",
        "/dispatch",
        "/inbox",
        "/grid",
        "/report",
        "/admin/outbox",
        f"/api/v1/cases?q={RESIDENT_PHONE}",
        f"/api/v1/registry/people?q={RESIDENT_PHONE}",
        "/api/v1/system/outbox?limit=500",
    ]
    return list(dict.fromkeys(found + extra))


def leaks(text: str, hidden: set[str]) -> list[str]:
    digits_only = re.sub(r"[\s-]", "", text)
    return sorted(
        v
        for v in hidden
        if v in text or (re.fullmatch(r"[\d\s+-]+", v) and re.sub(r"\D", "", v) in digits_only)
    )


def test_no_answer_or_page_shows_an_identifier_its_reader_may_not_read(town: Town) -> None:
    secrets = secrets_of(town)
    assert secrets[Whose.REPORTER] and secrets[Whose.RESIDENT] and secrets[Whose.STAFF]
    numbers = identity_numbers(town.folder)
    assert numbers
    personas: list[tuple[str, Role | None, dict[str, str]]] = [("anonymous", None, {})]
    personas += [(role.value, role, town.persona(role)) for role in USER_ROLES]
    personas.append(
        ("resident by phone", Role.RESIDENT, town.headers(RESIDENT_PHONE, "a-long-password"))
    )
    found: list[str] = []
    checked = 0
    for label, role, headers in personas:
        hidden = set(numbers)
        for whose, values in secrets.items():
            if not masking.reads_in_full(role, whose):
                hidden |= values
        if label == "resident by phone":
            hidden.discard(RESIDENT_PHONE)  # her own number, on her own pages
        for path in paths(town):
            for accept in ("application/json", "text/html"):
                response = town.client.get(
                    path, headers=headers | {"Accept": accept}, follow_redirects=False
                )
                if response.status_code != 200:
                    continue
                checked += 1
                for value in leaks(response.text, hidden):
                    found.append(f"{label} {path}: {value}")
    assert checked > 200
    assert found == []
