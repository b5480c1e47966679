"""/api/v1/cases, /api/v1/categories, /api/v1/authority-rules, /api/v1/attachments."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Query, Request, Response

from civicgrid.cases import services
from civicgrid.cases.domain import Status
from civicgrid.cases.repository import CaseFilter
from civicgrid.cases.schemas import (
    ActionIn,
    CaseDetailOut,
    CaseIn,
    CaseOut,
    CasePageOut,
    CategoryOut,
    ListReplacedOut,
    ListVersionOut,
    NearbyOut,
    ReportedOut,
    RuleIn,
    RuleOut,
    SuggestionOut,
    SupportedCaseOut,
    SupportedOut,
    SupporterIn,
    TaxonomyReplacedOut,
)
from civicgrid.cases.services import CasePorts
from civicgrid.cases.taxonomy import check_categories
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import InvalidInput
from civicgrid.core.http import (
    ApiRouter,
    allow,
    count_attempt,
    get_uow,
    limit_attempts,
    platform_of,
)
from civicgrid.core.permissions import Actor
from civicgrid.core.rows import Parsed
from civicgrid.core.types import PageNumber, RecordId

router = ApiRouter(prefix="/api/v1", tags=["cases"])


def ports_of(request: Request) -> CasePorts:
    ports: CasePorts = platform_of(request).cases
    return ports


@router.post("/cases", response_model=ReportedOut, status_code=201)
async def report_case(
    body: CaseIn,
    request: Request,
    actor: Actor = allow(services.prepare_report),
) -> ReportedOut:
    """Report a problem. The case is placed in its grid, categorised, routed by the
    authority list and acknowledged only once stored. Residents, dispatch agents, grid
    workers, cadres and department systems (API keys) may report."""
    ports = ports_of(request)
    # Checked and stored by the process's intake writer together with other reports
    # arriving now; the answer waits for the commit, or is the error (cases.intake).
    intake = platform_of(request).intake
    reported = await intake.report(actor, body.to_new_case())
    return ReportedOut(
        **CaseOut.of(reported.case, ports.clock()).model_dump(),
        possible_duplicates=reported.possible_duplicates,
        suggested_categories=[
            {"category": s.category_code, "confidence": round(s.confidence, 3)}
            for s in reported.suggestions
        ],
    )


@router.get("/cases", response_model=CasePageOut)
def list_cases(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_cases),
    status: str | None = Query(None, description="comma-separated states, or 'open'"),
    category: str | None = Query(None, description="a category or a level-1 group"),
    grid: str | None = None,
    department: str | None = None,
    overdue: bool | None = None,
    q: str | None = Query(
        None,
        max_length=200,
        description="a case number, a reporter's phone (roles that read phones in full), or "
        "words all found in the title, description or address",
    ),
    order: str = Query("deadline", pattern="^(deadline|newest)$"),
    page: PageNumber = 1,
    page_size: int = Query(50, ge=1, le=500),
) -> CasePageOut:
    """Cases the caller may see — by area (dispatch centre, cadres, grid workers, leaders),
    by department (handlers, API keys) or own reports (residents) — soonest deadline first."""
    ports = ports_of(request)
    found = services.list_cases(
        uow,
        actor,
        CaseFilter(
            statuses=_statuses(status),
            category=category,
            grid=grid,
            department=department,
            overdue=overdue,
            q=q,
        ),
        ports,
        page=page,
        page_size=page_size,
        order=order,
    )
    now = ports.clock()
    return CasePageOut(
        items=[CaseOut.of(c, now) for c in found.items],
        total=found.total,
        total_exact=found.total_exact,
        page=found.page,
        page_size=found.page_size,
    )


@router.get("/cases/nearby", response_model=list[NearbyOut])
def nearby(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    category: str = Query(..., description="a level-2 category code"),
    lat: float = Query(..., ge=-90, le=90),
    lon: float = Query(..., ge=-180, le=180),
    actor: Actor = allow(services.nearby_cases),
) -> list[NearbyOut]:
    """Open cases of CATEGORY within the duplicate radius of the point, reported within the
    duplicate window, nearest first, with nothing about their reporters: shown before a
    resident reports, so she can add her voice instead."""
    found = services.nearby_cases(uow, actor, category, lat, lon, ports_of(request))
    return [NearbyOut.of(near) for near in found]


def _statuses(value: str | None) -> list[Status] | None:
    if not value:
        return None
    if value == "open":
        return sorted(services.OPEN_STATUSES)
    try:
        return [Status(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError as exc:
        raise InvalidInput(
            "unknown_status", value=value, allowed=", ".join(s.value for s in Status)
        ) from exc


@router.get("/cases/{case_id}", response_model=CaseDetailOut)
def get_case(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_case),
) -> CaseDetailOut:
    """The case with its full timeline, the answers sent to its reporters, and the actions
    the caller may take now."""
    ports = ports_of(request)
    return CaseDetailOut.of_view(services.get_case(uow, actor, case_id, ports), ports.clock())


@router.post("/cases/{case_id}/actions", response_model=CaseDetailOut)
def act_on_case(
    case_id: RecordId,
    body: ActionIn,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.act_on_case),
) -> CaseDetailOut:
    """Take one action (accept, dispatch, whistle, resolve, verify, close, rate, escalate,
    …). A wrong action for the case's state is a 409 naming the state and the allowed
    actions; a missing field is a 422 naming the field."""
    ports = ports_of(request)
    view = services.act_on_case(uow, actor, case_id, body.to_request(), ports)
    return CaseDetailOut.of_view(view, ports.clock())


@router.post("/cases/{case_id}/supporters", response_model=SupportedOut, status_code=201)
def support(
    case_id: RecordId,
    body: SupporterIn,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.support_case),
) -> SupportedOut:
    """Add one's voice (附议) to an open case instead of reporting it again: the caller
    becomes one of its reporters and gets its answers from now on. Residents with an
    account, or anyone without one who leaves a mobile number (a few times an hour per
    address); 409 when the case is closed or already the caller's."""
    if actor.is_anonymous:
        count_attempt(request, "guest")
    supported = services.support_case(
        uow, actor, case_id, body.to_new_supporter(), ports_of(request)
    )
    case = supported.case
    return SupportedOut(case=case.id or 0, supporters=case.supporters, status=case.status)


