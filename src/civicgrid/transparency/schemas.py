"""The transparency data as JSON (pydantic models, also the OpenAPI description) and as CSV.

CSV files are UTF-8 with a byte-order mark, so Excel opens the Chinese names correctly;
the header row holds English column codes (their Chinese meanings are in the README and on
the page), names come in Chinese and English columns, and a cell that would start a
spreadsheet formula is quoted with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.areas.domain import FUNCTION_LABELS, LEVEL_LABELS, Function, Level
from civicgrid.cases.domain import STEPS, Status
from civicgrid.core.i18n import Locale, translate
from civicgrid.transparency.domain import PublicCase
from civicgrid.transparency.services import (
    AuthorityEntry,
    CaseListing,
    Named,
    Scope,
    Summary,
)

DEFINITIONS = ("reported", "median", "on_time", "satisfaction", "anonymisation")


def definitions(locale: Locale) -> dict[str, str]:
    """The published definitions, in the reader's language (the page shows the same)."""
    return {name: translate(f"tp.def.{name}", locale) for name in DEFINITIONS}


# ------------------------------------------------------------------ JSON


class PeriodOut(BaseModel):
    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    days: int


class AreaOut(BaseModel):
    code: str
    name: str
    level: Level


class CountOut(BaseModel):
    code: str
    name: str
    name_en: str
    count: int


class GroupOut(CountOut):
    categories: list[CountOut]


class AreaCountOut(AreaOut):
    count: int


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM, a month of the city (in its time zone)")
    count: int


class ClosingOut(BaseModel):
    closed: int = Field(description="cases closed (结案) in the period")
    on_time: int = Field(description="of them, closed without any step passing its limit")
    on_time_rate: float | None
    median_hours: float | None = Field(description="median hours from report to closing")


class SatisfactionOut(BaseModel):
    ratings: int = Field(description="ratings given to the cases closed in the period")
    mean: float | None = Field(description="mean rating, 1 to 5")
    satisfied: int = Field(description="ratings of 4 or 5")
    satisfied_share: float | None


class SummaryOut(BaseModel):
    period: PeriodOut
    area: AreaOut | None = Field(description="the area asked about; null for the whole city")
    reported: int = Field(description="cases reported in the period")
    open: int
    closed: int
    rejected: int
    by_group: list[GroupOut] = Field(description="by level-1 group, with its categories")
    by_area: list[AreaCountOut] = Field(description="by the areas one level below")
    by_month: list[MonthOut]
    closing: ClosingOut
    satisfaction: SatisfactionOut
    definitions: dict[str, str]
    generated_at: datetime

    @classmethod
    def of(cls, found: Summary, locale: Locale) -> SummaryOut:
        closing, rating = found.closing, found.satisfaction
        return cls(
            period=_period(found),
            area=_area(found.scope),
            reported=found.reported,
            open=found.open,
            closed=found.closed,
            rejected=found.rejected,
            by_group=[
                GroupOut(
                    **_count(g.group, g.count).model_dump(),
                    categories=[_count(c.category, c.count) for c in g.categories],
                )
                for g in found.by_group
            ],
            by_area=[
                AreaCountOut(code=a.area.code, name=a.area.name, level=a.area.level, count=a.count)
                for a in found.by_area
            ],
            by_month=[MonthOut(month=m.month, count=m.count) for m in found.by_month],
            closing=ClosingOut(
                closed=closing.closed,
                on_time=closing.on_time,
                on_time_rate=_round(closing.on_time_rate, 4),
                median_hours=_round(closing.median_hours, 2),
            ),
            satisfaction=SatisfactionOut(
                ratings=rating.ratings,
                mean=_round(rating.mean, 2),
                satisfied=rating.satisfied,
                satisfied_share=_round(rating.satisfied_share, 4),
            ),
            definitions=definitions(locale),
            generated_at=found.generated_at,
        )


