"""`civicgrid open311 import`: historic 311 exports become cases with their own times,
states, agencies and complaint types, on SQLite and PostgreSQL; importing again changes
nothing, and bad rows are named and kept for correction. The real NYC file of 25 December
2013 is imported into a city grown inside New York's community districts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from civicgrid.app import create_app
from civicgrid.areas.importing import Rejection, check_feature, read_boundaries
from civicgrid.bootstrap import Platform
from civicgrid.cases.domain import Status
from civicgrid.cases.repository import CaseRepository, cases
from civicgrid.cases.services import SCHEDULER, tick
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.domain import DemoCity, DemoCityBuilder, Shape
from civicgrid.demo.services import install_demo_city
from civicgrid.open311.importing import (
    ImportMapping,
    mapping_path,
    read_export,
    read_mapping,
)
from civicgrid.open311.repository import open311_requests
from civicgrid.open311.services import ImportReport, import_requests
from tests.conftest import SMALL_CITY, DatabaseMaker, open_platform
from tests.integration.test_open311 import REQUESTS, valid

NYC_COLUMNS = [
    "Unique Key",
    "Created Date",
    "Closed Date",
    "Agency",
    "Agency Name",
    "Complaint Type",
    "Descriptor",
    "Status",
    "Due Date",
    "Resolution Action Updated Date",
    "Incident Zip",
    "Incident Address",
    "Latitude",
    "Longitude",
]


@dataclass
class Town:
    platform: Platform
    plan: DemoCity
    client: TestClient

    def point(self, index: int = 0) -> tuple[float, float]:
        grids = [a for a in self.plan.areas if a.level.value == "grid"]
        point = grids[index].geometry.representative_point()
        return point.y, point.x

    def run(self, *args: str) -> Any:
        """The command's result; `text` is its output with line wrapping undone."""
        url = self.platform.settings.database_url
        result = CliRunner().invoke(cli, [*args, "--db", url])
        result.text = " ".join(result.output.split())
        return result


@pytest.fixture(scope="module")
def town(databases: DatabaseMaker) -> Iterator[Town]:
    """A small demo city without cases; its city units carry the codes the NYC mapping
    names (990100-GAJ, …), so the shipped mapping applies to it."""
    platform = open_platform(databases.new("open311_import"))
    plan = DemoCityBuilder(seed=11).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=0)
    with TestClient(create_app(platform)) as client:
        yield Town(platform, plan, client)
    platform.engine.dispose()


def nyc_row(key: str, town: Town, **values: str) -> dict[str, str]:
    lat, lon = town.point(int(values.pop("grid", "0")))
    row = {
        "Unique Key": key,
        "Created Date": "12/25/2013 11:59:08 PM",
        "Closed Date": "",
        "Agency": "NYPD",
        "Agency Name": "New York City Police Department",
        "Complaint Type": "Blocked Driveway",
        "Descriptor": "No Access",
        "Status": "Open",
        "Due Date": "",
        "Resolution Action Updated Date": "",
        "Incident Zip": "11234",
        "Incident Address": "952 EAST 58 STREET",
        "Latitude": f"{lat}",
        "Longitude": f"{lon}",
    }
    row.update(values)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns or NYC_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def import_file(
    town: Town, path: Path, mapping: ImportMapping | None = None, partial: bool = False
) -> ImportReport:
    plan = mapping or read_mapping(mapping_path("nyc311"))
    batch = read_export(path.read_text(encoding="utf-8"), plan)
    with UnitOfWork(town.platform.session_factory) as uow:
        return import_requests(uow, SYSTEM, batch, plan, town.platform.cases, partial=partial)


def case_of(town: Town, key: str, source: str = "nyc311") -> int:
    with UnitOfWork(town.platform.session_factory) as uow:
        found = uow.session.execute(
            select(open311_requests.c.case_id).where(
                open311_requests.c.source == source, open311_requests.c.source_key == key
            )
        ).scalar()
    assert found is not None, key
    return int(found)


@dataclass(frozen=True)
class Row:
    action: str
    to_status: Status
    at: str
    data: dict[str, Any]


