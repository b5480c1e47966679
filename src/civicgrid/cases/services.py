"""Case services: intake, actions, reading, the scheduler's tick, the taxonomy and the
authority list. Each takes a unit of work and the calling actor and declares who may call it.
A case is acknowledged only after it is committed, so nothing acknowledged is lost."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from civicgrid.areas.domain import Area, Function, Level
from civicgrid.areas.ports import AreaFacts
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.areas.services import Located, LocatorCache, locate_point
from civicgrid.cases.attachments import Upload, check_upload
from civicgrid.cases.domain import (
    AUTHORITY_LIST_KIND,
    CASE,
    CASE_KIND,
    GUEST_NAME,
    OPEN_STATUSES,
    REPORTER_ACTIONS,
    REPORTER_PREFIX,
    Action,
    AuthorityListVersion,
    AuthorityRule,
    Case,
    Category,
    Channel,
    Command,
    Light,
    ListChange,
    Priority,
    Report,
    Reporter,
    ResidentEvent,
    Route,
    Status,
    SystemEvent,
    TimeLimits,
    chain_of,
    limit_problems,
    next_level_up,
    route_at,
    route_case,
    scrub,
)
from civicgrid.cases.ports import (
    AddressResolver,
    CategorySuggester,
    NoUrgency,
    Suggestion,
    UrgencyScorer,
    is_sure,
)
from civicgrid.cases.repository import (
    Attachment,
    AttachmentRepository,
    Box,
    CaseFilter,
    CaseRepository,
    CaseScope,
    Cluster,
    Frame,
    ListChanges,
    TaxonomyRepository,
    searches_phone,
)
from civicgrid.cases.taxonomy import TaxonomyChanges, taxonomy_changes
from civicgrid.cases.views import reporter_names
from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork, read_revision, utcnow
from civicgrid.core.errors import (
    CivicGridError,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidFields,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from civicgrid.core.i18n import N_, Locale, format_datetime, translate
from civicgrid.core.jobs import PeriodicJob
from civicgrid.core.ledger import Action as AccessAction
from civicgrid.core.ledger import Entry, Ledger
from civicgrid.core.masking import Whose
from civicgrid.core.outbox import (
    Directory,
    MessageChannel,
    NoDirectory,
    OutboxMessage,
    messages_to,
)
from civicgrid.core.permissions import (
    ADMIN_ROLES,
    PUBLIC,
    STAFF,
    Actor,
    Role,
    permission,
)
from civicgrid.core.rows import Parsed, RowProblem
from civicgrid.core.security import issue_pass, read_pass
from civicgrid.core.settings import Settings
from civicgrid.core.types import is_email, is_phone
from civicgrid.core.workflow import Event, EventLog, FeedPosition

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
    memory and reloaded when an import bumps the taxonomy or areas revision. Every version
    of the list is held (a line is never deleted), so a case routed by an earlier version
    is escalated by that version's rules."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self.categories: dict[str, Category] = {}
        self.version = 0
        self.rules: list[AuthorityRule] = []
        self.rules_by_id: dict[int, AuthorityRule] = {}
        self._every_rule: list[AuthorityRule] = []
        self._by_version: dict[int, dict[str, list[AuthorityRule]]] = {}
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
                every = list(taxonomy.rules(every_version=True))
                self.version = taxonomy.current_version()
                self._every_rule = every
                self.rules = [r for r in every if r.version_to is None]
                self.rules_by_id = {r.id: r for r in every if r.id is not None}
                self._by_version = {}
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

    def rules_for(self, category: Category, version: int | None = None) -> list[AuthorityRule]:
        """The rules of VERSION (the list in force when None) that can route CATEGORY: its
        own and its level-1 group's (intake routes every report, and the list is long)."""
        version = self.version if version is None else version
        by_category = self._by_version.get(version)
        if by_category is None:
            by_category = {}
            for rule in self._every_rule:
                if rule.in_version(version):
                    by_category.setdefault(rule.category_code, []).append(rule)
            self._by_version[version] = by_category
        rules = by_category.get(category.code, [])
        if category.parent_code is not None:
            rules = rules + by_category.get(category.parent_code, [])
        return rules


@dataclass
class CasePorts:
    settings: Settings
    locator_cache: LocatorCache
    routing: RoutingCache
    suggester: CategorySuggester
    address_resolver: AddressResolver
    clock: Callable[[], datetime] = utcnow
    urgency: UrgencyScorer = field(default_factory=NoUrgency)
    # Who works in each unit and area: units hear of new work through it.
    directory: Directory = field(default_factory=NoDirectory)

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
    event: Event
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
    _check_contact(new.reporter_phone, new.reporter_email)
    check_description(new.description, settings.max_description_chars)
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
    route = route_case(
        category,
        chain_of(grid_path),
        routing.rules_for(category),
        routing.unit_for,
        routing.version,
    )
    attachments = [
        check_upload(
            u,
            settings.max_attachment_mb,
            actor.name,
            now,
            strip_location=new.reporter_hidden,
            max_pixels=round(settings.max_image_megapixels * 1_000_000),
        )
        for u in new.attachments
    ]
    report = Report(
        channel=new.channel,
        description=new.description,
        category=category,
        group=routing.categories.get(category.parent_code or ""),
        grid_code=located.grid.code,
        area_path=grid_path,
        route=route,
        lat=lat,
        lon=lon,
        title=new.title,
        address=new.address,
        located_by=located_by,
        category_given=new.category is not None,
        suggestions=[(s.category_code, s.confidence) for s in suggestions],
        urgency=ports.urgency.score(f"{new.title} {new.description}"),
        urgency_threshold=settings.urgency_threshold,
        priority=new.priority,
        hidden=new.reporter_hidden,
        reporter_name=new.reporter_name,
        reporter_phone=new.reporter_phone,
        reporter_email=new.reporter_email,
        attachments=[a.id for a in attachments],
    )
    case, reporter, event = report.open(actor, now)
    return Reported(case, [], suggestions, reporter, event, attachments)


def check_description(text: str, limit: int, field: str = "description") -> None:
    """422 when a report's words are longer than the platform takes (a setting)."""
    if len(text) > limit:
        raise InvalidInput("case_description_too_long", max=limit, length=len(text), field=field)


