"""The administrators' pages for accounts and API keys: disable and enable accounts, and
list, revoke and give an expiry to the keys of department systems."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from civicgrid.accounts import services as accounts
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError, FieldProblem
from civicgrid.core.http import allow, get_uow, platform_of, request_locale
from civicgrid.core.i18n import day_start
from civicgrid.core.permissions import ROLE_LABELS, Actor, Role
from civicgrid.web.pages import render

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------ accounts


def _accounts_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    q: str = "",
    failed: tuple[str, CivicGridError] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    return render(
        request,
        actor,
        "accounts/users.html",
        status_code=failed[1].status if failed else 200,
        users=accounts.list_accounts(uow, actor, q),
        q=q,
        role_name=lambda role: ROLE_LABELS[Role(role)][locale],
        failed_user=failed[0] if failed else "",
        error=failed[1].message(locale) if failed else "",
        values=values or {},
        done=request.query_params.get("done", ""),
        done_user=request.query_params.get("user", ""),
    )


@router.get("/admin/accounts", response_class=HTMLResponse)
def accounts_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    q: str = "",
    actor: Actor = allow(accounts.list_accounts),
) -> HTMLResponse:
    """Accounts (search by username or name), each with its state and a button to disable
    it (with a reason) or enable it again."""
    return _accounts_page(request, uow, actor, q=q.strip()[:80])


@router.post("/admin/accounts/{username}/disable", response_class=HTMLResponse, response_model=None)
def disable_account(
    username: str,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: Annotated[str, Form()] = "",
    actor: Actor = allow(accounts.disable_user),
) -> Response:
    """Disable an account: no more logging in, its sessions end at once."""
    try:
        accounts.disable_user(uow, actor, username, reason)
    except CivicGridError as error:
        uow.rollback()
        return _accounts_page(
            request, uow, actor, q=username, failed=(username, error), values={"reason": reason}
        )
    return _done("/admin/accounts", "disabled", user=username, q=username)


@router.post("/admin/accounts/{username}/enable", response_class=HTMLResponse, response_model=None)
def enable_account(
    username: str,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: Annotated[str, Form()] = "",
    actor: Actor = allow(accounts.enable_user),
) -> Response:
    """Enable a disabled account again."""
    try:
        accounts.enable_user(uow, actor, username, reason)
    except CivicGridError as error:
        uow.rollback()
        return _accounts_page(request, uow, actor, q=username, failed=(username, error))
    return _done("/admin/accounts", "enabled", user=username, q=username)


# ------------------------------------------------------------------ API keys


def _keys_page(
    request: Request,
    uow: UnitOfWork,
    actor: Actor,
    *,
    failed: tuple[int, CivicGridError] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = request_locale(request)
    problem = failed[1] if failed else None
    return render(
        request,
        actor,
        "accounts/api_keys.html",
        status_code=problem.status if problem else 200,
        keys=accounts.list_api_keys(uow, actor),
        failed_key=failed[0] if failed else 0,
        error=problem.message(locale) if problem else "",
        error_field=str(problem.params.get("field", "")) if problem else "",
        values=values or {},
        done=request.query_params.get("done", ""),
        done_key=request.query_params.get("key", ""),
    )


@router.get("/admin/apikeys", response_class=HTMLResponse)
def api_keys_page(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(accounts.list_api_keys),
) -> HTMLResponse:
    """The department systems' API keys: name, unit, first letters, created, last used,
    expiry and state, with a form to revoke each and one to set its expiry."""
    return _keys_page(request, uow, actor)


@router.post("/admin/apikeys/{key_id}/revoke", response_class=HTMLResponse, response_model=None)
def revoke_key(
    key_id: int,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    reason: Annotated[str, Form()] = "",
    actor: Actor = allow(accounts.revoke_api_key),
) -> Response:
    """Revoke a key: it stops working at once, for good."""
    try:
        accounts.revoke_api_key(uow, actor, key_id, reason)
    except CivicGridError as error:
        uow.rollback()
        return _keys_page(request, uow, actor, failed=(key_id, error))
    return _done("/admin/apikeys", "revoked", key=str(key_id))


@router.post("/admin/apikeys/{key_id}/expiry", response_class=HTMLResponse, response_model=None)
def set_key_expiry(
    key_id: int,
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    expires_on: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    actor: Actor = allow(accounts.set_api_key_expiry),
) -> Response:
    """Set the day from which a key no longer works (its first minute in the city's time
    zone), or clear it: the key never expires."""
    try:
        expires_at = None
        if expires_on.strip():
            try:
                day = date.fromisoformat(expires_on.strip())
            except ValueError as exc:
                raise FieldProblem(
                    "ui.admin.keys.bad_date", field="expires_at", value=expires_on[:40]
                ) from exc
            expires_at = day_start(day, platform_of(request).settings.timezone)
        accounts.set_api_key_expiry(uow, actor, key_id, expires_at, reason)
    except CivicGridError as error:
        uow.rollback()
        values = {"expires_on": expires_on, "reason": reason}
        return _keys_page(request, uow, actor, failed=(key_id, error), values=values)
    return _done("/admin/apikeys", "expiry" if expires_at else "no_expiry", key=str(key_id))


def _done(path: str, done: str, **params: str) -> RedirectResponse:
    """Back to the list with what was done, shown at the top and on the row (PRG)."""
    query = "&".join(f"{name}={quote(value)}" for name, value in {"done": done, **params}.items())
    anchor = params.get("user") or params.get("key") or ""
    prefix = "user" if "user" in params else "key"
    return RedirectResponse(f"{path}?{query}#{prefix}-{quote(anchor)}", status_code=303)
