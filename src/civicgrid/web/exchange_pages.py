"""The data-sharing pages (数据共享): the catalogue and a dataset's page (schema, grades,
quality, masked sample rows, the form to ask for fields, a unit's upload), the granted rows,
the requests of one's unit with their deadlines and the decision forms, the grants with
revocation, and the yes/no questions (免证明). Phone first; every action ends on a page
that says what it did."""

from __future__ import annotations

import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, InvalidInput
from civicgrid.core.http import allow, get_uow, platform_of, read_form, request_locale
from civicgrid.core.i18n import N_, Locale, city_day, translate
from civicgrid.core.permissions import Actor, Rule
from civicgrid.core.types import RecordId, record_number
from civicgrid.core.workflow import Context
from civicgrid.exchange import services
from civicgrid.exchange.domain import (
    QUESTION_INPUTS,
    SHARE_GRANT,
    SHARE_REQUEST,
    Dataset,
    GrantState,
    Question,
    RequestAction,
    RequestState,
    ShareClass,
    SourceKind,
)
from civicgrid.exchange.importing import safe_file_name
from civicgrid.exchange.masking import APPLICABLE, MaskKind
from civicgrid.exchange.ports import ExchangePorts
from civicgrid.exchange.repository import CatalogueQuery
from civicgrid.web.pages import TEMPLATES, render

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30
ROWS_PAGE = 50
# The question form is for those who ask questions: a unit's staff.
VERIFY_PAGE = Rule(services.READERS, "ask a yes/no question")


def exchange_links(actor: Actor) -> list[tuple[str, str]]:
    """Data sharing in the top bar, for those who may browse the catalogue."""
    if actor.role in services.CATALOGUE_READERS:
        return [("/exchange", N_("ui.nav.exchange"))]
    return []


TEMPLATES.env.globals["exchange_links"] = exchange_links


def _ports(request: Request) -> ExchangePorts:
    ports: ExchangePorts = platform_of(request).exchange
    return ports


def mask_label(text: str, locale: Locale) -> str:
    """How a mask reads: "后4位", "手机号 138****5678", "密钥哈希" …"""
    name, _, count = text.partition(":")
    if name == MaskKind.LAST.value:
        return translate("ui.exchange.mask.last", locale, {"n": count})
    return translate(f"ui.exchange.mask.{name}", locale)


def _labels(request: Request, uow: UnitOfWork, actor: Actor, units: list[str]) -> dict[str, Any]:
    locale = request_locale(request)
    names = services.unit_names(uow, actor, units)
    areas = _ports(request).areas.load(uow.session)
    return {
        "area_name": lambda code: f"{areas[code][0]} {code}" if code in areas else code,
        "unit": lambda code: names.get(code, code),
        "mask_label": lambda text: mask_label(text, locale),
        "now": _ports(request).clock(),
        "light_of": lambda r: SHARE_REQUEST.light(r, _ports(request).clock()).value,
        # A deadline is the midnight after its last working day: that day is shown.
        "last_day": lambda moment: moment - timedelta(seconds=1),
    }


def _done(request: Request) -> str | None:
    """The confirmation of what the last action did (?done=…), in the reader's language."""
    what = request.query_params.get("done", "")
    if not what.isidentifier() or len(what) > 30:
        return None
    return translate(f"ui.exchange.done.{what}", request_locale(request))


# ------------------------------------------------------------------ the catalogue


