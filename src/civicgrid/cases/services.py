"""Case services: intake, actions, reading, the scheduler's tick, the taxonomy and the
authority list. Each takes a unit of work and the calling actor and declares who may call it.
A case is acknowledged only after it is committed, so nothing acknowledged is lost."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicgrid.areas.domain import Area, Function
from civicgrid.areas.ports import AreaFacts
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.areas.services import Located, LocatorCache, locate_point
from civicgrid.cases.attachments import Upload, check_upload
from civicgrid.cases.domain import (
    ACTION_ROLES,
    GUEST_NAME,
    OPEN_STATUSES,
    REPORTER_ACTIONS,
    REPORTER_PREFIX,
    Action,
    AuthorityRule,
    Case,
    CaseEvent,
    Category,
    Channel,
    Command,
    Light,
    Priority,
    Reporter,
    Route,
    Status,
    SystemEvent,
    chain_of,
    next_level_up,
    route_at,
    route_case,
    scrub,
)
from civicgrid.cases.ports import (
    AddressResolver,
    CategorySuggester,
    Notifier,
    NoUrgency,
    Suggestion,
    UrgencyScorer,
)
from civicgrid.cases.repository import (
    Attachment,
    AttachmentRepository,
    Box,
    CaseFilter,
    CaseRepository,
    CaseScope,
    Message,
    TaxonomyRepository,
)
from civicgrid.cases.taxonomy import Parsed, RowProblem
from civicgrid.core.db import UnitOfWork, read_revision, utcnow
from civicgrid.core.errors import (
    CivicGridError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from civicgrid.core.i18n import N_, Locale, translate
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.permissions import (
    ADMIN_ROLES,
    PUBLIC,
    STAFF,
    Actor,
    Role,
    permission,
)
from civicgrid.core.security import issue_pass, read_pass
from civicgrid.core.settings import Settings

log = logging.getLogger("civicgrid.cases")

SCHEDULER = Actor(name="scheduler", role=Role.ADMIN, display_name="自动升级 Scheduler")

# Which channels each role reports through.
CHANNELS_BY_ROLE: dict[Role, frozenset[Channel]] = {
    Role.RESIDENT: frozenset({Channel.RESIDENT_WEB}),
    Role.GRID_WORKER: frozenset({Channel.GRID_WORKER}),
    Role.DISPATCHER: frozenset({Channel.HOTLINE, Channel.RESIDENT_WEB, Channel.WECHAT_GROUP}),
    Role.CADRE: frozenset({Channel.WECHAT_GROUP, Channel.HOTLINE}),
    Role.API_CLIENT: frozenset(set(Channel) - {Channel.GRID_WORKER}),
    Role.ADMIN: frozenset(Channel),
}
INTAKE_ROLES = frozenset(CHANNELS_BY_ROLE)
CASE_READERS = STAFF | {Role.RESIDENT, Role.API_CLIENT}
# Roles that see every case inside their area (others: their department's or their own).
AREA_READERS = frozenset(
    {Role.DISPATCHER, Role.CADRE, Role.LEADER, Role.GRID_WORKER, Role.DATA_ADMIN, Role.ADMIN}
)

# Actions after which the reporters hear from us (事事有回应), and what they hear.
REPORTER_MESSAGES: dict[str, str] = {
    SystemEvent.REPORT.value: N_("msg.received"),
    Action.ACCEPT.value: N_("msg.accepted"),
    Action.REJECT.value: N_("msg.rejected"),
    Action.DISPATCH.value: N_("msg.dispatched"),
    Action.WHISTLE.value: N_("msg.dispatched"),
    Action.RESOLVE.value: N_("msg.resolved"),
    Action.REWORK.value: N_("msg.rework"),
    Action.SUSPEND.value: N_("msg.suspended"),
    Action.RESUME.value: N_("msg.resumed"),
    Action.CLOSE.value: N_("msg.closed"),
    Action.RESOLVE_ON_SPOT.value: N_("msg.closed"),
    Action.REOPEN.value: N_("msg.reopened"),
    Action.ESCALATE.value: N_("msg.escalated"),
    Action.MERGE.value: N_("msg.merged"),
    Action.VOID.value: N_("msg.voided"),
}


# ------------------------------------------------------------------ wiring


class RoutingCache:
    """Categories, the authority list and the unit serving each (area, function), kept in
    memory and reloaded when an import bumps the taxonomy or areas revision."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self.categories: dict[str, Category] = {}
        self.rules: list[AuthorityRule] = []
        self.rules_by_id: dict[int, AuthorityRule] = {}
        self._rules_by_category: dict[str, list[AuthorityRule]] = {}
        self.unit_for: dict[tuple[str, Function], str] = {}
        self.units: set[str] = set()

    def fresh(self, uow: UnitOfWork) -> RoutingCache:
        key = (
            read_revision(uow.session, "taxonomy"),
            read_revision(uow.session, "areas"),
        )
        if key == self._key:
            return self
        with self._lock:
            if key != self._key:
                taxonomy = TaxonomyRepository(uow.session)
                self.categories = {c.code: c for c in taxonomy.categories()}
                self.rules = list(taxonomy.rules())
                self.rules_by_id = {r.id: r for r in self.rules if r.id is not None}
                by_category: dict[str, list[AuthorityRule]] = {}
                for rule in self.rules:
                    by_category.setdefault(rule.category_code, []).append(rule)
                self._rules_by_category = by_category
                unit_for: dict[tuple[str, Function], str] = {}
                units = set()
                for unit in DepartmentRepository(uow.session).list():
                    units.add(unit.code)
                    if unit.active:
                        unit_for.setdefault((unit.area_code, unit.function), unit.code)
                self.unit_for, self.units = unit_for, units
                uow.session.expunge_all()
                self._key = key
        return self

    def rules_for(self, category: Category) -> list[AuthorityRule]:
        """The rules that can route CATEGORY: its own and its level-1 group's (intake routes
        every report, and the whole authority list is long)."""
        rules = self._rules_by_category.get(category.code, [])
        if category.parent_code is not None:
            rules = rules + self._rules_by_category.get(category.parent_code, [])
        return rules


@dataclass
class CasePorts:
    settings: Settings
    locator_cache: LocatorCache
    routing: RoutingCache
    suggester: CategorySuggester
    address_resolver: AddressResolver
    notifier: Notifier
    clock: Callable[[], datetime] = utcnow
    urgency: UrgencyScorer = field(default_factory=NoUrgency)

    @property
    def locale(self) -> Locale:
        return self.settings.default_locale