def _check_contact(phone: str, email: str) -> None:
    """A reporter's phone and e-mail, when she leaves them, in a form the centre and the
    outbox can use (core.types): 422 naming each wrong one."""
    problems: list[CivicGridError] = []
    if phone and not is_phone(phone):
        problems.append(InvalidInput("case_bad_phone", field="phone", value=phone))
    if email and not is_email(email):
        problems.append(InvalidInput("case_bad_email", field="email", value=email))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidFields(problems)


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
        item.event.record_id = item.case.id
        for attachment in item.attachments:
            attachment.case_id = item.case.id
    cases.add_new(reporters, learn_ids=True)  # their ids go into the answers
    rows: list[object] = [item.event for item in batch]
    rows += [a for i in batch for a in i.attachments]
    rows += [m for i in batch for m in answers_for(cases, i.case, i.event, ports, [i.reporter])]
    cases.add_new(rows)
    uow.commit()


@dataclass
class Past:
    """A case that happened elsewhere (an import): its report, as prepare_report checked
    it, and the rest of its history, at the times it happened."""

    reported: Reported
    history: list[Event]


@permission(ADMIN_ROLES, "Store cases that happened elsewhere, with their history")
def store_past_cases(uow: UnitOfWork, actor: Actor, past: Sequence[Past]) -> None:
    """Store PAST cases with their reporters and timelines, in the caller's transaction
    (the caller commits): history, so nobody is told of it and no answer goes out."""
    cases = CaseRepository(uow.session)
    for item in past:
        cases.add(item.reported.case)
    uow.session.flush()  # case numbers
    for item in past:
        case = item.reported.case
        item.reported.reporter.case_id = case.id
        cases.add_reporter(item.reported.reporter)
        for event in [item.reported.event, *item.history]:
            cases.add_event(case, event)


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
            max_pixels=round(ports.settings.max_image_megapixels * 1_000_000),
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

# Actions that give a unit new work (or news about work it has), and what it hears: the
# lead unit of a dispatch, every unit a whistle summons, the lead unit when a fix fails
# verification or its extension is decided, and whoever leads a case that resumes.
UNIT_MESSAGES: dict[str, str] = {
    Action.DISPATCH.value: N_("msg.unit.dispatched"),
    Action.REWORK.value: N_("msg.unit.rework"),
    Action.APPROVE_EXTENSION.value: N_("msg.unit.extension_approved"),
    Action.DENY_EXTENSION.value: N_("msg.unit.extension_denied"),
    Action.RESUME.value: N_("msg.unit.resumed"),
}
# A whistle tells its lead it leads and the others to report in.
WHISTLE_LEAD = N_("msg.unit.whistle_lead")
WHISTLE_SUMMONED = N_("msg.unit.whistle_summoned")
# The dispatch centre of the case's handling area hears when work comes back to it.
CENTRE_MESSAGES: dict[str, str] = {
    Action.RETURN.value: N_("msg.centre.returned"),
    Action.ESCALATE.value: N_("msg.centre.escalated"),
    Action.REOPEN.value: N_("msg.centre.reopened"),
}
CENTRE_RECIPIENTS = frozenset({Role.DISPATCHER})


def notify(
    cases: CaseRepository,
    case: Case,
    event: Event,
    ports: CasePorts,
    reporters: Sequence[Reporter] | None = None,
    key: str | None = None,
) -> None:
    """Store every message EVENT causes (in the outbox, in the caller's transaction): the
    answer to each reporter (事事有回应), and the new work of the units and the dispatch
    centre it concerns."""
    messages = answers_for(cases, case, event, ports, reporters, key)
    if key is None:
        messages += work_for(cases, case, event, ports)
    cases.add_messages(messages)


def _params(cases: CaseRepository, case: Case, event: Event, ports: CasePorts) -> dict[str, object]:
    routing = ports.routing
    department = event.data.get("lead") or event.data.get("department") or case.department_code
    category = routing.categories.get(case.category_code)
    return {
        "id": case.id,
        "category": category.name if category else case.category_code,
        "department": _unit_name(cases, department),
        "reason": event.note,
        "answer": case.resolution,
        "into": event.data.get("into", ""),
        "title": case.title,
        "meeting": _meeting(event, ports),
    }


def _meeting(event: Event, ports: CasePorts) -> str:
    """A whistle's meeting, as its notices say it ("会商时间：3月2日 10:15"), or nothing."""
    at = event.data.get("meeting_at")
    if not at:
        return ""
    when = format_datetime(datetime.fromisoformat(at), ports.locale, ports.settings.timezone)
    return translate(N_("msg.unit.meeting"), ports.locale, {"at": when})


def answers_for(
    cases: CaseRepository,
    case: Case,
    event: Event,
    ports: CasePorts,
    reporters: Sequence[Reporter] | None = None,
    key: str | None = None,
) -> list[OutboxMessage]:
    """The answer each reporter (all the case's, or REPORTERS) gets for EVENT, if it is one
    that matters to them."""
    key = key or REPORTER_MESSAGES.get(event.action)
    if key is None:
        return []
    body = translate(key, ports.locale, _params(cases, case, event, ports))
    messages = []
    for reporter in reporters if reporters is not None else cases.reporters(case.id):  # type: ignore[arg-type]
        channel, address = _contact(reporter)
        messages.append(
            OutboxMessage(
                record_kind=CASE_KIND,
                record_id=case.id,  # type: ignore[arg-type]
                recipient=reporter_key(reporter),
                channel=channel,
                address=address,
                body=body,
                created_at=event.at,
            )
        )
    return messages


def work_for(
    cases: CaseRepository, case: Case, event: Event, ports: CasePorts
) -> list[OutboxMessage]:
    """What the units and the dispatch centre hear of EVENT: each unit's accounts (and the
    unit's own system, when it has a webhook), or the centre's dispatchers."""
    params = _params(cases, case, event, ports)
    units: list[tuple[str, str]] = []
    if event.action == Action.WHISTLE.value:
        lead = str(event.data.get("lead") or "")
        units = [
            (code, WHISTLE_LEAD if code == lead else WHISTLE_SUMMONED)
            for code in event.data.get("departments") or []
        ]
    elif event.action in UNIT_MESSAGES and case.department_code:
        units = [(case.department_code, UNIT_MESSAGES[event.action])]
    messages: list[OutboxMessage] = []
    session = cases.session
    for code, key in units:
        body = translate(key, ports.locale, params)
        staff = ports.directory.unit_staff(session, code)
        messages += messages_to(staff, CASE_KIND, case.id, body, event.at)  # type: ignore[arg-type]
        unit = DepartmentRepository(session).get(code)
        if unit is not None and unit.webhook_url:
            messages.append(
                OutboxMessage(
                    record_kind=CASE_KIND,
                    record_id=case.id,  # type: ignore[arg-type]
                    recipient=f"unit:{code}",
                    channel=MessageChannel.WEBHOOK,
                    address=unit.webhook_url,
                    body=body,
                    created_at=event.at,
                )
            )
    if event.action in CENTRE_MESSAGES:
        body = translate(CENTRE_MESSAGES[event.action], ports.locale, params)
        centre = _handling_area_path(case)
        staff = ports.directory.area_staff(session, centre, CENTRE_RECIPIENTS)
        messages += messages_to(staff, CASE_KIND, case.id, body, event.at)  # type: ignore[arg-type]
    return messages


