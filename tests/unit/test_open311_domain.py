"""Open311's rules without a database: states as open/closed, attribute answers, the
request filters, the submitted form, the error model and imported history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from civicgrid.areas.domain import Level
from civicgrid.cases.domain import OPEN_STATUSES, Case, Channel, Status
from civicgrid.core.errors import Conflict, Forbidden, InvalidInput, NotAuthenticated, NotFound
from civicgrid.core.permissions import SYSTEM
from civicgrid.open311.domain import (
    Datatype,
    Problems,
    PublicStatus,
    ServiceAttribute,
    check_answers,
    errors_of,
    parse_w3c_datetime,
    public_status,
    read_submission,
    replay_history,
    request_query,
    status_notes,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def a_case(**fields: object) -> Case:
    values: dict[str, object] = {
        "description": "路灯不亮",
        "channel": Channel.OPEN311,
        "category_code": "FA03",
        "grid_code": "G1",
        "area_path": "/C/D/S/K/G1/",
        "handling_level": Level.STREET,
        "handling_area_code": "S",
        "created_at": NOW,
        "time_limits": {"accept": 2, "register": 4, "dispatch": 4, "start": 24, "handle": 72},
    }
    values.update(fields)
    return Case(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------ states


@pytest.mark.parametrize("status", list(Status))
def test_every_state_reads_as_open_or_closed(status: Status) -> None:
    expected = PublicStatus.OPEN if status in OPEN_STATUSES else PublicStatus.CLOSED
    assert public_status(status) is expected


def test_closed_rejected_voided_and_merged_cases_are_closed() -> None:
    for status in (Status.CLOSED, Status.REJECTED, Status.VOIDED, Status.MERGED):
        assert public_status(status) is PublicStatus.CLOSED
    for status in (Status.REPORTED, Status.SUSPENDED, Status.RESOLVED, Status.VERIFIED):
        assert public_status(status) is PublicStatus.OPEN


def test_status_notes_give_the_precise_state_in_both_languages() -> None:
    assert status_notes(a_case(status=Status.DISPATCHED)) == "已派遣 Dispatched"
    merged = a_case(status=Status.MERGED, merged_into_id=42)
    assert status_notes(merged) == "已合并到请求 42 merged into request 42"


# ------------------------------------------------------------------ attributes


def attribute(code: str, datatype: Datatype, **fields: object) -> ServiceAttribute:
    return ServiceAttribute(
        service_code="FA01",
        code=code,
        datatype=datatype,
        order=int(fields.pop("order", 1)),  # type: ignore[call-overload]
        description=code,
        **fields,  # type: ignore[arg-type]
    )


SIZE = attribute(
    "size",
    Datatype.SINGLEVALUELIST,
    required=True,
    values=[{"key": "small", "name": "小"}, {"key": "large", "name": "大"}],
)
HAZARD = attribute(
    "hazard",
    Datatype.MULTIVALUELIST,
    order=2,
    values=[{"key": "cars", "name": "车"}, {"key": "people", "name": "人"}],
)
DEPTH = attribute("depth", Datatype.NUMBER, order=3)
SINCE = attribute("since", Datatype.DATETIME, order=4)
PLATE = attribute("plate", Datatype.STRING, order=5)
WARNING = attribute("warning", Datatype.STRING, order=6, variable=False)
ALL = [SIZE, HAZARD, DEPTH, SINCE, PLATE, WARNING]


def test_answers_are_checked_and_normalised() -> None:
    answers = check_answers(
        ALL,
        {
            "size": ["large"],
            "hazard": ["cars", "people", "cars"],
            "depth": ["12.50"],
            "since": ["2024-05-01T08:00:00+08:00"],
            "plate": [" 川A12345 "],
        },
    )
    assert [(a.code, a.value) for a in answers] == [
        ("size", "large"),
        ("hazard", "cars"),
        ("hazard", "people"),
        ("depth", "12.5"),
        ("since", "2024-05-01T00:00:00+00:00"),
        ("plate", "川A12345"),
    ]


def test_a_required_attribute_must_be_answered() -> None:
    with pytest.raises(Problems) as caught:
        check_answers(ALL, {"hazard": ["cars"]})
    assert [p.message_key for p in caught.value.problems] == ["open311_attribute_required"]
    assert "attribute[size]" in caught.value.message("en")


@pytest.mark.parametrize(
    ("submitted", "key"),
    [
        ({"size": ["huge"]}, "open311_attribute_bad_value"),
        ({"size": ["small", "large"]}, "open311_attribute_one_value"),
        ({"size": ["small"], "hazard": ["cars", "boats"]}, "open311_attribute_bad_value"),
        ({"size": ["small"], "depth": ["deep"]}, "open311_attribute_not_number"),
        ({"size": ["small"], "depth": ["nan"]}, "open311_attribute_not_number"),
        ({"size": ["small"], "since": ["yesterday"]}, "open311_attribute_not_datetime"),
        ({"size": ["small"], "plate": ["A\nB"]}, "open311_attribute_line_break"),
        ({"size": ["small"], "plate": ["x" * 501]}, "open311_attribute_too_long"),
        ({"size": ["small"], "colour": ["red"]}, "open311_attribute_unknown"),
        ({"size": ["small"], "warning": ["ok"]}, "open311_attribute_unknown"),
    ],
)
def test_wrong_answers_are_named(submitted: dict[str, list[str]], key: str) -> None:
    with pytest.raises(Problems) as caught:
        check_answers(ALL, submitted)
    assert [p.message_key for p in caught.value.problems] == [key]


def test_every_wrong_answer_is_named_at_once() -> None:
    with pytest.raises(Problems) as caught:
        check_answers(ALL, {"depth": ["x"], "since": ["y"]})
    keys = sorted(p.message_key for p in caught.value.problems)
    assert keys == [
        "open311_attribute_not_datetime",
        "open311_attribute_not_number",
        "open311_attribute_required",
    ]


# ------------------------------------------------------------------ request filters


def test_requests_default_to_the_last_90_days() -> None:
    query = request_query(now=NOW)
    assert (query.start, query.end) == (NOW - timedelta(days=90), NOW)
    assert query.limit == 1000


def test_one_date_sets_the_other_90_days_away() -> None:
    start = request_query(start_date="2024-01-01T00:00:00Z", now=NOW)
    assert start.end == datetime(2024, 3, 31, tzinfo=UTC)
    end = request_query(end_date="2024-03-31", now=NOW)
    assert end.start == datetime(2024, 1, 1, tzinfo=UTC)


def test_a_window_longer_than_90_days_or_reversed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="90 days"):
        request_query(start_date="2024-01-01T00:00:00Z", end_date="2024-04-01T00:00:01Z", now=NOW)
    with pytest.raises(InvalidInput) as caught:
        request_query(start_date="2024-02-01", end_date="2024-01-01", now=NOW)
    assert caught.value.message_key == "open311_date_range_reversed"


def test_dates_must_be_w3c_datetimes() -> None:
    with pytest.raises(InvalidInput) as caught:
        request_query(start_date="25/12/2013", now=NOW)
    assert caught.value.params == {"field": "start_date", "value": "25/12/2013"}


def test_an_unescaped_plus_in_a_zone_is_taken_back() -> None:
    assert parse_w3c_datetime("2010-01-01T08:00:00 08:00") == datetime(2010, 1, 1, tzinfo=UTC)
    assert parse_w3c_datetime("2010-01-01T00:00:00Z") == datetime(2010, 1, 1, tzinfo=UTC)


def test_request_numbers_override_every_other_filter() -> None:
    query = request_query(service_request_id="3, 1,3", status="nonsense", now=NOW)
    assert query.ids == (3, 1) and query.start is None
    with pytest.raises(InvalidInput):
        request_query(service_request_id="3,x", now=NOW)


def test_status_and_service_filters_are_comma_lists() -> None:
    query = request_query(status="open", service_code="FA01,CR01", now=NOW)
    assert set(query.statuses) == set(OPEN_STATUSES)
    assert query.service_codes == ("FA01", "CR01")
    assert set(request_query(status="open,closed", now=NOW).statuses) == set(Status)
    with pytest.raises(InvalidInput):
        request_query(status="pending", now=NOW)


# ------------------------------------------------------------------ the submitted form


def test_the_form_is_read_with_attributes_and_multivalues() -> None:
    submission = read_submission(
        [
            ("service_code", "FA01"),
            ("lat", "30.66"),
            ("long", "104.06"),
            ("attribute[size]", "small"),
            ("attribute[hazard][]", "cars"),
            ("attribute[hazard][]", "people"),
            ("first_name", "芳"),
            ("last_name", "王"),
        ]
    )
    assert (submission.lat, submission.lon, submission.problems) == (30.66, 104.06, [])
    assert submission.attributes == {"size": ["small"], "hazard": ["cars", "people"]}
    assert submission.reporter_name == "王芳"
    english = read_submission([("first_name", "John"), ("last_name", "Smith")])
    assert english.reporter_name == "John Smith"


@pytest.mark.parametrize(
    ("fields", "keys"),
    [
        ([("lat", "1"), ("long", "2")], ["open311_field_required"]),
        ([("service_code", "FA01")], ["open311_location_required"]),
        ([("service_code", "FA01"), ("lat", "30")], ["open311_lat_long_pair"]),
        ([("service_code", "FA01"), ("lat", "x"), ("long", "1")], ["open311_not_a_number"]),
        (
            [("service_code", "FA01"), ("address_string", "x"), ("description", "长" * 4001)],
            ["open311_description_too_long"],
        ),
        (
            [("service_code", "FA01"), ("address_id", "7"), ("media_url", "javascript:x")],
            ["open311_bad_media_url"],
        ),
        ([("service_code", "FA01"), ("address_id", "7"), ("email", "no")], ["open311_bad_email"]),
        (
            [("service_code", "FA01"), ("address_id", "7"), ("phone", "1" * 41)],
            ["open311_field_too_long"],
        ),
    ],
)
def test_wrong_fields_are_named(fields: list[tuple[str, str]], keys: list[str]) -> None:
    assert [p.message_key for p in read_submission(fields).problems] == keys


def test_a_description_of_4000_characters_is_accepted() -> None:
    fields = [("service_code", "FA01"), ("address_string", "x"), ("description", "长" * 4000)]
    assert read_submission(fields).problems == []


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("open311_location_required"), 400),
        (Conflict("case_changed", id=1), 400),
        (NotAuthenticated("api_key_invalid"), 403),
        (Forbidden("open311_api_key_missing"), 403),
        (NotFound("open311_token_not_found", token="t"), 404),
    ],
)
def test_errors_take_the_specs_statuses(error: InvalidInput, status: int) -> None:
    got, items = errors_of(error, "en")
    assert got == status and [i.code for i in items] == [status]


def test_several_problems_are_several_errors() -> None:
    problems = Problems(
        [InvalidInput("open311_location_required"), InvalidInput("open311_lat_long_pair")]
    )
    _, items = errors_of(problems, "zh")
    assert [i.description for i in items] == [
        "请提供位置：lat 和 long、address_string 或 address_id 之一",
        "lat 和 long 必须同时提供",
    ]


# ------------------------------------------------------------------ imported history


def test_a_closed_request_is_replayed_at_its_own_times() -> None:
    case = a_case()
    case.start_clock(NOW)
    closed = NOW + timedelta(hours=5)
    events = replay_history(
        case,
        SYSTEM,
        status=Status.CLOSED,
        changed_at=closed,
        unit="U1",
        due_at=NOW + timedelta(days=1),
        now=NOW + timedelta(days=365),
        data={"source_status": "Closed"},
    )
    assert [(e.action, e.at, e.to_state) for e in events] == [("close", closed, Status.CLOSED)]
    assert (case.status, case.closed_at, case.resolved_at) == (Status.CLOSED, closed, closed)
    assert (case.department_code, case.deadline_at, case.updated_at) == ("U1", None, closed)
    assert case.handlers[0].department_code == "U1" and case.handlers[0].lead


def test_an_open_request_past_its_due_date_is_marked_overdue_at_that_date() -> None:
    case = a_case()
    case.start_clock(NOW)
    due = NOW + timedelta(days=2)
    events = replay_history(
        case,
        SYSTEM,
        status=Status.DISPATCHED,
        changed_at=NOW + timedelta(hours=1),
        unit="U2",
        due_at=due,
        now=NOW + timedelta(days=30),
        data={},
    )
    assert [e.action for e in events] == ["dispatch", "overdue"]
    assert events[1].at == due and case.overdue and case.deadline_at == due
    assert case.is_open and case.department_code == "U2"


def test_a_reported_request_still_within_its_time_gets_no_overdue_mark() -> None:
    case = a_case()
    case.start_clock(NOW)
    events = replay_history(
        case,
        SYSTEM,
        status=Status.REPORTED,
        changed_at=NOW,
        unit=None,
        due_at=None,
        now=NOW + timedelta(minutes=5),
        data={},
    )
    assert events == [] and not case.overdue and case.deadline_at is not None