# ------------------------------------------------------------------ intake


@dataclass
class NewCase:
    description: str
    channel: Channel
    title: str = ""
    category: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""
    # 公开时匿名: not named to the public; the dispatch centre still sees who and how to reach.
    reporter_hidden: bool = False
    priority: Priority | None = None
    attachments: list[Upload] = field(default_factory=list)


@dataclass
class Reported:
    """A checked report: the case and what goes with it, stored together by store_reports."""

    case: Case
    possible_duplicates: list[int]
    suggestions: list[Suggestion]
    reporter: Reporter
    event: CaseEvent
    attachments: list[Attachment]


@permission(INTAKE_ROLES, "Report a case")
def report_case(uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts) -> Reported:
    """Take in a report: place it in a grid, categorise it (suggesting a category when none
    is given), route it by the authority list, start the clock, tell the reporter, and look
    for open reports of the same problem nearby. Stored before this returns."""
    reported = prepare_report(uow, actor, new, ports)
    store_reports(uow, [reported], ports)
    return reported


@permission(INTAKE_ROLES, "Check a report before it is stored")
def prepare_report(uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts) -> Reported:
    """Everything intake reads (the grid, the category, the route, nearby duplicates) and
    checks, with nothing written: the web server's intake writer stores prepared reports in
    batches (cases.intake), other callers through report_case."""
    if actor.role is None or new.channel not in CHANNELS_BY_ROLE.get(actor.role, frozenset()):
        raise Forbidden(
            "channel_not_allowed",
            role=actor.role.value if actor.role else "-",
            channel=new.channel.value,
        )
    return _prepare(uow, actor, new, ports)


def _prepare(uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts) -> Reported:
    now = ports.clock()
    settings = ports.settings
    if len(new.description) > settings.max_description_chars:
        raise InvalidInput(
            "case_description_too_long",
            max=settings.max_description_chars,
            length=len(new.description),
            field="description",
        )
    routing = ports.routing.fresh(uow)
    lat, lon, located_by = _place(uow, actor, new, ports)
    located = _locate(uow, actor, ports, lat, lon)
    # A category the reporter chose needs no guess; a missing one is suggested from the words.
    suggestions = (
        []
        if new.category is not None
        else ports.suggester.suggest(
            f"{new.title} {new.description}", list(routing.categories.values())
        )
    )
    category = _category(routing, new.category, suggestions, settings.fallback_category)
    grid_path = located.path
    route = route_case(category, chain_of(grid_path), routing.rules_for(category), routing.unit_for)
    staff_priority = new.priority if actor.is_staff else None
    # Urgent by its category, or by its words (a threat, a danger to children, …).
    reads_urgent = ports.urgency.score(f"{new.title} {new.description}")
    urgent = (
        category.urgent
        or (category.parent_code and routing.categories[category.parent_code].urgent)
        or reads_urgent.score >= settings.urgency_threshold
    )
    case = Case(
        title=(new.title or new.description[:40]).strip(),
        description=new.description,
        channel=new.channel,
        category_code=category.code,
        grid_code=located.grid.code,
        area_path=grid_path,
        handling_level=route.level,
        handling_area_code=route.area_code,
        created_at=now,
        lat=lat,
        lon=lon,
        address=new.address,
        priority=staff_priority or (Priority.URGENT if urgent else Priority.NORMAL),
        reporter_username=actor.name if actor.role in (Role.RESIDENT, Role.GRID_WORKER) else None,
        updated_at=now,
        reporter_hidden=new.reporter_hidden,
    )
    case.route_to(route, now)
    case.start_clock(now)
    attachments = [
        check_upload(
            u, settings.max_attachment_mb, actor.name, now, strip_location=new.reporter_hidden
        )
        for u in new.attachments
    ]
    reporter = Reporter(
        channel=new.channel,
        name=new.reporter_name or (actor.display_name if actor.role is Role.RESIDENT else ""),
        phone=new.reporter_phone,
        email=new.reporter_email,
        username=case.reporter_username,
        created_at=now,
        hidden=new.reporter_hidden,
    )
    event = CaseEvent(
        action=SystemEvent.REPORT.value,
        actor_name=actor.name,
        # Only a guest (report_as_guest) comes without a role: a resident without an account.
        actor_role=(actor.role or Role.RESIDENT).value,
        from_status=None,
        to_status=case.status,
        at=now,
        note="",
        data={
            "channel": new.channel.value,
            "located_by": located_by,
            "category": category.code,
            "category_given": new.category is not None,
            "suggestions": [[s.category_code, round(s.confidence, 3)] for s in suggestions[:3]],
            "route": _route_data(route),
            "urgency": {
                "score": round(reads_urgent.score, 3),
                "reasons": list(reads_urgent.reasons),
            },
            "sentiment": {
                "score": reads_urgent.sentiment,
                "label": reads_urgent.sentiment_label,
                "words": list(reads_urgent.sentiment_words),
            },
        },
        attachments=[a.id for a in attachments],
    )
    return Reported(case, [], suggestions, reporter, event, attachments)


def store_reports(uow: UnitOfWork, batch: Sequence[Reported], ports: CasePorts) -> None:
    """Store prepared reports in one transaction: the cases, then their reporters, first
    timeline rows and photos, then the answer each reporter gets (all or none). Each
    report learns the open cases it may duplicate, stored ones and earlier ones of the batch."""
    cases = CaseRepository(uow.session)
    new_cases = [item.case for item in batch]
    reporters = [item.reporter for item in batch]
    stored_near = _duplicates_for(cases, new_cases, ports.settings)
    cases.number(new_cases, reporters)  # PostgreSQL: all ids at once, before inserting
    cases.add_new(new_cases, learn_ids=True)
    batch_near = _duplicates_within(new_cases, ports.settings)
    for item, stored, earlier in zip(batch, stored_near, batch_near, strict=True):
        item.possible_duplicates = stored + earlier
        item.reporter.case_id = item.case.id
        item.event.case_id = item.case.id
        for attachment in item.attachments:
            attachment.case_id = item.case.id
    cases.add_new(reporters, learn_ids=True)  # their ids go into the answers
    rows: list[object] = [item.event for item in batch]
    rows += [a for i in batch for a in i.attachments]
    rows += [m for i in batch for m in answers_for(cases, i.case, i.event, ports, [i.reporter])]
    cases.add_new(rows)
    uow.commit()


