"""Case pages: the dispatch centre, a unit's inbox, the grid worker's phone page and the case
detail (the residents' portal, web.portal, builds on the same pieces).

Like the API, every page only builds a request and calls the case services with the actor
of the login cookie; what a person may see and do is decided there, not here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile as StarletteUpload

from civicgrid.areas import services as areas
from civicgrid.areas.domain import LEVEL_LABELS, Department, Level
from civicgrid.cases import services as cases
from civicgrid.cases.attachments import Upload
from civicgrid.cases.domain import (
    CENTRE,
    GUEST_NAME,
    OPEN_STATUSES,
    REOPEN_WINDOW,
    REPORTER_PREFIX,
    Action,
    Case,
    Category,
    Channel,
    Priority,
    Status,
    SystemEvent,
)
from civicgrid.cases.exports import workbook
from civicgrid.cases.repository import CaseFilter
from civicgrid.cases.services import (
    ActionRequest,
    CasePorts,
    CaseView,
    Handover,
    MapView,
    NewCase,
    NewSupporter,
)
from civicgrid.core import masking
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, Forbidden, InvalidFields, InvalidInput
from civicgrid.core.http import allow, get_uow, platform_of, read_form, request_locale
from civicgrid.core.i18n import (
    N_,
    Locale,
    format_datetime,
    format_duration,
    has_message,
    translate,
)
from civicgrid.core.masking import Whose
from civicgrid.core.permissions import ROLE_LABELS, STAFF, Actor, Role, Rule
from civicgrid.core.types import DB_INT_MAX, RecordId, record_number
from civicgrid.core.workflow import Event, FeedPosition
from civicgrid.insight.warnings.services import WARNING_READERS
from civicgrid.web.pages import TEMPLATES, _safe_next, render
from civicgrid.web.streams import ServerEvent, event_stream, rule_for

router = APIRouter(include_in_schema=False)

# The leader watches the dispatch centre's queue; only the centre acts on it.
DISPATCH_VIEWERS = CENTRE | {Role.LEADER}
# Whom each work page is made for (narrower than the case services it calls).
DISPATCH_PAGE = Rule(DISPATCH_VIEWERS, "the dispatch centre's queue (leaders read it)")
CENTRE_PAGE = Rule(CENTRE, "the dispatch centre's one-click actions")
HANDLERS = frozenset({Role.HANDLER})
INBOX_PAGE = Rule(HANDLERS, "a unit's inbox")
GRID_WORKERS = frozenset({Role.GRID_WORKER})
GRID_PAGE = Rule(GRID_WORKERS, "the grid worker's phone page")
RESIDENTS = frozenset({Role.RESIDENT})

QUICK_ACTIONS = (Action.ACCEPT, Action.REGISTER, Action.DISPATCH)
QUEUE_PAGE_SIZE = 50
LIST_SIZE = 200  # the inbox and the grid page show this many, soonest deadline first
MAX_PHOTOS = 9  # as many as the API takes
# Timeline rows that name the unit they concern.
UNIT_EVENTS = frozenset({Action.DISPATCH.value, Action.RETURN.value, Action.CHECK_IN.value})


def section_links(actor: Actor) -> list[tuple[str, str]]:
    """(path, label key) of the case pages the actor's role works in, for the top bar."""
    role = actor.role
    links = []
    if role in DISPATCH_VIEWERS:
        links.append(("/dispatch", N_("ui.nav.dispatch")))
    if role in HANDLERS:
        links.append(("/inbox", N_("ui.nav.inbox")))
    if role in GRID_WORKERS:
        links.append(("/grid", N_("ui.nav.grid")))
    if role in WARNING_READERS:
        links.append(("/warnings", N_("ui.nav.warnings")))
    if role is None or role in RESIDENTS:
        links.append(("/report", N_("ui.nav.report")))
        links.append(("/track", N_("ui.nav.track")))
    return links


TEMPLATES.env.globals["section_links"] = section_links


def ports_of(request: Request) -> CasePorts:
    ports: CasePorts = platform_of(request).cases
    return ports


# ------------------------------------------------------------------ names and times


