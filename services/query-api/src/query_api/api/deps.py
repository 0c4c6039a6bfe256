"""Dependencies the routers share: a read-only session, the write forwarder, paging headers.

Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per request for reading an attribute."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.runtime import Runtime
from query_api.auth.keys import Principal
from query_api.settings import QueryApiSettings
from query_api.writes import ForwardedWrites

API_PREFIX = "/api/v1"
TOTAL_COUNT_HEADER = "X-Total-Count"
NEXT_CURSOR_HEADER = "X-Next-Cursor"


@contextlib.asynccontextmanager
async def read_snapshot(request: Request) -> AsyncIterator[AsyncSession]:
    """One snapshot per request, so a page and its total count agree with each other."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        yield session


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with read_snapshot(request) as session:
        yield session


async def forwarded_writes(request: Request) -> ForwardedWrites:
    writes: ForwardedWrites = request.app.state.writes
    return writes


async def settings(request: Request) -> QueryApiSettings:
    value: QueryApiSettings = request.app.state.settings
    return value


def principal_of(request: Request) -> Principal:
    """Who is calling (set by ``auth.middleware`` on every operation that needs a key)."""
    principal: Principal = request.state.principal
    return principal


async def project_of(request: Request) -> str:
    """The project the request acts in (set by ``auth.middleware`` on project-scoped paths)."""
    project: str = request.state.project
    return project


def set_total(response: Response, total: int) -> None:
    response.headers[TOTAL_COUNT_HEADER] = str(total)


def set_next(response: Response, request: Request, cursor: str | None) -> None:
    """``X-Next-Cursor`` and ``Link: <...>; rel="next"`` when there is a next page. The link
    is relative (path and query): built from the Host header, an absolute URL would name the
    wrong scheme or host behind a proxy."""
    if cursor is None:
        return
    url = request.url.remove_query_params("offset").include_query_params(cursor=cursor)
    response.headers[NEXT_CURSOR_HEADER] = cursor
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'


ReadSession = Annotated[AsyncSession, Depends(read_session)]
Writes = Annotated[ForwardedWrites, Depends(forwarded_writes)]
Settings = Annotated[QueryApiSettings, Depends(settings)]
Project = Annotated[str, Depends(project_of)]

PAGE_HEADERS: dict[str, Any] = {
    TOTAL_COUNT_HEADER: {
        "description": "How many items match, over all pages",
        "schema": {"type": "integer"},
    }
}
CURSOR_HEADERS: dict[str, Any] = {
    **PAGE_HEADERS,
    NEXT_CURSOR_HEADER: {
        "description": "Pass as `cursor` for the next page; absent on the last page",
        "schema": {"type": "string"},
    },
    "Link": {"description": '`<next page URL>; rel="next"`', "schema": {"type": "string"}},
}