class PublicCaseOut(BaseModel):
    id: int
    reported_on: date
    closed_on: date | None
    state: str = Field(description="open or closed")
    status: Status
    group: str | None
    group_name: str
    group_name_en: str
    category: str
    category_name: str
    category_name_en: str
    district: str | None
    district_name: str
    street: str | None
    street_name: str
    grid: str
    lat: float | None
    lon: float | None
    precision: str = Field(description="point: rounded to about 100 m; grid: the grid's centre")
    protected: bool = Field(description="about a person: the grid's centre and no title")
    title: str


class CaseListOut(BaseModel):
    period: PeriodOut
    area: AreaOut | None
    window_from: datetime = Field(description="reported at or after this moment …")
    window_to: datetime = Field(description="… and before this one")
    limit: int
    items: list[PublicCaseOut]

    @classmethod
    def of(cls, listing: CaseListing) -> CaseListOut:
        return cls(
            period=PeriodOut(
                first=listing.period.first, last=listing.period.last, days=listing.period.days
            ),
            area=_area(listing.scope),
            window_from=listing.start,
            window_to=listing.end,
            limit=listing.limit,
            items=[PublicCaseOut(**case_fields(c, listing)) for c in listing.items],
        )


def case_fields(item: PublicCase, listing: CaseListing) -> dict[str, Any]:
    category = listing.categories.get(item.category_code) or Named(item.category_code, "", "")
    group = listing.categories.get(item.group_code or "") or Named("", "", "")
    codes = item.area_path.strip("/").split("/")
    district = codes[1] if len(codes) > 2 else None
    street = codes[2] if len(codes) > 3 else None
    return {
        "id": item.id,
        "reported_on": item.reported_on,
        "closed_on": item.closed_on,
        "state": item.state,
        "status": item.status,
        "group": item.group_code,
        "group_name": group.name,
        "group_name_en": group.name_en,
        "category": item.category_code,
        "category_name": category.name,
        "category_name_en": category.name_en,
        "district": district,
        "district_name": listing.areas.get(district or "", ""),
        "street": street,
        "street_name": listing.areas.get(street or "", ""),
        "grid": item.grid_code,
        "lat": item.lat,
        "lon": item.lon,
        "precision": item.precision,
        "protected": item.protected,
        "title": item.title,
    }


class AuthorityOut(BaseModel):
    group: str
    group_name: str
    group_name_en: str
    category: str
    category_name: str
    category_name_en: str
    whole_group: bool = Field(description="the rule covers every category of the group")
    level: Level
    function: Function | None = Field(description="the unit with this function at that level")
    function_name: str
    function_name_en: str
    department: str | None = Field(description="or this named unit")
    department_name: str
    area: str | None = Field(description="limited to this area (null: everywhere)")
    area_name: str
    limits: dict[str, float] = Field(description="hours per step: " + ", ".join(STEPS))
    total_hours: float
    auto_escalate: bool

    @classmethod
    def of(cls, entry: AuthorityEntry) -> AuthorityOut:
        labels = FUNCTION_LABELS.get(entry.function) if entry.function else None
        return cls(
            group=entry.group.code,
            group_name=entry.group.name,
            group_name_en=entry.group.name_en,
            category=entry.category.code,
            category_name=entry.category.name,
            category_name_en=entry.category.name_en,
            whole_group=entry.whole_group,
            level=entry.level,
            function=entry.function,
            function_name=labels["zh"] if labels else "",
            function_name_en=labels["en"] if labels else "",
            department=entry.department.code if entry.department else None,
            department_name=entry.department.name if entry.department else "",
            area=entry.area.code if entry.area else None,
            area_name=entry.area.name if entry.area else "",
            limits=entry.limits.as_dict(),
            total_hours=entry.total_hours,
            auto_escalate=entry.auto_escalate,
        )


def _period(found: Summary) -> PeriodOut:
    return PeriodOut(first=found.period.first, last=found.period.last, days=found.period.days)


def _area(scope: Scope) -> AreaOut | None:
    if scope.area is None:
        return None
    return AreaOut(code=scope.area.code, name=scope.area.name, level=scope.area.level)


def _count(named: Named, count: int) -> CountOut:
    return CountOut(code=named.code, name=named.name, name_en=named.name_en, count=count)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# ------------------------------------------------------------------ CSV