class Labels:
    """What the case pages show for codes and clocks, in the reader's language: states,
    actions, categories, units, grids and deadlines."""

    reopen_days = REOPEN_WINDOW.days

    def __init__(
        self,
        locale: Locale,
        now: datetime,
        categories: Sequence[Category],
        units: Sequence[Department] = (),
        grids: dict[str, str] | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.locale = locale
        self.now = now
        self.categories = {c.code: c for c in categories}
        self.units = {d.code: d for d in units}
        self.unit_names: dict[str, str] = {}  # a case's own units, for those not on staff
        self.grids = grids or {}
        self.timezone = timezone
        self.area_names: dict[str, str] = {}  # the units' areas, where the page needs them

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, params)

    def status(self, status: str | None) -> str:
        return self.t(f"status.{status}") if status else ""

    def action(self, action: str) -> str:
        return self.t(f"action.{action}")

    def channel(self, channel: str) -> str:
        return self.t(f"channel.{channel}")

    def priority(self, priority: str) -> str:
        return self.t(f"priority.{priority}")

    def light(self, light: str) -> str:
        return self.t(f"light.{light}")

    def role(self, role: str) -> str:
        return ROLE_LABELS[Role(role)][self.locale] if role else self.t("ui.case.system")

    def level(self, level: str) -> str:
        return LEVEL_LABELS[Level(level)][self.locale]

    def category(self, code: str | None) -> str:
        category = self.categories.get(code or "")
        if category is None:
            return code or ""
        return category.name_en if self.locale == "en" and category.name_en else category.name

    def category_groups(self) -> list[tuple[Category, list[Category]]]:
        """Level-1 groups, each with its level-2 categories (for selects)."""
        groups = [c for c in self.categories.values() if c.parent_code is None]
        return [
            (g, [c for c in self.categories.values() if c.parent_code == g.code]) for g in groups
        ]

    def unit(self, code: str | None) -> str:
        unit = self.units.get(code or "")
        return unit.name if unit else self.unit_names.get(code or "", code or "")

    def grid(self, code: str) -> str:
        return self.grids.get(code, code)

    def area_name(self, code: str) -> str:
        return self.area_names.get(code, code)

    def due(self, case: Case) -> str:
        """'3 h 10 min left' or '2 d 4 h overdue' for the current step's deadline."""
        if case.deadline_at is None or not case.is_open:
            return ""
        left = case.deadline_at - self.now
        if left >= timedelta(0):
            return self.t("ui.due_in", time=format_duration(left, self.locale))
        return self.t("ui.overdue_by", time=format_duration(-left, self.locale))

    def when(self, moment: datetime) -> str:
        """A moment for people, in the city's time zone."""
        return format_datetime(moment, self.locale, self.timezone)

    def where(self, status: str, unit: str | None) -> str:
        """Where a case in STATUS stands now, held by UNIT: "在城管科，等待开始处置"."""
        key = f"ui.where.{status}"
        if not has_message(key):
            return self.status(status)
        return self.t(key, unit=self.unit(unit) if unit else self.t("ui.where.a_unit"))

    def done(
        self, action: str, case_id: int, status: str, unit: str | None, here: bool | None
    ) -> str:
        """The confirmation of an action: what happened, where the case is now, and whether
        it is still in the list the reader came back to (HERE; None on a case's own page)."""
        text = self.t(
            "ui.done.sentence",
            id=case_id,
            done=self.t("ui.case.done", action=self.action(action)),
            where=self.where(status, unit),
        )
        if here is None:
            return text
        where = self.t("ui.done.still_here") if here else self.t("ui.done.left_list")
        return f"{text} {where}"

    def utc(self, moment: datetime | None) -> str:
        """UTC ISO 8601 for <time datetime>, which machines read."""
        if moment is None:
            return ""
        return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def event_details(self, event: Event, staff: bool = False) -> list[str]:
        """The facts of a timeline row beyond its note: units, hours, merges, levels; for
        STAFF also how the report reads (urgency and tone, with the words behind them)."""
        data = event.data
        details = []
        if staff and event.action == SystemEvent.REPORT.value:
            details.extend(self.reading(data))
        if event.action == Action.WHISTLE.value:
            names = "、".join(self.unit(code) for code in data.get("departments", []))
            details.append(
                self.t("ui.event.whistle", names=names, lead=self.unit(data.get("lead")))
            )
            if data.get("meeting_at"):
                at = datetime.fromisoformat(data["meeting_at"])
                details.append(self.t("ui.event.meeting", at=self.when(at)))
        elif event.action in UNIT_EVENTS and data.get("department"):
            details.append(self.t("ui.event.unit", name=self.unit(data["department"])))
        if event.action == Action.REQUEST_EXTENSION.value and data.get("hours"):
            details.append(self.t("ui.event.hours", hours=_number_text(data["hours"])))
        if event.action == Action.MERGE.value and data.get("into"):
            details.append(self.t("ui.event.into", id=data["into"]))
        if event.action == "absorb" and data.get("from"):
            details.append(
                self.t("ui.event.absorbed", id=data["from"], reporters=data.get("reporters", 0))
            )
        if event.action == Action.ESCALATE.value and data.get("level"):
            details.append(self.t("ui.event.level", level=self.level(data["level"])))
        if event.action == Action.RATE.value and data.get("satisfaction"):
            details.append(self.t("ui.event.satisfaction", score=data["satisfaction"]))
        return details

    def reading(self, data: dict[str, Any]) -> list[str]:
        lines = []
        urgency = data.get("urgency") or {}
        if urgency.get("reasons"):
            lines.append(
                self.t(
                    "ui.event.urgency",
                    score=f"{urgency.get('score', 0):.2f}",
                    words="、".join(urgency["reasons"]),
                )
            )
        tone = data.get("sentiment") or {}
        if tone.get("words"):
            lines.append(
                self.t(
                    "ui.event.sentiment",
                    label=self.t(f"sentiment.{tone.get('label', 'neutral')}"),
                    score=f"{tone.get('score', 0):+.2f}",
                    words="、".join(tone["words"]),
                )
            )
        return lines

    def contact(self, text: str, show: bool) -> str:
        """A reporter's phone, e-mail or account, masked unless SHOW (core.masking)."""
        return text if show else masking.identifiers_in(text, None, Whose.REPORTER)

    def person(self, name: str, show: bool) -> str:
        """A reporter's name, masked unless SHOW."""
        return masking.name(name, None, Whose.REPORTER) if not show else name

    def actor(self, event: Event, show: bool = False) -> str:
        """Who did it: the account, or a resident without one (a guest, or a reporter who
        proved the case is hers by its number and her phone). A resident's account may be
        her mobile number: masked unless SHOW."""
        if event.actor_name == GUEST_NAME:
            return self.t("ui.case.guest")
        if event.actor_name.startswith(REPORTER_PREFIX):
            return self.t("ui.case.phone_reporter")
        if event.actor_role == Role.RESIDENT.value:
            return self.contact(event.actor_name, show)
        return event.actor_name

    def plain_timeline(self, view: CaseView) -> list[tuple[Event, str]]:
        """The timeline as sentences a resident understands ("the urban management unit
        took the case"), leaving out rows that only matter inside (amendments, asking for
        time). Units are named by the unit holding the case at that moment."""
        names = view.unit_names
        holder: str | None = None
        lines = []
        for event in view.timeline:
            data = event.data
            if event.action in (Action.DISPATCH.value, Action.RETURN.value):
                holder = data.get("department")
            elif event.action == Action.WHISTLE.value:
                holder = data.get("lead")
            unit = names.get(data.get("department") or holder or "", self.t("plain.a_unit"))
            text = self._plain(event, unit)
            if event.action in (Action.RETURN.value, Action.ESCALATE.value, Action.REOPEN.value):
                holder = None
            if text:
                lines.append((event, text))
        return lines

    def _plain(self, event: Event, unit: str) -> str:
        action, data = event.action, event.data
        by_reporter = event.actor_role == Role.RESIDENT.value
        if action in PLAIN_SKIPPED:
            return ""
        if action in (Action.VERIFY.value, Action.REWORK.value) and by_reporter:
            return self.t(f"plain.{action}_by_reporter")
        params: dict[str, Any] = {"unit": unit}
        if action == Action.APPROVE_EXTENSION.value:
            params["hours"] = _number_text(float(data.get("hours") or 0))
        elif action == Action.RATE.value:
            params["score"] = data.get("satisfaction", "")
        elif action == Action.ESCALATE.value:
            params["level"] = self.level(data["level"]) if data.get("level") else ""
        elif action == Action.MERGE.value:
            params["into"] = data.get("into", "")
        elif action == "absorb":
            params["count"] = data.get("reporters", 0)
        elif action == "join":
            params["count"] = data.get("supporters", 1)
        key = f"plain.{action}"
        return self.t(key, **params) if has_message(key) else self.action(action)


