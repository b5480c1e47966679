"""The audit log's pages: the data office reads the log filtered by unit, person, dataset,
action and time (审计日志); a resident sees who read her records, when and under which grant
(是谁查看了我的信息).

A person is looked up by her registry record number, or by an identity number typed into a
form that is posted (never put in an address): the registry finds the records it hashes
to, the page goes on with their numbers, and the look-up is itself a logged read. The
number never reaches the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.areas import services as areas
from civicgrid.audit import services
from civicgrid.audit.repository import EntryFilter
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, FieldProblem
from civicgrid.core.http import allow, get_uow, platform_of, request_locale
from civicgrid.core.i18n import N_, Locale, day_start, message_text, translate
from civicgrid.core.ledger import Action, RecordKind, StoredEntry
from civicgrid.core.permissions import ROLE_LABELS, Actor, Role, Rule
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.core.types import FIRST_DAY, LAST_DAY, record_number
from civicgrid.registry import services as registry
from civicgrid.registry.domain import RecordKind as RegistryKind
from civicgrid.web.pages import TEMPLATES, render

router = APIRouter(include_in_schema=False)

AUDIT_PAGE = Rule(services.AUDIT_READERS, "the audit log, for the data office")
# Identity numbers a resident may try in an hour, per account.
OWN_READS_PER_HOUR = 10
MAX_PERSONS = 20  # record numbers one filter takes

ACTION_LABELS: dict[str, str] = {
    Action.READ: N_("ui.audit.action.read"),
    Action.READ_REFUSED: N_("ui.audit.action.read_refused"),
    Action.EXPORT: N_("ui.audit.action.export"),
    Action.GRANT_CHANGE: N_("ui.audit.action.grant_change"),
    Action.VERIFY_QUESTION: N_("ui.audit.action.verify_question"),
    Action.PERSONAL_READ: N_("ui.audit.action.personal_read"),
    Action.PERSONAL_CHANGE: N_("ui.audit.action.personal_change"),
}
KIND_LABELS: dict[str, str] = {
    RecordKind.PERSON: N_("ui.audit.kind.person"),
    RecordKind.HOUSE: N_("ui.audit.kind.house"),
    RecordKind.ORGANISATION: N_("ui.audit.kind.organisation"),
    RecordKind.ADDRESS: N_("ui.audit.kind.address"),
    RecordKind.CASE: N_("ui.audit.kind.case"),
}

# Reasons the pages put in words (others, the exchange's codes, are shown as they are).
REASON_LABELS: dict[str, str] = {services.OWN_READS: N_("ui.audit.reason.own_reads")}


def audit_links(actor: Actor) -> list[tuple[str, str]]:
    """The audit log in the top bar: the log for the data office, "who read my data" for a
    resident."""
    if actor.role in services.AUDIT_READERS:
        return [("/audit", N_("ui.nav.audit"))]
    if actor.role is Role.RESIDENT:
        return [("/my/reads", N_("ui.nav.my_reads"))]
    return []


TEMPLATES.env.globals["audit_links"] = audit_links


class EntryView:
    """What the pages show of entries, in the reader's language."""

    def __init__(
        self, locale: Locale, units: dict[str, str], mine: dict[str, list[int]] | None = None
    ) -> None:
        self.locale = locale
        self.units = units
        # On a resident's own page: her records by kind. An entry then names her records
        # only, never the numbers of other people's records read with hers.
        self.mine = mine

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, params)

    def action(self, entry: StoredEntry) -> str:
        key = ACTION_LABELS.get(entry.action)
        return self.t(key) if key else entry.action

    def role(self, entry: StoredEntry) -> str:
        try:
            return ROLE_LABELS[Role(entry.role)][self.locale] if entry.role else ""
        except ValueError:
            return entry.role or ""

    def unit(self, entry: StoredEntry) -> str:
        if not entry.unit:
            return ""
        return self.units.get(entry.unit, entry.unit)

    def kind(self, entry: StoredEntry) -> str:
        if not entry.record_kind:
            return ""
        key = KIND_LABELS.get(entry.record_kind)
        return self.t(key) if key else entry.record_kind

    def what(self, entry: StoredEntry) -> str:
        """The records or the rows: "人口 17、18" / "3 rows"; on a resident's page only her
        own records, with how many were read at once: "人口 17（此次共读取 50 条记录）"."""
        if entry.record_ids and self.mine is not None:
            own = set(self.mine.get(entry.record_kind or "", []))
            hers = [i for i in entry.record_ids if i in own]
            what = f"{self.kind(entry)} {self._joined(hers)}"
            if len(hers) == len(entry.record_ids):
                return what
            return self.t("ui.my_reads.among", what=what, count=len(entry.record_ids))
        if entry.record_ids:
            ids = self._joined(entry.record_ids[:10])
            more = self.t("ui.audit.more_records", count=len(entry.record_ids) - 10)
            return f"{self.kind(entry)} {ids}" + (more if len(entry.record_ids) > 10 else "")
        if entry.row_count is not None:
            return self.t("ui.audit.rows", count=entry.row_count)
        return self.kind(entry)

    def _joined(self, ids: Sequence[int]) -> str:
        return ("、" if self.locale == "zh" else ", ").join(str(i) for i in ids)

    def fields(self, entry: StoredEntry) -> str:
        """The fields read, by their names on the pages ("姓名、手机号（已遮挡）"); a
        dataset's own field without a page name keeps the name the dataset gives it."""
        masked = self.t("ui.audit.masked")
        names = []
        for stored in entry.fields:
            name, _, how = stored.partition(":")
            label = (
                message_text(f"ui.registry.field.{name}", self.locale)
                or message_text(f"ui.audit.field.{name}", self.locale)
                or name
            )
            names.append(f"{label} ({masked})" if how == "masked" else label)
        return ("、" if self.locale == "zh" else ", ").join(names)

    def grant(self, entry: StoredEntry) -> str:
        if entry.grant is not None:
            return self.t("ui.audit.grant", grant=entry.grant)
        if entry.action in (Action.PERSONAL_READ, Action.PERSONAL_CHANGE):
            return self.t("ui.audit.within_duties")
        return "—"

    def reason(self, entry: StoredEntry) -> str:
        key = REASON_LABELS.get(entry.reason or "")
        return self.t(key) if key else entry.reason or ""