def _place(
    uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts
) -> tuple[float, float, str]:
    if new.lat is not None and new.lon is not None:
        return new.lat, new.lon, "point"
    if new.address.strip():
        found = ports.address_resolver.resolve(uow.session, new.address)
        if found is None:
            raise InvalidInput("case_address_unknown", address=new.address, field="address")
        return found.lat, found.lon, f"address:{found.matched}"
    raise InvalidInput("case_needs_place", field="place")


def _locate(uow: UnitOfWork, actor: Actor, ports: CasePorts, lat: float, lon: float) -> Located:
    """The grid of a case's point; a point outside every grid is a wrong field (422)."""
    try:
        return locate_point(uow, actor, ports.locator_cache, lat, lon)
    except NotFound as exc:
        raise InvalidInput(exc.message_key, **exc.params) from exc


def _category(
    routing: RoutingCache, code: str | None, suggestions: list[Suggestion], fallback: str
) -> Category:
    if code is not None:
        category = routing.categories.get(code)
        if category is None or not category.active:
            raise InvalidInput("unknown_category", code=code, field="category")
        return category
    for suggestion in suggestions:
        category = routing.categories.get(suggestion.category_code)
        if category is not None and category.active:
            return category
    category = routing.categories.get(fallback)
    if category is None:
        raise InvalidInput("unknown_category", code=fallback)
    return category


def _route_data(route: Route) -> dict[str, object]:
    return {
        "level": route.level.value,
        "area": route.area_code,
        "department": route.department_code,
        "rule": route.rule_id,
    }


def _store_uploads(
    uow: UnitOfWork,
    actor: Actor,
    uploads: Sequence[Upload],
    ports: CasePorts,
    strip_location: bool = False,
) -> list[Attachment]:
    stored = []
    repo = AttachmentRepository(uow.session)
    for upload in uploads:
        attachment = check_upload(
            upload,
            ports.settings.max_attachment_mb,
            actor.name,
            ports.clock(),
            strip_location=strip_location,
        )
        repo.add(attachment)
        stored.append(attachment)
    return stored


def _duplicates_for(
    cases: CaseRepository, batch: Sequence[Case], settings: Settings
) -> list[list[int]]:
    """For each case of BATCH, the numbers of the stored open cases of the same category
    within the duplicate radius, reported within the window before it: one query for the
    whole batch (the cases of the batch itself are compared by _duplicates_within)."""
    radius = settings.duplicate_radius_m
    window = timedelta(hours=settings.duplicate_window_hours)
    boxes = [box for case in batch if (box := _box_around(case, radius)) is not None]
    if not boxes:
        return [[] for _ in batch]
    near = cases.open_in_boxes(boxes, min(c.created_at for c in batch) - window)
    return [
        [
            other_id
            for other_id, category, lat, lon, at in near
            if case.lat is not None
            and case.lon is not None
            and other_id != case.id
            and category == case.category_code
            and at >= case.created_at - window
            and distance_m(case.lat, case.lon, lat, lon) <= radius
        ]
        for case in batch
    ]


def _box_around(case: Case, radius_m: float) -> Box | None:
    """The stretch of map within RADIUS_M of a placed case, for its category."""
    if case.lat is None or case.lon is None:
        return None
    return _box(case.category_code, case.lat, case.lon, radius_m)


def _box(category_code: str, lat: float, lon: float, radius_m: float) -> Box:
    dlat = radius_m / 111_320
    dlon = radius_m / (111_320 * max(math.cos(math.radians(lat)), 0.01))
    return Box(category_code, lat - dlat, lat + dlat, lon - dlon, lon + dlon)


def _duplicates_within(batch: Sequence[Case], settings: Settings) -> list[list[int]]:
    """For each (numbered) case of BATCH, the earlier cases of the same batch that it may
    duplicate: reports of one problem often arrive together."""
    radius = settings.duplicate_radius_m
    placed = [
        (c.id, c.category_code, c.lat, c.lon)
        for c in batch
        if c.id is not None and c.lat is not None and c.lon is not None
    ]
    return [
        [
            other_id
            for other_id, category, lat, lon in placed
            if other_id < (case.id or 0)
            and category == case.category_code
            and case.lat is not None
            and case.lon is not None
            and distance_m(case.lat, case.lon, lat, lon) <= radius
        ]
        for case in batch
    ]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


# ------------------------------------------------------------------ messages


def notify_reporters(
    cases: CaseRepository,
    case: Case,
    event: CaseEvent,
    ports: CasePorts,
    reporters: Sequence[Reporter] | None = None,
    key: str | None = None,
) -> None:
    """Store an answer to each reporter for an event that matters to them (outbox)."""
    cases.add_messages(answers_for(cases, case, event, ports, reporters, key))


def answers_for(
    cases: CaseRepository,
    case: Case,
    event: CaseEvent,
    ports: CasePorts,
    reporters: Sequence[Reporter] | None = None,
    key: str | None = None,
) -> list[Message]:
    """The answer each reporter (all the case's, or REPORTERS) gets for EVENT, if it is one
    that matters to them."""
    key = key or REPORTER_MESSAGES.get(event.action)
    if key is None:
        return []
    routing = ports.routing
    department = event.data.get("lead") or event.data.get("department") or case.department_code
    category = routing.categories.get(case.category_code)
    params = {
        "id": case.id,
        "category": category.name if category else case.category_code,
        "department": _unit_name(cases, department),
        "reason": event.note,
        "answer": case.resolution,
        "into": event.data.get("into", ""),
    }
    body = translate(key, ports.locale, params)
    messages = []
    for reporter in reporters if reporters is not None else cases.reporters(case.id):  # type: ignore[arg-type]
        channel, recipient = _contact(reporter)
        messages.append(
            Message(
                case_id=case.id,  # type: ignore[arg-type]
                reporter_id=reporter.id,  # type: ignore[arg-type]
                channel=channel,
                recipient=recipient,
                body=body,
                created_at=event.at,
            )
        )
    return messages


def _unit_name(cases: CaseRepository, code: object) -> str:
    if not isinstance(code, str):
        return ""
    unit = DepartmentRepository(cases.session).get(code)
    return unit.name if unit else code


