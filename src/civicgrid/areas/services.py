"""Area and department services. Each takes a unit of work and the calling actor, checks the
actor's permission (declared beside it) and area scope, and never half-writes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely import STRtree
from shapely.geometry.base import BaseGeometry

from civicgrid.areas.domain import LEVELS, Area, Department, Function, Level, UnitKind
from civicgrid.areas.geo import area_km2
from civicgrid.areas.importing import Candidate, Problem, RawFeature, Rejection, check_feature
from civicgrid.areas.locator import GridEntry, Locator
from civicgrid.areas.ports import FACT_SOURCES, AreaFacts
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import Conflict, InvalidInput, NotFound
from civicgrid.core.permissions import ADMIN_ROLES, PUBLIC, STAFF, Actor, permission
from civicgrid.core.workflow import Event, EventLog, change_event, field_changes

# A handling unit's kind in the event log.
UNIT_KIND = "unit"

# A child may stick out of its parent by this share of its own area, and two areas of one
# level overlap by this share of the smaller, before the feature is refused: real boundary
# files from different departments rarely align to the metre, but more than this places
# points in the wrong district or grid.
OUTSIDE_PARENT_TOLERANCE = 0.01
OVERLAP_TOLERANCE = 0.01


# ---------------------------------------------------------------- import


@dataclass
class ImportOptions:
    level: Level
    code_field: str
    name_field: str
    parent_code: str | None = None
    parent_field: str | None = None
    gcj02: bool = False
    update: bool = False
    partial: bool = False


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated

    @property
    def aborted(self) -> bool:
        return bool(self.rejections) and self.written == 0


@permission(ADMIN_ROLES, "Import area boundaries")
def import_areas(
    uow: UnitOfWork,
    actor: Actor,
    features: Sequence[RawFeature],
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Check every feature, then write all of them in one transaction, or none when any is
    rejected (unless `options.partial`, which writes the accepted ones)."""
    if options.level is not Level.CITY and not (options.parent_code or options.parent_field):
        raise InvalidInput("parent_required", level=options.level.value)
    if options.level is Level.CITY and (options.parent_code or options.parent_field):
        raise InvalidInput("city_has_no_parent")

    areas = AreaRepository(uow.session)
    report = ImportReport(total=len(features))
    candidates: list[Candidate] = []
    first_seen: dict[str, int] = {}
    for raw in features:
        checked = check_feature(
            raw,
            code_field=options.code_field,
            name_field=options.name_field,
            parent_field=options.parent_field,
            parent_code=options.parent_code,
            gcj02=options.gcj02,
        )
        if isinstance(checked, Candidate):
            if checked.code in first_seen:
                report.rejections.append(
                    Rejection(
                        raw.index,
                        checked.code,
                        checked.name,
                        [
                            Problem(
                                "duplicate_code_in_file",
                                {"code": checked.code, "first": first_seen[checked.code]},
                            )
                        ],
                        raw.source,
                    )
                )
            else:
                first_seen[checked.code] = raw.index
                candidates.append(checked)
        else:
            if checked.code and checked.code not in first_seen:
                first_seen[checked.code] = raw.index
            report.rejections.append(checked)
        if progress:
            progress(1)

    existing = areas.get_many(c.code for c in candidates)
    parents = areas.get_many(c.parent_code for c in candidates if c.parent_code)
    overlaps = _overlaps(candidates, areas.list(level=options.level))
    accepted: list[tuple[Candidate, Area | None, Area | None]] = []
    for candidate in candidates:
        problems: list[Problem] = []
        current = existing.get(candidate.code)
        if current is not None and not options.update:
            problems.append(
                Problem("duplicate_code_in_db", {"code": candidate.code, "name": current.name})
            )
        parent = parents.get(candidate.parent_code) if candidate.parent_code else None
        if candidate.parent_code and parent is None:
            problems.append(Problem("unknown_parent", {"code": candidate.parent_code}))
        elif parent is not None and parent.level is not options.level.parent_level:
            expected = options.level.parent_level
            problems.append(
                Problem(
                    "wrong_parent_level",
                    {
                        "code": parent.code,
                        "found": parent.level.value,
                        "level": options.level.value,
                        "expected": expected.value if expected else "-",
                    },
                )
            )
        if problems:
            report.rejections.append(
                Rejection(
                    candidate.index,
                    candidate.code,
                    candidate.name,
                    problems,
                    features[candidate.index - 1].source,
                )
            )
            continue
        if parent is not None:
            outside = _share_outside(candidate.geometry, parent.geometry)
            if outside > OUTSIDE_PARENT_TOLERANCE:
                problems.append(
                    Problem(
                        "outside_parent",
                        {"percent": f"{outside * 100:.1f}", "code": parent.code},
                    )
                )
        problems += overlaps.get(candidate.code, [])
        if problems:
            report.rejections.append(
                Rejection(
                    candidate.index,
                    candidate.code,
                    candidate.name,
                    problems,
                    features[candidate.index - 1].source,
                )
            )
            continue
        accepted.append((candidate, current, parent))

    if report.rejections and not options.partial:
        report.rejections.sort(key=lambda r: r.index)
        return report

    for candidate, current, parent in accepted:
        if current is None:
            area = Area(
                code=candidate.code,
                name=candidate.name,
                level=options.level,
                parent_code=None,
                geometry=candidate.geometry,
            )
            area.place_under(parent)
            area.set_geometry(candidate.geometry, area_km2(candidate.geometry))
            areas.add(area)
            report.created += 1
        else:
            _replace_area(areas, current, candidate, options.level, parent)
            report.updated += 1
    if report.written:
        areas.mark_changed()
    uow.commit()
    report.rejections.sort(key=lambda r: r.index)
    return report


