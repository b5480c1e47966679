"""The data-sharing exchange on SQLite and PostgreSQL, in a small demo city whose units
share its registry and cases: the graded catalogue and its quality, requests and grants on
the kernel (the owner, then the data administrator; narrowed, refused, withdrawn, late,
expired, revoked), reads and exports through a grant with masking on the server, yes/no
questions, uploads checked like registry imports, bad input, and the pages."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import city_day
from civicgrid.core.outbox import outbox
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.exchange import DemoExchange, install_demo_exchange
from civicgrid.demo.services import DemoSummary, install_demo_city, install_demo_registry
from civicgrid.exchange import services, sources
from civicgrid.exchange.domain import GrantState, RequestState, Scope
from civicgrid.exchange.ports import AuditAction, MemoryAuditTrail
from civicgrid.registry import views as registry_views
from civicgrid.registry.identifiers import credit_check_character
from civicgrid.registry.repository import (
    registry_houses,
    registry_organisations,
    registry_people,
)
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, open_platform, report_in_a_grid

CITY = "990100"
PASSWORD = "unit-password-123"


@dataclass
class Town:
    platform: Platform
    summary: DemoSummary
    demo: DemoExchange
    client: TestClient
    folder: Path
    audit: MemoryAuditTrail
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)

    def headers(self, username: str, password: str | None = None) -> dict[str, str]:
        if username not in self.tokens:
            if password is None:
                password = next(
                    (c.password for c in self.summary.credentials if c.username == username),
                    self.demo.staff_password,
                )
            response = self.client.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
            assert response.status_code == 200, response.text
            self.tokens[username] = {
                "Authorization": f"Bearer {response.json()['access_token']}",
                "Accept-Language": "en",
            }
        return self.tokens[username]

    def unit(self, code: str) -> dict[str, str]:
        """A handler of unit CODE (made on first use)."""
        username = f"t.{code}".lower()
        if username not in self.made:
            with UnitOfWork(self.platform.session_factory) as uow:
                add_user(uow, SYSTEM, NewUser(username, "handler", PASSWORD, department_code=code))
            self.made.add(username)
        return self.headers(username, PASSWORD)

    def dataset(self, code: str) -> int:
        found = self.client.get(
            f"/api/v1/exchange/datasets?q={code}", headers=self.headers("data_admin")
        ).json()["datasets"]
        return next(d["id"] for d in found if d["code"] == code)

    def today(self) -> date:
        return city_day(self.platform.exchange.clock(), self.platform.settings.timezone)


@pytest.fixture(scope="module")
def town(databases: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Town]:
    platform = open_platform(databases.new("exchange"))
    audit = MemoryAuditTrail()
    platform.exchange.audit = audit
    folder = tmp_path_factory.mktemp("exchange-registry")
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=0)
        install_demo_registry(uow, SYSTEM, 150, secret_key=TEST_SECRET, folder=folder, link=False)
        demo = install_demo_exchange(uow, SYSTEM, platform.exchange, folder=folder)
    with TestClient(create_app(platform)) as client:
        yield Town(platform, summary, demo, client, folder, audit)
    platform.engine.dispose()


def ask(town: Town, unit: str, dataset: int, fields: list[dict[str, Any]], **terms: Any) -> Any:
    body = {
        "dataset_id": dataset,
        "purpose": terms.pop("purpose", "测试用途"),
        "fields": fields,
        "starts_on": str(terms.pop("starts_on", town.today())),
        "ends_on": str(terms.pop("ends_on", town.today() + timedelta(days=30))),
        **terms,
    }
    return town.client.post("/api/v1/exchange/requests", json=body, headers=town.unit(unit))


def decide(town: Town, headers: dict[str, str], request_id: int, action: str, **body: Any) -> Any:
    return town.client.post(
        f"/api/v1/exchange/requests/{request_id}/decision",
        json={"action": action, **body},
        headers=headers,
    )


def rows(town: Town, unit: str, dataset: int, query: str = "") -> Any:
    return town.client.get(
        f"/api/v1/exchange/datasets/{dataset}/rows?{query}", headers=town.unit(unit)
    )


def error_of(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


# ------------------------------------------------------------------ the demo's sharing


def test_the_demo_city_shares_through_real_requests_and_grants(town: Town) -> None:
    demo = town.demo
    assert demo.datasets == 12
    assert demo.requests[RequestState.APPROVED] >= 5
    assert demo.requests[RequestState.REFUSED] == 1
    assert demo.requests[RequestState.ASKED] == 2
    assert demo.grants[GrantState.EXPIRED] == 1 and demo.grants[GrantState.REVOKED] == 1
    requests = town.client.get(
        "/api/v1/exchange/requests?side=both", headers=town.headers("data_admin")
    ).json()
    narrowed = [
        r for r in requests if "care_tags" not in r["fields"] and r["reason"].startswith("关怀类型")
    ]
    assert narrowed and narrowed[0]["fields"]["phone"] == "last:4"
    late = [r for r in requests if r["state"] == "asked" and r["overdue"]]
    assert late and late[0]["light"] == "red"


def test_the_catalogue_is_graded_classed_and_searchable(town: Town) -> None:
    admin = town.headers("data_admin")
    everything = town.client.get("/api/v1/exchange/datasets", headers=admin).json()
    by_code = {d["code"]: d for d in everything["datasets"]}
    assert by_code["people"]["highest_grade"] == "important"
    assert by_code["people"]["most_personal"] == "sensitive"
    assert by_code["people"]["working_days"] == 5
    assert by_code["houses"]["share_class"] == "unconditional"
    assert by_code["key-persons"]["share_class"] == "not_shared"
    found = town.client.get("/api/v1/exchange/datasets?q=care_tags", headers=admin).json()
    assert [d["code"] for d in found["datasets"]] == ["people"]
    questions = town.client.get("/api/v1/exchange/datasets?source=question", headers=admin)
    assert len(questions.json()["datasets"]) == 4
    resident = town.client.get("/api/v1/exchange/datasets", headers=town.headers("resident"))
    assert error_of(resident) == (403, "forbidden_role")


def test_each_field_has_its_quality_measured(town: Town) -> None:
    people = town.client.get(
        f"/api/v1/exchange/datasets/{town.dataset('people')}", headers=town.headers("data_admin")
    ).json()
    fields = {f["name"]: f for f in people["fields"]}
    assert fields["name"]["quality"]["completeness"] == 1.0
    assert fields["phone"]["quality"]["validity"] == 1.0  # the registry checked them
    # A person known to several departments has several records: their keys repeat.
    assert fields["id_hash"]["quality"]["duplicates"] > 0
    assert people["fresh"] is True and people["rows"] > 150
    vending = town.client.get(
        f"/api/v1/exchange/datasets/{town.dataset('street-vending')}",
        headers=town.headers("data_admin"),
    ).json()
    assert vending["batches"][0]["rejected"] == 3 and vending["batches"][0]["imported"] == 60


def test_quality_is_measured_again_after_each_registry_import_and_daily(town: Town) -> None:
    from civicgrid.registry.domain import RecordKind
    from civicgrid.registry.importing import default_mapping, open_table
    from civicgrid.registry.services import import_records

    platform = town.platform
    assert services.QUALITY_JOB in {job.name for job in platform.jobs}  # the scheduler's
    admin = town.headers("data_admin")
    listed = town.client.get("/api/v1/exchange/datasets", headers=admin).json()
    kinds = {d["code"]: d["source_kind"] for d in listed["datasets"]}
    from_registry = sum(1 for kind in kinds.values() if kind == "registry")
    measured = sum(1 for kind in kinds.values() if kind != "question")

    def quality_at(code: str) -> str:
        url = f"/api/v1/exchange/datasets/{town.dataset(code)}"
        return str(town.client.get(url, headers=admin).json()["quality_at"])

    with UnitOfWork(platform.session_factory) as uow:
        services.refresh_quality(uow, SYSTEM, platform.exchange)  # whatever was due
        assert services.refresh_quality(uow, SYSTEM, platform.exchange) == 0  # nothing since
    people, vending = quality_at("people"), quality_at("street-vending")
    path = town.folder / "公安_实有人口.csv"
    with UnitOfWork(platform.session_factory) as uow:
        kind = RecordKind.PERSON
        mapping = default_mapping(kind)
        import_records(
            uow, SYSTEM, kind, open_table(path), mapping, secret_key=TEST_SECRET, source="公安"
        )
        # The registry's datasets, and only they, are measured again after the import.
        assert services.refresh_quality(uow, SYSTEM, platform.exchange) == from_registry
    assert quality_at("people") > people and quality_at("street-vending") == vending
    # A case reported: the cases' dataset, and only it, is measured again.
    cases = quality_at("cases")
    report_in_a_grid(
        platform,
        town.client,
        town.headers("resident"),
        "小区门口垃圾桶满溢，好几天没人清理了",
        channel="resident_web",
    )
    with UnitOfWork(platform.session_factory) as uow:
        assert services.refresh_quality(uow, SYSTEM, platform.exchange) == 1
    assert quality_at("cases") > cases and quality_at("people") > people
    tomorrow = platform.exchange.clock() + timedelta(days=1, minutes=1)
    later = replace(platform.exchange, clock=lambda: tomorrow)
    with UnitOfWork(platform.session_factory) as uow:
        assert services.refresh_quality(uow, SYSTEM, later) == measured  # every day, all


# ------------------------------------------------------------------ requests and grants


def test_a_request_approved_by_the_owner_is_read_masked_as_granted(town: Town) -> None:
    houses = town.dataset("houses")
    made = ask(
        town,
        f"{CITY}-YJJ",
        houses,
        [{"field": "address_text"}, {"field": "owner_name"}, {"field": "owner_phone"}],
        purpose="汛期危房排查",
    )
    assert made.status_code == 201, made.text
    request = made.json()
    assert request["state"] == "asked" and request["light"] == "green"
    assert request["fields"] == {
        "address_text": "full",
        "owner_name": "name",
        "owner_phone": "phone",
    }
    decided = decide(town, town.unit(f"{CITY}-ZJJ"), request["id"], "approve")
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "approved" and decided.json()["grant_id"]
    page = rows(town, f"{CITY}-YJJ", houses, "limit=20")
    assert page.status_code == 200, page.text
    body = page.json()
    assert [f["name"] for f in body["fields"]] == ["address_text", "owner_name", "owner_phone"]
    with UnitOfWork(town.platform.session_factory) as uow:
        stored = uow.session.execute(
            select(registry_houses.c.owner_name, registry_houses.c.owner_phone)
        ).all()
    names = {n[0] + "*" * (len(n) - 2) + n[-1] for n, _ in stored if len(n) >= 3}
    phones = {p[:3] + "****" + p[-4:] for _, p in stored if len(p) == 11}
    for row in body["rows"]:
        assert set(row) == {"address_text", "owner_name", "owner_phone"}
        if row["owner_phone"] and len(row["owner_phone"]) == 11:
            assert row["owner_phone"] in phones
        if row["owner_name"] and len(row["owner_name"]) >= 3:
            assert row["owner_name"] in names
    raw_phones = {p for _, p in stored if p}
    assert not [p for p in raw_phones if p in page.text]
    history = town.client.get(
        f"/api/v1/exchange/requests/{request['id']}/history", headers=town.unit(f"{CITY}-YJJ")
    ).json()
    assert [(e["action"], e["actor"]) for e in history] == [
        ("ask", f"t.{CITY}-yjj"),
        ("approve", f"t.{CITY}-zjj"),
        ("grant", "system"),
        ("create", f"t.{CITY}-zjj"),
    ]


def test_sensitive_fields_also_need_a_second_person_as_data_administrator(town: Town) -> None:
    people = town.dataset("people")
    made = ask(
        town, f"{CITY}-RSJ", people, [{"field": "name"}, {"field": "care_tags", "mask": "full"}]
    ).json()
    assert made["needs_admin"] is True
    owner = town.unit(f"{CITY}-GAJ")
    first = decide(town, owner, made["id"], "approve").json()
    assert first["state"] == "review" and first["grant_id"] is None
    assert error_of(rows(town, f"{CITY}-RSJ", people)) == (403, "exchange_no_grant")
    again = decide(town, owner, made["id"], "approve")
    assert error_of(again) == (409, "exchange_decided")
    second = decide(town, town.headers("data_admin"), made["id"], "approve").json()
    assert second["state"] == "approved" and second["grant_id"]
    page = rows(town, f"{CITY}-RSJ", people, "limit=200").json()
    assert any(r["care_tags"] for r in page["rows"])  # in full, as the grant says


def test_the_owner_narrows_a_request_but_never_widens_it(town: Town) -> None:
    people = town.dataset("people")
    made = ask(
        town,
        f"{CITY}-JYJ",
        people,
        [{"field": "name", "mask": "full"}, {"field": "birth_date", "mask": "full"}],
        area="990101",
    ).json()
    owner = town.unit(f"{CITY}-GAJ")
    narrower = {
        "fields": [{"field": "name", "mask": "name"}, {"field": "birth_date", "mask": "age_band"}],
        "area": "990101",
        "starts_on": str(town.today()),
        "ends_on": str(town.today() + timedelta(days=10)),
    }
    without_reason = decide(town, owner, made["id"], "narrow", terms=narrower)
    assert error_of(without_reason) == (422, "share_request_field_required")
    wider = narrower | {"fields": [{"field": "phone", "mask": "full"}]}
    refused = decide(town, owner, made["id"], "narrow", reason="只需年龄段", terms=wider)
    assert error_of(refused) == (422, "exchange_narrow_adds_field")
    everywhere = narrower | {"area": ""}
    refused = decide(town, owner, made["id"], "narrow", reason="只需年龄段", terms=everywhere)
    assert error_of(refused) == (422, "exchange_narrow_wider_scope")
    done = decide(town, owner, made["id"], "narrow", reason="只需年龄段", terms=narrower).json()
    assert done["state"] == "approved" and done["fields"]["birth_date"] == "age_band"
    page = rows(town, f"{CITY}-JYJ", people, "limit=500").json()
    assert page["rows"] and all(
        re.fullmatch(r"\d+-\d+|80\+", r["birth_date"] or "0-17") for r in page["rows"]
    )
    with UnitOfWork(town.platform.session_factory) as uow:
        inside = uow.session.execute(
            select(registry_people.c.id).where(registry_people.c.grid_code.like("990101%"))
        ).all()
    assert len(page["rows"]) == len(inside)  # the district's rows, no others


def test_refusing_needs_a_reason_and_both_units_hear_of_each_step(town: Town) -> None:
    made = ask(town, f"{CITY}-SWJ", town.dataset("people"), [{"field": "phone", "mask": "full"}])
    request = made.json()
    owner = town.unit(f"{CITY}-GAJ")
    assert error_of(decide(town, owner, request["id"], "refuse")) == (
        422,
        "share_request_field_required",
    )
    refused = decide(town, owner, request["id"], "refuse", reason="用途与字段不相称").json()
    assert refused["state"] == "refused" and refused["reason"] == "用途与字段不相称"
    with UnitOfWork(town.platform.session_factory) as uow:
        notices = uow.session.execute(
            select(outbox.c.recipient, outbox.c.body).where(
                outbox.c.record_kind == "share_request", outbox.c.record_id == request["id"]
            )
        ).all()
    recipients = {r for r, _ in notices}
    assert f"user:t.{CITY}-gaj" in recipients and f"user:t.{CITY}-swj" in recipients
    assert any("用途与字段不相称" in body for _, body in notices)


def test_a_unit_cannot_ask_twice_nor_for_what_is_not_shared_nor_its_own(town: Town) -> None:
    houses = town.dataset("houses")
    first = ask(town, f"{CITY}-STJ", houses, [{"field": "kind"}])
    assert first.status_code == 201
    assert error_of(ask(town, f"{CITY}-STJ", houses, [{"field": "kind"}])) == (
        409,
        "exchange_request_open",
    )
    decide(town, town.unit(f"{CITY}-ZJJ"), first.json()["id"], "approve")
    overlapping = ask(town, f"{CITY}-STJ", houses, [{"field": "area_m2"}])
    assert error_of(overlapping) == (409, "exchange_grant_overlaps")
    assert error_of(ask(town, f"{CITY}-STJ", town.dataset("key-persons"), [{"field": "name"}])) == (
        409,
        "exchange_not_shared",
    )
    assert error_of(ask(town, f"{CITY}-ZJJ", houses, [{"field": "kind"}])) == (
        409,
        "exchange_own_dataset",
    )


def test_a_withdrawn_request_is_withdrawn_by_its_own_unit_only(town: Town) -> None:
    made = ask(town, "990102-JTJ", town.dataset("addresses"), [{"field": "text"}]).json()
    other = town.client.post(
        f"/api/v1/exchange/requests/{made['id']}/withdraw", headers=town.unit("990102-SWJ")
    )
    assert error_of(other) == (403, "exchange_not_party")
    done = town.client.post(
        f"/api/v1/exchange/requests/{made['id']}/withdraw", headers=town.unit("990102-JTJ")
    )
    assert done.json()["state"] == "withdrawn"


# ------------------------------------------------------------------ the clock


def test_deadlines_count_working_days_and_late_requests_turn_red(town: Town) -> None:
    ports = town.platform.exchange
    friday = datetime(2026, 12, 11, 2, 0).astimezone()  # 10:00 in the city on a Friday
    friday = (
        friday.replace(tzinfo=None).astimezone(ports.clock().tzinfo)
        if False
        else datetime(2026, 12, 11, 2, 0, tzinfo=ports.clock().tzinfo)
    )
    actor = Actor("t.990102-yjj", Role.HANDLER, department_code="990102-YJJ")
    with UnitOfWork(town.platform.session_factory) as uow:
        request = services.ask(
            uow,
            actor,
            ports,
            town.dataset("houses"),
            services.TermsIn([("kind", None)], date(2026, 12, 11), date(2027, 1, 11)),
            "台风前房屋排查",
            now=friday,
        )
        # 无条件共享: two working days, Monday and Tuesday, due by the end of Tuesday.
        assert request.deadline_at == datetime(2026, 12, 15, 16, 0, tzinfo=UTC)
        report = services.tick(uow, SYSTEM, ports, now=request.deadline_at + timedelta(minutes=1))
        assert request.id in report.overdue
        history = [e.action for e in services.request_history(uow, SYSTEM, request.id or 0)]
    assert history[-1] == "overdue"


def grant_notices(town: Town, grant: int) -> dict[str, str]:
    """The outbox's notices about GRANT: recipient → body."""
    with UnitOfWork(town.platform.session_factory) as uow:
        found = uow.session.execute(
            select(outbox.c.recipient, outbox.c.body).where(
                outbox.c.record_kind == "share_grant", outbox.c.record_id == grant
            )
        ).all()
    return {recipient: body for recipient, body in found}


