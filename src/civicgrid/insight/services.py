"""Insight services: retraining the platform's category suggestions from closed cases (on
demand and on schedule), the quality of the answers closed cases got, and hot issues among
the recent cases."""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, true

from civicgrid.areas.repository import departments
from civicgrid.cases import views
from civicgrid.cases.domain import Action, Status
from civicgrid.cases.views import case_event_rows, case_rows
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import Conflict, InvalidInput
from civicgrid.core.jobs import JobRun, last_runs
from civicgrid.core.permissions import Actor, Role, permission
from civicgrid.insight import views as insight_views
from civicgrid.insight.classifier import (
    Evaluation,
    Message,
    ModelFileError,
    Progress,
    TextClassifier,
    cross_validate,
    read_sidecar,
    save_model,
    sidecar_path,
)
from civicgrid.insight.replies import ASPECTS, Exchange, ReplyScore, score_replies
from civicgrid.insight.views import BoardIssue

if TYPE_CHECKING:
    from civicgrid.insight.retraining import Retrainer

MODEL_ROLES = frozenset({Role.ADMIN, Role.DATA_ADMIN})
MIN_CASES = 20


@dataclass
class Retrained:
    path: Path
    count: int
    corrected: int  # closed cases whose category a dispatcher changed
    evaluation: Evaluation | None
    names: dict[str, str]


@dataclass
class History:
    messages: list[Message]
    labels: list[str]
    corrected: int


def closed_case_history(uow: UnitOfWork) -> History:
    """Closed cases' words and *final* category: a dispatcher's correction (an `amend` on
    the timeline) has already replaced the first guess on the case."""
    session = uow.session
    rows = session.execute(
        select(
            case_rows.c.id, case_rows.c.title, case_rows.c.description, case_rows.c.category_code
        ).where(case_rows.c.status == Status.CLOSED)
    ).all()
    amended = session.execute(
        select(case_event_rows.c.case_id, case_event_rows.c.data)
        .join(case_rows, case_rows.c.id == case_event_rows.c.case_id)
        .where(case_event_rows.c.action == Action.AMEND.value, case_rows.c.status == Status.CLOSED)
    ).all()
    corrected = {case_id for case_id, data in amended if data and "category" in data}
    return History(
        [(title or "", description or "") for _, title, description, _ in rows],
        [code for *_, code in rows],
        len(corrected),
    )


@permission(MODEL_ROLES, "Retrain the category suggestions from closed cases")
def retrain_suggestions(
    uow: UnitOfWork,
    actor: Actor,
    path: Path,
    *,
    folds: int = 5,
    min_cases: int = MIN_CASES,
    progress: Progress | None = None,
) -> Retrained:
    """Fit the suggestion model on every closed case (its final category, dispatchers'
    corrections included) and the taxonomy's names and keywords, measure it by k-fold
    cross-validation per category, and save both beside each other at PATH."""
    history = closed_case_history(uow)
    if len(history.labels) < min_cases or len(set(history.labels)) < 2:
        raise InvalidInput("insight_too_few_cases", count=len(history.labels), needed=min_cases)
    categories = views.taxonomy(uow.session)
    names = {c.code: c.name for c in categories}
    parents = {c.code: c.name for c in categories if c.parent_code is None}
    taxonomy = {
        c.code: [
            " ".join(
                part for part in (parents.get(c.parent_code or "", ""), c.name, c.keywords) if part
            ),
            c.description,
        ]
        for c in categories
        if c.parent_code is not None
    }
    options: dict[str, Any] = {"taxonomy": taxonomy}
    evaluation = None
    if folds > 1:
        evaluation, _ = cross_validate(
            TextClassifier,
            history.messages,
            history.labels,
            folds=folds,
            fit_options=options,
            progress=progress,
        )
    model = TextClassifier().fit(history.messages, history.labels, taxonomy=taxonomy)
    save_atomically(model, path, counts=Counter(history.labels), evaluation=evaluation)
    return Retrained(path, len(history.labels), history.corrected, evaluation, names)


