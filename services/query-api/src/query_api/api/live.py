"""Live progress of a run or a batch as server-sent events (``text/event-stream``).

Each stream reads its run (or batch) from the read model every ``live_poll_interval`` in a
short session of its own, and sends a ``progress`` event whenever the snapshot moved: the
whole resource as ``GET`` answers it, with the snapshot's position as the event ``id``. It ends
with an ``end`` event once the run has finished and its evaluation summary is projected (or
``live_evaluation_wait`` after it finished without one). Nothing lives only in this process:
a client may reconnect to any replica with ``Last-Event-ID`` (or ``?last_event_id=``, for
``EventSource`` which cannot set headers on its first request) and gets only what changed; a
reconnect to a stream that has ended is answered 204, which tells ``EventSource`` to stop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.errors import NotFoundError
from query_api.api.deps import Project, Settings
from query_api.queries import live as queries
from query_api.queries.live import Snapshot
from query_api.settings import QueryApiSettings

router = APIRouter(tags=["live progress"])

RECONNECT_MS = 2000
"""Sent as ``retry:``: how long a client waits before reconnecting after a dropped stream."""

Reader = Callable[[AsyncSession], Awaitable[Snapshot | None]]

LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        description="The `id` of the last event received: only newer snapshots are sent",
    ),
]
LastEventQuery = Annotated[
    int | None,
    Query(
        alias="last_event_id",
        ge=0,
        description="As `Last-Event-ID`, for clients that cannot set headers",
    ),
]

SSE_EVENT: dict[str, object] = {
    "type": "object",
    "description": "One server-sent event",
    "properties": {
        "event": {"type": "string", "enum": ["progress", "end"]},
        "id": {"type": "string", "description": "The position: send back as Last-Event-ID"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "progress: the run (batch) as GET answers it; end: "
            '`{"status", "evaluated"}`',
        },
        "retry": {"type": "integer", "description": "Reconnection delay (ms)"},
    },
}

STREAM_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "`text/event-stream`: `progress` events (`id`: position, `data`: the "
        "resource as GET answers it) whenever it changes, `: heartbeat` comments while quiet, "
        'then one `end` event (`data`: `{"status", "evaluated"}`) before the stream closes',
        "content": {"text/event-stream": {"schema": SSE_EVENT}},
    },
    204: {"description": "The stream has ended and the client has seen its last event"},
    404: {"description": "No such run or batch"},
}


@router.get(
    "/test_prompt/{run_id}/events",
    summary="Live progress of a test run (server-sent events)",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
async def run_events(
    request: Request,
    settings: Settings,
    project: Project,
    run_id: Annotated[UUID, Path(description="The run's id")],
    last_event_id: LastEventId = None,
    last_event_id_query: LastEventQuery = None,
) -> Response:
    async def read(session: AsyncSession) -> Snapshot | None:
        return await queries.run_snapshot(session, run_id, project)

    return await _stream(
        request, settings, read, _resume(last_event_id, last_event_id_query), f"test run {run_id}"
    )


@router.get(
    "/batches/{batch_id}/events",
    summary="Live progress of a batch (server-sent events)",
    response_class=StreamingResponse,
    responses=STREAM_RESPONSES,
)
async def batch_events(
    request: Request,
    settings: Settings,
    project: Project,
    batch_id: Annotated[UUID, Path(description="The batch's id")],
    last_event_id: LastEventId = None,
    last_event_id_query: LastEventQuery = None,
) -> Response:
    async def read(session: AsyncSession) -> Snapshot | None:
        return await queries.batch_snapshot(session, batch_id, project)

    return await _stream(
        request, settings, read, _resume(last_event_id, last_event_id_query), f"batch {batch_id}"
    )


def _resume(header: int | None, query: int | None) -> int:
    """The position the client has seen; -1: none (the header wins over the query)."""
    if header is not None:
        return header
    return -1 if query is None else query


async def _stream(
    request: Request, settings: QueryApiSettings, read: Reader, seen: int, what: str
) -> Response:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessions
    first = await _read(sessions, read)
    if first is None:
        raise NotFoundError(f"{what} does not exist", field=what.split(" ", 1)[0] + "_id")
    if first.position <= seen and _ended(first, settings):
        return Response(status_code=204)
    return StreamingResponse(
        _events(sessions, read, first, seen, settings),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _events(
    sessions: async_sessionmaker[AsyncSession],
    read: Reader,
    first: Snapshot,
    seen: int,
    settings: QueryApiSettings,
) -> AsyncIterator[bytes]:
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    snapshot: Snapshot | None = first
    quiet_since = time.monotonic()
    while snapshot is not None:
        if snapshot.position > seen:
            seen = snapshot.position
            quiet_since = time.monotonic()
            yield b"event: progress\nid: %d\ndata: %s\n\n" % (seen, snapshot.data)
        if _ended(snapshot, settings):
            end = {"status": json.loads(snapshot.data)["status"], "evaluated": snapshot.evaluated}
            yield b"event: end\nid: %d\ndata: %s\n\n" % (seen, json.dumps(end).encode())
            return
        if time.monotonic() - quiet_since >= settings.live_heartbeat:
            quiet_since = time.monotonic()
            yield b": heartbeat\n\n"
        await asyncio.sleep(settings.live_poll_interval)
        snapshot = await _read(sessions, read)


def _ended(snapshot: Snapshot, settings: QueryApiSettings) -> bool:
    """Finished, and evaluated or no longer waited for (measured from the recorded finish
    time, so every replica agrees)."""
    if not snapshot.finished:
        return False
    if snapshot.evaluated or snapshot.finished_at is None:
        return True
    waited = datetime.now(UTC) - snapshot.finished_at
    return waited >= timedelta(seconds=settings.live_evaluation_wait)


async def _read(sessions: async_sessionmaker[AsyncSession], read: Reader) -> Snapshot | None:
    """One snapshot of the database: the resource and its position must agree (a batch is
    read with two queries; an evaluation applied between them would be sent as seen)."""
    async with sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        return await read(session)
