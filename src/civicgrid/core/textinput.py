"""Text as the requests bring it: form bodies and query strings read as UTF-8, and no text
the databases cannot store.

Starlette reads an urlencoded body's raw bytes as latin-1 (it percent-decodes escapes as
UTF-8 but takes unescaped bytes one by one), so `curl -d description=路面塌陷` arrived as
è·¯é¢... Browsers escape everything; curl, scripts and some 311 apps do not. Utf8Forms
escapes those bytes as they stream in, and the query string once, so the form and query
parsers decode them as UTF-8 as the URL and HTML standards say, for every route at once.

PostgreSQL refuses a NUL character in text and psycopg cannot send a lone surrogate
(JSON's "\\ud800"), so either reaching an insert or a comparison was a server error.
refuse_unstorable_text, run before every route, answers 422 naming the field instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi import params as fastapi_params
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicgrid.core.errors import FieldProblem
from civicgrid.core.http import read_form

FORM_MEDIA = "application/x-www-form-urlencoded"
_RAW_BYTE = re.compile(rb"[\x80-\xff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# What a JSON body must contain for any of its strings to hold such a character: the NUL
# escape or a surrogate's (an unescaped NUL is not JSON, and paired surrogates decode to
# one character).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def _escaped(raw: bytes) -> bytes:
    """RAW with each byte above ASCII percent-escaped, so unquote() reads it as UTF-8."""
    if raw.isascii():
        return raw
    return _RAW_BYTE.sub(lambda m: b"%%%02X" % m.group()[0], raw)


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower().decode("latin-1")
    return ""


class Utf8Forms:
    """ASGI middleware: unescaped bytes in a query string or an urlencoded body are
    escaped as they arrive (each byte on its own, so a character split between two
    chunks of the body is escaped whole), which the parsers then decode as UTF-8. A
    body's Content-Length is left as sent; nothing downstream relies on it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if not query.isascii():
            scope = {**scope, "query_string": _escaped(query)}
        if _media_type(scope) != FORM_MEDIA:
            await self.app(scope, receive, send)
            return

        async def escaped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and message.get("body"):
                message = {**message, "body": _escaped(message["body"])}
            return message

        await self.app(scope, escaped_receive, send)


def unstorable(text: str) -> bool:
    """Whether TEXT holds a character no database column can keep."""
    return _UNSTORABLE.search(text) is not None


def _refuse(pairs: Iterable[tuple[str, Any]], where: str) -> None:
    for name, value in pairs:
        if unstorable(name) or (isinstance(value, str) and unstorable(value)):
            raise FieldProblem("text_not_storable", field=f"{where}.{name}")


def _first_unstorable(value: Any, where: str) -> str | None:
    """The place (body.2.name) of the first string in a parsed JSON VALUE that holds an
    unstorable character, keys included."""
    if isinstance(value, str):
        return where if unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                return f"{where}.{key}"
            found = _first_unstorable(item, f"{where}.{key}")
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unstorable(item, f"{where}.{index}")
            if found:
                return found
    return None


def _route_reads_form(request: Request) -> bool:
    route = request.scope.get("route")
    body = getattr(route, "body_field", None)
    return body is not None and isinstance(body.field_info, fastapi_params.Form)


async def refuse_unstorable_text(request: Request) -> None:
    """Every route's first dependency: a path or query parameter, a JSON body's string or
    key, or a form field holding NUL or a lone surrogate is a 422 naming it (query.q,
    body.description). Urlencoded forms are read here, within FORM_LIMITS (the route then
    gets the same form); a multipart form only when the route declares its fields, as it
    is read before this runs: a route that reads a multipart form itself checks it with
    refuse_unstorable_form."""
    _refuse(request.path_params.items(), "path")
    _refuse(request.query_params.multi_items(), "query")
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        body = await request.body()
        if _UNSTORABLE_ESCAPE.search(body):
            try:
                parsed = json.loads(body)
            except ValueError:
                return  # not JSON: the route says so, if it reads a body at all
            where = _first_unstorable(parsed, "body")
            if where:
                raise FieldProblem("text_not_storable", field=where)
    elif media == FORM_MEDIA or (media == "multipart/form-data" and _route_reads_form(request)):
        refuse_unstorable_form((await read_form(request)).multi_items())


def refuse_unstorable_form(fields: Iterable[tuple[str, Any]]) -> None:
    """A form's text fields (files are bytes and may hold anything) as above."""
    _refuse(fields, "body")