def _number_text(value: float) -> str:
    return f"{value:g}"


# Timeline rows residents are not shown: corrections and requests inside the centre.
PLAIN_SKIPPED = frozenset(
    {Action.AMEND.value, Action.REQUEST_EXTENSION.value, Action.DENY_EXTENSION.value}
)


def labels_for(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    grid_codes: Iterable[str] = (),
    all_grids: bool = False,
) -> Labels:
    """Names for what the page shows. Unit names are for staff (the units list is); grid
    names come from the areas the caller may list."""
    ports = ports_of(request)
    units = areas.list_departments(uow, actor) if actor.role in STAFF else []
    wanted = set(grid_codes)
    grids: dict[str, str] = {}
    if all_grids or len(wanted) > 3:
        grids = {a.code: a.name for a in areas.list_areas(uow, actor, level=Level.GRID)}
    else:
        for code in wanted:
            found = areas.list_areas(uow, actor, level=Level.GRID, q=code, limit=5)
            grids.update({a.code: a.name for a in found if a.code == code})
    return Labels(
        request_locale(request),
        ports.clock(),
        cases.list_categories(uow, actor),
        units,
        grids,
        platform_of(request).settings.timezone,
    )


def case_page(
    request: Request,
    actor: Actor,
    template: str,
    labels: Labels,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return render(
        request, actor, template, status_code=status_code, L=labels, now=labels.now, **context
    )


def error_page(request: Request, actor: Actor, error: CivicGridError) -> HTMLResponse:
    return render(
        request,
        actor,
        "cases/error.html",
        status_code=error.status,
        message=error.message(request_locale(request)),
    )


# ------------------------------------------------------------------ forms


def _number(value: str, name: str) -> float | None:
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput("ui.form.not_a_number", field=name, value=text) from None
    if not math.isfinite(number):
        raise InvalidInput("ui.form.not_a_number", field=name, value=text)
    return number


def _whole(value: str, name: str) -> int | None:
    number = _number(value, name)
    if number is None:
        return None
    # A whole number the database's integer columns hold (a case number, a rating).
    if number != int(number) or abs(number) > DB_INT_MAX:
        raise InvalidInput("ui.form.not_a_number", field=name, value=value.strip())
    return int(number)


def _local_time(value: str, name: str, timezone: str) -> datetime | None:
    """A date and time typed in a form (datetime-local: "2026-03-02T10:15"), in the city's
    time zone."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("ui.whistle.bad_meeting", field=name, value=value) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment


async def form_photos(request: Request) -> list[Upload]:
    """The photos of a multipart form. A browser sends an empty file input as a part without
    a file, which FastAPI's File() would refuse with a JSON error: it is simply no photo."""
    form = await read_form(request)
    photos = []
    for item in form.getlist("photos"):
        if isinstance(item, StarletteUpload):
            content = await item.read()
            if item.filename or content:
                photos.append(Upload(item.filename or "photo", content))
    return photos


def _checked(photos: list[Upload]) -> list[Upload]:
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput("ui.form.too_many_photos", max=MAX_PHOTOS, field="photos")
    return photos


class ActionForm:
    """The fields of every action form on the pages (the pages' ActionIn)."""

    def __init__(
        self,
        photos: Annotated[list[Upload], Depends(form_photos)],
        action: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        department: Annotated[str, Form()] = "",
        departments: Annotated[list[str] | None, Form()] = None,
        lead: Annotated[str, Form()] = "",
        satisfaction: Annotated[str, Form()] = "",
        into: Annotated[str, Form()] = "",
        hours: Annotated[str, Form()] = "",
        passed: Annotated[str, Form()] = "",
        category: Annotated[str, Form()] = "",
        priority: Annotated[str, Form()] = "",
        lat: Annotated[str, Form()] = "",
        lon: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
        meeting_at: Annotated[str, Form()] = "",
    ) -> None:
        self.action = action.strip()
        self.note = note.strip()
        self.reason = reason.strip()
        self.department = department.strip()
        self.departments = [d.strip() for d in departments or [] if d.strip()]
        self.lead = lead.strip()
        self.satisfaction = satisfaction
        self.into = into
        self.hours = hours
        self.passed = passed.strip().lower()
        self.category = category.strip()
        self.priority = priority.strip()
        self.lat = lat
        self.lon = lon
        self.photos = photos
        self.next = next
        self.meeting_at = meeting_at.strip()

    def to_request(self, timezone: str = "UTC") -> ActionRequest:
        """The action asked for; a meeting time typed on the page is the city's (TIMEZONE)."""
        priority = None
        if self.priority:
            if self.priority not in {p.value for p in Priority}:
                raise InvalidInput("ui.form.bad_choice", field="priority", value=self.priority)
            priority = Priority(self.priority)
        return ActionRequest(
            action=self.action,
            note=self.note,
            reason=self.reason,
            department=self.department or None,
            departments=self.departments,
            lead=self.lead or None,
            satisfaction=_whole(self.satisfaction, "satisfaction"),
            into=_whole(self.into, "into"),
            hours=_number(self.hours, "hours"),
            passed={"true": True, "false": False}.get(self.passed),
            category=self.category or None,
            priority=priority,
            lat=_number(self.lat, "lat"),
            lon=_number(self.lon, "lon"),
            attachments=_checked(self.photos),
            meeting_at=_local_time(self.meeting_at, "meeting_at", timezone),
        )

    def values(self) -> dict[str, Any]:
        """What the person typed, to put back into the form after an error."""
        return {
            "departments": self.departments,
            "lead": self.lead,
            "note": self.note,
            "reason": self.reason,
            "hours": self.hours,
            "into": self.into,
            "satisfaction": self.satisfaction,
            "meeting_at": self.meeting_at,
        }


class ReportForm:
    """A report from the grid worker's page or the residents' report page."""

    def __init__(
        self,
        photos: Annotated[list[Upload], Depends(form_photos)],
        category: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        address: Annotated[str, Form()] = "",
        lat: Annotated[str, Form()] = "",
        lon: Annotated[str, Form()] = "",
        name: Annotated[str, Form()] = "",
        phone: Annotated[str, Form()] = "",
        hidden: Annotated[str, Form()] = "",
    ) -> None:
        self.category = category.strip()
        self.description = description.strip()
        self.address = address.strip()
        self.lat = lat.strip()
        self.lon = lon.strip()
        self.name = name.strip()
        self.phone = phone.strip()
        self.hidden = hidden not in ("", "0", "false")
        self.photos = photos

    def to_new_case(self, channel: Channel) -> NewCase:
        """The report, or every field the page itself can tell is wrong, each named."""
        problems: list[CivicGridError] = []
        if not self.description:
            problems.append(InvalidInput("case_description_required", field="description"))
        lat = lon = None
        try:
            lat, lon = _number(self.lat, "lat"), _number(self.lon, "lon")
        except InvalidInput as wrong:
            problems.append(wrong)
        if len(self.photos) > MAX_PHOTOS:
            problems.append(InvalidInput("ui.form.too_many_photos", max=MAX_PHOTOS, field="photos"))
        if problems:
            raise InvalidFields(problems)
        return NewCase(
            description=self.description,
            channel=channel,
            category=self.category or None,
            lat=lat,
            lon=lon,
            address=self.address,
            reporter_name=self.name,
            reporter_phone=self.phone,
            reporter_hidden=self.hidden,
            attachments=self.photos,
        )

    def to_supporter(self) -> NewSupporter:
        """The same form, sent to add one's voice to a case nearby: the description becomes
        her words on that case's timeline, and her pin says where she sees it."""
        lat, lon = _number(self.lat, "lat"), _number(self.lon, "lon")
        return NewSupporter(
            lat=lat,
            lon=lon,
            name=self.name,
            phone=self.phone,
            note=self.description,
            hidden=self.hidden,
            attachments=_checked(self.photos),
        )


# ------------------------------------------------------------------ the dispatch centre


# The queue's status filter for cases in any state, open or finished.
ANY_STATUS = "any"


@dataclass
class QueueQuery:
    """The dispatch queue's filters, read leniently from the query string."""

    status: str = ""
    category: str = ""
    grid: str = ""
    department: str = ""
    overdue: bool = False
    q: str = ""
    page: int = 1
    yellow: bool = False

    @classmethod
    def of(cls, request: Request) -> QueueQuery:
        params = request.query_params
        return cls(
            status=params.get("status", "").strip(),
            category=params.get("category", "").strip(),
            grid=params.get("grid", "").strip(),
            department=params.get("department", "").strip(),
            overdue=params.get("overdue", "") not in ("", "0", "false"),
            q=params.get("q", "").strip(),
            page=record_number(params.get("page")) or 1,
            yellow=params.get("yellow", "") not in ("", "0", "false"),
        )

    def case_filter(self) -> CaseFilter:
        statuses: list[Status] | None = sorted(OPEN_STATUSES)
        if self.status == ANY_STATUS:
            statuses = None  # every state, finished ones (结案, 作废…) too
        elif self.status:
            if self.status not in {s.value for s in Status}:
                # A person reads it: the states are in the list beside it, not codes here.
                raise InvalidInput("ui.dispatch.unknown_status", field="status", value=self.status)
            statuses = [Status(self.status)]
        return CaseFilter(
            statuses=statuses,
            category=self.category or None,
            grid=self.grid or None,
            department=self.department or None,
            overdue=True if self.overdue else None,
            q=self.q or None,
            yellow=self.yellow,
        )

    def query_string(self, page: int | None = None) -> str:
        params: dict[str, str | int] = {
            name: value
            for name, value in (
                ("status", self.status),
                ("category", self.category),
                ("grid", self.grid),
                ("department", self.department),
                ("q", self.q),
            )
            if value
        }
        if self.overdue:
            params["overdue"] = 1
        if self.yellow:
            params["yellow"] = 1
        chosen = page or self.page
        if chosen > 1:
            params["page"] = chosen
        return urlencode(params)


@dataclass
class QueueRow:
    case: Case
    quick: list[Action] = field(default_factory=list)
    done: Action | None = None
    error: str = ""
    # How it last went to a unit or came back: a return (退回) shows with its reason.
    handover: Handover | None = None

    @property
    def returned(self) -> Handover | None:
        back = self.handover
        if back is not None and back.returned and self.case.status is Status.REGISTERED:
            return back
        return None


def queue_row(actor: Actor, case: Case, now: datetime) -> QueueRow:
    """A row of the queue with its one-click actions: accept, register, and dispatch when
    the authority list names a unit."""
    allowed = cases.actions_for(actor, case, now)
    quick = [
        action
        for action in QUICK_ACTIONS
        if action in allowed
        and (action is not Action.DISPATCH or case.suggested_department_code is not None)
    ]
    return QueueRow(case, quick)


def _queue_context(
    request: Request, uow: UnitOfWork, actor: Actor, query: QueueQuery
) -> dict[str, Any]:
    ports = ports_of(request)
    try:
        found = cases.list_cases(
            uow, actor, query.case_filter(), ports, page=query.page, page_size=QUEUE_PAGE_SIZE
        )
    except CivicGridError as error:
        return {"rows": [], "total": 0, "pages": 1, "error": error.message(request_locale(request))}
    now = ports.clock()
    return {
        "rows": queue_rows(uow, actor, found.items, now),
        "total": found.total_label,
        "pages": max(1, math.ceil(found.total / QUEUE_PAGE_SIZE)),
        "error": None,
    }


def queue_rows(
    uow: UnitOfWork, actor: Actor, found: Sequence[Case], now: datetime
) -> list[QueueRow]:
    """The queue's rows of FOUND, each with its one-click actions and its last handover."""
    handovers = cases.handovers_of(uow, actor, found)
    rows = [queue_row(actor, c, now) for c in found]
    for row in rows:
        row.handover = handovers.get(row.case.id or 0)
    return rows


@router.get("/dispatch", response_class=HTMLResponse)
def dispatch_centre(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.list_cases, only=DISPATCH_PAGE),
) -> HTMLResponse:
    """The dispatch centre: open cases of the caller's area by deadline, filters, a map
    coloured by deadline light, and one-click accept / register / dispatch."""
    query = QueueQuery.of(request)
    labels = labels_for(request, uow, actor, all_grids=True)
    context = _queue_context(request, uow, actor, query)
    return case_page(
        request,
        actor,
        "cases/dispatch.html",
        labels,
        query=query,
        read_only=actor.role not in CENTRE,
        open_statuses=[s for s in Status if s in OPEN_STATUSES],
        finished_statuses=[s for s in Status if s not in OPEN_STATUSES],
        # The stream goes on from the newest event when the page was drawn.
        feed_after=cases.feed_start(uow, actor).after,
        done=done_notice(request, labels, [r.case for r in context["rows"]]),
        **context,
    )