def _contact(reporter: Reporter) -> tuple[str, str]:
    if reporter.phone:
        return "sms", reporter.phone
    if reporter.email:
        return "email", reporter.email
    return "web", reporter.username or "-"


# ------------------------------------------------------------------ actions


@dataclass
class ActionRequest:
    """The body of POST /cases/{id}/actions, before it becomes a domain Command."""

    action: str
    note: str = ""
    reason: str = ""
    department: str | None = None
    departments: list[str] = field(default_factory=list)
    lead: str | None = None
    satisfaction: int | None = None
    into: int | None = None
    hours: float | None = None
    passed: bool | None = None
    category: str | None = None
    priority: Priority | None = None
    lat: float | None = None
    lon: float | None = None
    attachments: list[Upload] = field(default_factory=list)


@permission(CASE_READERS, "Act on a case")
def act_on_case(
    uow: UnitOfWork, actor: Actor, case_id: int, request: ActionRequest, ports: CasePorts
) -> CaseView:
    """Carry out one action on a case (see cases.domain.TRANSITIONS), append it to the
    timeline and answer the reporters. Two people acting at once: the second gets a 409."""
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    _carry_out(uow, actor, case, request, ports)
    # The caller sees the outcome of their own action, even when it took the case out of
    # their hands (a unit returning it, a resident's case merged away).
    return _view(cases, actor, case, list(cases.reporters(case_id)), ports.clock())


def _carry_out(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    request: ActionRequest,
    ports: CasePorts,
    *,
    as_reporter: bool = False,
) -> CaseEvent:
    """Apply REQUEST to CASE, store the timeline row and the answers, commit."""
    now = ports.clock()
    action = _parse_action(request)
    case_id = case.id
    cases = CaseRepository(uow.session)
    routing = ports.routing.fresh(uow)
    command = Command(
        action=action,
        note=request.note,
        reason=request.reason,
        department=request.department,
        departments=list(request.departments),
        lead=request.lead,
        satisfaction=request.satisfaction,
        into=request.into,
        hours=request.hours,
        priority=request.priority,
        as_reporter=as_reporter,
    )
    _check_units(routing, request)
    target = None
    if action is Action.MERGE and request.into is not None:
        target = _merge_target(cases, actor, request.into, case)
    if action is Action.ESCALATE:
        command.route = _escalation_route(case, routing)
    if action is Action.AMEND:
        _prepare_amend(uow, actor, case, request, command, routing, ports)
    uploads = _store_uploads(uow, actor, request.attachments, ports)
    command.attachments = [a.id for a in uploads]
    event = case.apply(command, actor, now)
    cases.add_event(case, event)
    AttachmentRepository(uow.session).attach(command.attachments, case_id)  # type: ignore[arg-type]
    if target is not None:
        _absorb(cases, case, target, actor, now, ports)
    uow.session.flush()
    notify_reporters(cases, case, event, ports)
    try:
        uow.commit()
    except StaleDataError as exc:
        raise Conflict("case_changed", id=case_id) from exc
    return event


def _parse_action(request: ActionRequest) -> Action:
    try:
        action = Action(request.action)
    except ValueError as exc:
        raise InvalidInput(
            "case_unknown_action",
            action=request.action,
            allowed=", ".join(a.value for a in Action),
        ) from exc
    if action is Action.VERIFY and request.passed is False:
        return Action.REWORK
    return action


def _check_units(routing: RoutingCache, request: ActionRequest) -> None:
    if request.department and request.department not in routing.units:
        raise InvalidInput("unknown_department", code=request.department, field="department")
    for code in request.departments:
        if code not in routing.units:
            raise InvalidInput("unknown_department", code=code, field="departments")
    if request.lead and request.lead not in routing.units:
        raise InvalidInput("unknown_department", code=request.lead, field="lead")


def _merge_target(cases: CaseRepository, actor: Actor, into: int, case: Case) -> Case | None:
    if into == case.id:
        return None  # the domain explains why this is refused
    target = cases.get(into)
    if target is None:
        raise NotFound("case_not_found", id=into)
    if not target.is_open:
        raise Conflict("case_merge_target_closed", id=into)
    if not can_see(actor, target):
        raise Forbidden("forbidden_area", code=target.grid_code)
    return target


def _absorb(
    cases: CaseRepository, merged: Case, target: Case, actor: Actor, now: datetime, ports: CasePorts
) -> None:
    """The surviving case takes over the duplicate's reporters, so they hear its answers."""
    moved = []
    for reporter in cases.reporters(merged.id):  # type: ignore[arg-type]
        copy = Reporter(
            channel=reporter.channel,
            name=reporter.name,
            phone=reporter.phone,
            email=reporter.email,
            username=reporter.username,
            created_at=now,
            case_id=target.id,
        )
        cases.add_reporter(copy)
        moved.append(copy)
    cases.add_event(
        target,
        CaseEvent(
            action=SystemEvent.ABSORB.value,
            actor_name=actor.name,
            actor_role=actor.role.value if actor.role else "",
            from_status=target.status,
            to_status=target.status,
            at=now,
            data={"from": merged.id, "reporters": len(moved)},
        ),
    )
    target.updated_at = now


def _escalation_route(case: Case, routing: RoutingCache) -> Route | None:
    level = next_level_up(case.handling_level)
    if level is None:
        return None
    category = routing.categories[case.category_code]
    return route_at(
        level, category, chain_of(case.area_path), routing.rules_for(category), routing.unit_for
    )


def _prepare_amend(
    uow: UnitOfWork,
    actor: Actor,
    case: Case,
    request: ActionRequest,
    command: Command,
    routing: RoutingCache,
    ports: CasePorts,
) -> None:
    category = routing.categories.get(request.category or case.category_code)
    if category is None or not category.active:
        raise InvalidInput("unknown_category", code=request.category)
    command.category_code = request.category
    grid_path = case.area_path
    if request.lat is not None and request.lon is not None:
        located = _locate(uow, actor, ports, request.lat, request.lon)
        grid_path = located.path
        command.location = {
            "lat": request.lat,
            "lon": request.lon,
            "grid_code": located.grid.code,
            "area_path": grid_path,
        }
    if command.category_code or command.location:
        command.route = route_case(
            category, chain_of(grid_path), routing.rules_for(category), routing.unit_for
        )


# ------------------------------------------------------------------ reading