def _overlaps(candidates: Sequence[Candidate], stored: Sequence[Area]) -> dict[str, list[Problem]]:
    """For each candidate, the areas of its level it overlaps by more than OVERLAP_TOLERANCE
    of the smaller one: the stored ones it does not replace, and the candidates before it
    in the file (the later feature of a pair is the one refused)."""
    others: list[tuple[str, str, BaseGeometry, int]] = [
        (a.code, a.name, a.geometry, 0)
        for a in stored
        if a.code not in {c.code for c in candidates}
    ]
    others += [(c.code, c.name, c.geometry, c.index) for c in candidates]
    tree = STRtree([geometry for _, _, geometry, _ in others])
    found: dict[str, list[Problem]] = {}
    for candidate in candidates:
        for i in tree.query(candidate.geometry, predicate="intersects"):
            code, name, geometry, index = others[int(i)]
            if code == candidate.code or (index and index >= candidate.index):
                continue
            shared = candidate.geometry.intersection(geometry)
            smaller = min(candidate.geometry.area, geometry.area)
            if smaller > 0 and shared.area / smaller > OVERLAP_TOLERANCE:
                m2 = area_km2(shared) * 1_000_000
                found.setdefault(candidate.code, []).append(
                    Problem("overlaps_area", {"code": code, "name": name, "m2": f"{m2:,.0f}"})
                )
    return found


def _share_outside(child: BaseGeometry, parent: BaseGeometry) -> float:
    if child.area == 0:
        return 0.0
    return float(child.difference(parent).area / child.area)


def _replace_area(
    areas: AreaRepository, current: Area, candidate: Candidate, level: Level, parent: Area | None
) -> None:
    if current.level is not level:
        raise Conflict(
            "wrong_parent_level",
            code=current.code,
            found=current.level.value,
            level=level.value,
            expected=current.level.value,
        )
    old_path = current.path
    current.name = candidate.name
    current.place_under(parent)
    current.set_geometry(candidate.geometry, area_km2(candidate.geometry))
    if current.path != old_path:
        # Moving an area moves everything below it: rewrite the descendants' paths.
        for descendant in areas.list(within_path=old_path):
            if descendant is not current:
                descendant.path = current.path + descendant.path[len(old_path) :]


