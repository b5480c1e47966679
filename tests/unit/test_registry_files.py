"""Reading department files for the registry: encodings, Excel headers, mappings, row checks."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from civicgrid.core.errors import InvalidInput
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.identifiers import credit_check_character, identity_check_character
from civicgrid.registry.importing import (
    AddressFound,
    CheckContext,
    Checked,
    RowChecker,
    default_mapping,
    open_table,
    parse_date,
    read_mapping,
    resolve_columns,
    write_rejected,
)

HEADER = ["姓名", "公民身份号码", "性别", "出生日期", "联系电话", "现住址", "人员类型", "关怀类型"]


def identity(first17: str) -> str:
    return first17 + identity_check_character(first17)


ZHANG = identity("11010519491231002")  # a woman born 1949-12-31


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding=encoding)
    return path


def checker(kind: RecordKind, path: Path, grids: set[str] | None = None) -> RowChecker:
    table = open_table(path)
    columns = resolve_columns(table, default_mapping(kind), kind)

    def match(text: str) -> AddressFound:
        if text.startswith("南池子大街12号"):
            return AddressFound(7, "exact", "G1")
        return AddressFound(None, "none", None)

    context = CheckContext(
        "police",
        1,
        "secret",
        grids or {"G1"},
        match,
        {7: 70},
        lambda _x, _y: None,
        date(2026, 11, 22),
    )
    return RowChecker(kind, columns, context)


def test_a_gbk_file_is_read_and_its_encoding_named(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [HEADER, ["张三", ZHANG, "女", "", "", "", "", ""]], "gbk")
    table = open_table(path)
    assert table.encoding == "gb18030"
    assert table.header[0] == "姓名"
    assert [cells[0] for _n, cells in table.rows] == ["张三"]


def test_utf8_with_a_byte_order_mark_is_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [HEADER, ["张三", ZHANG, "", "", "", "", "", ""]], "utf-8-sig")
    table = open_table(path)
    assert table.encoding == "utf-8"
    assert table.header[0] == "姓名"


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InvalidInput) as caught:
        open_table(path)
    assert caught.value.message_key == "registry_file_empty"


def test_a_missing_required_column_is_named_with_the_columns_found(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [["姓名", "电话"], ["张三", "13812345678"]])
    with pytest.raises(InvalidInput) as caught:
        resolve_columns(open_table(path), default_mapping(RecordKind.PERSON), RecordKind.PERSON)
    assert caught.value.message_key == "registry_missing_column"
    assert "公民身份号码" in caught.value.message("zh")
    assert "姓名, 电话" in caught.value.message("en")


def test_a_two_row_merged_header_gives_each_column_its_name(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["XX街道实有人口登记表", None, None, None])
    sheet.merge_cells("A1:D1")  # a title row across the sheet
    sheet.append(["姓名", "身份信息", None, "联系电话"])
    sheet.append([None, "公民身份号码", "性别", None])
    sheet.merge_cells("A2:A3")  # 姓名 spans both header rows
    sheet.merge_cells("B2:C2")  # 身份信息 spans two columns
    sheet.merge_cells("D2:D3")
    sheet.append(["张三", ZHANG, "女", 13812345678])
    path = tmp_path / "people.xlsx"
    book.save(path)
    table = open_table(path)
    assert table.header == ["姓名", "公民身份号码", "性别", "联系电话"]
    assert table.header_rows == 2
    rows = list(table.rows)
    assert rows == [(4, ["张三", ZHANG, "女", "13812345678"])]
    columns = resolve_columns(table, default_mapping(RecordKind.PERSON), RecordKind.PERSON)
    assert columns == {"name": 0, "id_number": 1, "sex": 2, "phone": 3}


def test_a_header_merged_across_columns_names_each_covered_column(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["单位名称", "统一社会信用代码", None, "联系电话"])
    sheet.merge_cells("B1:C1")
    first17 = "91510107MA6CXYW12"
    sheet.append(["锦绣便利店", first17 + credit_check_character(first17), "", "13812345678"])
    path = tmp_path / "orgs.xlsx"
    book.save(path)
    table = open_table(path)
    assert table.header[:3] == ["单位名称", "统一社会信用代码", "统一社会信用代码"]
    assert [n for n, _cells in table.rows] == [2]


def test_a_mapping_file_renames_columns(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('source = "公安"\n[columns]\nname = "XM"\nid_number = ["SFZH"]\n', "utf-8")
    plan = read_mapping(mapping, RecordKind.PERSON)
    assert plan.source == "公安"
    path = write(tmp_path / "p.csv", [["XM", "SFZH"], ["张三", ZHANG]])
    assert resolve_columns(open_table(path), plan, RecordKind.PERSON) == {
        "name": 0,
        "id_number": 1,
    }
    mapping.write_text('[columns]\nshoe_size = "X"\n', "utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_mapping(mapping, RecordKind.PERSON)
    assert caught.value.params["field"] == "shoe_size"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01", date(2024, 3, 1)),
        ("2024/3/1", date(2024, 3, 1)),
        ("2024年3月1日", date(2024, 3, 1)),
        ("20240301", date(2024, 3, 1)),
        ("2023-02-30", None),
        ("yesterday", None),
    ],
)
def test_dates_in_department_forms(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def test_a_good_person_takes_birth_date_and_sex_from_the_identity_number(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path / "p.csv",
        [
            HEADER,
            ["张三", ZHANG, "", "", "138 1234 5678", "南池子大街12号3栋", "", "独居老人、低保"],
        ],
    )
    check = checker(RecordKind.PERSON, path)
    number, cells = next(open_table(path).rows)
    result = check.check(number, cells)
    assert isinstance(result, Checked)
    values = result.values
    assert values["birth_date"] == date(1949, 12, 31)
    assert values["sex"] == "F"
    assert values["phone"] == "13812345678"
    assert values["id_masked"] == "110105********002" + ZHANG[-1]
    assert ZHANG not in str(values)  # only the hash and the mask are kept
    assert values["care_tags"] == "elderly_alone,low_income"
    assert (values["address_id"], values["house_id"], values["grid_code"]) == (7, 70, "G1")


def test_every_wrong_field_of_a_row_is_named(tmp_path: Path) -> None:
    wrong_check = ZHANG[:-1] + ("0" if ZHANG[-1] != "0" else "1")
    path = write(
        tmp_path / "p.csv",
        [
            ["姓名", "公民身份号码", "出生日期", "联系电话", "登记日期", "有效期至", "关怀类型"],
            ["张三", wrong_check, "", "", "", "", ""],
            ["李四", ZHANG, "1950-01-01", "123", "2023-02-30", "", "外星人"],
            ["王五", ZHANG, "", "", "2025-01-01", "2024-01-01", ""],
        ],
    )
    check = checker(RecordKind.PERSON, path)
    rows = list(open_table(path).rows)
    first = check.check(*rows[0])
    assert isinstance(first, list)
    assert [(p.row, p.column, p.key) for p in first] == [
        (2, "id_number", "registry_id_check_digit")
    ]
    second = check.check(*rows[1])
    assert isinstance(second, list)
    assert {(p.column, p.key) for p in second} == {
        ("birth_date", "registry_birth_mismatch"),
        ("phone", "registry_phone_format"),
        ("registered_on", "registry_bad_date"),
        ("care_tags", "registry_unknown_value"),
    }
    third = check.check(*rows[2])
    assert isinstance(third, list)
    assert [p.key for p in third] == ["registry_expiry_before_registration"]


def test_an_unmatched_address_or_unknown_grid_is_kept_for_review(tmp_path: Path) -> None:
    path = write(
        tmp_path / "p.csv",
        [["姓名", "身份证号", "现住址", "网格编码"], ["张三", ZHANG, "无名路1号", "G9"]],
    )
    result = checker(RecordKind.PERSON, path).check(*next(open_table(path).rows))
    assert isinstance(result, Checked)
    assert result.values["address_text"] == "无名路1号"
    assert result.values["address_id"] is None
    assert {p.key for p in result.review} == {
        "registry_unknown_grid",
        "registry_address_unmatched",
    }


def test_the_rejected_file_is_utf8_with_a_bom_and_both_languages(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", [HEADER, ["张三", "123", "", "", "", "", "", ""]])
    table = open_table(path)
    check = checker(RecordKind.PERSON, path)
    number, cells = next(table.rows)
    problems = check.check(number, cells)
    assert isinstance(problems, list)
    saved = write_rejected(path, table.header, [(number, problems, False, table.raw(cells))])
    assert saved.name == "p.csv.rejected.csv"
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert "身份证号码“123”应为18位" in text
    assert "should have 18 characters" in text
    assert text.splitlines()[1].startswith("2,id_number,")


def test_an_organisation_with_a_wrong_credit_code_is_rejected(tmp_path: Path) -> None:
    first17 = "91510107MA6CXYW12"
    good = first17 + credit_check_character(first17)
    wrong = first17 + ("0" if good[-1] != "0" else "1")
    path = write(
        tmp_path / "o.csv",
        [
            ["单位名称", "统一社会信用代码", "单位类型", "单位地址"],
            ["锦绣便利店", good, "个体工商户", "南池子大街12号"],
            ["翠湖超市", wrong, "企业", ""],
        ],
    )
    check = checker(RecordKind.ORGANISATION, path)
    first, second = (check.check(*row) for row in open_table(path).rows)
    assert isinstance(first, Checked)
    assert first.values["kind"] == "individual_business"
    assert first.key == good
    assert isinstance(second, list)
    assert [(p.column, p.key) for p in second] == [("credit_code", "registry_credit_check_digit")]


def test_a_house_with_an_impossible_area_is_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "h.csv",
        [
            ["房屋地址", "房屋类型", "建筑面积", "核定居住人数"],
            ["南池子大街12号3-2-501", "群租", "85.5", "4"],
            ["南池子大街12号3-2-502", "宫殿", "-3", "2.5"],
        ],
    )
    check = checker(RecordKind.HOUSE, path)
    first, second = (check.check(*row) for row in open_table(path).rows)
    assert isinstance(first, Checked)
    assert (first.values["kind"], first.values["area_m2"], first.values["occupancy_limit"]) == (
        "group_rental",
        85.5,
        4,
    )
    assert isinstance(second, list)
    assert {p.column for p in second} == {"kind", "area_m2", "occupancy_limit"}


def test_the_plain_person_path_agrees_with_the_full_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows as the demo's departments write them, a share of them spoilt, and rows in the
    unusual forms the plain path leaves to `_person`: both give the same record, key and
    review notes, and the rows with problems get the same problems."""
    from civicgrid.demo.registry import PEOPLE_HEADER, make_people, people_lines, spoil

    today = date(2026, 11, 22)
    people = make_people(600, ["南池子大街12号", "无名路9号"], today, seed=3)
    spoil(people, 0.2, seed=4)
    unusual = [
        f"张三,{ZHANG.lower()},女,1949/12/31,+86 138-1234-5678,南池子大街12号,暂住,"
        "20240301,2025年3月1日,独居老人",
        f"李四, {ZHANG} ,F,19491231,010-62345678,,户籍,,,无",
        f"王五,{ZHANG[:6] + ZHANG[8:17]},男,,13812345678,,,2030-01-01,,",
        f"赵六,{ZHANG},女,1949-12-30,1381234567,,外星人,2024-03-01,2024-02-01,孤儿",
        f",{ZHANG},,,,,,,,",
    ]
    path = tmp_path / "people.csv"
    path.write_text(
        ",".join(PEOPLE_HEADER) + "\n" + "\n".join([*people_lines(people, slice(None)), *unusual]),
        encoding="utf-8",
    )
    plain = checker(RecordKind.PERSON, path)
    plain.context.today = today
    rows = list(open_table(path).rows)
    taken: list[int] = []
    original = RowChecker._plain_person

    def spy(self: RowChecker, row: int, *args: Any) -> Any:
        found = original(self, row, *args)
        if found is not None:
            taken.append(row)
        return found

    monkeypatch.setattr(RowChecker, "_plain_person", spy)
    fast = [plain.check(n, cells) for n, cells in rows]
    monkeypatch.setattr(RowChecker, "_plain_person", lambda *_args: None)
    full = [plain.check(n, cells) for n, cells in rows]
    assert len(rows) == 605
    for (number, _cells), a, b in zip(rows, fast, full, strict=True):
        if isinstance(a, Checked):
            assert isinstance(b, Checked), number
            assert (a.values, a.key, a.review) == (b.values, b.key, b.review), number
        else:
            assert a == b, number
    assert len(taken) > 400
    assert len(taken) < sum(isinstance(a, Checked) for a in fast)