def can_see(actor: Actor, case: Case, reporters: Sequence[Reporter] = ()) -> bool:
    role = actor.role
    if role is None:
        return False
    if case.reporter_username == actor.name:
        return True  # one's own report, wherever it landed (a grid worker near her border)
    if role in AREA_READERS:
        return actor.covers(case.area_path)
    if role in (Role.HANDLER, Role.API_CLIENT):
        mine = actor.department_code
        return mine is not None and (mine == case.department_code or mine in case.handler_codes())
    if role is Role.RESIDENT:
        return case.reporter_username == actor.name or any(
            r.username == actor.name for r in reporters
        )
    return False


def scope_of(actor: Actor) -> CaseScope:
    role = actor.role
    if role in AREA_READERS:
        if actor.scope_path is None:
            return CaseScope(everything=True)
        if role is Role.GRID_WORKER:
            # Her own reports too, when a pin near her border landed in the next grid.
            return CaseScope(area_path=actor.scope_path, reported_by=actor.name)
        return CaseScope(area_path=actor.scope_path)
    if role in (Role.HANDLER, Role.API_CLIENT):
        return CaseScope(department=actor.department_code or "-")
    return CaseScope(reporter=actor.name)


@dataclass
class CaseView:
    case: Case
    timeline: list[CaseEvent]
    messages: list[Message]
    reporters: list[Reporter]
    light: Light
    allowed_actions: list[Action]
    show_contacts: bool
    # Names of the units the case and its timeline mention (public, like the authority list).
    unit_names: dict[str, str] = field(default_factory=dict)


@permission(CASE_READERS, "Read one case with its timeline and messages")
def get_case(uow: UnitOfWork, actor: Actor, case_id: int, ports: CasePorts) -> CaseView:
    """The case, its timeline and the answers sent to its reporters, if the caller may see
    it; the actions the caller may take now."""
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    reporters = list(cases.reporters(case_id))
    if not can_see(actor, case, reporters):
        raise Forbidden("case_hidden", id=case_id)
    return _view(cases, actor, case, reporters, ports.clock())


def _view(
    cases: CaseRepository, actor: Actor, case: Case, reporters: list[Reporter], now: datetime
) -> CaseView:
    messages = list(cases.messages(case.id))  # type: ignore[arg-type]
    if actor.role is Role.RESIDENT:
        # A resident sees herself among the reporters, never the others who joined.
        reporters = [r for r in reporters if r.username == actor.name]
        mine = {r.id for r in reporters}
        messages = [m for m in messages if m.reporter_id in mine]
    timeline = list(cases.timeline(case.id))  # type: ignore[arg-type]
    return CaseView(
        case=case,
        timeline=timeline,
        messages=messages,
        reporters=reporters,
        light=case.light(now),
        allowed_actions=actions_for(actor, case, now),
        show_contacts=actor.role in (Role.DISPATCHER, Role.CADRE, Role.ADMIN),
        unit_names=_unit_names(cases, case, timeline),
    )


def _unit_names(cases: CaseRepository, case: Case, timeline: Sequence[CaseEvent]) -> dict[str, str]:
    codes = {case.department_code, case.suggested_department_code}
    codes |= {h.department_code for h in case.handlers}
    for event in timeline:
        codes |= {event.data.get("department"), event.data.get("lead")}
        codes |= set(event.data.get("departments") or [])
    units = DepartmentRepository(cases.session)
    found = (units.get(code) for code in codes if isinstance(code, str))
    return {unit.code: unit.name for unit in found if unit is not None}


def actions_for(
    actor: Actor, case: Case, now: datetime, *, as_reporter: bool = False
) -> list[Action]:
    """The actions ACTOR could take on CASE right now (for one-click buttons)."""
    allowed = []
    for action in case.allowed_actions():
        if actor.role not in ACTION_ROLES[action]:
            continue
        try:
            case.authorize(actor, action, now, as_reporter=as_reporter)
        except CivicGridError:
            continue
        allowed.append(action)
    return allowed


# Lists count matching cases up to this many; beyond it the total reads "1,000+".
COUNT_CAP = 1000


@dataclass
class CasePage:
    items: list[Case]
    total: int  # exact when total_exact, else a lower bound (COUNT_CAP)
    page: int
    page_size: int
    total_exact: bool = True

    @property
    def total_label(self) -> str:
        return str(self.total) if self.total_exact else f"{self.total}+"


@permission(CASE_READERS, "List cases in the caller's scope")
def list_cases(
    uow: UnitOfWork,
    actor: Actor,
    f: CaseFilter,
    ports: CasePorts,
    *,
    page: int = 1,
    page_size: int = 50,
    order: str = "deadline",
) -> CasePage:
    """Cases the caller may see (area, department or own reports), filtered and paged; the
    dispatch queue orders by deadline, soonest first."""
    f.now = f.now or ports.clock()
    cases = CaseRepository(uow.session)
    scope = scope_of(actor)
    items = cases.list(scope, f, order=order, limit=page_size, offset=(page - 1) * page_size)
    total = cases.count(scope, f, cap=COUNT_CAP)
    return CasePage(
        list(items), min(total, COUNT_CAP), page, page_size, total_exact=total <= COUNT_CAP
    )


@permission(CASE_READERS, "Open reports of the same problem near a case")
def duplicates_of(uow: UnitOfWork, actor: Actor, case_id: int, ports: CasePorts) -> list[Case]:
    """Open cases of the same category within the duplicate radius and time window."""
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    if not can_see(actor, case):
        raise Forbidden("case_hidden", id=case_id)
    found = cases.get_many(_duplicates_for(cases, [case], ports.settings)[0])
    return [c for c in found if can_see(actor, c)]


@permission(CASE_READERS, "Read an attachment")
def get_attachment(uow: UnitOfWork, actor: Actor, attachment_id: str) -> Attachment:
    """A photo of a case the caller may see (or one the caller uploaded)."""
    repo = AttachmentRepository(uow.session)
    attachment = repo.get(attachment_id)
    if attachment is None:
        raise NotFound("attachment_not_found", id=attachment_id)
    if attachment.uploaded_by == actor.name:
        return attachment
    case = CaseRepository(uow.session).get(attachment.case_id) if attachment.case_id else None
    if case is None or not can_see(actor, case, CaseRepository(uow.session).reporters(case.id)):  # type: ignore[arg-type]
        raise NotFound("attachment_not_found", id=attachment_id)
    return attachment


