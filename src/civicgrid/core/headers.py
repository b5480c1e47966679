"""The headers every answer carries (pages, the API, static files, errors, stored photos),
and the browser's CSRF secret cookie (core.csrf) when a page has just made one.

Wrapped around the whole application, outside even the error middleware, so a 500 or a
413 carries them too. Headers a route sets itself (a stricter policy, a download's
Content-Disposition) are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicgrid.core import csrf

# Pages run only our own scripts, from our own files: no inline <script>, no eval, no
# other site's code. Styles are our own files too: the pages use no style attributes and
# no <style> (htmx's indicator style is in app.css, turned off in its config), and
# Leaflet positions the map through the style object (element.style.x = …), which a
# policy does not govern, so 'unsafe-inline' is not needed for styles either. Map
# features are drawn as SVG, so images come from us (and data: and blob: for Leaflet's
# icons and a photo's preview before it is sent), and from the tile server of the base
# map only when the city configures one (Settings.basemap_hosts).


def page_policy(tile_hosts: Sequence[str] = ()) -> str:
    """The pages' policy; TILE_HOSTS: the origins the base map's tiles may come from."""
    images = " ".join(["'self'", "data:", "blob:", *tile_hosts])
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


PAGE_POLICY = page_policy()
# FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from a CDN and start them
# with an inline script: they show only the API's description, never people's data, so
# they alone may do that.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDN}",
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN} https://fonts.googleapis.com",
        f"img-src 'self' data: blob: {DOCS_CDN} https://fastapi.tiangolo.com",
        "font-src 'self' https://fonts.gstatic.com",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
DOCS_PATHS = ("/docs", "/redoc")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    # Files are what their Content-Type says, never sniffed into HTML or a script.
    (b"x-content-type-options", b"nosniff"),
    # Never inside another site's frame (frame-ancestors 'none' for today's browsers).
    (b"x-frame-options", b"DENY"),
    # Our addresses (case numbers in paths) stay with us.
    (b"referrer-policy", b"same-origin"),
    # The report and grid pages ask the phone where it is; nothing asks for more.
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS and a Content-Security-Policy on every answer,
    and the CSRF secret's cookie when a page made one. SECURE: the site is served over
    HTTPS (production), so the cookie is a Secure __Host- cookie. TILE_HOSTS: where the
    configured base map's tiles come from, let into the pages' img-src."""

    def __init__(self, app: ASGIApp, *, secure: bool, tile_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self.secure = secure
        self.page_policy = page_policy(tile_hosts).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = cookie_parser(Headers(scope=scope).get("cookie", ""))
        browser = csrf.secret_from_cookie(cookies, self.secure)
        scope[csrf.SCOPE_KEY] = browser
        path: str = scope.get("path", "")
        policy = DOCS_POLICY.encode() if path.startswith(DOCS_PATHS) else self.page_policy

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in [(b"content-security-policy", policy), *SECURITY_HEADERS]:
                    if name not in present:
                        headers.append((name, value))
                if browser.minted and browser.value:
                    headers.append((b"set-cookie", self._cookie(browser.value)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _cookie(self, value: str) -> bytes:
        # Lax, not Strict: a visitor who follows a link to us still sends it, so we do
        # not make her a new one and leave her other open pages with stale tokens. A
        # year: a form left open overnight still posts.
        parts = [
            f"{csrf.cookie_name(self.secure)}={value}",
            "Path=/",
            f"Max-Age={365 * 24 * 3600}",
            "HttpOnly",
            "SameSite=Lax",
        ]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode()
