"""Reading the attribute list, import mappings and 311 exports, and writing XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from civicgrid.cases.domain import Status
from civicgrid.core.errors import InvalidInput
from civicgrid.open311.domain import Datatype
from civicgrid.open311.importing import (
    BUILTIN_MAPPINGS,
    DEFAULT_ATTRIBUTES,
    attributes_csv,
    mapping_from,
    mapping_path,
    parse_attributes,
    read_export,
    read_mapping,
)
from civicgrid.open311.rendering import to_xml

HEADER = "service_code,code,order,datatype,required,variable,description,values\n"


# ------------------------------------------------------------------ the attribute list


def test_the_shipped_attribute_list_is_valid_and_round_trips() -> None:
    parsed = parse_attributes(DEFAULT_ATTRIBUTES.read_text(encoding="utf-8"))
    assert parsed.problems == []
    attributes = [a for _, a in parsed.items]
    assert {a.service_code for a in attributes} >= {"CR01", "FA01", "FA03", "SO03", "HS04"}
    assert {a.datatype for a in attributes} >= set(Datatype) - {Datatype.TEXT}
    again = parse_attributes(attributes_csv(attributes))
    assert again.problems == []
    assert [vars(a) == vars(b) for (_, a), (_, b) in zip(parsed.items, again.items, strict=True)]


def test_list_options_read_with_both_names() -> None:
    text = HEADER + "FA01,size,1,singlevaluelist,yes,yes,多大？,s=小=Small|l=大\n"
    (_, attribute), *_ = parse_attributes(text).items
    assert attribute.values == [
        {"key": "s", "name": "小", "name_en": "Small"},
        {"key": "l", "name": "大", "name_en": ""},
    ]
    assert attribute.required and attribute.variable


@pytest.mark.parametrize(
    ("rows", "column", "key"),
    [
        ("FA01,a,1,colour,no,yes,x,\n", "datatype", "open311_csv_bad_datatype"),
        ("FA01,a,0,string,no,yes,x,\n", "order", "open311_csv_bad_order"),
        ("FA01,a,1,string,maybe,yes,x,\n", "required", "csv_not_a_flag"),
        ("FA01,a,1,singlevaluelist,no,yes,x,\n", "values", "open311_csv_values_needed"),
        ("FA01,a,1,string,no,yes,x,k=v\n", "values", "open311_csv_values_unexpected"),
        ("FA01,a,1,multivaluelist,no,yes,x,k=\n", "values", "open311_csv_bad_values"),
        ("FA01,a,1,string,no,yes,,\n", "description", "csv_required"),
        ("FA01,a,1,string,no,yes,x,\nFA01,a,2,string,no,yes,y,\n", "code", "csv_duplicate"),
        (
            "FA01,a,1,string,no,yes,x,\nFA01,b,1,string,no,yes,y,\n",
            "order",
            "open311_csv_order_taken",
        ),
    ],
)
def test_bad_attribute_rows_are_named(rows: str, column: str, key: str) -> None:
    parsed = parse_attributes(HEADER + rows)
    assert [(p.column, p.key) for p in parsed.problems] == [(column, key)]
    assert parsed.problems[0].row == len(rows.splitlines()) + 1


def test_the_same_code_in_two_services_is_fine() -> None:
    parsed = parse_attributes(HEADER + "FA01,a,1,string,no,yes,x,\nFA03,a,1,string,no,yes,y,\n")
    assert parsed.problems == [] and len(parsed.items) == 2


# ------------------------------------------------------------------ mappings


def test_the_shipped_mappings_read() -> None:
    nyc = read_mapping(mapping_path("nyc311"))
    assert (nyc.source, nyc.timezone, nyc.unmapped_agencies) == (
        "nyc311",
        "America/New_York",
        "create",
    )
    assert nyc.statuses["Assigned"] is Status.DISPATCHED and nyc.agencies["HPD"] == "990100-ZJJ"
    assert read_mapping(mapping_path(None)).date_format == "iso"
    assert set(BUILTIN_MAPPINGS) == {"open311", "nyc311"}


def good_mapping(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "source": "t",
        "timezone": "Asia/Shanghai",
        "date_format": "%Y-%m-%d %H:%M",
        "columns": {"key": "id", "created": "created", "type": "type", "lat": "y", "lon": "x"},
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "key", "field"),
    [
        ({"colour": "red"}, "open311_mapping_unknown_field", "colour"),
        ({"timezone": ""}, "open311_mapping_missing", "timezone"),
        ({"timezone": "Mars/Olympus"}, "open311_mapping_bad_value", "timezone"),
        ({"columns": {"key": "id", "created": "c"}}, "open311_mapping_missing", "columns.type"),
        (
            {"columns": {"key": "id", "created": "c", "type": "t"}},
            "open311_mapping_missing",
            "columns.lat/lon/address",
        ),
        ({"statuses": {"Dup": "merged"}}, "open311_mapping_bad_value", "statuses.Dup"),
        ({"statuses": {"X": "lost"}}, "open311_mapping_bad_value", "statuses.X"),
        ({"unmapped_agencies": "ignore"}, "open311_mapping_bad_value", "unmapped_agencies"),
    ],
)
def test_a_wrong_mapping_names_its_entry(changes: dict[str, Any], key: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        mapping_from(good_mapping(**changes), "m.toml")
    assert (caught.value.message_key, caught.value.params["field"]) == (key, field)


def test_an_unreadable_mapping_says_why(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("source = [", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_mapping(path)
    assert caught.value.message_key == "open311_mapping_unreadable"


# ------------------------------------------------------------------ exports

EXPORT_HEADER = "id,created,closed,status,type,y,x,address\n"


def export(*rows: str) -> str:
    return EXPORT_HEADER + "".join(f"{row}\n" for row in rows)


def test_export_times_are_read_in_the_sources_zone() -> None:
    mapping = mapping_from(
        good_mapping(
            columns={
                "key": "id",
                "created": "created",
                "closed": "closed",
                "status": "status",
                "type": "type",
                "lat": "y",
                "lon": "x",
                "address": "address",
            },
            statuses={"Done": "closed"},
        ),
        "m.toml",
    )
    batch = read_export(
        export(
            "A1,2024-01-02 08:30,2024-01-02 10:00,Done,路灯,30.6,104.0,",
            "A2,2024-01-02 09:00,,Unspecified,路灯,,,人民街道",
        ),
        mapping,
    )
    assert batch.problems == []
    first, second = batch.rows
    assert first.created_at == datetime(2024, 1, 2, 0, 30, tzinfo=UTC)
    assert (first.status, first.closed_at) == (Status.CLOSED, datetime(2024, 1, 2, 2, tzinfo=UTC))
    assert (second.status, second.lat, second.address) == (Status.REPORTED, None, "人民街道")
    assert second.status_text == "Unspecified"


def test_bad_export_rows_are_named_with_their_column() -> None:
    mapping = mapping_from(
        good_mapping(
            columns={
                "key": "id",
                "created": "created",
                "closed": "closed",
                "type": "type",
                "lat": "y",
                "lon": "x",
                "address": "address",
            }
        ),
        "m.toml",
    )
    batch = read_export(
        export(
            "B1,yesterday,,,路灯,30.6,104.0,",
            "B2,2024-01-02 08:30,,,路灯,30.6,,",
            "B3,2024-01-02 08:30,,,路灯,,,N/A",
            "B4,2024-01-02 08:30,2024-01-01 08:30,,路灯,30.6,104.0,",
            "B5,2024-01-02 08:30,,,路灯,north,104.0,",
            "B6,2024-01-02 08:30,,,,30.6,104.0,",
            "B6,2024-01-02 08:30,,,路灯,30.6,104.0,",
            ",2024-01-02 08:30,,,路灯,30.6,104.0,",
        ),
        mapping,
    )
    assert [(p.row, p.column, p.key) for p in batch.problems] == [
        (2, "created", "open311_import_bad_date"),
        (3, "x", "open311_import_half_point"),
        (4, "y", "open311_import_no_location"),
        (5, "closed", "open311_import_closed_early"),
        (6, "y", "open311_import_bad_number"),
        (7, "type", "csv_required"),
        (8, "id", "open311_import_duplicate_key"),
        (9, "id", "csv_required"),
    ]
    assert batch.rows == []
    rejected = batch.bad_rows(batch.problems)
    assert rejected[0]["id"] == "B1" and "yesterday" in rejected[0]["_errors"]


def test_an_export_without_a_required_column_is_refused() -> None:
    mapping = mapping_from(good_mapping(), "m.toml")
    with pytest.raises(InvalidInput) as caught:
        read_export("id,type,y,x\n1,a,1,2\n", mapping)
    assert caught.value.params == {"columns": "created"}


# ------------------------------------------------------------------ XML


def test_xml_follows_the_spark_convention() -> None:
    text = to_xml(
        "service_requests",
        [{"service_request_id": "7", "lat": 30.5, "token": None, "flag": True, "note": "a\x0bb"}],
    )
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(text.encode())
    request = root.find("request")
    assert root.tag == "service_requests" and request is not None
    assert [child.tag for child in request] == [
        "service_request_id",
        "lat",
        "token",
        "flag",
        "note",
    ]
    assert request.findtext("token") == "" and request.findtext("flag") == "true"
    assert request.findtext("note") == "ab"


def test_nested_lists_name_their_items() -> None:
    root = ET.fromstring(
        to_xml(
            "service_definition",
            {"attributes": [{"values": [{"key": "a", "name": "A"}]}], "formats": ["text/xml"]},
        ).encode()
    )
    assert root.findtext("attributes/attribute/values/value/key") == "a"
    assert root.findtext("formats/format") == "text/xml"