@permission(PUBLIC, "Track a case by its number and the reporter's phone")
def track_case(uow: UnitOfWork, actor: Actor, case_id: int, phone: str) -> CaseView:
    """For residents without an account (hotline callers): the case, if PHONE is one of its
    reporters' phones. Timeline notes of staff are left out; the answers are shown."""
    cases = CaseRepository(uow.session)
    case, mine = _reporters_by_phone(cases, case_id, phone)
    return _reporter_view(cases, case, mine, utcnow())


def phone_digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


def _reporters_by_phone(
    cases: CaseRepository, case_id: int, phone: str
) -> tuple[Case, list[Reporter]]:
    """The case and those of its reporters who gave PHONE; 404 (as for a wrong number)
    when none did, so a guess learns nothing."""
    case = cases.get(case_id)
    reporters = list(cases.reporters(case_id)) if case else []
    digits = phone_digits(phone)
    mine = [r for r in reporters if r.phone and phone_digits(r.phone) == digits]
    if case is None or not digits or not mine:
        raise NotFound("case_not_found", id=case_id)
    return case, mine


def _reporter_view(
    cases: CaseRepository,
    case: Case,
    mine: list[Reporter],
    now: datetime,
    allowed: list[Action] | None = None,
) -> CaseView:
    ids = {r.id for r in mine}
    timeline = list(cases.timeline(case.id))  # type: ignore[arg-type]
    return CaseView(
        case=case,
        timeline=timeline,
        messages=[m for m in cases.messages(case.id) if m.reporter_id in ids],  # type: ignore[arg-type]
        reporters=mine,
        light=case.light(now),
        allowed_actions=allowed or [],
        show_contacts=False,
        unit_names=_unit_names(cases, case, timeline),
    )


# ------------------------------------------------------------------ residents


# Reporting or adding one's voice without an account needs a number to answer to.
MIN_PHONE_DIGITS = 6
# How long a reporter proven by the case's number and her phone may act without proving
# it again (the tracking page keeps the pass in a cookie).
REPORTER_PASS = "reporter"
REPORTER_PASS_TTL = timedelta(minutes=30)
GUEST = Actor(name=GUEST_NAME, role=None, display_name="居民（未登录） Resident without an account")


def _require_phone(phone: str) -> None:
    if len(phone_digits(phone)) < MIN_PHONE_DIGITS:
        raise InvalidInput("case_guest_needs_phone", field="phone")


@permission(PUBLIC, "Report a problem without an account")
def report_as_guest(uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts) -> Reported:
    """A resident without an account reports through the web. She leaves a mobile number,
    so the centre can reach her and she can follow the case by its number and her phone
    (and verify, rate or reopen it from the tracking page). Stored before this returns."""
    if not actor.is_anonymous:
        raise Forbidden("case_guest_only")
    _require_phone(new.reporter_phone)
    new.channel = Channel.RESIDENT_WEB
    reported = _prepare(uow, GUEST, new, ports)
    store_reports(uow, [reported], ports)
    return reported


@dataclass(frozen=True)
class SuggestedCategory:
    category: Category
    confidence: float


@permission(PUBLIC, "Suggest categories for a description")
def suggest_categories(
    uow: UnitOfWork, actor: Actor, text: str, ports: CasePorts, limit: int = 3
) -> list[SuggestedCategory]:
    """The categories the platform's suggester finds in TEXT, best first (at most LIMIT):
    what the report form offers while a resident types."""
    if len(text) > ports.settings.max_description_chars:
        raise InvalidInput(
            "case_description_too_long",
            max=ports.settings.max_description_chars,
            length=len(text),
            field="text",
        )
    if not text.strip():
        return []
    routing = ports.routing.fresh(uow)
    found = []
    for suggestion in ports.suggester.suggest(text, list(routing.categories.values())):
        category = routing.categories.get(suggestion.category_code)
        if category is not None and category.active and category.parent_code is not None:
            found.append(SuggestedCategory(category, suggestion.confidence))
    return found[:limit]


@dataclass(frozen=True)
class NearbyCase:
    """An open case near a point as anyone may see it: no reporter, and no words of a
    reporter who asked to stay anonymous (title empty then)."""

    id: int
    category_code: str
    title: str
    status: Status
    created_at: datetime
    distance_m: float
    supporters: int


def public_title(case: Case) -> str:
    """The case's title for public pages: nothing when the reporter stays anonymous to the
    public, and without e-mails, long numbers and house numbers (cases.domain.scrub)."""
    if case.reporter_hidden:
        return ""
    return scrub(case.title)


@permission(PUBLIC, "Open cases of a category near a point")
def nearby_cases(
    uow: UnitOfWork, actor: Actor, category_code: str, lat: float, lon: float, ports: CasePorts
) -> list[NearbyCase]:
    """Open cases of CATEGORY_CODE within the duplicate radius of (LAT, LON), reported within
    the duplicate window, nearest first: before a resident reports, "someone already
    reported this — add your voice"."""
    routing = ports.routing.fresh(uow)
    if category_code not in routing.categories:
        raise InvalidInput("unknown_category", code=category_code, field="category")
    settings = ports.settings
    radius = settings.duplicate_radius_m
    box = _box(category_code, lat, lon, radius)
    since = ports.clock() - timedelta(hours=settings.duplicate_window_hours)
    cases = CaseRepository(uow.session)
    distances = {
        other: distance
        for other, _, other_lat, other_lon, _ in cases.open_in_boxes([box], since)
        if (distance := distance_m(lat, lon, other_lat, other_lon)) <= radius
    }
    found = [
        NearbyCase(
            id=case.id,  # type: ignore[arg-type]
            category_code=case.category_code,
            title=public_title(case),
            status=case.status,
            created_at=case.created_at,
            distance_m=distances[case.id],  # type: ignore[index]
            supporters=case.supporters,
        )
        for case in cases.get_many(list(distances))
    ]
    return sorted(found, key=lambda near: (near.distance_m, -near.id))


@dataclass
class NewSupporter:
    """A resident adding her voice (附议): how to reach her, her own words and photos."""

    name: str = ""
    phone: str = ""
    note: str = ""
    hidden: bool = False
    attachments: list[Upload] = field(default_factory=list)


@dataclass
class Supported:
    case: Case
    reporter: Reporter
    event: CaseEvent


