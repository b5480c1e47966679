"""/api/v1/insight: the category-suggestion model intake uses and its measured accuracy,
the quality of closed cases' answers per handling unit, and the hot issues."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of
from civicgrid.core.i18n import day_start
from civicgrid.core.permissions import Actor
from civicgrid.core.types import Day
from civicgrid.insight import services
from civicgrid.insight.replies import ReplyScore

DEFAULT_REPLY_DAYS = 90
router = ApiRouter(prefix="/api/v1/insight", tags=["insight"])


@router.get("/suggestion-model")
def suggestion_model(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.suggestion_model),
) -> dict[str, Any]:
    """What the category suggestions of intake are trained on (closed cases per category)
    and their cross-validated precision and recall per category; `model: null` while
    intake still matches keywords (run `civicgrid insight retrain`)."""
    path = platform_of(request).settings.suggestion_model_path
    model = services.suggestion_model(uow, actor, Path(path)) if path else None
    return {"model": model}


def _reply_scores(score: ReplyScore) -> dict[str, Any]:
    return {
        "total": score.total,
        **score.sub_scores(),
        "working_days": score.working_days,
        "reasons": {
            aspect: [{"kind": r.kind, "detail": r.detail} for r in reasons]
            for aspect, reasons in score.reasons.items()
        },
    }


@router.get("/reply-quality")
def reply_quality(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    request: Request,
    department: str | None = None,
    since: Day | None = Query(
        None, description="closed on or after this day (default: 90 days ago)"
    ),
    actor: Actor = allow(services.reply_quality_by_department),
) -> dict[str, Any]:
    """The quality of the answers closed cases got, per handling unit of the caller's area
    (weakest first): how many cases, the mean total (0–100) and sub-scores (relevance,
    completeness, concreteness, timeliness, each 0–1), how many fell below 60, and the
    weakest answers with the words behind their scores. `department: null` is cases
    resolved on the spot by grid workers."""
    platform = platform_of(request)
    now = platform.cases.clock()
    # SINCE is a day of the city: from its midnight.
    start = (
        day_start(since, platform.settings.timezone)
        if since
        else now - timedelta(days=DEFAULT_REPLY_DAYS)
    )
    found = services.reply_quality_by_department(uow, actor, since=start, department=department)
    return {
        "since": start.isoformat(),
        "departments": [
            {
                "department": d.department_code,
                "name": d.department_name,
                "count": d.count,
                "mean": d.mean,
                **d.sub_scores,
                "below_60": d.poor,
                "weakest": [
                    {"case_id": w.case_id, "title": w.title, **_reply_scores(w.score)}
                    for w in d.worst
                ],
            }
            for d in found
        ],
    }


@router.get("/hot-issues")
def hot_issues(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    request: Request,
    days: int = Query(30, ge=1, le=365),
    limit: int = Query(20, ge=1, le=100),
    actor: Actor = allow(services.hot_issue_board),
) -> dict[str, Any]:
    """Hot issues (热点问题) among the cases of the caller's area reported in the last DAYS,
    open or closed: cases about the same problem in the same place, hottest first, with
    their place, span, count, supporters, heat and cases."""
    now = platform_of(request).cases.clock()
    board = services.hot_issue_board(uow, actor, now, days=days, limit=limit)
    return {
        "days": days,
        "issues": [
            {
                "title": item.issue.title,
                "place": item.issue.place,
                "first": item.issue.first.isoformat() if item.issue.first else None,
                "last": item.issue.last.isoformat() if item.issue.last else None,
                "count": item.issue.count,
                "supporters": item.issue.likes,
                "heat": item.issue.heat,
                "cases": [
                    {"id": int(p.id), "title": p.title, "status": item.statuses[int(p.id)]}
                    for p in item.issue.posts
                ],
            }
            for item in board
        ],
    }