def test_a_grant_expires_on_its_date_without_anyone_acting(town: Town) -> None:
    ports = town.platform.exchange
    cases = town.dataset("cases")
    made = ask(town, "990102-WJJ", cases, [{"field": "category_code"}]).json()
    decide(town, town.unit(f"{CITY}-CGJ"), made["id"], "approve")
    assert rows(town, "990102-WJJ", cases).status_code == 200
    with UnitOfWork(town.platform.session_factory) as uow:
        grant = services.get_request(uow, SYSTEM, made["id"]).grant_id
        after = datetime.combine(
            town.today() + timedelta(days=31), datetime.min.time()
        ).astimezone()
        report = services.tick(uow, SYSTEM, ports, now=after.astimezone(ports.clock().tzinfo))
    assert grant in report.expired
    expired = rows(town, "990102-WJJ", cases)
    assert error_of(expired) == (403, "exchange_grant_expired")
    assert str(town.today() + timedelta(days=30)) in expired.json()["error"]["message"]
    for unit in ("990102-WJJ", f"{CITY}-CGJ"):  # both units see every step
        history = town.client.get(
            f"/api/v1/exchange/requests/{made['id']}/history", headers=town.unit(unit)
        ).json()
        assert [e["action"] for e in history] == ["ask", "approve", "grant", "create", "expire"]
        assert history[-1]["actor"] == "system"
    told = grant_notices(town, grant or 0)
    assert {"user:t.990102-wjj", f"user:t.{CITY}-cgj"} <= set(told)
    assert all(f"授权 #{grant}" in body and "期满失效" in body for body in told.values())


