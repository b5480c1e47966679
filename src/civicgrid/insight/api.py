"""/api/v1/insight: the category-suggestion model intake uses and its measured accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import allow, get_uow, platform_of
from civicgrid.core.permissions import Actor
from civicgrid.insight import services

router = APIRouter(prefix="/api/v1/insight", tags=["insight"])


@router.get("/suggestion-model")
def suggestion_model(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.MODEL_ROLES),
) -> dict[str, Any]:
    """What the category suggestions of intake are trained on (closed cases per category)
    and their cross-validated precision and recall per category; `model: null` while
    intake still matches keywords (run `civicgrid insight retrain`)."""
    path = platform_of(request).settings.suggestion_model_path
    model = services.suggestion_model(uow, actor, Path(path)) if path else None
    return {"model": model}
