"""Cross-site request forgery: a page's form may change something only when it was
drawn by us for this browser and is sent from our own site.

Every browser gets a random secret in an HttpOnly cookie (`__Host-civicgrid_csrf` over
HTTPS, so no other site or subdomain can plant one) the first time a page draws a form
for it. Each form carries a token derived from that secret with the platform's secret
key (a signed double-submit token): another site can neither read the secret nor make
a token for it. The token is masked afresh on every page, so a compressed page never
repeats it (BREACH). htmx sends it as the `X-CSRF-Token` header (hx-headers on
<body>). On top, a request must come from our own origin (its Origin, or its Referer
when a browser sends no Origin); a request with neither is judged by its token alone.

Which requests are checked is decided in core.http: every unsafe request to the pages,
logged in or not (a login forged from another site would log the victim into the
attacker's account), and an API request whose only credentials are the login cookie;
not API clients that send a bearer token or an API key, which no browser adds by
itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FIELD = "csrf_token"
HEADER = "x-csrf-token"
COOKIE = "civicgrid_csrf"
# Over HTTPS the browser keeps a __Host- cookie only as set by this very host, secure and
# for the whole site, so a subdomain or a plain-HTTP page cannot plant a secret of its own.
SECURE_COOKIE = "__Host-civicgrid_csrf"
SCOPE_KEY = "civicgrid.csrf"
_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, base64url


def cookie_name(secure: bool) -> str:
    return SECURE_COOKIE if secure else COOKIE


@dataclass
class BrowserSecret:
    """The browser's secret for one request: the one its cookie holds, or one made when a
    page first needs it (then `minted`, and the response sets the cookie)."""

    value: str | None
    minted: bool = False

    def get(self) -> str:
        if self.value is None:
            self.value = secrets.token_urlsafe(32)
            self.minted = True
        return self.value


def secret_from_cookie(cookies: Mapping[str, str], secure: bool) -> BrowserSecret:
    value = cookies.get(cookie_name(secure))
    return BrowserSecret(value if value and _SECRET_SHAPE.match(value) else None)


def browser_secret(scope: MutableMapping[str, Any]) -> BrowserSecret:
    """The request's BrowserSecret (core.headers puts it in the scope from the cookie)."""
    found = scope.get(SCOPE_KEY)
    if not isinstance(found, BrowserSecret):
        found = BrowserSecret(None)
        scope[SCOPE_KEY] = found
    return found


def form_token(scope: MutableMapping[str, Any], key: str) -> str:
    """A token for the forms of the page being drawn (making the browser's secret when it
    has none yet; the response then sets its cookie)."""
    return make_token(key, browser_secret(scope).get())


def _digest(key: str, secret: str, nonce: bytes) -> bytes:
    return hmac.new(key.encode(), b"csrf\x00" + nonce + secret.encode(), hashlib.sha256).digest()


def make_token(key: str, secret: str) -> str:
    """A token for SECRET, different on every call (a random nonce and its HMAC)."""
    nonce = secrets.token_bytes(16)
    raw = nonce + _digest(key, secret, nonce)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_matches(token: str | None, key: str, secret: str | None) -> bool:
    if not token or not secret or len(token) > 100:
        return False
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return False
    if len(raw) != 48:
        return False
    return hmac.compare_digest(raw[16:], _digest(key, secret, raw[:16]))


def _origin(url: str) -> tuple[str, str] | None:
    """(scheme, host:port with the default port left out) of URL; None when it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return parts.scheme, host if port in (None, default) else f"{host}:{port}"


def foreign_origin(
    headers: Mapping[str, str], scheme: str, trusted: Iterable[str] = ()
) -> str | None:
    """The origin a browser says a request comes from when it is not our own (None when
    it is ours, or when the browser says nothing). Ours: the host the request was sent to
    (its Host header), by the request's scheme or by HTTPS (a proxy in front of us may
    end TLS), or one of the TRUSTED origins the deployment names."""
    claimed = headers.get("origin")
    if claimed is None:
        referer = headers.get("referer")
        if not referer:
            return None
        claimed = referer
    origin = _origin(claimed)
    if origin is None:
        return claimed  # "null" (a sandboxed frame, a privacy redirect) or nonsense
    ours = _origin(f"{scheme}://{headers.get('host', '')}")
    if ours is not None and origin[1] == ours[1] and origin[0] in (ours[0], "https"):
        return None
    if any(_origin(t) == origin for t in trusted):
        return None
    return f"{origin[0]}://{origin[1]}"
