"""The exchange's rules on plain objects: masks, narrowing, the working-day clock and who
decides a request at each step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from enum import Enum

import pytest

from civicgrid.core.errors import Conflict, Forbidden, InvalidInput
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.workflow import Context, Light
from civicgrid.exchange.domain import (
    SHARE_GRANT,
    SHARE_REQUEST,
    Dataset,
    DatasetField,
    Decision,
    Grade,
    Grant,
    GrantState,
    RequestState,
    Scope,
    ShareClass,
    ShareRequest,
    SourceKind,
    Terms,
    WorkingCalendar,
    check_definition,
    check_terms,
    grant_window,
    needs_admin,
    parse_days,
    parse_fields,
)
from civicgrid.exchange.masking import (
    FieldType,
    Hasher,
    Mask,
    MaskKind,
    Personal,
    age_band,
    default_mask,
    mask_person_name,
    show_identity_last,
    show_last,
    show_row,
    shower,
)

TODAY = date(2026, 12, 7)  # a Monday
T0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in the city


def people() -> Dataset:
    dataset = Dataset(
        code="people",
        owner_unit="990100-GAJ",
        title_zh="实有人口",
        title_en="People",
        source_kind=SourceKind.REGISTRY,
        share_class=ShareClass.CONDITIONAL,
        source_name="people",
        grid_field="grid_code",
        id=1,
    )
    dataset.fields = [
        DatasetField("name", "name", FieldType.NAME, personal=Personal.PERSONAL),
        DatasetField(
            "id_masked",
            "id_masked",
            FieldType.IDENTITY,
            grade=Grade.IMPORTANT,
            personal=Personal.SENSITIVE,
        ),
        DatasetField("phone", "phone", FieldType.PHONE, personal=Personal.PERSONAL),
        DatasetField("birth_date", "birth_date", FieldType.DATE, personal=Personal.PERSONAL),
        DatasetField("address_text", "address_text", FieldType.ADDRESS, personal=Personal.PERSONAL),
        DatasetField("grid_code", "grid_code", FieldType.GRID),
        DatasetField("residence", "residence", FieldType.TEXT),
    ]
    return dataset


# ------------------------------------------------------------------ masks


def test_names_keep_their_first_and_last_characters() -> None:
    assert mask_person_name("张三伟") == "张*伟"
    assert mask_person_name("欧阳娜娜") == "欧**娜"
    assert mask_person_name("张三") == "张*"
    assert mask_person_name("Alice Smith") == "A***e S***h"


def test_last_n_shows_no_more_than_n_and_nothing_of_a_short_value() -> None:
    assert show_last("13812345678", 4) == "*******5678"
    assert show_last("123", 4) == "***"
    assert show_identity_last("110105********0213", 4) == "110105********0213"
    assert show_identity_last("110105********0213", 2) == "110105**********13"
    assert show_identity_last("110105********0213", 8) == "110105********0213"  # at most four


def test_birth_dates_generalise_to_year_month_or_age_band() -> None:
    hasher = Hasher("secret")

    def shown(mask: str, value: object) -> object:
        show = shower(
            "born",
            FieldType.DATE,
            Mask.parse(mask, "born"),
            hasher=hasher,
            today=TODAY,
            community_of=lambda grid: None,
        )
        return show(value, {})

    assert shown("year", date(1960, 5, 1)) == "1960"
    assert shown("month", "1960-05-01") == "1960-05"
    assert shown("age_band", date(1960, 5, 1)) == "60-69"
    assert age_band(date(1930, 1, 1), TODAY) == "80+"
    assert shown("year", "not a date") is None  # withheld, never shown as it is


def test_a_keyed_hash_links_without_revealing_and_identity_takes_the_registrys() -> None:
    hasher = Hasher("secret")
    assert hasher(FieldType.PHONE, "138 1234 5678") == hasher(FieldType.PHONE, "13812345678")
    assert hasher(FieldType.PHONE, "13812345678") != Hasher("other")(FieldType.PHONE, "13812345678")
    show = shower(
        "id",
        FieldType.IDENTITY,
        Mask(MaskKind.HASH),
        hasher=hasher,
        today=TODAY,
        community_of=lambda grid: None,
    )
    assert show("110105********0213", {"id#hash": "abc"}) == "abc"


def test_an_address_generalises_to_its_rows_community() -> None:
    show = shower(
        "address",
        FieldType.ADDRESS,
        Mask(MaskKind.COMMUNITY),
        hasher=Hasher("s"),
        today=TODAY,
        community_of={"G1": "阳光社区"}.get,
    )
    row = {"address": "人民路1号3-2-501", "#grid": "G1"}
    assert show_row(row, {"address": show}) == {"address": "阳光社区"}


def test_fields_are_masked_by_what_they_are_unless_the_grant_says_otherwise() -> None:
    assert default_mask(FieldType.PHONE, Personal.PERSONAL) == Mask(MaskKind.PHONE)
    assert default_mask(FieldType.PHONE, Personal.SENSITIVE) == Mask(MaskKind.HASH)
    assert default_mask(FieldType.TEXT, Personal.NONE) == Mask(MaskKind.FULL)
    assert default_mask(FieldType.IDENTITY, Personal.PERSONAL) == Mask(MaskKind.LAST, 4)


def test_a_mask_the_field_cannot_take_or_unknown_is_a_422_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as unknown:
        Mask.parse("blur", "phone")
    assert unknown.value.params["field"] == "phone"
    with pytest.raises(InvalidInput) as last:
        Mask.parse("last:0", "phone")
    assert last.value.message_key == "exchange_mask_last"
    terms = Terms({"phone": Mask(MaskKind.AGE_BAND)}, Scope(), TODAY, TODAY + timedelta(days=30))
    with pytest.raises(InvalidInput) as wrong:
        check_terms(people(), terms, TODAY)
    assert (wrong.value.message_key, wrong.value.params["field"]) == (
        "exchange_mask_not_for_type",
        "phone",
    )


# ------------------------------------------------------------------ terms


def test_asking_for_a_field_twice_or_one_the_dataset_lacks_is_a_422() -> None:
    with pytest.raises(InvalidInput) as twice:
        parse_fields(people(), [("phone", "full"), ("phone", "phone")])
    assert twice.value.message_key == "exchange_field_twice"
    with pytest.raises(InvalidInput) as unknown:
        parse_fields(people(), [("salary", None)])
    assert unknown.value.params["field"] == "salary"


def test_not_shared_datasets_cannot_be_asked_for() -> None:
    dataset = people()
    dataset.share_class = ShareClass.NOT_SHARED
    with pytest.raises(Conflict):
        check_terms(dataset, Terms({"name": Mask(MaskKind.NAME)}, Scope(), TODAY, TODAY), TODAY)


def test_narrowing_may_only_hide_more() -> None:
    asked = Terms(
        {"name": Mask(MaskKind.FULL), "phone": Mask(MaskKind.LAST, 4)},
        Scope("S1", "/C/D/S1/"),
        TODAY,
        TODAY + timedelta(days=90),
    )
    narrower = Terms(
        {"name": Mask(MaskKind.NAME)},
        Scope("G1", "/C/D/S1/C1/G1/"),
        TODAY,
        TODAY + timedelta(days=30),
    )
    asked.narrowed_to(narrower)  # fewer fields, more hidden, fewer rows, fewer days
    for wider, problem in [
        (
            Terms({"birth_date": Mask(MaskKind.YEAR)}, asked.scope, TODAY, TODAY),
            "exchange_narrow_adds_field",
        ),
        (
            Terms({"phone": Mask(MaskKind.LAST, 6)}, asked.scope, TODAY, TODAY),
            "exchange_narrow_shows_more",
        ),
        (
            Terms({"name": Mask(MaskKind.FULL)}, Scope(), TODAY, TODAY),
            "exchange_narrow_wider_scope",
        ),
        (
            Terms({"name": Mask(MaskKind.FULL)}, asked.scope, TODAY, TODAY + timedelta(days=91)),
            "exchange_narrow_longer_period",
        ),
    ]:
        with pytest.raises(InvalidInput) as refused:
            asked.narrowed_to(wider)
        assert refused.value.message_key == problem


def test_important_fields_and_sensitive_information_need_the_data_administrator() -> None:
    dataset = people()
    assert not needs_admin(dataset, ["name", "phone"])
    assert needs_admin(dataset, ["name", "id_masked"])


def test_a_definition_naming_a_column_its_source_lacks_is_a_422() -> None:
    dataset = people()
    dataset.fields[0].column = "full_name"
    with pytest.raises(InvalidInput) as refused:
        check_definition(
            dataset,
            ["name", "id_masked", "phone", "birth_date", "address_text", "grid_code", "residence"],
        )
    assert (refused.value.message_key, refused.value.params["column"]) == (
        "exchange_unknown_column",
        "full_name",
    )


# ------------------------------------------------------------------ the working-day clock


def test_deadlines_count_working_days_skipping_weekends_and_holidays() -> None:
    plain = WorkingCalendar()
    friday = datetime(2026, 12, 11, 9, 0, tzinfo=UTC)
    # Two working days from a Friday: Monday and Tuesday, due by the end of Tuesday.
    assert plain.deadline(friday, 2) == datetime(2026, 12, 15, 16, 0, tzinfo=UTC)
    holidays = WorkingCalendar(
        holidays=parse_days("2026-12-14..2026-12-15", "HOLIDAYS"),
        workdays=parse_days("2026-12-13", "WORKDAYS"),
    )
    # Sunday the 13th is worked instead (调休); Monday and Tuesday are holidays.
    assert holidays.deadline(friday, 2) == datetime(2026, 12, 16, 16, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="HOLIDAYS"):
        parse_days("2026-13-01", "HOLIDAYS")


def new_request(share: ShareClass = ShareClass.CONDITIONAL) -> ShareRequest:
    request = ShareRequest(
        dataset_id=1,
        requester_unit="990100-MZJ",
        owner_unit="990100-GAJ",
        asked_by="h.mzj",
        purpose="低保核查",
        fields={"name": "name"},
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=30),
        working_days=2 if share is ShareClass.UNCONDITIONAL else 5,
        id=9,
    )
    SHARE_REQUEST.restart_clock(request, T0)
    return request


def test_a_request_waits_five_working_days_for_conditional_data_with_lights() -> None:
    request = new_request()
    assert request.deadline_at == datetime(2026, 12, 14, 16, 0, tzinfo=UTC)  # end of Monday
    assert SHARE_REQUEST.light(request, T0 + timedelta(days=1)) is Light.GREEN
    assert SHARE_REQUEST.light(request, request.warn_at or T0) is Light.YELLOW
    assert SHARE_REQUEST.light(request, request.deadline_at) is Light.RED
    assert new_request(ShareClass.UNCONDITIONAL).deadline_at == datetime(
        2026, 12, 9, 16, 0, tzinfo=UTC
    )


OWNER = Actor("h.gaj", Role.HANDLER, department_code="990100-GAJ")
REQUESTER = Actor("h.mzj", Role.HANDLER, department_code="990100-MZJ")
DATA_ADMIN = Actor("data_admin", Role.DATA_ADMIN, department_code="990100-SJGLJ")


def test_the_owner_decides_first_then_another_person_as_data_administrator() -> None:
    request = new_request()
    with pytest.raises(Forbidden) as not_owner:
        SHARE_REQUEST.apply(request, "approve", Context(REQUESTER, T0), dict)
    assert not_owner.value.message_key == "exchange_not_owner"
    with pytest.raises(Forbidden):
        SHARE_REQUEST.apply(request, "approve", Context(DATA_ADMIN, T0), dict)

    def owner_decides() -> dict[str, object]:
        request.owner_decided_by = OWNER.name
        return {}

    SHARE_REQUEST.apply(request, "approve", Context(OWNER, T0), owner_decides)
    assert request.state is RequestState.REVIEW
    with pytest.raises(Conflict) as again:
        SHARE_REQUEST.apply(request, "approve", Context(OWNER, T0), dict)
    assert again.value.message_key == "exchange_decided"
    SHARE_REQUEST.apply(request, "approve", Context(DATA_ADMIN, T0), dict)
    assert request.state is RequestState.APPROVED


def test_a_refusal_and_a_narrowing_need_a_reason() -> None:
    request = new_request()
    with pytest.raises(InvalidInput):
        SHARE_REQUEST.apply(request, "refuse", Context(OWNER, T0), dict, command=Decision())
    SHARE_REQUEST.apply(request, "refuse", Context(OWNER, T0), dict, command=Decision("用途不明"))
    assert request.state is RequestState.REFUSED


def test_only_the_rules_expire_a_grant() -> None:
    starts, ends = grant_window(TODAY, TODAY, "Asia/Shanghai")
    grant = Grant(
        request_id=9,
        dataset_id=1,
        consumer_unit="990100-MZJ",
        owner_unit="990100-GAJ",
        purpose="x",
        fields={"name": "name"},
        starts_on=TODAY,
        ends_on=TODAY,
        starts_at=starts,
        expires_at=ends,
    )
    assert ends - starts == timedelta(days=1) and grant.live(starts) and not grant.live(ends)
    admin = Actor("admin", Role.ADMIN)
    with pytest.raises(Forbidden) as person:
        SHARE_GRANT.apply(grant, "expire", Context(admin, T0), dict)
    assert person.value.message_key == "exchange_by_the_rules"
    SHARE_GRANT.apply(grant, "expire", Context(admin, T0, frozenset({"rules"})), dict)
    assert grant.state is GrantState.EXPIRED


def test_a_value_in_full_is_written_as_json_and_files_write_it() -> None:
    class Residence(Enum):
        FLOATING = "floating"

    show = shower(
        "residence",
        FieldType.TEXT,
        Mask(MaskKind.FULL),
        hasher=Hasher("s"),
        today=TODAY,
        community_of=lambda grid: None,
    )
    assert show(Residence.FLOATING, {}) == "floating"
    assert type(show(Residence.FLOATING, {})) is str
    assert show(date(1960, 5, 1), {}) == "1960-05-01"
    assert show(42, {}) == 42
