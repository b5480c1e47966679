"""The web application: API routers, pages, static files and error handling, wired to one
Platform (settings, database, locator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine, text
from starlette.types import ASGIApp

from civicgrid import __version__
from civicgrid.accounts import api as accounts_api
from civicgrid.accounts import services as accounts_services
from civicgrid.accounts.sessions import EndedTokens
from civicgrid.accounts.throttle import LoginThrottle
from civicgrid.areas import api as areas_api
from civicgrid.assess import api as assess_api
from civicgrid.audit import api as audit_api
from civicgrid.bootstrap import Platform, build_platform
from civicgrid.cases import api as cases_api
from civicgrid.core.db import UnitOfWork, recent_revisions
from civicgrid.core.errors import NotAuthenticated
from civicgrid.core.headers import SecurityHeaders
from civicgrid.core.http import (
    FORM_LIMITS,
    NO_SERVICE,
    Credentials,
    allow,
    install_error_handlers,
)
from civicgrid.core.jobs import Scheduler
from civicgrid.core.limits import BodyLimit
from civicgrid.core.permissions import Actor
from civicgrid.core.proxies import ForwardedClient, TrustedProxies, parse_networks
from civicgrid.core.ratelimit import RateLimiter
from civicgrid.core.security import TokenClaims, hash_api_key, read_token
from civicgrid.core.textinput import Utf8Forms, refuse_unstorable_text
from civicgrid.exchange import api as exchange_api
from civicgrid.insight import api as insight_api
from civicgrid.insight.warnings import api as warnings_api
from civicgrid.open311 import api as open311_api
from civicgrid.registry import api as registry_api
from civicgrid.system import api as system_api
from civicgrid.transparency import api as transparency_api
from civicgrid.web import (
    account_pages,
    admin_pages,
    assess_pages,
    audit_pages,
    case_pages,
    insight_pages,
    pages,
    portal,
    transparency_pages,
)
from civicgrid.web.exchange_pages import router as exchange_pages_router
from civicgrid.web.hotline_pages import router as hotline_pages_router
from civicgrid.web.registry_pages import router as registry_pages_router
from civicgrid.web.warning_pages import router as warning_pages_router

STATIC_DIR = Path(__file__).resolve().parent / "web" / "static"
ROUTERS = [
    accounts_api.router,
    areas_api.router,
    cases_api.router,
    open311_api.router,
    open311_api.attributes_router,
    transparency_api.router,
    insight_api.router,
    warnings_api.router,
    registry_api.router,
    exchange_api.router,
    system_api.router,
    assess_api.router,
    audit_api.router,
    pages.router,
    case_pages.router,
    hotline_pages_router,
    portal.router,
    transparency_pages.router,
    insight_pages.router,
    warning_pages_router,
    registry_pages_router,
    exchange_pages_router,
    admin_pages.router,
    audit_pages.router,
    account_pages.router,
    assess_pages.router,
]


class AccountsAuthenticator:
    """Credentials → Actor, through the accounts services and a cache of known callers.
    ENDED: the tokens ended by logging out."""

    def __init__(self, ended: EndedTokens | None = None) -> None:
        self.callers = accounts_services.CallerCache()
        self.ended = ended

    def from_token(self, uow: UnitOfWork, token: str, secret: str) -> Actor:
        claims = read_token(token, secret)  # signature and expiry, every time
        return self.callers.resolve(
            uow,
            _token_key(claims),
            lambda: (accounts_services.actor_for_token(uow, claims, self.ended), None),
        )

    def from_api_key(self, uow: UnitOfWork, key: str) -> Actor:
        return self.callers.resolve(
            uow,
            f"key:{hash_api_key(key)}",
            lambda: accounts_services.api_key_caller(uow, key),
        )

    def remembered(self, credentials: Credentials, secret: str, engine: Engine) -> Actor | None:
        """A caller resolved lately, when nothing that defines them can have changed: no
        database, so the request needs no thread for it. None: ask from_token/from_api_key."""
        counters = recent_revisions(engine)
        if counters is None:
            return None
        if credentials.kind == "api_key":
            return self.callers.recall(f"key:{hash_api_key(credentials.value)}", counters)
        try:
            claims = read_token(credentials.value, secret)
        except NotAuthenticated:
            if credentials.kind == "cookie":
                return None  # a stale page cookie: authenticate() lets the visitor in anonymously
            raise
        return self.callers.recall(_token_key(claims), counters)


def _token_key(claims: TokenClaims) -> str:
    # Each token is remembered on its own, so one that was logged out (or is of an older
    # generation) is never taken for another of the same person.
    return f"user:{claims.username}:{claims.generation}:{claims.token_id}"


class CivicGridApp(FastAPI):
    """FastAPI with the security headers (core.headers) around everything, the error
    middleware included, so every answer has them, a 500 too."""

    secure_cookies = False
    tile_hosts: tuple[str, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(
            super().build_middleware_stack(), secure=self.secure_cookies, tile_hosts=self.tile_hosts
        )


def create_app(platform: Platform | None = None, *, scheduler: bool = False) -> FastAPI:
    """The web application. With SCHEDULER, a background thread runs the platform's
    periodic jobs: marking overdue cases, escalating them and sending answers every minute,
    and the slower ones (what `civicgrid serve` runs unless a worker does)."""
    platform = platform or build_platform()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = platform.settings.threads
        runner = (
            Scheduler(
                platform.session_factory,
                platform.jobs,
                platform.settings.scheduler_interval_seconds,
                platform.cases.clock,
            )
            if scheduler
            else None
        )
        if runner is not None:
            runner.start()
        platform.intake.start()
        yield
        platform.intake.stop()
        if runner is not None:
            runner.stop()

    telemetry = platform.settings.telemetry
    app = CivicGridApp(
        lifespan=lifespan,
        title="CivicGrid",
        version=__version__,
        description="城市基层社会治理平台 — urban grassroots governance platform. "
        'Errors are JSON `{"error": {"code", "message"}}`; send `Accept-Language: en` '
        "for English messages.",
        telemetry=None if telemetry else {"tracing": False, "metrics": False, "logs": False},
        # Text the databases cannot store is a 422 naming its field, before any route.
        dependencies=[Depends(refuse_unstorable_text)],
        # Forms are parsed within FORM_LIMITS as they arrive (bodies: BodyLimit below).
        form_limits=FORM_LIMITS,  # type: ignore[arg-type]
    )
    app.secure_cookies = platform.settings.environment == "production"
    app.tile_hosts = tuple(platform.settings.basemap_hosts)
    # Raw UTF-8 in query strings and urlencoded forms is read as UTF-8 (core.textinput);
    # inside BodyLimit, which counts a body's bytes as sent rather than as escaped.
    app.add_middleware(Utf8Forms)
    # Bodies are counted as they arrive and refused with a 413 past the limit (one whose
    # Content-Length is over it before a byte is read).
    app.add_middleware(BodyLimit, max_bytes=round(platform.settings.max_request_mb * 1024 * 1024))
    app.state.platform = platform
    app.state.ended_tokens = EndedTokens(
        platform.session_factory,
        platform.settings.token_ttl_minutes * 60,
        secret=platform.settings.secret_key,
    )
    app.state.authenticator = AccountsAuthenticator(app.state.ended_tokens)
    app.state.error_page = pages.error_page
    settings = platform.settings

    def limiter(name: str, limit: int, window_seconds: float) -> RateLimiter:
        # Counted in the database, so all server processes share one count.
        return RateLimiter(
            platform.session_factory, name, limit, window_seconds, secret=settings.secret_key
        )

    app.state.limiters = {
        "track": limiter("track", settings.track_attempts_per_minute, 60),
        "signup": limiter("signup", settings.signups_per_hour, 3600),
        "guest": limiter("guest", settings.guest_reports_per_hour, 3600),
    }
    # Wrong passwords per account and per address, and the lock after too many.
    app.state.login_throttle = LoginThrottle(
        platform.session_factory,
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window_seconds=settings.login_failure_window_minutes * 60,
        lockout_seconds=settings.login_lockout_minutes * 60,
        timezone=settings.timezone,
        secret=settings.secret_key,
    )
    install_error_handlers(app)

    @app.get("/health", tags=["system"])
    def health(actor: Actor = allow(NO_SERVICE)) -> dict[str, Any]:
        """Liveness and database check: 200 with `{"status": "ok"}` when the database answers."""
        with platform.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {
            "status": "ok",
            "version": __version__,
            "database": platform.engine.url.get_backend_name(),
        }

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # The client's address and scheme as the deployment's trusted proxies say (uvicorn's
    # own proxy headers are off): added last, so it is the outermost middleware and every
    # other one, and every attempt limit, sees the corrected client.
    proxies = TrustedProxies(parse_networks(settings.trusted_proxies))
    app.add_middleware(ForwardedClient, proxies=proxies)
    return app


def create_served_app(platform: Platform | None = None) -> FastAPI:
    """The app `civicgrid serve` runs (in each of its processes; without PLATFORM, settings
    from the environment): with the periodic jobs in a thread unless the deployment runs
    `civicgrid worker` instead (CIVICGRID_EMBEDDED_WORKER=false). Each job runs in one
    process at a time (core.jobs locks it)."""
    platform = platform or build_platform()
    return create_app(platform, scheduler=platform.settings.embedded_worker)