@permission(ADMIN_ROLES, "Create areas programmatically (demo generator, tests)")
def add_areas(uow: UnitOfWork, actor: Actor, new_areas: Sequence[Area]) -> int:
    """Add already-built areas (parents before children) in one transaction."""
    repo = AreaRepository(uow.session)
    known: dict[str, Area] = {}
    pending_parents = {a.parent_code for a in new_areas if a.parent_code}
    known.update(repo.get_many(pending_parents))
    for area in new_areas:
        parent = known.get(area.parent_code) if area.parent_code else None
        if area.parent_code and parent is None:
            raise InvalidInput("unknown_parent", code=area.parent_code)
        area.place_under(parent)
        area.set_geometry(area.geometry, area_km2(area.geometry))
        known[area.code] = area
    repo.add_all(new_areas)
    repo.mark_changed()
    uow.commit()
    return len(new_areas)


# ---------------------------------------------------------------- locating


@dataclass(frozen=True)
class AreaRef:
    code: str
    name: str
    level: Level


@dataclass(frozen=True)
class Located:
    lat: float
    lon: float
    grid: AreaRef
    ancestors: list[AreaRef]  # city first

    @property
    def path(self) -> str:
        """The grid's area path ("/city/district/…/grid/")."""
        return "/" + "/".join([*(a.code for a in self.ancestors), self.grid.code]) + "/"


class LocatorCache:
    """The in-memory locator, rebuilt when the areas' revision counter moves (an import in
    another process bumps it), checked with one indexed single-row read per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locator: Locator | None = None
        self._names: dict[str, tuple[str, int, str]] = {}
        self._revision = -1

    def get(self, uow: UnitOfWork) -> Locator:
        self._refresh(uow)
        assert self._locator is not None
        return self._locator

    def refs(self, uow: UnitOfWork, path: str) -> list[AreaRef]:
        """The areas along PATH (city first), by name, without touching their boundaries."""
        self._refresh(uow)
        chain = path.strip("/").split("/")
        return [
            AreaRef(code, self._names[code][0], LEVELS[self._names[code][1]])
            for code in chain
            if code in self._names
        ]

    def _refresh(self, uow: UnitOfWork) -> None:
        repo = AreaRepository(uow.session)
        revision = repo.revision()
        if self._locator is not None and revision == self._revision:
            return
        with self._lock:
            if self._locator is None or revision != self._revision:
                self._locator = Locator([GridEntry(*row) for row in repo.grid_entries()])
                self._names = repo.names()
                self._revision = revision


@permission(PUBLIC, "Find the grid of a point")
def locate_point(
    uow: UnitOfWork, actor: Actor, cache: LocatorCache, lat: float, lon: float
) -> Located:
    """The grid containing (lat, lon) and its ancestors; a specific error when the point is
    out of range, looks swapped, or falls outside the city."""
    locator = cache.get(uow)
    if not len(locator):
        raise NotFound("no_grids")
    if not -90 <= lat <= 90:
        if -90 <= lon <= 90 and locator.locate(lat, lon) is not None:
            raise InvalidInput("lat_lon_swapped", lat=lat, lon=lon)
        raise InvalidInput("lat_out_of_range", lat=lat)
    if not -180 <= lon <= 180:
        raise InvalidInput("lon_out_of_range", lon=lon)
    found = locator.locate(lon, lat)
    if found is None:
        if -90 <= lon <= 90 and locator.locate(lat, lon) is not None:
            raise InvalidInput("lat_lon_swapped", lat=lat, lon=lon)
        raise NotFound("outside_city", lat=lat, lon=lon)
    _grid_code, path = found
    refs = cache.refs(uow, path)
    return Located(lat=lat, lon=lon, grid=refs[-1], ancestors=refs[:-1])


# ---------------------------------------------------------------- reading


@permission(PUBLIC, "List areas visible to the caller")
def list_areas(
    uow: UnitOfWork,
    actor: Actor,
    *,
    level: Level | None = None,
    parent_code: str | None = None,
    q: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Sequence[Area]:
    """Areas inside the caller's scope (the whole city for the public and city-wide roles)."""
    return AreaRepository(uow.session).list(
        level=level,
        within_path=_visible_path(actor),
        parent_code=parent_code,
        q=q,
        limit=limit,
        offset=offset,
    )


