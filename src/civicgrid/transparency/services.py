"""Transparency services: the public figures, the anonymised list of recent cases and the
published authority list. Everything here is public (no login) and so contains nothing
about people; each answer about cases is kept for a minute per filter in the process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from civicgrid.areas.domain import LEVELS, Function, Level
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.areas.services import AreaRef
from civicgrid.cases import views
from civicgrid.cases.domain import OPEN_STATUSES, Category, Status, TimeLimits, is_about_a_person
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import city_day
from civicgrid.core.permissions import PUBLIC, Actor, permission
from civicgrid.transparency.domain import (
    RECENT_LIMIT,
    Closing,
    Period,
    PublicCase,
    Satisfaction,
    parse_period,
    publish,
)
from civicgrid.transparency.repository import TransparencyQueries

T = TypeVar("T")

CACHE_SECONDS = 60.0


class FigureCache:
    """Answers kept for CACHE_SECONDS per key in this process, the oldest dropped beyond
    MAX_ENTRIES: a popular page costs the database one set of queries a minute."""

    MAX_ENTRIES = 512

    def __init__(
        self, seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < self.seconds:
                value: T = found[1]
                return value
        value = compute()  # outside the lock: two first askers may both compute, harmlessly
        with self._lock:
            self._entries[key] = (now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.MAX_ENTRIES:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class TransparencyPorts:
    cache: FigureCache = field(default_factory=FigureCache)
    clock: Callable[[], datetime] = utcnow
    # The city's time zone (the `timezone` setting): whose days and months the figures count.
    timezone: str = "Asia/Shanghai"

    def period(self, filters: Filters) -> Period:
        """The period FILTERS ask for, in the city's days; "today" is the city's today."""
        today = city_day(self.clock(), self.timezone)
        return parse_period(filters.first, filters.last, today, self.timezone)


@dataclass(frozen=True)
class Filters:
    """What a visitor narrows the figures by, as typed (checked by the services)."""

    first: str | None = None  # `from`, YYYY-MM-DD
    last: str | None = None  # `to`, YYYY-MM-DD
    area: str | None = None  # an area code (a district, a street, …)


# ------------------------------------------------------------------ the figures


@dataclass(frozen=True)
class Named:
    code: str
    name: str
    name_en: str

    def label(self, locale: str) -> str:
        return (self.name_en or self.name) if locale == "en" else self.name


@dataclass(frozen=True)
class CategoryCount:
    category: Named
    count: int


@dataclass(frozen=True)
class GroupCount:
    group: Named
    count: int
    categories: list[CategoryCount]


@dataclass(frozen=True)
class AreaCount:
    area: AreaRef
    count: int


@dataclass(frozen=True)
class MonthCount:
    month: str  # YYYY-MM
    count: int


@dataclass(frozen=True)
class Scope:
    """The area the figures are about (None: the whole city), the areas above it for the
    way back, and the areas below it that the counts are split into."""

    area: AreaRef | None
    trail: list[AreaRef]
    children: list[AreaRef]
    path: str | None


@dataclass(frozen=True)
class Summary:
    period: Period
    scope: Scope
    reported: int  # reported in the period (merged duplicates and voided entries left out)
    open: int  # … and still being worked on
    closed: int  # … and closed (结案)
    rejected: int  # … and not taken up (不予受理)
    by_group: list[GroupCount]
    by_area: list[AreaCount]
    by_month: list[MonthCount]
    closing: Closing  # cases closed in the period
    satisfaction: Satisfaction  # ratings of the cases closed in the period
    generated_at: datetime


@permission(PUBLIC, "Public figures of the cases of a period and area")
def summary(uow: UnitOfWork, actor: Actor, filters: Filters, ports: TransparencyPorts) -> Summary:
    """Cases reported in the period by category, area and month; of the cases closed in the
    period the median time to close, the on-time rate and the residents' satisfaction.
    Kept for a minute per filter."""
    period = ports.period(filters)
    key = ("summary", period, (filters.area or "").strip())
    return ports.cache.get(key, lambda: _summary(uow, period, filters.area, ports.clock()))


def _summary(uow: UnitOfWork, period: Period, area: str | None, now: datetime) -> Summary:
    places = Places.load(uow)
    scope = places.scope(area)
    grid_paths = places.grids_under(scope.path)
    grids = sorted(grid_paths)
    queries = TransparencyQueries(uow.session)
    by_category: dict[str, int] = {}
    by_month = dict.fromkeys(period.months(), 0)
    by_status: dict[Status, int] = {}
    for row in queries.reported_counts(period, grids):
        by_category[row.category_code] = by_category.get(row.category_code, 0) + row.count
        by_status[row.status] = by_status.get(row.status, 0) + row.count
        for month, n in row.by_month.items():
            by_month[month] += n
    figures = queries.closing(period, grids)
    return Summary(
        period=period,
        scope=scope,
        reported=sum(by_status.values()),
        open=sum(n for s, n in by_status.items() if s in OPEN_STATUSES),
        closed=by_status.get(Status.CLOSED, 0),
        rejected=by_status.get(Status.REJECTED, 0),
        by_group=_groups(_categories(uow), by_category),
        by_area=_by_area(scope, grid_paths, queries.counts_by_grid(period, grids)),
        by_month=[MonthCount(m, n) for m, n in by_month.items()],
        closing=Closing(
            closed=figures.closed,
            on_time=figures.closed - figures.late,
            median_hours=(
                None if figures.median_seconds is None else figures.median_seconds / 3600
            ),
        ),
        satisfaction=Satisfaction(
            ratings=figures.ratings, total=figures.rating_total, satisfied=figures.satisfied
        ),
        generated_at=now,
    )


def _categories(uow: UnitOfWork) -> dict[str, Category]:
    return {c.code: c for c in views.taxonomy(uow.session)}


def _named(code: str, categories: dict[str, Category]) -> Named:
    found = categories.get(code)
    return Named(code, found.name, found.name_en) if found else Named(code, code, code)


def _groups(categories: dict[str, Category], counts: dict[str, int]) -> list[GroupCount]:
    """Counts by level-2 category gathered under their level-1 groups, biggest first."""
    members: dict[str, list[CategoryCount]] = {}
    for code, n in counts.items():
        found = categories.get(code)
        group = (found.parent_code or found.code) if found else code
        members.setdefault(group, []).append(CategoryCount(_named(code, categories), n))
    groups = [
        GroupCount(
            _named(group, categories),
            sum(c.count for c in items),
            sorted(items, key=lambda c: (-c.count, c.category.code)),
        )
        for group, items in members.items()
    ]
    return sorted(groups, key=lambda g: (-g.count, g.group.code))


@dataclass(frozen=True)
class Places:
    """Every area's name, level and path, without boundaries: enough to name areas, find
    an area's children and grids, and add grid counts up."""

    found: dict[str, tuple[str, int, str]]  # code → (name, level rank, path)

    @classmethod
    def load(cls, uow: UnitOfWork) -> Places:
        return cls(AreaRepository(uow.session).names())

    def ref(self, code: str) -> AreaRef:
        name, rank, _ = self.found[code]
        return AreaRef(code, name, LEVELS[rank])

    def name(self, code: str) -> str:
        found = self.found.get(code)
        return found[0] if found else ""

    def scope(self, code: str | None) -> Scope:
        """The area asked about (a wrong code is a wrong field), the way back up to the
        city, and the areas one level below it (the districts, for the whole city)."""
        code = (code or "").strip()
        if not code:
            districts = [c for c, (_, rank, _) in self.found.items() if rank == DISTRICT]
            return Scope(None, [], [self.ref(c) for c in sorted(districts)], None)
        if code not in self.found:
            raise InvalidInput("transparency_unknown_area", code=code)
        path = self.found[code][2]
        above = [c for c in path.strip("/").split("/")[:-1] if c in self.found]
        # The way back up, below the city (the page's first link is the whole city).
        trail = [self.ref(c) for c in above if self.found[c][1] != CITY]
        children = sorted(
            c
            for c, (_, _, p) in self.found.items()
            if p.startswith(path) and p.count("/") == path.count("/") + 1
        )
        return Scope(self.ref(code), trail, [self.ref(c) for c in children], path)

    def grids_under(self, path: str | None) -> dict[str, str]:
        """Grid code → path of every grid under PATH (None: the whole city)."""
        return {
            code: p
            for code, (_, rank, p) in self.found.items()
            if rank == GRID and (path is None or p.startswith(path))
        }