@router.get("/dispatch/queue", response_class=HTMLResponse)
def dispatch_queue(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.list_cases, only=DISPATCH_PAGE),
) -> HTMLResponse:
    """The queue alone (HTMX reloads it when a filter changes)."""
    query = QueueQuery.of(request)
    labels = labels_for(request, uow, actor, all_grids=True)
    response = case_page(
        request,
        actor,
        "cases/_queue.html",
        labels,
        query=query,
        read_only=actor.role not in CENTRE,
        **_queue_context(request, uow, actor, query),
    )
    # The address bar keeps the filters, so a reload or a shared link shows the same queue.
    response.headers["HX-Replace-Url"] = "/dispatch?" + query.query_string()
    return response


@router.post("/dispatch/cases/{case_id}/act", response_class=HTMLResponse)
def dispatch_quick_action(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    action: Annotated[str, Form()] = "",
    department: Annotated[str, Form()] = "",
    actor: Actor = allow(cases.act_on_case, only=CENTRE_PAGE),
) -> HTMLResponse:
    """One click in the queue (accept, register, dispatch to the suggested unit); answers
    with the case's row as it is now, showing the error there if the action failed."""
    ports = ports_of(request)
    error = ""
    done = None
    try:
        if action not in {a.value for a in QUICK_ACTIONS}:
            raise InvalidInput("ui.form.bad_choice", field="action", value=action)
        wanted = ActionRequest(action=action, department=department.strip() or None)
        case = cases.act_on_case(uow, actor, case_id, wanted, ports).case
        done = Action(action)
    except CivicGridError as failed:
        uow.rollback()
        error = failed.message(request_locale(request))
        try:
            case = cases.get_case(uow, actor, case_id, ports).case
        except CivicGridError as hidden:
            return error_page(request, actor, hidden)
    labels = labels_for(request, uow, actor, grid_codes=[case.grid_code])
    (row,) = queue_rows(uow, actor, [case], ports.clock())
    row.done, row.error = done, error
    # HTMX swaps only 2xx answers, and the row carries its own error message.
    return case_page(request, actor, "cases/_queue_row.html", labels, row=row, read_only=False)