@router.get("/exchange", response_class=HTMLResponse)
def catalogue_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.search_catalogue),
) -> HTMLResponse:
    """The catalogue: search and filter the datasets the units publish."""
    params = request.query_params
    q = params.get("q", "").strip()[:100]
    share = params.get("class", "")
    source = params.get("source", "")
    page = record_number(params.get("page")) or 1
    query = CatalogueQuery(
        q,
        share_class=ShareClass(share) if share in ShareClass.__members__.values() else None,
        source_kind=SourceKind(source) if source in SourceKind.__members__.values() else None,
    )
    found = services.search_catalogue(uow, actor, query, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    now = _ports(request).clock()
    return render(
        request,
        actor,
        "exchange/catalogue.html",
        found=found,
        q=q,
        share=share,
        source=source,
        page=page,
        page_size=PAGE_SIZE,
        classes=[c.value for c in ShareClass],
        sources=[s.value for s in SourceKind],
        fresh={d.id: d.is_fresh(now) for d in found.datasets},
        reads=actor.role in services.READERS,
        **_labels(request, uow, actor, [d.owner_unit for d in found.datasets]),
    )


def _dataset_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    dataset_id: int,
    *,
    error: CivicGridError | None = None,
    typed: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = services.get_dataset(uow, actor, dataset_id)
    dataset = view.dataset
    locale = request_locale(request)
    ports = _ports(request)
    sample = services.sample_rows(uow, actor, ports, dataset_id) if not dataset.is_question else []
    mine = actor.department_code
    may_ask = (
        actor.role in services.REQUESTERS
        and bool(mine)
        and mine != dataset.owner_unit
        and dataset.share_class is not ShareClass.NOT_SHARED
    )
    may_upload = dataset.source_kind is SourceKind.FILE and (
        actor.role in services.OVERSEERS or (bool(mine) and mine == dataset.owner_unit)
    )
    today = city_day(ports.clock(), ports.timezone)
    defaults = {
        "fields": [],
        "purpose": "",
        "area": "",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=90)).isoformat(),
    }
    return render(
        request,
        actor,
        "exchange/dataset.html",
        status_code=status,
        view=view,
        dataset=dataset,
        sample=sample,
        may_ask=may_ask,
        may_upload=may_upload,
        reads=_holds_grant(uow, actor, dataset, ports),
        masks_for={f.name: [k.value for k in APPLICABLE[f.type]] for f in dataset.fields},
        typed=defaults | (typed or {}),
        error=error.message(locale) if error else None,
        error_field=str(error.params.get("field", "")) if error else "",
        done=_done(request),
        **_labels(request, uow, actor, [dataset.owner_unit]),
    )


def _holds_grant(uow: UnitOfWork, actor: Actor, dataset: Dataset, ports: ExchangePorts) -> bool:
    """Whether the caller's unit may read the dataset's rows now (a live grant)."""
    if actor.role not in services.READERS or not actor.department_code or dataset.is_question:
        return False
    now = ports.clock()
    held = services.list_grants(uow, actor, "received", [GrantState.ACTIVE])
    return any(g.dataset_id == dataset.id and g.live(now) for g in held)


@router.get("/exchange/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_page(
    dataset_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_dataset),
) -> HTMLResponse:
    """A dataset: schema, grades and marks, quality, masked sample rows, and the forms to
    ask for its fields or upload its file."""
    return _dataset_page(request, uow, actor, dataset_id)


def _typed(form: FormData) -> dict[str, Any]:
    """What a request or narrowing form holds, as typed (to show again with an error)."""
    fields = [str(v) for v in form.getlist("fields")][:200]

    def text(name: str) -> str:
        return str(form.get(name, "")).strip()

    names = ("purpose", "area", "filter_field", "filter_values", "starts_on", "ends_on")
    return {
        "fields": fields,
        "masks": {name: text(f"mask_{name}") for name in fields},
        **{name: text(name) for name in names},
    }


def _terms(typed: dict[str, Any]) -> services.TermsIn:
    values = typed["filter_values"].replace("，", ",").split(",")
    return services.TermsIn(
        [(name, typed["masks"].get(name) or None) for name in typed["fields"]],
        _day(typed["starts_on"], "starts_on"),
        _day(typed["ends_on"], "ends_on"),
        area_code=typed["area"],
        filter_field=typed["filter_field"],
        filter_values=[v.strip() for v in values if v.strip()],
    )


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("exchange_field_missing", field=field) from None


@router.post(
    "/exchange/datasets/{dataset_id}/requests", response_class=HTMLResponse, response_model=None
)
async def ask(
    dataset_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.ask),
) -> Response:
    """Ask the owner for the fields ticked, each with its mask, for a purpose and days."""
    form = await read_form(request)
    return await run_in_threadpool(lambda: _ask(request, uow, actor, dataset_id, form))


