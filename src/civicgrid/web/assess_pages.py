"""The assessment pages (考核) and the command centre (指挥中心):

- /assess: a scheme's ranking of a month with trend arrows, every figure a link to its
  cases; the month's state, freezing it, the reports to download;
- /assess/rulebook, /assess/indicators/{code}, /assess/schemes/{code}: every indicator's
  definition in plain words (zh/en) and its versions, and forms that change a
  denominator or a weight without code (a new version each time);
- /assess/appeals: filing an appeal and deciding it; /assess/alerts: threshold alerts;
- /command: the wall screen, redrawn by server-sent events (/command/stream) within
  seconds of any case event in the viewer's area.

Every action ends on the page it came from with what it did said in words; a refusal is
said in the reader's language, naming the field.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.assess import services
from civicgrid.assess.domain import (
    APPELLANTS,
    ASSESSORS,
    FACT_FIELDS,
    NOT_FOR_CONDITIONS,
    PERIOD_KEYS,
    AppealState,
    Indicator,
    ObjectType,
    OnZero,
    Op,
    Period,
    RuleKind,
    all_words,
    current_month,
    month_window,
)
from civicgrid.assess.ports import AssessPorts
from civicgrid.cases.domain import Channel
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidInput
from civicgrid.core.http import allow, get_uow, platform_of, read_form, request_locale
from civicgrid.core.i18n import N_, Locale, translate
from civicgrid.core.permissions import Actor
from civicgrid.web.pages import TEMPLATES, render
from civicgrid.web.streams import ServerEvent, event_stream, rule_for

router = APIRouter(include_in_schema=False)

OBJECT_KEYS = {o: f"assess.object.{o.value}" for o in ObjectType}
DONE_KEYS = {
    "frozen": N_("ui.assess.done.frozen"),
    "indicator": N_("ui.assess.done.indicator"),
    "scheme": N_("ui.assess.done.scheme"),
    "filed": N_("ui.assess.done.filed"),
    "accepted": N_("ui.assess.done.accepted"),
    "rejected": N_("ui.assess.done.rejected"),
    "alert": N_("ui.assess.done.alert"),
    "stopped": N_("ui.assess.done.stopped"),
}
CONDITION_ROWS = {"denominator": 6, "numerator": 4, "exclusions": 3}


def assess_links(actor: Actor) -> list[tuple[str, str]]:
    """Assessment and the command centre in the top bar, for those who may open them."""
    links = []
    if actor.role in services.READERS:
        links.append(("/assess", N_("ui.nav.assess")))
    elif actor.role in APPELLANTS:
        links.append(("/assess/appeals", N_("ui.nav.assess")))
    if actor.role in services.COMMAND_VIEWERS:
        links.append(("/command", N_("ui.nav.command")))
    return links


TEMPLATES.env.globals["assess_links"] = assess_links


def ports_of(request: Request) -> AssessPorts:
    ports: AssessPorts = platform_of(request).assess
    return ports


class View:
    """Words and numbers for the assessment templates, in the reader's language."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, params)

    def object(self, kind: ObjectType | str) -> str:
        return self.t(OBJECT_KEYS[ObjectType(kind)])

    def field(self, name: str) -> str:
        return self.t(f"assess.field.{name}")

    def percent(self, rate: float | None) -> str:
        return "—" if rate is None else f"{rate * 100:.1f}%"

    def period(self, period: Period) -> str:
        return self.t(PERIOD_KEYS[period])

    def words(self, indicator: Indicator, part: str) -> str:
        conditions = getattr(indicator, part)
        if not conditions:
            return self.t("ui.assess.def.every_case")
        return all_words(conditions, self.locale, self.t)

    def exclusions(self, indicator: Indicator) -> str:
        joiner = "、" if self.locale == "zh" else "; "
        return joiner.join(all_words([c], self.locale, self.t) for c in indicator.exclusions)