def _handling_area_path(case: Case) -> str:
    """The path of the area whose centre handles the case now (its handling level's)."""
    codes = case.area_path.strip("/").split("/")
    if case.handling_area_code in codes:
        codes = codes[: codes.index(case.handling_area_code) + 1]
    return "/" + "/".join(codes) + "/"


def reporter_key(reporter: Reporter) -> str:
    """How the outbox names a case's reporter (as the timeline names one who proved
    herself by her phone)."""
    return f"{REPORTER_PREFIX}{reporter.id}"


def _unit_name(cases: CaseRepository, code: object) -> str:
    if not isinstance(code, str):
        return ""
    unit = DepartmentRepository(cases.session).get(code)
    return unit.name if unit else code


def _contact(reporter: Reporter) -> tuple[MessageChannel, str]:
    if reporter.phone:
        return MessageChannel.SMS, reporter.phone
    if reporter.email:
        return MessageChannel.EMAIL, reporter.email
    return MessageChannel.WEB, reporter.username or "-"


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
    # whistle: when the summoned units meet (time zone-aware; optional).
    meeting_at: datetime | None = None


@permission(CASE.acting_roles(), "Act on a case")
def act_on_case(
    uow: UnitOfWork, actor: Actor, case_id: int, request: ActionRequest, ports: CasePorts
) -> CaseView:
    """Carry out one action on a case (see cases.domain.CASE), append it to the
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
) -> Event:
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
        meeting_at=request.meeting_at,
    )
    _check_units(routing, request)
    target = None
    if action is Action.MERGE and request.into is not None:
        target = _merge_target(cases, actor, request.into, case)
        if target is not None:
            command.unlike = _unlike(case, target, ports.settings.duplicate_radius_m)
    if action in (Action.DISPATCH, Action.WHISTLE):
        named = [request.department or case.suggested_department_code or ""]
        if action is Action.WHISTLE:
            named = list(request.departments)
        command.outside = _outside_area(uow, case, [code for code in named if code])
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
    notify(cases, case, event, ports)
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
            hidden=reporter.hidden,
            supporter=reporter.supporter,
            case_id=target.id,
        )
        cases.add_reporter(copy)
        moved.append(copy)
    absorbed = CASE.event(
        target, SystemEvent.ABSORB, actor, now, data={"from": merged.id, "reporters": len(moved)}
    )
    cases.add_event(target, absorbed)
    target.updated_at = now


def _unlike(case: Case, target: Case, radius_m: float) -> dict[str, Any]:
    """How CASE differs from the case it is merged into, beyond what makes a duplicate."""
    unlike: dict[str, Any] = {}
    if case.category_code != target.category_code:
        unlike["category"] = [case.category_code, target.category_code]
    if None not in (case.lat, case.lon, target.lat, target.lon):
        apart = distance_m(case.lat, case.lon, target.lat, target.lon)  # type: ignore[arg-type]
        if apart > radius_m:
            unlike["metres"] = round(apart)
    return unlike


def _outside_area(uow: UnitOfWork, case: Case, codes: Sequence[str]) -> list[str]:
    """The units among CODES whose area does not hold the case (another district's or
    another street's): the case's jurisdiction is its grid and the areas above it."""
    above = set(case.area_path.strip("/").split("/"))
    units = DepartmentRepository(uow.session)
    outside = []
    for code in codes:
        unit = units.get(code)
        if unit is not None and unit.area_code not in above:
            outside.append(code)
    return outside


def _escalation_route(case: Case, routing: RoutingCache) -> Route | None:
    level = next_level_up(case.handling_level)
    if level is None:
        return None
    category = routing.categories[case.category_code]
    # The case keeps the version of the authority list it was routed by.
    version = case.rule_version
    rules = routing.rules_for(category, version)
    return route_at(level, category, chain_of(case.area_path), rules, routing.unit_for, version)


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
            category,
            chain_of(grid_path),
            routing.rules_for(category),
            routing.unit_for,
            routing.version,
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
        # A reporter of her own, or of a duplicate merged in; one who only added her voice
        # sees what the public sees (supported_case).
        return case.reporter_username == actor.name or any(
            r.username == actor.name and not r.supporter for r in reporters
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
    timeline: list[Event]
    # The answers to its reporters (a resident: only hers), with their delivery state.
    messages: list[OutboxMessage]
    reporters: list[Reporter]
    light: Light
    allowed_actions: list[Action]
    show_contacts: bool
    # What units and the dispatch centre were told of new work (staff who see contacts).
    notices: list[OutboxMessage] = field(default_factory=list)
    # Seen by a resident who only added her voice: the public's view, and her own words.
    supporter_only: bool = False
    public: PublicCase | None = None
    notes: list[str] = field(default_factory=list)
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
    view = _view(cases, actor, case, reporters, ports.clock())
    if view.show_contacts and any(r.name or r.phone or r.email for r in reporters):
        # Reporters' names and contacts shown in full: a read of personal data, logged.
        fields = ("reporter.name", "reporter.phone", "reporter.email")
        Ledger(uow.session).append(
            Entry.by(
                actor,
                AccessAction.PERSONAL_READ,
                record_kind="case",
                record_ids=[case_id],
                fields=fields,
            )
        )
        uow.commit()
    return view


def _view(
    cases: CaseRepository, actor: Actor, case: Case, reporters: list[Reporter], now: datetime
) -> CaseView:
    everything = list(cases.messages(case.id))  # type: ignore[arg-type]
    if actor.role is Role.RESIDENT:
        # A resident sees herself among the reporters, never the others who joined.
        reporters = [r for r in reporters if r.username == actor.name]
    answers = _answers_to(everything, reporters if actor.role is Role.RESIDENT else None)
    show_contacts = actor.role in CONTACT_READERS
    timeline = list(cases.timeline(case.id))  # type: ignore[arg-type]
    return CaseView(
        case=case,
        timeline=timeline,
        messages=answers,
        reporters=reporters,
        light=case.light(now),
        allowed_actions=actions_for(actor, case, now),
        show_contacts=show_contacts,
        unit_names=_unit_names(cases, case, timeline),
        notices=[m for m in everything if not _is_answer(m)] if show_contacts else [],
    )


# Who sees reporters' contacts, and what units and the centre were told.
CONTACT_READERS = masking.FULL[Whose.REPORTER]


def _is_answer(message: OutboxMessage) -> bool:
    return message.recipient.startswith(REPORTER_PREFIX)


def _answers_to(
    messages: Sequence[OutboxMessage], reporters: Sequence[Reporter] | None
) -> list[OutboxMessage]:
    """The answers among MESSAGES: to REPORTERS only, or to every reporter (None)."""
    answers = [m for m in messages if _is_answer(m)]
    if reporters is None:
        return answers
    keys = {reporter_key(r) for r in reporters}
    return [m for m in answers if m.recipient in keys]


def _unit_names(cases: CaseRepository, case: Case, timeline: Sequence[Event]) -> dict[str, str]:
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
    return case.available_actions(actor, now, as_reporter=as_reporter)


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
    # A reporter's phone finds her cases only for the roles that read phones in full.
    f.phones = masking.reads_in_full(actor.role, Whose.REPORTER)
    cases = CaseRepository(uow.session)
    scope = scope_of(actor)
    items = cases.list(scope, f, order=order, limit=page_size, offset=(page - 1) * page_size)
    total = cases.count(scope, f, cap=COUNT_CAP)
    if f.phones and f.q and searches_phone(f.q) and items:
        # Which cases a phone reported is a read of reporters' phones: logged.
        Ledger(uow.session).append(
            Entry.by(
                actor,
                AccessAction.PERSONAL_READ,
                record_kind="case",
                record_ids=[c.id or 0 for c in items],
                fields=("reporter.phone",),
            )
        )
        uow.commit()
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
    timeline = list(cases.timeline(case.id))  # type: ignore[arg-type]
    return CaseView(
        case=case,
        timeline=timeline,
        messages=_answers_to(cases.messages(case.id), mine),  # type: ignore[arg-type]
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
    if not is_phone(phone):
        raise InvalidInput("case_bad_phone", field="phone", value=phone)


@permission(frozenset(), "Report a problem without an account", anonymous=True)
def report_as_guest(uow: UnitOfWork, actor: Actor, new: NewCase, ports: CasePorts) -> Reported:
    """A resident without an account reports through the web. She leaves a mobile number,
    so the centre can reach her and she can follow the case by its number and her phone
    (and verify, rate or reopen it from the tracking page). Stored before this returns."""
    _require_phone(new.reporter_phone)
    new.channel = Channel.RESIDENT_WEB
    reported = _prepare(uow, GUEST, new, ports)
    store_reports(uow, [reported], ports)
    return reported


@dataclass(frozen=True)
class SuggestedCategory:
    category: Category
    confidence: float
    sure: bool = False  # chosen for the person (cases.ports.is_sure); else only offered


@permission(PUBLIC, "Suggest categories for a description")
def suggest_categories(
    uow: UnitOfWork, actor: Actor, text: str, ports: CasePorts, limit: int = 3
) -> list[SuggestedCategory]:
    """The categories the platform's suggester finds in TEXT, best first (at most LIMIT):
    what the report form offers while a resident types."""
    check_description(text, ports.settings.max_description_chars, field="text")
    if not text.strip():
        return []
    routing = ports.routing.fresh(uow)
    found = []
    for suggestion in ports.suggester.suggest(text, list(routing.categories.values())):
        category = routing.categories.get(suggestion.category_code)
        if category is not None and category.active and category.parent_code is not None:
            found.append(SuggestedCategory(category, suggestion.confidence))
    if is_sure([f.confidence for f in found]):
        found[0] = replace(found[0], sure=True)
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


def public_title(case: Case, names: Sequence[str] = ()) -> str:
    """The case's title for public pages: nothing when the reporter stays anonymous to the
    public, and without e-mails, long numbers, house numbers and the reporters' NAMES
    (cases.domain.scrub)."""
    if case.reporter_hidden:
        return ""
    return scrub(case.title, names)


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
    names = reporter_names(uow.session, list(distances))
    found = [
        NearbyCase(
            id=case.id,  # type: ignore[arg-type]
            category_code=case.category_code,
            title=public_title(case, names.get(case.id or 0, [])),
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
    """A resident adding her voice (附议): where she sees the problem, how to reach her, her
    own words and photos."""

    lat: float | None = None
    lon: float | None = None
    name: str = ""
    phone: str = ""
    note: str = ""
    hidden: bool = False
    attachments: list[Upload] = field(default_factory=list)


@dataclass
class Supported:
    case: Case
    reporter: Reporter
    event: Event


@permission({Role.RESIDENT}, "Add one's voice to an open case (附议)", anonymous=True)
def support_case(
    uow: UnitOfWork, actor: Actor, case_id: int, new: NewSupporter, ports: CasePorts
) -> Supported:
    """A resident whose problem is already reported adds her voice instead of reporting it
    again, from where she sees it (within the duplicate radius of the case): she hears its
    answers from now on and sees the case as the public does, with her own words; the case
    counts her (a 'join' row on its timeline). Residents with an account, or without one
    when they leave a mobile number; staff merge duplicates instead. 409 when the case is
    no longer open, or her own account already reported or supported it. A number given
    without an account is never compared with the case's reporters' (so nobody learns
    whether a phone reported a case by adding a voice with it)."""
    if actor.is_anonymous:
        _require_phone(new.phone)
    if new.lat is None or new.lon is None:
        raise InvalidInput("case_needs_place", field="place")
    check_description(new.note, ports.settings.max_description_chars)
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    if case is None:
        raise NotFound("case_not_found", id=case_id)
    if case.lat is not None and case.lon is not None:
        away = distance_m(new.lat, new.lon, case.lat, case.lon)
        radius = ports.settings.duplicate_radius_m
        if away > radius:
            raise InvalidInput(
                "case_support_too_far", id=case_id, metres=round(away), radius=radius, field="place"
            )
    if not actor.is_anonymous and (
        case.reporter_username == actor.name
        or any(r.username == actor.name for r in cases.reporters(case_id))
    ):
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
        supporter=True,
        case_id=case_id,
    )
    cases.add_reporter(reporter)
    cases.add_event(case, event)
    AttachmentRepository(uow.session).attach(event.attachments, case_id)
    uow.session.flush()
    notify(cases, case, event, ports, [reporter], key=N_("msg.joined"))
    try:
        uow.commit()
    except StaleDataError as exc:
        raise Conflict("case_changed", id=case_id) from exc
    return Supported(case, reporter, event)


@permission({Role.RESIDENT}, "A case one added her voice to, as the public sees it")
def supported_case(uow: UnitOfWork, actor: Actor, case_id: int, ports: CasePorts) -> CaseView:
    """A case the caller added her voice to: what the public sees of it (its category,
    state, public title, steps in plain words), the answers she got and her own words —
    not the reporters' words, place or names. 404 for a case she did not support."""
    cases = CaseRepository(uow.session)
    case = cases.get(case_id)
    mine = [r for r in (cases.reporters(case_id) if case else []) if r.username == actor.name]
    if case is None or not mine:
        raise NotFound("case_not_found", id=case_id)
    view = _reporter_view(cases, case, mine, ports.clock())
    view.supporter_only = True
    view.public = PublicCase.of(case, reporter_names(uow.session, [case_id]).get(case_id, []))
    view.notes = [
        e.note
        for e in view.timeline
        if e.action == ResidentEvent.JOIN.value and e.actor_name == actor.name and e.note
    ]
    return view


@permission({Role.RESIDENT}, "The cases one added her voice to")
def supported_cases(uow: UnitOfWork, actor: Actor, limit: int = 20) -> list[PublicCase]:
    """The cases the caller added her voice to, newest first, as the public sees them."""
    found = CaseRepository(uow.session).supported_by(actor.name, limit)
    names = reporter_names(uow.session, [case.id or 0 for case in found])
    return [PublicCase.of(case, names.get(case.id or 0, [])) for case in found]


@dataclass(frozen=True)
class PublicCase:
    """What anyone may read of a case: no reporter, no place finer than its grid, and no
    words of a reporter who asked to stay anonymous."""

    id: int
    category_code: str
    status: Status
    title: str
    created_at: datetime
    closed_at: datetime | None
    supporters: int

    @classmethod
    def of(cls, case: Case, names: Sequence[str] = ()) -> PublicCase:
        """What anyone may read of CASE, its title without its reporters' NAMES."""
        return cls(
            id=case.id or 0,
            category_code=case.category_code,
            status=case.status,
            title=public_title(case, names),
            created_at=case.created_at,
            closed_at=case.closed_at,
            supporters=case.supporters,
        )


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


# ------------------------------------------------------------------ the queue: map, news, exports

# A cluster on the map stands for the cases of a square about this many screen pixels wide,
# and one answer holds at most this many, whatever the view asked for.
MAP_CELL_PX = 56
MAP_MAX_CELLS = 2000


@dataclass(frozen=True)
class MapView:
    """The stretch of map a reader looks at (degrees) and its zoom (Leaflet's, 0–22)."""

    south: float = -90.0
    west: float = -180.0
    north: float = 90.0
    east: float = 180.0
    zoom: float = 10.0

    def frame(self) -> Frame:
        """The view cut into cells of MAP_CELL_PX at its zoom, coarser when that would make
        more than MAP_MAX_CELLS (a whole continent asked for at street zoom)."""
        problems: list[CivicGridError] = []
        south, north = max(self.south, -90.0), min(self.north, 90.0)
        west, east = max(self.west, -180.0), min(self.east, 180.0)
        for name, value in (("south", south), ("north", north), ("west", west), ("east", east)):
            if not math.isfinite(value):
                problems.append(InvalidInput("case_map_bad_view", field=name))
        if not problems and (south >= north or west >= east):
            problems.append(InvalidInput("case_map_bad_view", field="bbox"))
        if not (math.isfinite(self.zoom) and 0 <= self.zoom <= 22):
            problems.append(InvalidInput("case_map_bad_zoom", field="zoom"))
        if problems:
            raise InvalidFields(problems)
        cell_lon = MAP_CELL_PX * 360.0 / (256 * 2**self.zoom)
        # Web Mercator draws a degree of latitude longer by 1/cos(latitude).
        cell_lat = cell_lon * math.cos(math.radians((south + north) / 2))
        cells = ((north - south) / cell_lat) * ((east - west) / cell_lon)
        if cells > MAP_MAX_CELLS:
            grow = math.sqrt(cells / MAP_MAX_CELLS)
            cell_lat, cell_lon = cell_lat * grow, cell_lon * grow
        return Frame(south, west, north, east, cell_lat, cell_lon)


@dataclass
class CaseMap:
    clusters: list[Cluster]
    total: int  # matching cases with a point inside the view


@permission(CASE_READERS, "The cases of a list on a map, counted per cell")
def case_map(
    uow: UnitOfWork, actor: Actor, f: CaseFilter, ports: CasePorts, view: MapView
) -> CaseMap:
    """Every case the caller may see that matches F (all pages of the list, not only the
    one shown) inside VIEW, counted per cell: at most MAP_MAX_CELLS points however many
    cases match, each with its count and the worst deadline light among them; a cell of
    one case names it."""
    frame = view.frame()
    f.now = f.now or ports.clock()
    found = CaseRepository(uow.session).clusters(scope_of(actor), f, frame, MAP_MAX_CELLS)
    return CaseMap(list(found), sum(c.count for c in found))


@dataclass(frozen=True)
class CaseChange:
    """A case the reader may see that changed: its number, what happened last, whether it
    is new (reported since), and whether it matches the reader's filter now."""

    id: int
    action: str
    new: bool
    matches: bool


@permission(CASE_READERS, "Which cases the caller may see changed since a point of the timeline")
def case_changes(
    uow: UnitOfWork,
    actor: Actor,
    position: FeedPosition,
    f: CaseFilter,
    ports: CasePorts,
    clock: float | None = None,
) -> list[CaseChange]:
    """The cases whose timeline grew since POSITION (moved on past what was read) that the
    caller may see now, each once: what a page pushed by server-sent events tells its
    reader. Cases outside her scope are left out, so nothing is said of them, not even
    their numbers."""
    items = EventLog(uow.session).feed(
        position, CASE_KIND, clock=time.monotonic() if clock is None else clock
    )
    if not items:
        return []
    latest: dict[int, str] = {}
    new: set[int] = set()
    for item in items:
        latest[item.record_id] = item.action
        if item.action == SystemEvent.REPORT.value:
            new.add(item.record_id)
    cases = CaseRepository(uow.session)
    scope = scope_of(actor)
    ids = list(latest)
    visible = cases.among(scope, ids)
    f.now = f.now or ports.clock()
    matching = cases.among(scope, sorted(visible), f)
    return [
        CaseChange(case_id, latest[case_id], case_id in new, case_id in matching)
        for case_id in ids
        if case_id in visible
    ]


@permission(CASE_READERS, "Where the case feed stands now")
def feed_start(uow: UnitOfWork, actor: Actor) -> FeedPosition:
    """A position at the newest event: a page drawn now hears of what happens next."""
    return FeedPosition(EventLog(uow.session).newest())


@dataclass(frozen=True)
class Handover:
    """How a case last went to a unit or came back (its newest dispatch, whistle, return,
    escalation or reopening): a returned case's unit and reason (退回); a whistle's units,
    its lead, its reason and its meeting (吹哨)."""

    action: str
    at: datetime
    by: str
    reason: str
    department: str | None = None
    departments: tuple[str, ...] = ()
    lead: str | None = None
    meeting_at: datetime | None = None

    @property
    def returned(self) -> bool:
        return self.action == Action.RETURN.value

    @property
    def whistle(self) -> bool:
        return self.action == Action.WHISTLE.value


# The timeline rows that send a case to a unit or bring it back.
_HANDOVERS = (
    Action.RETURN.value,
    Action.DISPATCH.value,
    Action.WHISTLE.value,
    Action.ESCALATE.value,
    Action.REOPEN.value,
)


@permission(CASE_READERS, "How the cases a list shows last went to a unit or came back")
def handovers_of(uow: UnitOfWork, actor: Actor, shown: Sequence[Case]) -> dict[int, Handover]:
    """For each of SHOWN the caller may see, its newest handover: a registered case whose
    newest is a return is one a unit sent back (with its reason); a case whose newest is a
    whistle is handled by several units, one leading."""
    ids = [c.id for c in shown if c.id is not None and can_see(actor, c)]
    moves = CaseRepository(uow.session).last_moves(ids, _HANDOVERS)
    found = {}
    for case_id, event in moves.items():
        data = event.data
        meeting = data.get("meeting_at")
        found[case_id] = Handover(
            action=event.action,
            at=event.at,
            by=event.actor_name,
            reason=event.note,
            department=data.get("department"),
            departments=tuple(data.get("departments") or ()),
            lead=data.get("lead"),
            meeting_at=datetime.fromisoformat(meeting) if meeting else None,
        )
    return found


# An export holds at most this many cases (all pages of a list; a city's open cases fit).
EXPORT_CAP = 100_000
# Its personal data is logged in entries of this many cases each.
EXPORT_LOG_CHUNK = 5000


@dataclass
class CaseExport:
    """A list's cases for a spreadsheet: its columns' names and its rows, in the reader's
    language, times as naive datetimes in the city's time zone, reporters masked for her."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    timezone: str
    datetime_columns: frozenset[int]


EXPORT_COLUMNS = (
    N_("export.case.id"),
    N_("export.case.title"),
    N_("export.case.category"),
    N_("export.case.status"),
    N_("export.case.light"),
    N_("export.case.priority"),
    N_("export.case.channel"),
    N_("export.case.grid"),
    N_("export.case.address"),
    N_("export.case.lat"),
    N_("export.case.lon"),
    N_("export.case.unit"),
    N_("export.case.reported_at"),
    N_("export.case.deadline"),
    N_("export.case.supporters"),
    N_("export.case.reporter"),
    N_("export.case.phone"),
    N_("export.case.description"),
)
_EXPORT_TIMES = frozenset({12, 13})


@permission(CASE_READERS, "Export the cases of a list (all its pages) for a spreadsheet")
def export_cases(
    uow: UnitOfWork, actor: Actor, f: CaseFilter, ports: CasePorts, locale: Locale
) -> CaseExport:
    """Every case the caller may see that matches F, by deadline as the queue shows them
    (at most EXPORT_CAP), with their first reporter's name and phone masked unless the
    caller reads reporters in full (core.masking); a read in full is logged in the audit
    log with the cases it held."""
    now = ports.clock()
    f.now = f.now or now
    routing = ports.routing.fresh(uow)
    cases = CaseRepository(uow.session)
    rows = cases.rows_for_export(scope_of(actor), f, EXPORT_CAP + 1)
    truncated = len(rows) > EXPORT_CAP
    rows = rows[:EXPORT_CAP]
    ids = [int(r.id) for r in rows]
    reporters = cases.first_reporters(ids)
    units = {d.code: d.name for d in DepartmentRepository(uow.session).list()}
    areas = AreaRepository(uow.session).get_many({str(r.grid_code) for r in rows})
    grids = {code: area.name for code, area in areas.items()}
    full = masking.reads_in_full(actor.role, Whose.REPORTER)
    zone = ZoneInfo(ports.settings.timezone)

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None

    def label(key: str) -> str:
        return translate(key, locale)

    def category(code: str) -> str:
        found = routing.categories.get(code)
        if found is None:
            return code
        return found.name_en if locale == "en" and found.name_en else found.name

    def light(row: Any) -> str:
        if row.deadline_at is None or row.status not in OPEN_STATUSES:
            return Light.NONE.value
        if now >= row.deadline_at:
            return Light.RED.value
        return Light.YELLOW.value if row.warn_at and now >= row.warn_at else Light.GREEN.value

    table = []
    for row in rows:
        reporter = reporters.get(int(row.id))
        name = phone = ""
        if reporter is not None:
            if reporter.hidden and not full:
                name = label(N_("export.case.anonymous"))
            else:
                name = masking.name(reporter.name, actor.role, Whose.REPORTER)
            phone = (
                masking.phone(reporter.phone, actor.role, Whose.REPORTER) if reporter.phone else ""
            )
        text = str(row.description)
        title = str(row.title)
        if not full:
            text = masking.identifiers_in(text, actor.role, Whose.REPORTER)
            title = masking.identifiers_in(title, actor.role, Whose.REPORTER)
        unit = row.department_code or row.suggested_department_code or ""
        table.append(
            [
                int(row.id),
                title,
                category(str(row.category_code)),
                label(f"status.{row.status}"),
                label(f"light.{light(row)}"),
                label(f"priority.{row.priority}"),
                label(f"channel.{row.channel}"),
                grids.get(str(row.grid_code), str(row.grid_code)),
                str(row.address),
                row.lat,
                row.lon,
                units.get(unit, unit),
                local(row.created_at),
                local(row.deadline_at),
                int(row.supporters or 0),
                name,
                phone,
                text,
            ]
        )
    if full:
        # Reporters' names and phones written out in full: a read of personal data, logged
        # with the cases it held, a chunk of cases an entry.
        with_contacts = [i for i in ids if i in reporters]
        ledger = Ledger(uow.session)
        for first in range(0, len(with_contacts), EXPORT_LOG_CHUNK):
            chunk = with_contacts[first : first + EXPORT_LOG_CHUNK]
            ledger.append(
                Entry.by(
                    actor,
                    AccessAction.EXPORT,
                    record_kind="case",
                    record_ids=chunk,
                    row_count=len(chunk),
                    fields=("reporter.name", "reporter.phone"),
                    reason="xlsx",
                )
            )
        uow.commit()
    return CaseExport(
        [label(key) for key in EXPORT_COLUMNS],
        table,
        truncated,
        ports.settings.timezone,
        _EXPORT_TIMES,
    )


# ------------------------------------------------------------------ the scheduler


# The tick's job name: its lock keeps two processes (servers, a worker, cron) from ticking
# at once.
TICK_JOB = "cases.tick"


@dataclass
class TickReport:
    marked_overdue: int = 0
    escalated: int = 0


@permission(ADMIN_ROLES, "Mark overdue cases and escalate them per rule")
def tick(uow: UnitOfWork, actor: Actor, ports: CasePorts, batch: int = 500) -> TickReport:
    """What the scheduler does every minute: mark each case whose step deadline passed
    (红灯), and escalate dispatched or in-progress ones whose rule says so; the messages
    this causes go into the outbox with each change (the outbox job delivers them)."""
    now = ports.clock()
    report = TickReport()
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
                notify(cases, case, event, ports)
                report.escalated += 1
        uow.commit()
    return report


def tick_job(ports: CasePorts) -> PeriodicJob:
    """The scheduler's every-minute job: `tick` as the system."""

    def run(uow: UnitOfWork) -> str:
        done = tick(uow, SCHEDULER, ports)
        if not (done.marked_overdue or done.escalated):
            return ""
        return f"{done.marked_overdue} overdue marked, {done.escalated} escalated"

    return PeriodicJob(TICK_JOB, timedelta(seconds=ports.settings.scheduler_interval_seconds), run)


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
def replace_categories(
    uow: UnitOfWork, actor: Actor, parsed: Parsed[Category], *, deactivate_in_use: bool = False
) -> TaxonomyChanges:
    """Install a taxonomy checked by cases.taxonomy.check_categories; nothing is written
    when any row is wrong. Categories left out are deactivated, never deleted; a list that
    leaves out ones an open case or the authority list in force still names is refused
    naming them, unless DEACTIVATE_IN_USE. Returns what changed."""
    if parsed.problems:
        raise RowsRejected(parsed.problems)
    items = [c for _, c in parsed.items]
    taxonomy = TaxonomyRepository(uow.session)
    changes = taxonomy_changes(taxonomy.categories(), items)
    in_use = taxonomy.in_use(changes.deactivated)
    if in_use and not deactivate_in_use:
        raise InvalidInput("categories_still_in_use", count=len(in_use), codes=", ".join(in_use))
    ordered = sorted(items, key=lambda c: c.parent_code is not None)  # groups first
    taxonomy.replace_categories(ordered)
    uow.commit()
    return changes


@permission(PUBLIC, "The authority list")
def list_rules(uow: UnitOfWork, actor: Actor) -> list[AuthorityRule]:
    """The published authority list (事权清单): who handles what, at which level, how fast."""
    return list(TaxonomyRepository(uow.session).rules())


def _rule_problems(
    uow: UnitOfWork, row: int, rule: AuthorityRule, known_categories: set[str]
) -> list[RowProblem]:
    """What is wrong with one line against the categories, units and areas, and its hours."""
    problems = []
    if rule.category_code not in known_categories:
        problems.append(
            RowProblem(row, "category", "csv_unknown_category", {"value": rule.category_code})
        )
    if rule.department_code and DepartmentRepository(uow.session).get(rule.department_code) is None:
        problems.append(
            RowProblem(row, "department", "csv_unknown_department", {"value": rule.department_code})
        )
    if rule.area_code and AreaRepository(uow.session).get(rule.area_code) is None:
        problems.append(RowProblem(row, "area", "csv_unknown_area", {"value": rule.area_code}))
    if rule.level is Level.GRID:
        problems.append(RowProblem(row, "level", "csv_bad_level", {"value": rule.level.value}))
    if rule.department_function is None and not rule.department_code:
        problems.append(RowProblem(row, "function", "csv_function_or_department"))
    for name, key, params in limit_problems(rule.limits):
        problems.append(RowProblem(row, name, key, params))
    return problems


def _new_version(
    uow: UnitOfWork, actor: Actor, change: ListChange, reason: str
) -> AuthorityListVersion:
    """A new version of the authority list (its row of history comes with _record)."""
    return TaxonomyRepository(uow.session).new_version(change, actor.name, reason.strip())


def _record(
    uow: UnitOfWork, actor: Actor, version: AuthorityListVersion, data: dict[str, object]
) -> None:
    """The version's row in the list's history: who, when, how, why and what changed."""
    EventLog(uow.session).add(
        Event(
            kind=AUTHORITY_LIST_KIND,
            record_id=version.id,
            action=version.change.value,
            actor_name=actor.name,
            actor_role=actor.role.value if actor.role else "",
            from_state=None,
            to_state=None,
            at=version.created_at,
            note=version.reason,
            data=data,
        )
    )


@dataclass(frozen=True)
class ListReplaced:
    """What replacing the authority list did: its new version (None when nothing changed)
    and how many lines were added, removed and kept."""

    version: int | None
    changes: ListChanges
    lines: int


@permission(ADMIN_ROLES, "Replace the authority list")
def replace_rules(
    uow: UnitOfWork,
    actor: Actor,
    parsed: Parsed[AuthorityRule],
    reason: str = "",
    *,
    allow_unrouted: bool = False,
) -> ListReplaced:
    """Install an authority list read by cases.taxonomy.parse_rules, after checking every
    row against the categories, departments and areas; all rows or none. A list that
    leaves active categories with no line at any level (their cases would wait for the
    city's centre to route them by hand) is refused naming them, unless ALLOW_UNROUTED.
    It becomes a new version in which lines written as before keep their numbers: open
    cases keep the version they were routed by."""
    taxonomy = TaxonomyRepository(uow.session)
    categories = list(taxonomy.categories())
    known_categories = {c.code for c in categories}
    problems = list(parsed.problems)
    for row, rule in parsed.items:
        problems += _rule_problems(uow, row, rule, known_categories)
    if problems:
        parsed.problems = sorted(problems, key=lambda p: p.row)
        raise RowsRejected(parsed.problems)
    rules = [rule for _, rule in parsed.items]
    unrouted = _unrouted(categories, rules)
    if unrouted and not allow_unrouted:
        raise InvalidInput(
            "rules_leave_unrouted", count=len(unrouted), codes=", ".join(unrouted[:20])
        )
    in_force = list(taxonomy.rules())
    if sorted(str(r.facts()) for r in rules) == sorted(str(r.facts()) for r in in_force):
        return ListReplaced(None, ListChanges(0, 0, len(rules)), len(rules))
    version = _new_version(uow, actor, ListChange.REPLACE, reason)
    changes = taxonomy.replace_rules(rules, version.id or 0)
    _record(
        uow,
        actor,
        version,
        {
            "lines": len(rules),
            "added": changes.added,
            "removed": changes.removed,
            "kept": changes.kept,
            "unrouted": unrouted,
        },
    )
    uow.commit()
    return ListReplaced(version.id, changes, len(rules))


def _unrouted(categories: Sequence[Category], rules: Sequence[AuthorityRule]) -> list[str]:
    """The active level-2 categories no line of RULES routes (neither their own line nor
    their group's, at any level)."""
    routed = {rule.category_code for rule in rules}
    return [
        c.code
        for c in categories
        if c.active
        and c.parent_code is not None
        and c.code not in routed
        and c.parent_code not in routed
    ]


@dataclass
class RuleEdit:
    """One line of the authority list as an administrator writes it (a whole line: every
    field it has; the hours of steps left out keep the defaults)."""

    category: str
    level: str
    function: str | None = None
    department: str | None = None
    area: str | None = None
    limits: dict[str, float] = field(default_factory=dict)
    auto_escalate: bool = True

    def to_rule(self) -> AuthorityRule:
        try:
            level = Level(self.level)
        except ValueError as exc:
            raise FieldProblem("csv_bad_level", value=self.level, field="level") from exc
        function = None
        if self.function:
            try:
                function = Function(self.function)
            except ValueError as exc:
                raise InvalidInput(
                    "csv_bad_function", value=self.function, field="function"
                ) from exc
        return AuthorityRule(
            category_code=self.category.strip(),
            level=level,
            department_function=function,
            department_code=(self.department or "").strip() or None,
            area_code=(self.area or "").strip() or None,
            limits={**TimeLimits().as_dict(), **self.limits},
            auto_escalate=self.auto_escalate,
        )


def _checked_rule(uow: UnitOfWork, edit: RuleEdit) -> AuthorityRule:
    rule = edit.to_rule()
    known = {c.code for c in TaxonomyRepository(uow.session).categories()}
    problems = _rule_problems(uow, 0, rule, known)
    if problems:
        raise InvalidFields(
            [FieldProblem(p.key, **(p.params | {"field": p.column})) for p in problems]
        )
    return rule


def _rule_in_force(uow: UnitOfWork, rule_id: int) -> AuthorityRule:
    rule = TaxonomyRepository(uow.session).rule(rule_id)
    if rule is None or rule.version_to is not None:
        raise NotFound("rule_not_found", id=rule_id)
    return rule


@permission(ADMIN_ROLES, "Add one line to the authority list")
def add_rule(uow: UnitOfWork, actor: Actor, edit: RuleEdit, reason: str) -> AuthorityRule:
    """A new line, checked like a row of an imported list; it makes a new version."""
    _require_reason(reason)
    rule = _checked_rule(uow, edit)
    version = _new_version(uow, actor, ListChange.ADD, reason)
    _record(uow, actor, version, {"new": rule.facts()})
    TaxonomyRepository(uow.session).add_rule(rule, version.id or 0)
    uow.commit()
    return rule


@permission(ADMIN_ROLES, "Change one line of the authority list")
def change_rule(
    uow: UnitOfWork, actor: Actor, rule_id: int, edit: RuleEdit, reason: str
) -> AuthorityRule:
    """The line as written now: a new line takes its place in a new version, and the old
    one stays with the versions (and the open cases) it belonged to."""
    _require_reason(reason)
    old = _rule_in_force(uow, rule_id)
    rule = _checked_rule(uow, edit)
    if rule.facts() == old.facts():
        raise InvalidInput("rule_unchanged", id=rule_id, field="category")
    version = _new_version(uow, actor, ListChange.CHANGE, reason)
    _record(uow, actor, version, {"rule": rule_id, "old": old.facts(), "new": rule.facts()})
    taxonomy = TaxonomyRepository(uow.session)
    taxonomy.end_rule(old, version.id or 0)
    taxonomy.add_rule(rule, version.id or 0)
    uow.commit()
    return rule


@permission(ADMIN_ROLES, "Remove one line from the authority list")
def remove_rule(uow: UnitOfWork, actor: Actor, rule_id: int, reason: str) -> AuthorityListVersion:
    """The line leaves the list in a new version (cases routed by it keep it)."""
    _require_reason(reason)
    old = _rule_in_force(uow, rule_id)
    version = _new_version(uow, actor, ListChange.REMOVE, reason)
    _record(uow, actor, version, {"rule": rule_id, "old": old.facts()})
    TaxonomyRepository(uow.session).end_rule(old, version.id or 0)
    uow.commit()
    return version


def _require_reason(reason: str) -> None:
    if not reason.strip():
        raise FieldProblem("rule_reason_required", field="reason")


@dataclass(frozen=True)
class ListVersion:
    version: AuthorityListVersion
    event: Event | None  # its row in the list's history (what changed)


@permission(STAFF, "The versions of the authority list")
def rule_versions(uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[ListVersion]:
    """Every version of the authority list, newest first: who made it, when, how, why and
    what it changed."""
    versions = list(TaxonomyRepository(uow.session).versions(limit))
    ids = [v.id for v in versions if v.id is not None]
    events = EventLog(uow.session).of_kind(AUTHORITY_LIST_KIND, ids)
    return [ListVersion(v, next(iter(events.get(v.id or 0, [])), None)) for v in versions]


class RowsRejected(InvalidInput):
    """Some rows of an import are wrong; `problems` names each (row, field, reason)."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(N_("csv_rows_rejected"), count=len(problems), first=first.message("en"))

    def message(self, locale: Locale) -> str:
        return "; ".join(p.message(locale) for p in self.problems[:20])