def _ask(
    request: Request, uow: UnitOfWork, actor: Actor, dataset_id: int, form: FormData
) -> Response:
    typed = _typed(form)
    try:
        terms = _terms(typed)
        made = services.ask(uow, actor, _ports(request), dataset_id, terms, typed["purpose"])
    except CivicGridError as problem:
        uow.rollback()
        return _dataset_page(
            request, uow, actor, dataset_id, error=problem, typed=typed, status=problem.status
        )
    return RedirectResponse(f"/exchange/requests/{made.id}?done=asked", status_code=303)


@router.post(
    "/exchange/datasets/{dataset_id}/files", response_class=HTMLResponse, response_model=None
)
async def upload(
    dataset_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.upload_rows),
) -> Response:
    """The owner's new file of the dataset's rows; the bad rows are listed after it."""
    form = await read_form(request)
    return await run_in_threadpool(lambda: _upload(request, uow, actor, dataset_id, form))


def _upload(
    request: Request, uow: UnitOfWork, actor: Actor, dataset_id: int, form: FormData
) -> Response:
    upload = form.get("file")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InvalidInput("exchange_field_missing", field="file")
        name = Path(upload.filename).name
        suffix = Path(name).suffix.lower()
        if suffix not in (".csv", ".txt", ".xlsx", ".xlsm"):
            raise InvalidInput("exchange_file_kind", field="file", name=name[:100])
        with tempfile.TemporaryDirectory(prefix="civicgrid-exchange-") as folder:
            path = Path(folder) / safe_file_name(name)
            with path.open("wb") as target:
                shutil.copyfileobj(upload.file, target)
            report = services.upload_rows(uow, actor, _ports(request), dataset_id, path, name)
    except CivicGridError as problem:
        uow.rollback()
        return _dataset_page(request, uow, actor, dataset_id, error=problem, status=problem.status)
    return RedirectResponse(
        f"/exchange/datasets/{dataset_id}/batches/{report.batch.id}?done=uploaded",
        status_code=303,
    )


@router.get("/exchange/datasets/{dataset_id}/batches/{batch_id}", response_class=HTMLResponse)
def batch_page(
    dataset_id: RecordId,
    batch_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.batch_rejects),
) -> HTMLResponse:
    """One upload: how many rows were taken, and the rows kept for correction."""
    batch, rejects, total = services.batch_rejects(uow, actor, dataset_id, batch_id, 200, 0)
    dataset = services.get_dataset(uow, actor, dataset_id).dataset
    return render(
        request,
        actor,
        "exchange/batch.html",
        dataset=dataset,
        batch=batch,
        rejects=rejects,
        total=total,
        done=_done(request),
    )


@router.get("/exchange/datasets/{dataset_id}/rows", response_class=HTMLResponse)
def rows_page(
    dataset_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.read),
) -> HTMLResponse:
    """The rows the caller's unit's grant allows, masked as it says, a page at a time."""
    after = record_number(request.query_params.get("after"))
    page = services.read(
        uow, actor, _ports(request), dataset_id, services.RowRequest(after=after, limit=ROWS_PAGE)
    )
    return render(
        request,
        actor,
        "exchange/rows.html",
        page=page,
        dataset=page.dataset,
        after=after,
        **_labels(request, uow, actor, [page.dataset.owner_unit]),
    )


# ------------------------------------------------------------------ requests


REQUEST_TABS = ("asked", "owned", "review", "all")


@router.get("/exchange/requests", response_class=HTMLResponse)
def requests_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_requests),
) -> HTMLResponse:
    """The requests one's unit made and received (the data administrators: those waiting
    for them, and every unit's), with their deadline lights."""
    overseer = actor.role in services.OVERSEERS
    default = "review" if overseer else "owned"
    tab = request.query_params.get("tab", default)
    tab = tab if tab in REQUEST_TABS else default
    if tab == "review":
        found = services.list_requests(uow, actor, "both", [RequestState.REVIEW])
    elif tab == "all":
        found = services.list_requests(uow, actor, "both")
    else:
        found = services.list_requests(uow, actor, tab)
    datasets = _titles(uow, actor, {r.dataset_id for r in found})
    units = [u for r in found for u in (r.requester_unit, r.owner_unit)]
    return render(
        request,
        actor,
        "exchange/requests.html",
        found=found,
        tab=tab,
        tabs=[t for t in REQUEST_TABS if overseer or t in ("asked", "owned")],
        datasets=datasets,
        **_labels(request, uow, actor, units),
    )


