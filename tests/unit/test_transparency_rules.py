"""The transparency rules on hand-made cases: the period, what is published of a case, and
the definitions of the median time to close, the on-time rate and satisfaction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import shapely

from civicgrid.areas.domain import Area, Level
from civicgrid.cases.domain import Status, is_about_a_person, scrub
from civicgrid.core.errors import InvalidInput
from civicgrid.transparency.domain import (
    MAX_PERIOD_DAYS,
    CaseRow,
    ClosedCase,
    Period,
    closing_of,
    hours_to_close,
    median,
    parse_period,
    publish,
    satisfaction_of,
)
from civicgrid.transparency.repository import centre_of
from civicgrid.transparency.services import FigureCache

TODAY = date(2025, 3, 14)
CITY = "Asia/Shanghai"  # UTC+8 all year
MORNING = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


# ------------------------------------------------------------------ the period


def test_the_default_period_is_twelve_calendar_months_up_to_today() -> None:
    period = parse_period(None, None, TODAY, CITY)
    assert (period.first, period.last) == (date(2024, 4, 1), TODAY)
    assert period.months()[0] == "2024-04" and period.months()[-1] == "2025-03"
    assert len(period.months()) == 12


def test_a_period_from_a_day_alone_runs_a_year_but_not_past_today() -> None:
    assert parse_period("2023-01-01", None, TODAY, CITY).last == date(2023, 12, 31)
    assert parse_period("2025-01-01", None, TODAY, CITY).last == TODAY


def test_a_period_to_a_day_alone_starts_twelve_months_before_it() -> None:
    assert parse_period(None, "2024-06-30", TODAY, CITY).first == date(2023, 7, 1)


def test_the_period_bounds_are_the_citys_whole_days() -> None:
    # January in Shanghai runs from its midnight, 16:00 UTC the day before.
    period = Period(date(2025, 1, 1), date(2025, 1, 31), CITY)
    assert period.start == datetime(2024, 12, 31, 16, tzinfo=UTC)
    assert period.end == datetime(2025, 1, 31, 16, tzinfo=UTC)
    assert period.days == 31
    assert period.recent_window() == (datetime(2025, 1, 1, 16, tzinfo=UTC), period.end)


def test_a_city_on_utc_counts_utc_days() -> None:
    period = Period(date(2025, 1, 1), date(2025, 1, 31), "UTC")
    assert (period.start, period.end) == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2025, 2, 1, tzinfo=UTC),
    )


def test_the_months_of_a_period_are_the_citys_months() -> None:
    period = Period(date(2025, 1, 15), date(2025, 2, 10), CITY)
    assert period.month_bounds() == [
        ("2025-01", datetime(2025, 1, 14, 16, tzinfo=UTC), datetime(2025, 1, 31, 16, tzinfo=UTC)),
        ("2025-02", datetime(2025, 1, 31, 16, tzinfo=UTC), datetime(2025, 2, 10, 16, tzinfo=UTC)),
    ]


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2025/01/01", None, "from"),
        ("yesterday", None, "from"),
        ("2025-02-30", None, "from"),
        (None, "2025-1-5", "to"),
        (None, "20250105", "to"),
    ],
)
def test_a_date_in_a_wrong_format_names_its_field(
    first: str | None, last: str | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_period(first, last, TODAY, CITY)
    assert raised.value.message_key == "transparency_bad_date"
    assert raised.value.params["field"] == field
    assert f"parameter {field} " in str(raised.value)


def test_a_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidInput, match="parameter to"):
        parse_period("2025-02-01", "2025-01-01", TODAY, CITY)


def test_a_period_longer_than_two_years_is_refused() -> None:
    assert parse_period("2023-03-15", "2025-03-14", TODAY, CITY).days == 731 == MAX_PERIOD_DAYS
    with pytest.raises(InvalidInput) as raised:
        parse_period("2023-03-14", "2025-03-14", TODAY, CITY)
    assert raised.value.message_key == "transparency_period_too_long"
    assert raised.value.params["days"] == 732


# ------------------------------------------------------------------ the figures


def closed(hours: float, late: bool = False, rating: int | None = None) -> ClosedCase:
    return ClosedCase(MORNING, MORNING + timedelta(hours=hours), late, rating)


def test_the_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones() -> None:
    assert median([]) is None
    assert median([5.0]) == 5.0
    assert median([9.0, 1.0, 5.0]) == 5.0
    assert median([4.0, 1.0, 10.0, 2.0]) == 3.0


def test_time_to_close_runs_from_the_report_to_the_closing() -> None:
    assert hours_to_close(closed(30.5)) == 30.5


def test_a_case_is_on_time_when_no_step_was_ever_marked_overdue() -> None:
    figures = closing_of([closed(2), closed(10, late=True), closed(30), closed(400, late=True)])
    assert (figures.closed, figures.on_time) == (4, 2)
    assert figures.on_time_rate == 0.5
    assert figures.median_hours == 20.0


def test_no_closed_cases_means_no_rate_and_no_median() -> None:
    figures = closing_of([])
    assert (figures.closed, figures.on_time_rate, figures.median_hours) == (0, None, None)


def test_satisfaction_is_the_mean_rating_and_the_share_of_fours_and_fives() -> None:
    found = satisfaction_of([5, 4, 3, None, 1, 5])
    assert found.ratings == 5  # the unrated case does not count
    assert found.mean == pytest.approx(18 / 5)
    assert (found.satisfied, found.satisfied_share) == (3, 0.6)
    assert satisfaction_of([None]).mean is None


# ------------------------------------------------------------------ publishing a case

GRID = Area(
    code="G1",
    name="第一网格",
    level=Level.GRID,
    parent_code="C1",
    geometry=shapely.box(104.0, 30.0, 104.01, 30.01),
)


def row(category: str = "FA01", **changes: object) -> CaseRow:
    values: dict[str, object] = {
        "id": 7,
        "category_code": category,
        "status": Status.DISPATCHED,
        "created_at": MORNING,
        "closed_at": None,
        "lat": 30.0061234,
        "lon": 104.0048765,
        "grid_code": "G1",
        "area_path": "/C/D/S/C1/G1/",
        "title": "道路破损：幸福路12号门口坑洼，请联系王小明 13912345678",
    }
    values.update(changes)
    return CaseRow(**values)  # type: ignore[arg-type]


def test_cases_about_a_person_are_chosen_by_group_or_category() -> None:
    assert is_about_a_person("SC01", "SC")  # elderly care: the whole social-affairs group
    assert is_about_a_person("PS03", "PS")  # neighbour dispute
    assert is_about_a_person("HS03", "HS")  # group rental
    assert not is_about_a_person("PS02", "PS")  # a fire hazard is a place, not a person
    assert not is_about_a_person("FA01", "FA")


def test_a_public_place_is_rounded_to_about_100_m_and_its_title_cleaned() -> None:
    published = publish(row(), "FA", (30.005, 104.005), ["王小明"], tz=CITY)
    assert (published.lat, published.lon, published.precision) == (30.006, 104.005, "point")
    assert not published.protected
    assert "13912345678" not in published.title and "王小明" not in published.title
    assert "12号" not in published.title
    assert published.title.startswith("道路破损：幸福路")
    assert published.state == "open" and published.reported_on == date(2025, 3, 1)


def test_a_case_is_published_on_the_citys_day() -> None:
    late = MORNING.replace(hour=20)  # 04:00 on 2 March in Shanghai
    published = publish(row(created_at=late, closed_at=late), "FA", None, tz=CITY)
    assert (published.reported_on, published.closed_on) == (date(2025, 3, 2), date(2025, 3, 2))
    assert publish(row(created_at=late), "FA", None, tz="UTC").reported_on == date(2025, 3, 1)


def test_a_case_about_a_person_shows_its_grid_centre_and_no_words() -> None:
    centre = centre_of(GRID)
    assert centre == (30.005, 104.005)
    published = publish(row("SC01", title="独居老人张大爷需要助餐"), "SC", centre, tz=CITY)
    assert (published.lat, published.lon) == centre
    assert (published.precision, published.title, published.protected) == ("grid", "", True)


def test_a_reporter_who_asked_to_stay_anonymous_is_treated_like_a_person() -> None:
    published = publish(row(reporter_hidden=True), "FA", (30.005, 104.005), tz=CITY)
    assert (published.lat, published.lon, published.title) == (30.005, 104.005, "")


def test_a_crescent_grid_is_centred_inside_itself() -> None:
    crescent = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 10, 8))
    area = Area(code="G2", name="g", level=Level.GRID, parent_code=None, geometry=crescent)
    lat, lon = centre_of(area)
    assert crescent.contains(shapely.Point(lon, lat))


@pytest.mark.parametrize(
    "text",
    [
        "电话 13800138000",
        "打 010-6552-1234 找物业",
        "+86 138 0013 8000",
        "身份证 11010519491231002X",
        "邮箱 li.si@example.com",
        "3单元502室漏水",
        "Apt 4B has no heat",
    ],
)
def test_contact_details_and_doors_are_scrubbed_from_titles(text: str) -> None:
    cleaned = scrub(text)
    assert "***" in cleaned
    assert not any(ch.isdigit() for ch in cleaned.replace("010", ""))


def test_ordinary_numbers_stay_in_titles() -> None:
    assert scrub("路灯坏了 5 天，2024年3月起") == "路灯坏了 5 天，2024年3月起"


# ------------------------------------------------------------------ the one-minute cache


def test_answers_are_kept_for_a_minute_per_key() -> None:
    now = [0.0]
    cache = FigureCache(60, clock=lambda: now[0])
    computed: list[str] = []

    def compute(label: str) -> str:
        computed.append(label)
        return label

    assert cache.get("a", lambda: compute("a1")) == "a1"
    now[0] = 59
    assert cache.get("a", lambda: compute("a2")) == "a1"
    assert cache.get("b", lambda: compute("b1")) == "b1"
    now[0] = 61
    assert cache.get("a", lambda: compute("a3")) == "a3"
    assert computed == ["a1", "b1", "a3"]