@router.get("/cases/{case_id}/supported", response_model=SupportedCaseOut)
def supported(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.supported_case),
) -> SupportedCaseOut:
    """A case the caller added her voice to, as the public sees it: its category, state,
    public title and dates, her own words and the answers she got."""
    return SupportedCaseOut.of_view(services.supported_case(uow, actor, case_id, ports_of(request)))


@router.get("/cases/{case_id}/duplicates", response_model=list[CaseOut])
def duplicates(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.duplicates_of),
) -> list[CaseOut]:
    """Open cases of the same category close by, reported shortly before: merge candidates."""
    ports = ports_of(request)
    now = ports.clock()
    return [CaseOut.of(c, now) for c in services.duplicates_of(uow, actor, case_id, ports)]


@router.get("/cases/{case_id}/track", response_model=CaseDetailOut)
def track(
    case_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    phone: str = Query(..., min_length=4, description="the phone number given when reporting"),
    actor: Actor = allow(services.track_case),
    _attempt: None = limit_attempts("track"),
) -> CaseDetailOut:
    """Follow a case without an account: its number and the reporter's phone (a few
    attempts a minute per address, so phone numbers cannot be guessed)."""
    return CaseDetailOut.of_view(
        services.track_case(uow, actor, case_id, phone), ports_of(request).clock()
    )


@router.get("/attachments/{attachment_id}")
def attachment(
    attachment_id: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_attachment),
) -> Response:
    """A photo attached to a case the caller may see."""
    found = services.get_attachment(uow, actor, attachment_id)
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            # Shown as the image it was checked to be (nosniff comes with every answer),
            # under a name that cannot break the header, and never able to run anything
            # even if a browser took it for a page.
            "Content-Disposition": inline_disposition(found.filename),
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


def inline_disposition(filename: str) -> str:
    """`inline` with FILENAME as ASCII letters, digits and `._-` (others become `_`) and
    in full as RFC 5987 UTF-8."""
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", filename)[:100] or "photo"
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(filename[:100], safe='')}"


@router.get("/categories", response_model=list[CategoryOut])
def categories(
    uow: Annotated[UnitOfWork, Depends(get_uow)], actor: Actor = allow(services.list_categories)
) -> list[CategoryOut]:
    """The two-level category taxonomy."""
    return [CategoryOut.of(c) for c in services.list_categories(uow, actor)]


