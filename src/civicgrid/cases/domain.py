"""Cases (事件/工单): the 12345 / 数字城管 workflow as plain Python.

A case is a record kind of the workflow kernel (core.workflow): the transition table,
each action's rule (roles and their relations to the case: in its area, the lead unit, a
summoned unit, its reporter) and the time limit of each step are declared once, in CASE at
the end of this module; `Case.apply` lets the kernel check them and returns the timeline
row (an `Event`), and history is never rewritten. Deadlines are stored on the case
(deadline_at, warn_at) so "what is overdue" is one indexed query, as Healthchecks does with
`going_down_after`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from civicgrid.areas.domain import LEVELS, Function, Level
from civicgrid.core.errors import CivicGridError, Conflict, Forbidden, InvalidInput
from civicgrid.core.i18n import N_
from civicgrid.core.permissions import Actor, Role
from civicgrid.core.workflow import (
    WARNING_SHARE,
    ActionSpec,
    Context,
    Event,
    FieldRequired,
    Grant,
    Light,
    RecordKind,
    Relation,
    grant,
    in_area,
)

# The kind's name in the event log (events.kind) and in the outbox.
CASE_KIND = "case"
# The prefix of the workflow kernel's messages about cases ("case_wrong_state", "case_act.*").
CASE_MESSAGES = "case"


class Channel(StrEnum):
    RESIDENT_WEB = "resident_web"
    OPEN311 = "open311"
    HOTLINE = "hotline"
    GRID_WORKER = "grid_worker"
    SENSOR = "sensor"
    WECHAT_GROUP = "wechat_group"


class Status(StrEnum):
    REPORTED = "reported"  # 上报
    ACCEPTED = "accepted"  # 受理
    REJECTED = "rejected"  # 不予受理
    REGISTERED = "registered"  # 立案
    DISPATCHED = "dispatched"  # 派遣
    IN_PROGRESS = "in_progress"  # 处置中
    SUSPENDED = "suspended"  # 挂账
    RESOLVED = "resolved"  # 处置完成
    VERIFIED = "verified"  # 核查通过
    CLOSED = "closed"  # 结案
    VOIDED = "voided"  # 作废
    MERGED = "merged"  # 合并到另一案件


OPEN_STATUSES: frozenset[Status] = frozenset(
    {
        Status.REPORTED,
        Status.ACCEPTED,
        Status.REGISTERED,
        Status.DISPATCHED,
        Status.IN_PROGRESS,
        Status.SUSPENDED,
        Status.RESOLVED,
        Status.VERIFIED,
    }
)


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"  # every time limit is halved


class Action(StrEnum):
    ACCEPT = "accept"  # 受理
    REJECT = "reject"  # 不予受理
    REGISTER = "register"  # 立案
    DISPATCH = "dispatch"  # 派遣
    WHISTLE = "whistle"  # 吹哨: several departments, one lead
    RETURN = "return"  # 退回
    START = "start"  # 开始处置
    CHECK_IN = "check_in"  # 部门报到 (a co-handler of a whistled case)
    RESOLVE = "resolve"  # 处置完成
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"  # 批准延期
    DENY_EXTENSION = "deny_extension"  # 驳回延期
    SUSPEND = "suspend"  # 挂账
    RESUME = "resume"  # 恢复办理
    VERIFY = "verify"  # 核查通过
    REWORK = "rework"  # 核查不通过，返工
    CLOSE = "close"  # 结案
    RATE = "rate"  # 回访评价
    REOPEN = "reopen"  # 重新办理
    VOID = "void"  # 作废
    ESCALATE = "escalate"  # 上报上级
    MERGE = "merge"  # 合并重复件
    AMEND = "amend"  # 修改分类、位置或紧急程度 (overrides, recorded)
    RESOLVE_ON_SPOT = "resolve_on_spot"  # 就地解决 (a grid worker's own report)


class SystemEvent(StrEnum):
    """Timeline rows written by the platform, not by a person's action."""

    REPORT = "report"  # the case came in
    OVERDUE = "overdue"  # a step's deadline passed
    ABSORB = "absorb"  # a duplicate was merged into this case


class ResidentEvent(StrEnum):
    """Timeline rows of residents that change no state (so not in TRANSITIONS)."""

    JOIN = "join"  # 附议: another resident adds their voice to an open case


# The timeline's name for a resident who reported without an account, and for one who
# proved to be a case's reporter by its number and her phone (reporter:<reporter id>).
GUEST_NAME = "guest"
REPORTER_PREFIX = "reporter:"

# What a reporter may do to her own case (also from the tracking page, without an account).
REPORTER_ACTIONS: frozenset[Action] = frozenset(
    {Action.VERIFY, Action.REWORK, Action.RATE, Action.REOPEN}
)


_BEFORE_DISPATCH = (Status.REPORTED, Status.ACCEPTED, Status.REGISTERED)