def _map_view(request: Request) -> MapView:
    """?bbox=west,south,east,north&zoom=z as the map shows them (the whole world at zoom 10
    without them)."""
    params = request.query_params
    view = MapView()
    box = params.get("bbox", "").strip()
    if box:
        parts = box.split(",")
        if len(parts) != 4:
            raise InvalidInput("case_map_bad_view", field="bbox")
        west, south, east, north = (_number(part, "bbox") for part in parts)
        if None in (west, south, east, north):
            raise InvalidInput("case_map_bad_view", field="bbox")
        view = MapView(south, west, north, east)  # type: ignore[arg-type]
    zoom = _number(params.get("zoom", ""), "zoom")
    if zoom is not None:
        view = MapView(view.south, view.west, view.north, view.east, zoom)
    return view


@router.get("/dispatch/points", response_model=None)
def dispatch_points(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.case_map, only=DISPATCH_PAGE),
) -> JSONResponse:
    """The queue's cases on the map, all its pages (the filters of /dispatch, and
    ?bbox=west,south,east,north&zoom= of the map): `clusters` as [lat, lon, count, light,
    case or null, title or null], one per cell of about 56 screen pixels, at most 2,000
    whatever the city holds; `total`, the cases they count."""
    query = QueueQuery.of(request)
    found = cases.case_map(uow, actor, query.case_filter(), ports_of(request), _map_view(request))
    clusters = [
        [round(c.lat, 6), round(c.lon, 6), c.count, c.light, c.case_id, c.title]
        for c in found.clusters
    ]
    return JSONResponse(
        {"total": found.total, "clusters": clusters}, headers={"Cache-Control": "no-store"}
    )