def _titles(uow: UnitOfWork, actor: Actor, ids: set[int]) -> dict[int, Dataset]:
    found = {}
    for dataset_id in ids:
        try:
            found[dataset_id] = services.get_dataset(uow, actor, dataset_id).dataset
        except CivicGridError:
            continue
    return found


def _request_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    request_id: int,
    *,
    error: CivicGridError | None = None,
    status: int = 200,
) -> HTMLResponse:
    found = services.get_request(uow, actor, request_id)
    history = services.request_history(uow, actor, request_id)
    dataset = services.get_dataset(uow, actor, found.dataset_id).dataset
    ports = _ports(request)
    found.calendar = ports.calendar
    context = Context(actor, ports.clock())
    actions = SHARE_REQUEST.available(found, context)
    grant = services.get_grant(uow, actor, found.grant_id) if found.grant_id else None
    locale = request_locale(request)
    return render(
        request,
        actor,
        "exchange/request.html",
        status_code=status,
        req=found,
        dataset=dataset,
        history=history,
        grant=grant,
        light=SHARE_REQUEST.light(found, ports.clock()).value,
        may_decide=any(a in actions for a in ("approve", "narrow", "refuse")),
        may_narrow="narrow" in actions,
        may_withdraw="withdraw" in actions,
        may_revoke=grant is not None and SHARE_GRANT.may(grant, "revoke", context),
        masks_for={f.name: [k.value for k in APPLICABLE[f.type]] for f in dataset.fields},
        error=error.message(locale) if error else None,
        done=_done(request),
        **_labels(request, uow, actor, [found.requester_unit, found.owner_unit]),
    )


@router.get("/exchange/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.get_request),
) -> HTMLResponse:
    """One request: its terms, deadline, every step of it and of its grant, and the
    decision forms for whoever decides now."""
    return _request_page(request, uow, actor, request_id)


@router.post(
    "/exchange/requests/{request_id}/decision", response_class=HTMLResponse, response_model=None
)
async def decide(
    request_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.decide),
) -> Response:
    """Approve, narrow (the fields still ticked, each mask, fewer days) or refuse."""
    form = await read_form(request)
    return await run_in_threadpool(lambda: _decide(request, uow, actor, request_id, form))


def _decide(
    request: Request, uow: UnitOfWork, actor: Actor, request_id: int, form: FormData
) -> Response:
    action = str(form.get("action", ""))
    reason = str(form.get("reason", ""))
    try:
        if action not in ("approve", "narrow", "refuse"):
            raise InvalidInput("exchange_unknown_action", action=action[:20])
        narrowed = None
        if action == "narrow":
            found = services.get_request(uow, actor, request_id)
            narrowed = _terms(_typed(form))
            if not narrowed.area_code and found.area_code:
                narrowed = services.TermsIn(
                    narrowed.fields,
                    narrowed.starts_on,
                    narrowed.ends_on,
                    found.area_code,
                    found.filter_field,
                    found.filter_values,
                )
        services.decide(
            uow, actor, _ports(request), request_id, RequestAction(action), reason, narrowed
        )
    except CivicGridError as problem:
        uow.rollback()
        return _request_page(request, uow, actor, request_id, error=problem, status=problem.status)
    return RedirectResponse(f"/exchange/requests/{request_id}?done={action}", status_code=303)


@router.post(
    "/exchange/requests/{request_id}/withdraw", response_class=HTMLResponse, response_model=None
)
async def withdraw(
    request_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.withdraw),
) -> Response:
    """The asking unit takes its request back."""
    form = await read_form(request)
    reason = str(form.get("reason", ""))

    def run() -> Response:
        try:
            services.withdraw(uow, actor, _ports(request), request_id, reason)
        except CivicGridError as problem:
            uow.rollback()
            return _request_page(
                request, uow, actor, request_id, error=problem, status=problem.status
            )
        return RedirectResponse(f"/exchange/requests/{request_id}?done=withdraw", status_code=303)

    return await run_in_threadpool(run)


