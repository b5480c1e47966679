"""Who is the client: the socket's peer, or the address a trusted reverse proxy forwards.

Every attempt limit (logins, tracking, sign-ups, reports without an account) counts per
client address, so an address a client can choose is worth nothing: `X-Forwarded-For` and
`X-Forwarded-Proto` are believed only when the connection comes from one of the proxies
the deployment names (CIVICGRID_TRUSTED_PROXIES), and ignored otherwise. The server
(uvicorn) is run without its own proxy-header handling, so this is the only rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# What the ASGI interface hands us (kept loose: starlette's types are not needed here).
Scope = dict[str, Any]
Receive = Any
Send = Any


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """'10.0.0.2, 192.168.0.0/24, ::1' → the networks; ValueError naming a wrong entry."""
    found = []
    for part in text.replace(";", ",").split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or network") from exc
    return tuple(found)


class TrustedProxies:
    """The proxies whose forwarded headers are believed."""

    def __init__(self, networks: Iterable[IPNetwork] = ()) -> None:
        self.networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False  # a unix socket, a test client's name: never a proxy
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def client_of(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: PEER unless PEER is a trusted proxy that forwarded one.
        The chain is read from the right (the nearest hop), skipping trusted proxies, so
        whatever the client itself wrote at the left end of the header is never taken
        while an untrusted hop stands to its right."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self.trusts(hop):
                return hop
        return hops[0] if hops else peer


class ForwardedClient:
    """ASGI middleware: the request's client (and scheme) as TrustedProxies decide, set
    before anything else reads them. Must be the outermost middleware."""

    def __init__(self, app: Any, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies:
            client = scope.get("client")
            peer = client[0] if client else ""
            if peer and self.proxies.trusts(peer):
                headers = _headers(scope)
                forwarded = headers.get("x-forwarded-for")
                if forwarded:
                    scope = {**scope, "client": (self.proxies.client_of(peer, forwarded), 0)}
                proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    websocket = scope["type"] == "websocket"
                    scheme = {"http": "ws", "https": "wss"}[proto] if websocket else proto
                    scope = {**scope, "scheme": scheme}
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> dict[str, str]:
    # Several X-Forwarded-For headers are one list, in order (RFC 9110 §5.3).
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        found[key] = f"{found[key]}, {text}" if key in found else text
    return found