@permission(PUBLIC, "Add one's voice to an open case (附议)")
def support_case(
    uow: UnitOfWork, actor: Actor, case_id: int, new: NewSupporter, ports: CasePorts
) -> Supported:
    """A resident whose problem is already reported adds her voice instead of reporting it
    again: she becomes one of the case's reporters and hears its answers from now on, and
    the case counts her (a 'join' row on its timeline). Residents with an account, or
    without one when they leave a mobile number; staff merge duplicates instead. 409 when
    the case is no longer open or she already reported or supported it."""
    if not (actor.is_anonymous or actor.role is Role.RESIDENT):
        raise Forbidden("forbidden_role", role=actor.role.value if actor.role else "-")
    if actor.is_anonymous:
        _require_phone(new.phone)
    if len(new.note) > ports.settings.max_description_chars:
        raise InvalidInput(
            "case_description_too_long",
            max=ports.settings.max_description_chars,
            length=len(new.note),
            field="description",
        )
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    digits = phone_digits(new.phone)
    for reporter in cases.reporters(case_id):
        same_account = not actor.is_anonymous and reporter.username == actor.name
        if same_account or (digits and phone_digits(reporter.phone) == digits):
            raise Conflict("case_already_yours", id=case_id)
    now = ports.clock()
    doer = GUEST if actor.is_anonymous else actor
    event = case.add_supporter(doer, now, new.note)
    uploads = _store_uploads(uow, doer, new.attachments, ports, strip_location=new.hidden)
    event.attachments = [a.id for a in uploads]
    reporter = Reporter(
        channel=Channel.RESIDENT_WEB,
        name=new.name or (actor.display_name if actor.role is Role.RESIDENT else ""),
        phone=new.phone,
        username=None if actor.is_anonymous else actor.name,
        created_at=now,
        hidden=new.hidden,
        case_id=case_id,
    )
    cases.add_reporter(reporter)
    cases.add_event(case, event)
    AttachmentRepository(uow.session).attach(event.attachments, case_id)
    uow.session.flush()
    notify_reporters(cases, case, event, ports, [reporter], key=N_("msg.joined"))
    try:
        uow.commit()
    except StaleDataError as exc:
        raise Conflict("case_changed", id=case_id) from exc
    return Supported(case, reporter, event)


@dataclass
class Followed:
    """A case as its reporter follows it without an account: the view, whether she is the
    one who filed it (and so may verify, rate and reopen it), and the pass that lets her act
    without giving her phone again."""

    view: CaseView
    is_filer: bool
    pass_token: str


def _filer(cases: CaseRepository, case: Case) -> Reporter | None:
    """The reporter who filed the case: the first of its reporters (those of merged
    duplicates and supporters join later)."""
    reporters = cases.reporters(case.id)  # type: ignore[arg-type]
    return reporters[0] if reporters else None


def _as_reporter(reporter: Reporter) -> Actor:
    """The actor of a reporter proven by the case's number and her phone: a resident, on
    the timeline as reporter:<id>."""
    return Actor(
        name=f"{REPORTER_PREFIX}{reporter.id}",
        role=Role.RESIDENT,
        display_name=reporter.name,
    )


def _followed(
    cases: CaseRepository, case: Case, mine: list[Reporter], ports: CasePorts
) -> Followed:
    now = ports.clock()
    filer = _filer(cases, case)
    is_filer = filer is not None and any(r.id == filer.id for r in mine)
    allowed = []
    if is_filer and filer is not None:
        allowed = actions_for(_as_reporter(filer), case, now, as_reporter=True)
    token = issue_pass(
        REPORTER_PASS,
        {"case": case.id, "reporters": sorted(r.id for r in mine)},
        ports.settings.secret_key,
        REPORTER_PASS_TTL,
    )
    return Followed(_reporter_view(cases, case, mine, now, allowed), is_filer, token)


@permission(PUBLIC, "Follow a case as its reporter, by its number and her phone")
def follow_case(
    uow: UnitOfWork, actor: Actor, case_id: int, phone: str, ports: CasePorts
) -> Followed:
    """What track_case shows, plus what its reporter may do now and a pass (valid for
    REPORTER_PASS_TTL) that lets her do it: the tracking page for people without an
    account. Callers limit the attempts per address, as for tracking."""
    cases = CaseRepository(uow.session)
    case, mine = _reporters_by_phone(cases, case_id, phone)
    return _followed(cases, case, mine, ports)


def _passed(cases: CaseRepository, token: str, ports: CasePorts) -> tuple[Case, list[Reporter]]:
    claims = read_pass(REPORTER_PASS, token, ports.settings.secret_key)
    case = cases.get(int(claims.get("case", 0)))
    ids = set(claims.get("reporters", []))
    mine = [r for r in cases.reporters(case.id) if r.id in ids] if case else []  # type: ignore[arg-type]
    if case is None or not mine:
        raise NotAuthenticated("pass_invalid")
    return case, mine


@permission(PUBLIC, "Follow a case again with a reporter's pass")
def follow_with_pass(uow: UnitOfWork, actor: Actor, token: str, ports: CasePorts) -> Followed:
    """The case a reporter proved to be hers lately (follow_case's pass), as it is now."""
    cases = CaseRepository(uow.session)
    case, mine = _passed(cases, token, ports)
    return _followed(cases, case, mine, ports)


@permission(PUBLIC, "Verify, rate or reopen a case as its reporter, with her pass")
def act_as_reporter(
    uow: UnitOfWork, actor: Actor, token: str, request: ActionRequest, ports: CasePorts
) -> Followed:
    """The reporter who filed a case, proven by its number and her phone (the pass of
    follow_case), says whether the fix held (verify, or rework with a reason), rates the
    result, or reopens it within the reopen window — as she could logged in. On the
    timeline she is the case's reporter (reporter:<id>)."""
    cases = CaseRepository(uow.session)
    case, mine = _passed(cases, token, ports)
    filer = _filer(cases, case)
    if filer is None or filer.id not in {r.id for r in mine}:
        raise Forbidden("case_reporter_only", id=case.id)
    if _parse_action(request) not in REPORTER_ACTIONS:
        raise Forbidden("case_reporter_only", id=case.id)
    _carry_out(uow, _as_reporter(filer), case, request, ports, as_reporter=True)
    return _followed(cases, case, mine, ports)


# ------------------------------------------------------------------ the scheduler


@dataclass
class TickReport:
    marked_overdue: int = 0
    escalated: int = 0
    messages_sent: int = 0