# ------------------------------------------------------------------ grants


@router.get("/exchange/grants", response_class=HTMLResponse)
def grants_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_grants),
) -> HTMLResponse:
    """The grants one's unit holds and gave; the owner (or a data administrator) revokes
    one at once with a reason."""
    side = request.query_params.get("side", "both")
    side = side if side in ("received", "given", "both") else "both"
    found = services.list_grants(uow, actor, side)
    datasets = _titles(uow, actor, {g.dataset_id for g in found})
    context = Context(actor, _ports(request).clock())
    return render(
        request,
        actor,
        "exchange/grants.html",
        found=found,
        side=side,
        datasets=datasets,
        revocable={g.id for g in found if SHARE_GRANT.may(g, "revoke", context)},
        done=_done(request),
        error=None,
        **_labels(request, uow, actor, [u for g in found for u in (g.consumer_unit, g.owner_unit)]),
    )


@router.post("/exchange/grants/{grant_id}/revoke", response_class=HTMLResponse, response_model=None)
async def revoke(
    grant_id: RecordId,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.revoke),
) -> Response:
    """End a grant now, with a reason."""
    form = await read_form(request)
    reason = str(form.get("reason", ""))
    back = str(form.get("back", ""))

    def run() -> Response:
        try:
            done = services.revoke(uow, actor, _ports(request), grant_id, reason)
        except CivicGridError as problem:
            uow.rollback()
            found = services.get_grant(uow, actor, grant_id)
            return _request_page(
                request, uow, actor, found.request_id, error=problem, status=problem.status
            )
        if back == "request":
            return RedirectResponse(
                f"/exchange/requests/{done.request_id}?done=revoked", status_code=303
            )
        return RedirectResponse(f"/exchange/grants?done=revoked#grant-{grant_id}", status_code=303)

    return await run_in_threadpool(run)


# ------------------------------------------------------------------ verify without revealing


def _verify_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    verdict: services.Verdict | None = None,
    error: CivicGridError | None = None,
    typed: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    live = [
        g
        for g in services.list_grants(uow, actor, "received", [GrantState.ACTIVE])
        if g.live(_ports(request).clock())
    ]
    datasets = _titles(uow, actor, {g.dataset_id for g in live})
    questions = sorted(
        {d.source_name for d in datasets.values() if d.source_kind is SourceKind.QUESTION}
    )
    locale = request_locale(request)
    return render(
        request,
        actor,
        "exchange/verify.html",
        status_code=status,
        questions=questions,
        inputs={q.value: list(QUESTION_INPUTS[q]) for q in Question},
        verdict=verdict,
        typed=typed or {},
        error=error.message(locale) if error else None,
        error_field=str(error.params.get("field", "")) if error else "",
    )


@router.get("/exchange/verify", response_class=HTMLResponse)
def verify_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_grants, only=VERIFY_PAGE),
) -> HTMLResponse:
    """The yes/no questions one's unit is granted, and the form to ask one."""
    return _verify_page(request, uow, actor)


@router.post("/exchange/verify", response_class=HTMLResponse)
async def verify(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.verify),
) -> HTMLResponse:
    """Ask: the answer is yes, no or unknown, never the data; the number typed is not kept."""
    form = await read_form(request)
    names = ("question", "identity_number", "address", "area", "age", "credit_code")
    typed = {name: str(form.get(name, "")).strip()[:300] for name in names}

    def run() -> HTMLResponse:
        try:
            verdict = services.verify(
                uow, actor, _ports(request), typed["question"], {k: typed[k] for k in names[1:]}
            )
        except CivicGridError as problem:
            uow.rollback()
            shown = typed | {"identity_number": ""}  # never echoed back into the page
            return _verify_page(
                request, uow, actor, error=problem, typed=shown, status=problem.status
            )
        return _verify_page(
            request, uow, actor, verdict=verdict, typed={"question": typed["question"]}
        )

    return await run_in_threadpool(run)