def _after(request: Request) -> int | None:
    """Where a stream goes on from: the browser's Last-Event-ID when it reconnects, or the
    page's ?after= (the newest event when it was drawn)."""
    text = request.headers.get("last-event-id") or request.query_params.get("after") or ""
    if not text.strip().isdigit() or int(text) > DB_INT_MAX:
        return None
    return int(text)


@router.get("/dispatch/stream", response_model=None)
def dispatch_stream(
    request: Request,
    actor: Actor = allow(cases.case_changes, only=DISPATCH_PAGE),
) -> Response:
    """Server-sent events (web.streams): `changes` with the cases the reader may see that
    were reported or changed since ?after= (or Last-Event-ID): [{id, action, new, matches}],
    `matches` telling whether a case fits the page's filters (those of /dispatch) now. The
    page redraws the rows it shows and counts the rest in a quiet notice."""
    platform = platform_of(request)
    ports = ports_of(request)
    query = QueueQuery.of(request)
    query.case_filter()  # a wrong filter is a 422 now, not a silent stream
    after = _after(request)
    position: list[FeedPosition] = []

    def poll(reader: Actor) -> list[ServerEvent]:
        with UnitOfWork(platform.session_factory) as uow:
            if not position:
                start = FeedPosition(after) if after is not None else cases.feed_start(uow, reader)
                position.append(start)
                if after is None:
                    return [ServerEvent("ready", {"after": start.after}, id=str(start.after))]
            changes = cases.case_changes(uow, reader, position[0], query.case_filter(), ports)
        if not changes:
            return []
        found = [
            {"id": c.id, "action": c.action, "new": c.new, "matches": c.matches} for c in changes
        ]
        return [ServerEvent("changes", {"cases": found}, id=str(position[0].after))]

    return event_stream(request, rule_for(cases.case_changes, DISPATCH_PAGE), poll)


@router.get("/dispatch/rows", response_class=HTMLResponse)
def dispatch_rows(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.list_cases, only=DISPATCH_PAGE),
) -> HTMLResponse:
    """The queue's rows of the cases ?ids=1,2,3 (at most a page's worth) the reader may see,
    as they are now: the page swaps them in where they are, so nobody loses her place."""
    ids = []
    for part in request.query_params.get("ids", "").split(",")[:QUEUE_PAGE_SIZE]:
        number = record_number(part.strip())
        if number is not None:
            ids.append(number)
    ports = ports_of(request)
    found = cases.list_cases(uow, actor, CaseFilter(ids=ids), ports, page_size=QUEUE_PAGE_SIZE)
    labels = labels_for(request, uow, actor, grid_codes=[c.grid_code for c in found.items])
    return case_page(
        request,
        actor,
        "cases/_queue_rows.html",
        labels,
        rows=queue_rows(uow, actor, found.items, ports.clock()),
        read_only=actor.role not in CENTRE,
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/cases.xlsx", response_model=None)
def export_list(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.export_cases),
) -> Response:
    """The list as a spreadsheet: every case the reader may see that matches the filters of
    /dispatch (all pages; a unit's inbox without them), reporters masked for her, times in
    the city's time zone."""
    ports = ports_of(request)
    locale = request_locale(request)
    query = QueueQuery.of(request)
    export = cases.export_cases(uow, actor, query.case_filter(), ports, locale)
    now = ports.clock()
    made = format_datetime(now, locale, ports.settings.timezone)
    title = translate("ui.export.title", locale, {"at": made, "count": len(export.rows)})
    notes = [translate("ui.export.timezone", locale, {"zone": export.timezone})]
    if export.truncated:
        notes.append(translate("ui.export.truncated", locale, {"count": len(export.rows)}))
    stamp = now.astimezone(ZoneInfo(ports.settings.timezone)).strftime("%Y%m%d-%H%M")
    return Response(
        workbook(export, title, notes),
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="cases-{stamp}.xlsx"',
            "Cache-Control": "no-store",
        },
    )


