"""Public writes with read-your-writes: forward the command, then wait (bounded) until this
service's own projection applied the events the command recorded.

Outcomes: the command's 4xx unchanged; 201 with the projected resource once the projection
caught up; otherwise 202 with the command's own answer and a ``Location`` to poll.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.http import CORRELATION_HEADER
from promptworks_eventkit.positions import wait_for_stream_version
from query_api.forwarding import CommandForwarder, correlation_id
from query_api.projections import CONSUMER_NAME

Reader = Callable[[AsyncSession, UUID], Awaitable[BaseModel | None]]


@dataclass(frozen=True)
class WriteTarget:
    service: str
    url: str
    topic: str
    id_fields: tuple[str, ...]
    """Where the command's answer names the created aggregate, in order of preference."""
    location: str
    """The public path of the created resource, with ``{id}``."""


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

    async def create(self, request: Request, target: WriteTarget, read: Reader) -> Response:
        upstream = await self._forwarder.post(target.service, target.url, request)
        headers = {CORRELATION_HEADER: correlation_id(request)}
        if upstream.status_code != 201:
            return _pass_through(upstream, headers)
        created = _created(upstream, target.id_fields)
        if created is None:
            return _pass_through(upstream, headers)
        aggregate_id, stream_version = created
        headers["Location"] = target.location.format(id=aggregate_id)
        applied = await wait_for_stream_version(
            self._sessions,
            CONSUMER_NAME,
            target.topic,
            str(aggregate_id),
            stream_version,
            self._timeout,
        )
        if applied:
            async with self._sessions() as session:
                projected = await read(session, aggregate_id)
            if projected is not None:
                headers["ETag"] = f'"{stream_version}"'
                return JSONResponse(projected.model_dump(mode="json"), 201, headers)
        return _pass_through(upstream, headers, status_code=202)


def _created(upstream: httpx.Response, id_fields: tuple[str, ...]) -> tuple[UUID, int] | None:
    """The created aggregate's id and stream version from the command's 201 answer."""
    try:
        body: Any = upstream.json()
        aggregate_id = next(UUID(str(body[f])) for f in id_fields if body.get(f) is not None)
        version = body.get("stream_version") or upstream.headers.get("etag", "").strip('W/"')
        return aggregate_id, int(version)
    except (ValueError, TypeError, AttributeError, StopIteration):
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