def timeline(town: Town, case_id: int) -> list[Row]:
    """A case's timeline rows, read while the session holds them."""
    with UnitOfWork(town.platform.session_factory) as uow:
        events = CaseRepository(uow.session).timeline(case_id)
        return [Row(e.action, e.to_state, e.at.isoformat(), dict(e.data)) for e in events]


def count_cases(town: Town) -> int:
    with UnitOfWork(town.platform.session_factory) as uow:
        return int(uow.session.execute(select(func.count()).select_from(cases)).scalar_one())


CHRISTMAS_2013 = {"start_date": "2013-12-20T00:00:00Z", "end_date": "2014-01-10T00:00:00Z"}


def requests_of(town: Town, **params: str) -> dict[str, dict[str, Any]]:
    response = town.client.get("/open311/v2/requests.json", params={**CHRISTMAS_2013, **params})
    return {r["service_request_id"]: r for r in valid(REQUESTS, response)}


# ------------------------------------------------------------------ importing history


def test_history_is_imported_with_its_own_times_states_and_agencies(
    town: Town, tmp_path: Path
) -> None:
    rows = [
        nyc_row(
            "H-closed",
            town,
            **{
                "Closed Date": "12/26/2013 01:15:00 AM",
                "Status": "Closed",
                "Due Date": "12/26/2013 07:59:08 AM",
            },
        ),
        nyc_row(
            "H-assigned",
            town,
            grid="1",
            **{
                "Agency": "DOT",
                "Complaint Type": "Street Condition",
                "Descriptor": "Pothole",
                "Status": "Assigned",
                "Due Date": "12/27/2013 11:59:08 PM",
                "Resolution Action Updated Date": "12/26/2013 09:00:00 AM",
            },
        ),
        nyc_row("H-heat", town, grid="2", Agency="HPD", **{"Complaint Type": "HEATING"}),
        nyc_row("H-benefit", town, grid="3", **{"Complaint Type": "Benefit Card Replacement"}),
        nyc_row(
            "H-edc",
            town,
            grid="4",
            Agency="EDC",
            **{"Agency Name": "Economic Development Corporation", "Complaint Type": "Noise"},
        ),
    ]
    report = import_file(town, write_csv(tmp_path / "history.csv", rows))
    assert (report.imported, report.rejected, report.written) == (5, 0, True)
    assert dict(report.fallback_types) == {"Benefit Card Replacement": 1}
    assert report.units_created == [("NYC-EDC", "Economic Development Corporation")]

    found = requests_of(town)
    closed = found[str(case_of(town, "H-closed"))]
    assert closed["status"] == "closed" and closed["status_notes"] == "已结案 Closed"
    assert closed["requested_datetime"] == "2013-12-26T04:59:08+00:00"  # New York → UTC
    assert closed["updated_datetime"] == "2013-12-26T06:15:00+00:00"
    assert closed["expected_datetime"] == "2013-12-26T12:59:08+00:00"
    assert (closed["service_code"], closed["agency_responsible"]) == ("SO03", "市公安局")
    assert closed["description"] == "Blocked Driveway: No Access"
    assert (closed["address"], closed["zipcode"]) == ("952 EAST 58 STREET", "11234")
    assert closed["service_notice"] is None

    assigned = found[str(case_of(town, "H-assigned"))]
    assert (assigned["status"], assigned["status_notes"]) == ("open", "已派遣 Dispatched")
    assert (assigned["service_code"], assigned["agency_responsible"]) == ("FA01", "市交通运输局")
    assert assigned["expected_datetime"] == "2013-12-28T04:59:08+00:00"
    heat = found[str(case_of(town, "H-heat"))]
    assert (heat["service_code"], heat["status_notes"]) == ("HS01", "已上报 Reported")
    assert heat["agency_responsible"] == "市住房和城乡建设局"
    assert found[str(case_of(town, "H-benefit"))]["service_code"] == "OT01"
    edc = found[str(case_of(town, "H-edc"))]
    assert edc["agency_responsible"] == "Economic Development Corporation"

    # The timeline records the historic times, not the time of the import.
    history = timeline(town, case_of(town, "H-closed"))
    assert [(e.action, e.at) for e in history] == [
        ("report", "2013-12-26T04:59:08+00:00"),
        ("close", "2013-12-26T06:15:00+00:00"),
    ]
    assert history[0].data["import"] == {"source": "nyc311", "key": "H-closed", "row": 2}
    assert history[1].data["source_status"] == "Closed"
    history = timeline(town, case_of(town, "H-assigned"))
    assert [(e.action, e.to_status, e.at) for e in history] == [
        ("report", Status.REPORTED, "2013-12-26T04:59:08+00:00"),
        ("dispatch", Status.DISPATCHED, "2013-12-26T14:00:00+00:00"),
        ("overdue", Status.DISPATCHED, "2013-12-28T04:59:08+00:00"),
    ]