def test_a_revoked_grant_stops_the_next_read(town: Town) -> None:
    addresses = town.dataset("addresses")
    made = ask(town, "990102-CGJ", addresses, [{"field": "text"}, {"field": "grid_code"}]).json()
    decide(town, town.unit(f"{CITY}-MZJ"), made["id"], "approve")
    grant = town.client.get(
        f"/api/v1/exchange/requests/{made['id']}", headers=town.unit("990102-CGJ")
    ).json()["grant_id"]
    # Read once: the server now remembers the grant and no longer looks it up to read.
    assert rows(town, "990102-CGJ", addresses).status_code == 200
    not_owner = town.client.post(
        f"/api/v1/exchange/grants/{grant}/revoke",
        json={"reason": "x"},
        headers=town.unit("990102-CGJ"),
    )
    assert error_of(not_owner) == (403, "exchange_not_owner")
    done = town.client.post(
        f"/api/v1/exchange/grants/{grant}/revoke",
        json={"reason": "地址库重建"},
        headers=town.unit(f"{CITY}-MZJ"),
    )
    assert done.json()["state"] == "revoked"
    refused = rows(town, "990102-CGJ", addresses)
    assert error_of(refused) == (403, "exchange_grant_revoked")
    assert "地址库重建" in refused.json()["error"]["message"]
    told = grant_notices(town, grant)
    assert {"user:t.990102-cgj", f"user:t.{CITY}-mzj"} <= set(told)
    assert all("地址库重建" in body for body in told.values())
    for unit in ("990102-CGJ", f"{CITY}-MZJ"):
        shown = town.client.get(f"/api/v1/exchange/grants/{grant}", headers=town.unit(unit))
        assert shown.json()["state"] == "revoked"


