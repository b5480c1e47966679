"""The hotline agent's intake and the one search box, on SQLite and PostgreSQL: a caller's
earlier cases by her phone, her call added to one of them, a registry address typed as the
registry writes it (or chosen by its number, also through Open311's address_id) placing a
case at its point and grid, "register and dispatch now", and GET /api/v1/cases?q= finding a
case by its number, a caller's phone (only for the roles that read phones), its address and
its words, open or closed, with LIKE's wildcards taken as typed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, update

from civicgrid.accounts.services import add_api_key
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.cases import hotline
from civicgrid.cases.domain import Channel, Status
from civicgrid.cases.repository import CaseRepository, cases
from civicgrid.cases.services import NewCase
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import Conflict, Forbidden, InvalidInput
from civicgrid.core.ledger import audit_entries
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city
from civicgrid.registry.repository import registry_addresses
from tests.conftest import SMALL_CITY, DatabaseMaker, actor_named, open_platform, own_address

CALLER = "139 0000 1234"
OTHER_CALLER = "13800004321"


@dataclass
class HotlineCity:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    # text → (id, lat, lon, grid) of the standard addresses written for the tests
    addresses: dict[str, tuple[int, float, float, str]]
    tokens: dict[str, str] = field(default_factory=dict)

    def username(self, role: Role) -> str:
        return next(c.username for c in self.summary.credentials if c.role is role)

    def actor(self, role: Role) -> Actor:
        with UnitOfWork(self.platform.session_factory) as uow:
            return actor_named(uow, self.username(role))

    def headers(self, role: Role) -> dict[str, str]:
        name = self.username(role)
        if name not in self.tokens:
            password = next(c.password for c in self.summary.credentials if c.username == name)
            response = self.client.post(
                "/api/v1/auth/token", data={"username": name, "password": password}
            )
            assert response.status_code == 200, response.text
            self.tokens[name] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def search(self, role: Role, q: str, **params: str) -> list[int]:
        response = self.client.get(
            "/api/v1/cases", headers=self.headers(role), params={"q": q, **params}
        )
        assert response.status_code == 200, response.text
        return [int(item["id"]) for item in response.json()["items"]]


@pytest.fixture(scope="module")
def town(databases: DatabaseMaker) -> Iterator[HotlineCity]:
    platform = open_platform(databases.new("hotline"))
    plan = DemoCityBuilder(seed=3).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
    grids = [a for a in plan.areas if a.level.value == "grid"]
    addresses: dict[str, tuple[int, float, float, str]] = {}
    now = utcnow()
    rows = []
    for n, (road, grid) in enumerate([("青枫路", grids[0]), ("梧桐街", grids[4])], start=1):
        point = grid.geometry.representative_point()
        text = f"{road}{n}号锦绣花园{n}栋2单元30{n}室"
        rows.append(
            {
                "id": 9000 + n,
                "district": "",
                "street": "",
                "community": "",
                "road": road,
                "number": str(n),
                "estate": "锦绣花园",
                "building": str(n),
                "unit": "2",
                "room": f"30{n}",
                "text": text,
                "lat": point.y,
                "lon": point.x,
                "grid_code": grid.code,
                "source": "test",
                "source_key": text,
                "content_hash": f"{n:032d}",
                "created_at": now,
                "updated_at": now,
            }
        )
        addresses[text] = (9000 + n, point.y, point.x, grid.code)
    with UnitOfWork(platform.session_factory) as uow:
        uow.session.execute(insert(registry_addresses), rows)
        uow.commit()
    with TestClient(create_app(platform)) as client:
        yield HotlineCity(platform, summary, client, addresses)
    platform.engine.dispose()


def report(town: HotlineCity, role: Role = Role.DISPATCHER, **fields: Any) -> dict[str, Any]:
    phone = fields.pop("reporter_phone", CALLER)
    body = {
        "description": "小区门口路灯坏了三天，晚上很黑",
        "channel": "hotline",
        "reporter": {"phone": phone},
        **fields,
    }
    response = town.client.post("/api/v1/cases", headers=town.headers(role), json=body)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def logged(uow: UnitOfWork) -> int:
    return int(uow.session.execute(select(func.count()).select_from(audit_entries)).scalar_one())


def first_address(town: HotlineCity, index: int = 0) -> tuple[str, tuple[int, float, float, str]]:
    return list(town.addresses.items())[index]


# ------------------------------------------------------------------ places


def test_a_registry_address_typed_as_the_registry_writes_it_places_the_case(
    town: HotlineCity,
) -> None:
    text, (_id, lat, lon, grid) = first_address(town)
    case = report(town, address=text)
    assert (case["lat"], case["lon"], case["grid_code"]) == (lat, lon, grid)
    # Written another way the parser reads to the same door: the same place.
    other = report(town, address="青枫路一号 锦绣花园1幢2单元301")
    assert other["grid_code"] == grid


def test_an_address_naming_no_standard_address_is_still_refused_by_field(
    town: HotlineCity,
) -> None:
    response = town.client.post(
        "/api/v1/cases",
        headers=town.headers(Role.DISPATCHER),
        json={"description": "路面塌陷", "channel": "hotline", "address": "火星基地99号"},
    )
    assert response.status_code == 422, response.text


def test_open311_address_id_places_the_request_at_the_standard_address(
    town: HotlineCity,
) -> None:
    with UnitOfWork(town.platform.session_factory) as uow:
        key = add_api_key(uow, SYSTEM, "open311-hotline-test")
    text, (address_id, lat, lon, grid) = first_address(town, 1)
    data = {"api_key": key, "service_code": "CR01", "address_id": str(address_id)}
    data["attribute[amount]"] = "pile"
    response = town.client.post("/open311/v2/requests.json", data=data)
    assert response.status_code == 200, response.text
    case_id = int(response.json()[0]["service_request_id"])
    with UnitOfWork(town.platform.session_factory) as uow:
        case = CaseRepository(uow.session).get(case_id)
        assert case is not None
        assert (case.lat, case.lon, case.grid_code, case.address) == (lat, lon, grid, text)
    unknown = town.client.post("/open311/v2/requests.json", data={**data, "address_id": "987654"})
    assert unknown.status_code == 400
    assert "address_id" in unknown.json()[0]["description"]


# ------------------------------------------------------------------ the hotline services


def test_a_caller_s_earlier_cases_come_by_her_phone_however_it_is_spaced(
    town: HotlineCity,
) -> None:
    text, _ = first_address(town)
    mine = report(town, address=text, reporter_phone="139-0000-1234")["id"]
    report(town, address=text, reporter_phone=OTHER_CALLER)
    dispatcher = town.actor(Role.DISPATCHER)
    with UnitOfWork(town.platform.session_factory) as uow:
        before = logged(uow)
        found = hotline.caller_cases(uow, dispatcher, "13900001234")
        assert mine in [c.case.id for c in found]
        assert all(not c.supporter for c in found if c.case.id == mine)
        # Looking a phone up is a read of reporters' phones, logged.
        assert logged(uow) == before + 1
        with pytest.raises(InvalidInput):
            hotline.caller_cases(uow, dispatcher, "139")
    with UnitOfWork(town.platform.session_factory) as uow, pytest.raises(Forbidden):
        hotline.caller_cases(uow, town.actor(Role.HANDLER), CALLER)


def test_a_call_about_an_earlier_case_is_added_to_it(town: HotlineCity) -> None:
    text, _ = first_address(town)
    case_id = report(town, address=text, reporter_phone=OTHER_CALLER)["id"]
    dispatcher = town.actor(Role.DISPATCHER)
    ports = town.platform.cases
    with UnitOfWork(town.platform.session_factory) as uow:
        added = hotline.add_call(
            uow, dispatcher, case_id, hotline.NewCall("13700009999", "王女士", "还是没修"), ports
        )
        assert added.new_reporter and added.case.supporters == 1
        # The same caller again: counted, not a second reporter.
        again = hotline.add_call(
            uow, dispatcher, case_id, hotline.NewCall("137 0000 9999", note="催办"), ports
        )
        assert not again.new_reporter and again.case.supporters == 2
        repo = CaseRepository(uow.session)
        phones = [r.phone for r in repo.reporters(case_id)]
        assert phones.count("13700009999") == 1
        assert [e.action for e in repo.timeline(case_id)][-2:] == ["join", "join"]
        found = hotline.caller_cases(uow, dispatcher, "13700009999")
        assert [(c.case.id, c.supporter) for c in found] == [(case_id, True)]
    with UnitOfWork(town.platform.session_factory) as uow:
        uow.session.execute(update(cases).where(cases.c.id == case_id).values(status=Status.CLOSED))
        uow.commit()
    with UnitOfWork(town.platform.session_factory) as uow, pytest.raises(Conflict):
        hotline.add_call(uow, dispatcher, case_id, hotline.NewCall("13700009999"), ports)


def test_register_and_dispatch_now_takes_a_call_to_the_routed_unit(town: HotlineCity) -> None:
    text, (address_id, lat, lon, grid) = first_address(town, 1)
    dispatcher = town.actor(Role.DISPATCHER)
    new = NewCase(
        description="楼道里堆满杂物，堵住了消防通道",
        channel=Channel.RESIDENT_WEB,
        category="CR01",
        reporter_phone=CALLER,
    )
    with UnitOfWork(town.platform.session_factory) as uow:
        done = hotline.register_call(
            uow, dispatcher, new, town.platform.cases, address_id=address_id, dispatch=True
        )
        case = done.case
        assert done.stopped is None, done.stopped
        assert done.dispatched and case.status is Status.DISPATCHED
        assert case.channel is Channel.HOTLINE
        assert (case.lat, case.lon, case.grid_code, case.address) == (lat, lon, grid, text)
        assert case.department_code == case.suggested_department_code is not None
        actions = [e.action for e in CaseRepository(uow.session).timeline(case.id or 0)]
        assert actions == ["report", "accept", "register", "dispatch"]
    with UnitOfWork(town.platform.session_factory) as uow, pytest.raises(InvalidInput):
        hotline.register_call(uow, dispatcher, new, town.platform.cases, address_id=123456)


def test_address_suggestions_hold_every_word_typed(town: HotlineCity) -> None:
    dispatcher = town.actor(Role.DISPATCHER)
    with UnitOfWork(town.platform.session_factory) as uow:
        found = hotline.suggest_addresses(uow, dispatcher, "青枫路 2单元")
        assert [a.text for a in found] == [first_address(town)[0]]
        assert hotline.suggest_addresses(uow, dispatcher, "%") == []


# ------------------------------------------------------------------ the one search box


def test_the_search_finds_a_case_by_number_phone_address_and_words(town: HotlineCity) -> None:
    text, _ = first_address(town)
    case = report(town, address=text, title="井盖缺失_100%", reporter_phone="13655557777")
    case_id = case["id"]
    assert case_id in town.search(Role.DISPATCHER, str(case_id), status="")
    assert case_id in town.search(Role.DISPATCHER, f"#{case_id}")
    assert case_id in town.search(Role.DISPATCHER, "136 5555 7777")
    assert case_id in town.search(Role.DISPATCHER, "5555777")
    assert case_id in town.search(Role.DISPATCHER, "青枫路 锦绣")
    assert case_id in town.search(Role.DISPATCHER, "井盖缺失_100%")
    assert case_id in town.search(Role.DISPATCHER, "路灯 晚上")
    # Wildcards are characters: "_" and "%" find only what holds them.
    assert case_id not in town.search(Role.DISPATCHER, "井盖缺失%")
    assert town.search(Role.DISPATCHER, "%%") == []
    # A leader does not read reporters' phones, so the phone finds nothing for her.
    assert case_id not in town.search(Role.LEADER, "13655557777")
    assert case_id in town.search(Role.LEADER, "青枫路")
    # Closed cases are found with their state.
    with UnitOfWork(town.platform.session_factory) as uow:
        uow.session.execute(update(cases).where(cases.c.id == case_id).values(status=Status.CLOSED))
        uow.commit()
    assert case_id in town.search(Role.DISPATCHER, "13655557777", status="closed")
    assert case_id not in town.search(Role.DISPATCHER, "13655557777", status="open")
    too_long = town.client.get(
        "/api/v1/cases", headers=town.headers(Role.DISPATCHER), params={"q": "字" * 201}
    )
    assert too_long.status_code == 422


# ------------------------------------------------------------------ the hotline page


def signed_in(town: HotlineCity, role: Role) -> TestClient:
    client = TestClient(create_app(town.platform), client=own_address())
    name = town.username(role)
    password = next(c.password for c in town.summary.credentials if c.username == name)
    response = client.post(
        "/login", data={"username": name, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return client


def test_the_hotline_page_takes_a_call_to_a_dispatched_case(town: HotlineCity) -> None:
    text, (address_id, _lat, _lon, grid) = first_address(town)
    with signed_in(town, Role.DISPATCHER) as agent:
        assert 'href="/hotline"' in agent.get("/dispatch").text
        page = agent.get("/hotline")
        assert page.status_code == 200 and 'name="phone"' in page.text
        suggested = agent.get("/hotline/addresses", params={"q": "青枫路"}).json()
        assert suggested[0]["id"] == address_id and suggested[0]["grid"]
        form = {
            "phone": "13911112222",
            "address": text,
            "address_id": str(address_id),
            "description": "小区垃圾桶满溢好几天没人清运",
            "category": "CR01",
            "intent": "dispatch",
        }
        sent = agent.post("/hotline", data=form, follow_redirects=False)
        assert sent.status_code == 303, sent.text
        done = agent.get(sent.headers["location"])
        case_id = int(sent.headers["location"].split("done=")[1].split("&")[0])
        with UnitOfWork(town.platform.session_factory) as uow:
            case = CaseRepository(uow.session).get(case_id)
            assert case is not None and case.status is Status.DISPATCHED
            assert case.grid_code == grid
        assert f"案件 {case_id} 已登记并派遣给" in done.text
        # The caller again: her earlier case is offered, and the call added to it.
        history = agent.get("/hotline/caller", params={"phone": "139 1111 2222"}).text
        assert f'value="{case_id}"' in history and "add-call" in history
        again = agent.post(
            "/hotline",
            data={"phone": "13911112222", "description": "还没人来", "add_to": str(case_id)},
            follow_redirects=False,
        )
        assert again.status_code == 303
        assert f"来电已添加到案件 {case_id}" in agent.get(again.headers["location"]).text


def test_the_hotline_form_names_each_missing_field(town: HotlineCity) -> None:
    with signed_in(town, Role.DISPATCHER) as agent:
        sent = agent.post("/hotline", data={"phone": "13911113333", "intent": "dispatch"})
        assert sent.status_code == 422
        for field in ("description", "category", "address"):
            assert f'id="error-{field}"' in sent.text
        assert 'value="13911113333"' in sent.text  # what was typed stays


def test_only_the_centre_takes_calls(town: HotlineCity) -> None:
    with signed_in(town, Role.LEADER) as leader:
        assert leader.get("/hotline").status_code == 403
        assert 'href="/hotline"' not in leader.get("/dispatch").text
    with signed_in(town, Role.HANDLER) as handler:
        assert handler.get("/hotline/caller", params={"phone": CALLER}).status_code == 403


def test_the_confirmation_names_open_cases_nearby_that_may_be_the_same(
    town: HotlineCity,
) -> None:
    text, (address_id, *_rest) = first_address(town, 1)
    form = {
        "phone": "13911114444",
        "address": text,
        "address_id": str(address_id),
        "description": "单元门口的垃圾桶倒了，垃圾撒了一地",
        "category": "CR01",
        "intent": "register",
    }
    with signed_in(town, Role.DISPATCHER) as agent:
        first = agent.post("/hotline", data=form, follow_redirects=False)
        first_id = int(first.headers["location"].split("done=")[1].split("&")[0])
        second = agent.post(
            "/hotline", data={**form, "phone": "13911115555"}, follow_redirects=False
        )
        assert "near=" in second.headers["location"]
        page = agent.get(second.headers["location"]).text
        assert f'<a href="/cases/{first_id}">' in page and "可能是同一问题" in page