def save_atomically(
    model: TextClassifier, path: Path, *, counts: Mapping[str, int], evaluation: Evaluation | None
) -> None:
    """Write the model and its sidecar beside PATH, then rename them over the old ones: a
    server process reading the model meanwhile (any process, see TrainedSuggester) opens
    the old file or the new one, never half of one. The sidecar goes first, so the new
    model's figures never describe the old one for long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".retraining-") as folder:
        staged = Path(folder) / path.name
        save_model(model, staged, counts=counts, evaluation=evaluation)
        os.replace(sidecar_path(staged), sidecar_path(path))
        os.replace(staged, path)


@permission(MODEL_ROLES, "See the category-suggestion model and its measured accuracy")
def suggestion_model(uow: UnitOfWork, actor: Actor, path: Path) -> dict[str, Any] | None:
    """What the model at PATH was trained on and how well it did per category (its JSON
    sidecar); None while there is no model and intake matches keywords instead."""
    try:
        return read_sidecar(path)
    except (ModelFileError, OSError, ValueError):
        return None


# ------------------------------------------------------------------ retraining on schedule

RETRAIN_JOB = "insight.retrain"
# A retraining started this long ago and not finished was cut short (a server stopped).
STALE_RUN = timedelta(hours=2)
# Who sees the insight page and its API: the model's accuracy, hot issues, reply quality.
INSIGHT_VIEWERS = frozenset({Role.ADMIN, Role.DATA_ADMIN, Role.LEADER})


@dataclass
class ModelOverview:
    model: dict[str, Any] | None  # the sidecar: trained when, on what, scores per category
    path: str  # "" when the platform has no model path (keyword suggestions only)
    every: timedelta | None  # the schedule; None when off
    last_run: JobRun | None  # the retrain job's last run (scheduled or on demand)
    running: bool
    next_run_at: datetime | None  # None with a schedule: at the scheduler's next check

    @property
    def can_retrain(self) -> bool:
        return bool(self.path) and not self.running

    @property
    def trained_at(self) -> datetime | None:
        stamp = (self.model or {}).get("trained_at")
        return datetime.fromisoformat(stamp) if stamp else None


def retraining_now(run: JobRun | None, now: datetime) -> bool:
    return run is not None and run.finished_at is None and run.started_at > now - STALE_RUN


@permission(INSIGHT_VIEWERS, "See the suggestion model, its accuracy and its retraining schedule")
def model_overview(
    uow: UnitOfWork, actor: Actor, path: str, every: timedelta | None, now: datetime
) -> ModelOverview:
    """What the category suggestions were trained on and how well they did per category,
    when they were last retrained (and how that ended) and when they will be next."""
    run = last_runs(uow.session).get(RETRAIN_JOB)
    model = None
    if path:
        try:
            model = read_sidecar(Path(path))
        except (ModelFileError, OSError, ValueError):
            model = None
    next_run = run.started_at + every if run is not None and every is not None else None
    return ModelOverview(model, path, every, run, retraining_now(run, now), next_run)


@permission(MODEL_ROLES, "Retrain the category suggestions now, in the background")
def retrain_now(uow: UnitOfWork, actor: Actor, retrainer: Retrainer | None, now: datetime) -> None:
    """Start retraining the category suggestions from the closed cases in a background
    thread of this server; its outcome is recorded like the scheduled run's. 409 while a
    retraining runs here or in another server process."""
    if retrainer is None:
        raise Conflict("insight_no_model_path")
    run = last_runs(uow.session).get(RETRAIN_JOB)
    if retraining_now(run, now) or not retrainer.start(actor.name):
        raise Conflict("insight_retrain_running")


# ------------------------------------------------------------------ the insight page's figures

REPLY_ACTIONS = (Action.RESOLVE.value, Action.RESOLVE_ON_SPOT.value, Action.CLOSE.value)
MAX_SCORED = 5000  # the newest closed cases scored at once
POOR_REPLY = 60.0


@dataclass
class CaseReply:
    """A closed case's answer (its resolve and close notes, as its reporters heard them)
    scored against its description."""

    case_id: int
    title: str
    department_code: str | None
    created_at: datetime
    answered_at: datetime | None
    reply: str
    score: ReplyScore


@dataclass
class DepartmentReplies:
    """Reply quality of one handling unit (None: resolved on the spot by grid workers)."""

    department_code: str | None
    department_name: str
    count: int
    mean: float
    sub_scores: dict[str, float | None]
    poor: int  # replies below POOR_REPLY
    worst: list[CaseReply]


def _area_condition(actor: Actor) -> Any:
    return (
        case_rows.c.area_path.startswith(actor.scope_path, autoescape=True)
        if actor.scope_path
        else true()
    )


@permission(INSIGHT_VIEWERS, "Score the answers of the closed cases in one's area")
def scored_replies(
    uow: UnitOfWork,
    actor: Actor,
    *,
    since: datetime | None = None,
    department: str | None = None,
    limit: int = MAX_SCORED,
) -> list[CaseReply]:
    """Every closed case of the caller's area (closed since SINCE, of DEPARTMENT when
    given) with its answer scored for relevance, completeness, concreteness and
    timeliness (reported → resolved); the newest LIMIT, computed on demand."""
    session = uow.session
    query = (
        select(
            case_rows.c.id,
            case_rows.c.title,
            case_rows.c.description,
            case_rows.c.department_code,
            case_rows.c.created_at,
            case_rows.c.resolved_at,
            case_rows.c.closed_at,
            case_rows.c.resolution,
        )
        .where(case_rows.c.status == Status.CLOSED, _area_condition(actor))
        .order_by(case_rows.c.closed_at.desc(), case_rows.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(case_rows.c.closed_at >= since)
    if department:
        known = session.execute(select(departments.c.code).where(departments.c.code == department))
        if known.first() is None:
            raise InvalidInput("unknown_department", code=department, field="department")
        query = query.where(case_rows.c.department_code == department)
    rows = session.execute(query).all()
    notes: dict[int, list[str]] = {}
    ids = [row.id for row in rows]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for case_id, note in session.execute(
            select(case_event_rows.c.case_id, case_event_rows.c.note)
            .where(
                case_event_rows.c.case_id.in_(chunk), case_event_rows.c.action.in_(REPLY_ACTIONS)
            )
            .order_by(case_event_rows.c.case_id, case_event_rows.c.at, case_event_rows.c.id)
        ):
            if note and note.strip():
                notes.setdefault(case_id, []).append(note.strip())
    exchanges = []
    for row in rows:
        answers = list(dict.fromkeys(notes.get(row.id) or [row.resolution or ""]))
        exchanges.append(
            Exchange(
                title=row.title or "",
                question=row.description or "",
                reply="\n".join(answers),
                asked_at=row.created_at,
                replied_at=row.resolved_at or row.closed_at,
            )
        )
    scores = score_replies(exchanges)
    return [
        CaseReply(
            row.id,
            row.title or row.description[:40],
            row.department_code,
            row.created_at,
            exchange.replied_at,
            exchange.reply,
            score,
        )
        for row, exchange, score in zip(rows, exchanges, scores, strict=True)
    ]


@permission(INSIGHT_VIEWERS, "Reply quality per handling unit, for assessment")
def reply_quality_by_department(
    uow: UnitOfWork,
    actor: Actor,
    *,
    since: datetime | None = None,
    department: str | None = None,
    worst: int = 3,
) -> list[DepartmentReplies]:
    """Per handling unit of the caller's area: how many closed cases, the mean quality of
    their answers (0–100) and of each sub-score, how many fell below 60 and the WORST
    ones; weakest unit first. The figure assessment (考核) takes as "reply quality"."""
    scored = scored_replies(uow, actor, since=since, department=department)
    groups: dict[str | None, list[CaseReply]] = {}
    for item in scored:
        groups.setdefault(item.department_code, []).append(item)
    codes = [code for code in groups if code]
    names = dict(
        uow.session.execute(
            select(departments.c.code, departments.c.name).where(departments.c.code.in_(codes))
        ).all()
    )
    out = []
    for code, items in groups.items():
        sub: dict[str, float | None] = {}
        for aspect in ASPECTS:
            values = [v for i in items if (v := getattr(i.score, aspect)) is not None]
            sub[aspect] = round(mean(values), 3) if values else None
        out.append(
            DepartmentReplies(
                department_code=code,
                department_name=names.get(code, code or ""),
                count=len(items),
                mean=round(mean(i.score.total for i in items), 1),
                sub_scores=sub,
                poor=sum(1 for i in items if i.score.total < POOR_REPLY),
                worst=sorted(items, key=lambda i: i.score.total)[:worst],
            )
        )
    out.sort(key=lambda d: (d.mean, d.department_name))
    return out


@permission(INSIGHT_VIEWERS, "Hot issues among the recent cases of one's area")
def hot_issue_board(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    *,
    days: int = 30,
    limit: int = 20,
    half_life_days: float = 7.0,
) -> list[BoardIssue]:
    """Recent cases of the caller's area (reported in the last DAYS, open or closed; not
    voided) about the same problem in the same place, grouped into hot issues: the
    hottest LIMIT, heat from their count, supporters (附议) and recency (insight.views,
    which the command centre reads too)."""
    return insight_views.hot_issues_of(
        uow.session, actor.scope_path, now, days=days, limit=limit, half_life_days=half_life_days
    )