def _page(
    request: Request, actor: Actor, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    locale = request_locale(request)
    done = request.query_params.get("done")
    return render(
        request,
        actor,
        template,
        status_code=status,
        V=View(locale),
        done=translate(DONE_KEYS[done], locale, _done_params(request))
        if done in DONE_KEYS
        else None,
        **context,
    )


def _done_params(request: Request) -> dict[str, str]:
    """What the confirmation says, from the redirect's query (each blank when absent)."""
    q = request.query_params
    return {
        name: q.get(name, "")[:40] for name in ("month", "version", "id", "revision", "changes")
    }


def _refused(request: Request, problem: CivicGridError) -> tuple[str, int]:
    return problem.message(request_locale(request)), problem.status


# ------------------------------------------------------------------ rankings


def _month(request: Request) -> str:
    ports = ports_of(request)
    return request.query_params.get("month") or current_month(ports.clock(), ports.timezone)


@router.get("/assess", response_class=HTMLResponse)
def rankings_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.rankings),
) -> HTMLResponse:
    """A scheme's ranking of a month over the viewer's area."""
    ports = ports_of(request)
    month = _month(request)
    scheme = request.query_params.get("scheme") or "department"
    error, status, ranking, record = None, 200, None, None
    book = services.read_rulebook(uow, actor)
    try:
        ranking = services.rankings(uow, actor, ports, month, scheme)
        record = services.month_record(uow, actor, ports, month)
    except CivicGridError as problem:
        uow.rollback()
        error, status = _refused(request, problem)
    ended = False
    with contextlib.suppress(CivicGridError):
        ended = month_window(month, ports.clock(), ports.timezone).end <= ports.clock()
    return _page(
        request,
        actor,
        "assess/rankings.html",
        status,
        ranking=ranking,
        record=record,
        schemes=list(book.schemes.values()),
        scheme_code=scheme,
        month=month,
        error=error,
        can_freeze=actor.role in ASSESSORS and ended,
        report_area=actor.area_code or _city_code(uow, actor),
    )


def _city_code(uow: UnitOfWork, actor: Actor) -> str:
    from civicgrid.areas import services as areas
    from civicgrid.areas.domain import Level

    cities = areas.list_areas(uow, actor, level=Level.CITY, limit=1)
    return cities[0].code if cities else ""


@router.get("/assess/cases", response_class=HTMLResponse)
def figure_cases_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.figure_cases),
) -> HTMLResponse:
    """The cases behind one figure of a ranking."""
    q = request.query_params
    error, status, lines = None, 200, []
    try:
        lines = services.figure_cases(
            uow,
            actor,
            ports_of(request),
            _month(request),
            q.get("indicator", ""),
            q.get("object", ""),
            q.get("code", ""),
            q.get("part", "denominator"),
        )
        indicator = services.read_rulebook(uow, actor).indicators.get(q.get("indicator", ""))
    except CivicGridError as problem:
        uow.rollback()
        error, status = _refused(request, problem)
        indicator = None
    return _page(
        request,
        actor,
        "assess/cases.html",
        status,
        lines=lines,
        indicator=indicator,
        month=_month(request),
        object_code=q.get("code", ""),
        part=q.get("part", "denominator"),
        error=error,
    )


@router.post("/assess/freeze", response_class=HTMLResponse, response_model=None)
async def freeze_month_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.freeze_month),
) -> Response:
    """Freeze the month shown, then back to its ranking saying so."""
    form = await read_form(request)
    month = str(form.get("month") or "")
    scheme = str(form.get("scheme") or "department")
    try:
        record = await run_in_threadpool(
            services.freeze_month, uow, actor, ports_of(request), month
        )
    except CivicGridError as problem:
        uow.rollback()
        message, status = _refused(request, problem)
        return await run_in_threadpool(_error_page, request, actor, message, status)
    query = urlencode(
        {"month": record.month, "scheme": scheme, "done": "frozen", "version": record.version}
    )
    return RedirectResponse(f"/assess?{query}", status_code=303)