TRANSITIONS: dict[Action, dict[Status, Status]] = {
    Action.ACCEPT: {Status.REPORTED: Status.ACCEPTED},
    Action.REJECT: {Status.REPORTED: Status.REJECTED},
    Action.REGISTER: {Status.ACCEPTED: Status.REGISTERED},
    Action.DISPATCH: {Status.REGISTERED: Status.DISPATCHED},
    Action.WHISTLE: {Status.REGISTERED: Status.DISPATCHED},
    Action.RETURN: {Status.DISPATCHED: Status.REGISTERED},
    Action.START: {Status.DISPATCHED: Status.IN_PROGRESS},
    Action.CHECK_IN: {
        Status.DISPATCHED: Status.DISPATCHED,
        Status.IN_PROGRESS: Status.IN_PROGRESS,
    },
    Action.RESOLVE: {Status.IN_PROGRESS: Status.RESOLVED},
    Action.REQUEST_EXTENSION: {Status.IN_PROGRESS: Status.IN_PROGRESS},
    Action.APPROVE_EXTENSION: {Status.IN_PROGRESS: Status.IN_PROGRESS},
    Action.DENY_EXTENSION: {Status.IN_PROGRESS: Status.IN_PROGRESS},
    Action.SUSPEND: {Status.IN_PROGRESS: Status.SUSPENDED},
    Action.RESUME: {Status.SUSPENDED: Status.IN_PROGRESS},
    Action.VERIFY: {Status.RESOLVED: Status.VERIFIED},
    Action.REWORK: {Status.RESOLVED: Status.IN_PROGRESS},
    Action.CLOSE: {Status.VERIFIED: Status.CLOSED},
    Action.RATE: {Status.CLOSED: Status.CLOSED},
    Action.REOPEN: {Status.CLOSED: Status.REGISTERED},
    Action.VOID: {status: Status.VOIDED for status in OPEN_STATUSES},
    Action.ESCALATE: {status: Status.REGISTERED for status in OPEN_STATUSES},
    Action.MERGE: {status: Status.MERGED for status in _BEFORE_DISPATCH},
    Action.AMEND: {status: status for status in _BEFORE_DISPATCH},
    Action.RESOLVE_ON_SPOT: {Status.REPORTED: Status.CLOSED},
}

# Residents may reopen a closed case of theirs for this long.
REOPEN_WINDOW = timedelta(days=7)

# ------------------------------------------------------------------ time limits

# The step each state waits for, and so which time limit applies while in it.
STEP_OF_STATUS: dict[Status, str] = {
    Status.REPORTED: "accept",
    Status.ACCEPTED: "register",
    Status.REGISTERED: "dispatch",
    Status.DISPATCHED: "start",
    Status.IN_PROGRESS: "handle",
    Status.RESOLVED: "verify",
    Status.VERIFIED: "close",
}
STEPS = ("accept", "register", "dispatch", "start", "handle", "verify", "close")


@dataclass(frozen=True)
class TimeLimits:
    """Hours allowed for each step (from the authority list)."""

    accept: float = 2
    register: float = 4
    dispatch: float = 4
    start: float = 24
    handle: float = 72
    verify: float = 24
    close: float = 24

    def hours(self, step: str) -> float:
        return float(getattr(self, step))

    def as_dict(self) -> dict[str, float]:
        return {step: self.hours(step) for step in STEPS}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> TimeLimits:
        if not data:
            return cls()
        return cls(**{step: float(data[step]) for step in STEPS if step in data})


# ------------------------------------------------------------------ taxonomy and authority list


@dataclass(eq=False)
class Category:
    """A two-level taxonomy: level-1 groups (parent_code None) and level-2 categories."""

    code: str
    name: str
    name_en: str = ""
    parent_code: str | None = None
    description: str = ""
    keywords: str = ""  # space-separated words that suggest this category
    urgent: bool = False  # cases in this category start as urgent
    active: bool = True


@dataclass(eq=False)
class AuthorityRule:
    """One line of the authority list (事权清单): cases of CATEGORY handled at LEVEL (within
    AREA, when given) go to the unit with FUNCTION there, or to DEPARTMENT_CODE, with
    these time limits. AUTO_ESCALATE lets the scheduler lift overdue cases a level up."""

    category_code: str
    level: Level
    department_function: Function | None = None
    department_code: str | None = None
    area_code: str | None = None
    limits: dict[str, float] = field(default_factory=dict)
    auto_escalate: bool = True
    # The list's versions this line belongs to: from the version that added it up to (not
    # including) the one that changed or removed it; None while it is in force. A line is
    # never deleted, so an open case keeps the rule it was routed by.
    version_from: int = 0
    version_to: int | None = None
    id: int | None = None

    @property
    def time_limits(self) -> TimeLimits:
        return TimeLimits.from_dict(self.limits)

    def in_version(self, version: int) -> bool:
        return self.version_from <= version and (
            self.version_to is None or version < self.version_to
        )

    def facts(self) -> dict[str, object]:
        """The line as its history records it."""
        return {
            "category": self.category_code,
            "level": self.level.value,
            "function": self.department_function.value if self.department_function else None,
            "department": self.department_code,
            "area": self.area_code,
            "limits": dict(self.time_limits.as_dict()),
            "auto_escalate": self.auto_escalate,
        }

    def copy(self, **changes: Any) -> AuthorityRule:
        """A new line like this one with CHANGES (a change makes a new line; the old one
        stays with the versions it belonged to)."""
        values: dict[str, Any] = {
            "category_code": self.category_code,
            "level": self.level,
            "department_function": self.department_function,
            "department_code": self.department_code,
            "area_code": self.area_code,
            "limits": dict(self.limits),
            "auto_escalate": self.auto_escalate,
        }
        return AuthorityRule(**(values | changes))


# A step may take from a minute to a year: longer is a typing mistake, not a rule.
MAX_STEP_HOURS = 24 * 365
MIN_STEP_HOURS = 1 / 60


