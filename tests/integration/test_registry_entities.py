"""Linked entities inside the registry, on SQLite and PostgreSQL: the demo's departments'
people linked into entities, ids kept across runs, an entity's records side by side with
the believed values, who sees which entity, reviewers' confirm and split surviving the
next run, wrong decisions refused naming the field, the pages and the command."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import NotFound
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import (
    DemoRegistry,
    DemoSummary,
    install_demo_city,
    install_demo_registry,
)
from civicgrid.registry import entities
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.entities import registry_entities, registry_link_decisions
from civicgrid.registry.repository import registry_people
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, actor_named, open_platform


@dataclass
class LinkedCity:
    platform: Platform
    summary: DemoSummary
    registry: DemoRegistry
    client: TestClient
    tokens: dict[str, str]
    url: str

    def username(self, role: Role) -> str:
        return next(c.username for c in self.summary.credentials if c.role is role)

    def password(self, username: str) -> str:
        return next(c.password for c in self.summary.credentials if c.username == username)

    def headers(self, role: Role) -> dict[str, str]:
        name = self.username(role)
        if name not in self.tokens:
            response = self.client.post(
                "/api/v1/auth/token", data={"username": name, "password": self.password(name)}
            )
            assert response.status_code == 200, response.text
            self.tokens[name] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def actor(self, role: Role) -> Actor:
        with UnitOfWork(self.platform.session_factory) as uow:
            return actor_named(uow, self.username(role))

    def worker_grid(self) -> str:
        return next(c.scope for c in self.summary.credentials if c.role is Role.GRID_WORKER)


@pytest.fixture(scope="module")
def linked_city(databases: DatabaseMaker) -> Iterator[LinkedCity]:
    url = databases.new("entities")
    platform = open_platform(url)
    plan = DemoCityBuilder(seed=11).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
        registry = install_demo_registry(uow, SYSTEM, 400, secret_key=TEST_SECRET)
    with TestClient(create_app(platform)) as client:
        yield LinkedCity(platform, summary, registry, client, {}, url)
    platform.engine.dispose()


def entity_rows(city: LinkedCity, kind: str | None = "people") -> list[dict[str, Any]]:
    """The entities of KIND (None: of every kind)."""
    stmt = select(registry_entities).order_by(registry_entities.c.id)
    if kind is not None:
        stmt = stmt.where(registry_entities.c.kind == kind)
    with UnitOfWork(city.platform.session_factory) as uow:
        return [dict(r) for r in uow.session.execute(stmt).mappings()]


def members(city: LinkedCity, entity_id: int) -> list[dict[str, Any]]:
    with UnitOfWork(city.platform.session_factory) as uow:
        return [
            dict(r)
            for r in uow.session.execute(
                select(
                    registry_people.c.id,
                    registry_people.c.source,
                    registry_people.c.grid_code,
                    registry_people.c.entity_id,
                )
                .where(registry_people.c.entity_id == entity_id)
                .order_by(registry_people.c.id)
            ).mappings()
        ]


def entity_of(city: LinkedCity, record_id: int) -> int:
    with UnitOfWork(city.platform.session_factory) as uow:
        found = uow.session.execute(
            select(registry_people.c.entity_id).where(registry_people.c.id == record_id)
        ).scalar_one()
        assert found is not None
        return int(found)


_handed_out: set[int] = set()


def a_linked_entity(city: LinkedCity, *, disagreeing: bool = False, grid: str | None = None) -> int:
    """An entity of two records (a public security one and a grid worker's) that no other
    test has used, in GRID when given."""
    for row in entity_rows(city):
        if row["id"] in _handed_out or row["records"] != 2:
            continue
        if disagreeing and not row["disagree"]:
            continue
        records = members(city, row["id"])
        if {r["source"] for r in records} != {"公安", "网格采集"}:
            continue
        if grid is not None and any(r["grid_code"] != grid for r in records):
            continue
        _handed_out.add(row["id"])
        return int(row["id"])
    raise AssertionError("no such entity in the demo registry")


def link_again(city: LinkedCity) -> entities.LinkRun:
    with UnitOfWork(city.platform.session_factory) as uow:
        return entities.link_registry(uow, SYSTEM)


# ------------------------------------------------------------------ linking


def test_the_demo_registry_people_are_linked_into_entities(linked_city: LinkedCity) -> None:
    run = linked_city.registry.linked[RecordKind.PERSON]
    assert run.accuracy is None
    assert run.records > 400 and run.linked_entities > 100
    assert run.disagreeing_entities > 0
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        unlinked = uow.session.execute(
            select(registry_people.c.id).where(registry_people.c.entity_id.is_(None))
        ).all()
    assert unlinked == []
    assert {r["kind"] for r in entity_rows(linked_city, None)} == {
        "people",
        "houses",
        "organisations",
    }
    rows = entity_rows(linked_city)
    assert all(r["records"] >= 1 for r in rows)
    # Public security holds the registered identity: its records give the believed name.
    two = next(r for r in rows if r["records"] == 2)
    assert two["believed"]["name"]["source"] == "公安"
    assert "*" in two["believed"]["id_masked"]["value"]


def test_a_second_run_keeps_every_entity_id(linked_city: LinkedCity) -> None:
    before = {r["id"]: r["records"] for r in entity_rows(linked_city)}
    run = link_again(linked_city)
    after = {r["id"]: r["records"] for r in entity_rows(linked_city)}
    assert after == before
    assert run.kept_ids == run.entities and run.changed_records == 0


# ------------------------------------------------------------------ reading


def test_the_api_shows_an_entitys_records_side_by_side(linked_city: LinkedCity) -> None:
    entity_id = a_linked_entity(linked_city, disagreeing=True)
    response = linked_city.client.get(
        f"/api/v1/registry/entities/{entity_id}", headers=linked_city.headers(Role.DATA_ADMIN)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["source"] for r in body["records"]] == ["公安", "网格采集"]
    assert body["disagree"] and set(body["disagree"]) <= set(body["columns"])
    assert body["believed"]["name"]["source"] == "公安"
    assert body["believed"]["name"]["reason"] == "source priority"
    # The data administrator sees masked phones and identity numbers, no hash, no care tags.
    assert all("id_hash" not in r and "care_tags" not in r for r in body["records"])
    assert "care_tags" not in body["columns"]
    assert all(r["phone"] == "" or "****" in r["phone"] for r in body["records"])
    believed_phone = body["believed"]["phone"]["value"]
    assert believed_phone is None or "****" in believed_phone
    assert "*" in body["believed"]["id_masked"]["value"]


def test_the_grid_worker_sees_care_tags_and_only_entities_of_her_grid(
    linked_city: LinkedCity,
) -> None:
    grid = linked_city.worker_grid()
    mine = a_linked_entity(linked_city, grid=grid)
    worker = linked_city.actor(Role.GRID_WORKER)
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        view = entities.get_entity(uow, worker, mine)
        assert "care_tags" in view.columns and all("care_tags" in r for r in view.records)
        assert all(len(r["phone"]) in (0, 11) for r in view.records)
        elsewhere = next(
            r["id"]
            for r in entity_rows(linked_city)
            if all(m["grid_code"] != grid for m in members(linked_city, r["id"]))
        )
        with pytest.raises(NotFound):
            entities.get_entity(uow, worker, elsewhere)
    refused = linked_city.client.get(
        f"/api/v1/registry/entities/{mine}", headers=linked_city.headers(Role.LEADER)
    )
    assert refused.status_code == 403


# ------------------------------------------------------------------ decisions


def test_a_split_takes_the_record_out_and_survives_the_next_run(
    linked_city: LinkedCity,
) -> None:
    entity_id = a_linked_entity(linked_city)
    collected = next(r for r in members(linked_city, entity_id) if r["source"] == "网格采集")
    response = linked_city.client.post(
        f"/api/v1/registry/entities/{entity_id}/decisions",
        json={"decision": "split", "record_id": collected["id"], "reason": "不是同一人，本人核实"},
        headers=linked_city.headers(Role.DATA_ADMIN),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["source"] for r in body["records"]] == ["公安"]
    decision = body["decisions"][0]
    assert decision["decision"] == "split" and decision["reason"] == "不是同一人，本人核实"
    assert decision["actor"] == linked_city.username(Role.DATA_ADMIN)
    alone = entity_of(linked_city, collected["id"])
    assert alone != entity_id

    run = link_again(linked_city)
    assert run.decisions >= 1
    assert entity_of(linked_city, collected["id"]) != entity_id
    assert [r["source"] for r in members(linked_city, entity_id)] == ["公安"]
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        kept = uow.session.execute(
            select(registry_link_decisions.c.source_b, registry_link_decisions.c.decision).where(
                registry_link_decisions.c.reason == "不是同一人，本人核实"
            )
        ).all()
    # Kept by source and source key, so it outlives the row ids of a re-import.
    assert [tuple(k) for k in kept] == [("公安", "split")]


def test_a_confirmed_pair_from_two_entities_stays_together_after_the_next_run(
    linked_city: LinkedCity,
) -> None:
    first = a_linked_entity(linked_city)
    second = a_linked_entity(linked_city)
    record = members(linked_city, first)[0]["id"]
    other = members(linked_city, second)[1]["id"]
    admin = linked_city.actor(Role.DATA_ADMIN)
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        view = entities.decide_link(
            uow, admin, first, "confirm", record, "同一人改名，见户籍变更", other_record_id=other
        )
    assert other in [r["id"] for r in view.records]
    link_again(linked_city)
    assert entity_of(linked_city, record) == entity_of(linked_city, other)


def test_wrong_decisions_are_refused_naming_the_field(linked_city: LinkedCity) -> None:
    entity_id = a_linked_entity(linked_city)
    stranger = members(linked_city, a_linked_entity(linked_city))[0]["id"]
    record = members(linked_city, entity_id)[0]["id"]
    headers = linked_city.headers(Role.DATA_ADMIN) | {"Accept-Language": "en"}
    url = f"/api/v1/registry/entities/{entity_id}/decisions"

    def post(body: dict[str, Any]) -> Any:
        return linked_city.client.post(url, json=body, headers=headers)

    not_member = post({"decision": "split", "record_id": stranger, "reason": "x"})
    assert not_member.status_code == 422
    message = not_member.json()["error"]["message"]
    assert message.startswith("record_id:") and str(stranger) in message
    no_reason = post({"decision": "split", "record_id": record, "reason": " "})
    assert no_reason.status_code == 422 and "why" in no_reason.json()["error"]["message"]
    bad = post({"decision": "merge", "record_id": record, "reason": "x"})
    assert bad.status_code == 422 and bad.json()["error"]["message"].startswith("decision:")
    itself = post(
        {"decision": "split", "record_id": record, "other_record_id": record, "reason": "x"}
    )
    assert itself.status_code == 422
    assert itself.json()["error"]["message"].startswith("other_record_id:")
    missing = linked_city.client.get("/api/v1/registry/entities/999999", headers=headers)
    assert missing.status_code == 404
    assert len(members(linked_city, entity_id)) == 2  # nothing was decided


# ------------------------------------------------------------------ pages and the command


def test_the_pages_link_a_record_to_its_entity_where_a_record_is_split(
    linked_city: LinkedCity,
) -> None:
    client = linked_city.client
    admin = linked_city.username(Role.DATA_ADMIN)
    entity_id = a_linked_entity(linked_city, disagreeing=True)
    first, second = members(linked_city, entity_id)
    client.cookies.clear()
    login = client.post(
        "/login",
        data={"username": admin, "password": linked_city.password(admin)},
        follow_redirects=False,
    )
    assert login.status_code in (302, 303)
    record = client.get(f"/registry/people/{first['id']}")
    assert record.status_code == 200
    assert f'href="/registry/entities/{entity_id}"' in record.text
    page = client.get(f"/registry/entities/{entity_id}")
    assert page.status_code == 200
    assert 'name="viewport"' in page.text and "采信值" in page.text
    assert page.text.count('class="entity-record"') == 2
    assert 'class="disagree"' in page.text and 'id="decide-form"' in page.text
    refused = client.post(
        f"/registry/entities/{entity_id}/decisions",
        data={"decision": "split", "record_id": str(second["id"]), "reason": ""},
    )
    assert refused.status_code == 422 and "请填写判断理由" in refused.text
    # Confirming is the highlighted button; splitting is asked again before it is kept.
    form = page.text.split('id="decide-form"')[1]
    assert 'class="btn primary" id="decide-confirm"' in form
    assert 'id="decide-split"' in form and 'class="btn primary" id="decide-split"' not in form
    asked = client.post(
        f"/registry/entities/{entity_id}/decisions",
        data={"decision": "split", "record_id": str(second["id"]), "reason": "电话核实非本人"},
    )
    assert asked.status_code == 200 and 'id="confirm-split"' in asked.text
    assert 'name="confirmed" value="yes"' in asked.text and 'id="split-cancel"' in asked.text
    assert asked.text.count('class="entity-record"') == 2  # nothing split yet
    assert len(members(linked_city, entity_id)) == 2
    split = client.post(
        f"/registry/entities/{entity_id}/decisions",
        data={
            "decision": "split",
            "record_id": str(second["id"]),
            "reason": "电话核实非本人",
            "confirmed": "yes",
        },
        follow_redirects=True,
    )
    assert split.status_code == 200 and 'id="decided"' in split.text
    assert "电话核实非本人" in split.text
    assert split.text.count('class="entity-record"') == 1
    english = client.get(f"/registry/entities/{entity_id}?lang=en")
    assert "Believed value" in english.text and "Split off" in english.text
    client.cookies.clear()


def test_every_field_the_records_disagree_on_is_flagged(linked_city: LinkedCity) -> None:
    """A person registered (户籍) in one department's file and floating (流动) in another's
    is a disagreement, though the linkage does not compare residences: the page flags it
    rather than saying the records agree."""
    entity_id = a_linked_entity(linked_city)
    first, second = members(linked_city, entity_id)
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        for record, residence in ((first, "registered"), (second, "floating")):
            uow.session.execute(
                registry_people.update()
                .where(registry_people.c.id == record["id"])
                .values(residence=residence)
            )
        uow.commit()
    with UnitOfWork(linked_city.platform.session_factory) as uow:
        view = entities.get_entity(uow, linked_city.actor(Role.DATA_ADMIN), entity_id)
    assert "residence" in view.disagree
    link_again(linked_city)
    stored = next(r for r in entity_rows(linked_city) if r["id"] == entity_id)
    assert "residence" in stored["disagree"]
    page = linked_city.client.get(
        f"/registry/entities/{entity_id}", headers=linked_city.headers(Role.DATA_ADMIN)
    )
    assert 'id="entity-agree"' not in page.text and 'id="entity-disagree"' in page.text
    assert 'class="disagree" id="row-residence"' in page.text
    flagged = page.text.split('id="entity-disagree">')[1].split("</p>")[0]
    assert "人员类型" in flagged
    assert "户籍人口" in page.text and "流动人口" in page.text


def test_the_command_links_the_registry_in_the_database(linked_city: LinkedCity) -> None:
    result = CliRunner().invoke(cli_app, ["registry", "link", "--db", linked_city.url])
    assert result.exit_code == 0, result.output
    assert "people records →" in result.output and "entities kept their id" in result.output
    assert "precision and recall not measured" in result.output
    wrong = CliRunner().invoke(
        cli_app, ["registry", "link", "--db", linked_city.url, "--kind", "addresses"]
    )
    assert wrong.exit_code == 1 and "addresses" in wrong.output


def test_houses_and_organisations_are_linked_too(linked_city: LinkedCity) -> None:
    from civicgrid.registry.repository import registry_houses

    with UnitOfWork(linked_city.platform.session_factory) as uow:
        houses = entities.link_registry(uow, SYSTEM, RecordKind.HOUSE)
        organisations = entities.link_registry(uow, SYSTEM, RecordKind.ORGANISATION)
        unlinked = uow.session.execute(
            select(registry_houses.c.id).where(registry_houses.c.entity_id.is_(None))
        ).all()
        house = uow.session.execute(select(registry_houses.c.entity_id).limit(1)).scalar_one()
        view = entities.get_entity(uow, linked_city.actor(Role.DATA_ADMIN), house)
    assert houses.records > 0 and houses.entities > 0 and unlinked == []
    assert organisations.records > 0 and organisations.entities > 0
    assert view.kind is RecordKind.HOUSE and "owner_name" in view.columns
    # Entities of every kind share one numbering: a person's entity is never a house's.
    kinds = {r["id"]: r["kind"] for r in entity_rows(linked_city, None)}
    assert kinds[house] == "houses" and len(kinds) >= houses.entities + organisations.entities


def test_an_entity_of_one_record_is_resolved_as_the_general_rule_does() -> None:
    from civicgrid.registry.entities import KINDS, _rules, resolve_single
    from civicgrid.registry.linkage import resolve_entity

    rules = _rules(KINDS[RecordKind.PERSON].spec)
    for record in [
        {"source": "公安", "record_id": "1", "name": " 杨明伟 ", "identity": "ab12",
         "birth_date": "1988-07-15", "sex": "M", "phone": "", "address": "人民路1号"},
        {"source": "网格采集", "record_id": "2", "name": "", "identity": "",
         "birth_date": "not a date", "sex": "x", "phone": "13800000000", "address": None},
        {"source": "民政", "record_id": "3", "name": "李四", "identity": "cd34",
         "birth_date": "", "sex": "F", "phone": "139 0000 0000", "address": "幸福里3-2-501"},
    ]:  # fmt: skip
        assert resolve_single(record, rules) == resolve_entity([record], rules)