# ------------------------------------------------------------------ the case detail


def unit_groups(labels: Labels, case: Case) -> list[tuple[str, list[Department]]]:
    """The units a dispatcher can choose, those of the case's own areas first."""
    chain = set(case.area_path.strip("/").split("/"))
    here = [d for d in labels.units.values() if d.area_code in chain and d.active]
    other = [d for d in labels.units.values() if d.area_code not in chain and d.active]
    groups = [(labels.t("ui.form.units_here"), here), (labels.t("ui.form.units_other"), other)]
    return [(name, units) for name, units in groups if units]


def _detail(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    case_id: RecordId,
    *,
    error: CivicGridError | None = None,
    failed: str = "",
    values: dict[str, Any] | None = None,
    back: str = "",
) -> HTMLResponse:
    ports = ports_of(request)
    try:
        view = cases.get_case(uow, actor, case_id, ports)
        duplicates = cases.duplicates_of(uow, actor, case_id, ports) if actor.is_staff else []
    except CivicGridError as hidden:
        if actor.role is not Role.RESIDENT:
            return error_page(request, actor, hidden)
        # A case she added her voice to: what the public sees, her words, her answers.
        try:
            view = cases.supported_case(uow, actor, case_id, ports)
        except CivicGridError:
            return error_page(request, actor, hidden)
        return case_page(
            request,
            actor,
            "cases/supported.html",
            labels_for(request, uow, actor),
            view=view,
            case=view.case,
            title=view.public.title if view.public else "",
            joined=request.query_params.get("joined") == "1",
        )
    labels = labels_for(
        request, uow, actor, grid_codes=[view.case.grid_code, *(d.grid_code for d in duplicates)]
    )
    labels.unit_names = view.unit_names
    if {Action.DISPATCH, Action.WHISTLE} & set(view.allowed_actions):
        labels.area_names = unit_area_names(uow, actor)
    return case_page(
        request,
        actor,
        "cases/detail.html",
        labels,
        status_code=error.status if error else 200,
        view=view,
        case=view.case,
        duplicates=[d for d in duplicates if d.id != case_id],
        unit_groups=unit_groups(labels, view.case),
        error=error.message(labels.locale) if error else None,
        failed=failed,
        values=values or {},
        back=back,
        joined=request.query_params.get("joined") == "1",
        done=done_notice(request, labels, [view.case], listing=False),
        handover=cases.handovers_of(uow, actor, [view.case]).get(case_id),
    )


# The levels whose names help find a unit (a grid has no units).
UNIT_LEVELS = (Level.CITY, Level.DISTRICT, Level.STREET, Level.COMMUNITY)


def unit_area_names(uow: UnitOfWork, actor: Actor) -> dict[str, str]:
    """The names of the areas units serve, those the reader may list, so she finds a unit
    by its area's name as well as its own."""
    return {
        area.code: area.name
        for level in UNIT_LEVELS
        for area in areas.list_areas(uow, actor, level=level)
    }


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_detail(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.get_case, cases.supported_case),
) -> HTMLResponse:
    """One case: its fields, timeline, answers to reporters, possible duplicates and a form
    for each action the caller may take now; to a resident who added her voice to it, what
    the public sees of it with her own words."""
    return _detail(request, uow, actor, case_id)


@router.get("/cases/{case_id}/sheet", response_class=HTMLResponse)
def dispatch_sheet(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.get_case, only=Rule(STAFF, "a case's dispatch sheet, for staff")),
) -> HTMLResponse:
    """The case as a dispatch sheet (派遣单) to print: one A4 page with the case, its place,
    the units and their deadline, the reporters (masked for the reader), the timeline and
    boxes to sign. The browser prints it (or saves it as a PDF) by the print stylesheet."""
    ports = ports_of(request)
    try:
        view = cases.get_case(uow, actor, case_id, ports)
    except CivicGridError as hidden:
        return error_page(request, actor, hidden)
    labels = labels_for(request, uow, actor, grid_codes=[view.case.grid_code])
    labels.unit_names = view.unit_names
    handover = cases.handovers_of(uow, actor, [view.case]).get(case_id)
    return case_page(
        request,
        actor,
        "cases/sheet.html",
        labels,
        view=view,
        case=view.case,
        handover=handover,
        printed_at=ports.clock(),
    )


@router.post("/cases/{case_id}/act", response_class=HTMLResponse, response_model=None)
def case_action(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[ActionForm, Depends()],
    actor: Actor = allow(cases.act_on_case),
) -> Response:
    """Take one action from any case page; back to where the form was (or the case) when
    it is done, or the case with the reason it was not."""
    ports = ports_of(request)
    back = _safe_next(form.next) if form.next else ""
    try:
        done = cases.act_on_case(
            uow, actor, case_id, form.to_request(ports.settings.timezone), ports
        ).case
    except CivicGridError as error:
        uow.rollback()
        return _detail(
            request,
            uow,
            actor,
            case_id,
            error=error,
            failed=form.action,
            values=form.values(),
            back=back,
        )
    return RedirectResponse(with_done(back or f"/cases/{case_id}", form.action, done), 303)


