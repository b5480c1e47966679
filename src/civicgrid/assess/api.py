"""/api/v1/assess: indicators and schemes (versioned), rankings and the cases behind each
figure, frozen months, appeals, reports, threshold alerts and the command centre's
picture."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.responses import Response

from civicgrid.assess import services
from civicgrid.assess.ports import AssessPorts
from civicgrid.assess.schemas import (
    AlertIn,
    AlertOut,
    AppealIn,
    AppealOut,
    CaseLineOut,
    DecisionIn,
    DecisionOut,
    IndicatorChange,
    MonthOut,
    RankingOut,
    RulebookOut,
    SchemeChange,
    VersionOut,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, get_uow, platform_of, request_locale
from civicgrid.core.permissions import Actor
from civicgrid.core.types import RecordId

router = ApiRouter(prefix="/api/v1/assess", tags=["assess"])

MONTH = Query(max_length=7, description="YYYY-MM, the city's month (the current one: to date)")
SCHEME = Query(max_length=40, description="a scheme's code, e.g. department, region_street")


def ports(request: Request) -> AssessPorts:
    ports_: AssessPorts = platform_of(request).assess
    return ports_


@router.get("/rulebook", response_model=RulebookOut)
def read_rulebook(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.read_rulebook),
    version: int | None = Query(None, ge=0, le=2_147_483_647),
) -> RulebookOut:
    """Every indicator and scheme of the rulebook in force, or of VERSION (0: the presets
    as shipped)."""
    return RulebookOut.of(services.read_rulebook(uow, actor, version))


@router.get("/versions")
def rulebook_versions(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.rulebook_versions),
) -> list[dict[str, Any]]:
    """The rulebook's versions, newest first: who, when, why and what changed."""
    return [v.__dict__ for v in services.rulebook_versions(uow, actor)]


@router.put("/indicators/{code}", response_model=VersionOut)
def change_indicator(
    request: Request,
    code: Annotated[str, Path(max_length=40)],
    body: IndicatorChange,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_indicator),
) -> VersionOut:
    """Add or change an indicator (a new version of the rulebook, with the reason). A
    definition that cannot be computed is a 422 naming the field."""
    version = services.change_indicator(
        uow, actor, ports(request), code, body.definition.model_dump(), body.reason
    )
    return VersionOut(version=version)


@router.put("/schemes/{code}", response_model=VersionOut)
def change_scheme(
    request: Request,
    code: Annotated[str, Path(max_length=40)],
    body: SchemeChange,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_scheme),
) -> VersionOut:
    """Change a scheme's indicators, weights (100 % together), rules or grades (a new
    version of the rulebook, with the reason)."""
    version = services.change_scheme(
        uow, actor, ports(request), code, body.definition.model_dump(), body.reason
    )
    return VersionOut(version=version)


@router.get("/rankings", response_model=RankingOut)
def rankings(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    month: str = MONTH,
    scheme: str = SCHEME,
    actor: Actor = allow(services.rankings),
) -> RankingOut:
    """A scheme's ranking of a month over the caller's area: figures, score, grade, rank
    and its move since the month before."""
    return RankingOut.of(services.rankings(uow, actor, ports(request), month, scheme))


@router.get("/rankings/cases", response_model=list[CaseLineOut])
def figure_cases(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    month: str = MONTH,
    indicator: str = Query(max_length=40),
    object: str = Query(max_length=20, description="unit, grid, grid_worker, …"),
    code: str = Query(max_length=80, description="the object's code"),
    part: str = Query("denominator", max_length=12, description="numerator or denominator"),
    actor: Actor = allow(services.figure_cases),
) -> list[CaseLineOut]:
    """The cases behind one figure (at most 500)."""
    lines = services.figure_cases(uow, actor, ports(request), month, indicator, object, code, part)
    return [CaseLineOut.of(line) for line in lines]


@router.get("/months/{month}", response_model=MonthOut)
def month_record(
    request: Request,
    month: Annotated[str, Path(max_length=7)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.month_record),
) -> MonthOut:
    """Whether a month is open or frozen, its rulebook version, revision and appeal window."""
    return MonthOut.of(services.month_record(uow, actor, ports(request), month))


@router.post("/months/{month}/freeze", response_model=MonthOut)
def freeze_month(
    request: Request,
    month: Annotated[str, Path(max_length=7)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.freeze_month),
) -> MonthOut:
    """Freeze a month that has ended: its facts as of its end, every scheme computed and
    stored, appeals open for CIVICGRID_ASSESS_APPEAL_DAYS."""
    return MonthOut.of(services.freeze_month(uow, actor, ports(request), month))