# ------------------------------------------------------------------ the data office's log


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError as exc:
        raise FieldProblem("ui.audit.bad_day", field=field, value=text[:20]) from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise FieldProblem("ui.audit.bad_day", field=field, value=text[:20])
    return day


def _person_numbers(text: str) -> tuple[int, ...]:
    numbers = [record_number(part) for part in text.replace("，", ",").split(",") if part.strip()]
    if any(n is None for n in numbers) or len(numbers) > MAX_PERSONS:
        raise FieldProblem("ui.audit.bad_person", field="person", value=text[:40])
    return tuple(n for n in numbers if n is not None)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.search_entries, only=AUDIT_PAGE),
) -> HTMLResponse:
    """The log, newest first, filtered by unit, person (registry record numbers), dataset,
    action and the city's days; a page at a time."""
    params = request.query_params
    values = {
        k: params.get(k, "").strip() for k in ("unit", "person", "dataset", "action", "from", "to")
    }
    return _log_page(request, uow, actor, values, record_number(params.get("page")) or 1)


def _log_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    values: dict[str, str],
    page: int,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    locale = request_locale(request)
    platform = platform_of(request)
    tz = platform.settings.timezone
    found = services.EntryPage([], 0, page, services.PAGE_SIZE)
    try:
        first, last = _day(values["from"], "from"), _day(values["to"], "to")
        people = _person_numbers(values["person"])
        action = values["action"] if values["action"] in ACTION_LABELS else ""
        where = EntryFilter(
            unit=values["unit"] or None,
            dataset=values["dataset"] or None,
            record_kind=RecordKind.PERSON.value if people else None,
            record_ids=people,
            actions=(action,) if action else (),
            since=day_start(first, tz) if first else None,
            before=day_start(last + timedelta(days=1), tz) if last else None,
        )
        found = services.search_entries(uow, actor, where, page, ports=platform.audit)
    except CivicGridError as problem:
        error, status = problem.message(locale), problem.status
    kept = {k: v for k, v in values.items() if v}
    return render(
        request,
        actor,
        "audit/log.html",
        status_code=status,
        values=values,
        found=found,
        view=EntryView(locale, found.units),
        units=areas.list_departments(uow, actor),
        actions=list(ACTION_LABELS.items()),
        error=error,
        query=lambda **changes: "?" + urlencode({**kept, **changes}),
        latest=services.latest_cosigned(uow, actor),
    )