def _error_page(request: Request, actor: Actor, message: str, status: int) -> HTMLResponse:
    return _page(request, actor, "assess/error.html", status, error=message)


@router.get("/assess/report", response_model=None)
def report_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.monthly_report),
) -> Response:
    """The monthly report of an area as a file (the link the monthly message carries)."""
    q = request.query_params
    try:
        made = services.monthly_report(
            uow,
            actor,
            ports_of(request),
            q.get("area", ""),
            _month(request),
            q.get("format", "pdf"),
            request_locale(request),
        )
    except CivicGridError as problem:
        uow.rollback()
        return _error_page(request, actor, *_refused(request, problem))
    return Response(
        made.content,
        media_type=made.media_type,
        headers={"Content-Disposition": f'attachment; filename="{made.filename}"'},
    )


# ------------------------------------------------------------------ the rulebook


@router.get("/assess/rulebook", response_class=HTMLResponse)
def rulebook_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.rulebook_versions),
) -> HTMLResponse:
    """Every indicator and scheme in force, and the rulebook's versions."""
    return _page(
        request,
        actor,
        "assess/rulebook.html",
        book=services.read_rulebook(uow, actor),
        versions=services.rulebook_versions(uow, actor),
        can_edit=actor.role in services.EDITORS,
    )


def _indicator_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    book = services.read_rulebook(uow, actor)
    indicator = book.indicators.get(code)
    if indicator is None and form is None and request.query_params.get("new") is None:
        return _error_page(
            request,
            actor,
            translate(
                "assess_unknown_indicator", request_locale(request), {"field": "code", "code": code}
            ),
            404,
        )
    values = form or (
        indicator.as_dict() if indicator else {"code": code, "objects": [], "period": "reported"}
    )
    return _page(
        request,
        actor,
        "assess/indicator.html",
        status,
        indicator=indicator,
        code=code,
        values=values,
        history=services.definition_history(uow, actor, "indicator", code),
        schemes=[s for s in book.schemes.values() if any(i.indicator == code for i in s.items)],
        fields=[f for f in FACT_FIELDS if f not in NOT_FOR_CONDITIONS],
        ops=[o.value for o in Op],
        objects=[o.value for o in ObjectType],
        periods=[p.value for p in Period],
        on_zeros=[z.value for z in OnZero],
        rows=CONDITION_ROWS,
        can_edit=actor.role in services.EDITORS,
        error=error,
    )


@router.get("/assess/indicators/{code}", response_class=HTMLResponse)
def indicator_page(
    request: Request,
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.definition_history),
) -> HTMLResponse:
    """One indicator in plain words — who counts in the denominator, who in the numerator,
    who is left out — its versions, and (for editors) the form that changes it."""
    return _indicator_page(request, uow, actor, code[:40])


def _conditions(form: Any, part: str) -> list[dict[str, Any]]:
    found = []
    for n in range(CONDITION_ROWS[part]):
        name = str(form.get(f"{part}.{n}.field") or "").strip()
        if not name:
            continue
        found.append(
            {
                "field": name,
                "op": str(form.get(f"{part}.{n}.op") or "="),
                "value": str(form.get(f"{part}.{n}.value") or ""),
            }
        )
    return found


