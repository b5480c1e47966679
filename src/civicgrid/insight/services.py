"""Insight services: retraining the platform's category suggestions from closed cases."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from civicgrid.cases.domain import Action, Status
from civicgrid.cases.repository import TaxonomyRepository, case_events, cases
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.permissions import Actor, Role, permission
from civicgrid.insight.classifier import (
    Evaluation,
    Message,
    ModelFileError,
    Progress,
    TextClassifier,
    cross_validate,
    read_sidecar,
    save_model,
)

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
        select(cases.c.id, cases.c.title, cases.c.description, cases.c.category_code).where(
            cases.c.status == Status.CLOSED
        )
    ).all()
    amended = session.execute(
        select(case_events.c.case_id, case_events.c.data)
        .join(cases, cases.c.id == case_events.c.case_id)
        .where(case_events.c.action == Action.AMEND.value, cases.c.status == Status.CLOSED)
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
    categories = TaxonomyRepository(uow.session).categories()
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
    save_model(model, path, counts=Counter(history.labels), evaluation=evaluation)
    return Retrained(path, len(history.labels), history.corrected, evaluation, names)


@permission(MODEL_ROLES, "See the category-suggestion model and its measured accuracy")
def suggestion_model(uow: UnitOfWork, actor: Actor, path: Path) -> dict[str, Any] | None:
    """What the model at PATH was trained on and how well it did per category (its JSON
    sidecar); None while there is no model and intake matches keywords instead."""
    try:
        return read_sidecar(path)
    except (ModelFileError, OSError, ValueError):
        return None
