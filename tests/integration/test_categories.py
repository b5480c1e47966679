"""An administrator replacing the category taxonomy (PUT /api/v1/categories and
`civicgrid categories import`): every row is checked and named, a list that would
deactivate categories still in use is refused unless asked for, and the answer says what
changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.bootstrap import Platform
from civicgrid.cases.repository import TaxonomyRepository
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, Role
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import install_demo_city
from tests.conftest import SMALL_CITY

URL = "/api/v1/categories"


@dataclass
class Taxonomy:
    platform: Platform
    client: TestClient
    admin: dict[str, str]

    def listed(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.client.get(URL).json()
        return found

    def put(self, rows: list[dict[str, Any]], **params: Any) -> Any:
        return self.client.put(URL, json=rows, params={"lang": "en", **params}, headers=self.admin)


@pytest.fixture
def taxonomy(scratch: Platform) -> Iterator[Taxonomy]:
    """A city with its cases (open ones in several categories) and its authority list."""
    plan = DemoCityBuilder(seed=3).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        summary = install_demo_city(uow, SYSTEM, plan, ports=scratch.cases, cases=8)
    admin = next(c for c in summary.credentials if c.role is Role.ADMIN)
    with TestClient(create_app(scratch)) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": admin.username, "password": admin.password}
        ).json()["access_token"]
        yield Taxonomy(scratch, client, {"Authorization": f"Bearer {token}"})


def test_an_empty_row_is_refused_naming_it_and_nothing_changes(taxonomy: Taxonomy) -> None:
    before = taxonomy.listed()
    for rows in ([{"code": "", "name": ""}], [*before, {"code": "", "name": " "}]):
        response = taxonomy.put(rows)
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        row = len(rows)
        assert f"row {row}, 'code': must not be empty" in message
        assert f"row {row}, 'name': must not be empty" in message
    assert taxonomy.listed() == before


def test_rows_are_checked_for_parents_repeats_and_widths(taxonomy: Taxonomy) -> None:
    before = taxonomy.listed()
    rows = [
        *before,
        {"code": "ZZ01", "name": "新类别", "parent_code": "NOPE"},
        {"code": "CR01", "name": "重复"},
        {"code": "X" * 33, "name": "名" * 101},
    ]
    response = taxonomy.put(rows)
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    first = len(before) + 1
    assert f"row {first}, 'parent_code': no parent category 'NOPE'" in message
    assert f"row {first + 1}, 'code': 'CR01' repeats (first in row" in message
    assert f"row {first + 2}, 'code': longer than 32 characters" in message
    assert f"row {first + 2}, 'name': longer than 100 characters" in message
    assert taxonomy.listed() == before


def test_a_list_leaving_out_categories_in_use_is_refused_unless_asked(
    taxonomy: Taxonomy,
) -> None:
    before = taxonomy.listed()
    only = [
        {"code": "NEW", "name": "新大类"},
        {"code": "NEW01", "name": "新小类", "parent_code": "NEW"},
    ]
    refused = taxonomy.put(only)
    assert refused.status_code == 422, refused.text
    message = refused.json()["error"]["message"]
    assert "that open cases or the authority list still name" in message
    assert "(CN, CN01, CN02, CR," in message  # in use, all named
    assert taxonomy.listed() == before

    done = taxonomy.put(only, deactivate_in_use="true")
    assert done.status_code == 200, done.text
    answer = done.json()
    assert (answer["added"], answer["changed"], answer["unchanged"]) == (2, 0, 0)
    assert answer["deactivated"] == len(before)
    assert "CR" in answer["deactivated_codes"]
    assert [c["code"] for c in answer["categories"]] == ["NEW", "NEW01"]


def test_the_answer_says_what_changed(taxonomy: Taxonomy) -> None:
    before = taxonomy.listed()
    with UnitOfWork(taxonomy.platform.session_factory) as uow:
        in_use = TaxonomyRepository(uow.session).in_use([c["code"] for c in before])
    unused = next(c["code"] for c in before if c["parent_code"] and c["code"] not in in_use)
    rows = [c for c in before if c["code"] != unused]
    rows = [{**c, "name": "道路脏乱"} if c["code"] == "CR02" else c for c in rows]
    rows.append({"code": "CR99", "name": "其他市容问题", "parent_code": "CR"})
    response = taxonomy.put(rows)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["added"], answer["changed"], answer["deactivated"]) == (1, 1, 1)
    assert answer["unchanged"] == len(before) - 2
    assert answer["deactivated_codes"] == [unused]
    names = {c["code"]: c["name"] for c in taxonomy.listed()}
    assert names["CR02"] == "道路脏乱" and unused not in names and "CR99" in names
    again = taxonomy.put(rows).json()
    assert (again["added"], again["changed"], again["deactivated"]) == (0, 0, 0)


def test_the_command_refuses_to_deactivate_categories_in_use_unless_told(
    taxonomy: Taxonomy, tmp_path: Path
) -> None:
    url = taxonomy.platform.settings.database_url
    small = tmp_path / "categories.csv"
    small.write_text("code,name,parent_code\nNEW,新大类,\nNEW01,新小类,NEW\n", encoding="utf-8")
    refused = CliRunner().invoke(cli, ["categories", "import", str(small), "--db", url])
    assert refused.exit_code == 1
    assert "仍在使用" in refused.output and "CN01" in refused.output
    done = CliRunner().invoke(
        cli, ["categories", "import", str(small), "--deactivate-in-use", "--db", url]
    )
    assert done.exit_code == 0, done.output
    assert "2 categories installed" in done.output and "2 added" in done.output
    empty = tmp_path / "empty-row.csv"
    empty.write_text("code,name\nNEW,新大类\n,\n", encoding="utf-8")
    bad = CliRunner().invoke(cli, ["categories", "import", str(empty), "--db", url])
    assert bad.exit_code == 1
    assert "第 3 行" in bad.output