def with_done(url: str, action: str, case: Case) -> str:
    """URL telling the page it leads to what was just done, for its confirmation: the
    action, the case, and where the case stands now (its state and unit)."""
    path, _, fragment = url.partition("#")
    path, _, query = path.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query) if k not in DONE_PARAMS]
    done = {"done": action, "done_case": str(case.id), "done_status": case.status.value}
    if case.department_code:
        done["done_unit"] = case.department_code
    query = urlencode([*kept, *done.items()])
    return f"{path}?{query}" + (f"#{fragment}" if fragment else "")


DONE_PARAMS = frozenset({"done", "done_case", "done_status", "done_unit"})


def done_notice(
    request: Request, labels: Labels, shown: Iterable[Case], *, listing: bool = True
) -> str:
    """The confirmation of what the reader just did (?done=… from with_done): what
    happened, where the case is now, and (on a LISTING page) whether it is still among
    SHOWN."""
    params = request.query_params
    action, status = params.get("done", ""), params.get("done_status", "")
    case_id = record_number(params.get("done_case"))
    if case_id is None or action not in {a.value for a in Action}:
        return ""
    if status not in {s.value for s in Status}:
        return ""
    here = next((c for c in shown if c.id == case_id), None)
    if here is not None:  # the page shows the case: it says where it is, not the link
        status, unit = here.status.value, here.department_code
    else:
        unit = params.get("done_unit") or None
        unit = unit if unit in labels.units or unit in labels.unit_names else None
    return labels.done(action, case_id, status, unit, (here is not None) if listing else None)


# ------------------------------------------------------------------ a unit's inbox


@dataclass
class Card:
    """A case with the actions the caller may take on it, for the inbox and grid pages."""

    case: Case
    actions: list[Action]
    # How it last came to a unit: a whistle's reason and meeting (吹哨).
    handover: Handover | None = None


def cards_of(actor: Actor, found: Iterable[Case], now: datetime) -> list[Card]:
    return [Card(c, cases.actions_for(actor, c, now)) for c in found]


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.list_cases, only=INBOX_PAGE),
) -> HTMLResponse:
    """The open cases of the handler's unit, soonest deadline first, each with its forms:
    start, resolve with photos, return, ask for more time, check in."""
    ports = ports_of(request)
    found = cases.list_cases(
        uow, actor, CaseFilter(statuses=sorted(OPEN_STATUSES)), ports, page_size=LIST_SIZE
    )
    cards = cards_of(actor, found.items, ports.clock())
    handovers = cases.handovers_of(uow, actor, found.items)
    for card in cards:
        card.handover = handovers.get(card.case.id or 0)
    labels = labels_for(request, uow, actor, grid_codes=[c.case.grid_code for c in cards])
    return case_page(
        request,
        actor,
        "cases/inbox.html",
        labels,
        cards=cards,
        total=found.total,
        total_label=found.total_label,
        unit_name=labels.unit(actor.department_code),
        done=done_notice(request, labels, found.items),
    )


# ------------------------------------------------------------------ the grid worker's page


@router.get("/grid", response_class=HTMLResponse)
def grid_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(cases.list_cases, only=GRID_PAGE),
) -> HTMLResponse:
    """The grid worker's phone page: report what she finds, check what units resolved in
    her grid, resolve her own small finds on the spot."""
    reported = record_number(request.query_params.get("reported"))
    return _grid(request, uow, actor, reported=reported)


@router.post("/grid/report", response_class=HTMLResponse, response_model=None)
def grid_report(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    form: Annotated[ReportForm, Depends()],
    actor: Actor = allow(cases.report_case, only=GRID_PAGE),
) -> Response:
    """A grid worker's report from the field (channel grid_worker)."""
    try:
        reported = cases.report_case(
            uow, actor, form.to_new_case(Channel.GRID_WORKER), ports_of(request)
        )
    except CivicGridError as error:
        uow.rollback()
        return _grid(request, uow, actor, error=error, form=form)
    return RedirectResponse(f"/grid?reported={reported.case.id}", status_code=303)


def _grid(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    reported: int | None = None,
    error: CivicGridError | None = None,
    form: ReportForm | None = None,
) -> HTMLResponse:
    ports = ports_of(request)
    now = ports.clock()
    found = cases.list_cases(
        uow, actor, CaseFilter(statuses=sorted(OPEN_STATUSES)), ports, page_size=LIST_SIZE
    )
    cards = cards_of(actor, found.items, now)
    to_verify = [c for c in cards if Action.VERIFY in c.actions]
    mine = [c for c in cards if Action.RESOLVE_ON_SPOT in c.actions]
    others = [c for c in cards if c not in to_verify and c not in mine]
    just_reported = None
    duplicates: list[Case] = []
    outside = False
    if reported is not None:
        try:
            just_reported = cases.get_case(uow, actor, reported, ports).case
            duplicates = cases.duplicates_of(uow, actor, reported, ports)
        except Forbidden:
            # Reported outside her grid: the case belongs to the grid it lies in.
            outside = True
        except CivicGridError:
            reported = None
    labels = labels_for(
        request,
        uow,
        actor,
        grid_codes=[actor.area_code or "", *(c.case.grid_code for c in cards)],
    )
    return case_page(
        request,
        actor,
        "cases/grid.html",
        labels,
        status_code=error.status if error else 200,
        grid_name=labels.grid(actor.area_code or ""),
        to_verify=to_verify,
        mine=mine,
        others=others,
        reported=reported,
        just_reported=just_reported,
        duplicates=duplicates,
        outside=outside,
        error=error.message(labels.locale) if error else None,
        form=form,
        done=done_notice(request, labels, found.items),
    )
