"""Warning services: scanning the cases for hot spots and surges, telling the people
responsible (through the outbox), and following each warning from new to acknowledged to
closed on the workflow kernel (insight.warnings.domain.WARNING)."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import shapely
from sqlalchemy.orm import Session

from civicgrid.areas.repository import AreaRepository
from civicgrid.cases.views import taxonomy
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.errors import NotFound
from civicgrid.core.i18n import Locale, city_day, translate
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.outbox import Outbox, OutboxMessage, messages_to
from civicgrid.core.permissions import ADMIN_ROLES, Actor, Role, permission
from civicgrid.core.workflow import Event, EventLog
from civicgrid.insight.warnings.domain import (
    WARNING,
    WARNING_KIND,
    DailyCounts,
    Finding,
    RiskWarning,
    Thresholds,
    WarningAction,
    WarningKind,
    WarningState,
    explain,
    find_warnings,
    neighbour_weights,
)
from civicgrid.insight.warnings.ports import WarningPorts
from civicgrid.insight.warnings.repository import WarningFilter, WarningRepository

log = logging.getLogger("civicgrid.warnings")

WARNING_READERS = frozenset(
    {Role.GRID_WORKER, Role.DISPATCHER, Role.CADRE, Role.LEADER, Role.ADMIN}
)
WARNING_HANDLERS = WARNING.acting_roles()
# Who hears of a warning: the cadres whose area holds the grid, and for a surge in one grid
# its grid workers too (they can go and look today).
HOTSPOT_RECIPIENTS = frozenset({Role.CADRE})
SURGE_RECIPIENTS = frozenset({Role.CADRE, Role.GRID_WORKER})

# The scan's job name: its lock keeps two processes from scanning at once.
SCAN_JOB = "insight.warnings"
SCANNER = Actor(name="scheduler", role=Role.ADMIN, display_name="风险预警 Warning scan")


@dataclass
class ScanReport:
    day: date
    cases: int = 0  # counted cases read (the history window)
    hotspots: int = 0  # found by this scan
    surges: int = 0
    raised: list[RiskWarning] = field(default_factory=list)  # new warnings
    updated: int = 0  # warnings found again whose figures changed
    notices: int = 0


@permission(ADMIN_ROLES, "Scan the cases for hot spots and surges and raise warnings")
def scan_warnings(
    uow: UnitOfWork, actor: Actor, ports: WarningPorts, day: date | None = None
) -> ScanReport:
    """Look at DAY (the city's day; today by default): hot spots of each category over the window
    ending that day, and surges of each grid and category that day against its own
    history. New findings become warnings, each with notices for the people responsible;
    findings already raised (the same kind, grid, category and day, or a hot spot
    overlapping one seen in the window) update that warning instead, so scanning again
    never duplicates one. Commits."""
    now = ports.clock()
    day = day or city_day(now, ports.timezone)
    thresholds = ports.thresholds
    repo = WarningRepository(uow.session)
    history_start = day - timedelta(weeks=thresholds.history_weeks)
    rows = repo.case_days(history_start, day + timedelta(days=1), ports.timezone)
    report = ScanReport(day, cases=len(rows))
    grids = sorted(AreaRepository(uow.session).grid_entries())
    if not rows or not grids:
        return report
    findings = _findings(rows, grids, day, thresholds)
    report.hotspots = sum(1 for f in findings if f.kind is WarningKind.HOTSPOT)
    report.surges = len(findings) - report.hotspots
    names = {
        code: name for code, (name, _rank, _path) in AreaRepository(uow.session).names().items()
    }
    categories = {c.code: {"zh": c.name, "en": c.name_en or c.name} for c in taxonomy(uow.session)}
    paths = {code: path for code, path, _geometry in grids}
    log = EventLog(uow.session)
    for finding in findings:
        explanation = explain(finding, names, categories)
        existing = _already_raised(repo, finding, thresholds.window_days)
        if existing is not None:
            if existing.refresh(finding, explanation, now):
                log.add(
                    WARNING.event(
                        existing, WarningAction.REFRESH, None, now, data=_figures(existing)
                    )
                )
                report.updated += 1
            continue
        warning = RiskWarning.raise_from(finding, paths[finding.grid_code], explanation, now)
        repo.add(warning)
        uow.session.flush()
        log.add(
            WARNING.event(
                warning, WarningAction.RAISE, None, now, from_state=None, data=_figures(warning)
            )
        )
        notices = notices_for(uow.session, ports, warning)
        Outbox(uow.session).add(notices)
        report.raised.append(warning)
        report.notices += len(notices)
    uow.commit()
    return report


def _findings(
    rows: list[tuple[str, str, date]],
    grids: list[tuple[str, str, Any]],
    day: date,
    thresholds: Thresholds,
) -> list[Finding]:
    daily: dict[tuple[str, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for grid, category, when in rows:
        daily[(grid, category)][when] += 1
    weights = neighbour_weights(
        [geometry for _code, _path, geometry in grids], thresholds.neighbour_distance_m
    )
    codes = [code for code, _path, _geometry in grids]
    return find_warnings(DailyCounts(rows[0][2], daily), codes, weights, day, thresholds)


def _already_raised(repo: WarningRepository, finding: Finding, window: int) -> RiskWarning | None:
    same = repo.by_key(finding.kind, finding.grid_code, finding.category_code, finding.day)
    if same is not None or finding.kind is not WarningKind.HOTSPOT:
        return same
    # A cluster stays in the window for days: it is the same hot spot while it overlaps
    # one seen within the window (open or already closed), not a new one each day.
    since = finding.day - timedelta(days=window - 1)
    for earlier in repo.recent_hotspots(finding.category_code, since):
        if set(earlier.cluster) & set(finding.cluster):
            return earlier
    return None


def _figures(warning: RiskWarning) -> dict[str, object]:
    """What a scan saw, for the warning's history."""
    return {
        "observed": warning.observed,
        "expected": warning.expected,
        "q_value": warning.q_value,
        "cluster": list(warning.cluster),
        "last_seen": warning.last_seen.isoformat(),
    }


def notices_for(session: Session, ports: WarningPorts, warning: RiskWarning) -> list[OutboxMessage]:
    """One notice for each person responsible for the warning's grid."""
    roles = SURGE_RECIPIENTS if warning.kind is WarningKind.SURGE else HOTSPOT_RECIPIENTS
    people = ports.directory.area_staff(session, warning.area_path, roles)
    body = translate(
        "warning.notice",
        ports.locale,
        {"id": warning.id, "explanation": warning.explanation(ports.locale)},
    )
    ordered = sorted(people, key=lambda person: person.username)
    return messages_to(ordered, WARNING_KIND, warning.id or 0, body, warning.created_at)


def scan_job(ports: WarningPorts, every: timedelta) -> PeriodicJob:
    """The scheduler's scan, every EVERY: yesterday (its last cases complete it) and today,
    then the notices."""

    def run(uow: UnitOfWork) -> str:
        today = city_day(ports.clock(), ports.timezone)
        reports = [
            scan_warnings(uow, SCANNER, ports, day) for day in (today - timedelta(days=1), today)
        ]
        raised = sum(len(r.raised) for r in reports)
        updated = sum(r.updated for r in reports)
        notices = sum(r.notices for r in reports)
        if not (raised or updated):
            return ""
        return f"{raised} warnings raised, {updated} updated, {notices} notices written"

    return PeriodicJob(SCAN_JOB, every, run)


# ------------------------------------------------------------------ reading and handling


@dataclass(frozen=True)
class WarningQuery:
    kind: WarningKind | None = None
    category: str | None = None
    state: WarningState | None = None
    open_only: bool = False
    since: date | None = None


@permission(WARNING_READERS, "List the warnings of one's area")
def list_warnings(
    uow: UnitOfWork, actor: Actor, query: WarningQuery = WarningQuery(), limit: int = 500
) -> list[RiskWarning]:
    """Warnings whose grid lies in the caller's area, the most recently seen first."""
    where = WarningFilter(
        scope_path=actor.scope_path,
        kind=query.kind,
        category=query.category,
        state=query.state,
        open_only=query.open_only,
        since=query.since,
    )
    return list(WarningRepository(uow.session).list(where, limit))


@permission(WARNING_READERS, "Read one warning of one's area")
def get_warning(uow: UnitOfWork, actor: Actor, warning_id: int) -> RiskWarning:
    """One warning; 404 when there is none, 403 when its grid is outside the caller's area."""
    warning = WarningRepository(uow.session).get(warning_id)
    if warning is None:
        raise NotFound("warning_not_found", id=warning_id)
    actor.require_covers(warning.grid_code, warning.area_path)
    return warning


@permission(WARNING_HANDLERS, "Acknowledge a warning of one's area")
def acknowledge_warning(
    uow: UnitOfWork, actor: Actor, warning_id: int, note: str = "", now: datetime | None = None
) -> RiskWarning:
    """Say that someone is looking into the warning (with a note of what is being done)."""
    return _move(uow, actor, warning_id, WarningAction.ACKNOWLEDGE, note, now)


@permission(WARNING_HANDLERS, "Close a warning of one's area")
def close_warning(
    uow: UnitOfWork, actor: Actor, warning_id: int, note: str = "", now: datetime | None = None
) -> RiskWarning:
    """Close the warning: dealt with, or a false alarm (the note says which)."""
    return _move(uow, actor, warning_id, WarningAction.CLOSE, note, now)


def _move(
    uow: UnitOfWork,
    actor: Actor,
    warning_id: int,
    action: WarningAction,
    note: str,
    now: datetime | None,
) -> RiskWarning:
    warning = get_warning(uow, actor, warning_id)
    event = warning.apply(action, actor, note, now or utcnow())
    EventLog(uow.session).add(event)
    uow.commit()
    return warning


@permission(WARNING_READERS, "Read the notices sent about a warning of one's area")
def warning_notices(uow: UnitOfWork, actor: Actor, warning_id: int) -> list[OutboxMessage]:
    """Who was told about the warning, how, and whether it was delivered."""
    get_warning(uow, actor, warning_id)
    return list(Outbox(uow.session).of(WARNING_KIND, warning_id))


@permission(WARNING_READERS, "How the warnings of one's area were handled")
def handling_of(
    uow: UnitOfWork, actor: Actor, warnings: list[RiskWarning]
) -> dict[int, list[Event]]:
    """For each of WARNINGS (already read by the caller), who acknowledged and who closed
    it, when and why, in order."""
    for warning in warnings:
        actor.require_covers(warning.grid_code, warning.area_path)
    ids = [w.id for w in warnings if w.id is not None]
    steps = {WarningAction.ACKNOWLEDGE.value, WarningAction.CLOSE.value}
    return {
        warning_id: [e for e in history if e.action in steps]
        for warning_id, history in EventLog(uow.session).of_kind(WARNING_KIND, ids).items()
    }


@permission(WARNING_READERS, "Read a warning's history")
def warning_history(uow: UnitOfWork, actor: Actor, warning_id: int) -> list[Event]:
    """Everything that happened to the warning: raised, seen again, acknowledged, closed —
    who, when and why."""
    get_warning(uow, actor, warning_id)
    return list(EventLog(uow.session).of(WARNING_KIND, warning_id))


@permission(WARNING_READERS, "Map the warnings of one's area")
def warning_map(
    uow: UnitOfWork, actor: Actor, query: WarningQuery, locale: Locale
) -> dict[str, Any]:
    """The warnings as GeoJSON for the command map: each one's grids (a hot spot's cluster,
    a surge's grid) as one feature with the explanation in LOCALE."""
    found = list_warnings(uow, actor, query)
    grids = AreaRepository(uow.session).get_many(g for w in found for g in w.cluster)
    features = []
    for warning in found:
        shapes = [grids[g].geometry for g in warning.cluster if g in grids]
        if not shapes:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": _union(shapes),
                "properties": {
                    "id": warning.id,
                    "kind": warning.kind.value,
                    "state": warning.state.value,
                    "grid": warning.grid_code,
                    "category": warning.category_code,
                    "day": warning.day.isoformat(),
                    "observed": warning.observed,
                    "expected": warning.expected,
                    "explanation": warning.explanation(locale),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _union(shapes: list[Any]) -> dict[str, Any]:
    merged = shapely.union_all(shapes) if len(shapes) > 1 else shapes[0]
    geojson: dict[str, Any] = json.loads(shapely.to_geojson(merged))
    return geojson
