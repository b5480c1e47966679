"""Department files as they come: `civicgrid registry import` says by its exit status how
it went, names a person or organisation under two record numbers and an address too long
for its column, and a UTF-8 file with one row pasted in from a GBK one loses that row only
(named with its byte), there and in the Open311 import; files imported all or nothing
name the line instead of refusing the file without a word."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.permissions import SYSTEM
from civicgrid.core.rows import read_csv_file, read_csv_text
from civicgrid.registry import services
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.identifiers import identity_check_character
from civicgrid.registry.importing import default_mapping, open_table
from tests.conftest import TEST_SECRET

HEADER = ["人员编号", "姓名", "身份证号", "现住址"]


def identity(first17: str) -> str:
    return first17 + identity_check_character(first17)


ZHANG = identity("11010519800101003")
LI = identity("11010519900101002")


def write_rows(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def import_people(platform: Platform, path: Path) -> services.ImportReport:
    with UnitOfWork(platform.session_factory) as uow:
        return services.import_records(
            uow,
            SYSTEM,
            RecordKind.PERSON,
            open_table(path),
            default_mapping(RecordKind.PERSON),
            secret_key=TEST_SECRET,
            source="公安",
        )


def problems_of(report: services.ImportReport) -> dict[int, list[tuple[str, str, Any]]]:
    return {
        row: [(p.column, p.key, p.params) for p in problems]
        for row, problems, _kept, _raw in report.bad_rows
    }


def run(platform: Platform, *args: str) -> Any:
    url = platform.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(cli_app, ["registry", "import", *args, "--db", url])
    result.text = " ".join(result.output.split())
    return result


def test_one_person_under_two_record_numbers_is_refused_naming_both_rows(
    scratch: Platform, tmp_path: Path
) -> None:
    path = write_rows(
        tmp_path / "people.csv",
        [["P-1", "张三", ZHANG, ""], ["P-2", "李四", LI, ""], ["P-3", "张三", ZHANG, ""]],
    )
    report = import_people(scratch, path)
    assert (report.batch.created, report.batch.rejected) == (2, 1)
    assert problems_of(report) == {4: [("id_number", "registry_duplicate_identity", {"first": 2})]}
    message = report.bad_rows[0][1][0].message("en")
    assert message.startswith("row 4, 'id_number': the same as in row 2, under another record")


def test_an_address_longer_than_its_column_is_refused_with_its_length(
    scratch: Platform, tmp_path: Path
) -> None:
    long = "幸福路" + "一" * 298
    path = write_rows(
        tmp_path / "people.csv", [["P-1", "张三", ZHANG, long], ["P-2", "李四", LI, ""]]
    )
    report = import_people(scratch, path)
    assert problems_of(report) == {
        2: [("address", "registry_too_long", {"limit": 300, "length": 301})]
    }
    addresses = write_rows(
        tmp_path / "addresses.csv",
        [["A-1", "长路1号", "长" * 60 + "路", "1"]],
        ["地址编码", "标准地址", "道路", "门牌号"],
    )
    with UnitOfWork(scratch.session_factory) as uow:
        refused = services.import_records(
            uow,
            SYSTEM,
            RecordKind.ADDRESS,
            open_table(addresses),
            default_mapping(RecordKind.ADDRESS),
            secret_key=TEST_SECRET,
        )
    assert ("road", "registry_too_long", {"limit": 60, "length": 61}) in problems_of(refused)[2]


def test_a_gbk_row_in_a_utf8_file_is_named_and_the_others_imported(
    scratch: Platform, tmp_path: Path
) -> None:
    head = ",".join(HEADER).encode() + b"\n" + f"P-1,张三,{ZHANG},\n".encode()
    gbk = f"P-2,李四,{LI},幸福路1号\n".encode("gbk")
    path = tmp_path / "people.csv"
    path.write_bytes(head + gbk + f"P-3,王五,{identity('11010519700101001')},\n".encode())
    report = import_people(scratch, path)
    assert report.batch.encoding == "utf-8"
    assert (report.batch.created, report.batch.rejected) == (2, 1)
    offset = len(head) + gbk.index("李四".encode("gbk"))
    assert problems_of(report) == {
        3: [("*", "row_encoding", {"offset": offset, "encoding": "UTF-8"})]
    }
    message = report.bad_rows[0][1][0].message("en")
    assert message.startswith(f"row 3, '*': not UTF-8 (at byte {offset} of the file)")


def test_the_command_exits_0_1_or_2_as_every_some_or_no_row_was_imported(
    scratch: Platform, tmp_path: Path
) -> None:
    good = write_rows(tmp_path / "good.csv", [["P-1", "张三", ZHANG, ""]])
    assert run(scratch, "people", str(good)).exit_code == 0
    some = write_rows(
        tmp_path / "some.csv", [["P-1", "张三", ZHANG, ""], ["P-9", "无名", "123", ""]]
    )
    result = run(scratch, "people", str(some))
    assert result.exit_code == 1, result.text
    assert "1 行被拒" in result.text or "rejected" in result.text
    none = write_rows(tmp_path / "none.csv", [["P-9", "无名", "123", ""]])
    assert run(scratch, "people", str(none)).exit_code == 2
    no_column = tmp_path / "no-column.csv"
    no_column.write_text("名字,电话\n张三,13812345678\n", encoding="utf-8")
    assert run(scratch, "people", str(no_column)).exit_code == 2


def test_a_file_imported_all_or_nothing_names_its_undecodable_line(tmp_path: Path) -> None:
    path = tmp_path / "categories.csv"
    head = "code,name\nCR,市容\n".encode()
    path.write_bytes(head + "CR01,暴露垃圾\n".encode("gbk") + "CR02,积存渣土\n".encode())
    decoded = read_csv_file(path)
    assert decoded.encoding.name == "utf-8" and list(decoded.undecodable) == [3]
    with pytest.raises(InvalidInput) as refused:
        read_csv_text(path)
    assert refused.value.params == {
        "path": str(path),
        "line": 3,
        "offset": len(head) + len("CR01,"),
        "encoding": "UTF-8",
    }
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("code,name\nCR,市容\nCR01,暴露垃圾\n".encode("gbk"))
    assert read_csv_text(gbk) == "code,name\nCR,市容\nCR01,暴露垃圾\n"
