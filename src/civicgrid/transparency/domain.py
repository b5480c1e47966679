"""Transparency (透明治理) as plain Python: the period a visitor asks about, which cases are
about a person and how a case is made fit to publish, and the precise definitions of the
published figures (median time to close, on-time rate, satisfaction).

The database computes the same figures in one aggregate query each
(transparency.repository); the functions here are the definitions those queries follow,
and the tests hold the two to each other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from civicgrid.cases.domain import (
    OPEN_STATUSES,
    POINT_DECIMALS,
    Status,
    is_about_a_person,
    scrub,
)
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import city_day, day_start

# ------------------------------------------------------------------ the period

MAX_PERIOD_DAYS = 731  # two years: enough to compare a month with the same month last year
DEFAULT_MONTHS = 12
RECENT_DAYS = 30  # the map shows the cases reported in the last 30 days of the period …
RECENT_LIMIT = 500  # … at most this many, newest first
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Period:
    """Whole days of the city, FIRST to LAST inclusive, in its time zone TZ: a resident's
    "March" begins at the city's midnight. The platform keeps every time in UTC, so the
    bounds are UTC instants and the queries stay on the indexed times."""

    first: date
    last: date
    tz: str

    @property
    def start(self) -> datetime:
        return day_start(self.first, self.tz)

    @property
    def end(self) -> datetime:
        """The moment after the last day (exclusive bound)."""
        return day_start(self.last + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def months(self) -> list[str]:
        """Every calendar month the period touches, as "YYYY-MM", oldest first."""
        found = []
        year, month = self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    def month_bounds(self) -> list[tuple[str, datetime, datetime]]:
        """Each month of the period ("YYYY-MM", start, end), cut to the period."""
        bounds = []
        for month in self.months():
            year, number = int(month[:4]), int(month[5:])
            start = day_start(date(year, number, 1), self.tz)
            following = day_start(date(year + number // 12, number % 12 + 1, 1), self.tz)
            bounds.append((month, max(start, self.start), min(following, self.end)))
        return bounds

    def recent_window(self) -> tuple[datetime, datetime]:
        """The last RECENT_DAYS days of the period (the map of recent cases)."""
        first = day_start(self.last - timedelta(days=RECENT_DAYS - 1), self.tz)
        return max(self.start, first), self.end


def default_first_day(last: date, months: int = DEFAULT_MONTHS) -> date:
    """The first day of the month MONTHS - 1 months before LAST's: twelve calendar months,
    the last of them running up to LAST."""
    index = last.year * 12 + (last.month - 1) - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def parse_day(value: str, field: str) -> date:
    """A date written YYYY-MM-DD; anything else is a wrong field, named."""
    text = value.strip()
    if not _DATE.fullmatch(text):
        raise InvalidInput("transparency_bad_date", field=field, value=value)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("transparency_bad_date", field=field, value=value) from exc


def parse_period(first: str | None, last: str | None, today: date, tz: str) -> Period:
    """The period of `from` and `to` (either may be missing), in the city's days (TZ, where
    it is TODAY): by default the twelve calendar months up to today; `from` alone runs a
    year; the period is at most MAX_PERIOD_DAYS."""
    last_day = parse_day(last, "to") if last else None
    first_day = parse_day(first, "from") if first else None
    if last_day is None:
        if first_day is None:
            last_day = today
        else:
            last_day = max(first_day, min(today, first_day + timedelta(days=364)))
    if first_day is None:
        first_day = default_first_day(last_day)
    if last_day < first_day:
        raise InvalidInput(
            "transparency_period_reversed", first=first_day.isoformat(), last=last_day.isoformat()
        )
    period = Period(first_day, last_day, tz)
    if period.days > MAX_PERIOD_DAYS:
        raise InvalidInput(
            "transparency_period_too_long",
            first=first_day.isoformat(),
            last=last_day.isoformat(),
            days=period.days,
            max=MAX_PERIOD_DAYS,
        )
    return period


# ------------------------------------------------------------------ what counts

# Duplicates merged into another case and entries voided as mistakes are not demands of
# their own; every other case reported in the period is counted (rejected ones too: they
# were heard and answered).
UNCOUNTED: frozenset[Status] = frozenset({Status.MERGED, Status.VOIDED})


def is_counted(status: Status) -> bool:
    return status not in UNCOUNTED


def public_state(status: Status) -> str:
    """ "open" while the case is being worked on, "closed" once it is finished either way
    (the same two words as Open311)."""
    return "open" if status in OPEN_STATUSES else "closed"


# ------------------------------------------------------------------ the figures


@dataclass(frozen=True)
class ClosedCase:
    """What the figures need of a case closed (结案) in the period."""

    created_at: datetime
    closed_at: datetime
    marked_overdue: bool  # its timeline has an overdue mark (红灯) on some step
    satisfaction: int | None = None


def hours_to_close(case: ClosedCase) -> float:
    """From the report to the closing (结案), suspensions and reopenings included."""
    return (case.closed_at - case.created_at).total_seconds() / 3600


def is_on_time(case: ClosedCase) -> bool:
    """On time: no step of the case ever passed its time limit (no 红灯 in its timeline).
    The limits are the authority list's, halved for urgent cases, stretched by extensions
    that were approved; a suspended case's clock stands still."""
    return not case.marked_overdue