# ------------------------------------------------------------------ reading


def test_every_read_allowed_or_refused_is_in_the_audit_trail(town: Town) -> None:
    before = len(town.audit.entries)
    organisations = town.dataset("organisations")
    refused = rows(town, "990102-RSJ", organisations)
    assert error_of(refused) == (403, "exchange_no_grant")
    assert "organisations" in refused.json()["error"]["message"]
    made = ask(town, "990102-RSJ", organisations, [{"field": "name"}, {"field": "grid_code"}])
    decide(town, town.unit(f"{CITY}-SJJ"), made.json()["id"], "approve")
    page = rows(town, "990102-RSJ", organisations, "limit=5").json()
    new = town.audit.entries[before:]
    reads = [e for e in new if e.action is AuditAction.READ and e.unit == "990102-RSJ"]
    refusals = [e for e in new if e.action is AuditAction.REFUSED and e.unit == "990102-RSJ"]
    assert refusals and refusals[0].reason == "exchange_no_grant"
    assert refusals[0].dataset == "organisations"
    assert reads and reads[-1].record_kind == "organisation"
    assert len(reads[-1].record_ids) == len(page["rows"]) and reads[-1].grant_id
    assert reads[-1].fields == ("name", "grid_code")
    changes = [e for e in new if e.action is AuditAction.GRANT]
    assert changes and changes[-1].reason == "made"


def test_a_read_names_what_is_missing_and_reveals_nothing(town: Town) -> None:
    people = town.dataset("people")
    reader = f"{CITY}-MZJ"  # the demo's narrowed grant: name, phone last 4, age band …
    assert error_of(rows(town, reader, people, "fields=id_masked")) == (
        403,
        "exchange_field_not_granted",
    )
    assert error_of(rows(town, reader, people, "fields=salary")) == (422, "exchange_unknown_field")
    assert error_of(rows(town, reader, people, "filter=phone:eq:13800138000")) == (
        403,
        "exchange_filter_masked",
    )
    assert error_of(rows(town, reader, 99999)) == (404, "exchange_dataset_not_found")
    assert error_of(rows(town, reader, people, "filter=residence:between:1")) == (
        422,
        "exchange_filter_op",
    )
    forged = town.client.get(
        f"/api/v1/exchange/datasets/{people}/rows", headers={"X-API-Key": "cgk_forged-key-0000"}
    )
    assert forged.status_code == 401
    with UnitOfWork(town.platform.session_factory) as uow:
        phones = {p for (p,) in uow.session.execute(select(registry_people.c.phone)) if p}
    text = rows(town, reader, people, "limit=1000").text
    assert not [p for p in phones if p in text]