@permission(PUBLIC, "Count areas visible to the caller")
def count_areas(
    uow: UnitOfWork,
    actor: Actor,
    *,
    level: Level | None = None,
    parent_code: str | None = None,
    q: str | None = None,
) -> int:
    """How many areas `list_areas` would return without paging."""
    return AreaRepository(uow.session).count(
        level=level, within_path=_visible_path(actor), parent_code=parent_code, q=q
    )


@permission(PUBLIC, "Areas shown on the caller's map")
def map_areas(uow: UnitOfWork, actor: Actor, levels: Sequence[Level]) -> list[tuple[Area, bool]]:
    """(area, is_context) for the map: the caller's areas, plus the outlines of the areas
    above their own for orientation (is_context True; names only)."""
    repo = AreaRepository(uow.session)
    scope = _visible_path(actor)
    shown: list[tuple[Area, bool]] = []
    if scope is not None:
        ancestors = repo.get_many(scope.strip("/").split("/")[:-1])
        shown.extend((a, True) for a in ancestors.values() if a.level in levels)
    for level in levels:
        shown.extend((area, False) for area in repo.list(level=level, within_path=scope))
    return shown


def _visible_path(actor: Actor) -> str | None:
    # The public sees every boundary (they are published); staff see their own scope.
    return actor.scope_path if actor.is_staff else None


@dataclass
class AreaDetail:
    area: Area
    ancestors: list[AreaRef]
    children: list[AreaRef]
    counts: dict[str, Any]
    departments: list[Department]
    workers: list[dict[str, str]]
    full_view: bool  # False: public or context view, personal data masked


@permission(PUBLIC, "Show one area with its workers, departments and counts")
def area_detail(uow: UnitOfWork, actor: Actor, code: str) -> AreaDetail:
    """One area. Staff get the full view of areas in their scope and a public view of the
    areas above it; anyone else gets the public view (worker names masked, no phones)."""
    repo = AreaRepository(uow.session)
    area = repo.get(code)
    if area is None:
        raise NotFound("area_not_found", code=code)
    full_view = actor.is_staff and actor.covers(area.path)
    if actor.is_staff and not full_view and not actor.sees_context_of(area.path):
        actor.require_covers(area.code, area.path)
    chain = repo.get_many(area.ancestor_codes)
    ancestors = [
        AreaRef(c, chain[c].name, chain[c].level) for c in area.ancestor_codes if c in chain
    ]
    children = [AreaRef(a.code, a.name, a.level) for a in repo.list(parent_code=area.code)]
    counts: dict[str, Any] = {
        f"{level.value}s": n for level, n in repo.count_children_by_level(area.path).items()
    }
    counts["departments"] = DepartmentRepository(uow.session).count_within(area.path)
    facts = AreaFacts(counts=counts)
    view_actor = actor if full_view else _public_view_of(actor)
    for source in FACT_SOURCES:
        source(uow.session, area, view_actor, facts)
    departments = list(DepartmentRepository(uow.session).list(area_codes=[area.code]))
    return AreaDetail(
        area=area,
        ancestors=ancestors,
        children=children,
        counts=facts.counts,
        departments=departments,
        workers=facts.workers,
        full_view=full_view,
    )


def _public_view_of(actor: Actor) -> Actor:
    return Actor(name=actor.name, role=None)


# ---------------------------------------------------------------- departments


@permission(ADMIN_ROLES, "Register a handling unit")
def add_department(
    uow: UnitOfWork,
    actor: Actor,
    *,
    code: str,
    name: str,
    level: Level,
    area_code: str,
    kind: UnitKind = UnitKind.GOVERNMENT,
    function: Function = Function.GENERAL,
    phone: str = "",
    webhook_url: str = "",
) -> Department:
    """A department (or other handling unit) at LEVEL, responsible for AREA_CODE, with the
    FUNCTION the authority list routes by; WEBHOOK_URL is its own system's address, told
    of new work. Its creation is the first row of its history."""
    departments = DepartmentRepository(uow.session)
    if departments.get(code) is not None:
        raise Conflict("department_exists", code=code)
    area = AreaRepository(uow.session).get(area_code)
    if area is None:
        raise NotFound("area_not_found", code=area_code)
    actor.require_covers(area.code, area.path)
    department = Department(
        code=code,
        name=name,
        level=level,
        area_code=area_code,
        kind=kind,
        function=function,
        phone=phone,
        webhook_url=check_webhook_url(webhook_url),
    )
    departments.add(department)
    uow.session.flush()
    EventLog(uow.session).add(_created(department, actor, utcnow()))
    AreaRepository(uow.session).mark_changed()  # routing caches hold the units
    uow.commit()
    return department