def median(values: Sequence[float]) -> float | None:
    """The middle value; the mean of the two middle values when there is an even number."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(frozen=True)
class Closing:
    """Cases closed (status 结案, closing time inside the period): how many, the median
    hours from report to closing, and how many were on time."""

    closed: int
    on_time: int
    median_hours: float | None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.closed if self.closed else None


def closing_of(cases: Iterable[ClosedCase]) -> Closing:
    items = list(cases)
    return Closing(
        closed=len(items),
        on_time=sum(1 for c in items if is_on_time(c)),
        median_hours=median([hours_to_close(c) for c in items]),
    )


SATISFIED_FROM = 4  # ratings of 4 and 5 (满意, 非常满意) count as satisfied


@dataclass(frozen=True)
class Satisfaction:
    """Ratings (1–5) given to the cases closed in the period: their number, their sum and
    how many were satisfied (4 or 5)."""

    ratings: int
    total: int
    satisfied: int

    @property
    def mean(self) -> float | None:
        return self.total / self.ratings if self.ratings else None

    @property
    def satisfied_share(self) -> float | None:
        return self.satisfied / self.ratings if self.ratings else None


def satisfaction_of(scores: Iterable[int | None]) -> Satisfaction:
    given = [s for s in scores if s is not None]
    return Satisfaction(
        ratings=len(given),
        total=sum(given),
        satisfied=sum(1 for s in given if s >= SATISFIED_FROM),
    )


# ------------------------------------------------------------------ publishing a case


@dataclass(frozen=True)
class CaseRow:
    """What the public list reads of a case (never the description, address or reporters)."""

    id: int
    category_code: str
    status: Status
    created_at: datetime
    closed_at: datetime | None
    lat: float | None
    lon: float | None
    grid_code: str
    area_path: str
    title: str
    reporter_hidden: bool = False  # the reporter asked to stay anonymous to the public


@dataclass(frozen=True)
class PublicCase:
    """A case as anyone may see it: no people, no address, no description; the place rounded
    (to the grid's centre when the case is about a person)."""

    id: int
    category_code: str
    group_code: str | None
    status: Status
    state: str  # open / closed
    reported_on: date
    closed_on: date | None
    lat: float | None
    lon: float | None
    precision: str  # "point" (rounded to about 100 m) or "grid" (the grid's centre)
    grid_code: str
    area_path: str
    title: str  # empty when the case is about a person: show the category instead
    protected: bool  # about a person, or its reporter asked to stay anonymous


def publish(
    row: CaseRow,
    group_code: str | None,
    grid_centre: tuple[float, float] | None,
    reporter_names: Iterable[str] = (),
    *,
    tz: str,
) -> PublicCase:
    """ROW made fit to publish. A case about a person, or one whose reporter asked to stay
    anonymous, shows its grid's centre (GRID_CENTRE, lat/lon) and no words; any other case
    its point rounded to about 100 m and its title without contact details or the
    reporters' names. Its days are the city's (TZ), as the period's are."""
    personal = is_about_a_person(row.category_code, group_code) or row.reporter_hidden
    if personal:
        lat, lon = grid_centre if grid_centre is not None else (None, None)
        precision, title = "grid", ""
    else:
        lat = _rounded(row.lat)
        lon = _rounded(row.lon)
        precision, title = "point", scrub(row.title, reporter_names)
    return PublicCase(
        id=row.id,
        category_code=row.category_code,
        group_code=group_code,
        status=row.status,
        state=public_state(row.status),
        reported_on=city_day(row.created_at, tz),
        closed_on=city_day(row.closed_at, tz) if row.closed_at else None,
        lat=lat,
        lon=lon,
        precision=precision,
        grid_code=row.grid_code,
        area_path=row.area_path,
        title=title,
        protected=personal,
    )


def _rounded(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, POINT_DECIMALS)