def test_filters_on_fields_granted_in_full_page_by_id(town: Town) -> None:
    people = town.dataset("people")
    floating = rows(town, f"{CITY}-MZJ", people, "filter=residence:floating&limit=1000").json()
    assert floating["rows"] and {r["residence"] for r in floating["rows"]} == {"floating"}
    first = rows(town, f"{CITY}-MZJ", people, "limit=10").json()
    assert first["next_after"] is not None
    second = rows(town, f"{CITY}-MZJ", people, f"limit=10&after={first['next_after']}").json()
    assert second["rows"] and second["rows"] != first["rows"]


def test_pages_of_one_shape_share_a_statement_whose_values_are_parameters(town: Town) -> None:
    with UnitOfWork(town.platform.session_factory) as uow:
        dataset = town.platform.exchange.catalogue.get(uow.session, town.dataset("people"))
        assert dataset is not None
        view = sources.view_of(dataset)
        now = datetime.now(UTC)
        first = sources.RowQuery(dataset.fields[:3], Scope(), after=0, limit=5)
        later = replace(first, after=10**9, limit=7)
        assert sources.select_rows(view, first)[0] is sources.select_rows(view, later)[0]
        # The values are the page's own: where it starts, how long it is.
        page = sources.read_rows(uow.session, view, first)
        rest = sources.read_rows(uow.session, view, replace(first, after=page[-1]["#id"]))
        assert len(page) == len(rest) == 5 and page[-1]["#id"] < rest[0]["#id"]
        assert sources.read_rows(uow.session, view, later) == []
        # A grant that is not in force takes every row away, whichever statement asks.
        in_force = replace(first, in_force=(10**9, now))
        assert sources.read_rows(uow.session, view, in_force) == []
        # Another shape is another statement: other fields, scope, filter, or a field
        # of the dataset that now reads another column.
        kept = sources.select_rows(view, first)[0]
        others = [
            replace(first, fields=dataset.fields[:2]),
            replace(first, after=None),
            replace(first, scope=Scope(filter_field="residence", filter_values=("floating",))),
            in_force,
        ]
        assert all(sources.select_rows(view, q)[0] is not kept for q in others)
        moved = replace(dataset.fields[0], column="household_address")
        changed = sources.view_of(replace(dataset, fields=[moved, *dataset.fields[1:]]))
        assert sources.select_rows(changed, first)[0] is not kept