@router.post("/assess/indicators/{code}", response_class=HTMLResponse, response_model=None)
async def change_indicator_page(
    request: Request,
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_indicator),
) -> Response:
    """Save the indicator as a new version of the rulebook, or show why not beside the form."""
    form = await read_form(request)
    raw: dict[str, Any] = {
        "code": code,
        "name_zh": str(form.get("name_zh") or ""),
        "name_en": str(form.get("name_en") or ""),
        "description_zh": str(form.get("description_zh") or ""),
        "description_en": str(form.get("description_en") or ""),
        "objects": [str(v) for v in form.getlist("objects")],
        "period": str(form.get("period") or ""),
        "on_zero": str(form.get("on_zero") or ""),
        "higher_is_better": form.get("higher_is_better") == "1",
        "denominator": _conditions(form, "denominator"),
        "numerator": _conditions(form, "numerator"),
        "exclusions": _conditions(form, "exclusions"),
        "keys": {},
    }
    reason = str(form.get("reason") or "")

    def save() -> Response:
        try:
            current = services.read_rulebook(uow, actor).indicators.get(code)
            if current is not None:
                raw["keys"] = {o.value: k for o, k in current.keys.items()}
            version = services.change_indicator(uow, actor, ports_of(request), code, raw, reason)
        except CivicGridError as problem:
            uow.rollback()
            message, status = _refused(request, problem)
            return _indicator_page(
                request,
                uow,
                actor,
                code,
                form={**raw, "reason": reason},
                error=message,
                status=status,
            )
        query = urlencode({"done": "indicator", "version": version})
        return RedirectResponse(f"/assess/indicators/{code}?{query}", status_code=303)

    return await run_in_threadpool(save)


def _scheme_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    code: str,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    book = services.read_rulebook(uow, actor)
    scheme = book.schemes.get(code)
    if scheme is None:
        message = translate(
            "assess_unknown_scheme", request_locale(request), {"field": "scheme", "code": code}
        )
        return _error_page(request, actor, message, 404)
    values = form or scheme.as_dict()
    items = list(values.get("items", []))
    items += [
        {"indicator": "", "weight": "", "rule": {"kind": "linear", "line": 100, "per_point": 1}}
    ] * 2
    grades = list(values.get("grades", []))
    grades += [{"grade": "", "min_score": ""}] * max(0, 6 - len(grades))
    return _page(
        request,
        actor,
        "assess/scheme.html",
        status,
        scheme=scheme,
        values=values,
        items=items,
        grades=grades,
        indicators=[i for i in book.indicators.values() if scheme.object_type in i.objects],
        all_indicators=book.indicators,
        rules=[r.value for r in RuleKind],
        history=services.definition_history(uow, actor, "scheme", code),
        can_edit=actor.role in services.EDITORS,
        error=error,
    )


@router.get("/assess/schemes/{code}", response_class=HTMLResponse)
def scheme_page(
    request: Request,
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.definition_history),
) -> HTMLResponse:
    """A composite score: its indicators with their weights and rules, its grades, its
    versions, and (for editors) the form that changes them."""
    return _scheme_page(request, uow, actor, code[:40])


@router.post("/assess/schemes/{code}", response_class=HTMLResponse, response_model=None)
async def change_scheme_page(
    request: Request,
    code: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_scheme),
) -> Response:
    """Save the scheme as a new version of the rulebook, or show why not beside the form."""
    form = await read_form(request)
    items = []
    for n in range(40):
        indicator = str(form.get(f"items.{n}.indicator") or "").strip()
        if f"items.{n}.weight" not in form:
            break
        if not indicator:
            continue
        items.append(
            {
                "indicator": indicator,
                "weight": str(form.get(f"items.{n}.weight") or ""),
                "rule": {
                    "kind": str(form.get(f"items.{n}.kind") or "linear"),
                    "line": str(form.get(f"items.{n}.line") or "100"),
                    "per_point": str(form.get(f"items.{n}.per_point") or "1"),
                },
            }
        )
    grades = []
    for n in range(10):
        grade = str(form.get(f"grades.{n}.grade") or "").strip()
        if grade:
            grades.append(
                {"grade": grade, "min_score": str(form.get(f"grades.{n}.min_score") or "")}
            )
    raw = {
        "code": code,
        "name_zh": str(form.get("name_zh") or ""),
        "name_en": str(form.get("name_en") or ""),
        "object": str(form.get("object") or ""),
        "items": items,
        "grades": grades,
    }
    reason = str(form.get("reason") or "")

    def save() -> Response:
        try:
            version = services.change_scheme(uow, actor, ports_of(request), code, raw, reason)
        except CivicGridError as problem:
            uow.rollback()
            message, status = _refused(request, problem)
            return _scheme_page(
                request,
                uow,
                actor,
                code,
                form={**raw, "reason": reason},
                error=message,
                status=status,
            )
        query = urlencode({"done": "scheme", "version": version})
        return RedirectResponse(f"/assess/schemes/{code}?{query}", status_code=303)

    return await run_in_threadpool(save)


