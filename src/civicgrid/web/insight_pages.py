"""The insight page (民情分析) for data administrators, administrators and leaders: the
category-suggestion model's measured accuracy and its retraining (on schedule, and "retrain
now"), a live board of hot issues among the recent cases of the viewer's area, and the
quality of closed cases' answers per handling unit.

"Retrain now" starts the retraining in a background thread of the server (it takes tens
of seconds with cross-validation, too long to hold a request); the model panel then polls
every few seconds and shows the outcome when it is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.http import allow, get_uow, platform_of, request_locale
from civicgrid.core.i18n import N_, Locale, translate
from civicgrid.core.permissions import Actor
from civicgrid.insight import services
from civicgrid.insight.replies import ASPECTS, reasons_text
from civicgrid.web.pages import TEMPLATES, render

router = APIRouter(include_in_schema=False)

HOT_DAYS = 30
HOT_LIMIT = 15
REPLY_DAYS = (30, 90, 365)
UNIT_ROWS = 20  # units in the reply-quality table unless all are asked for


def insight_links(actor: Actor) -> list[tuple[str, str]]:
    """The insight page in the top bar, for those who may open it."""
    if actor.role in services.INSIGHT_VIEWERS:
        return [("/insight", N_("ui.nav.insight"))]
    return []


TEMPLATES.env.globals["insight_links"] = insight_links


class View:
    """Formatting for the insight templates, in the reader's language."""

    aspects = ASPECTS

    def __init__(self, locale: Locale, now: datetime) -> None:
        self.locale = locale
        self.now = now

    def t(self, key: str, **params: Any) -> str:
        return translate(key, self.locale, params)

    def share(self, value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    def reasons(self, reasons: list[Any]) -> str:
        return reasons_text(reasons, self.locale)

    def category(self, category: Any) -> str:
        if category is None:
            return ""
        english = self.locale == "en" and category.name_en
        return str(category.name_en if english else category.name)


def _overview(request: Request, uow: UnitOfWork, actor: Actor) -> services.ModelOverview:
    platform = platform_of(request)
    settings = platform.settings
    every = (
        timedelta(hours=settings.retrain_every_hours)
        if settings.retrain_every_hours > 0 and settings.suggestion_model_path
        else None
    )
    return services.model_overview(
        uow, actor, settings.suggestion_model_path, every, platform.cases.clock()
    )


def _model_context(
    request: Request, uow: UnitOfWork, actor: Actor, message: str = "", error: str = ""
) -> dict[str, Any]:
    overview = _overview(request, uow, actor)
    names = dict(platform_of(request).cases.routing.fresh(uow).categories)
    return {
        "overview": overview,
        "categories": names,
        "may_retrain": actor.role in services.MODEL_ROLES,
        "message": message,
        "error": error,
        # Just started in the background: poll until its run is recorded.
        "started": bool(message),
    }


def _hot_context(request: Request, uow: UnitOfWork, actor: Actor) -> dict[str, Any]:
    now = platform_of(request).cases.clock()
    board = services.hot_issue_board(uow, actor, now, days=HOT_DAYS, limit=HOT_LIMIT)
    return {"board": board, "hot_days": HOT_DAYS, "updated": now}


@router.get("/insight", response_class=HTMLResponse)
def insight_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    days: int = 90,
    units: str = "",
    actor: Actor = allow(services.reply_quality_by_department),
) -> HTMLResponse:
    """The hot-issue board, the model and its retraining, and reply quality per unit (the
    UNIT_ROWS weakest, or all with units=all)."""
    days = days if days in REPLY_DAYS else 90
    now = platform_of(request).cases.clock()
    replies = services.reply_quality_by_department(uow, actor, since=now - timedelta(days=days))
    return render(
        request,
        actor,
        "insight/page.html",
        v=View(request_locale(request), now),
        replies=replies,
        days=days,
        day_choices=REPLY_DAYS,
        all_units=units == "all",
        unit_rows=UNIT_ROWS,
        **_model_context(request, uow, actor),
        **_hot_context(request, uow, actor),
    )


@router.get("/insight/hot", response_class=HTMLResponse)
def hot_board(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.hot_issue_board),
) -> HTMLResponse:
    """The hot-issue board alone (HTMX refreshes it every minute)."""
    context = _hot_context(request, uow, actor)
    view = View(request_locale(request), context["updated"])
    return render(request, actor, "insight/_hot.html", v=view, **context)


@router.get("/insight/model", response_class=HTMLResponse)
def model_panel(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.model_overview),
) -> HTMLResponse:
    """The model panel alone (polled while a retraining runs)."""
    view = View(request_locale(request), platform_of(request).cases.clock())
    return render(
        request, actor, "insight/_model.html", v=view, **_model_context(request, uow, actor)
    )


@router.post("/insight/retrain", response_class=HTMLResponse, response_model=None)
def retrain(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.retrain_now),
) -> Response:
    """Start retraining the suggestions in the background; answers with the model panel
    (HTMX) or back to the page."""
    platform = platform_of(request)
    locale = request_locale(request)
    message = error = ""
    try:
        services.retrain_now(uow, actor, platform.retrainer, platform.cases.clock())
        message = translate("ui.insight.retrain_started", locale)
    except CivicGridError as problem:
        if not request.headers.get("hx-request"):
            raise
        error = problem.message(locale)
    if not request.headers.get("hx-request"):
        return RedirectResponse("/insight", status_code=303)
    view = View(locale, platform.cases.clock())
    context = _model_context(request, uow, actor, message, error)
    return render(request, actor, "insight/_model.html", v=view, **context)