def limit_problems(limits: dict[str, Any]) -> list[tuple[str, str, dict[str, object]]]:
    """What is wrong with the hours of each step: (field, message key, params) for each
    step whose hours are not a number from a minute to a year, or that is not a step."""
    problems: list[tuple[str, str, dict[str, object]]] = []
    for step, value in limits.items():
        if step not in STEPS:
            problems.append(
                (step, N_("rule_unknown_step"), {"step": step, "steps": ", ".join(STEPS)})
            )
            continue
        try:
            hours = float(value)
        except (TypeError, ValueError):
            hours = -1.0
        if not MIN_STEP_HOURS <= hours <= MAX_STEP_HOURS or hours != hours:
            problems.append(
                (f"{step}_h", N_("csv_bad_hours"), {"value": value, "max": MAX_STEP_HOURS})
            )
    return problems


class ListChange(StrEnum):
    """How a version of the authority list came about."""

    REPLACE = "replace"  # a whole list imported
    ADD = "add"  # one line added
    CHANGE = "change"  # one line changed
    REMOVE = "remove"  # one line removed


# The authority list's kind in the event log: one event per version.
AUTHORITY_LIST_KIND = "authority_list"


@dataclass(eq=False)
class AuthorityListVersion:
    """One version of the authority list: who made it, when, how and why."""

    change: ListChange
    created_by: str
    created_at: datetime
    reason: str = ""
    id: int | None = None


HANDLING_LEVELS: tuple[Level, ...] = (Level.COMMUNITY, Level.STREET, Level.DISTRICT, Level.CITY)


@dataclass(frozen=True)
class Route:
    """Where a case goes: the handling level, its area there, and the responsible unit
    (None when the authority list names none: the dispatch centre chooses by hand)."""

    level: Level
    area_code: str
    department_code: str | None
    rule_id: int | None
    limits: TimeLimits
    # The version of the authority list it was worked out from.
    version: int | None = None


def chain_of(area_path: str) -> dict[Level, str]:
    """Level → area code along an area path (city/district/street/community/grid)."""
    return dict(zip(LEVELS, area_path.strip("/").split("/"), strict=False))


def route_case(
    category: Category,
    chain: dict[Level, str],
    rules: list[AuthorityRule],
    unit_for: dict[tuple[str, Function], str],
    version: int | None = None,
) -> Route:
    """Route a new case by the authority list to the lowest level that has authority over
    its category (小事不出村); with no rule at any level, to the city's dispatch centre.

    CHAIN maps each level to the case's area at that level (from its grid); UNIT_FOR maps
    (area code, function) to the unit serving that area; RULES are those of the list's
    VERSION."""
    for level in HANDLING_LEVELS:
        if level in chain and _best_rule(rules, category, level, chain) is not None:
            return route_at(level, category, chain, rules, unit_for, version)
    return route_at(Level.CITY, category, chain, rules, unit_for, version)


def route_at(
    level: Level,
    category: Category,
    chain: dict[Level, str],
    rules: list[AuthorityRule],
    unit_for: dict[tuple[str, Function], str],
    version: int | None = None,
) -> Route:
    """The route at exactly LEVEL (used when escalating one level up). Without a rule there,
    the level's dispatch centre chooses the unit by hand (department None)."""
    area_code = chain.get(level, "")
    rule = _best_rule(rules, category, level, chain)
    if rule is None:
        return Route(level, area_code, None, None, TimeLimits(), version)
    department = rule.department_code
    if department is None and rule.department_function is not None:
        department = unit_for.get((area_code, rule.department_function))
    return Route(level, area_code, department, rule.id, rule.time_limits, version)


def _best_rule(
    rules: list[AuthorityRule], category: Category, level: Level, chain: dict[Level, str]
) -> AuthorityRule | None:
    """Rules for the category itself win over rules for its level-1 group; rules for a
    specific area win over general ones."""
    codes = [category.code] + ([category.parent_code] if category.parent_code else [])
    areas = set(chain.values())
    best: tuple[int, int] | None = None
    chosen = None
    for rule in rules:
        if rule.level is not level or rule.category_code not in codes:
            continue
        if rule.area_code is not None and rule.area_code not in areas:
            continue
        score = (codes.index(rule.category_code), 0 if rule.area_code else 1)
        if best is None or score < best:
            best, chosen = score, rule
    return chosen


def next_level_up(level: Level) -> Level | None:
    """community → street → district → city → None."""
    if level not in HANDLING_LEVELS or level is Level.CITY:
        return None
    return HANDLING_LEVELS[HANDLING_LEVELS.index(level) + 1]


# ------------------------------------------------------------------ the case


@dataclass(eq=False)
class CaseHandler:
    """A unit working on a case: the lead, or a co-handler summoned by a whistle (吹哨) who
    reports in (报到)."""

    department_code: str
    lead: bool
    assigned_at: datetime
    checked_in_at: datetime | None = None
    note: str = ""
    id: int | None = None


@dataclass(eq=False)
class Reporter:
    """Someone who reported the problem. A merged duplicate's reporters join the surviving
    case, so every one of them hears its answers."""

    channel: Channel
    name: str = ""
    phone: str = ""
    email: str = ""
    username: str | None = None
    created_at: datetime | None = None
    # Asked not to be named to the public (公开时匿名); the dispatch centre still sees who.
    hidden: bool = False
    # Added her voice (附议) to a case someone else reported: she hears its answers and sees
    # what the public sees of it, not the reporters' words or place.
    supporter: bool = False
    case_id: int | None = None
    id: int | None = None


