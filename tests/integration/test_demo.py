"""`civicgrid demo`: a whole city that tiles without gaps, with accounts for every role."""

from pathlib import Path
from typing import Any

import pytest
import shapely
from typer.testing import CliRunner

from civicgrid.accounts.repository import UserRepository
from civicgrid.areas.domain import Level
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import USER_ROLES


def run(platform: Platform, *args: str, cases: int = 0) -> Any:
    # A small registry: these tests are about the city's shape, accounts and cases (the
    # registry's own demo has its tests), and 20,000 people took most of each run.
    command = [
        "demo",
        "--db",
        platform.settings.database_url,
        "--cases",
        str(cases),
        "--registry-people",
        "300",
        *args,
    ]
    return CliRunner().invoke(cli, command)


def test_the_demo_city_has_the_promised_shape(scratch: Platform) -> None:
    result = run(scratch)
    assert result.exit_code == 0, result.output
    assert "1 市, 3 区, 12 街道, 60 社区, 600 网格" in result.output
    with UnitOfWork(scratch.session_factory) as uow:
        areas = AreaRepository(uow.session)
        every = {a.code: a for a in areas.list()}
        for parent in every.values():
            children = [a for a in every.values() if a.parent_code == parent.code]
            if not children:
                continue
            # Children tile their parent: same total area (no overlap), same union (no gap).
            total = sum(c.geometry.area for c in children)
            assert total == pytest.approx(parent.geometry.area, rel=1e-6), parent.code
            union = shapely.union_all([c.geometry for c in children])
            assert union.symmetric_difference(parent.geometry).area < parent.geometry.area * 1e-6
        grids = [a for a in every.values() if a.level is Level.GRID]
        workers = UserRepository(uow.session).in_areas([g.code for g in grids])
        assert sorted(w.area_code for w in workers) == sorted(g.code for g in grids)
        levels = {d.level for d in DepartmentRepository(uow.session).list()}
        assert levels == {Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY}
        roles = {u.role for u in UserRepository(uow.session).list()}
        assert roles == set(USER_ROLES)


def test_the_printed_credentials_log_in(scratch: Platform, scratch_client: Any) -> None:
    result = run(scratch)
    line = next(line for line in result.output.splitlines() if "│ dispatcher" in line)
    password = line.split("│")[3].strip()
    response = scratch_client.post(
        "/api/v1/auth/token", data={"username": "dispatcher", "password": password}
    )
    assert response.status_code == 200


def test_a_second_demo_needs_reset(scratch: Platform) -> None:
    assert run(scratch).exit_code == 0
    again = run(scratch)
    assert again.exit_code == 1
    assert "--reset" in again.output
    assert run(scratch, "--reset").exit_code == 0


def test_a_demo_city_grows_inside_real_district_boundaries(
    scratch: Platform, scratch_client: Any, shared_data: Path
) -> None:
    boundaries = shared_data / "boundaries" / "nyc" / "community_districts.geojson"
    result = run(scratch, "--boundaries", str(boundaries), "--city-name", "New York")
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        areas = AreaRepository(uow.session)
        assert areas.count(level=Level.DISTRICT) == 71
        assert areas.count(level=Level.GRID) == 71 * 3 * 3 * 4
    # Times Square lies in Manhattan community district 5 (BoroCD 105).
    located = scratch_client.get("/api/v1/areas/locate?lat=40.758&lon=-73.9855").json()
    assert located["ancestors"][1]["code"] == "105"


def test_real_boundaries_in_gcj02_are_converted(scratch: Platform, shared_data: Path) -> None:
    boundaries = shared_data / "boundaries" / "beijing" / "110100_full.json"
    result = run(scratch, "--boundaries", str(boundaries), "--gcj02", "--city-name", "北京市")
    assert result.exit_code == 0, result.output
    with UnitOfWork(scratch.session_factory) as uow:
        areas = AreaRepository(uow.session)
        assert areas.count(level=Level.DISTRICT) == 16
        dongcheng = areas.get("110101")
        assert dongcheng is not None and dongcheng.name == "东城区"


def test_the_demo_city_comes_with_cases_in_every_state(
    scratch: Platform, scratch_client: Any
) -> None:
    result = run(scratch, cases=400)
    assert result.exit_code == 0, result.output
    line = result.output.split("cases:")[1].split("database:")[0].replace("\n", " ")
    for state in (
        "reported",
        "accepted",
        "registered",
        "dispatched",
        "in_progress",
        "resolved",
        "verified",
        "closed",
        "rejected",
        "merged",
    ):
        assert f" {state}" in line, state
    password = next(
        row.split("│")[3].strip() for row in result.output.splitlines() if "│ leader" in row
    )
    token = scratch_client.post(
        "/api/v1/auth/token", data={"username": "leader", "password": password}
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    listed = scratch_client.get("/api/v1/cases?page_size=5", headers=headers).json()
    assert listed["total"] == 400
    detail = scratch_client.get(f"/api/v1/cases/{listed['items'][0]['id']}", headers=headers).json()
    assert detail["timeline"][0]["action"] == "report"
    assert detail["messages"]
