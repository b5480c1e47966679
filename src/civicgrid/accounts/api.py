"""/api/v1/auth, /api/v1/users and /api/v1/apikeys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from civicgrid.accounts import services
from civicgrid.accounts.schemas import ApiKeyIn, ApiKeyOut, MeOut, TokenOut, UserIn, UserOut
from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import allow, client_address, get_uow, platform_of
from civicgrid.core.permissions import Actor
from civicgrid.core.schemas import HistoryOut

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/token", response_model=TokenOut)
def token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.log_in),
) -> TokenOut:
    """OAuth2 password flow: form fields `username` and `password` → a bearer token.
    Wrong passwords are counted per account and per client address: too many lock the
    account for a while (429 with `Retry-After` and the time to try again, even for the
    right password), or stop the address trying any account."""
    settings = platform_of(request).settings
    issued = services.log_in(
        uow,
        actor,
        form.username,
        form.password,
        settings.secret_key,
        timedelta(minutes=settings.token_ttl_minutes),
        throttle=request.app.state.login_throttle,
        address=client_address(request),
    )
    return TokenOut(
        access_token=issued.access_token,
        expires_at=issued.expires_at,
        username=issued.user.username,
        role=issued.user.role,
    )


@router.get("/auth/me", response_model=MeOut)
def me(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.who_am_i),
) -> MeOut:
    """The calling account: role, area scope and department."""
    found = services.who_am_i(uow, actor)
    return MeOut(
        username=found.name,
        display_name=found.display_name,
        role=found.role,
        area_code=found.area_code,
        department_code=found.department_code,
    )


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(
    body: UserIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_user),
) -> UserOut:
    """Create an account (administrators only)."""
    user = services.add_user(uow, actor, services.NewUser(**body.model_dump()))
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        area_code=user.area_code,
        department_code=user.department_code,
    )


@router.post("/apikeys", response_model=ApiKeyOut, status_code=201)
def add_api_key(
    body: ApiKeyIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.add_api_key),
) -> ApiKeyOut:
    """Create an API key for a department system; the key is in this answer only."""
    key = services.add_api_key(uow, actor, body.name, body.department_code)
    return ApiKeyOut(name=body.name, department_code=body.department_code, key=key)


@router.get("/users/{username}/history", response_model=list[HistoryOut])
def account_history(
    username: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.account_history),
) -> list[HistoryOut]:
    """An account's history (administrators): made, password set, changed — who, when."""
    return [HistoryOut.of(e) for e in services.account_history(uow, actor, username)]
