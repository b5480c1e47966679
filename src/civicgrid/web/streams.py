"""Pages that update themselves: server-sent events, one way for every page that is pushed
(the command centre's wall, the dispatch centre's queue).

A stream asks the database every POLL_SECONDS what is new, so it works with any number of
server processes: whatever process wrote a change, every stream sees it in its next look
(the event log is read by number, never through a queue inside one process). Each look is
made for the caller as she is now: a logged-out or disabled account, or one whose role no
longer passes the route's rule, ends the stream at its next look, so nothing more is pushed
to her. A browser's EventSource reconnects by itself after STREAM_SECONDS, sending the last
event's id (`Last-Event-ID`), from which the stream goes on.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from civicgrid.core.errors import CivicGridError
from civicgrid.core.http import credentials_of, looked_up_caller, remembered_caller
from civicgrid.core.permissions import Actor, Rule, rule_of

# How often a stream looks for news, says it is alive when nothing moves, and lasts.
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0
STREAM_SECONDS = 600.0


@dataclass(frozen=True)
class ServerEvent:
    """One message of a stream: its NAME (the browser's addEventListener), its DATA (sent
    as JSON) and its ID (what the browser sends back as Last-Event-ID when it reconnects)."""

    name: str
    data: Any
    id: str | None = None

    def encode(self) -> str:
        lines = [f"id: {self.id}"] if self.id is not None else []
        lines.append(f"event: {self.name}")
        lines.append("data: " + json.dumps(self.data, ensure_ascii=False, default=str))
        return "\n".join(lines) + "\n\n"


def wants_stream(request: Request) -> bool:
    """A browser's EventSource asks for text/event-stream; anything else (a probe, curl
    without it, `?once=1`) gets one answer and the response ends."""
    if request.query_params.get("once") == "1":
        return False
    return "text/event-stream" in request.headers.get("accept", "")


def rule_for(service: Callable[..., Any], only: Rule | None = None) -> Rule:
    """The rule of the service a stream calls, narrowed to the page's audience ONLY, as
    the route's own `allow(service, only=...)` checks it when the stream opens."""
    rule = rule_of(service)
    if rule is None:
        raise TypeError(f"{service.__qualname__} declares no rule")
    return rule.within(only) if only is not None else rule


def caller_now(request: Request, rule: Rule) -> Actor:
    """The request's caller as her credentials stand now (the stream's own request may be
    minutes old), checked by RULE; raises when she may no longer."""
    credentials = credentials_of(request)
    actor = remembered_caller(request, credentials)
    if actor is None:
        actor = looked_up_caller(request, credentials)
    rule.check(actor)
    return actor


def event_stream(
    request: Request, rule: Rule, poll: Callable[[Actor], list[ServerEvent]]
) -> StreamingResponse:
    """Server-sent events: POLL (run in a thread with the caller as she is now) every
    POLL_SECONDS, each event it returns sent at once, a comment every HEARTBEAT_SECONDS
    when nothing moves (so proxies keep the connection), for STREAM_SECONDS. Without
    wants_stream, POLL runs once and its events are the whole answer."""
    once = not wants_stream(request)

    def look() -> list[ServerEvent] | None:
        try:
            actor = caller_now(request, rule)
        except CivicGridError:
            return None  # logged out, disabled, or no longer allowed: nothing more
        return poll(actor)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        quiet = 0.0
        while loop.time() - started < STREAM_SECONDS:
            found = await run_in_threadpool(look)
            if found is None:
                return
            for event in found:
                yield event.encode()
            if once:
                return
            if found:
                quiet = 0.0
            elif quiet >= HEARTBEAT_SECONDS:
                quiet = 0.0
                yield ": alive\n\n"
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_SECONDS)
            quiet += POLL_SECONDS

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