def test_importing_the_same_file_again_changes_nothing(town: Town, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "again.csv",
        [nyc_row(f"A-{n}", town, grid=str(n)) for n in range(4)],
    )
    first = import_file(town, path)
    before = count_cases(town)
    second = import_file(town, path)
    assert (first.imported, second.imported, second.already_imported) == (4, 0, 4)
    assert count_cases(town) == before
    result = town.run("open311", "import", str(path), "--mapping", "nyc311")
    assert result.exit_code == 0, result.output
    assert "0 requests imported" in result.text and "4 imported before, skipped" in result.text
    assert count_cases(town) == before


def test_old_history_stays_out_of_the_default_window_and_the_scheduler(
    town: Town, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "old.csv",
        [nyc_row("O-1", town, **{"Due Date": "12/26/2013 11:59:08 PM", "Status": "Started"})],
    )
    assert import_file(town, path).imported == 1
    case_id = str(case_of(town, "O-1"))
    everything = town.client.get("/open311/v2/requests.json").json()
    assert case_id not in {r["service_request_id"] for r in everything}
    assert requests_of(town)[case_id]["status_notes"] == "处置中 In progress"
    with UnitOfWork(town.platform.session_factory) as uow:
        done = tick(uow, SCHEDULER, town.platform.cases)
        case = CaseRepository(uow.session).get(int(case_id))
        assert case is not None and case.overdue and case.escalation_count == 0
    assert (done.marked_overdue, done.escalated) == (0, 0)