@permission(ADMIN_ROLES, "Mark overdue cases, escalate them per rule, send messages")
def tick(uow: UnitOfWork, actor: Actor, ports: CasePorts, batch: int = 500) -> TickReport:
    """What the scheduler does every minute: mark each case whose step deadline passed
    (红灯), escalate dispatched or in-progress ones whose rule says so, and hand unsent
    answers to the notifier."""
    now = ports.clock()
    report = TickReport()
    if not claim_scheduler(uow):
        return report  # another server process is ticking right now
    routing = ports.routing.fresh(uow)
    cases = CaseRepository(uow.session)
    while True:
        late = cases.overdue_unmarked(now, limit=batch)
        if not late:
            break
        for case in late:
            cases.add_event(case, case.mark_overdue(now))
            report.marked_overdue += 1
            rule = routing.rules_by_id.get(case.rule_id) if case.rule_id else None
            if (
                case.status in (Status.DISPATCHED, Status.IN_PROGRESS)
                and rule is not None
                and rule.auto_escalate
                and next_level_up(case.handling_level) is not None
            ):
                command = Command(
                    Action.ESCALATE,
                    reason=translate("msg.auto_escalation", ports.locale),
                    route=_escalation_route(case, routing),
                )
                event = case.apply(command, actor, now)
                cases.add_event(case, event)
                uow.session.flush()
                notify_reporters(cases, case, event, ports)
                report.escalated += 1
        uow.commit()
    report.messages_sent = deliver_messages(uow, ports.notifier, now)
    return report


SCHEDULER_LOCK_ID = 7_341_203  # arbitrary, CivicGrid's own


def claim_scheduler(uow: UnitOfWork) -> bool:
    """One scheduler tick at a time across server processes: a PostgreSQL advisory lock
    (released at commit); SQLite serialises writers by itself."""
    if uow.session.get_bind().dialect.name != "postgresql":
        return True
    claimed = uow.session.execute(
        text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": SCHEDULER_LOCK_ID}
    ).scalar()
    return bool(claimed)


def deliver_messages(uow: UnitOfWork, notifier: Notifier, now: datetime, limit: int = 1000) -> int:
    """Send stored answers; a failure leaves the rest in the outbox for the next tick."""
    sent = 0
    for message in CaseRepository(uow.session).unsent_messages(limit):
        try:
            notifier.send(message)
        except Exception:  # a gateway error must not stop the scheduler
            log.exception("could not send message %s", getattr(message, "id", "?"))
            break
        message.sent_at = now
        sent += 1
    uow.commit()
    return sent


def tick_job(ports: CasePorts) -> PeriodicJob:
    """The scheduler's every-minute job: `tick` as the system."""

    def run(uow: UnitOfWork) -> str:
        done = tick(uow, SCHEDULER, ports)
        if not (done.marked_overdue or done.escalated or done.messages_sent):
            return ""
        return (
            f"{done.marked_overdue} overdue marked, {done.escalated} escalated, "
            f"{done.messages_sent} answers sent"
        )

    return PeriodicJob(
        "cases.tick", timedelta(seconds=ports.settings.scheduler_interval_seconds), run
    )


def case_facts(session: Session, area: Area, actor: Actor, facts: AreaFacts) -> None:
    """Area fact source: open and overdue cases in the area (public counts)."""
    cases = CaseRepository(session)
    scope = CaseScope(area_path=area.path)
    now = utcnow()
    facts.counts["open_cases"] = cases.count(scope, CaseFilter(statuses=sorted(OPEN_STATUSES)))
    facts.counts["overdue_cases"] = cases.count(scope, CaseFilter(overdue=True, now=now))


# ------------------------------------------------------------------ taxonomy and authority list


@permission(PUBLIC, "The category taxonomy")
def list_categories(uow: UnitOfWork, actor: Actor) -> list[Category]:
    """Every active category, level-1 groups and their level-2 categories."""
    return list(TaxonomyRepository(uow.session).categories(active_only=True))


@permission(ADMIN_ROLES, "Replace the category taxonomy")
def replace_categories(uow: UnitOfWork, actor: Actor, parsed: Parsed[Category]) -> int:
    """Install a taxonomy read by cases.taxonomy.parse_categories; nothing is written when
    any row is wrong. Categories left out are deactivated, never deleted."""
    if parsed.problems:
        raise RowsRejected(parsed.problems)
    items = [c for _, c in parsed.items]
    ordered = sorted(items, key=lambda c: c.parent_code is not None)  # groups first
    TaxonomyRepository(uow.session).replace_categories(ordered)
    uow.commit()
    return len(items)


@permission(PUBLIC, "The authority list")
def list_rules(uow: UnitOfWork, actor: Actor) -> list[AuthorityRule]:
    """The published authority list (事权清单): who handles what, at which level, how fast."""
    return list(TaxonomyRepository(uow.session).rules())


@permission(ADMIN_ROLES, "Replace the authority list")
def replace_rules(uow: UnitOfWork, actor: Actor, parsed: Parsed[AuthorityRule]) -> int:
    """Install an authority list read by cases.taxonomy.parse_rules, after checking every
    row against the categories, departments and areas; all rows or none."""
    taxonomy = TaxonomyRepository(uow.session)
    known_categories = {c.code for c in taxonomy.categories()}
    departments = DepartmentRepository(uow.session)
    areas = AreaRepository(uow.session)
    problems = list(parsed.problems)
    for row, rule in parsed.items:
        if rule.category_code not in known_categories:
            problems.append(
                RowProblem(row, "category", "csv_unknown_category", {"value": rule.category_code})
            )
        if rule.department_code and departments.get(rule.department_code) is None:
            problems.append(
                RowProblem(
                    row, "department", "csv_unknown_department", {"value": rule.department_code}
                )
            )
        if rule.area_code and areas.get(rule.area_code) is None:
            problems.append(RowProblem(row, "area", "csv_unknown_area", {"value": rule.area_code}))
    if problems:
        parsed.problems = sorted(problems, key=lambda p: p.row)
        raise RowsRejected(parsed.problems)
    taxonomy.replace_rules([rule for _, rule in parsed.items])
    uow.commit()
    return len(parsed.items)


class RowsRejected(InvalidInput):
    """Some rows of an import are wrong; `problems` names each (row, field, reason)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(N_("csv_rows_rejected"), count=len(problems), first=first.message("en"))

    def message(self, locale: Locale) -> str:
        return "; ".join(p.message(locale) for p in self.problems[:20])