CITY, DISTRICT, GRID = Level.CITY.rank, Level.DISTRICT.rank, Level.GRID.rank


@dataclass(frozen=True)
class AreaChoices:
    """What the area filter offers: every district, and the streets of the district the
    visitor is looking at (or of the one around the street or community chosen)."""

    districts: list[AreaRef]
    district: str | None
    streets: list[AreaRef]


@permission(PUBLIC, "The areas the figures can be narrowed to")
def area_choices(
    uow: UnitOfWork, actor: Actor, area: str | None, ports: TransparencyPorts
) -> AreaChoices:
    """Districts, and the streets of the chosen one, by name (no boundaries are read)."""
    code = (area or "").strip()
    return ports.cache.get(("areas", code), lambda: _choices(Places.load(uow), code))


def _choices(places: Places, code: str) -> AreaChoices:
    districts = places.scope(None).children
    path = places.found[code][2] if code in places.found else ""
    district = next(
        (c for c in path.strip("/").split("/") if c in {d.code for d in districts}), None
    )
    streets = places.scope(district).children if district else []
    return AreaChoices(districts, district, streets)


def _by_area(scope: Scope, grid_paths: dict[str, str], by_grid: dict[str, int]) -> list[AreaCount]:
    """Grid counts added up to the areas just below the scope (every one of them, with 0
    when nothing was reported there)."""
    totals = {child.code: 0 for child in scope.children}
    depth = len(scope.path.strip("/").split("/")) if scope.path else 1
    for grid, n in by_grid.items():
        codes = grid_paths.get(grid, "").strip("/").split("/")
        if len(codes) > depth and codes[depth] in totals:
            totals[codes[depth]] += n
    return [AreaCount(child, totals[child.code]) for child in scope.children]