@dataclass
class Command:
    """What a person asks to do to a case (the body of POST /cases/{id}/actions)."""

    action: Action
    note: str = ""
    reason: str = ""
    department: str | None = None
    departments: list[str] = field(default_factory=list)
    lead: str | None = None
    satisfaction: int | None = None
    into: int | None = None
    hours: float | None = None
    attachments: list[str] = field(default_factory=list)
    # Set by the service once the caller proved to be the case's reporter without an
    # account (its number and her phone): she may then act as its reporter.
    as_reporter: bool = False
    # Worked out by the service for escalate and amend (they need the authority list).
    route: Route | None = None
    # Worked out by the service for a merge: how the two cases differ (another category,
    # metres apart beyond the duplicate radius); such a merge needs a reason.
    unlike: dict[str, Any] = field(default_factory=dict)
    # Worked out by the service for dispatch and whistle: the units named that do not serve
    # the case's area (another district's); sending work there needs a reason.
    outside: list[str] = field(default_factory=list)
    category_code: str | None = None
    priority: Priority | None = None
    location: dict[str, Any] | None = None
    # whistle: when the summoned units meet (optional), a time zone-aware moment.
    meeting_at: datetime | None = None


@dataclass(frozen=True)
class Urgency:
    """How urgent a report reads (insight scores it; see cases.ports.UrgencyScorer)."""

    score: float  # 0 (nothing urgent) to 1
    reasons: tuple[str, ...] = ()  # the words that raised it, for the timeline
    sentiment: float = 0.0  # the tone: −1 (angry, desperate) to 1 (grateful)
    sentiment_label: str = "neutral"  # "negative", "neutral" or "positive"
    sentiment_words: tuple[str, ...] = ()  # the words that set the tone


# A report's words never raise it to urgent unless a threshold is set (see Report).
NEVER_URGENT = 2.0
# A report without a title is known by the start of its description.
TITLE_CHARS = 40


@dataclass
class Report:
    """A report as intake has checked and placed it: everything the domain needs to open a
    case. `open` applies the rules of a new case — its title, its priority, who its
    reporter is — and writes its first timeline row, whoever reports (intake, Open311,
    the demo)."""

    channel: Channel
    description: str
    category: Category
    group: Category | None  # the category's level-1 group
    grid_code: str
    area_path: str
    route: Route
    lat: float | None = None
    lon: float | None = None
    title: str = ""
    address: str = ""
    located_by: str = "point"
    category_given: bool = True
    suggestions: list[tuple[str, float]] = field(default_factory=list)
    urgency: Urgency = Urgency(0.0)
    urgency_threshold: float = NEVER_URGENT
    priority: Priority | None = None  # chosen by staff; residents' choice is ignored
    hidden: bool = False  # 公开时匿名
    reporter_name: str = ""
    reporter_phone: str = ""
    reporter_email: str = ""
    attachments: list[str] = field(default_factory=list)

    def is_urgent(self) -> bool:
        """Urgent by its category or its group, or by its words (a threat, a danger to
        children, …)."""
        return (
            self.category.urgent
            or (self.group is not None and self.group.urgent)
            or self.urgency.score >= self.urgency_threshold
        )

    def open(self, actor: Actor, now: datetime) -> tuple[Case, Reporter, Event]:
        """The new case, its reporter and its first timeline row. A resident or a grid
        worker reporting is the case's reporter account (she follows and may confirm it);
        a resident without an account (ACTOR without a role) is recorded as a resident."""
        staff_priority = self.priority if actor.is_staff else None
        username = actor.name if actor.role in (Role.RESIDENT, Role.GRID_WORKER) else None
        case = Case(
            title=(self.title or self.description[:TITLE_CHARS]).strip(),
            description=self.description,
            channel=self.channel,
            category_code=self.category.code,
            grid_code=self.grid_code,
            area_path=self.area_path,
            handling_level=self.route.level,
            handling_area_code=self.route.area_code,
            created_at=now,
            lat=self.lat,
            lon=self.lon,
            address=self.address,
            priority=staff_priority or (Priority.URGENT if self.is_urgent() else Priority.NORMAL),
            reporter_username=username,
            updated_at=now,
            reporter_hidden=self.hidden,
        )
        case.route_to(self.route, now)
        case.start_clock(now)
        reporter = Reporter(
            channel=self.channel,
            name=self.reporter_name or (actor.display_name if actor.role is Role.RESIDENT else ""),
            phone=self.reporter_phone,
            email=self.reporter_email,
            username=username,
            created_at=now,
            hidden=self.hidden,
        )
        doer = actor if actor.role is not None else Actor(actor.name, Role.RESIDENT)
        event = CASE.event(
            case,
            SystemEvent.REPORT,
            doer,
            now,
            from_state=None,
            data={
                "channel": self.channel.value,
                "located_by": self.located_by,
                "category": self.category.code,
                "category_given": self.category_given,
                "suggestions": [[code, round(c, 3)] for code, c in self.suggestions[:3]],
                "route": {
                    "level": self.route.level.value,
                    "area": self.route.area_code,
                    "department": self.route.department_code,
                    "rule": self.route.rule_id,
                },
                "urgency": {
                    "score": round(self.urgency.score, 3),
                    "reasons": list(self.urgency.reasons),
                },
                "sentiment": {
                    "score": self.urgency.sentiment,
                    "label": self.urgency.sentiment_label,
                    "words": list(self.urgency.sentiment_words),
                },
            },
            attachments=self.attachments,
        )
        return case, reporter, event