# ------------------------------------------------------------------ appeals


def _appeals_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    state = request.query_params.get("state") or None
    try:
        found = services.list_appeals(uow, actor, None, state)
    except CivicGridError as problem:
        found, (error, status) = [], _refused(request, problem)
    return _page(
        request,
        actor,
        "assess/appeals.html",
        status,
        appeals=found,
        state=state or "",
        states=[s.value for s in AppealState],
        indicators=services.read_rulebook(uow, actor).indicators,
        values=form or {"month": services.previous_month(_month(request))},
        can_file=actor.role in APPELLANTS,
        can_decide=actor.role in ASSESSORS,
        error=error,
    )


@router.get("/assess/appeals", response_class=HTMLResponse)
def appeals_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_appeals),
) -> HTMLResponse:
    """The appeals of the viewer's unit or area; the form to file one; the assessors'
    decisions."""
    return _appeals_page(request, uow, actor)


@router.post("/assess/appeals", response_class=HTMLResponse, response_model=None)
async def file_appeal_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.file_appeal),
) -> Response:
    """File an appeal, then back to the list saying so."""
    form = await read_form(request)
    values = {k: str(form.get(k) or "") for k in ("month", "case_id", "indicator", "reason")}

    def file() -> Response:
        try:
            case_id = int(values["case_id"]) if values["case_id"].strip().isdigit() else -1
            if not 1 <= case_id <= 2_147_483_647:
                raise InvalidInput(
                    "assess_case_not_counted",
                    field="case_id",
                    id=values["case_id"] or "-",
                    month=values["month"],
                )
            appeal = services.file_appeal(
                uow,
                actor,
                ports_of(request),
                values["month"],
                case_id,
                values["reason"],
                values["indicator"] or None,
            )
        except CivicGridError as problem:
            uow.rollback()
            message, status = _refused(request, problem)
            return _appeals_page(request, uow, actor, form=values, error=message, status=status)
        return RedirectResponse(
            f"/assess/appeals?done=filed&id={appeal.id}#appeal-{appeal.id}", status_code=303
        )

    return await run_in_threadpool(file)


@router.post("/assess/appeals/{appeal_id}", response_class=HTMLResponse, response_model=None)
async def decide_appeal_page(
    request: Request,
    appeal_id: int,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.decide_appeal),
) -> Response:
    """Accept or reject an appeal with a note, then back to the list saying what it did."""
    form = await read_form(request)
    accept = form.get("decision") == "accept"
    note = str(form.get("note") or "")

    def decide() -> Response:
        try:
            outcome = services.decide_appeal(uow, actor, ports_of(request), appeal_id, accept, note)
        except CivicGridError as problem:
            uow.rollback()
            message, status = _refused(request, problem)
            return _appeals_page(request, uow, actor, error=message, status=status)
        query = urlencode(
            {
                "done": "accepted" if accept else "rejected",
                "id": appeal_id,
                "revision": outcome.revision or "",
                "changes": len(outcome.changes),
            }
        )
        return RedirectResponse(f"/assess/appeals?{query}#appeal-{appeal_id}", status_code=303)

    return await run_in_threadpool(decide)


# ------------------------------------------------------------------ alerts