def test_bad_rows_stop_the_import_unless_partial(town: Town, tmp_path: Path) -> None:
    rows = [
        nyc_row("B-good-1", town),
        nyc_row("B-bad-date", town, **{"Created Date": "25.12.2013"}),
        nyc_row("B-nowhere", town, Latitude="", Longitude="", **{"Incident Address": ""}),
        nyc_row("B-unknown-address", town, Latitude="", Longitude=""),
        nyc_row("B-far", town, Latitude="10.5", Longitude="10.5"),
        nyc_row("B-good-1", town, grid="1"),
        nyc_row(
            "B-early",
            town,
            Status="Closed",
            **{"Closed Date": "12/24/2013 10:00:00 AM"},
        ),
        nyc_row("B-good-2", town, grid="2"),
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    before = count_cases(town)
    result = town.run("open311", "import", str(path), "--mapping", "nyc311")
    assert result.exit_code == 1
    assert "导入中止：6 行有误，未写入任何数据" in result.text
    assert count_cases(town) == before
    saved = tmp_path / "bad.rejected.csv"
    rejected = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [r["Unique Key"] for r in rejected] == [
        "B-bad-date",
        "B-nowhere",
        "B-unknown-address",
        "B-far",
        "B-good-1",
        "B-early",
    ]
    errors = [r["_errors"] for r in rejected]
    assert errors[0] == "第 3 行“Created Date”：“25.12.2013”不符合时间格式 %m/%d/%Y %I:%M:%S %p"
    assert errors[1] == "第 4 行“Latitude”：没有位置：既无经纬度，也无地址"
    assert errors[2].startswith("第 5 行“Incident Address”：无法识别地址“952 EAST 58 STREET”")
    assert errors[3] == "第 6 行“Latitude”：该位置（纬度 10.5，经度 10.5）不在本市任何网格内"
    assert errors[4] == "第 7 行“Unique Key”：编号“B-good-1”重复（首次出现于第 2 行）"
    assert errors[5] == "第 8 行“Closed Date”：结案时间早于创建时间"

    partial = town.run("open311", "import", str(path), "--mapping", "nyc311", "--partial")
    assert partial.exit_code == 0, partial.output
    assert "2 requests imported" in partial.text and "6 rejected" in partial.text
    assert count_cases(town) == before + 2
    assert case_of(town, "B-good-1") and case_of(town, "B-good-2")


def test_rejected_rows_go_where_asked(town: Town, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "where.csv", [nyc_row("W-1", town, **{"Created Date": "x"})])
    target = tmp_path / "out" / "fix-me.csv"
    target.parent.mkdir()
    result = town.run(
        "open311", "import", str(path), "--mapping", "nyc311", "--rejected", str(target)
    )
    assert result.exit_code == 1
    assert "W-1" in target.read_text(encoding="utf-8-sig")


def test_a_read_only_folder_is_left_alone(
    town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    path = write_csv(shared / "ro.csv", [nyc_row("R-1", town, **{"Created Date": "x"})])
    shared.chmod(0o555)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        result = town.run("open311", "import", str(path), "--mapping", "nyc311")
    finally:
        shared.chmod(0o755)
    assert result.exit_code == 1
    assert sorted(p.name for p in shared.iterdir()) == ["ro.csv"]
    assert "R-1" in (work / "ro.rejected.csv").read_text(encoding="utf-8-sig")


def test_unmapped_agencies_may_be_refused(town: Town, tmp_path: Path) -> None:
    text = mapping_path("nyc311").read_text(encoding="utf-8")
    strict = tmp_path / "strict.toml"
    strict.write_text(
        text.replace('source = "nyc311"', 'source = "nyc-strict"').replace(
            'unmapped_agencies = "create"', 'unmapped_agencies = "reject"'
        ),
        encoding="utf-8",
    )
    path = write_csv(
        tmp_path / "strict.csv",
        [nyc_row("S-1", town, Agency="TLC-X"), nyc_row("S-2", town, grid="1")],
    )
    report = import_file(town, path, read_mapping(strict), partial=True)
    assert report.imported == 1
    assert [(p.row, p.column, p.key) for p in report.problems] == [
        (2, "Agency", "open311_import_unmapped_agency")
    ]


def test_a_mapping_naming_a_unit_the_city_lacks_is_refused(town: Town, tmp_path: Path) -> None:
    plan = read_mapping(mapping_path("nyc311"))
    plan.agencies = {**plan.agencies, "NYPD": "990100-NOPE"}
    path = write_csv(tmp_path / "units.csv", [nyc_row("U-1", town)])
    with pytest.raises(InvalidInput) as caught:
        import_file(town, path, plan)
    assert caught.value.message("en") == (
        "The mapping sends the agency NYPD to the unit 990100-NOPE, which does not exist"
    )


def test_an_open311_export_imports_with_the_default_mapping(town: Town, tmp_path: Path) -> None:
    lat, lon = town.point(5)
    columns = [
        "service_request_id",
        "status",
        "service_code",
        "description",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "lat",
        "long",
    ]
    rows = [
        {
            "service_request_id": "638344",
            "status": "closed",
            "service_code": "CR01",
            "description": "Garbage left out",
            "requested_datetime": "2013-12-24T06:37:38-08:00",
            "updated_datetime": "2013-12-24T16:37:38-08:00",
            "expected_datetime": "",
            "address": "8TH AVE and JUDAH ST",
            "lat": f"{lat}",
            "long": f"{lon}",
        },
        {
            "service_request_id": "638349",
            "status": "open",
            "service_code": "FA03",
            "description": "",
            "requested_datetime": "2013-12-25T06:37:38Z",
            "updated_datetime": "",
            "expected_datetime": "",
            "address": "",
            "lat": f"{lat}",
            "long": f"{lon}",
        },
    ]
    path = write_csv(tmp_path / "open311.csv", rows, columns)
    result = town.run("open311", "import", str(path))
    assert result.exit_code == 0, result.output
    found = requests_of(town)
    closed = found[str(case_of(town, "638344", "open311-export"))]
    assert (closed["service_code"], closed["status"]) == ("CR01", "closed")
    assert closed["requested_datetime"] == "2013-12-24T14:37:38+00:00"
    assert closed["updated_datetime"] == "2013-12-25T00:37:38+00:00"
    light = found[str(case_of(town, "638349", "open311-export"))]
    assert (light["service_code"], light["status"], light["description"]) == (
        "FA03",
        "open",
        "FA03",
    )


# ------------------------------------------------------------------ the real NYC file


def nyc_city(boundaries: Path) -> DemoCity:
    """New York's 71 community districts as districts, one grid each (enough to locate)."""
    districts = []
    for feature in read_boundaries(boundaries):
        checked = check_feature(
            feature,
            code_field="BoroCD",
            name_field="BoroCD",
            parent_field=None,
            parent_code=None,
            gcj02=False,
            repair=True,
        )
        assert not isinstance(checked, Rejection)
        districts.append((checked.code, f"District {checked.code}", checked.geometry))
    shape = Shape(streets_per_district=1, communities_per_street=1, grids_per_community=1)
    return DemoCityBuilder(seed=3).from_boundaries(districts, shape, "New York")


def test_the_nyc_christmas_2013_file_imports(
    shared_data: Path, databases: DatabaseMaker, tmp_path: Path
) -> None:
    platform = open_platform(databases.new("nyc311"))
    try:
        with UnitOfWork(platform.session_factory) as uow:
            city = nyc_city(shared_data / "boundaries" / "nyc" / "community_districts.geojson")
            install_demo_city(uow, SYSTEM, city, ports=platform.cases, cases=0)
        source = shared_data / "nyc311" / "requests_2013-12-25.csv"
        plan = read_mapping(mapping_path("nyc311"))
        batch = read_export(source.read_text(encoding="utf-8"), plan)
        with UnitOfWork(platform.session_factory) as uow:
            report = import_requests(uow, SYSTEM, batch, plan, platform.cases, partial=True)
        assert (report.imported, report.rejected) == (2304, 82)
        assert dict(report.reasons()) == {
            "open311_import_no_location": 70,
            "case_address_unknown": 12,
        }
        assert report.units_created == [("NYC-EDC", "Economic Development Corporation")]
        with UnitOfWork(platform.session_factory) as uow:
            again = import_requests(uow, SYSTEM, batch, plan, platform.cases, partial=True)
        assert (again.imported, again.already_imported) == (0, 2304)

        with TestClient(create_app(platform)) as client:
            day = {
                "start_date": "2013-12-25T00:00:00-05:00",
                "end_date": "2013-12-26T00:00:00-05:00",
            }
            found = valid(REQUESTS, client.get("/open311/v2/requests.json", params=day))
            assert len(found) == 1000  # the spec's most; newest first
            times = [r["requested_datetime"] for r in found]
            assert times == sorted(times, reverse=True)
            assert found[0]["requested_datetime"] == "2013-12-26T04:59:08+00:00"
            assert found[0]["description"] == "Blocked Driveway: No Access"
            still_open = valid(
                REQUESTS,
                client.get("/open311/v2/requests.json", params={**day, "status": "open"}),
            )
            assert len(still_open) == 84 and {r["status"] for r in still_open} == {"open"}
    finally:
        platform.engine.dispose()


def test_a_row_not_in_the_files_encoding_is_named_and_the_others_imported(
    town: Town, tmp_path: Path
) -> None:
    """A UTF-8 export with one row pasted in from a GBK one: that row is named with the
    byte where it stops being UTF-8, and --partial imports the others."""
    rows = [
        nyc_row("E-good-1", town, Descriptor="无法进出"),
        nyc_row("E-pasted", town, Descriptor="车库门口被堵"),
        nyc_row("E-good-2", town, grid="1", Descriptor="消防通道被占"),
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    utf8 = path.read_bytes()
    path.write_bytes(utf8.replace("车库门口被堵".encode(), "车库门口被堵".encode("gbk")))
    offset = utf8.index("车库门口被堵".encode())
    before = count_cases(town)
    result = town.run("open311", "import", str(path), "--mapping", "nyc311", "--partial")
    assert result.exit_code == 0, result.output
    assert "2 requests imported" in result.text and "1 rejected" in result.text
    assert count_cases(town) == before + 2
    saved = tmp_path / "mixed.rejected.csv"
    (rejected,) = csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig")))
    assert rejected["Unique Key"] == "E-pasted"
    assert rejected["_errors"] == (
        f"第 3 行“*”：不是 UTF-8 编码（文件第 {offset} 字节），此行未读入："
        "请另存为 UTF-8 后重新导入"
    )
