"""Public writes with read-your-writes: forward the command, then wait (bounded) until this
service's own projection applied every event the command recorded.

Outcomes: the command's 4xx unchanged; on its 2xx, once the projection caught up, the
PROJECTED resource with the command's status (204 when the resource is gone, e.g. a deleted
class); otherwise 202 with the command's own answer (and a ``Location`` to poll).

What to wait for is the one answer every command service gives: ``positions``, every stream
the command appended to with its version after the append (eventkit's ``PositionOut``). An
answer without them is passed through as it came, without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.background import BackgroundTask

from promptworks_eventkit.http import CORRELATION_HEADER, PositionOut
from promptworks_eventkit.positions import wait_for_stream_version
from query_api.forwarding import CommandForwarder, correlation_id
from query_api.projections import CONSUMER_NAME

Reader = Callable[[AsyncSession, UUID], Awaitable[BaseModel | None]]
POSITIONS = TypeAdapter(list[PositionOut])


@dataclass(frozen=True)
class WriteTarget:
    service: str
    url: str
    """The command service's URL for this call, query string included."""
    topic: str
    read: Reader | None
    """Reads the projected resource; None for deletes (answered 204)."""
    resource_id: UUID | None = None
    """The resource named by the public path, if any."""
    id_fields: tuple[str, ...] = ()
    """Where the command's answer names a created resource, in order of preference."""
    location: str | None = None
    """The public path of a created resource, with ``{id}``."""
    body: bytes | None = None
    """The body to send (JSON) when query-api composes the write; None: the request's."""


class ForwardedWrites:
    def __init__(
        self,
        forwarder: CommandForwarder,
        sessions: async_sessionmaker[AsyncSession],
        timeout: float,
    ) -> None:
        self._forwarder = forwarder
        self._sessions = sessions
        self._timeout = timeout

    async def relay(self, request: Request, service: str, url: str) -> Response:
        """Forwards the call and answers as the command service did, without waiting: for
        state query-api does not project (the provider catalog, which run-orchestrator also
        merges with its configuration)."""
        upstream = await self._forwarder.send(service, request.method, url, request)
        return _pass_through(upstream, {CORRELATION_HEADER: correlation_id(request)})

    async def fetch(
        self, request: Request, service: str, url: str, method: str = "GET"
    ) -> httpx.Response:
        """The command service's answer itself (read), for query-api to combine with others;
        unreachable or failing services raise ``UpstreamError`` as for every forwarded call.
        The request's own body is not sent along (the call is ``method url`` alone)."""
        return await self._forwarder.send(service, method, url, request, with_body=False)

    async def relay_stream(self, request: Request, service: str, url: str) -> Response:
        """Like ``relay``, but the answer's body flows through as it arrives (server-sent
        events); a non-stream answer (a 4xx problem) is passed through whole."""
        upstream = await self._forwarder.send(service, request.method, url, request, stream=True)
        headers = {CORRELATION_HEADER: correlation_id(request)}
        media_type = upstream.headers.get("content-type", "application/json")
        if not media_type.startswith("text/event-stream"):
            await upstream.aread()
            return _pass_through(upstream, headers)
        headers.update({"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            media_type=media_type,
            headers=headers,
            background=BackgroundTask(upstream.aclose),
        )

    async def forward(self, request: Request, target: WriteTarget) -> Response:
        upstream = await self._forwarder.send(
            target.service, request.method, target.url, request, body=target.body
        )
        headers = {CORRELATION_HEADER: correlation_id(request)}
        if not 200 <= upstream.status_code < 300:
            return _pass_through(upstream, headers)
        body = _json(upstream)
        resource_id = target.resource_id or _created_id(body, target.id_fields)
        if resource_id is not None and target.location and upstream.status_code == 201:
            headers["Location"] = target.location.format(id=resource_id)
        positions = _positions(body)
        if positions is None or (target.read is not None and resource_id is None):
            return _pass_through(upstream, headers)  # nothing to wait for: answer as is
        if not await self._applied(target.topic, positions):
            return _pass_through(upstream, headers, status_code=202)
        if target.read is None:
            return Response(status_code=204, headers=headers)
        assert resource_id is not None
        async with self._sessions() as session:
            projected = await target.read(session, resource_id)
        if projected is None:
            return _pass_through(upstream, headers)
        headers["ETag"] = f'"{getattr(projected, "stream_version", "")}"'
        return JSONResponse(projected.model_dump(mode="json"), upstream.status_code, headers)

    async def _applied(self, topic: str, positions: list[PositionOut]) -> bool:
        deadline = time.monotonic() + self._timeout
        for position in positions:
            remaining = max(0.0, deadline - time.monotonic())
            applied = await wait_for_stream_version(
                self._sessions,
                CONSUMER_NAME,
                topic,
                position.stream_id,
                position.stream_version,
                remaining,
            )
            if not applied:
                return False
        return True


def _json(upstream: httpx.Response) -> dict[str, Any]:
    try:
        body = upstream.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _created_id(body: dict[str, Any], id_fields: tuple[str, ...]) -> UUID | None:
    for field in id_fields:
        if body.get(field) is not None:
            try:
                return UUID(str(body[field]))
            except ValueError:
                return None
    return None


def _positions(body: dict[str, Any]) -> list[PositionOut] | None:
    """Every stream the command appended to, or None if the answer does not say."""
    try:
        return POSITIONS.validate_python(body["positions"])
    except (KeyError, ValidationError):
        return None


def _pass_through(
    upstream: httpx.Response, headers: dict[str, str], status_code: int | None = None
) -> Response:
    for name in ("ETag", "Retry-After"):
        if name in upstream.headers:
            headers.setdefault(name, upstream.headers[name])
    return Response(
        content=upstream.content,
        status_code=status_code or upstream.status_code,
        media_type=upstream.headers.get("content-type", "application/json"),
        headers=headers,
    )