def _alerts_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        actor,
        "assess/alerts.html",
        status,
        alerts=services.list_alerts(uow, actor),
        indicators=services.read_rulebook(uow, actor).indicators,
        objects=[o.value for o in ObjectType],
        values=form
        or {"comparison": "below", "window": "week", "threshold": "90", "min_cases": "5"},
        error=error,
    )


@router.get("/assess/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_alerts),
) -> HTMLResponse:
    """The threshold alerts of the viewer's area and the form to add one."""
    return _alerts_page(request, uow, actor)


@router.post("/assess/alerts", response_class=HTMLResponse, response_model=None)
async def add_alert_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_alert),
) -> Response:
    form = await read_form(request)
    values = {
        k: str(form.get(k) or "")
        for k in ("name", "indicator", "object", "comparison", "threshold", "window", "min_cases")
    }

    def add() -> Response:
        try:
            minimum = int(values["min_cases"]) if values["min_cases"].isdigit() else 0
            services.add_alert(
                uow,
                actor,
                ports_of(request),
                values["name"],
                values["indicator"],
                values["object"],
                values["comparison"],
                values["threshold"],
                values["window"],
                None,
                minimum,
            )
        except CivicGridError as problem:
            uow.rollback()
            message, status = _refused(request, problem)
            return _alerts_page(request, uow, actor, form=values, error=message, status=status)
        return RedirectResponse("/assess/alerts?done=alert", status_code=303)

    return await run_in_threadpool(add)


@router.post("/assess/alerts/{alert_id}/stop", response_class=HTMLResponse, response_model=None)
def stop_alert_page(
    request: Request,
    alert_id: int,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.stop_alert),
) -> Response:
    try:
        services.stop_alert(uow, actor, alert_id)
    except CivicGridError as problem:
        uow.rollback()
        message, status = _refused(request, problem)
        return _alerts_page(request, uow, actor, error=message, status=status)
    return RedirectResponse("/assess/alerts?done=stopped", status_code=303)


# ------------------------------------------------------------------ the command centre


@router.get("/command", response_class=HTMLResponse)
def command_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.command_summary),
) -> HTMLResponse:
    """The wall screen of the viewer's area: drawn at once, then kept current by push."""
    locale = request_locale(request)
    summary = services.command_summary(uow, actor, ports_of(request), locale)
    words = {
        "channel": {c.value: translate(f"channel.{c.value}", locale) for c in Channel},
        "late": translate("ui.command.late_hours", locale, {"hours": "__N__"}),
        "cases": translate("ui.command.cases", locale, {"count": "__N__"}),
        "none": translate("ui.command.none", locale),
        "month_to_date": translate("ui.command.month_to_date", locale),
        "updated": translate("ui.command.updated", locale, {"at": "__T__"}),
    }
    return _page(
        request,
        actor,
        "assess/command.html",
        summary=summary,
        summary_json=_script_json(summary),
        words_json=_script_json(words),
    )


def _script_json(value: Any) -> str:
    """JSON to sit inside a <script type="application/json"> element: no "<" that could
    close it."""
    return json.dumps(value, ensure_ascii=False, default=str).replace("<", "\\u003c")


@router.get("/command/stream", response_model=None)
def command_stream(
    request: Request,
    actor: Actor = allow(services.command_summary),
) -> Response:
    """Server-sent events (web.streams): the command centre's picture again whenever a case
    event of the city is newer than the last one sent (looked for every second), so the
    wall is redrawn within seconds of any report, dispatch or closure, without reloading."""
    platform = platform_of(request)
    ports = ports_of(request)
    locale = request_locale(request)
    sent = [-1]

    def poll(viewer: Actor) -> list[ServerEvent]:
        with UnitOfWork(platform.session_factory) as uow:
            stamp = services.latest_case_event(uow.session)
            if stamp == sent[0]:
                return []
            summary = services.command_summary(uow, viewer, ports, locale)
        sent[0] = stamp
        return [ServerEvent("summary", summary)]

    return event_stream(request, rule_for(services.command_summary), poll)