@dataclass(eq=False)
class Case:
    description: str
    channel: Channel
    category_code: str
    grid_code: str
    area_path: str
    handling_level: Level
    handling_area_code: str
    created_at: datetime
    title: str = ""
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    status: Status = Status.REPORTED
    priority: Priority = Priority.NORMAL
    department_code: str | None = None
    suggested_department_code: str | None = None
    rule_id: int | None = None
    # The version of the authority list it was routed by: escalating it later follows the
    # same list, whatever replaced it since.
    rule_version: int | None = None
    time_limits: dict[str, float] = field(default_factory=dict)
    reporter_username: str | None = None
    updated_at: datetime | None = None
    step_started_at: datetime | None = None
    deadline_at: datetime | None = None
    warn_at: datetime | None = None
    overdue: bool = False
    rework_count: int = 0
    escalation_count: int = 0
    pending_extension_hours: float | None = None
    paused_remaining_seconds: float | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    satisfaction: int | None = None
    rating_comment: str = ""
    resolution: str = ""
    resolved_on_spot: bool = False
    merged_into_id: int | None = None
    # The first reporter asked not to be named to the public (公开时匿名): public pages
    # leave out what could identify her (her own words), and her photos lose their location.
    reporter_hidden: bool = False
    # Residents who added their voice (附议) instead of reporting the problem again.
    supporters: int = 0
    handlers: list[CaseHandler] = field(default_factory=list)
    id: int | None = None

    # -- reading

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def allowed_actions(self) -> list[Action]:
        return [Action(name) for name in CASE.allowed(self.status)]

    def light(self, now: datetime) -> Light:
        return CASE.light(self, now)

    def reopen_window_passed(self, now: datetime) -> bool:
        """Residents may reopen a closed case for REOPEN_WINDOW after it was closed."""
        return self.closed_at is not None and now - self.closed_at > REOPEN_WINDOW

    def reopen_until(self) -> datetime | None:
        return self.closed_at + REOPEN_WINDOW if self.closed_at is not None else None

    def add_supporter(self, actor: Actor, now: datetime, note: str = "") -> Event:
        """Another resident adds her voice (附议) to this open case instead of reporting the
        same problem again: counted on the case, one timeline row. 409 once it is closed."""
        if not self.is_open:
            raise Conflict("case_not_open_for_support", id=self.id, status=self.status.value)
        self.supporters += 1
        self.updated_at = now
        # Without an account she is a guest: a resident all the same.
        doer = actor if actor.role is not None else Actor(actor.name, Role.RESIDENT)
        return CASE.event(
            self, ResidentEvent.JOIN, doer, now, note=note, data={"supporters": self.supporters}
        )

    @property
    def lead_department(self) -> str | None:
        return next((h.department_code for h in self.handlers if h.lead), None)

    def handler_codes(self) -> set[str]:
        return {h.department_code for h in self.handlers}

    # -- acting (the kernel checks the declaration in CASE)

    def apply(self, command: Command, actor: Actor, now: datetime) -> Event:
        """Carry out COMMAND for ACTOR at NOW, or raise: 409 when the state does not allow
        the action (naming the state and what it does allow), 403 when the actor may not,
        422 when a field the action needs is missing or wrong."""
        action = command.action
        return CASE.apply(
            self,
            action,
            _context(actor, now, command.as_reporter),
            lambda: _HANDLERS[action](self, command, actor, now),
            command=command,
            note=command.note or command.reason,
            attachments=command.attachments,
        )

    def authorize(
        self, actor: Actor, action: Action, now: datetime, *, as_reporter: bool = False
    ) -> None:
        """Raise 403 unless ACTOR may take ACTION on this case now. AS_REPORTER: the caller
        proved to be the case's reporter without an account (see Command.as_reporter)."""
        CASE.authorize(self, action, _context(actor, now, as_reporter))

    def available_actions(
        self, actor: Actor, now: datetime, *, as_reporter: bool = False
    ) -> list[Action]:
        """The actions ACTOR could take on this case right now (for one-click buttons)."""
        return [Action(a) for a in CASE.available(self, _context(actor, now, as_reporter))]

    # -- clocks

    def start_clock(self, now: datetime) -> None:
        """Set the deadline of the current step (called when the case is created)."""
        CASE.restart_clock(self, now)

    def step_hours(self, step: str) -> float:
        """The hours of STEP by the case's rule, halved when the case is urgent."""
        hours = TimeLimits.from_dict(self.time_limits).hours(step)
        return hours / 2 if self.priority is Priority.URGENT else hours

    def mark_overdue(self, now: datetime) -> Event:
        """The scheduler's mark (红灯) when a step's deadline has passed."""
        return CASE.mark_overdue(self, now)

    def longest_extension(self) -> float:
        """The most hours of extension a unit may ask for: the handling time of the case's
        rule (the authority list bounds extensions as it bounds steps)."""
        return TimeLimits.from_dict(self.time_limits).hours("handle")

    def route_to(self, route: Route, now: datetime) -> None:
        """Adopt a route (at intake, amend or escalation): level, area, suggested unit, limits."""
        self.handling_level = route.level
        self.handling_area_code = route.area_code
        self.suggested_department_code = route.department_code
        self.rule_id = route.rule_id
        self.time_limits = route.limits.as_dict()
        if route.version is not None:
            self.rule_version = route.version


# ------------------------------------------------------------------ what each action does


def _require(value: object, field_name: str, action: Action) -> None:
    if value is None or value == "" or value == []:
        raise FieldRequired(CASE_MESSAGES, action.value, field_name)


