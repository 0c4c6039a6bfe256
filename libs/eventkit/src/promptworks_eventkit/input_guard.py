"""The edge's guard against input that must not reach a handler: bodies over the size limit
(413, counted as they arrive, so an oversized upload is never held in memory whole) and U+0000.

PostgreSQL refuses NUL in ``text`` and ``jsonb``; a value with one would reach the database and
fail there as a 5xx (or, forwarded, a 502). This ASGI middleware refuses it before any handler
runs, with the usual 422 that names where it was: a query parameter, the path, or the body
field (``["body", "cases", "3", "topic"]``). JSON can carry NUL only as the escape ``\\u0000``
(a raw NUL byte is malformed JSON, answered 400 as usual), so bodies without that escape are
passed on untouched; the body is parsed here only when the escape is present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptworks_eventkit.problems import problem

NUL = "\x00"
RULE = "nul_character"


def nul_path(value: Any, path: tuple[str, ...] = ()) -> tuple[str, ...] | None:
    """The path to the first string (or object key) in ``value`` that contains NUL."""
    if isinstance(value, str):
        return path if NUL in value else None
    items: Iterator[tuple[str, Any]]
    if isinstance(value, dict):
        for key in value:
            if NUL in key:
                return (*path, key)
        items = ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((str(i), v) for i, v in enumerate(value))
    else:
        return None
    for key, item in items:
        found = nul_path(item, (*path, key))
        if found is not None:
            return found
    return None


def _refusal(loc: list[str]) -> JSONResponse:
    field = ".".join(loc[1:])
    where = f"{loc[0]} field {field!r}" if field else loc[0]
    return problem(
        422,
        [
            {
                "loc": loc,
                "field": field,
                "type": RULE,
                "msg": f"{where} contains the NUL character (U+0000), which cannot be stored",
            }
        ],
    )


class InputGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self._app = app
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            await _too_large(self._max_body_bytes)(scope, receive, send)
            return
        refusal = _in_url(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        messages = await _read_body(receive, self._max_body_bytes)
        if messages is None:
            await _too_large(self._max_body_bytes)(scope, receive, send)
            return
        body = b"".join(m.get("body", b"") for m in messages)
        if b"\\u0000" in body:
            try:
                document = json.loads(body)
            except ValueError:
                document = None  # malformed: FastAPI answers 400 naming the position
            found = nul_path(document)
            if found is not None:
                await _refusal(["body", *found])(scope, receive, send)
                return
        await self._app(scope, _replay(messages, receive), send)


def _in_url(scope: Scope) -> JSONResponse | None:
    if NUL in scope.get("path", ""):
        return _refusal(["path"])
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if NUL in name or NUL in value:
            return _refusal(["query", name.replace(NUL, "")])
    return None


async def _read_body(receive: Receive, limit: int) -> list[Message] | None:
    """The request's messages, or None as soon as the body exceeds ``limit`` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _too_large(limit: int) -> JSONResponse:
    return problem(
        413,
        [
            {
                "loc": ["body"],
                "field": "body",
                "type": "body_too_large",
                "msg": f"the request body exceeds {limit} bytes",
            }
        ],
    )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