@router.get("/months/{month}/results")
def stored_results(
    request: Request,
    month: Annotated[str, Path(max_length=7)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    scheme: str = SCHEME,
    actor: Actor = allow(services.stored_results),
) -> list[dict[str, Any]]:
    """A frozen month's stored city-wide results (its latest revision)."""
    return services.stored_results(uow, actor, ports(request), month, scheme)


@router.get("/months/{month}/history")
def month_history(
    request: Request,
    month: Annotated[str, Path(max_length=7)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.month_history),
) -> list[dict[str, Any]]:
    """A month's history: frozen, and each recomputation after an accepted appeal."""
    return [
        {
            "action": e.action,
            "actor": e.actor_name,
            "at": e.at,
            "note": e.note,
            "data": e.data,
        }
        for e in services.month_history(uow, actor, ports(request), month)
    ]


@router.get("/appeals", response_model=list[AppealOut])
def list_appeals(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    month: str | None = Query(None, max_length=7),
    state: str | None = Query(None, max_length=10, description="filed, accepted or rejected"),
    actor: Actor = allow(services.list_appeals),
) -> list[AppealOut]:
    """Appeals, newest first: a unit's own, or those of the caller's area."""
    return [AppealOut.of(a) for a in services.list_appeals(uow, actor, month, state)]


@router.post("/appeals", response_model=AppealOut, status_code=201)
def file_appeal(
    request: Request,
    body: AppealIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.file_appeal),
) -> AppealOut:
    """Appeal a case's counting in a frozen month, with the reason (within its appeal window)."""
    appeal = services.file_appeal(
        uow,
        actor,
        ports(request),
        body.month,
        body.case_id,
        body.reason,
        body.indicator,
        body.object,
    )
    return AppealOut.of(appeal)


@router.post("/appeals/{appeal_id}/decision", response_model=DecisionOut)
def decide_appeal(
    request: Request,
    appeal_id: RecordId,
    body: DecisionIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.decide_appeal),
) -> DecisionOut:
    """Accept (the month is recomputed as a new revision, the change logged) or reject an
    appeal, with a note."""
    outcome = services.decide_appeal(uow, actor, ports(request), appeal_id, body.accept, body.note)
    return DecisionOut(
        appeal=AppealOut.of(outcome.appeal), revision=outcome.revision, changes=outcome.changes
    )


@router.get("/report")
def monthly_report(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    area: str = Query(max_length=32),
    month: str = MONTH,
    format: str = Query("pdf", max_length=4, description="xlsx or pdf"),
    actor: Actor = allow(services.monthly_report),
) -> Response:
    """An area's monthly report: Excel (a sheet and a chart per scheme) or PDF."""
    report = services.monthly_report(
        uow, actor, ports(request), area, month, format, request_locale(request)
    )
    return Response(
        report.content,
        media_type=report.media_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )


@router.get("/alerts", response_model=list[AlertOut])
def list_alerts(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_alerts),
) -> list[AlertOut]:
    """The threshold alerts watching the caller's area."""
    return [AlertOut.of(a) for a in services.list_alerts(uow, actor)]


@router.post("/alerts", response_model=AlertOut, status_code=201)
def add_alert(
    request: Request,
    body: AlertIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_alert),
) -> AlertOut:
    """Watch an indicator: "the on-time closure rate of any street below 90 % this week"."""
    alert = services.add_alert(
        uow,
        actor,
        ports(request),
        body.name,
        body.indicator,
        body.object,
        body.comparison,
        body.threshold,
        body.window,
        body.area,
        body.min_cases,
    )
    return AlertOut.of(alert)


@router.delete("/alerts/{alert_id}", response_model=AlertOut)
def stop_alert(
    alert_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.stop_alert),
) -> AlertOut:
    """Stop watching (the alert and what it sent are kept)."""
    return AlertOut.of(services.stop_alert(uow, actor, alert_id))


@router.post("/facts/refresh")
def refresh_facts(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.refresh_facts),
) -> dict[str, Any]:
    """Bring the fact table (and the columnar snapshot) up to date with the timelines now."""
    report = services.refresh_facts(uow, actor, ports(request))
    return {"cases": report.cases, "events_to": report.events_to, "seconds": report.seconds}


@router.get("/facts")
def facts_status(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.facts_status),
) -> dict[str, Any]:
    """How many live fact rows there are and how far they follow the timelines."""
    return services.facts_status(uow, actor, ports(request)).__dict__


@router.get("/command")
def command_summary(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.command_summary),
) -> dict[str, Any]:
    """The command centre's picture of the caller's area (what the wall screen shows)."""
    return services.command_summary(uow, actor, ports(request), request_locale(request))
