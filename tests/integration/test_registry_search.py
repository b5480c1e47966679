"""Searching the registry, on SQLite and PostgreSQL: any part of a name, an address or a
credit code finds its records (one character: names), a phone only for the grid's own staff
(nobody else can test whose number it is), the hint of the box fits the tab, foreign
residents (外籍) are a person type of their own in imports, the edit form, the filter and the
map, and PostgreSQL answers from its search indexes."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Actor, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import DemoSummary, install_demo_city
from civicgrid.registry import services
from civicgrid.registry.domain import RecordKind, Residence, search_terms
from civicgrid.registry.identifiers import (
    credit_check_character,
    identity_check_character,
    parse_phone,
)
from civicgrid.registry.importing import default_mapping, open_table
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, actor_named, open_platform


def identity(first17: str) -> str:
    return first17 + identity_check_character(first17)


def credit_code(first17: str) -> str:
    return first17 + credit_check_character(first17)


def write(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@dataclass
class SearchCity:
    platform: Platform
    summary: DemoSummary
    client: TestClient
    grid: str  # the grid worker's
    elsewhere: str  # a grid of another street
    tokens: dict[str, str]

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

    def find(self, role: Role, kind: str, q: str, **params: str) -> list[str]:
        response = self.client.get(
            f"/api/v1/registry/{kind}", headers=self.headers(role), params={"q": q, **params}
        )
        assert response.status_code == 200, response.text
        field = "text" if kind == "addresses" else "address_text" if kind == "houses" else "name"
        return sorted(str(item[field]) for item in response.json()["items"])


def import_file(platform: Platform, kind: RecordKind, path: Path, source: str) -> None:
    with UnitOfWork(platform.session_factory) as uow:
        report = services.import_records(
            uow,
            SYSTEM,
            kind,
            open_table(path),
            default_mapping(kind),
            secret_key=TEST_SECRET,
            source=source,
        )
    assert report.batch.rejected == 0, report.problems


@pytest.fixture(scope="module")
def search_city(
    databases: DatabaseMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchCity]:
    platform = open_platform(databases.new("search"))
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan)
    grid = next(c.scope for c in summary.credentials if c.role is Role.GRID_WORKER)
    assert grid is not None
    cadre = next(c.scope for c in summary.credentials if c.role is Role.CADRE)
    elsewhere = next(
        a.code for a in plan.areas if a.level.value == "grid" and not a.code.startswith(str(cadre))
    )
    folder = tmp_path_factory.mktemp("search")
    people = write(
        folder / "人口.csv",
        ["姓名", "身份证号", "联系电话", "现住址", "人员类型", "有效期至", "网格编码"],
        [
            ["欧阳明伟", identity("11010519800101003"), "13812345678", "幸福路18号3栋2单元501室",
             "户籍", "", grid],
            ["李明", identity("11010519900202004"), "13987654321", "人民路1号", "流动人口",
             "2030-01-01", grid],
            ["John Smith", identity("11010519850303005"), "13700001111", "人民路2号", "外籍",
             "2029-06-30", grid],
            ["王小明", identity("11010519750404006"), "13812340000", "光明街9号", "户籍", "",
             elsewhere],
        ],
    )  # fmt: skip
    organisations = write(
        folder / "单位.csv",
        ["单位名称", "统一社会信用代码", "单位地址", "联系电话", "网格编码"],
        [
            ["老王餐饮管理有限公司", credit_code("91350100M000100Y4"), "幸福路20号",
             "010-62345678", grid],
            ["明星理发店", credit_code("92110105MA01ABCD1"), "人民路5号", "13600002222", grid],
        ],
    )  # fmt: skip
    houses = write(
        folder / "房屋.csv",
        ["房屋地址", "房屋类型", "产权人", "产权人电话", "网格编码"],
        [
            ["幸福路18号3栋2单元501室", "出租", "欧阳明伟", "13812345678", grid],
            ["人民路1号", "自住", "李建国", "13500003333", grid],
        ],
    )  # fmt: skip
    import_file(platform, RecordKind.PERSON, people, "公安")
    import_file(platform, RecordKind.ORGANISATION, organisations, "市场监管")
    import_file(platform, RecordKind.HOUSE, houses, "住建")
    with TestClient(create_app(platform)) as client:
        yield SearchCity(platform, summary, client, grid, elsewhere, {})
    platform.engine.dispose()


# ------------------------------------------------------------------ any part of a text


def test_any_part_of_a_name_finds_the_person(search_city: SearchCity) -> None:
    find = search_city.find
    assert find(Role.GRID_WORKER, "people", "明伟") == ["欧阳明伟"]
    assert find(Role.GRID_WORKER, "people", "阳明") == ["欧阳明伟"]
    assert find(Role.GRID_WORKER, "people", "欧阳明伟") == ["欧阳明伟"]
    # One character: the names that hold it (here one in the grid, one elsewhere).
    assert find(Role.GRID_WORKER, "people", "明") == ["李明", "欧阳明伟"]
    assert find(Role.DATA_ADMIN, "people", "明") == ["李明", "欧阳明伟", "王小明"]
    assert find(Role.DATA_ADMIN, "people", "smith") == ["John Smith"]


def test_any_part_of_an_address_finds_people_houses_and_organisations(
    search_city: SearchCity,
) -> None:
    find = search_city.find
    assert find(Role.GRID_WORKER, "people", "3栋2单元") == ["欧阳明伟"]
    assert find(Role.GRID_WORKER, "people", "人民路") == ["John Smith", "李明"]
    assert find(Role.GRID_WORKER, "houses", "2单元501") == ["幸福路18号3栋2单元501室"]
    assert find(Role.GRID_WORKER, "houses", "建国") == ["人民路1号"]  # the owner's name
    assert find(Role.CADRE, "organisations", "幸福路") == ["老王餐饮管理有限公司"]
    assert find(Role.DATA_ADMIN, "organisations", "餐饮管理") == ["老王餐饮管理有限公司"]


def test_any_part_of_a_credit_code_finds_the_organisation(search_city: SearchCity) -> None:
    find = search_city.find
    assert find(Role.DATA_ADMIN, "organisations", "M000100") == ["老王餐饮管理有限公司"]
    assert find(Role.DATA_ADMIN, "organisations", "ma01abcd") == ["明星理发店"]


def test_wildcards_are_read_as_typed(search_city: SearchCity) -> None:
    assert search_city.find(Role.DATA_ADMIN, "people", "%") == []
    assert search_city.find(Role.DATA_ADMIN, "people", "_") == []
    assert search_city.find(Role.DATA_ADMIN, "houses", "号%3") == []


# ------------------------------------------------------------------ phones: the grid's staff


def test_the_grids_staff_find_a_person_by_any_part_of_her_phone(search_city: SearchCity) -> None:
    find = search_city.find
    assert find(Role.GRID_WORKER, "people", "2345678") == ["欧阳明伟"]
    assert find(Role.GRID_WORKER, "people", "138 1234 5678") == ["欧阳明伟"]
    assert find(Role.CADRE, "people", "5678") == ["欧阳明伟"]
    assert find(Role.GRID_WORKER, "organisations", "62345678") == ["老王餐饮管理有限公司"]
    assert find(Role.GRID_WORKER, "organisations", "01062345678") == ["老王餐饮管理有限公司"]
    assert find(Role.GRID_WORKER, "houses", "0003333") == ["人民路1号"]


def test_others_cannot_find_anyone_by_a_phone(search_city: SearchCity) -> None:
    """Data administrators read phones masked: a search by a phone must not tell them
    whose number it is (no oracle), whether whole, in part or with its last digits."""
    for q in ("13812345678", "2345678", "5678", "138 1234 5678"):
        assert search_city.find(Role.DATA_ADMIN, "people", q) == [], q
        assert search_city.find(Role.ADMIN, "people", q) == [], q
    assert search_city.find(Role.DATA_ADMIN, "organisations", "62345678") == []
    assert search_city.find(Role.DATA_ADMIN, "houses", "0003333") == []


def test_a_whole_identity_number_is_still_found_by_its_hash(search_city: SearchCity) -> None:
    number = identity("11010519900202004")
    for role in (Role.GRID_WORKER, Role.DATA_ADMIN):
        assert search_city.find(role, "people", number) == ["李明"]


def test_what_is_typed_is_read_for_each_way_it_can_match() -> None:
    assert search_terms("  明  伟 ") == search_terms("明 伟")
    assert search_terms("ｍａ０１").text == "ma01"
    digits = search_terms("138-1234-5678", parse_phone)
    assert (digits.digits, digits.phone) == ("13812345678", "13812345678")
    assert search_terms("010 6234 5678", parse_phone).phone == "010-62345678"
    assert search_terms("12").digits == ""  # too short to be a part of a phone
    assert search_terms("3栋").digits == ""


# ------------------------------------------------------------------ the page's search box


def test_the_hint_fits_the_tab_and_the_reader(search_city: SearchCity) -> None:
    client = search_city.client
    for role, tab, hint in (
        (Role.GRID_WORKER, "people", "姓名、地址或电话的任一部分，或完整身份证号"),
        (Role.DATA_ADMIN, "people", "姓名或地址的任一部分，或完整身份证号"),
        (Role.GRID_WORKER, "houses", "地址、产权人姓名或电话的任一部分"),
        (Role.DATA_ADMIN, "organisations", "单位名称、统一社会信用代码或地址的任一部分"),
        (Role.DATA_ADMIN, "addresses", "标准地址的任一部分"),
    ):
        page = client.get(f"/registry?kind={tab}", headers=search_city.headers(role))
        assert page.status_code == 200
        assert f'placeholder="{hint}"' in page.text, (role, tab)
    english = client.get(
        "/registry?kind=organisations&q=餐饮&lang=en", headers=search_city.headers(Role.DATA_ADMIN)
    )
    assert 'placeholder="Any part of a name, a credit code or an address"' in english.text
    assert "老王餐饮管理有限公司" in english.text


def test_the_list_shows_grid_names_and_coded_values_by_their_names(
    search_city: SearchCity,
) -> None:
    page = search_city.client.get(
        "/registry?kind=people&q=人民路", headers=search_city.headers(Role.GRID_WORKER)
    )
    assert "外籍人员" in page.text and "流动人口" in page.text
    assert f"（{search_city.grid}）" in page.text  # the grid's name, its code beside it
    assert ">foreign<" not in page.text and ">floating<" not in page.text


# ------------------------------------------------------------------ foreign residents (外籍)


def test_foreign_residents_are_a_person_type_of_their_own(search_city: SearchCity) -> None:
    worker = search_city.headers(Role.GRID_WORKER)
    client = search_city.client
    foreign = client.get(
        "/api/v1/registry/people", headers=worker, params={"residence": "foreign"}
    ).json()
    assert [p["name"] for p in foreign["items"]] == ["John Smith"]
    assert foreign["items"][0]["residence"] == Residence.FOREIGN.value
    assert foreign["grid_names"][search_city.grid]
    floating = client.get(
        "/api/v1/registry/people", headers=worker, params={"residence": "floating"}
    ).json()
    assert [p["name"] for p in floating["items"]] == ["李明"]
    wrong = client.get(
        "/api/v1/registry/people",
        headers=worker | {"Accept-Language": "en"},
        params={"residence": "alien"},
    )
    assert wrong.status_code == 422 and "residence" in wrong.json()["error"]["message"]
    page = client.get("/registry?kind=people&residence=foreign", headers=worker)
    assert "John Smith" in page.text and "李明" not in page.text
    assert '<option value="foreign" selected>外籍人员</option>' in page.text
    with UnitOfWork(search_city.platform.session_factory) as uow:
        summary = services.grid_summaries(uow, search_city.actor(Role.GRID_WORKER))
    assert summary[search_city.grid]["foreign"] == 1
    assert summary[search_city.grid]["floating"] == 1


def test_a_grid_worker_makes_a_person_a_foreign_resident(search_city: SearchCity) -> None:
    client = search_city.client
    worker = search_city.headers(Role.GRID_WORKER)
    person = client.get("/api/v1/registry/people", headers=worker, params={"q": "欧阳"}).json()[
        "items"
    ][0]
    changed = client.patch(
        f"/api/v1/registry/people/{person['id']}",
        headers=worker,
        json={"reason": "核实为外籍", "changes": {"residence": "外籍"}},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["record"]["residence"] == "foreign"
    back = client.patch(
        f"/api/v1/registry/people/{person['id']}",
        headers=worker,
        json={"reason": "登记有误，改回", "changes": {"residence": "registered"}},
    )
    assert back.status_code == 200


# ------------------------------------------------------------------ PostgreSQL's indexes


def test_postgresql_answers_from_the_search_indexes(search_city: SearchCity) -> None:
    engine = search_city.platform.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("the search indexes are PostgreSQL's (pg_trgm)")
    with engine.connect() as connection:
        names = set(
            connection.execute(
                text("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_search'")
            ).scalars()
        )
    assert names == {
        "ix_registry_people_name_search",
        "ix_registry_people_text_search",
        "ix_registry_houses_name_search",
        "ix_registry_houses_text_search",
        "ix_registry_organisations_name_search",
        "ix_registry_organisations_text_search",
        "ix_registry_addresses_text_search",
    }
    from sqlalchemy import select

    from civicgrid.registry.repository import RegistryRepository, Scope, registry_people

    with UnitOfWork(search_city.platform.session_factory) as uow:
        repo = RegistryRepository(uow.session)
        where = repo._conditions(
            RecordKind.PERSON, Scope(None), search_terms("明伟"), True, None, None, None, None
        )
        statement = select(registry_people.c.id).where(*where)
        compiled = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
        uow.session.execute(text("SET LOCAL enable_seqscan = off"))
        explain = text("EXPLAIN " + compiled.replace("%%", "%").replace(":", "\\:"))
        plan = "\n".join(uow.session.execute(explain).scalars())
    assert "ix_registry_people_name_search" in plan and "ix_registry_people_text_search" in plan
