"""/api/v1/auth, /api/v1/users and /api/v1/apikeys."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from civicgrid.accounts import services
from civicgrid.accounts.domain import User
from civicgrid.accounts.schemas import (
    AccountOut,
    ApiKeyIn,
    ApiKeyInfo,
    ApiKeyOut,
    ExpiryIn,
    MeOut,
    ReasonIn,
    TokenOut,
    UserIn,
    UserOut,
)
from civicgrid.core.db import UnitOfWork
from civicgrid.core.http import ApiRouter, allow, client_address, get_uow, platform_of, token_of
from civicgrid.core.permissions import Actor
from civicgrid.core.schemas import HistoryOut

router = ApiRouter(prefix="/api/v1", tags=["accounts"])


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


@router.post("/auth/logout", status_code=204)
def logout(
    request: Request,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    everywhere: Annotated[bool, Query(description="end all of the caller's logins")] = False,
    actor: Actor = allow(services.log_out),
) -> Response:
    """Log out: the token sent stops working at once, in every server process. With
    `everywhere=true`, every token issued to the caller so far (other devices, scripts)
    stops working too."""
    ended = request.app.state.ended_tokens
    services.log_out(uow, actor, token_of(request), ended, everywhere=everywhere)
    return Response(status_code=204)


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
    """Create an API key for a department system (with `expires_at`, it stops working
    then); the key is in this answer only."""
    key = services.add_api_key(uow, actor, body.name, body.department_code, body.expires_at)
    return ApiKeyOut(
        name=body.name, department_code=body.department_code, expires_at=body.expires_at, key=key
    )


@router.get("/apikeys", response_model=list[ApiKeyInfo])
def list_api_keys(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.list_api_keys),
) -> list[ApiKeyInfo]:
    """Every API key (administrators): name, unit, first letters, created, last used,
    expiry, whether it still works. Never the key."""
    return [ApiKeyInfo(**vars(view)) for view in services.list_api_keys(uow, actor)]


@router.post("/apikeys/{key_id}/revoke", status_code=204)
def revoke_api_key(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ReasonIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.revoke_api_key),
) -> Response:
    """Revoke a key: it stops working at once, in every server process, for good."""
    services.revoke_api_key(uow, actor, key_id, body.reason)
    return Response(status_code=204)


@router.put("/apikeys/{key_id}/expiry", status_code=204)
def set_api_key_expiry(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ExpiryIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.set_api_key_expiry),
) -> Response:
    """Set when a key stops working (`null`: never); a time already past is refused."""
    services.set_api_key_expiry(uow, actor, key_id, body.expires_at, body.reason)
    return Response(status_code=204)


@router.get("/apikeys/{key_id}/history", response_model=list[HistoryOut])
def api_key_history(
    key_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.api_key_history),
) -> list[HistoryOut]:
    """A key's history (administrators): created, expiry set, revoked — who, when, why."""
    return [HistoryOut.of(e) for e in services.api_key_history(uow, actor, key_id)]


@router.get("/users", response_model=list[AccountOut])
def list_accounts(
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    q: Annotated[str, Query(max_length=80)] = "",
    actor: Actor = allow(services.list_accounts),
) -> list[AccountOut]:
    """Accounts whose username or name contains `q` (administrators; at most 200)."""
    return [_account(user) for user in services.list_accounts(uow, actor, q)]


@router.post("/users/{username}/disable", response_model=AccountOut)
def disable_user(
    username: str,
    body: ReasonIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.disable_user),
) -> AccountOut:
    """Disable an account (a reason is required): it can no longer log in, and its tokens
    stop working at once."""
    return _account(services.disable_user(uow, actor, username, body.reason))


@router.post("/users/{username}/enable", response_model=AccountOut)
def enable_user(
    username: str,
    body: ReasonIn,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.enable_user),
) -> AccountOut:
    """Enable a disabled account again."""
    return _account(services.enable_user(uow, actor, username, body.reason))


def _account(user: User) -> AccountOut:
    return AccountOut(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        area_code=user.area_code,
        department_code=user.department_code,
        active=user.active,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


@router.get("/users/{username}/history", response_model=list[HistoryOut])
def account_history(
    username: str,
    uow: Annotated[UnitOfWork, Depends(get_uow)],
    actor: Actor = allow(services.account_history),
) -> list[HistoryOut]:
    """An account's history (administrators): made, password set, changed — who, when."""
    return [HistoryOut.of(e) for e in services.account_history(uow, actor, username)]