def test_a_units_api_key_reads_through_its_units_grant(town: Town) -> None:
    key = town.client.post(
        "/api/v1/apikeys",
        json={"name": "民政局业务系统", "department_code": f"{CITY}-MZJ"},
        headers=town.headers("admin"),
    )
    assert key.status_code == 201, key.text
    secret = key.json()["key"]
    page = town.client.get(
        f"/api/v1/exchange/datasets/{town.dataset('people')}/rows?limit=3",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert page.status_code == 200 and len(page.json()["rows"]) == 3
    other = town.client.get(
        f"/api/v1/exchange/datasets/{town.dataset('houses')}/rows",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert error_of(other) == (403, "exchange_no_grant")


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_exports_hold_only_the_granted_fields_masked(town: Town, fmt: str) -> None:
    people = town.dataset("people")
    response = town.client.get(
        f"/api/v1/exchange/datasets/{people}/export?format={fmt}", headers=town.unit(f"{CITY}-MZJ")
    )
    assert response.status_code == 200, response.text
    if fmt == "csv":
        table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        table = [dict(zip(values[0], row, strict=True)) for row in values[1:]]
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(response.content)).to_pylist()
    assert set(table[0]) == {"name", "phone", "birth_date", "address_text", "residence"}
    assert all(re.fullmatch(r"\**\d{4}", r["phone"] or "0000") for r in table)
    with UnitOfWork(town.platform.session_factory) as uow:
        total = len(uow.session.execute(select(registry_people.c.id)).all())
    assert len(table) == total
    assert error_of(
        town.client.get(
            f"/api/v1/exchange/datasets/{people}/export?format=dbf",
            headers=town.unit(f"{CITY}-MZJ"),
        )
    ) == (422, "exchange_export_format")


def test_a_units_api_key_exports_and_identity_numbers_keep_region_and_last_four(
    town: Town,
) -> None:
    people = town.dataset("people")
    made = ask(
        town, "990102-ZJJ", people, [{"field": "id_masked", "mask": "last:4"}, {"field": "name"}]
    ).json()
    decide(town, town.unit(f"{CITY}-GAJ"), made["id"], "approve")
    second = decide(town, town.headers("data_admin"), made["id"], "approve").json()
    assert second["state"] == "approved", second
    key = town.client.post(
        "/api/v1/apikeys",
        json={"name": "住建局房屋系统", "department_code": "990102-ZJJ"},
        headers=town.headers("admin"),
    ).json()["key"]
    exported = town.client.get(
        f"/api/v1/exchange/datasets/{people}/export?format=csv", headers={"X-API-Key": key}
    )
    assert exported.status_code == 200, exported.text
    table = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert table and set(table[0]) == {"id_masked", "name"}
    numbers = [r["id_masked"] for r in table if r["id_masked"]]
    assert numbers and all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", n) for n in numbers)
    assert error_of(
        town.client.get(
            f"/api/v1/exchange/datasets/{town.dataset('houses')}/export?format=parquet",
            headers={"X-API-Key": key},
        )
    ) == (403, "exchange_no_grant")


# ------------------------------------------------------------------ verify without revealing


def test_the_exchange_hashes_identity_numbers_as_the_registry_does() -> None:
    from civicgrid.registry import services as registry_services
    from civicgrid.registry import views as registry_views

    number = "11010519491231002X"
    assert registry_views.identity_hash(TEST_SECRET)(number) == registry_services.hash_identity(
        TEST_SECRET, number
    )


def police_people(town: Town) -> list[list[str]]:
    with (town.folder / "公安_实有人口.csv").open(encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def test_questions_are_answered_yes_no_or_unknown_never_with_data(town: Town) -> None:
    asker = town.headers("x.990101-mzj")  # the demo's counter: age and address questions
    person = next(p for p in police_people(town) if p[1][-1] != "X")
    number, address = person[1], person[5]
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    lives = town.client.post(
        "/api/v1/exchange/verify",
        json={"question": "lives_at", "identity_number": number, "address": address},
        headers=asker,
    )
    assert lives.status_code == 200, lives.text
    assert lives.json()["answer"] == "yes"
    elsewhere = town.client.post(
        "/api/v1/exchange/verify",
        json={"question": "lives_at", "identity_number": number, "address": "火星路1号"},
        headers=asker,
    ).json()
    assert elsewhere["answer"] == "no"
    age = (town.today() - born).days // 366
    older = town.client.post(
        "/api/v1/exchange/verify",
        json={"question": "age_at_least", "identity_number": number, "age": str(max(age - 1, 0))},
        headers=asker,
    ).json()
    assert older["answer"] == "yes"
    stranger = "11010519491231002X"
    unknown = town.client.post(
        "/api/v1/exchange/verify",
        json={"question": "age_at_least", "identity_number": stranger, "age": "60"},
        headers=asker,
    ).json()
    assert unknown["answer"] == "unknown"
    assert set(lives.json()) == {"question", "answer", "dataset_id", "grant_id", "asked_at"}
    wrong = town.client.post(
        "/api/v1/exchange/verify",
        json={"question": "age_at_least", "identity_number": "110105194912310021", "age": "60"},
        headers=asker,
    )
    assert error_of(wrong) == (422, "exchange_verify_input")
    assert "identity_number" in wrong.json()["error"]["message"]
    # A wrong input is named whether or not the registry knows the person.
    for who in (number, stranger):
        no_age = town.client.post(
            "/api/v1/exchange/verify",
            json={"question": "age_at_least", "identity_number": who, "age": "abc"},
            headers=asker,
        )
        assert error_of(no_age) == (422, "exchange_verify_input")
        assert "age" in no_age.json()["error"]["message"]
    verdicts = [e for e in town.audit.entries if e.action is AuditAction.VERIFY]
    assert verdicts and verdicts[-1].personal == stranger and verdicts[-1].reason == "unknown"


def test_is_this_person_registered_in_this_area(town: Town) -> None:
    asker = "990102-MZJ"
    question = town.dataset("q-registered-in")
    made = ask(town, asker, question, [{"field": "answer"}]).json()
    decided = decide(town, town.unit(f"{CITY}-GAJ"), made["id"], "approve").json()
    assert decided["state"] == "approved", decided
    hashed = registry_views.identity_hash(TEST_SECRET)
    grids: dict[str, set[str]] = {}  # a person's records' grids, by the number's hash
    with UnitOfWork(town.platform.session_factory) as uow:
        found = select(registry_people.c.id_hash, registry_people.c.grid_code)
        for id_hash, grid in uow.session.execute(found):
            if id_hash and grid:
                grids.setdefault(id_hash, set()).add(grid)
    person = next(
        p
        for p in police_people(town)
        if p[6] == "户籍人口" and len({g[:6] for g in grids.get(hashed(p[1]), set())}) == 1
    )
    district = next(iter(grids[hashed(person[1])]))[:6]
    other = "990102" if district != "990102" else "990101"

    def answer(number: str, area: str) -> Any:
        body = {"question": "registered_in", "identity_number": number, "area": area}
        return town.client.post("/api/v1/exchange/verify", json=body, headers=town.unit(asker))

    assert answer(person[1], district).json()["answer"] == "yes"
    assert answer(person[1], other).json()["answer"] == "no"
    assert answer("11010519491231002X", district).json()["answer"] == "unknown"
    for who in (person[1], "11010519491231002X"):
        nowhere = answer(who, "no-such-area")
        assert error_of(nowhere) == (422, "exchange_unknown_area")
        assert "area" in nowhere.json()["error"]["message"]
    missing = answer(person[1], " ")
    assert error_of(missing) == (422, "exchange_field_missing")
    assert "area" in missing.json()["error"]["message"]


def test_a_question_needs_its_own_grant_and_is_rate_limited(town: Town) -> None:
    ports = town.platform.exchange
    with UnitOfWork(town.platform.session_factory) as uow:
        code = uow.session.execute(
            select(registry_organisations.c.credit_code).where(
                registry_organisations.c.credit_code != ""
            )
        ).scalar()
    asker = "990102-MZJ"
    question = {"question": "organisation_active", "credit_code": code}
    refused = town.client.post("/api/v1/exchange/verify", json=question, headers=town.unit(asker))
    assert error_of(refused) == (403, "exchange_no_grant")
    made = ask(town, asker, town.dataset("q-organisation-active"), [{"field": "answer"}]).json()
    decide(town, town.unit(f"{CITY}-SJJ"), made["id"], "approve")
    limiter = ports.verify_limiter
    ports.verify_limiter = RateLimiter(
        town.platform.session_factory, "exchange.verify.test", 2, 60, secret=TEST_SECRET
    )
    try:
        answers = [
            town.client.post("/api/v1/exchange/verify", json=question, headers=town.unit(asker))
            for _ in range(3)
        ]
    finally:
        ports.verify_limiter = limiter
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].json()["answer"] == "yes"
    assert answers[2].headers.get("retry-after")


# ------------------------------------------------------------------ uploads and bad input


def test_a_file_whose_columns_do_not_match_is_refused_naming_them(
    town: Town, tmp_path: Path
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("编号,地点\nZD1,人民路\n", encoding="utf-8")
    with path.open("rb") as handle:
        refused = town.client.post(
            f"/api/v1/exchange/datasets/{town.dataset('street-vending')}/files",
            files={"file": ("wrong.csv", handle, "text/csv")},
            headers=town.headers("handler"),
        )
    assert error_of(refused) == (422, "exchange_file_columns")
    assert "点位编号" in refused.json()["error"]["message"]
    assert "编号, 地点" in refused.json()["error"]["message"]
    broken = town.client.post(
        f"/api/v1/exchange/datasets/{town.dataset('street-vending')}/files",
        files={"file": ("点位.xlsx", b"\x00\x01not a workbook", "application/octet-stream")},
        headers=town.headers("handler"),
    )
    assert error_of(broken) == (422, "registry_xlsx_unreadable")
    message = broken.json()["error"]["message"]
    assert "点位.xlsx" in message and "/tmp" not in message and "civicgrid-" not in message


def test_an_upload_keeps_bad_rows_for_correction_and_measures_again(
    town: Town, tmp_path: Path
) -> None:
    dataset = town.dataset("care-homes")
    path = tmp_path / "homes.csv"
    header = "机构名称,统一社会信用代码,地址,网格编码,床位数,咨询电话,开业日期\n"
    first17 = "91510107MA6CM2E95"
    code = first17 + credit_check_character(first17)
    wrong = first17 + ("0" if code[-1] != "0" else "1")
    path.write_text(
        header
        + f"康乐养老院,{code},幸福路1号,990101001001001,50,028-85550001,2015-03-01\n"
        + f"坏代码养老院,{wrong},幸福路2号,990101001001001,20,028-85550002,2015-03-01\n"
        + "无网格养老院,,幸福路3号,999,20,028-85550003,2015-13-01\n",
        encoding="utf-8",
    )
    with path.open("rb") as handle:
        done = town.client.post(
            f"/api/v1/exchange/datasets/{dataset}/files",
            files={"file": ("homes.csv", handle, "text/csv")},
            headers=town.unit(f"{CITY}-MZJ"),
        )
    assert done.status_code == 201, done.text
    report = done.json()
    assert (report["batch"]["imported"], report["batch"]["rejected"]) == (1, 2)
    reasons = {(r["row"], r["field"]) for r in report["rejects"]}
    assert (3, "统一社会信用代码") in reasons and (4, "网格编码") in reasons
    assert (4, "开业日期") in reasons
    kept = town.client.get(
        f"/api/v1/exchange/datasets/{dataset}/batches/{report['batch']['id']}/rejects",
        headers=town.headers("data_admin"),
    ).json()
    assert kept["total"] == len(report["rejects"]) and kept["rejects"][0]["raw"]
    measured = town.client.get(
        f"/api/v1/exchange/datasets/{dataset}", headers=town.headers("data_admin")
    ).json()
    assert measured["rows"] == 1
    stranger = town.client.post(
        f"/api/v1/exchange/datasets/{dataset}/files",
        files={"file": ("homes.csv", b"x", "text/csv")},
        headers=town.unit(f"{CITY}-JTJ"),
    )
    assert error_of(stranger) == (403, "exchange_not_owner")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"fields": [{"field": "ghost"}]}, (422, "exchange_unknown_field")),
        ({"fields": [{"field": "phone", "mask": "age_band"}]}, (422, "exchange_mask_not_for_type")),
        ({"fields": [{"field": "phone", "mask": "blur"}]}, (422, "exchange_mask_unknown")),
        (
            {"fields": [{"field": "phone", "mask": "full"}, {"field": "phone", "mask": "phone"}]},
            (422, "exchange_field_twice"),
        ),
        ({"area": "no-such-area"}, (422, "exchange_unknown_area")),
        ({"filter": {"field": "ghost", "values": ["x"]}}, (422, "exchange_unknown_field")),
        ({"purpose": "  "}, (422, "exchange_field_missing")),
        ({"ends_on": "2020-01-01", "starts_on": "2019-01-01"}, (422, "exchange_period_over")),
        ({"ends_on": "2026-01-01", "starts_on": "2026-02-01"}, (422, "exchange_period_backwards")),
        ({"dataset_id": 99999}, (404, "exchange_dataset_not_found")),
    ],
)
def test_bad_requests_are_4xx_naming_what_is_wrong(
    town: Town, change: dict[str, Any], problem: tuple[int, str]
) -> None:
    body = {
        "dataset_id": town.dataset("people"),
        "purpose": "测试",
        "fields": [{"field": "name"}],
        "starts_on": str(town.today()),
        "ends_on": str(town.today() + timedelta(days=5)),
    } | change
    response = town.client.post(
        "/api/v1/exchange/requests", json=body, headers=town.unit("990102-JYJ")
    )
    assert error_of(response) == problem