# ------------------------------------------------------------------ recent cases


@dataclass(frozen=True)
class CaseListing:
    period: Period
    scope: Scope
    start: datetime
    end: datetime
    items: list[PublicCase]
    categories: dict[str, Named]
    areas: dict[str, str]  # code → name of the districts and streets the cases lie in
    limit: int


@permission(PUBLIC, "Recent cases with personal data removed")
def recent_cases(
    uow: UnitOfWork, actor: Actor, filters: Filters, ports: TransparencyPorts
) -> CaseListing:
    """The newest cases (at most RECENT_LIMIT) reported in the last 30 days of the period:
    category, state, dates, a rounded place and the title, nothing about the people. Cases
    about a person show their grid's centre and no words. Kept for a minute per filter."""
    period = ports.period(filters)
    key = ("recent", period, (filters.area or "").strip())
    return ports.cache.get(key, lambda: _recent(uow, period, filters.area))


def _recent(uow: UnitOfWork, period: Period, area: str | None) -> CaseListing:
    places = Places.load(uow)
    scope = places.scope(area)
    queries = TransparencyQueries(uow.session)
    start, end = period.recent_window()
    rows = queries.recent(start, end, scope.path, RECENT_LIMIT)
    categories = _categories(uow)

    def group_of(code: str) -> str | None:
        found = categories.get(code)
        return found.parent_code if found else None

    protected_grids = {
        r.grid_code
        for r in rows
        if r.reporter_hidden or is_about_a_person(r.category_code, group_of(r.category_code))
    }
    centres = queries.grid_centres(sorted(protected_grids))
    names = queries.reporter_names([r.id for r in rows])
    items = [
        publish(
            r,
            group_of(r.category_code),
            centres.get(r.grid_code),
            names.get(r.id, []),
            tz=period.tz,
        )
        for r in rows
    ]
    shown = {c.category_code for c in items} | {c.group_code for c in items if c.group_code}
    shown_areas = {code for c in items for code in c.area_path.strip("/").split("/")[1:3]}
    area_names = {code: places.name(code) for code in shown_areas}
    return CaseListing(
        period=period,
        scope=scope,
        start=start,
        end=end,
        items=items,
        categories={code: _named(code, categories) for code in shown},
        areas=area_names,
        limit=RECENT_LIMIT,
    )


# ------------------------------------------------------------------ the authority list


@dataclass(frozen=True)
class AuthorityEntry:
    """One line of the published authority list (事权清单), readable without codes."""

    group: Named
    category: Named  # the category the rule names (a level-1 group stands for all of it)
    whole_group: bool
    level: Level
    function: Function | None
    department: Named | None  # a named unit, when the rule names one instead of a function
    area: Named | None  # the area the rule is limited to (None: everywhere)
    limits: TimeLimits
    auto_escalate: bool

    @property
    def total_hours(self) -> float:
        return sum(self.limits.as_dict().values())


@permission(PUBLIC, "The published authority list")
def authority_list(uow: UnitOfWork, actor: Actor) -> list[AuthorityEntry]:
    """Who handles what (category → level → unit function or unit) and the hours each step
    may take, ordered by group, category and level from the community up."""
    categories = _categories(uow)
    rules = views.authority_list(uow.session)
    units = {
        d.code: d
        for d in DepartmentRepository(uow.session).list()
        if d.code in {r.department_code for r in rules}
    }
    places = AreaRepository(uow.session).get_many({r.area_code for r in rules if r.area_code})
    entries = []
    for rule in rules:
        category = categories.get(rule.category_code)
        group_code = (category.parent_code or category.code) if category else rule.category_code
        unit = units.get(rule.department_code or "")
        place = places.get(rule.area_code or "")
        entries.append(
            AuthorityEntry(
                group=_named(group_code, categories),
                category=_named(rule.category_code, categories),
                whole_group=group_code == rule.category_code,
                level=rule.level,
                function=rule.department_function,
                department=Named(unit.code, unit.name, unit.name) if unit else None,
                area=Named(place.code, place.name, place.name) if place else None,
                limits=rule.time_limits,
                auto_escalate=rule.auto_escalate,
            )
        )
    return sorted(
        entries,
        key=lambda e: (
            e.group.code,
            not e.whole_group,
            e.category.code,
            -e.level.rank,
            e.area.code if e.area else "",
        ),
    )