@router.post("/audit/person", response_class=HTMLResponse)
def find_person(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    identity_number: Annotated[str, Form(max_length=40)] = "",
    actor: Actor = allow(registry.search_records, only=AUDIT_PAGE),
) -> Response:
    """The records of the person with this identity number, found by the registry (whose
    own log names the records, never the number), then the log of those records."""
    secret = platform_of(request).settings.secret_key
    values = {k: "" for k in ("unit", "person", "dataset", "action", "from", "to")}
    try:
        if not identity_number.strip():
            raise FieldProblem("ui.audit.identity_required", field="identity_number")
        people = registry.search_records(
            uow, actor, RegistryKind.PERSON, secret_key=secret, q=identity_number, limit=MAX_PERSONS
        ).items
    except CivicGridError as problem:
        return _log_page(
            request, uow, actor, values, 1, problem.message(request_locale(request)), 422
        )
    if not people:
        message = translate("ui.audit.no_person", request_locale(request))
        return _log_page(request, uow, actor, values, 1, message, 404)
    numbers = ",".join(str(p["id"]) for p in people)
    return RedirectResponse("/audit?" + urlencode({"person": numbers}), status_code=303)


# ------------------------------------------------------------------ a resident's own reads


@router.get("/my/reads", response_class=HTMLResponse)
def my_reads_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.reads_of_my_records),
) -> HTMLResponse:
    """Who read the contacts on the cases she reported; a form to add her registry records
    by her identity number."""
    page = record_number(request.query_params.get("page")) or 1
    found = services.reads_of_my_records(uow, actor, platform_of(request).audit, None, page)
    return _my_reads(request, actor, found, asked=False)


@router.post("/my/reads", response_class=HTMLResponse)
def my_reads_with_number(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    identity_number: Annotated[str, Form(max_length=40)] = "",
    actor: Actor = allow(services.reads_of_my_records),
) -> HTMLResponse:
    """Who read her registry records (found by her identity number and her account's
    phone, both of which must match) and her cases' contacts, newest first. A few tries
    an hour per account."""
    audit = platform_of(request).audit
    try:
        _limiter(request).check(f"account:{actor.name}")
        found = services.reads_of_my_records(uow, actor, audit, identity_number)
    except CivicGridError as problem:
        error = problem.message(request_locale(request))
        found = services.reads_of_my_records(uow, actor, audit, None)
        return _my_reads(request, actor, found, asked=False, error=error, status=problem.status)
    return _my_reads(request, actor, found, asked=True)


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "own_reads_limiter", None)
    if limiter is None:
        platform = platform_of(request)
        limiter = RateLimiter(
            platform.session_factory,
            "own_reads",
            OWN_READS_PER_HOUR,
            3600,
            secret=platform.settings.secret_key,
        )
        state.own_reads_limiter = limiter
    return limiter


def _my_reads(
    request: Request,
    actor: Actor,
    found: services.MyReads,
    *,
    asked: bool,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    locale = request_locale(request)
    people = found.records.get(RecordKind.PERSON.value, [])
    return render(
        request,
        actor,
        "audit/my_reads.html",
        status_code=status,
        found=found.page,
        view=EntryView(locale, found.page.units, mine=found.records),
        asked=asked,
        matched=len(people),
        cases=len(found.records.get(RecordKind.CASE.value, [])),
        error=error,
    )