def _accept(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    return {}


def _reject(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    case.resolution = command.reason
    case.closed_at = now
    return {}


def _outside_needs_reason(command: Command) -> dict[str, Any]:
    """Units that do not serve the case's area are sent work only with the reason why,
    recorded on the timeline."""
    if not command.outside:
        return {}
    if not command.reason:
        raise InvalidInput(
            "case_dispatch_outside", units=", ".join(command.outside), field="reason"
        )
    return {"outside_area": list(command.outside)}


def _dispatch(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    department = command.department or case.suggested_department_code
    _require(department, "department", command.action)
    assert department is not None
    outside = _outside_needs_reason(command)
    case.department_code = department
    case.handlers = [CaseHandler(department, lead=True, assigned_at=now)]
    data: dict[str, Any] = {"department": department, **outside}
    if case.suggested_department_code and department != case.suggested_department_code:
        data["overrides"] = {"department": case.suggested_department_code}
    return data


def _whistle(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    departments = list(dict.fromkeys(command.departments))
    if len(departments) < 2:
        raise InvalidInput("case_whistle_needs_two", field="departments")
    lead = command.lead or departments[0]
    if lead not in departments:
        raise InvalidInput("case_lead_not_summoned", field="lead", lead=lead)
    outside = _outside_needs_reason(command)
    meeting: dict[str, Any] = {}
    if command.meeting_at is not None:
        if command.meeting_at.tzinfo is None or command.meeting_at < now:
            raise InvalidInput("case_meeting_in_past", field="meeting_at")
        meeting = {"meeting_at": command.meeting_at.isoformat()}
    case.department_code = lead
    case.handlers = [CaseHandler(code, lead=code == lead, assigned_at=now) for code in departments]
    return {"departments": departments, "lead": lead, **meeting, **outside}


def _return(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    returned_by = case.department_code
    case.department_code = None
    case.handlers = []
    return {"department": returned_by}


def _start(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    return {}


def _check_in(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    handler = next(h for h in case.handlers if h.department_code == actor.department_code)
    if handler.checked_in_at is not None:
        raise Conflict("case_already_checked_in", id=case.id, department=handler.department_code)
    handler.checked_in_at = now
    handler.note = command.note
    return {"department": handler.department_code}


def _resolve(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    case.resolution = command.note
    case.resolved_at = now
    return {}


def _request_extension(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    if command.hours is None or not math.isfinite(command.hours) or command.hours <= 0:
        raise InvalidInput("case_hours_positive", field="hours")
    # At most the handling time its rule gives: more is a new case's worth of work.
    longest = case.longest_extension()
    if command.hours > longest:
        raise InvalidInput(
            "case_extension_too_long", hours=command.hours, max=longest, field="hours"
        )
    if case.pending_extension_hours is not None:
        raise Conflict("case_extension_pending", id=case.id)
    case.pending_extension_hours = command.hours
    return {"hours": command.hours}


def _approve_extension(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    hours = case.pending_extension_hours
    if hours is None:
        raise Conflict("case_no_extension_pending", id=case.id)
    case.pending_extension_hours = None
    if case.deadline_at is not None and case.step_started_at is not None:
        CASE.set_deadline(case, case.step_started_at, case.deadline_at + timedelta(hours=hours))
    case.overdue = False
    return {
        "hours": hours,
        "deadline_at": case.deadline_at.isoformat() if case.deadline_at else None,
    }


def _deny_extension(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    hours = case.pending_extension_hours
    if hours is None:
        raise Conflict("case_no_extension_pending", id=case.id)
    case.pending_extension_hours = None
    return {"hours": hours}


def _suspend(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    CASE.pause_clock(case, now)
    return {}


def _resume(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    return {}


def _verify(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    return {"passed": True}


def _rework(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    _require(command.reason or command.note, "reason", command.action)
    case.rework_count += 1
    case.resolved_at = None
    return {"passed": False, "rework_count": case.rework_count}


def _close(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    if command.note:
        case.resolution = command.note
    case.closed_at = now
    return {}


def _rate(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    score = command.satisfaction
    if score is None or not 1 <= score <= 5:
        raise InvalidInput("case_satisfaction_range", field="satisfaction")
    if case.satisfaction is not None:
        raise Conflict("case_already_rated", id=case.id)
    case.satisfaction = score
    case.rating_comment = command.note
    return {"satisfaction": score}


def _reopen(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    case.closed_at = case.resolved_at = None
    case.satisfaction = None
    case.department_code = None
    case.handlers = []
    return {}


def _void(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    case.closed_at = now
    return {}


def _escalate(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    route = command.route
    if route is None:
        raise Conflict("case_at_top_level", id=case.id)
    before = {"level": case.handling_level.value, "department": case.department_code}
    case.route_to(route, now)
    case.department_code = None
    case.handlers = []
    case.escalation_count += 1
    case.pending_extension_hours = None
    return {
        "from": before,
        "level": route.level.value,
        "area": route.area_code,
        "suggested_department": route.department_code,
    }


def _merge(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    if command.into is None:
        raise FieldRequired(CASE_MESSAGES, command.action.value, "into")
    if command.into == case.id:
        raise InvalidInput("case_merge_into_itself", field="into")
    data: dict[str, Any] = {"into": command.into}
    if command.unlike:
        # Not a duplicate by the platform's measure (another category, or farther apart
        # than the duplicate radius): merged only with the reason why, recorded.
        if not command.reason:
            raise InvalidInput("case_merge_unlike", field="reason")
        data["unlike"] = command.unlike
    case.merged_into_id = command.into
    case.closed_at = now
    return data


def _amend(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if command.category_code and command.category_code != case.category_code:
        changes["category"] = [case.category_code, command.category_code]
        case.category_code = command.category_code
    if command.priority and command.priority is not case.priority:
        changes["priority"] = [case.priority.value, command.priority.value]
        case.priority = command.priority
    if command.location:
        changes["grid"] = [case.grid_code, command.location["grid_code"]]
        for name, value in command.location.items():
            setattr(case, name, value)
    if not changes:
        raise InvalidInput("case_nothing_to_amend", field="category")
    if command.route is not None:
        changes["suggested_department"] = [
            case.suggested_department_code,
            command.route.department_code,
        ]
        case.route_to(command.route, now)
    CASE.recompute_deadline(case)
    return {"overrides": changes}


def _resolve_on_spot(case: Case, command: Command, actor: Actor, now: datetime) -> dict[str, Any]:
    case.resolution = command.note
    case.resolved_at = case.closed_at = now
    case.resolved_on_spot = True
    return {}


_HANDLERS = {
    Action.ACCEPT: _accept,
    Action.REJECT: _reject,
    Action.REGISTER: _accept,
    Action.DISPATCH: _dispatch,
    Action.WHISTLE: _whistle,
    Action.RETURN: _return,
    Action.START: _start,
    Action.CHECK_IN: _check_in,
    Action.RESOLVE: _resolve,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.APPROVE_EXTENSION: _approve_extension,
    Action.DENY_EXTENSION: _deny_extension,
    Action.SUSPEND: _suspend,
    Action.RESUME: _resume,
    Action.VERIFY: _verify,
    Action.REWORK: _rework,
    Action.CLOSE: _close,
    Action.RATE: _rate,
    Action.REOPEN: _reopen,
    Action.VOID: _void,
    Action.ESCALATE: _escalate,
    Action.MERGE: _merge,
    Action.AMEND: _amend,
    Action.RESOLVE_ON_SPOT: _resolve_on_spot,
}


# ------------------------------------------------------------------ the declaration

# Who may take each action, by role and relation to the case: the dispatch centre acts
# inside its area, the lead unit on the cases it leads (a summoned unit only reports in),
# a grid worker in her grid, a resident on her own report, the administrator anywhere.
CENTRE = frozenset({Role.DISPATCHER, Role.CADRE, Role.ADMIN})
HANDLING = frozenset({Role.HANDLER, Role.API_CLIENT, Role.ADMIN})
UNIT_ROLES = frozenset({Role.HANDLER, Role.API_CLIENT})


def _unit_refusal(case: Case, context: Context) -> CivicGridError:
    mine = context.actor.department_code
    if mine is None or mine not in case.handler_codes():
        return Forbidden("case_not_your_department", id=case.id)
    return Forbidden("case_lead_only", id=case.id, lead=case.lead_department or "-")


def _summoned_refusal(case: Case, context: Context) -> CivicGridError:
    mine = context.actor.department_code
    if mine is not None and mine == case.lead_department:
        return Conflict("case_lead_checks_in", id=case.id)
    return Forbidden("case_not_your_department", id=case.id)


IN_AREA: Relation[Case] = in_area(lambda case: case.area_path, lambda case: case.grid_code)
LEAD_UNIT: Relation[Case] = Relation(
    "lead_unit",
    lambda case, ctx: (
        ctx.actor.department_code is not None and ctx.actor.department_code == case.lead_department
    ),
    _unit_refusal,
)
SUMMONED_UNIT: Relation[Case] = Relation(
    "summoned_unit",
    lambda case, ctx: (
        ctx.actor.department_code in case.handler_codes()
        and ctx.actor.department_code != case.lead_department
    ),
    _summoned_refusal,
)
# A summoned unit reports in once: then its card says 已报到 and offers it no more.
NOT_YET_CHECKED_IN: Relation[Case] = Relation(
    "not_yet_checked_in",
    lambda case, ctx: (
        not any(
            h.department_code == ctx.actor.department_code and h.checked_in_at is not None
            for h in case.handlers
        )
    ),
    lambda case, ctx: Conflict(
        "case_already_checked_in", id=case.id, department=ctx.actor.department_code or "-"
    ),
)
# The account that filed the report, or a reporter who proved herself by the case's
# number and her phone (Context.proven).
REPORTER: Relation[Case] = Relation(
    "reporter",
    lambda case, ctx: (
        case.reporter_username is not None and case.reporter_username == ctx.actor.name
    ),
    lambda case, ctx: Forbidden("case_not_yours", id=case.id),
)
WITHIN_REOPEN_WINDOW: Relation[Case] = Relation(
    "within_reopen_window",
    lambda case, ctx: not case.reopen_window_passed(ctx.now),
    lambda case, ctx: Forbidden("case_reopen_window", days=REOPEN_WINDOW.days),
)

ADMIN: Grant[Case] = grant({Role.ADMIN})
BY_CENTRE: tuple[Grant[Case], ...] = (ADMIN, grant({Role.DISPATCHER, Role.CADRE}, IN_AREA))
BY_LEAD_UNIT: tuple[Grant[Case], ...] = (ADMIN, grant(UNIT_ROLES, LEAD_UNIT))
GRANTS: dict[Action, tuple[Grant[Case], ...]] = {
    Action.ACCEPT: BY_CENTRE,
    Action.REJECT: BY_CENTRE,
    Action.REGISTER: BY_CENTRE,
    Action.DISPATCH: BY_CENTRE,
    Action.WHISTLE: BY_CENTRE,
    Action.RETURN: BY_LEAD_UNIT,
    Action.START: BY_LEAD_UNIT,
    Action.CHECK_IN: (ADMIN, grant(UNIT_ROLES, SUMMONED_UNIT, NOT_YET_CHECKED_IN)),
    Action.RESOLVE: BY_LEAD_UNIT,
    Action.REQUEST_EXTENSION: BY_LEAD_UNIT,
    Action.APPROVE_EXTENSION: BY_CENTRE,
    Action.DENY_EXTENSION: BY_CENTRE,
    Action.SUSPEND: BY_CENTRE,
    Action.RESUME: BY_CENTRE,
    # 核查: the grid worker of the case's grid, the centre, or its reporter.
    Action.VERIFY: (
        *BY_CENTRE,
        grant({Role.GRID_WORKER}, IN_AREA),
        grant({Role.RESIDENT}, REPORTER),
    ),
    Action.REWORK: (
        *BY_CENTRE,
        grant({Role.GRID_WORKER}, IN_AREA),
        grant({Role.RESIDENT}, REPORTER),
    ),
    Action.CLOSE: BY_CENTRE,
    # 回访: the reporter rates; the hotline may record a rating given on the phone.
    Action.RATE: (ADMIN, grant({Role.DISPATCHER}, IN_AREA), grant({Role.RESIDENT}, REPORTER)),
    Action.REOPEN: (*BY_CENTRE, grant({Role.RESIDENT}, REPORTER, WITHIN_REOPEN_WINDOW)),
    Action.VOID: (ADMIN,),
    Action.ESCALATE: (*BY_CENTRE, grant(UNIT_ROLES, LEAD_UNIT)),
    Action.MERGE: BY_CENTRE,
    Action.AMEND: BY_CENTRE,
    # 就地解决: a grid worker closes her own report in her grid on the spot, with a photo.
    Action.RESOLVE_ON_SPOT: (grant({Role.GRID_WORKER}, IN_AREA, REPORTER),),
}
REQUIRES: dict[Action, tuple[str, ...]] = {
    Action.REJECT: ("reason",),
    # 吹哨: the units summoned hear why, so each comes ready.
    Action.WHISTLE: ("reason",),
    Action.RETURN: ("reason",),
    Action.RESOLVE: ("note",),
    Action.REQUEST_EXTENSION: ("reason",),
    Action.SUSPEND: ("reason",),
    Action.REOPEN: ("reason",),
    Action.VOID: ("reason",),
    Action.ESCALATE: ("reason",),
    Action.RESOLVE_ON_SPOT: ("note", "attachments"),
}


def _step_hours(case: Case, step: str) -> float:
    return case.step_hours(step)


CASE: RecordKind[Case] = RecordKind(
    name=CASE_KIND,
    actions={
        action.value: ActionSpec(
            action.value,
            {before.value: after.value for before, after in TRANSITIONS[action].items()},
            GRANTS[action],
            REQUIRES.get(action, ()),
            clock="resume" if action is Action.RESUME else "restart",
        )
        for action in Action
    },
    open_states=frozenset(s.value for s in OPEN_STATUSES),
    messages=CASE_MESSAGES,
    # A person reads a case's states and actions as the pages show them.
    state_labels="status",
    action_labels="action",
    state_field="status",
    steps={status.value: step for status, step in STEP_OF_STATUS.items()},
    step_hours=_step_hours,
    warning_share=WARNING_SHARE,
)


def _context(actor: Actor, now: datetime, as_reporter: bool) -> Context:
    return Context(actor, now, frozenset({REPORTER.name}) if as_reporter else frozenset())


# ------------------------------------------------------------------ what the public may read

# Cases about a person: where the place of the report is someone's home and the problem is
# their own life. Their location is published only as the centre of their grid and their
# words not at all (the category stands in for the title). By level-1 group: social security
# and civil affairs (elderly care, social assistance, labour disputes, social insurance).
# By category: building safety (a home's cracks and leaks), group rentals (one flat and its
# tenants), public order (names suspects and victims), neighbour disputes, medical service
# (a patient), education services (a child).
PERSONAL_GROUPS: frozenset[str] = frozenset({"SC"})
PERSONAL_CATEGORIES: frozenset[str] = frozenset({"HS02", "HS03", "PS01", "PS03", "HE02", "ED01"})

# Other cases are public places (a road, a drain, a street light); their point is still
# rounded to three decimals (about 100 m), so no pin falls on a reporter's door.
POINT_DECIMALS = 3


def is_about_a_person(category_code: str, group_code: str | None) -> bool:
    return category_code in PERSONAL_CATEGORIES or (group_code or "") in PERSONAL_GROUPS


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Phone numbers, ID card numbers, bank cards: seven or more digits, maybe with spaces,
# dashes or a country code between them, or an ID number ending in X.
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s\-]?\d){6,}[Xx]?")
# The number of a building, entrance, floor or flat ("20号楼", "3单元", "501室", "Apt 4B"):
# the street or estate may be published, the door may not.
_HOUSE_NUMBER = re.compile(
    r"\d+[A-Za-z]?\s*(?:号楼|号院|号|栋|幢|座|单元|楼|层|室|户)"
    r"|(?:apt|apartment|unit|flat|room|suite|#)\.?\s*\d+[A-Za-z]?",
    re.IGNORECASE,
)
MASK = "***"


def scrub(text: str, names: Iterable[str] = ()) -> str:
    """TEXT without e-mail addresses, long numbers (phones, ID and card numbers), house,
    entrance and flat numbers, and the given NAMES (the case's reporters)."""
    cleaned = _EMAIL.sub(MASK, text)
    cleaned = _LONG_NUMBER.sub(MASK, cleaned)
    cleaned = _HOUSE_NUMBER.sub(MASK, cleaned)
    for name in sorted({n.strip() for n in names}, key=len, reverse=True):
        if len(name) >= 2:
            cleaned = cleaned.replace(name, MASK)
    return cleaned