@router.get("/categories/suggest", response_model=list[SuggestionOut])
def suggest(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    text: str = Query("", max_length=4000, description="what the resident typed so far"),
    actor: Actor = allow(services.suggest_categories),
) -> list[SuggestionOut]:
    """The three categories that fit TEXT best, with the suggester's confidence (the
    report form picks the first while a resident types)."""
    found = services.suggest_categories(uow, actor, text, ports_of(request))
    return [SuggestionOut.of(s) for s in found]


@router.put("/categories", response_model=TaxonomyReplacedOut)
def replace_categories(
    body: list[CategoryOut],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    deactivate_in_use: bool = Query(
        False,
        description="deactivate categories left out even when open cases or the authority "
        "list still name them",
    ),
    actor: Actor = allow(services.replace_categories),
) -> TaxonomyReplacedOut:
    """Replace the taxonomy (administrators). Every row is checked (a code and a name, each
    code once, each parent a group of the list), all or none; a 422 names each wrong row
    (row 1 is the first). Categories left out are deactivated, but a list that leaves out
    ones still in use is refused naming them unless deactivate_in_use. The answer says how
    many were added, changed, deactivated and kept."""
    items = [(row, category.to_category()) for row, category in enumerate(body, start=1)]
    parsed = check_categories(Parsed(items=items))
    changes = services.replace_categories(uow, actor, parsed, deactivate_in_use=deactivate_in_use)
    return TaxonomyReplacedOut.of(changes, services.list_categories(uow, actor))


@router.get("/authority-rules", response_model=list[RuleOut])
def rules(
    uow: Annotated[UnitOfWork, Depends(get_uow)], actor: Actor = allow(services.list_rules)
) -> list[RuleOut]:
    """The published authority list (事权清单): category × level → unit, time limits."""
    return [RuleOut.of(r) for r in services.list_rules(uow, actor)]


@router.put("/authority-rules", response_model=ListReplacedOut)
def replace_rules(
    body: list[RuleOut],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: str = Query("", max_length=1000, description="why the list is replaced"),
    allow_unrouted: bool = Query(
        False, description="install it even if active categories are left with no line"
    ),
    actor: Actor = allow(services.replace_rules),
) -> ListReplacedOut:
    """Replace the authority list (administrators); every rule is checked, all or none,
    and a list that leaves active categories unrouted is refused naming them unless
    allow_unrouted. It becomes a new version (unchanged lines keep their numbers); open
    cases keep the version they were routed by. The answer says what changed."""
    parsed: Parsed = Parsed(items=[(i, r.to_rule()) for i, r in enumerate(body, start=1)])
    done = services.replace_rules(uow, actor, parsed, reason, allow_unrouted=allow_unrouted)
    return ListReplacedOut(
        version=done.version,
        added=done.changes.added,
        removed=done.changes.removed,
        kept=done.changes.kept,
        rules=[RuleOut.of(r) for r in services.list_rules(uow, actor)],
    )


@router.post("/authority-rules", response_model=RuleOut, status_code=201)
def add_rule(
    body: RuleIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_rule),
) -> RuleOut:
    """Add one line to the authority list (administrators), with the reason; it makes a
    new version of the list."""
    return RuleOut.of(services.add_rule(uow, actor, body.to_edit(), body.reason))


@router.put("/authority-rules/{rule_id}", response_model=RuleOut)
def change_rule(
    rule_id: RecordId,
    body: RuleIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.change_rule),
) -> RuleOut:
    """Change one line (administrators): the line as it should be, and why. The changed
    line gets a new number; cases routed by the old one keep it."""
    return RuleOut.of(services.change_rule(uow, actor, rule_id, body.to_edit(), body.reason))


@router.delete("/authority-rules/{rule_id}", status_code=204)
def remove_rule(
    rule_id: RecordId,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: str = Query("", max_length=1000, description="why it is removed (required)"),
    actor: Actor = allow(services.remove_rule),
) -> Response:
    """Remove one line from the authority list (administrators), with the reason."""
    services.remove_rule(uow, actor, rule_id, reason)
    return Response(status_code=204)


@router.get("/authority-rules/versions", response_model=list[ListVersionOut])
def rule_versions(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.rule_versions),
) -> list[ListVersionOut]:
    """The versions of the authority list, newest first: who, when, how, why and what."""
    return [ListVersionOut.of(v) for v in services.rule_versions(uow, actor)]