BOM = "\ufeff"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    # Free text (a title) must not become a formula in a spreadsheet.
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return BOM + out.getvalue()


CASE_COLUMNS = tuple(PublicCaseOut.model_fields)


def cases_csv(listing: CaseListing) -> str:
    """One row per recent case, the columns of the JSON items."""
    rows = []
    for item in listing.items:
        fields = case_fields(item, listing)
        fields["status"] = item.status.value
        rows.append([fields[c] for c in CASE_COLUMNS])
    return to_csv(CASE_COLUMNS, rows)


SUMMARY_COLUMNS = ("section", "code", "name", "name_en", "value")


def summary_csv(found: Summary) -> str:
    """The summary in long form: one figure a row (section, code, names, value)."""
    closing, rating = found.closing, found.satisfaction
    area = found.scope.area
    rows: list[tuple[Any, ...]] = [
        ("period", "from", "", "", found.period.first.isoformat()),
        ("period", "to", "", "", found.period.last.isoformat()),
        ("area", area.code if area else "", area.name if area else _both("ui.whole_city")[0],
         "" if area else _both("ui.whole_city")[1], ""),
    ]  # fmt: skip
    totals = {"reported": found.reported, "open": found.open, "closed": found.closed}
    totals["rejected"] = found.rejected
    rows += [("total", code, *_both(f"tp.fig.{code}"), n) for code, n in totals.items()]
    for group in found.by_group:
        rows.append(("group", group.group.code, group.group.name, group.group.name_en, group.count))
    for group in found.by_group:
        for item in group.categories:
            category = item.category
            rows.append(("category", category.code, category.name, category.name_en, item.count))
    for place in found.by_area:
        label = LEVEL_LABELS[place.area.level]["en"]
        rows.append(("area", place.area.code, place.area.name, label, place.count))
    for month in found.by_month:
        rows.append(("month", month.month, "", "", month.count))
    figures: list[tuple[str, str, Any]] = [
        ("closing", "closed", closing.closed),
        ("closing", "on_time", closing.on_time),
        ("closing", "on_time_rate", _round(closing.on_time_rate, 4)),
        ("closing", "median_hours", _round(closing.median_hours, 2)),
        ("satisfaction", "ratings", rating.ratings),
        ("satisfaction", "mean", _round(rating.mean, 2)),
        ("satisfaction", "satisfied", rating.satisfied),
        ("satisfaction", "satisfied_share", _round(rating.satisfied_share, 4)),
    ]
    key = {"closed": "closed_in_period"}
    rows += [
        (section, code, *_both(f"tp.fig.{key.get(code, code)}"), value)
        for section, code, value in figures
    ]
    return to_csv(SUMMARY_COLUMNS, rows)


def _both(key: str) -> tuple[str, str]:
    return translate(key, "zh"), translate(key, "en")


AUTHORITY_COLUMNS = (
    "group",
    "group_name",
    "group_name_en",
    "category",
    "category_name",
    "category_name_en",
    "whole_group",
    "level",
    "level_name",
    "function",
    "function_name",
    "function_name_en",
    "department",
    "department_name",
    "area",
    "area_name",
    *(f"{step}_h" for step in STEPS),
    "total_h",
    "auto_escalate",
)


def authority_csv(entries: Sequence[AuthorityEntry]) -> str:
    """The authority list as published: one rule a row, hours per step."""
    rows = []
    for entry in entries:
        out = AuthorityOut.of(entry)
        rows.append(
            [
                out.group,
                out.group_name,
                out.group_name_en,
                out.category,
                out.category_name,
                out.category_name_en,
                out.whole_group,
                out.level.value,
                LEVEL_LABELS[out.level]["zh"],
                out.function.value if out.function else "",
                out.function_name,
                out.function_name_en,
                out.department or "",
                out.department_name,
                out.area or "",
                out.area_name,
                *(out.limits[step] for step in STEPS),
                out.total_hours,
                out.auto_escalate,
            ]
        )
    return to_csv(AUTHORITY_COLUMNS, rows)