def test_a_definition_naming_a_column_its_source_lacks_is_refused(town: Town) -> None:
    body = {
        "code": "people-wrong",
        "owner_unit": f"{CITY}-GAJ",
        "title_zh": "人口",
        "source_kind": "registry",
        "source_name": "people",
        "share_class": "conditional",
        "fields": [{"name": "salary", "type": "number"}],
    }
    admin = town.headers("data_admin")
    refused = town.client.post("/api/v1/exchange/datasets", json=body, headers=admin)
    assert error_of(refused) == (422, "exchange_unknown_column")
    assert "salary" in refused.json()["error"]["message"]
    taken = body | {"code": "people", "fields": [{"name": "name", "type": "name"}]}
    assert error_of(town.client.post("/api/v1/exchange/datasets", json=taken, headers=admin)) == (
        409,
        "exchange_code_taken",
    )
    foreign = body | {"code": "x1", "fields": [{"name": "name", "type": "name"}]}
    other = town.client.post(
        "/api/v1/exchange/datasets", json=foreign, headers=town.unit(f"{CITY}-JTJ")
    )
    assert error_of(other) == (403, "exchange_not_owner")


# ------------------------------------------------------------------ pages


def test_the_pages_in_chinese_and_english(town: Town) -> None:
    browser = TestClient(create_app(town.platform))
    login = browser.post(
        "/login",
        data={"username": "x.990101-cgj", "password": town.demo.staff_password},
        follow_redirects=False,
    )
    assert login.status_code == 303
    catalogue = browser.get("/exchange")
    assert "实有人口" in catalogue.text and "有条件共享" in catalogue.text
    english = browser.get("/exchange?lang=en")
    assert "Actual population" in english.text and "Conditional" in english.text
    requests = browser.get("/exchange/requests?tab=owned")
    assert "占道经营点位台账" in requests.text  # asked of this unit, waiting for it
    vending_request = re.search(r'/exchange/requests/(\d+)"', requests.text)
    assert vending_request
    page = browser.get(f"/exchange/requests/{vending_request.group(1)}")
    assert 'id="approve"' in page.text and "答复期限" in page.text
    assert "无证无照经营联合整治" in page.text
    done = browser.post(
        f"/exchange/requests/{vending_request.group(1)}/decision",
        data={"action": "refuse", "reason": ""},
    )
    assert done.status_code == 422 and "reason" in done.text  # the field named
    approved = browser.post(
        f"/exchange/requests/{vending_request.group(1)}/decision", data={"action": "approve"}
    )
    assert approved.status_code == 200 and "已批准，双方均已收到通知" in approved.text
    grants = browser.get("/exchange/grants")
    assert "有效" in grants.text
    organisations = town.dataset("organisations")
    granted = browser.get(f"/exchange/datasets/{organisations}/rows")
    assert granted.status_code == 200 and "grant-note" in granted.text