def _created(unit: Department, actor: Actor, now: datetime) -> Event:
    """The first row of a unit's history: what it was registered with."""
    facts = {name: (None, value) for name, value in unit.facts().items()}
    return change_event(UNIT_KIND, unit.id or 0, actor, now, facts, action="create")


@permission(ADMIN_ROLES, "Register handling units programmatically (demo generator, tests)")
def add_departments(uow: UnitOfWork, actor: Actor, units: Sequence[Department]) -> int:
    """Register UNITS at once, each with the first row of its history. Commits."""
    repo = DepartmentRepository(uow.session)
    repo.add_all(units)
    uow.session.flush()
    now = utcnow()
    EventLog(uow.session).add_all(_created(unit, actor, now) for unit in units)
    AreaRepository(uow.session).mark_changed()  # routing caches hold the units
    uow.commit()
    return len(units)


@dataclass
class UnitChange:
    """What an administrator changes of a unit (None: left as it is)."""

    name: str | None = None
    phone: str | None = None
    active: bool | None = None
    webhook_url: str | None = None


@permission(ADMIN_ROLES, "Change a handling unit")
def change_department(
    uow: UnitOfWork, actor: Actor, code: str, change: UnitChange, reason: str = ""
) -> Department:
    """Rename a unit, change its phone or webhook, or take it out of (or back into) service
    — an inactive unit is no longer routed to. Each change is a row of its history with
    the old and new values and the reason."""
    department = DepartmentRepository(uow.session).get(code)
    if department is None:
        raise NotFound("department_not_found", code=code)
    area = AreaRepository(uow.session).get(department.area_code)
    if area is not None:
        actor.require_covers(area.code, area.path)
    if change.name is not None and not change.name.strip():
        raise InvalidInput("department_name_empty", field="name")
    before = department.facts()
    if change.name is not None:
        department.name = change.name.strip()
    if change.phone is not None:
        department.phone = change.phone.strip()
    if change.active is not None:
        department.active = change.active
    if change.webhook_url is not None:
        department.webhook_url = check_webhook_url(change.webhook_url)
    changes = field_changes(before, department.facts())
    if not changes:
        raise InvalidInput("department_nothing_to_change", field="name")
    EventLog(uow.session).add(
        change_event(UNIT_KIND, department.id or 0, actor, utcnow(), changes, note=reason)
    )
    AreaRepository(uow.session).mark_changed()
    uow.commit()
    return department


@permission(STAFF, "The history of a handling unit")
def department_history(uow: UnitOfWork, actor: Actor, code: str) -> list[Event]:
    """Every change of a unit since it was registered: who, when, why, old and new."""
    department = DepartmentRepository(uow.session).get(code)
    if department is None:
        raise NotFound("department_not_found", code=code)
    return list(EventLog(uow.session).of(UNIT_KIND, department.id or 0))


def check_webhook_url(url: str) -> str:
    """An http(s) address, or empty (no system of its own)."""
    url = url.strip()
    if url and not url.lower().startswith(("http://", "https://")):
        raise InvalidInput("department_webhook_invalid", url=url, field="webhook_url")
    return url


@permission(STAFF, "List handling units relevant to the caller")
def list_departments(uow: UnitOfWork, actor: Actor) -> list[Department]:
    """Units in the caller's scope and those above it (a street cadre summons district
    departments), ordered from the city level down."""
    repo = DepartmentRepository(uow.session)
    scope = actor.scope_path
    if scope is None:
        return list(repo.list())
    above = scope.strip("/").split("/")[:-1]
    found = {d.code: d for d in repo.list(area_codes=above)}
    found.update({d.code: d for d in repo.list_within(scope)})
    return sorted(found.values(), key=lambda d: (d.level.rank, d.code))