def test_asking_on_the_dataset_page_confirms_or_names_the_field(town: Town) -> None:
    town.unit("990102-SWJ")
    browser = TestClient(create_app(town.platform))
    browser.post(
        "/login", data={"username": "t.990102-swj", "password": PASSWORD}, follow_redirects=False
    )
    houses = town.dataset("houses")
    page = browser.get(f"/exchange/datasets/{houses}")
    assert 'id="ask-submit"' in page.text
    missing = browser.post(
        f"/exchange/datasets/{houses}/requests",
        data={
            "fields": ["kind"],
            "purpose": "",
            "starts_on": str(town.today()),
            "ends_on": str(town.today()),
        },
    )
    assert missing.status_code == 422 and "purpose" in missing.text
    sent = browser.post(
        f"/exchange/datasets/{houses}/requests",
        data={
            "fields": ["kind", "owner_phone"],
            "mask_owner_phone": "last:4",
            "purpose": "防汛排查",
            "starts_on": str(town.today()),
            "ends_on": str(town.today() + timedelta(days=20)),
        },
    )
    assert sent.status_code == 200 and "申请已提交" in sent.text
    assert "仅显示后4位" in sent.text


def test_the_sample_rows_show_no_phone_in_full(town: Town) -> None:
    with UnitOfWork(town.platform.session_factory) as uow:
        phones = {p for (p,) in uow.session.execute(select(registry_people.c.phone)) if p}
    for dataset in ("people", "houses", "organisations"):
        page = town.client.get(
            f"/exchange/datasets/{town.dataset(dataset)}",
            headers=town.headers("data_admin") | {"Accept": "text/html"},
        )
        assert page.status_code == 200
        assert not [p for p in phones if p in page.text]


def test_reads_refusals_and_questions_go_into_the_platforms_audit_log(town: Town) -> None:
    from civicgrid.bootstrap import LedgerTrail
    from civicgrid.core.ledger import Ledger, audit_entries

    ports = town.platform.exchange
    kept = ports.audit
    ports.audit = LedgerTrail()
    try:
        people = town.dataset("people")
        page = rows(town, f"{CITY}-MZJ", people, "limit=7").json()
        refused = rows(town, "990102-YJJ", people)
        number = next(p for p in police_people(town) if p[1][-1] != "X")[1]
        asked = town.client.post(
            "/api/v1/exchange/verify",
            json={"question": "age_at_least", "identity_number": number, "age": "18"},
            headers=town.headers("x.990101-mzj"),
        )
    finally:
        ports.audit = kept
    assert refused.status_code == 403 and asked.status_code == 200
    with UnitOfWork(town.platform.session_factory) as uow:
        entries = uow.session.execute(
            select(audit_entries).order_by(audit_entries.c.id.desc()).limit(3)
        ).all()
        question, refusal, read = entries
        assert (read.action, read.unit, read.dataset, read.record_kind) == (
            "read",
            f"{CITY}-MZJ",
            "people",
            "person",
        )
        assert len(read.record_ids.split(",")) == len(page["rows"]) == 7
        assert read.grant_id == page["grant_id"] and read.fields.startswith("name,phone")
        assert (refusal.action, refusal.reason) == ("read_refused", "exchange_no_grant")
        assert (question.action, question.reason) == ("verify_question", "yes")
        assert number not in str(tuple(question))  # only a salted commitment
        assert Ledger(uow.session).committed_to(question.id, number) is True


def test_a_units_system_reads_staff_named_by_their_phone_masked(town: Town) -> None:
    with UnitOfWork(town.platform.session_factory) as uow:
        add_user(
            uow, SYSTEM, NewUser("13912340000", "handler", PASSWORD, department_code="990102-RSJ")
        )
    asker = town.headers("13912340000", PASSWORD)
    made = town.client.post(
        "/api/v1/exchange/requests",
        json={
            "dataset_id": town.dataset("addresses"),
            "purpose": "地址核对",
            "fields": [{"field": "text"}],
            "starts_on": str(town.today()),
            "ends_on": str(town.today() + timedelta(days=3)),
        },
        headers=asker,
    ).json()
    assert made["asked_by"] == "13912340000"  # staff read staff in full
    key = town.client.post(
        "/api/v1/apikeys",
        json={"name": "民政地名系统", "department_code": f"{CITY}-MZJ"},
        headers=town.headers("admin"),
    ).json()["key"]
    system = {"X-API-Key": key}
    seen = town.client.get(f"/api/v1/exchange/requests/{made['id']}", headers=system).json()
    history = town.client.get(
        f"/api/v1/exchange/requests/{made['id']}/history", headers=system
    ).json()
    assert seen["asked_by"] == "139****0000" and history[0]["actor"] == "139****0000"
